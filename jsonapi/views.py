"""Project-level views: the API's own 404 and the service endpoints (version, ping)."""

import sys

from django.conf import settings
from django.db import connection
from django.db.utils import DatabaseError, InterfaceError, OperationalError
from django.http import HttpResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from jsonapi.errors import ApiError
from jsonapi.middleware import jsonapi_error_response
from jsonapi.serializers import Serializer
from jsonapi.viewsets import RosterAPIView


def _html_or_jsonapi(status, code, detail, html_handler):
    def handler(request, *args, **kwargs):
        if request.path.startswith("/api/"):
            return jsonapi_error_response(status, code, detail)
        return html_handler(request, *args, **kwargs)

    return handler


# Django's own error pages, as JSON:API documents under /api/ (SPEC §2: never an HTML error there).
bad_request = _html_or_jsonapi(400, "invalid", "The request is malformed.", defaults.bad_request)
permission_denied = _html_or_jsonapi(403, "permission_denied", "You may not do this.", defaults.permission_denied)
page_not_found = _html_or_jsonapi(404, "not_found", "Nothing here.", defaults.page_not_found)
_server_error = _html_or_jsonapi(500, "server_error", "The server failed; the error has been logged.",
                                 defaults.server_error)
UNAVAILABLE = "The database does not answer; try again in a few seconds."
RETRY_AFTER = "5"


def server_error(request, *args, **kwargs):
    """Django's handler500, for whatever no view or middleware answered. When what failed is
    the database connection (stopped, restarting, unreachable: `OperationalError`,
    `InterfaceError`), the answer is a 503 `service_unavailable` with `Retry-After`, not a
    500: nothing was half-applied (the request's transaction never committed) and the same
    request will work once the database is back. Nothing here touches the database."""
    failure = sys.exc_info()[1]
    if isinstance(failure, (OperationalError, InterfaceError)):
        if request.path.startswith("/api/"):
            return jsonapi_error_response(503, "service_unavailable", UNAVAILABLE, {"Retry-After": RETRY_AFTER})
        response = HttpResponse(loader.get_template("503.html").render({"detail": UNAVAILABLE}), status=503)
        response["Retry-After"] = RETRY_AFTER
        return response
    return _server_error(request, *args, **kwargs)


@csrf_exempt  # changes nothing, so no CSRF check: an unsafe method gets the same JSON:API 404
def api_not_found(request, *args, **kwargs):
    """Every unmatched path under /api/ answers with a JSON:API 404 (SPEC §2)."""
    detail = f"Nothing at {request.path}."
    return jsonapi_error_response(404, "not_found", detail)


api_not_found.api_catch_all = True  # what jsonapi.middleware.ApiRequestMiddleware looks past


class VersionSerializer(Serializer):
    id = serializers.CharField()
    version = serializers.CharField()

    class Meta:
        resource_name = "Version"


class PingSerializer(Serializer):
    id = serializers.CharField()
    status = serializers.CharField()
    database = serializers.CharField()

    class Meta:
        resource_name = "Ping"


class VersionView(RosterAPIView):
    """The server's version; no authentication."""

    permission_classes = [AllowAny]
    authentication_classes = []
    resource_name = "Version"

    def get(self, request):
        return Response(VersionSerializer({"id": "1", "version": settings.ROSTER_VERSION}).data)


class PingView(RosterAPIView):
    """200 when the database answers, 503 otherwise; no authentication."""

    permission_classes = [AllowAny]
    authentication_classes = []
    resource_name = "Ping"
    error_statuses = {"get": (503,)}  # the database does not answer

    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError:
            raise ApiError("The database does not answer.", status_code=503) from None
        return Response(PingSerializer({"id": "1", "status": "ok", "database": "ok"}).data)
