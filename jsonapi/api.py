"""Shared JSON:API plumbing: parsing, negotiation, pagination, query validation, errors,
and the serializer and permission bases every resource builds on (SPEC §2).

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views; the viewset base lives in
`jsonapi.viewsets`.
"""

import json
import re

from django.apps import apps
from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.paginator import InvalidPage
from django.utils.encoding import force_str
from django_filters import rest_framework as django_filters
from django.db import models
from rest_framework import exceptions, serializers
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import BasePermission
from rest_framework.relations import MANY_RELATION_KWARGS
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.utils.encoders import JSONEncoder
from rest_framework.utils.mediatypes import _MediaType
from rest_framework.utils.urls import replace_query_param
from rest_framework_json_api import parsers as dja_parsers
from rest_framework_json_api import relations as dja_relations
from rest_framework_json_api import renderers as dja_renderers
from rest_framework_json_api import serializers as dja_serializers
from rest_framework_json_api.django_filters import DjangoFilterBackend as DJAFilterBackend
from rest_framework_json_api.exceptions import exception_handler as dja_exception_handler
from rest_framework_json_api.filters import OrderingFilter as DJAOrderingFilter
from rest_framework_json_api.metadata import JSONAPIMetadata
from rest_framework_json_api.utils import (
    format_field_name,
    format_value,
    get_resource_name,
    get_resource_type_from_queryset,
    is_relationship_field,
    undo_format_field_name,
)

from jsonapi.encoding import Document, dumps
from core.errors import WWW_AUTHENTICATE, ServiceError

MEDIA_TYPE = "application/vnd.api+json"
# Largest id we look up: ids beyond a signed 64-bit integer would overflow the database driver.
MAX_ID_DIGITS = 18
ID_PATTERN = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"


def is_id_text(text) -> bool:
    """ASCII digits only, at most MAX_ID_DIGITS of them (`str.isdigit` also takes "²")."""
    return isinstance(text, str) and 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit()

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



# --------------------------------------------------------------------------- errors


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
    return errors


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


# --------------------------------------------------------------------------- media types


def _params(media_type):
    return {k: v for k, v in _MediaType(media_type).params.items() if k != "q"}


def _refuse_constant(name):
    raise ValueError(f"{name} is not a JSON value")


class ContentNegotiation(DefaultContentNegotiation):
    """Only application/vnd.api+json in and out (415 / 406), as JSON:API 1.0 requires."""

    def select_parser(self, request, parsers):
        content_type = request.content_type or ""
        if content_type.split(";")[0].strip().lower() == MEDIA_TYPE:
            unexpected = set(_params(content_type)) - {"charset"}
            if unexpected:
                return None
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


class _VisibleIncludedRenderer(JSONRenderer):
    """Sits between DJA's renderer and DRF's: drops included resources the caller may not read.

    A relationship may point at something the caller cannot see (a utility's account, say);
    its identifier is harmless, but the resource itself must not ride along in `included`.
    One query per included type, whatever the page size.
    """

    def render(self, data, accepted_media_type=None, renderer_context=None):
        included = data.get("included") if isinstance(data, dict) else None
        request = (renderer_context or {}).get("request")
        if included and request is not None:
            data["included"] = visible_included(included, request.user)
        if data is None:
            return b""
        return dumps(data)


def visible_included(included, user):
    by_type = {}
    for resource in included:
        by_type.setdefault(resource["type"], []).append(resource)
    models = {model.__name__: model for model in apps.get_models() if hasattr(model.objects, "for_user")}
    kept = []
    for type_name, resources in by_type.items():
        model = models.get(type_name)
        if model is None:
            continue  # a type without a visibility rule is never included
        visible_rows = model.objects.for_user(user)
        if not visible_rows.query.where and not visible_rows.query.is_empty():
            kept += resources  # the caller sees every row of this type (site admins, roles, ...)
            continue
        ids = [int(r["id"]) for r in resources]
        visible = {str(pk) for pk in visible_rows.filter(pk__in=ids).values_list("pk", flat=True)}
        kept += [r for r in resources if r["id"] in visible]
    return kept


