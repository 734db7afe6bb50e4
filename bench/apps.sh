#!/usr/bin/env bash
# Issue 17's scale target (not part of .ci/run): 100 Kustomize apps x 3 environments (dev,
# staging, prod; prod `from: staging` with builtin:semver-guard), apps found by
# `apps: {discover: "apps/*/overlays/{env}"}`. Two arms, each from the same starting origin:
#   (a) one `kubectl-promote prod --from staging --all-apps` (direct mode, one commit, pushed)
#   (b) 100 runs of `kubectl-promote prod --from staging --app appNN`, one after another
#       (today's command once per app: 100 commits, 100 pushes)
# Each repetition resets the bare origin and the clone to the starting state and empties the
# render cache (the compiled policy module stays cached: both arms load it the same way); the arms
# alternate (a b, b a, ...) so drift on a noisy machine hits both alike. Prints each arm's times,
# the per-app cost, the ratio a/b (target <= 0.1x), a against argocd-image-updater's published
# ~4.5 s per app git cycle (issue 1572) x 100, and the peak RSS of (a).
# No registry: KUBECTL_PROMOTE_SKIP_IMAGE_CHECK=1 (both arms skip the image check alike).
# Renders use `kubectl kustomize` (only kubectl on PATH), unless KUSTOMIZE=path/to/kustomize
# is given: then a standalone kustomize is on PATH and both arms render with `kustomize build`.
#   bash bench/apps.sh                  # APPS=100 R=3
#   R=1 APPS=20 bash bench/apps.sh
#   BIN=path/to/kubectl-promote bash bench/apps.sh   # a binary built elsewhere
#   A_FLAGS=--no-cache bash bench/apps.sh   # extra flags for (a); --no-cache: no render head start
# Results are written up in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
R="${R:-3}"
APPS="${APPS:-100}"
UPDATER_S="${UPDATER_S:-4.5}"
for v in R APPS; do
  case "${!v}" in '' | *[!0-9]* | 0) echo "bench: $v=${!v}: a positive number" >&2; exit 2 ;; esac
done
[ "$APPS" -le 1000 ] || { echo "bench: APPS=$APPS: at most 1000 (app names are app000..app999)" >&2; exit 2; }
command -v kubectl >/dev/null || { echo "bench: kubectl not on PATH: the render check needs \`kubectl kustomize\`" >&2; exit 2; }
if [ -z "${BIN:-}" ]; then
  echo "bench: building the release binary (cargo build --release -p kubectl-promote)" >&2
  cargo build --release --quiet -p kubectl-promote --bin kubectl-promote
  BIN="$CARGO_TARGET_DIR/release/kubectl-promote"
fi
BIN=$(realpath "$BIN")

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A hermetic home and PATH: only git, kubectl (and KUSTOMIZE when given), no user config.
mkdir -p "$work/home" "$work/bin" "$work/tmp"
ln -s "$(command -v kubectl)" "$work/bin/kubectl"
[ -z "${KUSTOMIZE:-}" ] || ln -s "$(realpath "$KUSTOMIZE")" "$work/bin/kustomize"
export HOME="$work/home" XDG_CACHE_HOME="$work/home/.cache" XDG_CONFIG_HOME="$work/home/.config" \
  KUBECONFIG=/dev/null KREW_ROOT="$work/home/.krew" GIT_CONFIG_NOSYSTEM=1 GIT_TERMINAL_PROMPT=0 CI=1 \
  TMPDIR="$work/tmp" PATH="$work/bin:/usr/local/bin:/usr/bin:/bin" \
  KUBECTL_PROMOTE_SKIP_IMAGE_CHECK=1 KUBECTL_PROMOTE_NOW=2026-01-15T12:00:00Z
git config --global user.name "Ana Platform"
git config --global user.email ana@example.com
git config --global init.defaultBranch main

# The starting repo: every app runs v1.0.2 in dev, v1.0.1 in staging, v1.0.0 in prod.
python3 - "$work/seed" "$APPS" <<'PY'
import pathlib, sys
root, n = pathlib.Path(sys.argv[1]), int(sys.argv[2])
(root).mkdir()
(root / "promote.yaml").write_text(
    "apiVersion: promote.kubectl.io/v1alpha1\nkind: PromotionConfig\n"
    "git: {remote: origin, baseBranch: main, mode: direct}\n"
    "environments:\n  - name: dev\n  - name: staging\n    from: dev\n"
    "  - name: prod\n    from: staging\n    policies:\n      promote:\n        - module: builtin:semver-guard\n"
    'apps: {discover: "apps/*/overlays/{env}"}\n')
for i in range(n):
    app = f"app{i:03d}"
    for env, tag in [("dev", "v1.0.2"), ("staging", "v1.0.1"), ("prod", "v1.0.0")]:
        d = root / "apps" / app / "overlays" / env
        d.mkdir(parents=True)
        (d / "kustomization.yaml").write_text(
            "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n"
            f"namespace: {app}-{env}\nresources:\n  - deployment.yaml\n"
            f"images:\n  - name: registry.example.com/acme/{app}\n    newTag: {tag}\n")
        (d / "deployment.yaml").write_text(
            f"apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {app}\n"
            f"spec:\n  replicas: 2\n  selector:\n    matchLabels: {{app: {app}}}\n"
            f"  template:\n    metadata:\n      labels: {{app: {app}}}\n    spec:\n      containers:\n"
            f"        - name: {app}\n          image: registry.example.com/acme/{app}:v0\n"
            f"          ports: [{{containerPort: 8080}}]\n"
            f"          resources: {{requests: {{cpu: 10m, memory: 32Mi}}}}\n")
