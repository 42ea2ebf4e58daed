"""Request guards that must act before any view parses a body."""

import json
import re

from django.conf import settings
from django.http import HttpResponse
from django.urls import Resolver404, resolve

from jsonapi.links import JSONAPI_MEMBER
from jsonapi.negotiation import MEDIA_TYPE


def jsonapi_error_response(status, code, detail, headers=None):
    body = {"errors": [{"status": str(status), "code": code, "detail": detail}], "jsonapi": JSONAPI_MEMBER}
    response = HttpResponse(json.dumps(body), status=status, content_type=MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


class ApiBodySizeLimitMiddleware:
    """Guards on API request bodies, before any view reads one.

    - 413 above ROSTER_MAX_BODY_SIZE: DRF's parsers read the WSGI stream directly, so
      Django's DATA_UPLOAD_MAX_MEMORY_SIZE never applies to them.
    - 411 for chunked bodies with no length (they would otherwise read as empty).
    - 415 for a body that is not application/vnd.api+json, whatever the method, except on
      a view that takes bodies of other media types and says so (`body_media_types`, e.g.
      raw images): such a view answers for its bodies' types itself.

    The first two hold on every path under /api/, routed or not; only the third asks which
    view the path leads to, and only for a body that would otherwise be refused.
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
            if "chunked" in request.META.get("HTTP_TRANSFER_ENCODING", "").lower() and not length:
                return jsonapi_error_response(411, "length_required", "Send the body with a Content-Length.")
            full_type = request.META.get("CONTENT_TYPE", "")
            content_type = full_type.split(";")[0].strip().lower()
            if length and content_type != MEDIA_TYPE and not body_media_types(request):
                return jsonapi_error_response(
                    415, "unsupported_media_type", f"Request bodies are {MEDIA_TYPE}, not {content_type or 'untyped'}."
                )
            if length and content_type == MEDIA_TYPE and ";" in full_type:
                # JSON:API 1.0: a request body's media type carries no parameters, charset included
                return jsonapi_error_response(
                    415, "unsupported_media_type",
                    f"Send Content-Type: {MEDIA_TYPE} with no media type parameters (not `{full_type}`).")
        return self.get_response(request)


class ApiRequestMiddleware:
    """What JSON:API clients send, made what the views expect (SPEC §2):

    - `/api/v1/users` is served as `/api/v1/users/`: most clients build paths without the
      trailing slash. The path is completed in place, not redirected (a redirect loses the
      body of a POST or PATCH in many clients); URLs the server writes keep their slash.
    - `include`, `sort`, `fields[T]` and `filter[x]` given more than once are joined as if
      comma-separated (generated clients repeat them).
    - HEAD answers the headers of a GET and no body.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        path = request.path_info
        if not path.startswith("/api/"):
            return self.get_response(request)
        if not path.endswith("/") and _routed(path + "/"):
            request.path_info = path + "/"
            request.path = request.path + "/"
            request.META["PATH_INFO"] = request.META.get("PATH_INFO", path) + "/"
        if any(len(values) > 1 and JOINED.match(name) for name, values in request.GET.lists()):
            joined = request.GET.copy()
            for name, values in request.GET.lists():
                if len(values) > 1 and JOINED.match(name):
                    joined.setlist(name, [",".join(values)])
            joined._mutable = False
            request.GET = joined
        response = self.get_response(request)
        if request.method == "HEAD" and not getattr(response, "streaming", False) and response.content:
            length = len(response.content)
            response.content = b""
            response["Content-Length"] = str(length)
        return response


JOINED = re.compile(r"^(include|sort)$|^(fields|filter)\[[^\]]*\]$")


def _routed(path) -> bool:
    """Whether an API view (not the API's catch-all 404) serves `path`."""
    try:
        match = resolve(path)
    except Resolver404:
        return False
    return not getattr(match.func, "api_catch_all", False)


def body_media_types(request):
    """The media types other than JSON:API that the view at this path takes as its body: its
    `body_media_types` (a class attribute, or an `as_view()` keyword); none for a path that
    leads nowhere."""
    try:
        view = resolve(request.path_info).func
    except Resolver404:
        return ()
    view_class = getattr(view, "cls", None) or getattr(view, "view_class", None)
    initkwargs = getattr(view, "initkwargs", None) or {}
    return initkwargs.get("body_media_types", getattr(view_class, "body_media_types", ()))
