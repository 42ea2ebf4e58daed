#!/usr/bin/env bash
# Run the pytest suite (or any command) against a throwaway PostgreSQL cluster.
#
#   bash scripts/test_postgres.sh [pytest args...]
#   bash scripts/test_postgres.sh -- COMMAND [args...]    (e.g. `make bench-postgres`)
#
# Installs the Debian `postgresql` package if no server binaries are found,
# creates a fresh cluster in a temp dir on a free 127.0.0.1 port (durability
# switched off for speed), points DATABASE_URL at it, runs pytest and exits
# with pytest's exit code. The cluster and its directory are removed on exit,
# whatever happens.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV_PYTHON="${VENV:-.venv}/bin/python"
DB_NAME=roster

if [ "$(id -u)" -eq 0 ]; then IS_ROOT=1; else IS_ROOT=; fi

as_root() {
    if [ -n "$IS_ROOT" ]; then "$@"; else sudo "$@"; fi
}

# Newest installed server version's bin directory, or nothing.
find_pg_bindir() {
    local initdb
    initdb=$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)
    if [ -x "$initdb" ]; then dirname "$initdb"; fi
}

PG_BIN=$(find_pg_bindir)
if [ -z "$PG_BIN" ]; then
    echo "test_postgres: PostgreSQL server not found; installing the 'postgresql' package..." >&2
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
    PG_BIN=$(find_pg_bindir)
    if [ -z "$PG_BIN" ]; then
        echo "test_postgres: no /usr/lib/postgresql/*/bin/initdb even after installing" >&2
        exit 1
    fi
fi

# initdb refuses to run as root, so root runs the server as the `postgres`
# OS user (the Debian package creates it); anyone else runs it as themselves.
if [ -n "$IS_ROOT" ] && ! id postgres >/dev/null 2>&1; then
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin postgres
fi

# Short path under /tmp for root: the unix socket path has a ~107 byte limit
# and the postgres user must be able to reach the directory.
if [ -n "$IS_ROOT" ]; then
    PG_TMP=$(mktemp -d /tmp/roster-pg.XXXXXX)
    chown postgres: "$PG_TMP"
else
    PG_TMP=$(mktemp -d "${TMPDIR:-/tmp}/roster-pg.XXXXXX")
fi
PG_DATA="$PG_TMP/data"
PG_LOG="$PG_TMP/postgres.log"

# Server commands run from inside the temp dir, so the postgres user never
# needs access to the caller's working directory.
as_pg() {
    if [ -n "$IS_ROOT" ]; then
        (cd "$PG_TMP" && runuser -u postgres -- "$@")
    else
        (cd "$PG_TMP" && "$@")
    fi
}

cleanup() {
    local status=$?
    if [ -f "$PG_DATA/postmaster.pid" ]; then
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" stop -m immediate >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
    exit "$status"
}
trap cleanup EXIT
# Make Ctrl-C and kill go through the EXIT trap too.
trap 'exit 130' INT
trap 'exit 143' TERM

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')

as_pg "$PG_BIN/initdb" -D "$PG_DATA" -A trust -U postgres --encoding=UTF8 \
    --no-locale --no-sync >/dev/null

PG_OPTS="-p $PORT -c listen_addresses=127.0.0.1 -k '$PG_TMP' -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
if ! as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 -o "$PG_OPTS" start >/dev/null; then
    echo "test_postgres: PostgreSQL failed to start; server log follows" >&2
    cat "$PG_LOG" >&2 || true
    exit 1
fi

for _ in $(seq 1 60); do
    if "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then break; fi
    sleep 0.5
done
if ! "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
    echo "test_postgres: PostgreSQL is not accepting connections; server log follows" >&2
    cat "$PG_LOG" >&2 || true
    exit 1
fi

"$PG_BIN/createdb" -h 127.0.0.1 -p "$PORT" -U postgres "$DB_NAME"
export DATABASE_URL="postgres://postgres@127.0.0.1:$PORT/$DB_NAME"
# What a command run here needs to stop and start this cluster itself (scripts/reliability.py):
# `[runuser -u $ROSTER_PG_USER --] $ROSTER_PG_BIN/pg_ctl -D $ROSTER_PG_DATA ...`, from $ROSTER_PG_TMP.
export ROSTER_PG_BIN="$PG_BIN" ROSTER_PG_DATA="$PG_DATA" ROSTER_PG_TMP="$PG_TMP" ROSTER_PG_LOG="$PG_LOG"
export ROSTER_PG_OPTS="$PG_OPTS" ROSTER_PG_USER="${IS_ROOT:+postgres}"
echo "test_postgres: $("$PG_BIN/postgres" --version | sed 's/^postgres (PostgreSQL)/PostgreSQL/') on 127.0.0.1:$PORT"

status=0
if [ "${1:-}" = "--" ]; then
    shift
    "$@" || status=$?
else
    "$VENV_PYTHON" -m pytest "$@" || status=$?
fi
exit "$status"