class JSONAPIRenderer(dja_renderers.JSONRenderer, _VisibleIncludedRenderer):
    def render(self, data, accepted_media_type=None, renderer_context=None):
        if isinstance(data, Document):  # built by the fast read path: only encoding is left
            return dumps(data.content)
        return super().render(data, accepted_media_type, renderer_context)

    @classmethod
    def _filter_sparse_fields(cls, serializer, fields, resource_name):
        """`fields[Type]=camelCase` as well as DJA's serializer does (its renderer compares the
        raw snake_case names, which drops every camelCase attribute)."""
        request = serializer.context.get("request")
        wanted = request.query_params.get(f"fields[{resource_name}]") if request else None
        if wanted is None:
            return fields
        names = {undo_format_field_name(name) for name in wanted.split(",")}
        return {name: field for name, field in fields.items() if field.field_name in names}


class Metadata(JSONAPIMetadata):
    """OPTIONS answers with a JSON:API document whose top-level `meta` describes the endpoint."""

    def determine_metadata(self, request, view):
        description = super().determine_metadata(request, view)
        view.resource_name = False  # render the document as built, not as a resource
        return {"meta": description}


class JSONAPIParser(dja_parsers.JSONParser):
    """DJA's parser made total: every malformed document is a 400, never a crash.

    It also records which members the client sent under `attributes` and `relationships`,
    so serializers can refuse unknown or misplaced ones (see StrictSerializerMixin).
    """

    renderer_class = JSONAPIRenderer

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            raw = stream.read() if stream is not None else b""
            result = json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant) if raw else None
        except RecursionError:
            raise ApiError("The body is nested too deeply.", pointer="") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise ApiError(f"The body is not valid JSON: {exc}", pointer="") from None
        return self.parse_data(result, parser_context)

    def parse_data(self, result, parser_context):
        if not isinstance(result, dict) or "data" not in result:
            raise ApiError("The document must be an object with a top-level `data` member.", pointer="",
                           code="required")
        data = result["data"]
        from rest_framework_json_api.views import RelationshipView

        view = (parser_context or {}).get("view")
        if isinstance(view, RelationshipView):
            return self._identifiers(data, "/data")
        if not isinstance(data, dict):
            raise ApiError("`data` must be a single resource object.", pointer="/data")
        if not isinstance(data.get("type"), str) or not data.get("type"):
            raise ApiError("The resource object needs a `type`.", pointer="/data/type", code="required")
        if "id" in data and not isinstance(data["id"], (str, int)) or isinstance(data.get("id"), bool):
            raise ApiError("`id` must be a string.", pointer="/data/id")
        for member in ("attributes", "relationships", "meta"):
            if member in data and not isinstance(data[member], dict):
                raise ApiError(f"`{member}` must be an object.", pointer=f"/data/{member}")
        for name, value in (data.get("relationships") or {}).items():
            if not isinstance(value, dict) or "data" not in value:
                raise ApiError("A relationship must be an object with a `data` member.",
                               pointer=f"/data/relationships/{name}")
            self._identifiers(value["data"], f"/data/relationships/{name}/data")
        request = (parser_context or {}).get("request")
        method = getattr(request, "method", None)
        if method == "POST" and data.get("id") not in (None, ""):
            raise ApiError("Client-generated ids are not supported.", status_code=403, pointer="/data/id")
        expected = get_resource_name(parser_context or {}, expand_polymorphic_types=True)
        if method in ("POST", "PATCH") and isinstance(expected, str) and data["type"] != expected:
            raise ApiError(f"This endpoint takes `{expected}` resources, not `{data['type']}`.", status_code=409,
                           pointer="/data/type")
        if method == "PATCH" and view is not None:
            lookup = getattr(view, "lookup_url_kwarg", None) or getattr(view, "lookup_field", None)
            url_id = view.kwargs.get(lookup) if lookup else None
            if "id" not in data:
                raise ApiError("The resource object needs its `id`.", pointer="/data/id", code="required")
            if url_id is not None and str(data["id"]) != str(url_id):
                raise ApiError(f"The body's id ({data['id']}) is not the URL's ({url_id}).", status_code=409,
                               pointer="/data/id")
        parsed = super().parse_data(result, parser_context)
        parsed["_members"] = {
            "attributes": list((data.get("attributes") or {}).keys()),
            "relationships": list((data.get("relationships") or {}).keys()),
        }
        return parsed

    @staticmethod
    def _identifiers(data, pointer):
        items = data if isinstance(data, list) else [data]
        for position, item in enumerate(items):
            if item is None and not isinstance(data, list):
                continue
            here = f"{pointer}/{position}" if isinstance(data, list) else pointer
            if not isinstance(item, dict) or not isinstance(item.get("type"), str) or "id" not in item:
                raise ApiError("A resource identifier needs `type` and `id`.", pointer=here)
            if not isinstance(item["id"], (str, int)) or isinstance(item["id"], bool):
                raise ApiError("A resource identifier's `id` must be a string or a number.", pointer=f"{here}/id")
        return data


