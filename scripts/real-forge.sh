#!/usr/bin/env bash
# A real forge on loopback for the pull-request story: Gitea, built from its Go module, SQLite,
# plain HTTP on 127.0.0.1. Its own script beside real-cluster.sh (not a subcommand of it): the PR
# tests need Gitea and no cluster, the Argo CD tests need the cluster and no forge, and each has
# its own lifecycle and env file; what they share is in real-lib.sh.
#
#   bash scripts/real-forge.sh build        build Gitea into $PROMOTE_REAL (idempotent)
#   bash scripts/real-forge.sh start [DIR]  start it under DIR (default: a new temp dir) with users
#                                           admin, promoter, qa, pm (verified e-mails, tokens) and
#                                           the repo acme/gitops
#   bash scripts/real-forge.sh env [DIR]    print the env file (GITEA_URL, tokens, repo)
#   bash scripts/real-forge.sh stop [DIR]   stop it; nothing is left running
#
# GITEA_VERSION=v1.27.3 by default. `go install` refuses this module (it has replace directives
# and calls itself gitea.dev), so a copy of the downloaded module dir is built with
# `-tags 'sqlite sqlite_unlock_notify'`; without the bindata tag its templates and translations
# are read from that source dir (STATIC_ROOT_PATH).
set -euo pipefail
REAL_NAME=real-forge
source "$(dirname "$0")/real-lib.sh"

GITEA_VERSION="${GITEA_VERSION:-v1.27.3}"
REAL_START_TIMEOUT="${REAL_START_TIMEOUT:-90}"

cmd_build() {
  command -v go >/dev/null 2>&1 || real_die "go not found; install Go 1.26 (https://go.dev/dl)"
  command -v gcc >/dev/null 2>&1 || real_apt gcc libc6-dev   # SQLite is cgo
  real_apt git curl
  mkdir -p "$REAL_BIN" "$REAL_SRC"
  real_stamped gitea "$GITEA_VERSION" && [ -d "$REAL_SRC/gitea/options" ] && return 0
  local src t0=$SECONDS tags="sqlite sqlite_unlock_notify"
  real_log "building Gitea $GITEA_VERSION"
  src=$(real_copy_module "code.gitea.io/gitea@$GITEA_VERSION" gitea)
  (cd "$src" && CGO_ENABLED=1 real_nice go build -trimpath -tags "$tags" \
    -ldflags "-s -w -X 'main.Version=${GITEA_VERSION#v}' -X 'main.Tags=$tags'" -o "$REAL_BIN/gitea" .)
  real_stamp gitea "$GITEA_VERSION"
  real_log "gitea built in $((SECONDS - t0))s"
}

# `gitea ARGS...` as root, against our app.ini.
gt() {
  env GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR="$D" GITEA_CUSTOM="$D/custom" HOME="$D/home" \
    "$REAL_BIN/gitea" --config "$D/custom/conf/app.ini" --work-path "$D" "$@"
}

# `api METHOD PATH [JSON]` as the admin (sudo-able), printing the answer; fails on HTTP >= 400.
api() {
  local method=$1 path=$2 body=${3:-}
  curl -fsS -X "$method" -H "Authorization: token $ADMIN_TOKEN" -H 'Content-Type: application/json' \
    ${body:+--data "$body"} "http://127.0.0.1:$P_HTTP/api/v1$path"
}

# `user NAME FULL-NAME EMAIL`: a user with a verified primary e-mail and an access token
# (all scopes); prints the token.
user() {
  local name=$1 full=$2 email=$3 password
  password=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  gt admin user create --username "$name" --password "$password" --email "$email" \
    --must-change-password=false ${4:+--admin} >>"$D/logs/setup.log" 2>&1 ||
    real_fail "$D" setup "gitea admin user create $name failed"
  # Users the admin creates are active; their primary e-mail is marked activated. Set the full
  # name (shown as the commit author on merges) through the admin API once a token exists.
  gt admin user generate-access-token --username "$name" --token-name promote --scopes all --raw 2>>"$D/logs/setup.log" |
    tail -n 1
}

