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

source scripts/pg-cluster.sh
if [[ ! -x $PG_BIN/psql ]]; then
    echo "PostgreSQL binaries not found under /usr/lib/postgresql (apt-get install postgresql)" >&2
    exit 1
fi

ADMIN_URL=
DB_NAME=zauthy_bench_$(date +%s)_$$

cleanup() {
    local rc=$?
    set +e
    # On a server we were given, drop the database we made; a throwaway cluster just goes away.
    if [[ -n ${ZAUTHY_BENCH_PG_URL:-} && -n $ADMIN_URL ]]; then
        "$PG_BIN/psql" -q -X "$ADMIN_URL" -c "drop database if exists $DB_NAME" >/dev/null 2>&1
    fi
    pg_cluster_stop
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -n ${ZAUTHY_BENCH_PG_URL:-} ]]; then
    ADMIN_URL=$ZAUTHY_BENCH_PG_URL
else
    log "starting a throwaway PostgreSQL cluster"
    pg_cluster_start 55532 zauthy-bench-pg
    ADMIN_URL=$PG_URL
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