# --------------------------------------------------------------------------- pagination


class Pagination(PageNumberPagination):
    """`page`/`page_size` (the association's names) and `page[number]`/`page[size]`."""

    page_query_param = "page"
    page_size_query_param = "page_size"
    bracket_page_query_param = "page[number]"
    bracket_page_size_query_param = "page[size]"
    page_size = 50
    max_page_size = 500

    def _positive_int(self, request, names):
        for name in names:
            if name in request.query_params:
                raw = request.query_params[name]
                if not is_id_text(raw) or int(raw) < 1:
                    raise ApiError(f"`{name}` must be a whole number of at least 1.", parameter=name)
                return name, int(raw)
        return None, None

    def get_page_size(self, request):
        _, size = self._positive_int(request, (self.bracket_page_size_query_param, self.page_size_query_param))
        return self.page_size if size is None else min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        self.request = request
        page_size = self.get_page_size(request)
        name, number = self._positive_int(request, (self.bracket_page_query_param, self.page_query_param))
        self._link_param = name or self.page_query_param
        paginator = self.django_paginator_class(queryset, page_size)
        try:
            self.page = paginator.page(number or 1)
        except InvalidPage:
            raise ApiError(f"Page {number} does not exist; there are {paginator.num_pages}.", status_code=404,
                           parameter=name) from None
        return list(self.page)

    def build_link(self, index):
        if not index:
            return None
        url = self.request.build_absolute_uri() if self.request else ""
        return replace_query_param(url, self._link_param, index)

    def get_paginated_response(self, data):
        page = self.page
        return Response(
            {
                "results": data,
                "meta": {"pagination": {"page": page.number, "pages": page.paginator.num_pages,
                                        "count": page.paginator.count}},
                "links": {
                    "first": self.build_link(1),
                    "last": self.build_link(page.paginator.num_pages),
                    "next": self.build_link(page.next_page_number() if page.has_next() else None),
                    "prev": self.build_link(page.previous_page_number() if page.has_previous() else None),
                },
            }
        )


# --------------------------------------------------------------------------- query parameters


JSONAPI_PARAMETER = re.compile(r"^(sort|include|page|page_size)$|^(filter|fields|page)\[[\w.\-]+\]$")
COLLECTION_ONLY = re.compile(r"^(sort|page|page_size)$|^(filter|page)\[")


def check_query_parameters(request, *, extra=(), collection=False, resource=True):
    """400 for any query parameter JSON:API or the endpoint does not define (SPEC §2).

    `collection`: sort, filter and page make sense; `resource`: include and fields do.
    """
    for name in request.query_params.keys():
        if name in extra:
            continue
        if not JSONAPI_PARAMETER.match(name) or (COLLECTION_ONLY.match(name) and not collection) or (
                not resource and (name == "include" or name.startswith("fields["))):
            raise ApiError(f"Unknown query parameter `{name}` here.", parameter=name)
        if not name.startswith("filter") and len(request.query_params.getlist(name)) > 1:
            raise ApiError(f"Query parameter `{name}` may be given only once.", parameter=name)


def is_wire_name(name: str) -> bool:
    """Is this a member name as the API spells it (camelCase, dots for paths)?"""
    return all(format_value(undo_format_field_name(part), "camelize") == part for part in name.split("."))


