#!/usr/bin/env bash
# The embedded sandbox: build kubectl-promote, push a copy of examples/gitops to a bare "origin"
# in a temp dir, and walk the release story of the online boutique against it, printing every
# command before running it. Nothing outside the temp dir is touched (HOME is a temp dir too).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
source scripts/env.sh
bash scripts/setup.sh

echo "» building kubectl-promote"
cargo build --quiet -p kubectl-promote
BIN_DIR="$CARGO_TARGET_DIR/debug"

SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-promote-sandbox.XXXXXX")
if [ "${KEEP_SANDBOX:-}" = "" ]; then trap 'rm -rf "$SANDBOX"' EXIT; fi
export HOME="$SANDBOX/home" XDG_CACHE_HOME="$SANDBOX/home/.cache" XDG_CONFIG_HOME="$SANDBOX/home/.config"
# A bin dir holding only the plugin (the target dir has files kubectl would take for plugins).
mkdir -p "$SANDBOX/bin" && ln -s "$BIN_DIR/kubectl-promote" "$SANDBOX/bin/kubectl-promote"
export GIT_CONFIG_NOSYSTEM=1 KUBECONFIG="$SANDBOX/home/.kube/config" PATH="$SANDBOX/bin:$PATH"
unset CI
mkdir -p "$HOME"
git config --global user.name "Ana Platform"
git config --global user.email ana@example.com
git config --global init.defaultBranch main
git config --global advice.detachedHead false

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '\033[36m$ %s\033[0m\n' "$*"; "$@"; }
expect_exit() { local want=$1; shift; printf '\033[36m$ %s\033[0m\n' "$*"; set +e; "$@"; local got=$?; set -e
  if [ "$got" != "$want" ]; then echo "sandbox: expected exit $want, got $got" >&2; exit 1; fi
  echo "(exit $got, as expected)"; }

step "A GitOps repo: nine services, staging and prod overlays, Argo CD apps, promote.yaml"
git init --quiet --bare "$SANDBOX/origin.git"
cp -r "$ROOT/examples/gitops" "$SANDBOX/seed"
(cd "$SANDBOX/seed" && git init --quiet && git add -A && git commit --quiet -m "online boutique at v1.0.0" && git push --quiet "$SANDBOX/origin.git" HEAD:main)
run git clone --quiet "$SANDBOX/origin.git" "$SANDBOX/gitops"
cd "$SANDBOX/gitops"
run kubectl plugin list
run kubectl promote version
run kubectl promote status

step "Release v1.0.1 reaches staging (direct mode: straight to main); first just the frontend"
run kubectl promote staging v1.0.1 --only frontend
run kubectl promote status staging
run kubectl promote staging v1.0.1

step "Before prod: the plan, with nothing changed"
run kubectl promote prod --from staging --dry-run

step "Prod is promoted through a pull request (no forge token here: the branch is pushed and the compare URL printed)"
run kubectl promote prod --from staging --yes

step "The project manager merges the pull request"
BRANCH=promote/prod/v1.0.1
run git fetch --quiet origin
run git push --quiet origin "origin/$BRANCH:refs/heads/main"
run git log --oneline -3 origin/main

step "Status: what each environment runs, and who promoted it"
run kubectl promote status
run kubectl promote status prod -o json

step "v1.0.2 reaches prod and goes bad: revert the promotion in git"
run kubectl promote prod v1.0.2 --direct --yes -m "hotfix release"
run kubectl promote rollback prod --strategy revert --dry-run
run kubectl promote rollback prod --strategy revert --direct --yes -m "v1.0.2 is broken in prod"
run kubectl promote status prod

step "The audit trail is plain git"
run git fetch --quiet origin
run git log --format='%h %s%n    %(trailers:key=Promoted-By,key=Promote-Environment,key=Promote-Version,separator=%x2C )' -4 origin/main

step "Errors are named and nothing is half-written"
expect_exit 1 kubectl promote prod v1.0.3 --only redis
expect_exit 2 kubectl promote prod

printf '\n\033[1msandbox: the story ran end to end\033[0m\n'
