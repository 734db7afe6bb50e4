#!/usr/bin/env bash
# The embedded sandbox: build kubectl-promote, push a copy of examples/gitops to a bare "origin"
# in a temp dir, and walk the release story of the online boutique against it, printing every
# command before running it; a last chapter does the same with examples/gitops-apps (a Helm app
# and a Kustomize app promoted together). Nothing outside the temp dir is touched (HOME is a temp
# dir too).
#
#   bash scripts/sandbox.sh          the cluster is the Argo CD stand-in (a test stand-in)
#   bash scripts/sandbox.sh --real   the cluster is the real kube-apiserver and Argo CD
#                                    (scripts/real-cluster.sh; built once, ~11-15 min cold) with the
#                                    kubelet stand-in writing Deployment status
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REAL=""
case "${1:-}" in
  "") ;;
  --real) REAL=1 ;;
  *) echo "usage: bash scripts/sandbox.sh [--real]" >&2; exit 2 ;;
esac
source scripts/env.sh
bash scripts/setup.sh

if [ -n "$REAL" ]; then
  bash scripts/real-cluster.sh build
  echo "» building kubectl-promote and the kubelet stand-in"
  cargo build --quiet -p kubectl-promote -p promote-testkit --bin kubectl-promote --bin kubelet
else
echo "» building kubectl-promote and the Argo CD stand-in"
cargo build --quiet -p kubectl-promote -p promote-testkit --bin kubectl-promote --bin promote-standin
fi
BIN_DIR="$CARGO_TARGET_DIR/debug"

SANDBOX=$(mktemp -d "${TMPDIR:-/tmp}/kubectl-promote-sandbox.XXXXXX")
STANDIN_PID=""
APPS_STANDIN_PID=""
REGISTRY_PID=""
KUBELET_PID=""
cleanup() {
  [ -n "$STANDIN_PID" ] && kill "$STANDIN_PID" 2>/dev/null && wait "$STANDIN_PID" 2>/dev/null
  [ -n "$APPS_STANDIN_PID" ] && kill "$APPS_STANDIN_PID" 2>/dev/null && wait "$APPS_STANDIN_PID" 2>/dev/null
  if [ -n "$KUBELET_PID" ]; then kill "$KUBELET_PID" 2>/dev/null; wait "$KUBELET_PID" 2>/dev/null || true; fi
  [ -n "$REAL" ] && [ -d "$SANDBOX/cluster/pids" ] && bash "$ROOT/scripts/real-cluster.sh" stop "$SANDBOX/cluster" >/dev/null 2>&1
  # crane exits 143 on SIGTERM: not a failure of the sandbox.
  if [ -n "$REGISTRY_PID" ]; then kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true; fi
  [ -n "${KEEP_SANDBOX:-}" ] || rm -rf "$SANDBOX"
}
trap cleanup EXIT
export HOME="$SANDBOX/home" XDG_CACHE_HOME="$SANDBOX/home/.cache" XDG_CONFIG_HOME="$SANDBOX/home/.config"
# A bin dir holding only the plugin (the target dir has files kubectl would take for plugins).
mkdir -p "$SANDBOX/bin" && ln -s "$BIN_DIR/kubectl-promote" "$SANDBOX/bin/kubectl-promote"
export GIT_CONFIG_NOSYSTEM=1 PATH="$SANDBOX/bin:$PATH"
unset CI KUBECTL_PROMOTE_NOW ARGOCD_SERVER ARGOCD_AUTH_TOKEN KUBECTL_PROMOTE_SKIP_IMAGE_CHECK DOCKER_CONFIG GITHUB_TOKEN GH_TOKEN
# The story's policies include a change window (no prod changes on Friday afternoons, none in the
# year-end freeze): the time they see is pinned to the next Tuesday 10:00 UTC outside the freeze,
# so the story tells the same on any day it is run. Steps that show a window pass their own time.
now=$(date -u -d 'next tuesday 10:00' +%s)
while case "$(date -u -d "@$now" +%m-%d)" in 12-2[1-9]|12-3[01]|01-0[1-3]) true ;; *) false ;; esac; do
  now=$((now + 7 * 86400))