class OrderingFilter(DJAOrderingFilter):
    """`sort=name,-created` over the view's `ordering_fields` and `id`; unknown fields are a 400."""

    def get_valid_fields(self, queryset, view, context={}):  # noqa: B006 (DRF's signature)
        return [*super().get_valid_fields(queryset, view, context), ("id", "id")]

    def remove_invalid_fields(self, queryset, fields, view, request):
        for term in fields:
            if not is_wire_name(term.lstrip("-")):
                raise ApiError(f"Cannot sort by `{term}` (names are camelCase).", parameter="sort")
        try:
            return super().remove_invalid_fields(queryset, fields, view, request)
        except exceptions.ValidationError:
            valid = ", ".join(format_field_name(name) for name in (getattr(view, "ordering_fields", None) or ()))
            raise ApiError(f"Cannot sort by `{request.query_params.get('sort')}`; sortable: {valid or 'nothing'}.",
                           parameter="sort") from None

    def get_ordering(self, request, queryset, view):
        params = request.query_params.get(self.ordering_param)
        if params is not None:
            terms = params.split(",")
            if not params.strip() or any(not term.strip().lstrip("-") or term.startswith("--") for term in terms):
                raise ApiError(f"`sort={params}` has an empty or malformed term.", parameter="sort")
        ordering = list(super().get_ordering(request, queryset, view) or [])
        if ordering and not any(term.lstrip("-") in ("id", "pk") for term in ordering):
            ordering.append("id")  # a total order, so pages never overlap
        return ordering


class FilterBackend(DJAFilterBackend):
    """`filter[field]=...` through each view's FilterSet; unknown or bad values are a 400."""

    def _validate_filter(self, keys, filterset_class):
        for key in keys:
            if not filterset_class or key not in filterset_class.base_filters:
                name = f"filter[{format_value(key, 'camelize')}]"
                raise ApiError(f"Unknown filter `{name}`.", parameter=name)

    def get_filterset_kwargs(self, request, queryset, view):
        for name, values in request.query_params.lists():
            match = self.filter_regex.match(name)
            if not match or name == self.search_param:
                continue
            key = match.group("assoc")
            if not key or not match.group("ldelim") or not match.group("rdelim"):
                raise ApiError(f"`{name}` is not a filter; use `filter[name]=value`.", parameter=name)
            if not all(values):
                raise ApiError(f"`{name}` needs a value.", parameter=name)
            if not is_wire_name(key):
                raise ApiError(f"Unknown filter `{name}` (names are camelCase).", parameter=name)
        return super().get_filterset_kwargs(request, queryset, view)

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        for name, flt in filterset.filters.items():
            flt.wire_name = name
        if not filterset.is_valid():
            errors = [
                error_object(message, parameter=f"filter[{format_value(field, 'camelize')}]")
                for field, messages in filterset.errors.items()
                for message in messages
            ]
            raise ApiError.many(errors)
        return filterset.qs


def filter_parameter(flt) -> str:
    """The query parameter a filter answers to, as the client spelled it (`filter[utility]`)."""
    return f"filter[{format_value(getattr(flt, 'wire_name', flt.field_name), 'camelize')}]"


class StrictBooleanFilter(django_filters.CharFilter):
    """`filter[x]=true|false` (also 1/0); anything else is a 400, not silently ignored."""

    TRUE, FALSE = {"true", "1"}, {"false", "0"}

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        lowered = value.strip().lower()
        if lowered not in self.TRUE | self.FALSE:
            raise ApiError(f"`{value}` is not true or false.", parameter=filter_parameter(self))
        return qs.filter(**{self.field_name: lowered in self.TRUE})


class ChoiceListFilter(django_filters.CharFilter):
    """`filter[role]=admin,leader`: comma-separated values, each one of `choices`."""

    def __init__(self, *args, choices=(), **kwargs):
        self.allowed = [value for value, _ in choices]
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        wanted = [part.strip() for part in value.split(",") if part.strip()]
        unknown = [part for part in wanted if part not in self.allowed]
        if unknown:
            raise ApiError(f"`{unknown[0]}` is not one of {', '.join(self.allowed)}.",
                           parameter=filter_parameter(self))
        return qs.filter(**{f"{self.field_name}__in": wanted})


def parse_id_list(raw):
    ids = []
    for part in str(raw).split(","):
        part = part.strip()
        if not is_id_text(part):
            raise DjangoValidationError(f"`{part}` is not an id.", code="invalid")
        ids.append(int(part))
    return ids


