"""Request guards that must act before any view parses a body."""

import json

from django.conf import settings
from django.http import HttpResponse

from config.api import MEDIA_TYPE


def jsonapi_error_response(status, code, detail, headers=None):
    body = {"errors": [{"status": str(status), "code": code, "detail": detail}]}
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiBodySizeLimitMiddleware:
    """413 for API request bodies above ROSTER_MAX_BODY_SIZE.

    DRF's parsers read the WSGI stream directly, so Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    never applies to them; the declared Content-Length is checked here instead.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return jsonapi_error_response(400, "invalid", "Content-Length is not a number.")
            if length > settings.ROSTER_MAX_BODY_SIZE:
                return jsonapi_error_response(
                    413, "request_too_large",
                    f"The request body is {length} bytes; the limit is {settings.ROSTER_MAX_BODY_SIZE}.",
                )
        return self.get_response(request)