done
export KUBECTL_PROMOTE_NOW
KUBECTL_PROMOTE_NOW=$(date -u -d "@$now" +%Y-%m-%dT%H:%M:%SZ)
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
# QA works in a clone of their own, as themselves (approvers.qa lists qa@example.com), and signs
# their approvals with an ssh key that .promote/allowed_signers allows for that e-mail.
as_qa() { (cd "$SANDBOX/qa" && printf '\033[35m[qa]\033[0m ' && run "$@"); }

step "A container registry on loopback (crane registry serve) holding v1.0.0..v1.0.4 of the nine images"
crane registry serve --address 127.0.0.1:0 > "$SANDBOX/registry.log" 2>&1 &
REGISTRY_PID=$!
REGISTRY=""
for _ in $(seq 1 100); do
  REGISTRY=$(sed -n 's/.*serving on port \([0-9]*\).*/127.0.0.1:\1/p' "$SANDBOX/registry.log" | head -1)
  [ -n "$REGISTRY" ] && break; sleep 0.1
done
[ -n "$REGISTRY" ] || { cat "$SANDBOX/registry.log"; echo "sandbox: the registry did not start" >&2; exit 1; }
mkdir -p "$SANDBOX/layers"
# push_image REPO TAG SOURCE: one small layer naming the image, so every tag has a digest of its
# own, and the OCI labels a CI build writes: where the image was built from (the plan and the pull
# request show the range between the running and the promoted image's revisions).
push_image() {
  local name=${1//\//-}
  echo "$1 $2" > "$SANDBOX/layers/ref.txt"
  tar -C "$SANDBOX/layers" -cf "$SANDBOX/layers/$name-$2.tar" ref.txt
  crane append --new_layer "$SANDBOX/layers/$name-$2.tar" --new_tag "$REGISTRY/$1:$2" >/dev/null 2>&1
  local rev; rev=$(printf '%s' "${1%%/*} $2" | sha1sum | cut -c1-40)
  crane mutate "$REGISTRY/$1:$2" --tag "$REGISTRY/$1:$2" --label org.opencontainers.image.source="$3" \
    --label org.opencontainers.image.revision="$rev" --label org.opencontainers.image.version="$2" >/dev/null 2>&1
}
for svc in $(sed -n 's|.*registry.example.com/microservices-demo/\([a-z]*\).*|\1|p' "$ROOT/examples/gitops/kustomize/staging/kustomization.yaml"); do
  for v in v1.0.0 v1.0.1 v1.0.2 v1.0.3 v1.0.4; do
    push_image "microservices-demo/$svc" "$v" https://github.com/GoogleCloudPlatform/microservices-demo
  done
done
run crane ls "$REGISTRY/microservices-demo/cartservice"

step "The release pipeline signs each image's digest with its cosign key (offline: no transparency
log); v1.0.4's signing job did not run"
SERVICES=$(sed -n 's|.*registry.example.com/microservices-demo/\([a-z]*\).*|\1|p' "$ROOT/examples/gitops/kustomize/staging/kustomization.yaml")
(cd "$SANDBOX" && COSIGN_PASSWORD="" cosign generate-key-pair >/dev/null 2>&1)
sign_release() {
  for svc in $SERVICES; do
    COSIGN_PASSWORD="" cosign sign --key "$SANDBOX/cosign.key" --tlog-upload=false --allow-insecure-registry --yes \
      "$REGISTRY/microservices-demo/$svc@$(crane digest "$REGISTRY/microservices-demo/$svc:$1")" >/dev/null 2>&1
  done
}
for v in v1.0.0 v1.0.1 v1.0.2 v1.0.3; do sign_release "$v"; done
run crane ls "$REGISTRY/microservices-demo/cartservice"

