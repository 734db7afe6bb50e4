#!/usr/bin/env bash
# Issue 19's speed target (not part of .ci/run): the whole-process `kubectl-promote policy eval`
# of a Rego policy whose compiled module is cached, against `opa eval` of the same .rego on the
# same input. Builds the release binary once, builds the policy's wasm bundle with the same opa,
# warms the compiled-module cache (and checks the timed runs hit it), checks both give the same
# decision, then times N alternating runs of each (ours, opa, opa, ours, ...: drift on a noisy
# machine hits both alike) and prints each arm's median and p90 and the ratio of the medians.
#   bash bench/policy-eval-vs-opa.sh               # N=40, examples/policies/rego/qa-approved
#   N=100 bash bench/policy-eval-vs-opa.sh
#   BIN=path/to/kubectl-promote bash bench/policy-eval-vs-opa.sh   # a binary built elsewhere
#   POLICY=dir CASE=dir/cases/x.json bash bench/policy-eval-vs-opa.sh
# The target is ≤ 0.2× (issue 19); results are written up in docs/performance.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
N="${N:-40}"
POLICY="${POLICY:-examples/policies/rego/qa-approved}"
CASE="${CASE:-$POLICY/cases/allow-approved.json}"
OPA="${OPA:-$PROMOTE_TOOLS/opa}"
for f in "$POLICY/policy.rego" "$CASE"; do
  [ -f "$f" ] || { echo "bench: $f: no such file (POLICY=dir with a policy.rego, CASE=a case file)" >&2; exit 2; }
done
case "$N" in '' | *[!0-9]* | 0) echo "bench: N=$N: a positive number of runs per arm" >&2; exit 2 ;; esac
[ -x "$OPA" ] || bash scripts/go-tools.sh
if [ -z "${BIN:-}" ]; then
  echo "bench: building the release binary (cargo build --release -p kubectl-promote)" >&2
  cargo build --release --quiet -p kubectl-promote --bin kubectl-promote
  BIN="$CARGO_TARGET_DIR/release/kubectl-promote"
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# A hermetic home: the compiled-module cache under XDG_CACHE_HOME starts empty, no config is read.
export HOME="$work/home" XDG_CACHE_HOME="$work/cache" XDG_CONFIG_HOME="$work/config" KUBECONFIG=/dev/null
mkdir -p "$HOME"
python3 - "$CASE" "$work" <<'PY'
import json, sys
case = json.load(open(sys.argv[1]))
request = case["request"]
request["settings"] = case.get("settings") or {}
json.dump(request, open(sys.argv[2] + "/input.json", "w"))
json.dump(request["settings"], open(sys.argv[2] + "/settings.json", "w"))
PY
# The bundle: the policy's own sources (tests and cases left out), as its build.sh builds it.
"$OPA" build -t wasm -e promote/decision -e promote/validate_settings -b "$POLICY" \
  --ignore '*_test.rego' --ignore cases -o "$work/bundle.tar.gz"

ours=("$BIN" policy eval "$work/bundle.tar.gz" --input "$work/input.json" --settings "$work/settings.json" -o json)
opa=("$OPA" eval --format json -d "$POLICY/policy.rego" -i "$work/input.json" data.promote.decision)

# Warm the cache (one compile), then check the timed runs load the artifact and compile nothing.
"${ours[@]}" >"$work/ours.json" || [ $? -le 4 ]
artifacts() { find "$XDG_CACHE_HOME" -type f -newer "$1" 2>/dev/null | wc -l; }
[ "$(find "$XDG_CACHE_HOME" -type f | wc -l)" -gt 0 ] || { echo "bench: nothing was cached under $XDG_CACHE_HOME: every run would compile" >&2; exit 1; }
touch "$work/warm"
sleep 0.01
"$OPA" eval --format json -d "$POLICY/policy.rego" -i "$work/input.json" data.promote.decision >"$work/opa.json"
python3 - "$work/ours.json" "$work/opa.json" <<'PY'
import json, sys
ours = json.load(open(sys.argv[1]))["decision"]
opa = json.load(open(sys.argv[2]))["result"][0]["expressions"][0]["value"]
# Ours is the Decision as the host normalises it (absent lists become []): compare what decides.
key = lambda d: (d.get("decision"), d.get("reasons") or [], d.get("requiredApprovals") or [], d.get("warnings") or [])
if key(ours) != key(opa):
    sys.exit(f"bench: the two disagree, nothing to compare:\n ours: {ours}\n opa:  {opa}")
print(f"bench: both decide {ours['decision']!r}", file=sys.stderr)
PY

# Each sample is the wall time of one whole process, fork and exec included, in µs.
sample() {
  local t0=$EPOCHREALTIME
  "$@" >/dev/null 2>&1 || [ $? -le 4 ]
  local t1=$EPOCHREALTIME
  echo $(( (${t1/./} - ${t0/./}) ))
}
for _ in 1 2; do sample "${ours[@]}" >/dev/null; sample "${opa[@]}" >/dev/null; done
: >"$work/ours.us"
: >"$work/opa.us"
for i in $(seq 1 "$N"); do
  if [ $((i % 2)) -eq 1 ]; then
    sample "${ours[@]}" >>"$work/ours.us"; sample "${opa[@]}" >>"$work/opa.us"
  else
    sample "${opa[@]}" >>"$work/opa.us"; sample "${ours[@]}" >>"$work/ours.us"
  fi
done
[ "$(artifacts "$work/warm")" -eq 0 ] || { echo "bench: the timed runs wrote to the module cache: it was not hit" >&2; exit 1; }

python3 - "$work/ours.us" "$work/opa.us" "$N" "$POLICY" <<'PY'
import statistics, sys
def pct(s, p):  # nearest rank
    s = sorted(s)
    return s[max(0, min(len(s) - 1, -(-p * len(s) // 100) - 1))]
ours = [int(x) / 1000 for x in open(sys.argv[1])]
opa = [int(x) / 1000 for x in open(sys.argv[2])]
mo, mp = statistics.median(ours), statistics.median(opa)
print(f"policy eval vs opa eval, whole process, {sys.argv[3]} alternating runs each, {sys.argv[4]}")
print(f"  kubectl-promote policy eval (cached module): median {mo:.2f} ms  p90 {pct(ours, 90):.2f} ms")
print(f"  opa eval (same .rego, same input):           median {mp:.2f} ms  p90 {pct(opa, 90):.2f} ms")
ratio = mo / mp
print(f"  ratio of medians: {ratio:.3f}x  (target <= 0.2x: {'met' if ratio <= 0.2 else 'NOT met'})")
PY
