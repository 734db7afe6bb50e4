#!/usr/bin/env bash
# The end-to-end suite against the real servers (tests/real, issue 14): the real kube-apiserver
# and Argo CD, the real Gitea, a real registry, the kubelet stand-in. Builds the servers
# (idempotent: seconds when they are cached), builds the test binary with the pause points the
# kill test needs, runs every test of the suite one at a time, and prints the timings. The suite
# starts ONE cluster and ONE Gitea for the run and a reaper stops them when the run ends; this
# script waits for the reaper and fails if anything of the run is still running.
#
#   bash scripts/test-real.sh                 the whole suite
#   bash scripts/test-real.sh story           only tests whose name contains "story"
#   KEEP_REAL=1 bash scripts/test-real.sh     keep the run dir (logs of every server) afterwards
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
t0=$SECONDS
bash scripts/setup.sh >/dev/null
bash scripts/real-cluster.sh build
bash scripts/real-forge.sh build
t_servers=$((SECONDS - t0))

t1=$SECONDS
cargo build --quiet -p kubectl-promote --features test-hooks --test real
t_build=$((SECONDS - t1))

export REAL_SUITE_DIR
REAL_SUITE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/promote-real-suite.XXXXXX")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t2=$SECONDS
# Tests of known product bugs (docs/testbed-findings.md) assert the correct behaviour and carry
# an ignore reason naming their finding (`#[ignore = "P3: fixed with ..."]`): skipped here until
# the fix changes the reason back to "needs the real servers".
skips=()
while read -r name; do skips+=(--skip "$name"); done < <(
  awk '/#\[ignore = "[PG][0-9]+:/ {bug=1; next} bug && /fn [a-z0-9_]+\(/ {sub(/.*fn /, ""); sub(/\(.*/, ""); print; bug=0}' tests/real/*.rs)
echo "test-real: $(( ${#skips[@]} / 2 )) known-bug tests skipped (run one: cargo test -p kubectl-promote --features test-hooks --test real NAME -- --ignored)" >&2
set +e
cargo test --quiet -p kubectl-promote --features test-hooks --test real -- --ignored --test-threads=1 ${skips[@]+"${skips[@]}"} "$@"
rc=$?
set -e
t_suite=$((SECONDS - t2))
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The reaper stops the servers once the test process has ended: wait for it (stop takes a few
# seconds), then check by the recorded PIDs that nothing is left.
# (Each stop gives its processes 10 s to end after SIGTERM, so allow a minute in all.)
for _ in $(seq 1 600); do [ -f "$REAL_SUITE_DIR/reaped" ] && break; sleep 0.1; done
left=""
if [ ! -f "$REAL_SUITE_DIR/reaped" ]; then
  left="the reaper did not finish within 60s (see $REAL_SUITE_DIR/reaper.log)"
else
  for f in "$REAL_SUITE_DIR"/cluster/pids/*.pid "$REAL_SUITE_DIR"/forge/pids/*.pid "$REAL_SUITE_DIR"/extra/pids/*.pid; do
    [ -f "$f" ] || continue
    read -r pid start <"$f" || continue
    if [ -n "$pid" ] && [ "$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $20}')" = "$start" ]; then
      left="$left $(basename "$f" .pid):$pid"
    fi
  done
fi

sed 's/^/test-real: /' "$REAL_SUITE_DIR/timings.log" 2>/dev/null || true
echo "test-real: servers built/checked in ${t_servers}s, test binary in ${t_build}s, suite in ${t_suite}s" \
  "(load average ${load_before} before, ${load_after} after)"
if [ -n "$left" ]; then
  echo "test-real: error: still running after the suite: $left" >&2
  exit 1
fi
# A failed run keeps its dir: every server's log is under it.
if [ -n "${KEEP_REAL:-}" ] || [ $rc -ne 0 ]; then
  echo "test-real: the run's state and server logs are in $REAL_SUITE_DIR" >&2
else
  rm -rf "$REAL_SUITE_DIR"
fi
exit $rc
