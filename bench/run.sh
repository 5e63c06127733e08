#!/usr/bin/env bash
# The benchmark command: builds zauthy and the bench in release mode, then runs the bench against SQLite and
# PostgreSQL, each with a fresh database. Prints the machine, a table per database and a summary.
#
# PostgreSQL: uses $ZAUTHY_BENCH_PG_URL (a server URL; a fresh database is created on it and dropped after)
# when set, otherwise starts a throwaway cluster the way scripts/test.sh does, torn down on every exit path.
#
# The OpenID provider scenarios are measured next to oidc-provider (npm), the reference implementation, in two
# configurations: with its in-memory adapter (each node:cluster worker its own memory, the lowest bound), and
# configured like zauthy, persisting to the same kind of database shared by all its workers: a SQLite file in a
# temp dir for the SQLite section, a fresh database on the same PostgreSQL server as zauthy's for the PostgreSQL
# one (bench/oidc-provider/server.mjs --store). Its node_modules are installed from the lock file with `npm ci`
# when missing or stale (better-sqlite3 is built from source against /usr/include/node). Each instance runs on
# a free loopback port; all are torn down, their files removed and their database dropped on every exit path.
# `--no-oidc-provider` skips them (zauthy's OIDC figures are still measured); `--no-oidc` skips the OIDC
# scenarios altogether; `--oidc-only` (passed to the bench) runs only the OIDC scenarios.
#
# Environment: ZAUTHY_BENCH_PG_PORT (first port tried for the throwaway cluster, default 55532),
# ZAUTHY_BENCH_OIDC_PROVIDER_WORKERS (node:cluster workers per instance, default: the number of cores),
# ZAUTHY_BENCH_ZAUTHY_BIN (the zauthy binary to measure, default: the one just built),
# ZAUTHY_BENCH_ID_TOKEN_ALG (RS256, the default and the issue's configuration, or ES256: the ID tokens on both sides).
#
# Usage: bench/run.sh [--no-oidc-provider] [--oidc-only] [BENCH ARGS...]   e.g. bench/run.sh --seconds 10
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zauthy-target}

log() { printf '== %s ==\n' "$*" >&2; }

REFERENCE=1
SQLITE=1
BENCH_ARGS=()
for arg in "$@"; do
    case $arg in
        --no-oidc-provider) REFERENCE= ;;
        --no-oidc) REFERENCE= ; BENCH_ARGS+=("$arg") ;;
        --no-sqlite) SQLITE= ; BENCH_ARGS+=("$arg") ;;
        --webhooks-only) REFERENCE= ; BENCH_ARGS+=("$arg") ;;
        *) BENCH_ARGS+=("$arg") ;;
    esac
done

log "building release binaries"
cargo build --release --quiet -p zauthy -p zauthy-bench
# ZAUTHY_BENCH_ZAUTHY_BIN: another zauthy binary to measure (e.g. an earlier commit's, for an A/B comparison).
# Build that commit with its own CARGO_TARGET_DIR, or it replaces this checkout's binary (docs/benchmarks.md).
ZAUTHY_BIN=${ZAUTHY_BENCH_ZAUTHY_BIN:-$CARGO_TARGET_DIR/release/zauthy}
BENCH_BIN=$CARGO_TARGET_DIR/release/zauthy-bench

source scripts/pg-cluster.sh
if [[ ! -x $PG_BIN/psql ]]; then
    echo "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi

ADMIN_URL=
DB_NAME=zauthy_bench_$(date +%s)_$$
OP_DB_NAME=oidc_provider_bench_$(date +%s)_$$
OP_DB_CREATED=
# The oidc-provider instances' primaries, and the temp dir of their logs and SQLite file.
OP_PIDS=()
OP_TMP=
BENCH_PID=

stop_references() {
    local pid workers=()
    for pid in "${OP_PIDS[@]}"; do
        # The primary stops its workers on SIGTERM; any worker left over is stopped by its own pid.
        # shellcheck disable=SC2207
        workers+=($(ps -o pid= --ppid "$pid" 2>/dev/null))
        kill -TERM "$pid" 2>/dev/null
    done
    for pid in "${workers[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    # Gone before their database is dropped (their connections with them).
    for _ in $(seq 1 50); do
        local alive=
        for pid in "${OP_PIDS[@]}" "${workers[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [[ -z $alive ]] && break
        sleep 0.1
    done
    OP_PIDS=()
}

