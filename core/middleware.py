"""Guards that act before anything reads a request body."""

from django.conf import settings
from django.http import HttpResponse


class BodySizeLimitMiddleware:
    """Request bodies above ROSTER_MAX_BODY_SIZE are refused (413) on every path, portal forms
    and uploads included, by their Content-Length, before a byte of them is read; a chunked
    body with no length is a 411. Paths under /api/ are left to the API's guard, which
    applies the same limit and answers with a JSON:API error document."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if not request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return _plain(400, "Content-Length is not a number.")
            if length > settings.ROSTER_MAX_BODY_SIZE:
                limit = settings.ROSTER_MAX_BODY_SIZE // (1024 * 1024)
                return _plain(413, f"The request is {length} bytes; at most {limit} MiB are accepted.")
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not length:
                return _plain(411, "Send the body with a Content-Length.")
        return self.get_response(request)


def _plain(status, text):
    return HttpResponse(text, status=status, content_type="text/plain; charset=utf-8")
