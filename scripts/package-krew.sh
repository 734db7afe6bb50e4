#!/usr/bin/env bash
# Build the linux-amd64 krew archive of kubectl-promote on this machine and write a manifest
# with its real sha256: dist/krew/kubectl-promote_<version>_linux_amd64.tar.gz and
# dist/krew/promote.yaml (only the platform built here; the release workflow fills in the
# others, see docs/release.md).
#
#   scripts/package-krew.sh                 # release build
#   PROFILE=dev scripts/package-krew.sh     # debug build (fast; what the tests install)
#   URI_BASE=https://…/releases/download/v0.1.0 scripts/package-krew.sh   # URIs for publishing
#   BIN=path/to/kubectl-promote OUT=dir scripts/package-krew.sh   # package an already-built binary
#                                           # (no cargo; the krew tests package the debug binary)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/env.sh
PROFILE=${PROFILE:-release}
OUT=${OUT:-$ROOT/dist/krew}
VERSION=v$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)

if [ -z "${BIN:-}" ]; then
  cargo build --quiet --profile "$PROFILE" -p kubectl-promote
  dir=$([ "$PROFILE" = dev ] && echo debug || echo "$PROFILE")
  BIN="$CARGO_TARGET_DIR/$dir/kubectl-promote"
fi
[ -x "$BIN" ] || { echo "package-krew: BIN=$BIN is not an executable kubectl-promote" >&2; exit 1; }

mkdir -p "$OUT"
stage=$(mktemp -d); trap 'rm -rf "$stage"' EXIT
cp "$BIN" "$stage/kubectl-promote"
cp LICENSE "$stage/LICENSE"
chmod 0755 "$stage/kubectl-promote"; chmod 0644 "$stage/LICENSE"
archive="$OUT/kubectl-promote_${VERSION}_linux_amd64.tar.gz"
# Reproducible archive: fixed order, times and owners, no gzip timestamp.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$stage" -cf - kubectl-promote LICENSE | gzip -n > "$archive"
sha=$(sha256sum "$archive" | cut -d' ' -f1)
uri=${URI_BASE:+$URI_BASE/$(basename "$archive")}
uri=${uri:-file://$archive}

# Keep the header and the linux/amd64 platform block of the template; fill in its values.
awk -v want="{os: linux, arch: amd64}" '
  /^  - selector:/ { inblock=1; keep=0; buf=$0 "\n"; next }
  inblock && /matchLabels:/ { keep = index($0, want) > 0 }
  inblock { buf = buf $0 "\n"; if ($0 ~ /^    - \{from: LICENSE/) { if (keep) printf "%s", buf; inblock=0 } ; next }
  /^#/ { next }
  { print }
' krew-manifest.yaml \
  | sed -e "s|\${VERSION}|$VERSION|" -e "s|\${URI_LINUX_AMD64}|$uri|" -e "s|\${SHA256_LINUX_AMD64}|$sha|" > "$OUT/promote.yaml"
echo "archive:  $archive"
echo "sha256:   $sha"
echo "manifest: $OUT/promote.yaml"
echo "install:  kubectl krew install --manifest=$OUT/promote.yaml --archive=$archive"
