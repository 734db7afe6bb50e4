# Shared by scripts/real-cluster.sh and scripts/real-forge.sh (sourced, not run): where the real
# servers are built and cached, how a component is started, waited for, recorded and stopped.
# Everything here stays outside the clone: builds under $PROMOTE_REAL (beside $PROMOTE_TOOLS),
# running state under a temp dir that `start` names.

# shellcheck source=env.sh
source "$(dirname "${BASH_SOURCE[0]}")/env.sh"
export PROMOTE_REAL="${PROMOTE_REAL:-$(dirname "$PROMOTE_TOOLS")/real}"
REAL_BIN="$PROMOTE_REAL/bin"   # built binaries, one stamp file per binary with its version
REAL_SRC="$PROMOTE_REAL/src"   # writable copies of module zips, and the generated wrapper module

# `real_log` prints progress to stderr with the script's name.
real_log() { echo "${REAL_NAME:-real}: $*" >&2; }
real_die() { echo "${REAL_NAME:-real}: error: $*" >&2; exit 1; }

# Compiles run at the lowest priority: the machine is shared with other builds.
real_nice() { nice -n 19 "$@"; }

# `real_stamped BIN VERSION`: true when BIN is built and its stamp says VERSION.
real_stamped() {
  [ -x "$REAL_BIN/$1" ] && [ "$(cat "$REAL_BIN/.$1.version" 2>/dev/null)" = "$2" ]
}
real_stamp() { echo "$2" >"$REAL_BIN/.$1.version"; }

# `real_module_dir MODULE@VERSION`: download a module (zip and go.mod) through the Go module proxy
# and print its read-only directory in the module cache.
real_module_dir() {
  local dir
  dir=$(go mod download -json "$1" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  [ -n "$dir" ] && [ -d "$dir" ] || real_die "could not download $1 from the Go module proxy"
  echo "$dir"
}

# `real_copy_module MODULE@VERSION NAME`: a writable copy of a module's files under $REAL_SRC/NAME
# (the module cache is read-only, and a build from a module's own go.mod needs a main module).
# Re-copied when the version changes; print the copy's path.
real_copy_module() {
  local dest="$REAL_SRC/$2" dir
  if [ "$(cat "$dest/.promote-module" 2>/dev/null)" != "$1" ]; then
    dir=$(real_module_dir "$1")
    rm -rf "$dest" && mkdir -p "$(dirname "$dest")"
    cp -r "$dir" "$dest"
    chmod -R u+w "$dest"
    echo "$1" >"$dest/.promote-module"
  fi
  echo "$dest"
}

# `real_apt PACKAGE...`: install Debian packages that are missing (idempotent).
real_apt() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  real_log "installing Debian packages: ${missing[*]}"
  command -v apt-get >/dev/null || real_die "apt-get not found; install ${missing[*]} by hand"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# `real_free_port`: a TCP port nothing on this machine listens on (from the kernel's own list,
# so the pick only races with programs that bind between now and the component's start), below
# the kernel's ephemeral range: a port from inside it can be taken by any outgoing connection
# (the components' own, to etcd and each other) between the pick and the bind.
REAL_TAKEN=" "
real_free_port() {
  local listening p i low=10000 high=32767 eph
  eph=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true)
  if [ -n "$eph" ] && [ "$eph" -gt $((low + 2000)) ]; then high=$((eph - 1)); fi
  listening=$(ss -Htln 2>/dev/null | awk '{print $4}' | sed 's/.*://' | tr '\n' ' ')
  for i in $(seq 1 200); do
    p=$((low + RANDOM % (high - low)))
    case " $listening $REAL_TAKEN " in *" $p "*) continue ;; esac
    # ss may be missing: a connection that succeeds means something listens there.
    if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then continue; fi
    REAL_TAKEN="$REAL_TAKEN$p "
    echo "$p"
    return 0
  done
  real_die "no free loopback port found"
}

# `real_spawn DIR NAME CMD...`: start CMD in the background with its output in DIR/logs/NAME.log
# and its PID in DIR/pids/NAME.pid (its own process group, so stop reaches its children too).
real_spawn() {
  local dir=$1 name=$2; shift 2
  mkdir -p "$dir/logs" "$dir/pids"
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo "$! $(real_started_at $!)" >"$dir/pids/$name.pid"
}

