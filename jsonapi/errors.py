"""JSON:API error objects: `ApiError`, the stable codes SPEC §2 names, and the exception
handler that turns every error DRF, Django or a service raises into them.

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.encoding import force_str
from rest_framework import exceptions
from rest_framework.settings import api_settings
from rest_framework_json_api.exceptions import exception_handler as dja_exception_handler
from rest_framework_json_api.utils import format_field_name, is_relationship_field

from core.errors import WWW_AUTHENTICATE, ServiceError

# Codes SPEC §2 names; anything else DRF or Django produce is folded into these.
STABLE_CODES = {
    "invalid",
    "required",
    "unique",
    "conflict",
    "duplicate",
    "last_admin",
    "seat_limit_reached",
    "coin_limit_exceeded",
    "has_charges",
    "invalid_credentials",
    "too_many_attempts",
    "invalid_activation_code",
    "not_authenticated",
    "authentication_failed",
    "permission_denied",
    "not_found",
    "method_not_allowed",
    "not_acceptable",
    "unsupported_media_type",
    "request_too_large",
    "length_required",
    "server_error",
    "throttled",
    "service_unavailable",
}
DEFAULT_CODE_BY_STATUS = {
    400: "invalid",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    411: "length_required",
    413: "request_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    503: "service_unavailable",
}
# Statuses whose errors are about the request as a whole, not a member of the body.
NO_POINTER_STATUSES = {401, 403, 404, 405, 406, 413, 415, 429, 503}


class ApiError(exceptions.APIException):
    """One or more fully described JSON:API error objects."""

    def __init__(self, detail="Invalid request.", *, status_code=400, code=None, pointer=None, parameter=None):
        self.status_code = status_code
        error = {"status": str(status_code), "code": code or DEFAULT_CODE_BY_STATUS.get(status_code, "invalid"),
                 "detail": str(detail)}
        if pointer is not None:
            error["source"] = {"pointer": pointer}
        elif parameter is not None:
            error["source"] = {"parameter": parameter}
        self.errors = [error]
        super().__init__(detail=str(detail), code=error["code"])

    @classmethod
    def many(cls, errors, status_code=400):
        exc = cls(errors[0]["detail"], status_code=status_code)
        exc.errors = errors
        return exc


def error_object(detail, *, status_code=400, code=None, pointer=None, parameter=None):
    return ApiError(detail, status_code=status_code, code=code, pointer=pointer, parameter=parameter).errors[0]


def pointer_for(view, field):
    """JSON:API pointer for a serializer/model field name of the view's resource."""
    if not field:
        return "/data"
    name = format_field_name(field)
    try:
        serializer_fields = view.get_serializer_class()().fields
        is_relationship = field in serializer_fields and is_relationship_field(serializer_fields[field])
    except Exception:  # the view may have no serializer at all
        is_relationship = False
    return f"/data/{'relationships' if is_relationship else 'attributes'}/{name}"


def _normalise(errors, status_code):
    for error in errors:
        error["status"] = str(status_code)
        code = error.get("code")
        if code not in STABLE_CODES:
            code = DEFAULT_CODE_BY_STATUS.get(status_code, "invalid")
        error["code"] = code
        if status_code in NO_POINTER_STATUSES:
            source = error.get("source") or {}
            if "pointer" in source:
                source.pop("pointer")
            if not source:
                error.pop("source", None)
        elif error.get("source", {}).get("pointer") is None and "parameter" not in error.get("source", {}):
            error.setdefault("source", {})["pointer"] = "/data"
    # Two validators may say the same thing about one member; JSON:API wants each error once.
    unique = []
    for error in errors:
        if error not in unique:
            unique.append(error)
    return unique


def exception_handler(exc, context):
    """DJA's handler, plus SPEC codes, pointers for service errors and Bearer challenges."""
    view = context.get("view")
    if isinstance(exc, ServiceError):
        exc = ApiError(exc.detail, status_code=exc.status, code=exc.code,
                       pointer=pointer_for(view, exc.field) if exc.status in (400, 409) and exc.field else None)
    elif isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(_django_errors(exc))

    if isinstance(exc, ApiError):
        response = dja_exception_handler(exceptions.APIException(exc.detail), context)
        response.status_code = exc.status_code
        response.data = exc.errors
    else:
        response = dja_exception_handler(exc, context)
        if response is None:
            return None
    if view is not None:
        view.resource_name = "errors"
    if isinstance(response.data, dict) and "errors" in response.data:
        # a view not rendered as JSON:API: DJA has already wrapped the list
        response.data["errors"] = _normalise(response.data["errors"], response.status_code)
    else:
        response.data = _normalise(response.data, response.status_code)
    if response.status_code == 401:
        response["WWW-Authenticate"] = WWW_AUTHENTICATE
    return response


def _django_errors(exc):
    if hasattr(exc, "error_dict"):
        return {
            (api_settings.NON_FIELD_ERRORS_KEY if field == "__all__" else field): [
                exceptions.ErrorDetail(force_str(message), code=error.code or "invalid")
                for error in errors
                for message in error.messages
            ]
            for field, errors in exc.error_dict.items()
        }
    return [exceptions.ErrorDetail(force_str(message), code="invalid") for message in exc.messages]
