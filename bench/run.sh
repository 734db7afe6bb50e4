#!/usr/bin/env bash
# Benchmarks of issue 7 (not part of .ci/run): build the release binary and the Argo CD stand-in
# once, install kustomize (benchmarks only), then run bench/bench.py, which builds its fixtures
# in a temp dir and prints every row as a ratio against a baseline measured in the same run.
#   bash bench/run.sh                      # every part, writes bench/results.md
#   bash bench/run.sh promote10 startup    # some parts: promote10 promote1000 rollback startup scale envs
#   ITERATIONS=20 DEEP=100000 bash bench/run.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/go-tools.sh kustomize
# The stand-in plays the cluster, whose speed is not ours: it is built optimised like a real API
# server, so a debug HTTP server does not inflate every request of the argocd arm.
echo "bench: building the release binary, and the stand-in (release profile too)" >&2
cargo build --release --quiet -p kubectl-promote --bin kubectl-promote
cargo build --release --quiet -p promote-testkit --bin promote-standin
exec python3 bench/bench.py --bin "$CARGO_TARGET_DIR/release/kubectl-promote" --standin "$CARGO_TARGET_DIR/release/promote-standin" \
  --kustomize "$PROMOTE_TOOLS/bench/kustomize" --opa "$PROMOTE_TOOLS/opa" --iterations "${ITERATIONS:-10}" --deep "${DEEP:-100000}" \
  --markdown "${OUT:-bench/results.md}" "$@"