class IdsFilter(django_filters.CharFilter):
    """Comma-separated ids, as the association's clients send them (`filter[utility]=177,178`)."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        try:
            ids = parse_id_list(value)
        except DjangoValidationError as exc:
            raise ApiError(exc.messages[0], parameter=filter_parameter(self)) from None
        queryset = qs.filter(**{f"{self.field_name}__in": ids})
        return queryset.distinct() if self.distinct else queryset


# --------------------------------------------------------------------------- serializers


class StrictBooleanField(serializers.BooleanField):
    """JSON true or false only: "yes", 1 or "true" are a 400, not quietly coerced."""

    def to_internal_value(self, data):
        if data is True or data is False:
            return data
        self.fail("invalid", input=data)


class StrictIntegerField(serializers.IntegerField):
    """JSON whole numbers only: "5", 5.0 or true are a 400."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


_INCLUDED_TYPES = {}


class IdOrderedManyRelatedField(serializers.ManyRelatedField):
    """A to-many relationship's `data`, always in id order (whatever order the related model
    sorts itself in), so every path that renders it agrees."""

    def to_representation(self, iterable):
        return [self.child_relation.to_representation(value) for value in sorted(iterable, key=_pk)]


def _pk(value):
    return value.pk


class ResourceRelatedField(dja_relations.ResourceRelatedField):
    """Relationship ids as strings or numbers; anything that is not an id is a 400, never a 500."""

    def get_resource_type_from_included_serializer(self):
        # DJA answers this with two inflection calls per relationship per row; the answer
        # depends only on the parent serializer class and the field's name.
        key = (type(self.get_parent_serializer()), self.field_name or self.parent.field_name)
        try:
            return _INCLUDED_TYPES[key]
        except KeyError:
            resource_type = _INCLUDED_TYPES[key] = super().get_resource_type_from_included_serializer()
            return resource_type

    @classmethod
    def many_init(cls, *args, **kwargs):
        list_kwargs = {"child_relation": cls(*args, **kwargs)}
        list_kwargs.update({key: value for key, value in kwargs.items() if key in MANY_RELATION_KWARGS})
        return IdOrderedManyRelatedField(**list_kwargs)

    def conflict(self, key, **kwargs):
        name = self.field_name or getattr(self.parent, "field_name", "")
        message = self.error_messages[key].format(**kwargs)
        raise ApiError(message, status_code=409, pointer=f"/data/relationships/{format_field_name(name)}")

    def to_internal_value(self, data):
        if isinstance(data, dict) and "id" in data:
            raw = data["id"]
            if isinstance(raw, bool) or not is_id_text(str(raw)):
                self.fail("does_not_exist", pk_value=raw)
            data = {**data, "id": str(raw)}
        return super().to_internal_value(data)


def _jsonable(value):
    return json.loads(json.dumps(value, cls=JSONEncoder))


def _same_relationship(current, sent):
    def key(item):
        return None if item is None else (item.get("type"), str(item.get("id")))

    if isinstance(current, list) or isinstance(sent, list):
        if not isinstance(current, list) or not isinstance(sent, list):
            return False
        return sorted(map(key, current), key=str) == sorted(map(key, sent), key=str)
    return key(current) == key(sent)


