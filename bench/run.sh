#!/usr/bin/env bash
# The benchmark command: builds zauthy and the bench in release mode, then runs the bench against SQLite and
# PostgreSQL, each with a fresh database. Prints the machine, a table per database and a summary.
#
# PostgreSQL: uses $ZAUTHY_BENCH_PG_URL (a server URL; a fresh database is created on it and dropped after)
# when set, otherwise starts a throwaway cluster the way scripts/test.sh does, torn down on every exit path.
#
# Usage: bench/run.sh [BENCH ARGS...]   e.g. bench/run.sh --seconds 10
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zauthy-target}

log() { printf '== %s ==\n' "$*" >&2; }

log "building release binaries"
cargo build --release --quiet -p zauthy -p zauthy-bench
ZAUTHY_BIN=$CARGO_TARGET_DIR/release/zauthy
BENCH_BIN=$CARGO_TARGET_DIR/release/zauthy-bench

PG_BIN=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1)")
if [[ ! -x $PG_BIN/psql ]]; then
    echo "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi

as_pg() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

PG_TMP=
PG_DATA=
ADMIN_URL=
DB_NAME=zauthy_bench_$(date +%s)_$$

cleanup() {
    local rc=$?
    set +e
    # On a server we were given, drop the database we made; a throwaway cluster just goes away.
    if [[ -n ${ZAUTHY_BENCH_PG_URL:-} && -n $ADMIN_URL ]]; then
        "$PG_BIN/psql" -q -X "$ADMIN_URL" -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    fi
    if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
        local pid
        pid=$(head -n1 "$PG_DATA/postmaster.pid")
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [[ -n $PG_TMP ]]; then rm -rf "$PG_TMP"; fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${ZAUTHY_BENCH_PG_URL:-} ]]; then
    ADMIN_URL=$ZAUTHY_BENCH_PG_URL
else
    log "starting a throwaway PostgreSQL cluster"
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    # Under /tmp: the postgres user must reach it and the socket path must stay short.
    PG_TMP=$(mktemp -d /tmp/zauthy-bench-pg.XXXXXX)
    PG_DATA=$PG_TMP/data
    mkdir -p "$PG_TMP/sock"
    if [[ $EUID -eq 0 ]]; then chown -R postgres: "$PG_TMP"; fi
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 || {
        cat "$PG_TMP/initdb.log" >&2
        exit 1
    }
    port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
    PG_PORT=
    # The same settings as the test cluster (durability off: this measures zauthy, not the disk).
    for port in $(seq 55532 55631); do
        port_in_use "$port" && continue
        if as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_TMP/postgres.log" -w -t 60 -o \
            "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_TMP/sock -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
            >/dev/null; then
            PG_PORT=$port
            break
        fi
    done
    if [[ -z $PG_PORT ]]; then
        echo "could not start PostgreSQL; its log follows" >&2
        cat "$PG_TMP/postgres.log" >&2 || true
        exit 1
    fi
    for _ in $(seq 1 60); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && break
        sleep 0.5
    done
    ADMIN_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
fi

"$PG_BIN/psql" -q -X -v ON_ERROR_STOP=1 "$ADMIN_URL" -c "create database $DB_NAME" >/dev/null
# The same server, credentials and options, with the fresh database as the path.
base=${ADMIN_URL%%\?*}
rest=${base#*://}
PG_URL="${base%%://*}://${rest%%/*}/$DB_NAME"
if [[ $ADMIN_URL == *\?* ]]; then PG_URL="$PG_URL?${ADMIN_URL#*\?}"; fi

echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' + uncommitted changes')"
echo "rustc: $(rustc --version)"
echo "postgres: $("$PG_BIN/postgres" --version)"
"$BENCH_BIN" --zauthy "$ZAUTHY_BIN" --pg-url "$PG_URL" "$@"
