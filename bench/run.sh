#!/usr/bin/env bash
# The benchmark command: builds zauthy and the bench in release mode, then runs the bench against SQLite and
# PostgreSQL, each with a fresh database. Prints the machine, a table per database and a summary.
#
# PostgreSQL: uses $ZAUTHY_BENCH_PG_URL (a server URL; a fresh database is created on it and dropped after)
# when set, otherwise starts a throwaway cluster the way scripts/test.sh does, torn down on every exit path.
#
# The OpenID provider scenarios are measured next to oidc-provider (npm), the reference implementation: its
# node_modules are installed from the lock file with `npm ci` when missing or stale, and it runs on a free
# loopback port (bench/oidc-provider/server.mjs), torn down on every exit path. `--no-oidc-provider` skips it
# (zauthy's OIDC figures are still measured); `--no-oidc` skips the OIDC scenarios altogether.
#
# Environment: ZAUTHY_BENCH_PG_PORT (first port tried for the throwaway cluster, default 55532),
# ZAUTHY_BENCH_OIDC_PROVIDER_WORKERS (node:cluster workers, default: the number of cores).
#
# Usage: bench/run.sh [--no-oidc-provider] [BENCH ARGS...]   e.g. bench/run.sh --seconds 10
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zauthy-target}

log() { printf '== %s ==\n' "$*" >&2; }

REFERENCE=1
BENCH_ARGS=()
for arg in "$@"; do
    case $arg in
        --no-oidc-provider) REFERENCE= ;;
        --no-oidc) REFERENCE= ; BENCH_ARGS+=("$arg") ;;
        *) BENCH_ARGS+=("$arg") ;;
    esac
done

log "building release binaries"
cargo build --release --quiet -p zauthy -p zauthy-bench
ZAUTHY_BIN=$CARGO_TARGET_DIR/release/zauthy
BENCH_BIN=$CARGO_TARGET_DIR/release/zauthy-bench

source scripts/pg-cluster.sh
if [[ ! -x $PG_BIN/psql ]]; then
    echo "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi

ADMIN_URL=
OP_PID=
OP_LOG=
DB_NAME=zauthy_bench_$(date +%s)_$$

cleanup() {
    local rc=$?
    set +e
    # On a server we were given, drop the database we made; a throwaway cluster just goes away.
    if [[ -n ${ZAUTHY_BENCH_PG_URL:-} && -n $ADMIN_URL ]]; then
        "$PG_BIN/psql" -q -X "$ADMIN_URL" -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    fi
    pg_cluster_stop
    if [[ -n $OP_PID ]]; then
        # The primary stops its workers on SIGTERM; any worker left over is stopped by its own pid.
        local workers
        workers=$(ps -o pid= --ppid "$OP_PID" 2>/dev/null)
        kill -TERM "$OP_PID" 2>/dev/null
        for pid in $workers; do kill -TERM "$pid" 2>/dev/null; done
    fi
    if [[ -n ${OP_LOG:-} ]]; then rm -f "$OP_LOG"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${ZAUTHY_BENCH_PG_URL:-} ]]; then
    ADMIN_URL=$ZAUTHY_BENCH_PG_URL
else
    log "starting a throwaway PostgreSQL cluster"
    pg_cluster_start "${ZAUTHY_BENCH_PG_PORT:-55532}" zauthy-bench-pg
    ADMIN_URL=$PG_URL
fi

"$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "create database $DB_NAME" >/dev/null
# The same server, credentials and options, with the fresh database as the path.
base=${ADMIN_URL%%\?*}
rest=${base#*://}
PG_URL="${base%%://*}://${rest%%/*}/$DB_NAME"
if [[ $ADMIN_URL == *\?* ]]; then PG_URL="$PG_URL?${ADMIN_URL#*\?}"; fi

REFERENCE_ARGS=()
if [[ -n $REFERENCE ]]; then
    OP_DIR=bench/oidc-provider
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "node and npm are needed for the oidc-provider comparison (apt-get install nodejs npm), or pass --no-oidc-provider" >&2
        exit 1
    fi
    # Installed and locked versions must agree, else a fresh `npm ci` from the registry.
    if ! (cd "$OP_DIR" && node -e '
        const lock = require("./package-lock.json").packages["node_modules/oidc-provider"].version;
        const got = require("./node_modules/oidc-provider/package.json").version;
        process.exit(lock === got ? 0 : 1);' 2>/dev/null); then
        log "installing oidc-provider (npm ci)"
        (cd "$OP_DIR" && npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
    OP_VERSION=$(cd "$OP_DIR" && node -p 'require("./node_modules/oidc-provider/package.json").version')
    OP_WORKERS=${ZAUTHY_BENCH_OIDC_PROVIDER_WORKERS:-$(nproc)}
    OP_PORT=
    for _ in $(seq 1 100); do
        port=$((20000 + RANDOM % 20000))
        (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
        OP_PORT=$port
        break
    done
    [[ -n $OP_PORT ]] || { echo "no free port for oidc-provider" >&2; exit 1; }
    OP_LOG=$(mktemp /tmp/zauthy-bench-oidc-provider.XXXXXX.log)
    BENCH_OIDC_PROVIDER_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    export BENCH_OIDC_PROVIDER_SECRET
    log "starting oidc-provider $OP_VERSION on 127.0.0.1:$OP_PORT ($OP_WORKERS workers)"
    NODE_ENV=production node "$OP_DIR/server.mjs" --port "$OP_PORT" --workers "$OP_WORKERS" >"$OP_LOG" 2>&1 &
    OP_PID=$!
    # server.mjs says so once every worker listens.
    for _ in $(seq 1 300); do
        grep -q "ready on 127.0.0.1:$OP_PORT " "$OP_LOG" && break
        if ! kill -0 "$OP_PID" 2>/dev/null; then
            echo "oidc-provider exited before it was ready:" >&2
            cat "$OP_LOG" >&2
            exit 1
        fi
        sleep 0.1
    done
    grep -q "ready on 127.0.0.1:$OP_PORT " "$OP_LOG" || { cat "$OP_LOG" >&2; echo "oidc-provider did not start" >&2; exit 1; }
    REFERENCE_ARGS=(--oidc-provider "127.0.0.1:$OP_PORT" --oidc-provider-pid "$OP_PID"
        --oidc-provider-label "oidc-provider $OP_VERSION (Node $(node --version), $OP_WORKERS workers, in-memory)")
fi

echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "rustc: $(rustc --version)"
echo "postgres: $("$PG_BIN/postgres" --version)"
if [[ -n $REFERENCE ]]; then echo "oidc-provider: $OP_VERSION, node $(node --version), $OP_WORKERS workers"; fi
"$BENCH_BIN" --zauthy "$ZAUTHY_BIN" --pg-url "$PG_URL" "${BENCH_ARGS[@]}" "${REFERENCE_ARGS[@]}"
