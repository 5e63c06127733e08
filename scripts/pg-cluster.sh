# A throwaway PostgreSQL cluster from the machine's PostgreSQL binaries, for the test and bench scripts.
# Source this file, then call `pg_cluster_start FIRST_PORT TMP_PREFIX` (sets PG_URL, the admin URL) and, from
# the caller's EXIT trap, `pg_cluster_stop`.

PG_BIN=$(dirname "$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1)")
PG_TMP=
PG_DATA=
PG_PORT=
PG_URL=

# initdb refuses to run as root; as a normal user the cluster is simply ours.
as_pg() {
    if [[ $EUID -eq 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

pg_cluster_start() {
    local first_port=$1 prefix=$2
    if [[ $EUID -eq 0 ]] && ! id -u postgres >/dev/null 2>&1; then
        useradd --system --no-create-home --shell /usr/sbin/nologin postgres
    fi
    # Under /tmp rather than $TMPDIR: the postgres user must be able to reach it,
    # and the unix socket path must stay short (sun_path is ~107 bytes).
    PG_TMP=$(mktemp -d "/tmp/$prefix.XXXXXX")
    PG_DATA=$PG_TMP/data
    mkdir -p "$PG_TMP/sock"
    if [[ $EUID -eq 0 ]]; then chown -R postgres: "$PG_TMP"; fi
    as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres -E UTF8 --no-locale >"$PG_TMP/initdb.log" 2>&1 || {
        cat "$PG_TMP/initdb.log" >&2
        return 1
    }
    # Another process may grab a port between our probe and postgres binding it,
    # so a failed start just moves on to the next port. Durability is off: these clusters hold nothing of value.
    local port
    for port in $(seq "$first_port" $((first_port + 99))); do
        (: <"/dev/tcp/127.0.0.1/$port") 2>/dev/null && continue
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
        return 1
    fi
    for _ in $(seq 1 60); do
        "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres && break
        sleep 0.5
    done
    "$PG_BIN/pg_isready" -h 127.0.0.1 -p "$PG_PORT" -U postgres
    PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}

pg_cluster_stop() {
    if [[ -n $PG_DATA && -f $PG_DATA/postmaster.pid ]]; then
        local pid
        pid=$(head -n1 "$PG_DATA/postmaster.pid")
        as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DATA" -m immediate -w -t 30 >/dev/null 2>&1
        # A postmaster that ignored the stop would keep the port and the dir busy.
        if [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null; then
            kill -KILL "$pid" 2>/dev/null
        fi
    fi
    if [[ -n $PG_TMP ]]; then rm -rf "$PG_TMP"; fi
}