step "A GitOps repo: nine services, staging and prod overlays, Argo CD apps, promote.yaml with policies"
git init --quiet --bare "$SANDBOX/origin.git"
cp -r "$ROOT/examples/gitops" "$SANDBOX/seed"
# The example's images live on the sandbox's registry.
grep -rl registry.example.com "$SANDBOX/seed" | xargs sed -i "s|registry.example.com|$REGISTRY|g"
# Prod runs only what the release key signed: its public half on main, builtin:signed-images.
mkdir -p "$SANDBOX/seed/keys" && cp "$SANDBOX/cosign.pub" "$SANDBOX/seed/keys/release.pub"
sed -i 's|^    reviewers: \[pm-lead\]$|&\n    trust: {signatures: [{key: keys/release.pub}]}   # cosign public key, read from main|' "$SANDBOX/seed/promote.yaml"
sed -i 's|^        - module: builtin:semver-guard.*$|&\n        - module: builtin:signed-images        # every digest signed by keys/release.pub|' "$SANDBOX/seed/promote.yaml"
grep -q 'builtin:signed-images' "$SANDBOX/seed/promote.yaml" || { echo "sandbox: could not add signed-images to promote.yaml" >&2; exit 1; }
# QA's signing key: prod is protected, so only verified approvals count there, and a record is
# verified when its commit is signed by a key the repo's allowed signers list for its approver.
ssh-keygen -q -t ed25519 -N "" -C "quinn-qa (sandbox)" -f "$SANDBOX/qa-signing-key"
echo "qa@example.com $(cat "$SANDBOX/qa-signing-key.pub")" >> "$SANDBOX/seed/.promote/allowed_signers"
(cd "$SANDBOX/seed" && git init --quiet && git add -A && git commit --quiet -m "online boutique at v1.0.0" && git push --quiet "$SANDBOX/origin.git" HEAD:main)
run git clone --quiet "$SANDBOX/origin.git" "$SANDBOX/gitops"
git clone --quiet "$SANDBOX/origin.git" "$SANDBOX/qa"
git -C "$SANDBOX/qa" config user.name "Quinn QA"; git -C "$SANDBOX/qa" config user.email qa@example.com
git -C "$SANDBOX/qa" config gpg.format ssh; git -C "$SANDBOX/qa" config user.signingkey "$SANDBOX/qa-signing-key"
git -C "$SANDBOX/qa" config commit.gpgsign true
# Someone who only claims to be QA: the same git identity, no signing key.
git clone --quiet "$SANDBOX/origin.git" "$SANDBOX/spoof"
git -C "$SANDBOX/spoof" config user.name "Quinn QA"; git -C "$SANDBOX/spoof" config user.email qa@example.com

if [ -n "$REAL" ]; then
step "The cluster: the real kube-apiserver and Argo CD on loopback (no pods: a kubelet stand-in writes Deployment status), v1.0.3 marked bad"
bash scripts/real-cluster.sh start "$SANDBOX/cluster" 2>&1 | grep 'all healthy' || true
[ -f "$SANDBOX/cluster/env" ] || { echo "sandbox: the real cluster did not start" >&2; exit 1; }
set -a; source "$SANDBOX/cluster/env"; set +a
"$BIN_DIR/kubelet" --env "$SANDBOX/cluster/env" --bad-tag v1.0.3 > "$SANDBOX/kubelet.log" 2>&1 &
KUBELET_PID=$!
# The example's Applications, pointed at the sandbox's origin. The real Argo CD needs the
# destination namespace to exist (CreateNamespace=true), and prunes in the background (no garbage
# collector runs here): docs/testbed-findings.md D3.
# (syncPolicy is the last block of each manifest, so the options are appended to it.)
for app in staging prod; do
  f="$SANDBOX/$app-app.yaml"
  sed -e "s|repoURL: .*|repoURL: file://$SANDBOX/origin.git|" "$ROOT/examples/gitops/argocd/$app-microservices-demo.yaml" > "$f"
  grep -q '^  syncPolicy:' "$f" || echo "  syncPolicy:" >> "$f"
  echo "    syncOptions: [CreateNamespace=true, PrunePropagationPolicy=background]" >> "$f"
  kubectl apply -f "$f" >/dev/null
done
for _ in $(seq 1 300); do
  [ "$(kubectl -n argocd get application staging-microservices-demo -o 'jsonpath={.status.sync.status}/{.status.health.status}')" = Synced/Healthy ] && break
  sleep 0.2
done
else
step "The cluster: a local Kubernetes API with an Argo CD stand-in (a test stand-in, not Argo CD), v1.0.3 marked bad"
"$BIN_DIR/promote-standin" --repo "$SANDBOX/origin.git" --app "$ROOT/examples/gitops/argocd/staging-microservices-demo.yaml" \
  --app "$ROOT/examples/gitops/argocd/prod-microservices-demo.yaml" --degraded v1.0.3 --out "$SANDBOX/standin.env" > "$SANDBOX/standin.log" 2>&1 &
