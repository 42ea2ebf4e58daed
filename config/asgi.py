"""ASGI entry point: what gunicorn serves (gunicorn.conf.py, uvicorn workers).

Server-Sent Events (`/api/v1/event-streams/{id}/sse/`) hold no thread while they stream
(core.asgi); when the worker stops, its event-stream listener closes its clients.
"""

import os
import warnings

import django

from config import default_settings_module

os.environ.setdefault("DJANGO_SETTINGS_MODULE", default_settings_module())
django.setup(set_prefix=False)
# Static files (whitenoise) and file downloads are sync file iterators: Django reads them in a
# thread under ASGI, as it should for files, and says so once per response. Not worth a log line.
warnings.filterwarnings("ignore", message="StreamingHttpResponse must consume synchronous iterators")

from django.conf import settings  # noqa: E402

from core.asgi import StreamingASGIHandler  # noqa: E402 (after setup: it loads the apps' code)

application = StreamingASGIHandler(
    stream_paths=[r"/api/v1/event-streams/[^/]+/sse/?"],
    on_shutdown=["billing.events.hub.shutdown"],
    thread_per_request=settings.ASGI_THREAD_PER_REQUEST,
)
