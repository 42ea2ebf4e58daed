"""Content negotiation: only application/vnd.api+json in and out (415 / 406), as JSON:API
1.0 requires.

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.utils.mediatypes import _MediaType

MEDIA_TYPE = "application/vnd.api+json"


def _params(media_type):
    return {k: v for k, v in _MediaType(media_type).params.items() if k != "q"}


class ContentNegotiation(DefaultContentNegotiation):
    """Only application/vnd.api+json in and out (415 / 406), as JSON:API 1.0 requires."""

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        if content_type.split(";")[0].strip().lower() == MEDIA_TYPE and _params(content_type):
            return None  # JSON:API 1.0: no media type parameters, charset included
        return super().select_parser(request, parsers)

    def get_accept_list(self, request):
        header = request.META.get("HTTP_ACCEPT", "").strip() or "*/*"  # a blank Accept accepts anything
        return [token.strip() for token in header.split(",") if token.strip()]

    def select_renderer(self, request, renderers, format_suffix=None):
        header = request.META.get("HTTP_ACCEPT", "")
        jsonapi = [part for part in header.split(",") if part.split(";")[0].strip().lower() == MEDIA_TYPE]
        if jsonapi and all(_params(part) for part in jsonapi) and not any(
            part.split(";")[0].strip() in ("*/*", "application/*") for part in header.split(",")
        ):
            raise exceptions.NotAcceptable("Every application/vnd.api+json in Accept carries media type parameters.")
        return super().select_renderer(request, renderers, format_suffix)