cmd_start() {
  real_stamped gitea "$GITEA_VERSION" || real_die "Gitea $GITEA_VERSION is not built; run: bash scripts/real-forge.sh build"
  local t0=$SECONDS src="$REAL_SRC/gitea"
  if [ -n "${1:-}" ]; then D=$(mkdir -p "$1" && cd "$1" && pwd); else D=$(mktemp -d "${TMPDIR:-/tmp}/promote-real-forge.XXXXXX"); fi
  if [ -d "$D/pids" ] && [ -n "$(ls "$D/pids" 2>/dev/null)" ]; then
    real_die "$D already has a running Gitea; run: bash scripts/real-forge.sh stop $D"
  fi
  mkdir -p "$PROMOTE_REAL" "$D/custom/conf" "$D/data" "$D/repos" "$D/home" "$D/logs"
  echo "$D" >"$PROMOTE_REAL/current-forge"
  trap 'rc=$?; [ $rc -eq 0 ] || { real_stop_all "$D" || true; rm -f "$PROMOTE_REAL/current-forge"; }' EXIT
  P_HTTP=$(real_free_port)
  local secret internal jwt
  secret=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
  internal=$(env GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true "$REAL_BIN/gitea" generate secret INTERNAL_TOKEN)
  jwt=$(env GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true "$REAL_BIN/gitea" generate secret JWT_SECRET)
  cat >"$D/custom/conf/app.ini" <<EOF
APP_NAME = kubectl-promote test forge
RUN_USER = $(id -un)
RUN_MODE = prod
WORK_PATH = $D

[server]
PROTOCOL = http
HTTP_ADDR = 127.0.0.1
HTTP_PORT = $P_HTTP
ROOT_URL = http://127.0.0.1:$P_HTTP/
DISABLE_SSH = true
START_SSH_SERVER = false
OFFLINE_MODE = true
LFS_START_SERVER = false
APP_DATA_PATH = $D/data
; No bindata tag: templates, translations and assets come from the source dir.
STATIC_ROOT_PATH = $src

[database]
DB_TYPE = sqlite3
PATH = $D/data/gitea.db
SQLITE_JOURNAL_MODE = WAL

[repository]
ROOT = $D/repos
DEFAULT_BRANCH = main

[security]
INSTALL_LOCK = true
SECRET_KEY = $secret
INTERNAL_TOKEN = $internal

[oauth2]
JWT_SECRET = $jwt

[service]
DISABLE_REGISTRATION = true
DEFAULT_KEEP_EMAIL_PRIVATE = false
ENABLE_NOTIFY_MAIL = false

[mailer]
ENABLED = false

[session]
PROVIDER = memory

[cache]
ADAPTER = memory

[indexer]
ISSUE_INDEXER_TYPE = db
REPO_INDEXER_ENABLED = false

[actions]
ENABLED = false

[packages]
ENABLED = false

[cron]
ENABLED = false

[log]
MODE = console
LEVEL = Warn
ROOT_PATH = $D/logs
EOF
  chmod 600 "$D/custom/conf/app.ini"
  gt migrate >"$D/logs/setup.log" 2>&1 || real_fail "$D" setup "gitea migrate failed"
  ADMIN_TOKEN=$(user gitea-admin "Gitea Admin" admin@example.com admin)
  local promoter qa pm
  promoter=$(user promoter "Ana Platform" ana@example.com)
  qa=$(user qa "Quinn QA" qa@example.com)
  pm=$(user pm "Pat PM" pm@example.com)
  for t in "$ADMIN_TOKEN" "$promoter" "$qa" "$pm"; do
    [ ${#t} -ge 20 ] || real_fail "$D" setup "gitea admin user generate-access-token gave no token"
  done

  real_spawn "$D" gitea env GITEA_I_AM_BEING_UNSAFE_RUNNING_AS_ROOT=true GITEA_WORK_DIR="$D" GITEA_CUSTOM="$D/custom" \
    HOME="$D/home" "$REAL_BIN/gitea" --config "$D/custom/conf/app.ini" --work-path "$D" web
  real_wait "$D" gitea "$REAL_START_TIMEOUT" curl -fsS "http://127.0.0.1:$P_HTTP/api/healthz"

  # The organisation and the GitOps repo; promoter, qa and pm may push and review.
  api POST /orgs '{"username":"acme","visibility":"public"}' >/dev/null || real_fail "$D" gitea "creating the org acme failed"
  api POST /orgs/acme/repos '{"name":"gitops","default_branch":"main","private":false}' >/dev/null ||
    real_fail "$D" gitea "creating the repo acme/gitops failed"
  local u
  for u in promoter qa pm; do
    api PUT "/repos/acme/gitops/collaborators/$u" '{"permission":"write"}' >/dev/null ||
      real_fail "$D" gitea "adding $u to acme/gitops failed"
  done
  # Full names, as the commits of a merge show them.
  api PATCH /admin/users/promoter '{"login_name":"promoter","source_id":0,"full_name":"Ana Platform"}' >/dev/null
  api PATCH /admin/users/qa '{"login_name":"qa","source_id":0,"full_name":"Quinn QA"}' >/dev/null
  api PATCH /admin/users/pm '{"login_name":"pm","source_id":0,"full_name":"Pat PM"}' >/dev/null

  cat >"$D/env" <<EOF
# Written by scripts/real-forge.sh start: source it (set -a; . FILE) to talk to the real Gitea.
REAL_FORGE_DIR=$D
GITEA_URL=http://127.0.0.1:$P_HTTP
GITEA_API=http://127.0.0.1:$P_HTTP/api/v1
GITEA_REPO=acme/gitops
GITEA_REPO_URL=http://127.0.0.1:$P_HTTP/acme/gitops.git
GITEA_ADMIN_TOKEN=$ADMIN_TOKEN
GITEA_PROMOTER_TOKEN=$promoter
GITEA_QA_TOKEN=$qa
GITEA_PM_TOKEN=$pm
EOF
  chmod 600 "$D/env"
  trap - EXIT
  real_log "Gitea healthy in $((SECONDS - t0))s on http://127.0.0.1:$P_HTTP; state in $D"
}

real_main forge 2,18 "$@"
