"""Project-level views: the API's own 404 and the service endpoints (version, ping)."""

from django.db import connection
from django.db.utils import DatabaseError
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config import __version__
from config.api import ApiError, Serializer
from config.middleware import jsonapi_error_response


def api_not_found(request, *args, **kwargs):
    """Every unmatched path under /api/ answers with a JSON:API 404 (SPEC §2)."""
    detail = f"Nothing at {request.path}."
    if not request.path.endswith("/"):
        detail += " API paths end with a slash."
    return jsonapi_error_response(404, "not_found", detail)


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


class VersionView(APIView):
    """The server's version; no authentication."""

    permission_classes = [AllowAny]
    authentication_classes = []
    resource_name = "Version"

    def get(self, request):
        return Response(VersionSerializer({"id": "1", "version": __version__}).data)


class PingView(APIView):
    """200 when the database answers, 503 otherwise; no authentication."""

    permission_classes = [AllowAny]
    authentication_classes = []
    resource_name = "Ping"

    def get(self, request):
        try:
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1")
                cursor.fetchone()
        except DatabaseError:
            raise ApiError("The database does not answer.", status_code=503) from None
        return Response(PingSerializer({"id": "1", "status": "ok", "database": "ok"}).data)
