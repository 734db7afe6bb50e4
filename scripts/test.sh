#!/usr/bin/env bash
# Run every test: set-up (idempotent), the reproducibility check of the built-in policies where
# they exist, then the whole workspace's tests. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
bash scripts/setup.sh
if [ -x scripts/build-policies.sh ] && [ -d policies ]; then
  bash scripts/build-policies.sh --check
fi
cargo test --workspace --no-fail-fast "$@"
# The kill-mid-rollback/promotion tests and the race tests need the binary built with its named
# pause points.
cargo test -p kubectl-promote --features test-hooks --test argocd_kill --test faults --test races