class StrictSerializerMixin:
    """Refuse what a lenient DRF serializer would silently drop (SPEC §2).

    - a member the resource does not have, or sent under the wrong object: 400;
    - a read-only member on create, or on update with a value other than the current one: 400;
    - a member listed in `Meta.fixed_fields`: writable on create, then read-only.
    Members sent back unchanged on update are ignored.
    """

    def to_internal_value(self, data):
        if isinstance(data, dict) and "_members" in data:
            data = dict(data)
            members = data.pop("_members")
            data.pop("_meta", None)
            self._check_members(members, data)
        return super().to_internal_value(data)

    def _check_members(self, members, data):
        fields = self.fields
        by_wire_name = {format_field_name(name): (name, field) for name, field in fields.items() if name != "id"}
        fixed = set(getattr(getattr(self, "Meta", None), "fixed_fields", ()))
        errors = []
        for kind in ("attributes", "relationships"):
            for wire in members[kind]:
                pointer = f"/data/{kind}/{wire}"
                if wire not in by_wire_name:
                    errors.append(error_object(f"`{wire}` is not a member of this resource.", pointer=pointer))
                    continue
                name, field = by_wire_name[wire]
                is_rel = is_relationship_field(field)
                if is_rel != (kind == "relationships"):
                    where = "relationships" if is_rel else "attributes"
                    errors.append(error_object(f"`{wire}` belongs under `{where}`.", pointer=pointer))
                    continue
                locked = field.read_only or (self.instance is not None and name in fixed)
                if not locked:
                    continue
                if self.instance is None:
                    errors.append(error_object(f"`{wire}` is read-only.", pointer=pointer))
                elif self._differs(name, field, data.get(name), is_rel):
                    errors.append(error_object(f"`{wire}` cannot be changed.", pointer=pointer))
                else:
                    data.pop(name, None)
        if errors:
            raise ApiError.many(errors)

    def _differs(self, name, field, sent, is_rel):
        try:
            attribute = field.get_attribute(self.instance)
            current = field.to_representation(attribute) if attribute is not None else None
        except Exception:
            return True
        if is_rel:
            return not _same_relationship(_jsonable(current), sent)
        if isinstance(field, serializers.DateTimeField) and isinstance(sent, str):
            try:
                return field.to_internal_value(sent) != attribute
            except serializers.ValidationError:
                return True
        return _jsonable(current) != sent


class ModelSerializer(StrictSerializerMixin, dja_serializers.ModelSerializer):
    serializer_related_field = ResourceRelatedField
    serializer_field_mapping = {
        **dja_serializers.ModelSerializer.serializer_field_mapping,
        **{field: StrictIntegerField for field in (
            models.IntegerField, models.BigIntegerField, models.SmallIntegerField, models.PositiveIntegerField,
            models.PositiveSmallIntegerField, models.PositiveBigIntegerField)},
        models.BooleanField: StrictBooleanField,
    }


class Serializer(dja_serializers.Serializer):
    pass


# --------------------------------------------------------------------------- permissions


class RulePermission(BasePermission):
    """Permission class built on predicates.

    Subclasses set `create_rule(request, view) -> bool` and `object_rules`: action →
    `(user, obj) -> bool`. Reads are governed by `for_user()` (404), writes by these (403).
    """

    create_rule = None
    object_rules = {}

    def has_permission(self, request, view):
        if getattr(view, "action", None) == "create" and self.create_rule is not None:
            return bool(self.create_rule(request, view))
        return True

    def has_object_permission(self, request, view, obj):
        rule = self.object_rules.get(getattr(view, "action", None))
        return True if rule is None else bool(rule(request.user, obj))


class VisibleResourceRelatedField(ResourceRelatedField):
    """A relationship whose targets are limited to what the caller may see.

    An id the caller cannot see is refused exactly like one that does not exist. The check
    runs only when a body is validated, so reads pay nothing for it.
    """

    def to_internal_value(self, data):
        obj = super().to_internal_value(data)
        request = self.context.get("request")
        visible = type(obj).objects.for_user(getattr(request, "user", None))
        if not visible.filter(pk=obj.pk).exists():
            self.fail("does_not_exist", pk_value=obj.pk)
        return obj


class ParentRelatedField(ResourceRelatedField):
    """The parent a new object is written into (e.g. a membership's account).

    A parent the caller cannot see answers 404, exactly like one that does not exist, so
    ids leak nothing (SPEC §2). Whether they may write into a parent they do see is a
    permission question, answered with 403 by the view.
    """

    def to_internal_value(self, data):
        if not isinstance(data, dict) or "type" not in data or "id" not in data:
            return super().to_internal_value(data)  # DJA's own errors for malformed identifiers
        expected = get_resource_type_from_queryset(self.get_queryset())
        if data["type"] != expected:
            self.conflict("incorrect_relation_type", relation_type=expected, received_type=data["type"])
        raw = data["id"]
        obj = None
        if not isinstance(raw, bool) and is_id_text(str(raw)):
            request = self.context.get("request")
            obj = self.get_queryset().for_user(getattr(request, "user", None)).filter(pk=int(raw)).first()
        if obj is None:
            raise ApiError(f"There is no {expected} {raw} here.", status_code=404)
        return obj
