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
    chromium
    nodejs
    npm
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
        chromium)
            [[ -x /usr/bin/chromium ]]
            return
            ;;
        nodejs | npm)
            # Node may come from elsewhere (e.g. NodeSource's nodejs, which bundles npm).
            command -v "${1/nodejs/node}" >/dev/null
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

# The npm dependencies of the tests that run independent JavaScript peers: the browser test's playwright-core
# (driving the system Chromium; it downloads no browser) and openid-client, a certified OpenID Connect client
# (the DPoP test).
for NODE_TESTS in crates/zauthy-testkit/tests/browser crates/zauthy-testkit/tests/oauth-client; do
    # npm ci rewrites node_modules/.package-lock.json, so a copy newer than the lock file means up to date.
    if [[ ! $NODE_TESTS/node_modules/.package-lock.json -nt $NODE_TESTS/package-lock.json ]]; then
        log "npm ci in $NODE_TESTS"
        (cd "$NODE_TESTS" && npm ci --no-audit --no-fund)
    fi
done

cargo fmt --version >/dev/null 2>&1 || rustup component add rustfmt
cargo clippy --version >/dev/null 2>&1 || rustup component add clippy

# ---------------------------------------------------------------------------
# Throwaway PostgreSQL cluster, torn down on every exit path.
source scripts/pg-cluster.sh

cleanup() {
    local rc=$?
    set +e
    pg_cluster_stop
    exit "$rc"
}
trap cleanup EXIT
# Without these, Ctrl-C or a CI timeout would kill bash without running the EXIT trap.
trap 'exit 130' INT
trap 'exit 143' TERM

pg_cluster_start 55432 zauthy-pg

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
