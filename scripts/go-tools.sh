#!/usr/bin/env bash
# Install the Go-built tools the tests drive for real (OPA, krew, crane, cosign, Helm), pinned, into a cache
# outside the clone; idempotent (a tool already at its pinned version is not rebuilt).
#   bash scripts/go-tools.sh            # the tools the tests need
#   bash scripts/go-tools.sh kustomize  # also kustomize (benchmarks only)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
command -v go >/dev/null 2>&1 || { echo "go-tools: go not found; install Go 1.26 (https://go.dev/dl)" >&2; exit 1; }
mkdir -p "$PROMOTE_TOOLS"

# name  module@version  binary
tools=(
  "opa   github.com/open-policy-agent/opa@v1.22.3                      opa"
  "krew  sigs.k8s.io/krew/cmd/krew@v0.4.3                              kubectl-krew"
  "crane github.com/google/go-containerregistry/cmd/crane@v0.22.1      crane"
  "cosign github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5             cosign"
  "helm  helm.sh/helm/v4/cmd/helm@v4.3.2                               helm"
)
# kustomize goes beside the others but not on PATH: the render check prefers a standalone kustomize
# when one is on PATH, and the tests expect kubectl's built-in one.
[ "${1:-}" = kustomize ] && tools+=("kustomize sigs.k8s.io/kustomize/kustomize/v5@v5.7.1 bench/kustomize")

for t in "${tools[@]}"; do
  read -r name mod bin <<<"$t"
  stamp="$PROMOTE_TOOLS/.$(basename "$bin").version"
  if [ -x "$PROMOTE_TOOLS/$bin" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$mod" ]; then
    continue
  fi
  echo "go-tools: building $name ($mod)" >&2
  tmp=$(mktemp -d)
  GOBIN="$tmp" go install "$mod"
  # krew's binary is named krew; kubectl finds plugins as kubectl-<name>. A module path ending
  # in a major version (kustomize/v5) names its binary after the element before it, as go does.
  path="${mod%@*}"
  case "$(basename "$path")" in v[0-9]*) path=$(dirname "$path") ;; esac
  src="$tmp/$(basename "$path")"
  mkdir -p "$(dirname "$PROMOTE_TOOLS/$bin")"
  mv "$src" "$PROMOTE_TOOLS/$bin"
  rm -rf "$tmp"
  echo "$mod" >"$stamp"
done
