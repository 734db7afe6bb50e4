#!/usr/bin/env bash
# Builds the built-in policy modules in policies/ for wasm32-wasip1, reproducibly, and copies
# them to crates/promote-policy/builtins/, where they are committed and embedded with
# include_bytes!. With --check, rebuilds into a scratch copy and fails when the committed
# bytes differ (CI runs this).
#
# Why a script and not a build.rs in promote-policy: a build script would run a nested cargo
# for another target. Using the outer CARGO_TARGET_DIR deadlocks on its build lock (or races
# the outer build); a private one rebuilds from scratch in every clean checkout and on every
# profile, and either way the embedded bytes would depend on the builder's machine. Committed
# artifacts with a --check keep `cargo build` of the host fast and offline, and make the
# digests users pin reviewable in git.
#
# Reproducible: same source + same toolchain -> same bytes. Paths are remapped (the repo and
# CARGO_HOME do not leak into panic messages), dependencies are --locked, the profile in
# policies/Cargo.toml uses one codegen unit, fat LTO and strip. The toolchain is pinned here:
PINNED_RUSTC="1.95.0"
#
# Usage: scripts/build-policies.sh [--check]
#   CARGO_TARGET_DIR  build dir (default: ~/.cache/kubectl-promote/policies-target, outside the repo)
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

have="$(rustc --version | awk '{print $2}')"
if [ "$have" != "$PINNED_RUSTC" ]; then
  echo "build-policies: rustc $have found, the built-ins are built with $PINNED_RUSTC;" \
       "other versions produce other bytes (rustup toolchain install $PINNED_RUSTC --target wasm32-wasip1)" >&2
  exit 1
fi
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "build-policies: the wasm32-wasip1 target is missing (rustup target add wasm32-wasip1)" >&2
  exit 1
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/kubectl-promote/policies-target}"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
# One flag per line in CARGO_ENCODED_RUSTFLAGS (separator 0x1f) so paths with spaces survive;
# it replaces RUSTFLAGS and any target rustflags, so nothing from the caller's env leaks in.
sep=$'\x1f'
export CARGO_ENCODED_RUSTFLAGS="--remap-path-prefix=${cargo_home}=/cargo${sep}--remap-path-prefix=${repo}=/src${sep}--remap-path-prefix=${HOME}=/home"
unset RUSTFLAGS
export SOURCE_DATE_EPOCH=0

policies=(qa-approved change-window semver-guard soak-time require-approval rollback-guard slo-guard signed-images)

cd "$repo/policies"
cargo build --locked --release --target wasm32-wasip1 --quiet $(printf -- '-p %s ' "${policies[@]}")

out="$CARGO_TARGET_DIR/wasm32-wasip1/release"
dest="$repo/crates/promote-policy/builtins"
status=0
mkdir -p "$dest"
for p in "${policies[@]}"; do
  if $check; then
    if ! cmp -s "$out/$p.wasm" "$dest/$p.wasm"; then
      echo "build-policies: $p.wasm differs from the committed crates/promote-policy/builtins/$p.wasm" \
           "(built $(sha256sum < "$out/$p.wasm" | cut -c1-16), committed $(sha256sum < "$dest/$p.wasm" 2>/dev/null | cut -c1-16));" \
           "run scripts/build-policies.sh and commit the result" >&2
      status=1
    fi
  else
    install -m 0644 "$out/$p.wasm" "$dest/$p.wasm"
  fi
done
if [ $status -eq 0 ]; then
  (cd "$dest" && sha256sum "${policies[@]/%/.wasm}") >&2
fi
exit $status
