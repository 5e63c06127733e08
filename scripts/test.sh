#!/usr/bin/env bash
# The one test command for zauthy, used by CI (.ci/run) and by developers alike:
# installs what the tests need, checks formatting and lints, then runs the whole
# test suite twice, once on SQLite and once on a throwaway PostgreSQL cluster.
#
# Usage: scripts/test.sh [NEXTEST ARGS...]   e.g. scripts/test.sh smtp
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/zauthy-target}
export DEBIAN_FRONTEND=noninteractive

log() { printf '\n== %s ==\n' "$*"; }

# ---------------------------------------------------------------------------
# System packages. A fresh CI machine has none of what we install by hand, so
# everything the tests need must be listed here. Add entries as needed.
APT_PACKAGES=(
    postgresql
)

# A package counts as present when its job is already done, even if Debian's
# bookkeeping says otherwise: a machine may ship the PostgreSQL server binaries
# without the `postgresql` meta-package.
apt_package_present() {
    case "$1" in
        postgresql)
            compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null
            return
            ;;
    esac
    dpkg -s "$1" 2>/dev/null | grep -q '^Status: install ok installed'
}

as_root() {
    if [[ $EUID -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    apt_package_present "$pkg" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    log "installing apt packages: ${missing[*]}"
    as_root apt-get update -qq
    as_root apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# ---------------------------------------------------------------------------
# Throwaway PostgreSQL cluster, torn down on every exit path.
PG_BIN=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1)")

# initdb refuses to run as root; as a normal user the cluster is simply ours.
as_pg() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
    useradd --system --no-create-home --shell /usr/sbin/nologin postgres
fi

# Under /tmp rather than $TMPDIR: the postgres user must be able to reach it,
# and the unix socket path must stay short (sun_path is ~107 bytes).
PG_TMP=$(mktemp -d /tmp/zauthy-pg.XXXXXX)
PG_DATA=$PG_TMP/data
PG_SOCK=$PG_TMP/sock
PG_LOG=$PG_TMP/postgres.log

cleanup() {
    local rc=$?
    set +e
    if [[ -f $PG_DATA/postmaster.pid ]]; then
        local pid
        pid=$(head -n1 "$PG_DATA/postmaster.pid")
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        # A postmaster that ignored the stop would keep the port and the dir busy.
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    rm -rf "$PG_TMP"
    exit "$rc"
}
trap cleanup EXIT
# Without these, Ctrl-C or a CI timeout would kill bash without running the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -p "$PG_SOCK"
if [[ $EUID -eq 0 ]]; then chown -R postgres: "$PG_TMP"; fi

as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 || {
    cat "$PG_TMP/initdb.log" >&2
    exit 1
}

port_in_use() { (: <"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Another process may grab a port between our probe and postgres binding it,
# so a failed start just moves on to the next port.
PG_PORT=
for port in $(seq 55432 55531); do
    port_in_use "$port" && continue
    if as_pg "$PG_BIN/pg_ctl" start -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o \
        "-c port=$port -c listen_addresses=127.0.0.1 -c unix_socket_directories=$PG_SOCK -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=400" \
        >/dev/null; then
        PG_PORT=$port
        break
    fi
done
if [[ -z $PG_PORT ]]; then
    echo "could not start PostgreSQL; its log follows" >&2
    cat "$PG_LOG" >&2 || true
    exit 1
fi
for _ in $(seq 1 60); do
    "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && break
    sleep 0.5
done
"$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -U postgres
PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"

# ---------------------------------------------------------------------------
# Every step runs even after an earlier one failed, so one CI run reports all
# the breakage at once; the exit status still reflects any failure.
failures=()
step() {
    local name=$1
    shift
    if ! "$@"; then
        failures+=("$name")
    fi
}

log "cargo fmt"
step "cargo fmt" cargo fmt --all -- --check

log "cargo clippy"
step "cargo clippy" cargo clippy --workspace --all-targets -- -D warnings

log "tests on SQLite"
step "tests on SQLite" env -u ZAUTHY_TEST_PG_URL ZAUTHY_TEST_DB=sqlite \
    cargo nextest run --workspace --no-fail-fast "$@"

log "tests on PostgreSQL"
step "tests on PostgreSQL" env ZAUTHY_TEST_DB=postgres ZAUTHY_TEST_PG_URL="$PG_URL" \
    cargo nextest run --workspace --no-fail-fast "$@"

if ((${#failures[@]})); then
    printf '\nFAILED:' >&2
    printf ' [%s]' "${failures[@]}" >&2
    printf '\n' >&2
    exit 1
fi
printf '\nall checks passed\n'