STANDIN_PID=$!
for _ in $(seq 1 100); do [ -s "$SANDBOX/standin.env" ] && break; sleep 0.1; done
[ -s "$SANDBOX/standin.env" ] || { cat "$SANDBOX/standin.log"; echo "sandbox: the stand-in did not start" >&2; exit 1; }
set -a; source "$SANDBOX/standin.env"; set +a
fi
unset ARGOCD_SERVER ARGOCD_AUTH_TOKEN   # talk to the Kubernetes API (the REST transport is tested separately)
cd "$SANDBOX/gitops"
run kubectl plugin list
run kubectl promote version
run kubectl promote status

step "Every image is looked up before anything is committed: a typo'd tag is refused, nothing is pushed"
expect_exit 1 kubectl promote staging v1.0.11

if [ -n "${SHOP_URL:-}" ]; then
step "Release v1.0.1 reaches staging (direct); Argo CD auto-syncs it, we wait until it is healthy, then
check the shop for a few seconds (its /healthz and its error ratio from Prometheus's query API; a stand-in)"
run kubectl promote staging v1.0.1 --wait=2m --soak 3s --check "http: {url: '$SHOP_URL/healthz', every: 1s}" \
  --check "prometheus: {url: '$SHOP_URL', query: 'sum(rate(http_requests_total{code=~\"5..\"}[5m])) / sum(rate(http_requests_total[5m]))', below: 0.01, every: 1s}"
run git log --notes=promote --format='%h %s%n    %N' -1 origin/main
else
step "Release v1.0.1 reaches staging (direct); Argo CD auto-syncs it and we wait until it is healthy"
run kubectl promote staging v1.0.1 --wait=2m
fi

step "Prod wants QA's approval of exactly these images first"
expect_exit 4 kubectl promote prod --from staging --dry-run
step "...a verified one: an approval under QA's git e-mail, but unsigned, is recorded and does not count"
(cd "$SANDBOX/spoof" && printf '\033[35m[not qa]\033[0m ' && run kubectl promote approve staging v1.0.1)
expect_exit 4 kubectl promote prod --from staging --dry-run -q
step "QA approves with a signed record (git's ssh signing; the key is in .promote/allowed_signers on main)"
as_qa kubectl promote approve staging v1.0.1 -m "regression suite passed"
step "...and no changes during the year-end freeze"
expect_exit 3 env KUBECTL_PROMOTE_NOW=2026-12-22T10:00:00Z kubectl promote prod --from staging --dry-run -q

step "Prod through a pull request (no forge token here: the branch is pushed and the compare URL printed);
the plan, which is what the pull request's description carries, shows the rendered diff by object and
the release behind the tags (the source range from the images' labels, with GitHub's compare link)"
run kubectl promote prod --from staging --yes --diff=full
step "The project manager merges it; Argo CD syncs exactly that commit"
run git fetch --quiet origin
run git push --quiet origin "origin/promote/prod/v1.0.1:refs/heads/main"
run kubectl promote sync prod --wait=2m
run kubectl promote status

step "v1.0.2: QA rejects it on staging, so it cannot reach prod"
run kubectl promote staging v1.0.2 --wait=2m
as_qa kubectl promote reject staging v1.0.2 -m "checkout is broken"
expect_exit 3 kubectl promote prod --from staging --direct --yes

if [ -z "$REAL" ]; then
step "v1.0.3 passes QA but goes Degraded in prod: with --rollback-on-failure, prod's rollback policies
agree and Argo CD's history takes it back to v1.0.1 (auto-sync off, prune/selfHeal kept, the marker); exit 5"
run kubectl promote staging v1.0.3
as_qa kubectl promote approve staging v1.0.3 -m "looks good"
expect_exit 5 kubectl promote prod --from staging --direct --yes --wait=2m --rollback-on-failure
run git log --notes=promote --format='%h %s%n    %N' -1 origin/main
run kubectl promote history prod
else
step "v1.0.3 passes QA but goes Degraded in prod: exit 5, with the command to run"
run kubectl promote staging v1.0.3
as_qa kubectl promote approve staging v1.0.3 -m "looks good"
expect_exit 5 kubectl promote prod --from staging --direct --yes --wait=2m

step "Roll back through Argo CD's history (fast): auto-sync off (prune/selfHeal kept), the operation, the marker"
run kubectl promote history prod
fi
if [ -n "$REAL" ]; then
  # The real Argo CD can report the Degraded of before the operation for a moment after it
  # (docs/testbed-findings.md P2: --wait trusts it and exits 5): wait for Healthy with kubectl.
  run kubectl promote rollback prod --yes
  run kubectl -n argocd wait application/prod-microservices-demo --for=jsonpath='{.status.health.status}'=Healthy --timeout=2m
fi
run kubectl promote status prod

step "Promotions into a rolled-back env are refused until --resume"
run kubectl promote staging v1.0.4 --pin-digests --wait=2m   # the digests each tag names now go into git
as_qa kubectl promote approve staging v1.0.4 -m "fixes checkout"
expect_exit 1 kubectl promote prod --from staging --direct --yes
step "v1.0.4 was never signed: prod refuses it, naming each digest and the cosign command"
expect_exit 3 kubectl promote prod --from staging --direct --yes --resume
step "The pipeline signs v1.0.4; prod takes it (the plan and the Supply-Chain trailer say what was verified)"
sign_release v1.0.4
run kubectl promote prod --from staging --direct --yes --resume --wait=2m
run kubectl promote status

step "Going back by reverting in git instead (reviewed): not to the bad v1.0.3, but to v1.0.1"
expect_exit 3 kubectl promote rollback prod --strategy revert --dry-run -q
run kubectl promote rollback prod --strategy revert --to v1.0.1 --dry-run

step "The audit trail is plain git"
run git fetch --quiet origin
run git log --format='%h %s%n    %(trailers:key=Promoted-By,key=Promote-Environment,key=Promote-Version,key=Policy-Decision,key=Image-Check,key=Supply-Chain,separator=%x2C )' -6 origin/main
# The records' signatures, checked by git itself against the same allowed signers (G: good).
run git -c gpg.ssh.allowedSignersFile="$SANDBOX/gitops/.promote/allowed_signers" log --format='%h %G? %GS %s' origin/promote/approvals

step "Errors are named and nothing is half-written"
expect_exit 1 kubectl promote prod v1.0.5 --only redis
expect_exit 2 kubectl promote prod

step "Many apps: a Helm app and a Kustomize app promoted together (examples/gitops-apps, an origin of
its own): storefront is a Helm chart with a values file per environment, payments a Kustomize overlay"
for app in storefront payments; do
  for v in v1.0.0 v1.1.0; do push_image "shop/$app" "$v" "https://git.example.com/acme/$app"; done