PY
git -C "$work/seed" init --quiet
git -C "$work/seed" add -A
git -C "$work/seed" commit --quiet -m "initial: $APPS apps x 3 environments"
git clone --quiet --bare "$work/seed" "$work/origin0.git"
start=$(git -C "$work/origin0.git" rev-parse main)

# A fresh origin (a copy of the starting one), a fresh clone of it, an empty render cache.
reset() {
  rm -rf "$work/origin.git" "$work/clone" "$XDG_CACHE_HOME/kubectl-promote/renders"
  cp -a "$work/origin0.git" "$work/origin.git"
  git clone --quiet "$work/origin.git" "$work/clone"
}
# Wall time of a command in the clone, in ms; stdout/stderr kept in $work/last.{out,err}.
timed() {
  local t0=$EPOCHREALTIME rc=0
  (cd "$work/clone" && "$@" </dev/null >"$work/last.out" 2>"$work/last.err") || rc=$?
  local t1=$EPOCHREALTIME
  if [ "$rc" -ne 0 ]; then
    echo "bench: \`$*\` failed (exit $rc):" >&2
    cat "$work/last.err" >&2
    exit 1
  fi
  echo $(( (${t1/./} - ${t0/./}) / 1000 ))
}
# Each arm must have promoted every app's prod overlay to staging's tag, in $1 commits.
check() {
  local commits changed
  commits=$(git -C "$work/origin.git" rev-list --count "$start..main")
  changed=$(git -C "$work/origin.git" diff --name-only "$start" main | grep -c 'overlays/prod/kustomization.yaml$' || true)
  [ "$commits" = "$1" ] && [ "$changed" = "$APPS" ] || {
    echo "bench: expected $1 commit(s) changing $APPS prod overlays, found $commits changing $changed" >&2
    exit 1
  }
  [ "$(git -C "$work/origin.git" grep -c 'newTag: v1.0.1' main -- 'apps/*/overlays/prod/kustomization.yaml' | wc -l)" = "$APPS" ] || {
    echo "bench: not every prod overlay runs v1.0.1 afterwards" >&2
    exit 1
  }
}
arm_a() {
  reset
  local rss=()
  [ -x /usr/bin/time ] && rss=(/usr/bin/time -v -o "$work/rss.txt")
  # shellcheck disable=SC2086 # A_FLAGS is a list of flags
  timed "${rss[@]}" "$BIN" prod --from staging --all-apps ${A_FLAGS:-} >>"$work/a.ms"
  check 1
  [ -x /usr/bin/time ] && awk -F': ' '/Maximum resident/ {print $2}' "$work/rss.txt" >>"$work/a.rss"
  return 0
}
arm_b() {
  reset
  local total=0 i ms
  for i in $(seq 0 $((APPS - 1))); do
    ms=$(timed "$BIN" prod --from staging --app "$(printf 'app%03d' "$i")")
    total=$((total + ms))
  done
  echo "$total" >>"$work/b.ms"
  check "$APPS"
}

# Warm-up: one single-app run compiles the policy module into the cache both arms then load.
reset
timed "$BIN" prod --from staging --app app000 >/dev/null
: >"$work/a.ms"
: >"$work/b.ms"
: >"$work/a.rss"
for i in $(seq 1 "$R"); do
  if [ $((i % 2)) -eq 1 ]; then arm_a; arm_b; else arm_b; arm_a; fi
  echo "bench: [$i/$R] a=$(tail -1 "$work/a.ms") ms  b=$(tail -1 "$work/b.ms") ms" >&2
done

python3 - "$work/a.ms" "$work/b.ms" "$work/a.rss" "$APPS" "$R" "$UPDATER_S" "$(nproc)" "$(uptime)" "${KUSTOMIZE:+kustomize build}" "${A_FLAGS:-}" <<'PY'
import statistics, sys
a = [int(x) / 1000 for x in open(sys.argv[1])]
b = [int(x) / 1000 for x in open(sys.argv[2])]
rss = [int(x) for x in open(sys.argv[3]) if x.strip()]
n, r, upd = int(sys.argv[4]), int(sys.argv[5]), float(sys.argv[6])
render = sys.argv[9] or "kubectl kustomize"
ma, mb = statistics.median(a), statistics.median(b)
print(f"{n} apps x 3 envs, prod --from staging, {r} alternating repetition(s) per arm, renders with `{render}`,")
print(f"image check skipped (KUBECTL_PROMOTE_SKIP_IMAGE_CHECK=1), builtin:semver-guard on prod; {sys.argv[7]} cores;{sys.argv[8].split(',', 2)[-1]}")
fmt = lambda xs: ", ".join(f"{x:.2f}" for x in xs)
print(f"  (a) one --all-apps{' ' + sys.argv[10] if sys.argv[10] else ''} run (1 commit):       median {ma:7.2f} s  ({ma / n * 1000:6.1f} ms/app)  runs: {fmt(a)} s")
print(f"  (b) {n} runs of --app appNN ({n} commits): median {mb:7.2f} s  ({mb / n * 1000:6.1f} ms/app)  runs: {fmt(b)} s")
ratio = ma / mb
print(f"  ratio a/b: {ratio:.3f}x  (target <= 0.1x: {'met' if ratio <= 0.1 else 'NOT met'})")
print(f"  a vs argocd-image-updater's ~{upd} s per app git cycle x {n} = {upd * n:.0f} s: {ma / (upd * n):.4f}x")
if rss:
    print(f"  peak RSS of (a): {max(rss) / 1024:.1f} MiB (max of {len(rss)} runs; /usr/bin/time -v: the largest of the process and each render child it waited for)")
PY
