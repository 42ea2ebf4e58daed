#!/usr/bin/env bash
# Third-party clients against a live Roster (issue 12): the seed-004 flows driven by
#   kitsu                  a JavaScript JSON:API client library (scripts/clients/js/kitsu_flows.mjs)
#   openapi-fetch          a TypeScript client generated from /api/v1/schema/ by openapi-typescript,
#                          type-checked with `tsc --noEmit`, compiled and run (scripts/clients/js/src/)
#   openapi-python-client  a Python client generated from the same document (scripts/clients/python/)
#
#   bash scripts/clients/run_js.sh [STEP...]     (default: all three, in that order)
#
# Starts the server as a user does: a fresh SQLite database in a temp dir, `manage.py migrate`,
# `manage.py createsuperuser --noinput`, gunicorn with the production settings on a free
# loopback port. The clients sign in over the API as that site admin and make their own data.
# `npm ci` installs the pinned set from scripts/clients/js/package-lock.json with its cache in
# the temp dir (CLIENTS_NPM_CACHE to reuse one). Every step is bounded (CLIENTS_STEP_TIMEOUT
# seconds, default 300); the server is stopped whatever happens; exits non-zero on any failure.
# Environment: VENV (default .venv), CLIENTS_SERVER_LOG (copy the server's log there).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
ROOT=$(pwd)
VENV="${VENV:-.venv}"
PYTHON="$VENV/bin/python"
STEP_TIMEOUT="${CLIENTS_STEP_TIMEOUT:-300}"
JS_DIR="$ROOT/scripts/clients/js"
STEPS=("$@")
[ "${#STEPS[@]}" -eq 0 ] && STEPS=(kitsu openapi-fetch openapi-python-client)
for step in "${STEPS[@]}"; do
    case "$step" in
        kitsu|openapi-fetch|openapi-python-client) ;;
        *) echo "clients: unknown step $step" >&2; exit 2 ;;
    esac
done

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    local status=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${CLIENTS_SERVER_LOG:-}" ] && [ -f "$WORK/gunicorn.log" ]; then
        cp "$WORK/gunicorn.log" "$CLIENTS_SERVER_LOG"
    fi
    if [ "$status" -ne 0 ] && [ -f "$WORK/gunicorn.log" ]; then
        echo "--- last lines of the server log ---" >&2
        tail -n 60 "$WORK/gunicorn.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

bounded() { timeout --kill-after=10 "$STEP_TIMEOUT" "$@"; }

needs_node=false
for step in "${STEPS[@]}"; do
    if [ "$step" != openapi-python-client ]; then needs_node=true; fi
done
if $needs_node; then
    echo "--- npm ci (scripts/clients/js) ---"
    (cd "$JS_DIR" && bounded npm ci --no-audit --no-fund --prefer-offline \
        --cache "${CLIENTS_NPM_CACHE:-$WORK/npm-cache}" --loglevel=error)
fi

# Production settings, chosen as a user chooses them (DJANGO_DEBUG=false), minus TLS (no proxy here).
unset DJANGO_SETTINGS_MODULE
export DJANGO_DEBUG=false
export DJANGO_SECRET_KEY="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(64))')"
export DJANGO_ASSET_KEYS="$("$PYTHON" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export DJANGO_ALLOWED_HOSTS=127.0.0.1
export DJANGO_SECURE_SSL_REDIRECT=false
export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
export DJANGO_SUPERUSER_EMAIL=clients-admin@roster.example
export DJANGO_SUPERUSER_USERNAME=clients-admin
export DJANGO_SUPERUSER_PASSWORD="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(24))')"

"$PYTHON" manage.py migrate --noinput -v0
"$PYTHON" manage.py createsuperuser --noinput >/dev/null

PORT=$("$PYTHON" scripts/fuzz_setup.py free-port)
BASE="http://127.0.0.1:$PORT"
"$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
    >"$WORK/gunicorn.log" 2>&1 &
SERVER_PID=$!
"$PYTHON" scripts/fuzz_setup.py wait "$BASE" 30

# What the clients are given: the API root and the site admin's credentials.
export ROSTER_BASE="$BASE" ROSTER_EMAIL="$DJANGO_SUPERUSER_EMAIL" ROSTER_PASSWORD="$DJANGO_SUPERUSER_PASSWORD"

run_kitsu() {
    bounded node "$JS_DIR/kitsu_flows.mjs"
}

run_openapi_fetch() {
    "$PYTHON" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
        "$BASE/api/v1/schema/?format=json" "$WORK/openapi.json"
    # Types from the live document, a type check of the program against them, then the
    # program compiled (without a second check) and run.
    rm -rf "$JS_DIR/generated"
    mkdir -p "$JS_DIR/generated"
    (cd "$JS_DIR" \
        && bounded node_modules/.bin/openapi-typescript "$WORK/openapi.json" -o generated/roster.d.ts --silent \
        && bounded node_modules/.bin/tsc --noEmit -p . \
        && bounded node_modules/.bin/tsc --noCheck -p .)
    bounded node "$JS_DIR/generated/build/src/openapi_fetch_flows.js"
}

run_openapi_python_client() {
    local generator
    generator="$(cd "$VENV/bin" && pwd)/openapi-python-client"
    if [ ! -x "$generator" ]; then
        echo "openapi-python-client is not installed in $VENV (requirements-dev.txt; make setup-dev)" >&2
        return 1
    fi
    "$PYTHON" -c 'import sys, urllib.request; open(sys.argv[2], "wb").write(urllib.request.urlopen(sys.argv[1]).read())' \
        "$BASE/api/v1/schema/?format=json" "$WORK/openapi.json"
    mkdir -p "$WORK/python"
    (cd "$WORK/python" && bounded "$generator" generate --path "$WORK/openapi.json" --meta none \
        --config "$ROOT/scripts/clients/python/openapi-python-client.yaml" --output-path roster_client \
        >"$WORK/python/generate.log" 2>&1) || { cat "$WORK/python/generate.log" >&2; return 1; }
    bounded "$PYTHON" scripts/clients/python/flows.py "$WORK/python" "$BASE"
}

FAILED=()
for step in "${STEPS[@]}"; do
    echo "--- $step against $BASE ---"
    if ! "run_${step//-/_}"; then
        FAILED+=("$step")
    fi
done

if [ "${#FAILED[@]}" -ne 0 ]; then
    printf 'clients: failures in: %s\n' "${FAILED[@]}" >&2
    exit 1
fi
echo "clients: ${STEPS[*]}: all flows passed"
