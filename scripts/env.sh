# Shared settings for the scripts: build caches live outside the clone, so a fresh clone (CI)
# reuses a warm target dir on the same machine.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-promote-dev/target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
# Go-built tools (opa, kubectl-krew, crane) installed by scripts/go-tools.sh.
export PROMOTE_TOOLS="${PROMOTE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/kubectl-promote-dev/bin}"
case ":$PATH:" in *":$PROMOTE_TOOLS:"*) ;; *) export PATH="$PROMOTE_TOOLS:$PATH" ;; esac
