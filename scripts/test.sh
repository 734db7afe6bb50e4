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
# The Go policy SDK and the Go example policy, natively (the Rust tests build it to WASI).
(cd sdk/go && go vet ./... && go test ./...)
(cd examples/policies/go/qa-approved && go vet ./... && go test ./...)
# Rego example policy: its unit tests with the pinned opa (the Rust tests build its bundle with
# `opa build -t wasm` themselves, cached by source hash under the target dir).
command -v opa >/dev/null || { echo "opa not found: run scripts/go-tools.sh" >&2; exit 1; }
opa test --ignore cases examples/policies/rego/qa-approved
opa test --ignore cases examples/policies/rego/sensitive-objects
opa test --ignore cases examples/policies/rego/trusted-builder
opa test --ignore cases examples/policies/rego/trusted-signer
# The house's rules: no import circle between the modules of any crate, no function over 100
# lines outside tests.
python3 scripts/module-deps.py >/dev/null || { python3 scripts/module-deps.py; exit 1; }
python3 scripts/long-fns.py
cargo test --workspace --no-fail-fast "$@"
# The kill-mid-rollback/promotion tests and the race tests need the binary built with its named
# pause points.
cargo test -p kubectl-promote --features test-hooks --test testsuite -- argocd_kill:: faults:: races::
# The end-to-end suite against the real kube-apiserver, Argo CD and Gitea (tests/real; builds the
# servers once into the shared cache). SKIP_REAL=1 leaves it out while iterating; CI runs it.
if [ -z "${SKIP_REAL:-}" ]; then
  bash scripts/test-real.sh
fi
