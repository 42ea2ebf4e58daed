"""Django's ASGI handler, with long-lived streams (Server-Sent Events) served without a
thread of their own, ordinary requests' sync work on one thread per process, and the ASGI
lifespan protocol.

Django runs each ASGI request in a `ThreadSensitiveContext`: the first time the request
needs sync code (middleware, views, signal receivers) a thread is started for it, and that
thread stays parked until the response has been sent — for a stream, as long as the client
stays connected. Requests to `stream_paths` are always handled without that context: their
sync parts (the middleware before the view, the request signals) run on the process's one
shared sync thread, briefly, and the stream itself is only coroutines.

Ordinary requests are too, unless `thread_per_request` (`DJANGO_ASGI_THREAD_PER_REQUEST`):
their sync work then runs one request at a time per worker process, as under gunicorn's
sync workers, while uvicorn keeps connections alive and streams go on as coroutines. Our
requests are CPU-bound Python (the GIL lets one thread run at a time anyway): a thread per
request started a thread for each and let 16 of them interleave, which measured 35 % fewer
requests per second than the sync workers (`make bench`, full size, README); on one
thread, ASGI serves as many as WSGI. The cost: a request waits while another of its
worker's runs, so a slow page delays the worker's next requests, as with sync workers.

Lifespan: `on_shutdown` coroutines (dotted paths) run when the server stops, so listeners
end cleanly.
"""

import logging
import re

from django.core.handlers.asgi import ASGIHandler
from django.utils.module_loading import import_string

log = logging.getLogger(__name__)


class StreamingASGIHandler(ASGIHandler):
    def __init__(self, *, stream_paths=(), on_shutdown=(), thread_per_request=False):
        super().__init__()
        self.thread_per_request = thread_per_request
        self.stream_path = re.compile("|".join(f"(?:{pattern})" for pattern in stream_paths)) if stream_paths else None
        self.on_shutdown = list(on_shutdown)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            await self.lifespan(receive, send)
            return
        if scope["type"] == "http" and (not self.thread_per_request or (
                self.stream_path is not None and self.stream_path.fullmatch(scope["path"]))):
            await self.handle(scope, receive, send)
            return
        await super().__call__(scope, receive, send)

    async def lifespan(self, receive, send):
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                for path in self.on_shutdown:
                    try:
                        await import_string(path)()
                    except Exception:
                        log.exception("shutdown hook %s failed", path)
                await send({"type": "lifespan.shutdown.complete"})
                return
