#!/usr/bin/env bash
# Fuzz the running API with schemathesis, driven by the server's own OpenAPI document.
#
#   bash scripts/fuzz.sh [MAX_EXAMPLES]
#
# Starts Roster the way a user does: a fresh SQLite database in a temp dir,
# `manage.py migrate`, `manage.py seed_demo`, and gunicorn with the production
# settings on a free loopback port. Signs in over the API as the demo's site admin
# and as an ordinary demo user, then runs `schemathesis run` against
# /api/v1/schema/?format=json for each of them, checking for server errors and for
# status codes, content types and bodies the document does not describe.
#
# The run is split so that what a phase destroys cannot starve the phases after it
# (every phase uses a token of its own, taken before any fuzzing starts):
#   1. read-and-write: every operation except DELETE (and the site admin's
#      PATCH /users/{id}/, which can deactivate the very users the tokens belong to);
#   2. destructive: DELETE operations and PATCH /users/{id}/, except the ones that
#      end the caller's own session or account;
#   3. self-destructive, last: DELETE /sessions/{id}/ (a random id can be the
#      caller's own session), DELETE /sessions/current/, DELETE /users/me/.
# Once a token dies, the rest of its phase gets 401s, which the document describes.
#
# Environment: FUZZ_MAX_EXAMPLES (default 20; the argument wins), FUZZ_SEED (random
# by default, printed so a failure can be replayed), FUZZ_WORKERS (default 1),
# FUZZ_PHASES (schemathesis phases, default examples,coverage,fuzzing; the document has
# no OpenAPI links for a stateful phase), FUZZ_SERVER_LOG (copy the server's log there),
# VENV (default .venv).
# Exits non-zero when any phase finds a failure; gunicorn is stopped whatever happens.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
VENV="${VENV:-.venv}"
PYTHON="$VENV/bin/python"
SCHEMATHESIS="$(cd "$(dirname "$VENV/bin/schemathesis")" && pwd)/schemathesis"
MAX_EXAMPLES="${1:-${FUZZ_MAX_EXAMPLES:-20}}"
SEED="${FUZZ_SEED:-$("$PYTHON" -c 'import secrets; print(secrets.randbelow(2**31))')}"
# One client thread: Python 3.11's `ast` keeps its recursion counter per interpreter, and
# Hypothesis parsing lambdas in two threads at once trips "AST constructor recursion depth
# mismatch" now and then (the server still has two gunicorn workers).
WORKERS="${FUZZ_WORKERS:-1}"
PHASES="${FUZZ_PHASES:-examples,coverage,fuzzing}"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    local status=$?
    if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [ -n "${FUZZ_SERVER_LOG:-}" ] && [ -f "$WORK/gunicorn.log" ]; then
        cp "$WORK/gunicorn.log" "$FUZZ_SERVER_LOG"
    fi
    if [ "$status" -ne 0 ] && [ -f "$WORK/gunicorn.log" ]; then
        echo "--- last lines of the server log ($WORK/gunicorn.log) ---" >&2
        tail -n 80 "$WORK/gunicorn.log" >&2 || true
    fi
    rm -rf "$WORK"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Production settings, chosen as a user chooses them (DJANGO_DEBUG=false), minus TLS (no proxy here).
unset DJANGO_SETTINGS_MODULE
export DJANGO_DEBUG=false
export DJANGO_SECRET_KEY="$("$PYTHON" -c 'import secrets; print(secrets.token_urlsafe(64))')"
export DJANGO_ASSET_KEYS="$("$PYTHON" -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())')"
export DJANGO_ALLOWED_HOSTS=127.0.0.1
export DJANGO_SECURE_SSL_REDIRECT=false
export DATABASE_URL="sqlite:///$WORK/db.sqlite3"
export ROSTER_DEMO_PASSWORD="${ROSTER_DEMO_PASSWORD:-roster-demo-2026}"

"$PYTHON" manage.py migrate --noinput -v0
"$PYTHON" manage.py seed_demo >"$WORK/seed.log"

PORT=$("$PYTHON" scripts/fuzz_setup.py free-port)
BASE="http://127.0.0.1:$PORT"
"$VENV/bin/gunicorn" --bind "127.0.0.1:$PORT" --workers 2 --timeout 60 \
    >"$WORK/gunicorn.log" 2>&1 &
SERVER_PID=$!
"$PYTHON" scripts/fuzz_setup.py wait "$BASE" 30

ADMIN_EMAIL=admin@roster.example
USER_EMAIL=amira.haddad@example.com  # an account admin, not a site admin
token() { "$PYTHON" scripts/fuzz_setup.py token "$BASE" "$1" "$ROSTER_DEMO_PASSWORD"; }
declare -A TOKENS
for who in admin user; do
    email=$ADMIN_EMAIL; [ "$who" = user ] && email=$USER_EMAIL
    for phase in 1 2 3a 3b 3c; do TOKENS[$who-$phase]=$(token "$email"); done
done

echo "=== schemathesis against $BASE: seed $SEED, at most $MAX_EXAMPLES examples per operation, phases $PHASES ==="
FAILED=()
fuzz() {  # fuzz NAME TOKEN [schemathesis filter options...]
    local name=$1 bearer=$2
    shift 2
    echo "--- $name ---"
    # Run from the temp dir, so schemathesis's own cache (.schemathesis/) stays out of the tree.
    if ! (cd "$WORK" && "$SCHEMATHESIS" run "$BASE/api/v1/schema/?format=json" \
        --checks "$CHECKS" \
        --max-examples "$MAX_EXAMPLES" \
        --seed "$SEED" \
        --workers "$WORKERS" \
        --phases "$PHASES" \
        --request-timeout 30 \
        --suppress-health-check all \
        --exclude-tag Schema \
        --exclude-path-regex '/sse/$' \
        --header "Authorization: Bearer $bearer" \
        "$@"); then
        FAILED+=("$name")
    fi
}

# /event-streams/{id}/sse/ is left out: a stream the caller may read never ends, so every
# request that finds one would run into --request-timeout (tests/billing/test_event_stream_sse.py
# covers it against a live server).
# Operation names are "METHOD /path"; one regex per filter keeps the selection unambiguous.
DESTRUCTIVE='^(DELETE |PATCH /api/v1/users/\{id\}/$)'
SELF_DESTRUCTIVE='^DELETE /api/v1/(sessions/\{id\}|sessions/current|users/me)/$'
for who in user admin; do
    fuzz "$who: read and write" "${TOKENS[$who-1]}" --exclude-name-regex "$DESTRUCTIVE"
    fuzz "$who: destructive" "${TOKENS[$who-2]}" --include-name-regex "$DESTRUCTIVE" \
        --exclude-name-regex "$SELF_DESTRUCTIVE"
done
for who in user admin; do
    fuzz "$who: DELETE /sessions/{id}/" "${TOKENS[$who-3a]}" --include-name "DELETE /api/v1/sessions/{id}/"
    fuzz "$who: DELETE /sessions/current/" "${TOKENS[$who-3b]}" --include-name "DELETE /api/v1/sessions/current/"
    fuzz "$who: DELETE /users/me/" "${TOKENS[$who-3c]}" --include-name "DELETE /api/v1/users/me/"
done

if [ "${#FAILED[@]}" -ne 0 ]; then
    printf 'fuzz: failures in: %s\n' "${FAILED[@]}" >&2
    echo "fuzz: replay with FUZZ_SEED=$SEED bash scripts/fuzz.sh $MAX_EXAMPLES" >&2
    exit 1
fi
echo "fuzz: no failures (seed $SEED)"
