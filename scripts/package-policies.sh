#!/usr/bin/env bash
# Package policy modules for krew with `kubectl promote policy package`: the archives go to
# dist/policies/ (uploaded to the release), the plugin manifests to plugins/ (committed: that
# directory is the custom krew index, `kubectl krew index add promote <this repo's git URL>`).
# Archives are reproducible, so every sha256 in plugins/ can be checked by rebuilding.
#
#   scripts/package-policies.sh           # write dist/policies/*.tar.gz and plugins/*.yaml
#   scripts/package-policies.sh --check   # fail when plugins/ differs from a fresh packaging
#   BIN=path/to/kubectl-promote …         # use this binary (default: a debug build)
#   URI='https://…/{version}/{archive}' … # where the archives are published (the manifests' uri)
#
# What is packaged:
#   1. every built-in (crates/promote-policy/builtins/NAME.wasm, the committed reproducible
#      build of policies/NAME), as promote-policy-NAME;
#   2. the example policies in examples/policies/{go,rego}/*/ once they are built, i.e. when the
#      directory holds a .wasm (Go: `GOOS=wasip1 GOARCH=wasm go build -o policy.wasm .`; Rego:
#      `opa build -t wasm -e promote/decision` then the module from bundle.tar.gz) and metadata
#      (custom section or promote-policy.yaml). Until then they are skipped with a note. Their
#      metadata name must differ from the built-ins' (one plugin per name).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/env.sh
check=false
case "${1:-}" in
  --check) check=true ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac
DEFAULT_URI='https://github.com/kubectl-promote/kubectl-promote/releases/download/policies-{version}/{archive}'
URI=${URI:-$DEFAULT_URI}
HOMEPAGE=https://github.com/kubectl-promote/kubectl-promote/blob/main/docs/policies.md
if [ -z "${BIN:-}" ]; then
  cargo build --quiet -p kubectl-promote
  BIN="$CARGO_TARGET_DIR/debug/kubectl-promote"
fi

scratch=$(mktemp -d); trap 'rm -rf "$scratch"' EXIT
out_plugins="$ROOT/plugins"; out_dist="$ROOT/dist/policies"
if $check; then out_plugins="$scratch/plugins"; out_dist="$scratch/dist"; fi
mkdir -p "$out_plugins" "$out_dist"

declare -A seen=()
package() { # DIR LABEL
  local dir=$1 label=$2 json name
  json=$("$BIN" policy package "$dir" --license "$ROOT/LICENSE" --out-dir "$out_dist" \
    --uri "$URI" --homepage "$HOMEPAGE" --no-cache -o json)
  name=$(sed -n 's/.*"plugin": *"\([^"]*\)".*/\1/p' <<<"$json")
  if [ -n "${seen[$name]:-}" ]; then
    echo "package-policies: $label is named $name, like ${seen[$name]}; rename it in its metadata" >&2
    exit 1
  fi
  seen[$name]=$label
  mv "$out_dist/$name.yaml" "$out_plugins/$name.yaml"
  echo "$name  ($label)  $(sed -n 's/.*"sha256": *"\([^"]*\)".*/\1/p' <<<"$json")"
}

for wasm in crates/promote-policy/builtins/*.wasm; do
  name=$(basename "$wasm" .wasm)
  stage="$scratch/builtin/$name"; mkdir -p "$stage"
  cp "$wasm" "$stage/policy.wasm"
  package "$stage" "builtin:$name"
done

for dir in examples/policies/go/*/ examples/policies/rego/*/; do
  [ -d "$dir" ] || continue
  if ! compgen -G "$dir*.wasm" >/dev/null && ! compgen -G "${dir}target/wasm32-wasip1/release/*.wasm" >/dev/null; then
    echo "package-policies: skipping $dir (no .wasm yet; build it first, see the comment at the top)" >&2
    continue
  fi
  package "$dir" "$dir"
done

if $check; then
  if ! diff -r "$ROOT/plugins" "$out_plugins"; then
    echo "package-policies: plugins/ is stale; run scripts/package-policies.sh and commit plugins/" >&2
    exit 1
  fi
  echo "package-policies: plugins/ matches a fresh packaging"
else
  echo "archives in dist/policies/ (upload them to the release that URI names); manifests in plugins/"
fi
