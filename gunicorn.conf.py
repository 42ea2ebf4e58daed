"""gunicorn's settings, read when it is started from the repository root (`gunicorn -b ADDR -w N`).

The application is the ASGI entry point under uvicorn's worker (SPEC §5): a Server-Sent
Events client (`/api/v1/event-streams/{id}/sse/`) is a coroutine, not a worker or a thread,
so one worker serves thousands of them next to ordinary requests. uvicorn parses HTTP with
httptools (pinned in requirements.txt; its "auto" choice picks it when installed).
"""

wsgi_app = "config.asgi:application"
worker_class = "core.workers.RosterUvicornWorker"  # uvicorn's, without a Server banner
# The client address and scheme are the application's business (core.net: X-Forwarded-For
# only with DJANGO_USE_X_FORWARDED_FOR, from the trusted proxies): uvicorn must not rewrite
# them from headers, as it would for connections from 127.0.0.1 by default.
forwarded_allow_ips = ""