done
push_image shop/storefront v1.2.0 https://git.example.com/acme/storefront   # payments' v1.2.0 build is not done
git init --quiet --bare "$SANDBOX/apps-origin.git"
cp -r "$ROOT/examples/gitops-apps" "$SANDBOX/apps-seed"
grep -rl registry.example.com "$SANDBOX/apps-seed" | xargs sed -i "s|registry.example.com|$REGISTRY|g"
(cd "$SANDBOX/apps-seed" && git init --quiet && git add -A && git commit --quiet -m "storefront and payments at v1.0.0" && git push --quiet "$SANDBOX/apps-origin.git" HEAD:main)
if [ -n "$REAL" ]; then
  for f in "$ROOT"/examples/gitops-apps/argocd/*.yaml; do
    app="$SANDBOX/apps-$(basename "$f")"
    sed -e "s|repoURL: .*|repoURL: file://$SANDBOX/apps-origin.git|" "$f" > "$app"
    grep -q '^  syncPolicy:' "$app" || echo "  syncPolicy:" >> "$app"
    echo "    syncOptions: [CreateNamespace=true, PrunePropagationPolicy=background]" >> "$app"
    kubectl apply -f "$app" >/dev/null
  done
  app_state() { kubectl -n argocd get application "$1" -o 'jsonpath={.status.sync.status}/{.status.health.status}' 2>/dev/null; }
else
  # A stand-in of its own: each stand-in deploys from one repository.
  "$BIN_DIR/promote-standin" --repo "$SANDBOX/apps-origin.git" $(printf -- '--app %s ' "$ROOT"/examples/gitops-apps/argocd/*.yaml) \
    --out "$SANDBOX/apps-standin.env" > "$SANDBOX/apps-standin.log" 2>&1 &
  APPS_STANDIN_PID=$!
  for _ in $(seq 1 100); do [ -s "$SANDBOX/apps-standin.env" ] && break; sleep 0.1; done
  [ -s "$SANDBOX/apps-standin.env" ] || { cat "$SANDBOX/apps-standin.log"; echo "sandbox: the apps stand-in did not start" >&2; exit 1; }
  set -a; source "$SANDBOX/apps-standin.env"; set +a
  # Read over its Argo CD REST API (kubectl's discovery is more than the stand-in serves).
  apps_server=$ARGOCD_SERVER apps_token=$ARGOCD_AUTH_TOKEN
  app_state() { curl -s -H "Authorization: Bearer $apps_token" "$apps_server/api/v1/applications/$1" | python3 -c '
import json, sys
s = json.load(sys.stdin).get("status", {})
print(s.get("sync", {}).get("status"), s.get("health", {}).get("status"), sep="/")' 2>/dev/null; }
  unset ARGOCD_SERVER ARGOCD_AUTH_TOKEN
fi
# Staging auto-syncs: wait until Argo CD runs both apps' v1.0.0.
for app in storefront-staging payments-staging; do
  for _ in $(seq 1 300); do [ "$(app_state "$app")" = Synced/Healthy ] && break; sleep 0.2; done
  [ "$(app_state "$app")" = Synced/Healthy ] || { echo "sandbox: $app is not Synced/Healthy after 60s" >&2; exit 1; }
done
run git clone --quiet "$SANDBOX/apps-origin.git" "$SANDBOX/shop"
cd "$SANDBOX/shop"
run kubectl promote status --app storefront
step "v1.1.0 of both reaches staging in one commit (--all-apps; Argo CD syncs both, side by side)"
run kubectl promote staging v1.1.0 --all-apps --wait=2m
run git fetch --quiet origin
run git show --stat --format='%h %s%n%(trailers:key=Promote-App,key=Promote-Environment,key=Promote-Version)' origin/main
run kubectl promote status
step "Prod for both apps through ONE pull request (no forge here: the branch is pushed and the pull
request to open is named); semver-guard is asked once per app, and the commit moves both apps"
run kubectl promote prod --from staging --all-apps --yes
run git fetch --quiet origin
branch=$(git for-each-ref --format='%(refname:short)' 'refs/remotes/origin/promote/prod/apps-*/*')
[ "$(printf '%s\n' "$branch" | grep -c .)" = 1 ] || { echo "sandbox: expected one promote/prod/apps-* branch, got: $branch" >&2; exit 1; }
run git show --stat --format='%h %s%n%n%(trailers:key=Promote-App,key=Promote-Environment,key=Promote-Version,key=Policy-Decision)' "$branch"
step "The project manager merges it; Argo CD syncs prod's two apps to exactly that commit"
run git push --quiet origin "$branch:refs/heads/main"
for app in storefront payments; do run kubectl promote sync prod --app "$app" --wait=2m; done

step "All or nothing: a values change that breaks the chart's schema, and payments' v1.2.0 not
built yet: both failures are listed and nothing is committed or pushed"
run git pull --quiet --ff-only
sed -i 's/^replicas: 1$/replicas: "two"   # a string: values.schema.json wants an integer/' charts/storefront/values-staging.yaml
run git commit --quiet -am "storefront: two replicas in staging"
run git push --quiet origin HEAD:main
before=$(git ls-remote origin | sort)
expect_exit 1 kubectl promote staging v1.2.0 --all-apps
[ "$before" = "$(git ls-remote origin | sort)" ] || { echo "sandbox: the refused promotion changed the remote" >&2; exit 1; }
echo "(the remote's refs are as they were)"
run git revert --no-edit HEAD
run git push --quiet origin HEAD:main

printf '\n\033[1msandbox: the story ran end to end\033[0m\n'