cleanup() {
    local rc=$?
    set +e
    if [[ -n $BENCH_PID ]] && kill -0 "$BENCH_PID" 2>/dev/null; then
        kill -TERM "$BENCH_PID" 2>/dev/null
        wait "$BENCH_PID" 2>/dev/null
    fi
    stop_references
    # On a server we were given, drop the databases we made; a throwaway cluster just goes away.
    if [[ -n ${ZAUTHY_BENCH_PG_URL:-} && -n $ADMIN_URL ]]; then
        "$PG_BIN/psql" -q -X "$ADMIN_URL" -c "drop database if exists $DB_NAME" >/dev/null 2>&1
        if [[ -n $OP_DB_CREATED ]]; then
            "$PG_BIN/psql" -q -X "$ADMIN_URL" -c "drop database if exists $OP_DB_NAME" >/dev/null 2>&1
        fi
    fi
    pg_cluster_stop
    if [[ -n $OP_TMP ]]; then rm -rf "$OP_TMP"; fi
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

# The same server, credentials and options as ADMIN_URL, with database $1 as the path.
database_url() {
    local base=${ADMIN_URL%%\?*}
    local rest=${base#*://}
    local url="${base%%://*}://${rest%%/*}/$1"
    if [[ $ADMIN_URL == *\?* ]]; then url="$url?${ADMIN_URL#*\?}"; fi
    printf '%s' "$url"
}

"$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "create database $DB_NAME" >/dev/null
PG_URL=$(database_url "$DB_NAME")

REFERENCE_ARGS=()
if [[ -n $REFERENCE ]]; then
    OP_DIR=bench/oidc-provider
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        echo "node and npm are needed for the oidc-provider comparison (apt-get install nodejs npm), or pass --no-oidc-provider" >&2
        exit 1
    fi
    # Installed and locked versions of every dependency must agree, and better-sqlite3's native module must
    # have been built and load in this Node, else a fresh `npm ci` from the registry. better-sqlite3's install
    # would download a prebuilt binary from GitHub, which this machine cannot reach: it builds from source
    # against Node's headers instead.
    if ! (cd "$OP_DIR" && node -e '
        const lock = require("./package-lock.json").packages;
        for (const name of Object.keys(require("./package.json").dependencies)) {
            if (lock[`node_modules/${name}`].version !== require(`./node_modules/${name}/package.json`).version) {
                process.exit(1);
            }
        }
        require("fs").accessSync("node_modules/better-sqlite3/build/Release/better_sqlite3.node");
        new (require("better-sqlite3"))(":memory:").close();' 2>/dev/null); then
        log "installing oidc-provider, better-sqlite3 (built from source, ~1 min) and pg (npm ci)"
        (cd "$OP_DIR" && npm_config_build_from_source=true npm_config_nodedir=/usr \
            npm ci --no-audit --no-fund --loglevel=error) >&2
    fi
    OP_VERSION=$(cd "$OP_DIR" && node -p 'require("./node_modules/oidc-provider/package.json").version')
    OP_WORKERS=${ZAUTHY_BENCH_OIDC_PROVIDER_WORKERS:-$(nproc)}
    OP_TMP=$(mktemp -d /tmp/zauthy-bench-oidc-provider.XXXXXX)
    BENCH_OIDC_PROVIDER_SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
    export BENCH_OIDC_PROVIDER_SECRET
    OP_PORTS=()

    # start_reference NAME STORE LABEL BENCH_FLAG: one server.mjs on a free port, waited for, and its bench args.
    start_reference() {
        local name=$1 store=$2 label=$3 flag=$4 port= candidate pid log
        for _ in $(seq 1 100); do
            candidate=$((20000 + RANDOM % 20000))
            (: <"/dev/tcp/127.0.0.1/$candidate") 2>/dev/null && continue
            [[ " ${OP_PORTS[*]} " == *" $candidate "* ]] && continue
            port=$candidate
            break
        done
        [[ -n $port ]] || { echo "no free port for oidc-provider ($name)" >&2; exit 1; }
        OP_PORTS+=("$port")
        log="$OP_TMP/$name.log"
        log "starting oidc-provider $OP_VERSION ($name) on 127.0.0.1:$port ($OP_WORKERS workers)"
        NODE_ENV=production node "$OP_DIR/server.mjs" --port "$port" --workers "$OP_WORKERS" --store "$store" \
            --id-token-alg "${ZAUTHY_BENCH_ID_TOKEN_ALG:-RS256}" >"$log" 2>&1 &
        pid=$!
        OP_PIDS+=("$pid")
        # server.mjs says so once every worker listens.
        for _ in $(seq 1 300); do
            grep -q "ready on 127.0.0.1:$port " "$log" && break
            if ! kill -0 "$pid" 2>/dev/null; then
                echo "oidc-provider ($name) exited before it was ready:" >&2
                cat "$log" >&2
                exit 1
            fi
            sleep 0.1
        done
        if ! grep -q "ready on 127.0.0.1:$port " "$log"; then
            cat "$log" >&2
            echo "oidc-provider ($name) did not start" >&2
            exit 1
        fi
        REFERENCE_ARGS+=("$flag" "127.0.0.1:$port" "$flag-pid" "$pid"
            "$flag-label" "oidc-provider $OP_VERSION (Node $(node --version), $OP_WORKERS workers, $label)")
    }

    start_reference memory memory "in-memory" --oidc-provider
    if [[ -n $SQLITE ]]; then
        start_reference sqlite "sqlite:$OP_TMP/oidc-provider.sqlite" \
            "SQLite file shared by its workers, WAL, synchronous=NORMAL" --oidc-provider-sqlite
    fi
    "$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "create database $OP_DB_NAME" >/dev/null
    OP_DB_CREATED=1
    OP_PG_CONNECTIONS=$(( (16 + OP_WORKERS - 1) / OP_WORKERS ))
    start_reference postgres "postgres:$(database_url "$OP_DB_NAME")" \
        "PostgreSQL, zauthy's server, $OP_PG_CONNECTIONS connections per worker" --oidc-provider-postgres
fi

echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null ||
    echo ' + uncommitted changes')"
echo "rustc: $(rustc --version)"
echo "postgres: $("$PG_BIN/postgres" --version)"
if [[ -n $REFERENCE ]]; then
    stores="in-memory, ${SQLITE:+SQLite, }PostgreSQL"
    echo "oidc-provider: $OP_VERSION, node $(node --version), $OP_WORKERS workers per instance ($stores)"
fi
# In the background and waited for, so that a SIGINT or SIGTERM to this script runs the cleanup at once (bash
# runs traps only between commands); the cleanup stops the bench first (it stops its own zauthy servers).
"$BENCH_BIN" --zauthy "$ZAUTHY_BIN" --pg-url "$PG_URL" "${BENCH_ARGS[@]}" "${REFERENCE_ARGS[@]}" &
BENCH_PID=$!
wait "$BENCH_PID"
