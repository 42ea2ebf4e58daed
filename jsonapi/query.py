"""Query parameters: only those JSON:API or the endpoint defines, `sort` and `filter[...]`
through strict backends and filters, and ids as the API spells them (SPEC §2).

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

import re

from django.core.exceptions import ValidationError as DjangoValidationError
from django_filters import rest_framework as django_filters
from rest_framework import exceptions
from rest_framework_json_api.django_filters import DjangoFilterBackend as DJAFilterBackend
from rest_framework_json_api.filters import OrderingFilter as DJAOrderingFilter
from rest_framework_json_api.utils import format_field_name, format_value, undo_format_field_name

from jsonapi.errors import ApiError, error_object

# Largest id we look up: ids beyond a signed 64-bit integer would overflow the database driver.
MAX_ID_DIGITS = 18
ID_PATTERN = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"


def is_id_text(text) -> bool:
    """ASCII digits only, at most MAX_ID_DIGITS of them (`str.isdigit` also takes "²")."""
    return isinstance(text, str) and 0 < len(text) <= MAX_ID_DIGITS and text.isascii() and text.isdigit()


# `page[...]` members other than number and size are a 400 (a client asking for page[offset]
# must not silently get page 1)
JSONAPI_PARAMETER = re.compile(r"^(sort|include|page|page_size)$|^(filter|fields)\[[\w.\-]+\]$|^page\[(number|size)\]$")
COLLECTION_ONLY = re.compile(r"^(sort|page|page_size)$|^(filter|page)\[")


def check_query_parameters(request, *, extra=(), collection=False, resource=True):
    """400 for any query parameter JSON:API or the endpoint does not define (SPEC §2).

    `collection`: sort, filter and page make sense; `resource`: include and fields do.
    """
    for name in request.query_params:
        if name in extra:
            continue
        if not JSONAPI_PARAMETER.match(name) or (COLLECTION_ONLY.match(name) and not collection) or (
                not resource and (name == "include" or name.startswith("fields["))):
            raise ApiError(f"Unknown query parameter `{name}` here.", parameter=name)
        if not name.startswith("filter") and len(request.query_params.getlist(name)) > 1:
            raise ApiError(f"Query parameter `{name}` may be given only once.", parameter=name)


def check_sparse_fields(request, serializer_class):
    """400 for `fields[T]` naming a type the document cannot hold or a member T does not have."""
    from rest_framework_json_api.utils import get_resource_type_from_serializer

    types = {}

    def add(cls):
        resource_type = get_resource_type_from_serializer(cls)
        types.setdefault(resource_type, cls)

    add(serializer_class)
    for included in (getattr(serializer_class, "included_serializers", None) or {}).values():
        add(included)
    for name, value in request.query_params.items():
        if not (name.startswith("fields[") and name.endswith("]")):
            continue
        cls = types.get(name[7:-1])
        if cls is None:
            raise ApiError(f"`{name}`: no `{name[7:-1]}` resources are in this document.", parameter=name)
        members = {format_field_name(field_name) for field_name, field in cls().fields.items()
                   if not field.write_only and field_name != "id"}
        for member in value.split(","):
            if member not in members:
                raise ApiError(f"`{member}` is not a member of `{name[7:-1]}`.", parameter=name)


def is_wire_name(name: str) -> bool:
    """Is this a member name as the API spells it (camelCase, dots for paths)?"""
    return all(part and format_value(undo_format_field_name(part), "camelize") == part for part in name.split("."))


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
