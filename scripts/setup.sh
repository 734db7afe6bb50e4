#!/usr/bin/env bash
# Install what the build and the tests need, idempotently. Safe to run on every CI run.
set -euo pipefail
cd "$(dirname "$0")/.."
need() { command -v "$1" >/dev/null 2>&1; }

if ! need cargo; then
  echo "setup: cargo not found; install Rust with rustup (rust 1.95)" >&2
  exit 1
fi
# Built-in policies are WASI modules.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1; then
  echo "setup: adding the wasm32-wasip1 target" >&2
  rustup target add wasm32-wasip1
fi
# kubectl renders overlays (kubectl kustomize) and discovers the plugin.
if ! need kubectl; then
  echo "setup: kubectl not found; installing Debian's kubernetes-client" >&2
  apt-get update -qq && apt-get install -y -qq kubernetes-client
fi
need git || { apt-get update -qq && apt-get install -y -qq git; }
# OPA, krew and crane are built from their Go modules.
bash scripts/go-tools.sh