# `real_started_at PID`: when the process started (clock ticks since boot, /proc/PID/stat field
# 22), recorded beside the PID so that stop never signals a recycled PID.
real_started_at() {
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# `real_ours FILE`: the PID recorded in FILE if that process still runs, else nothing.
real_ours() {
  local pid start
  read -r pid start <"$1" || return 0
  [ -n "$pid" ] && [ "$(real_started_at "$pid")" = "$start" ] && echo "$pid"
  return 0
}

# `real_alive DIR NAME`: the recorded process runs.
real_alive() {
  [ -f "$1/pids/$2.pid" ] && [ -n "$(real_ours "$1/pids/$2.pid")" ]
}

# `real_fail DIR NAME WHAT`: stop with what failed and the tail of that component's log.
real_fail() {
  local dir=$1 name=$2 what=$3
  {
    echo "${REAL_NAME:-real}: error: $name: $what"
    if [ -f "$dir/logs/$name.log" ]; then
      echo "--- last lines of $dir/logs/$name.log ---"
      tail -n 25 "$dir/logs/$name.log"
      echo "---"
    fi
  } >&2
  exit 1
}

# `real_wait DIR NAME SECONDS CMD...`: poll CMD until it succeeds; fail (with the log) when the
# component died or the deadline passed.
real_wait() {
  local dir=$1 name=$2 secs=$3; shift 3
  local deadline=$((SECONDS + secs))
  while ! "$@" >/dev/null 2>&1; do
    real_alive "$dir" "$name" || real_fail "$dir" "$name" "exited while starting"
    [ $SECONDS -lt $deadline ] || real_fail "$dir" "$name" "not healthy within ${secs}s (waited for: $*)"
    sleep 0.2
  done
}

# `real_stop_all DIR`: stop every recorded process: SIGTERM to each (its process group), a
# shared grace period of 10 s, then SIGKILL to what is left; check that none is left.
real_stop_all() {
  local dir=$1 f pid name left=() pids=()
  [ -d "$dir/pids" ] || return 0
  for f in "$dir/pids"/*.pid; do
    [ -f "$f" ] || continue
    # Only a process still running what we started (a recycled PID is someone else's).
    pid=$(real_ours "$f")
    if [ -n "$pid" ]; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      pids+=("$pid")
    fi
  done
  for _ in $(seq 1 100); do
    left=()
    for pid in ${pids[@]+"${pids[@]}"}; do kill -0 "$pid" 2>/dev/null && left+=("$pid"); done
    [ ${#left[@]} -eq 0 ] && break
    sleep 0.1
  done
  for pid in ${left[@]+"${left[@]}"}; do
    real_log "pid $pid ignored SIGTERM for 10s; killing it"
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  done
  sleep 0.2
  left=()
  for f in "$dir/pids"/*.pid; do
    [ -f "$f" ] || continue
    pid=$(real_ours "$f")
    [ -n "$pid" ] && left+=("$(basename "$f" .pid):$pid")
    rm -f "$f"
  done
  [ ${#left[@]} -eq 0 ] || real_die "still running after stop: ${left[*]}"
}

# `real_state_dir KIND [DIR]`: the state dir given, or the one the last `start` recorded.
real_state_dir() {
  local kind=$1 dir=${2:-}
  if [ -z "$dir" ]; then
    dir=$(cat "$PROMOTE_REAL/current-$kind" 2>/dev/null) || return 1
  fi
  echo "$dir"
}

# `real_cmd_stop KIND [DIR]`: stop what `start` recorded for KIND (cluster, forge); nothing
# recorded is not an error.
real_cmd_stop() {
  local kind="$1" dir
  dir=$(real_state_dir "$kind" "${2:-}") || { real_log "nothing recorded as running; nothing to stop"; return 0; }
  real_stop_all "$dir"
  [ "$(cat "$PROMOTE_REAL/current-$kind" 2>/dev/null)" = "$dir" ] && rm -f "$PROMOTE_REAL/current-$kind"
  real_log "stopped everything started under $dir"
}

# `real_cmd_env KIND [DIR]`: print the env file `start` wrote for KIND.
real_cmd_env() {
  local kind="$1" dir
  dir=$(real_state_dir "$kind" "${2:-}") ||
    real_die "no running $kind recorded (in $PROMOTE_REAL/current-$kind); give its DIR or run start"
  [ -f "$dir/env" ] || real_die "no env file in $dir (did start finish?)"
  cat "$dir/env"
}

# `real_main KIND USAGE_LINES ARGS...`: the scripts' shared command line (build, start, stop,
# env); anything else prints the script's header lines USAGE_LINES (e.g. 2,13) and exits 2.
real_main() {
  local kind="$1" usage="$2"
  shift 2
  case "${1:-}" in
    build) shift; cmd_build "$@" ;;
    start) shift; cmd_start "$@" ;;
    stop) shift; real_cmd_stop "$kind" "$@" ;;
    env) shift; real_cmd_env "$kind" "$@" ;;
    *) sed -n "${usage}p" "$0" | sed 's/^# \{0,1\}//' >&2; exit 2 ;;
  esac
}
