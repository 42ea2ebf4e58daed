"""The OpenAPI 3 document of /api/v1/ as it is on the wire (SPEC §2, §3 "Schema and docs").

drf-spectacular walks the URLconf and drf-spectacular-jsonapi knows JSON:API's outline; this
module fills in what neither can see, without touching the resources' own code:

- `RosterAutoSchema`: resource objects with string ids, relationship objects (ids as strings
  out, strings or numbers in), compound documents with `included`, our pagination (`page`,
  `page_size`, `page[number]`, `page[size]`, `links`, `meta.pagination`), `filter[camelCase]`,
  `sort`, `include` and `fields[Type]` under their real names, JSON:API error documents for
  every status an operation can answer with, and who may call it (bearer token or session
  cookie, or nobody needed).
- What only the app knows, it declares next to its own code (this module names no app):
  a view's extra error statuses (`error_statuses = {"delete": (409,)}`), whether a POST to it
  makes something new (`post_creates`) and whether its body may be left out
  (`request_body_required`), as attributes or `@action` keywords; a serializer field's schema
  with `extend_schema_field({...})` on the field's class (or, for a method field, on its
  `get_<name>` method); an endpoint that is not a model collection with `extend_schema` on
  its view;
  authentication schemes with `OpenApiAuthenticationExtension`s in the app that owns them.
  The version and ping views are documented here.
- Hooks: drop methods a URL does not route (`as_view(http_method_names=...)`), and add the
  schema and docs pages themselves.
- `SchemaView` / `DocsView`: drf-spectacular's views, public, not JSON:API, with assets from
  drf-spectacular-sidecar (no internet needed).

Components are named `<Serializer>` (a resource object in responses), `<Serializer>Request` /
`Patched<Serializer>Request` (request documents), `<Serializer>Document` (a single-resource
response document) and `<Serializer>List` (a page of them).
"""

import re

from django.core.exceptions import FieldDoesNotExist
from django.http import Http404
from drf_spectacular.drainage import get_override
from drf_spectacular.extensions import OpenApiViewExtension
from drf_spectacular.plumbing import ResolvedComponent, force_instance, is_list_serializer, is_serializer
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from drf_spectacular_jsonapi.schemas.openapi import JsonApiAutoSchema
from rest_framework import exceptions, permissions, serializers
from rest_framework.relations import ManyRelatedField, RelatedField
from rest_framework_json_api.utils import (
    format_field_name,
    format_value,
    get_related_resource_type,
    get_resource_type_from_serializer,
)

from jsonapi.errors import DEFAULT_CODE_BY_STATUS, STABLE_CODES
from jsonapi.middleware import jsonapi_error_response
from jsonapi.negotiation import MEDIA_TYPE
from jsonapi.query import ChoiceListFilter, IdsFilter, StrictBooleanFilter
from jsonapi.relationships import RELATIONSHIP_ACTIONS

# --------------------------------------------------------------------------- shared shapes

ID_PATTERN = "^[0-9]+$"
# Resource ids on the wire are strings of integers (SPEC §2).
RESPONSE_ID = {"type": "string", "pattern": ID_PATTERN, "example": "12"}
# Clients may send relationship ids as strings or, as the association's clients do, numbers.
REQUEST_RELATIONSHIP_ID = {
    "oneOf": [{"type": "string", "pattern": ID_PATTERN}, {"type": "integer", "minimum": 0}],
    "description": "The related resource's id: a string of digits (numbers are accepted too).",
}
REQUEST_ID = {"type": "string", "pattern": ID_PATTERN, "description": "Must be the id in the URL."}

ERROR_DOCUMENT = "ErrorDocument"
ERROR_OBJECT = "Error"

ERROR_SCHEMAS = {
    ERROR_OBJECT: {
        "type": "object",
        "description": "A JSON:API error object.",
        "required": ["status", "code", "detail"],
        "properties": {
            "status": {"type": "string", "description": "The HTTP status code, as a string.", "example": "400"},
            "code": {"type": "string", "enum": sorted(STABLE_CODES), "description": "A stable, machine-readable code."},
            "detail": {"type": "string", "description": "What went wrong, for people."},
            "source": {
                "type": "object",
                "description": "What in the request the error is about.",
                "properties": {
                    "pointer": {"type": "string", "description": "JSON Pointer to the offending member of the body.",
                                "example": "/data/attributes/name"},
                    "parameter": {"type": "string", "description": "The offending query parameter.",
                                  "example": "filter[utility]"},
                },
            },
        },
    },
    ERROR_DOCUMENT: {
        "type": "object",
        "description": "A JSON:API document carrying errors.",
        "required": ["errors"],
        "properties": {
            "errors": {"type": "array", "minItems": 1, "items": {"$ref": f"#/components/schemas/{ERROR_OBJECT}"}},
            "jsonapi": {"$ref": "#/components/schemas/JsonApiVersion"},
        },
    },
}

LINK = {"type": "string", "format": "uri"}
RESOURCE_LINKS = {"type": "object", "description": "`self`: this resource's URL.", "properties": {"self": LINK}}
RELATIONSHIP_LINKS = {
    "type": "object", "required": ["self", "related"],
    "description": "`self`: the relationship's URL (its linkage); `related`: the related resource or collection.",
    "properties": {"self": LINK, "related": LINK},
}
JSONAPI_VERSION = {
    "type": "object", "description": "The JSON:API version this server speaks; on every document.",
    "required": ["version"], "properties": {"version": {"type": "string", "enum": ["1.0"]}},
}
ERROR_SCHEMAS["JsonApiVersion"] = JSONAPI_VERSION
JSONAPI_REF = {"$ref": "#/components/schemas/JsonApiVersion"}

ERROR_DESCRIPTIONS = {
    400: "Invalid request: a malformed body or query parameter (`invalid`, `required`, `unique`, ...).",
    401: "Not signed in (`not_authenticated`), or the token is unknown, expired or revoked "
         "(`authentication_failed`).",
    403: "Signed in, but not allowed to do this (`permission_denied`).",
    404: "No such resource, or one the caller may not see (`not_found`).",
    406: "The `Accept` header excludes `application/vnd.api+json` (`not_acceptable`).",
    409: "Conflicts with the current state or the URL (`conflict`, `duplicate`, `last_admin`, ...).",
    413: "The request body is larger than 2 MiB (`request_too_large`).",
    415: "The request body is not `application/vnd.api+json` (`unsupported_media_type`).",
    414: "The request line is longer than the HTTP server in front of the API accepts (gunicorn: 4094 "
         "bytes); that server answers itself, with an HTML page.",
    429: "Too many attempts; try again later (`too_many_attempts`, `throttled`).",
    503: "The database does not answer (`service_unavailable`).",
}

# `included` of a related-resource document: resource objects (an item schema, which generators need).
ANY_RESOURCES = {"type": "array", "items": {"type": "object"}}
PAGINATION_LINK = {"type": "string", "format": "uri", "nullable": True}
PAGINATION_LINKS = {
    "type": "object",
    "required": ["first", "last", "next", "prev"],
    "properties": dict.fromkeys(("first", "last", "next", "prev"), PAGINATION_LINK),
}
PAGINATION_META = {
    "type": "object",
    "required": ["pagination"],
    "properties": {
        "pagination": {
            "type": "object",
            "required": ["page", "pages", "count"],
            "properties": {
                "page": {"type": "integer", "minimum": 1, "description": "This page's number."},
                "pages": {"type": "integer", "minimum": 1, "description": "How many pages there are."},
                "count": {"type": "integer", "minimum": 0, "description": "How many resources in all pages."},
            },
        },
    },
}

# Only the JSON:API spellings are documented: code generators turn `page[size]` and `page_size`
# alike into `page_size`, and two parameters of one name do not compile. The server still
# takes the association's `page` and `page_size` (SPEC §2).
PAGE_PARAMETERS = [
    ("page[number]", "The page number (1-based); `page` is accepted too."),
    ("page[size]", "Resources per page: default 50, at most 500 (larger sizes are cut to 500); "
                   "`page_size` is accepted too."),
]

def _class_names(obj):
    return {cls.__name__ for cls in type(obj).__mro__}


def _declared_field_schema(field):
    """The schema a field's app declared for it with `extend_schema_field({...})`: on the field's
    class, or for a method field (which the generator cannot type) on its `get_<name>` method.

    It wins over what the generator reads off the field (e.g. `minLength: 1`), which only
    fills in the rest (`readOnly`, `writeOnly`, `nullable`, ...).
    """
    override = get_override(field, "field")
    if override is None and isinstance(field, serializers.SerializerMethodField) and field.parent is not None:
        override = get_override(getattr(field.parent, field.method_name, None), "field")
    return override if isinstance(override, dict) else None


# --------------------------------------------------------------------------- the schema class


def _may_be_empty(field):
    """Whether a to-one relationship may read `"data": null`: unless it is a non-null foreign key
    of the serializer's model (its linkage is that column), assume it may. A required one that
    is never null lets a typed client write back what it read (issue 12, openapi-typescript)."""
    model = getattr(getattr(getattr(field, "parent", None), "Meta", None), "model", None)
    source = getattr(field, "source", None)
    if model is None or not source or "." in source:
        return True
    try:
        model_field = model._meta.get_field(source)
    except FieldDoesNotExist:
        return True
    return not (model_field.many_to_one or model_field.one_to_one) or model_field.null


class RosterAutoSchema(JsonApiAutoSchema):
    """drf-spectacular-jsonapi's AutoSchema, made to describe the documents Roster really sends."""

    # ---- who may call it

    def _is_public(self):
        view = self.view
        if getattr(view, "authentication_classes", None) == []:
            return True
        return any(isinstance(p, permissions.AllowAny) for p in view.get_permissions())

    def get_auth(self):
        if self._is_public():
            return []
        return [requirement for requirement in super().get_auth() if requirement]

    def get_operation(self, path, path_regex, path_prefix, method, registry):
        if self._action() in RELATIONSHIP_ACTIONS:
            self.registry, self.path, self.method = registry, path, method.upper()
            operation = self._relationship_operation(path, method.lower())
        else:
            operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is not None and self._is_public():
            operation["security"] = []  # explicitly public
        if operation is not None and "201" in operation.get("responses", {}):
            operation["responses"]["201"].setdefault("headers", {})["Location"] = {
                "schema": LINK, "description": "The URL of the resource created."}
        for name, schema in ERROR_SCHEMAS.items():
            registry.register_on_missing(
                ResolvedComponent(name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema))
        return operation

    # ---- relationship and related endpoints (jsonapi.relationships)

    def _relationship_operation(self, path, method):
        """`/{collection}/{id}/relationships/{name}/` and `/{collection}/{id}/{name}/` (one path per
        relationship, expanded by preprocess_endpoints)."""
        segments = path.strip("/").split("/")
        name, collection = segments[-1], segments[2]
        related = self._action() == "related_retrieve"
        serializer = self.view.serializer_class(context={})
        field = serializer.fields[format_value(name, "underscore")]
        many = isinstance(field, ManyRelatedField)
        resource_type = get_resource_type_from_serializer(serializer)
        target = get_related_resource_type(field)
        operation_name = format_value(collection.replace("-", "_"), "underscore")
        verb = {"get": "retrieve", "patch": "replace", "post": "add", "delete": "remove"}[method]
        kind = "related" if related else "relationships"
        operation = {
            "operationId": f"{operation_name}_{kind}_{format_value(name, 'underscore')}_{verb}",
            "tags": [collection],
            "parameters": [{"in": "path", "name": "id", "required": True,
                            "schema": {"type": "string", "pattern": ID_PATTERN},
                            "description": f"The {resource_type}'s id."}],
            "security": [requirement for requirement in super().get_auth() if requirement],
        }
        statuses = [401, 404, 406, 414] + ([400] if method == "get" else [400, 403, 409, 413, 415])
        if related:
            operation["summary"] = (f"The {target} collection of this {resource_type} (`{name}`)" if many
                                    else f"The {target} of this {resource_type} (`{name}`)")
            operation["description"] = (
                "The related collection, served like its own list (`include`, `fields[T]`, `sort`, "
                "`filter[...]`, `page[...]`), holding what the caller may see." if many else
                "The related resource (`data: null` when there is none; 404 when the caller may not see it).")
            schema = self._related_document(field, many)
            if many:
                operation["parameters"] += [
                    {"in": "query", "name": param, "required": False, "description": description,
                     "schema": {"type": "integer", "minimum": 1}} for param, description in PAGE_PARAMETERS]
                operation["parameters"] += [
                    {"in": "query", "name": param, "required": False, "schema": {"type": "string"},
                     "description": description}
                    for param, description in (("include", "Related resources of the listed ones to include."),
                                                ("sort", "Sort fields, as on the related collection."))]
        else:
            unbounded = getattr(field, "unbounded", False)
            identifier = self._relationship(field, "response")["properties"]["data"]
            properties = {"data": identifier, "links": {"type": "object", "properties": {
                "self": LINK, "related": LINK, **PAGINATION_LINKS["properties"]}}, "jsonapi": JSONAPI_REF}
            if unbounded:
                properties["meta"] = PAGINATION_META
                operation["parameters"] += [
                    {"in": "query", "name": param, "required": False, "description": description,
                     "schema": {"type": "integer", "minimum": 1}} for param, description in PAGE_PARAMETERS]
            schema = {"type": "object", "required": ["data"], "properties": properties}
            operation["summary"] = {
                "get": f"The linkage of `{name}` (resource identifiers)" + (", paginated" if unbounded else ""),
                "patch": f"Replace every member of `{name}`",
                "post": f"Add members to `{name}`",
                "delete": f"Remove members from `{name}`",
            }[method]
            if method != "get":
                operation["description"] = "Under the same rules as a PATCH of the resource's relationship."
                request_identifier = self._relationship(field, "request")["properties"]["data"]
                operation["requestBody"] = {"required": True, "content": {MEDIA_TYPE: {"schema": {
                    "type": "object", "required": ["data"], "properties": {"data": request_identifier}}}}}
        responses = {"200": {"description": operation["summary"] + ".",
                             "content": {MEDIA_TYPE: {"schema": schema}}}}
        for status in statuses:
            responses[str(status)] = self._error_response(status)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _related_document(self, field, many):
        from django.utils.module_loading import import_string

        parent = field.parent if not many else field.parent
        included = getattr(type(parent), "included_serializers", {}) or {}
        serializer_class = included.get(field.field_name)
        if isinstance(serializer_class, str):
            serializer_class = import_string(serializer_class)
        if serializer_class is None:
            target = get_related_resource_type(field)
            return {"type": "object", "required": ["data"], "properties": {
                "data": {"type": "array", "items": {"type": "object"}} if many else {
                    "type": "object", "nullable": True, "properties": {"type": {"enum": [target]}}},
                "jsonapi": JSONAPI_REF}}
        component = self.resolve_serializer(force_instance(serializer_class), "response")
        if many:
            return {"type": "object", "required": ["data", "links", "meta"], "properties": {
                "data": {"type": "array", "items": component.ref}, "included": ANY_RESOURCES,
                "links": PAGINATION_LINKS, "meta": PAGINATION_META, "jsonapi": JSONAPI_REF}}
        return {"type": "object", "required": ["data"], "properties": {
            "data": {**component.ref, "nullable": True}, "included": ANY_RESOURCES,
            "links": {"type": "object"}, "meta": {"type": "object"}, "jsonapi": JSONAPI_REF}}

    # ---- what it is

    def _action(self):
        return getattr(self.view, "action", None)

    def _is_create_operation(self):
        if self.method != "POST":
            return False
        # Other POSTs that make something new (201) say so: `post_creates = True`.
        return self._action() == "create" or bool(getattr(self.view, "post_creates", False))

    def _get_format_parameters(self):
        return []  # every view refuses query parameters it does not define, `format` included

    # ---- query parameters

    def _get_pagination_parameters(self):
        if not self._is_list_view() or self._get_paginator() is None:
            return []
        return [
            {"in": "query", "name": name, "required": False, "description": description,
             "schema": {"type": "integer", "minimum": 1}}
            for name, description in PAGE_PARAMETERS
        ]

    def _get_filter_parameters(self):
        if not self._is_list_view():
            return []
        parameters = []
        filterset_class = getattr(self.view, "filterset_class", None)
        if filterset_class is not None:
            for name, filter_ in filterset_class.base_filters.items():
                parameters.append({
                    "in": "query",
                    "name": f"filter[{format_value(name, 'camelize')}]",
                    "required": False,
                    **_filter_schema(filter_),
                })
        sortable = self._sort_fields()
        if sortable:
            parameters.append({
                "in": "query",
                "name": "sort",
                "required": False,
                "description": "Comma-separated sort fields; a leading `-` sorts descending.",
                "schema": {"type": "array", "minItems": 1, "uniqueItems": True,
                           "items": {"type": "string", "enum": [t for f in sortable for t in (f, f"-{f}")]}},
                "style": "form",
                "explode": False,
            })
        return parameters

    def _sort_fields(self):
        fields = getattr(self.view, "ordering_fields", None) or ()
        if fields == "__all__":
            return []
        names = [format_field_name(name) for name in fields]
        return [*names, "id"] if "id" not in names else names

    def _process_override_parameters(self, direction="request"):
        # JsonApiAutoSchema's include/fields parameters list write-only fields and only the
        # primary type; ours name every type a response can hold.
        result = super(JsonApiAutoSchema, self)._process_override_parameters(direction=direction)
        # Only model collections take `include` and `fields[...]`; other views refuse them.
        if self.method == "GET" and "RosterViewSet" in _class_names(self.view):
            serializer = self._resource_serializer()
            if serializer is not None:
                result = {**self._include_parameter(serializer), **self._fields_parameters(serializer), **result}
        return result

    def _resource_serializer(self):
        """The JSON:API resource serializer of a GET response, if there is one."""
        try:
            serializer = self.get_response_serializers()
        except Exception:
            return None
        if isinstance(serializer, dict):
            serializer = serializer.get(200) or serializer.get("200")
        if isinstance(serializer, OpenApiResponse):
            serializer = serializer.response
        serializer = force_instance(serializer)
        if is_list_serializer(serializer):
            serializer = serializer.child
        if is_serializer(serializer) and self.is_json_api_resource_serializer(serializer):
            return serializer
        return None

    def _include_parameter(self, serializer):
        paths = list(_include_paths(type(serializer)))
        if not paths:
            return {}
        return {("include", "query"): {
            "in": "query",
            "name": "include",
            "required": False,
            "description": "Related resources to return in the top-level `included` (comma-separated paths).",
            "schema": {"type": "array", "minItems": 1, "uniqueItems": True,
                       "items": {"type": "string", "enum": paths}},
            "style": "form",
            "explode": False,
        }}

    def _fields_parameters(self, serializer):
        result = {}
        for resource_type, serializer_class in [
            (get_resource_type_from_serializer(serializer), type(serializer)),
            *_included_types(type(serializer)).items(),
        ]:
            name = f"fields[{resource_type}]"
            if (name, "query") in result:
                continue
            fields = [format_field_name(f.field_name) for f in serializer_class().fields.values()
                      if not f.write_only and f.field_name != "id"]
            result[name, "query"] = {
                "in": "query",
                "name": name,
                "required": False,
                "description": f"Sparse fieldset: only these attributes and relationships of `{resource_type}` "
                               "resources (comma-separated).",
                "schema": {"type": "array", "minItems": 1, "uniqueItems": True,
                           "items": {"type": "string", "enum": fields}},
                "style": "form",
                "explode": False,
            }
        return result

    # ---- serializers → resource objects

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        schema = _declared_field_schema(field)
        if schema is not None:
            return {**self._get_serializer_field_meta(field, direction), **schema}
        if isinstance(field, (RelatedField, ManyRelatedField)):
            # Relationship objects are built by `_relationship`; this only keeps the
            # generator from guessing at computed sources such as `visible_memberships`.
            schema = {"type": "string", **self._get_serializer_field_meta(field, direction)}
            return {"type": "array", "items": schema} if isinstance(field, ManyRelatedField) else schema
        return super()._map_serializer_field(field, direction, bypass_extensions)

    def _map_basic_serializer(self, serializer, direction):
        plain = super(JsonApiAutoSchema, self)._map_basic_serializer(serializer, direction)
        if not self.is_json_api_resource_serializer(serializer):
            return plain
        return self._resource_object(force_instance(serializer), plain, direction)

    def _resource_object(self, serializer, plain, direction):
        properties = plain.get("properties", {})
        required = set(plain.get("required", []))
        attributes, relationships = {}, {}
        required_attributes, required_relationships = [], []
        for field in serializer.fields.values():
            if field.field_name == "id" or isinstance(field, serializers.HiddenField):
                continue
            if (direction == "response" and field.write_only) or (direction == "request" and field.read_only):
                continue
            name = format_field_name(field.field_name)
            is_required = direction == "request" and field.field_name in required
            if isinstance(field, (RelatedField, ManyRelatedField)):
                relationships[name] = self._relationship(field, direction)
                if is_required:
                    required_relationships.append(name)
            elif field.field_name in properties:
                attributes[name] = properties[field.field_name]
                if is_required:
                    required_attributes.append(name)

        resource_type = get_resource_type_from_serializer(serializer)
        schema = {
            "type": "object",
            "required": ["type"],
            "additionalProperties": False,
            "properties": {"type": {"type": "string", "enum": [resource_type]}},
        }
        if direction == "response":
            schema["required"].append("id")
            schema["properties"]["id"] = RESPONSE_ID
        elif self.method == "PATCH":
            schema["required"].append("id")
            schema["properties"]["id"] = REQUEST_ID
        for member, values, needed in (("attributes", attributes, required_attributes),
                                       ("relationships", relationships, required_relationships)):
            if not values:
                continue
            # Unknown members are refused (400) in requests and never sent in responses.
            member_schema = {"type": "object", "additionalProperties": False, "properties": values}
            if needed:
                member_schema["required"] = needed
                schema["required"].append(member)
            schema["properties"][member] = member_schema
        if direction == "response":
            schema["properties"]["links"] = RESOURCE_LINKS
            schema["properties"]["meta"] = {"type": "object"}
        return schema

    def _relationship(self, field, direction):
        many = isinstance(field, ManyRelatedField)
        identifier = {
            "type": "object",
            "required": ["type", "id"],
            "properties": {
                "type": {"type": "string", "enum": [get_related_resource_type(field)]},
                "id": RESPONSE_ID if direction == "response" else REQUEST_RELATIONSHIP_ID,
            },
        }
        if direction == "response":
            identifier["additionalProperties"] = False
        if many:
            data = {"type": "array", "items": identifier}
        elif field.allow_null or (direction == "response" and _may_be_empty(field)):
            data = {**identifier, "nullable": True}  # a to-one relationship may be empty
        else:
            data = identifier
        unbounded = getattr(field, "unbounded", False)
        relationship = {"type": "object", "required": ["data"], "properties": {"data": data}}
        if field.read_only and direction == "response":
            relationship["readOnly"] = True
        if direction == "response":
            relationship["properties"]["links"] = RELATIONSHIP_LINKS
            relationship["properties"]["meta"] = (
                {"type": "object", "properties": {"count": {"type": "integer", "minimum": 0}}}
                if many else {"type": "object"}
            )
            if unbounded:
                # SPEC §2: a relationship that grows without bound has no linkage unless included
                relationship["required"] = ["links", "meta"]
                relationship["properties"]["meta"]["required"] = ["count"]
                relationship["description"] = (
                    "Unbounded: `links` and `meta.count` (what the caller may see); `data` only when "
                    "included. Follow `links.related` for the collection.")
        return relationship

    # ---- request bodies

    def _get_request_body(self, direction="request"):
        body = super()._get_request_body(direction)
        if body is not None and not getattr(self.view, "request_body_required", True):
            body["required"] = False  # e.g. a keep-alive PATCH, which needs no body
        return body

    # ---- responses

    def _get_response_for_code(self, serializer, status_code, media_types=None, direction="response"):
        description = ""
        target = serializer
        if isinstance(target, OpenApiResponse):
            target, description = target.response, target.description
        target = force_instance(target)
        many = is_list_serializer(target)
        resource = target.child if many else target
        if not (is_serializer(resource) and self.is_json_api_resource_serializer(resource)):
            return super(JsonApiAutoSchema, self)._get_response_for_code(
                serializer, status_code, media_types, direction)
        many = many or (self._is_list_view(target) and str(status_code).startswith("2"))
        return {
            "description": description or ("A page of resources." if many else "A resource."),
            "content": {MEDIA_TYPE: {"schema": self._document(resource, many)}},
        }

    def _document(self, serializer, many):
        component = self.resolve_serializer(serializer, "response")
        paginated = many and self._get_paginator() is not None
        name = f"{component.name}{'List' if paginated else 'Array' if many else 'Document'}"
        properties = {"data": {"type": "array", "items": component.ref} if many else component.ref}
        required = ["data"]
        included = [self.resolve_serializer(force_instance(s), "response").ref
                    for s in _included_types(type(serializer)).values()]
        if included:
            properties["included"] = {
                "type": "array",
                "description": "The resources named by `include`.",
                "items": included[0] if len(included) == 1 else {"oneOf": included},
            }
        properties["links"] = {"type": "object"}
        properties["meta"] = {"type": "object"}
        properties["jsonapi"] = JSONAPI_REF
        if paginated:
            properties["links"] = PAGINATION_LINKS
            properties["meta"] = PAGINATION_META
            required += ["links", "meta"]
        document = ResolvedComponent(
            name=name,
            type=ResolvedComponent.SCHEMA,
            object=name,
            schema={"type": "object", "required": required, "properties": properties},
        )
        self.registry.register_on_missing(document)
        return document.ref

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        for status in self._error_statuses():
            responses.setdefault(str(status), self._error_response(status))
        return dict(sorted(responses.items()))

    def _error_response(self, status):
        if status == 414:
            return {"description": ERROR_DESCRIPTIONS[status], "content": {"text/html": {"schema": {"type": "string"}}}}
        response = {
            "description": ERROR_DESCRIPTIONS[status],
            "content": {MEDIA_TYPE: {"schema": {"$ref": f"#/components/schemas/{ERROR_DOCUMENT}"}}},
        }
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {
                "schema": {"type": "string"}, "description": "`Bearer realm=\"api\"`"}}
        return response

    def _error_statuses(self):
        """Every error status this operation can answer with (SPEC §2, §3)."""
        view, method = self.view, self.method
        statuses = {400, 406, 414}  # unknown query parameters; an Accept without JSON:API; a huge URL
        has_body = method in ("POST", "PATCH", "PUT")
        if not self._is_public():
            statuses |= {401, 404}
            if method != "GET":
                statuses.add(403)
        if has_body:
            statuses |= {413, 415}  # too large; not application/vnd.api+json
            if self._takes_document():
                statuses |= {403, 409}  # client-generated ids; a `type` or `id` other than the endpoint's
        # What only the view knows (a DELETE refused with `last_admin`, a GET only some callers
        # may make, ...): `error_statuses = {"delete": (409,), ...}`, by lowercase method.
        statuses.update((getattr(view, "error_statuses", None) or {}).get(method.lower(), ()))
        return sorted(statuses)

    def _takes_document(self):
        """Does this operation take a JSON:API document as its body?"""
        request = self.get_request_serializer()
        if isinstance(request, dict):
            return MEDIA_TYPE in request
        return request is not None


def _filter_schema(filter_):
    label = str(filter_.label) if getattr(filter_, "label", None) else None
    if isinstance(filter_, IdsFilter):
        result = {"description": "Comma-separated ids.",
                  "schema": {"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$", "example": "177,178"}}
    elif isinstance(filter_, StrictBooleanFilter):
        result = {"schema": {"type": "string", "enum": ["true", "false", "1", "0"]}}
    elif isinstance(filter_, ChoiceListFilter):
        result = {"description": f"Comma-separated, each one of: {', '.join(filter_.allowed)}.",
                  "schema": {"type": "array", "minItems": 1, "uniqueItems": True,
                             "items": {"type": "string", "enum": filter_.allowed}},
                  "style": "form", "explode": False}
    elif getattr(filter_, "extra", {}).get("choices"):
        result = {"schema": {"type": "string", "enum": [value for value, _ in filter_.extra["choices"]]}}
    elif type(filter_).__name__ in ("IsoDateTimeFilter", "DateTimeFilter"):
        result = {"schema": {"type": "string", "format": "date-time"}}
    elif type(filter_).__name__ == "DateFilter":
        result = {"schema": {"type": "string", "format": "date"}}
    elif type(filter_).__name__ in ("NumberFilter",):
        result = {"schema": {"type": "number"}}
    else:
        result = {"schema": {"type": "string", "minLength": 1}}
    if label and "description" not in result:
        result["description"] = label
    return result


# How deep `include` paths go: only direct relationships (nested paths are a 400).
INCLUDE_DEPTH = 1


def _included_serializers(serializer_class):
    included = getattr(serializer_class, "included_serializers", None) or {}
    return [(name, included[name]) for name in included]


def _include_paths(serializer_class, prefix="", depth=INCLUDE_DEPTH):
    if depth == 0:
        return
    for name, included in _included_serializers(serializer_class):
        path = f"{prefix}{format_field_name(name)}"
        yield path
        yield from _include_paths(included, f"{path}.", depth - 1)


def _included_types(serializer_class, depth=INCLUDE_DEPTH):
    """Resource type → serializer class of everything `include` can add to a document."""
    found = {}
    for _, included in _included_serializers(serializer_class):
        found.setdefault(get_resource_type_from_serializer(included), included)
        if depth > 1:
            for resource_type, nested in _included_types(included, depth - 1).items():
                found.setdefault(resource_type, nested)
    return found


# --------------------------------------------------------------------------- hooks


def preprocess_endpoints(endpoints, **kwargs):
    """Drop methods a route does not serve (views routed with `http_method_names=`) or does
    not document (`schema_methods=`: served for compatibility, described on another route);
    one path per relationship for the relationship and related routes (jsonapi.routers),
    with the writes only where the relationship is writable."""
    result = []
    for path, path_regex, method, callback in _expand_relationships(endpoints):
        initkwargs = getattr(callback, "initkwargs", None) or {}
        allowed = initkwargs.get("schema_methods") or initkwargs.get("http_method_names")
        if allowed and method.lower() not in allowed:
            continue
        result.append((path, path_regex, method, callback))
    return result


def _expand_relationships(endpoints):
    group = re.compile(r"\(\?P<relationship>([^)]*)\)")
    for path, path_regex, method, callback in endpoints:
        match = group.search(path_regex)
        if match is None:
            yield path, path_regex, method, callback
            continue
        view_class = callback.cls
        meta = getattr(view_class.serializer_class, "Meta", None)
        writable = {format_field_name(name) for name in getattr(meta, "writable_relationships", ())}
        for name in match.group(1).split("|"):
            name = name.replace("\\", "")
            if method.lower() != "get" and name not in writable:
                continue
            yield (path.replace("{relationship}", name), path_regex.replace(match.group(0), re.escape(name)),
                   method, callback)


SCHEMA_PATHS = {
    "/api/v1/schema/": {
        "get": {
            "operationId": "schema_retrieve",
            "summary": "This OpenAPI 3 document",
            "description": "YAML by default; JSON with `?format=json` or "
                           "`Accept: application/vnd.oai.openapi+json`.",
            "tags": ["Schema"],
            "security": [],
            "parameters": [{"in": "query", "name": "format", "required": False,
                            "schema": {"type": "string", "enum": ["json", "yaml"]}}],
            "responses": {"200": {
                "description": "The OpenAPI document.",
                "content": {
                    "application/vnd.oai.openapi": {"schema": {"type": "string"}},
                    "application/yaml": {"schema": {"type": "string"}},
                    "application/vnd.oai.openapi+json": {"schema": {"type": "object"}},
                    "application/json": {"schema": {"type": "object"}},
                },
            }},
        },
    },
    "/api/v1/docs/": {
        "get": {
            "operationId": "docs_retrieve",
            "summary": "Interactive documentation of this API (Swagger UI)",
            "tags": ["Schema"],
            "security": [],
            "responses": {"200": {"description": "An HTML page.",
                                  "content": {"text/html": {"schema": {"type": "string"}}}}},
        },
    },
}


def postprocess_schema(result, generator, request, public):
    """Add the schema and docs pages themselves; name the security schemes once for all."""
    result.setdefault("paths", {}).update(SCHEMA_PATHS)
    result["paths"] = dict(sorted(result["paths"].items()))
    _title_resource_types(result.get("components", {}).get("schemas", {}))
    return result


def _title_resource_types(schemas) -> None:
    """Title each resource's own `type` enum "ResourceType".

    Generators name an inline enum after its parent and property: `Product.type` would be a
    class `ProductType`, colliding with the `ProductType` resource (openapi-python-client then
    drops every Product schema). With the title it is `ProductResourceType`."""
    for schema in schemas.values():
        properties = schema.get("properties", {})
        data = properties.get("data", {})
        for holder in (properties, data.get("properties", {}) if isinstance(data, dict) else {}):
            kind = holder.get("type")
            if isinstance(kind, dict) and "enum" in kind and "title" not in kind:
                kind["title"] = "ResourceType"


# --------------------------------------------------------------------------- endpoints the generator cannot read


def _view_extension(target, methods):
    """Document `target` (a view class, or its dotted path) with `extend_schema` per method or
    action.

    `methods()` returns `extend_schema_view`'s keyword arguments; it runs at generation
    time, so the serializers it names are imported only once every app is loaded.
    """

    def view_replacement(self):
        return extend_schema_view(**methods())(type(self.target_class.__name__, (self.target_class,), {}))

    name = (target if isinstance(target, str) else target.__name__).rsplit(".", 1)[-1] + "Schema"
    return type(name, (OpenApiViewExtension,), {"target_class": target, "view_replacement": view_replacement})


def _service_views():
    from jsonapi.views import PingSerializer, VersionSerializer

    return {
        "VersionView": {"get": extend_schema(summary="The server's version", responses=VersionSerializer)},
        "PingView": {"get": extend_schema(summary="Whether the server and its database answer",
                                          responses=PingSerializer)},
    }


VersionViewSchema = _view_extension("jsonapi.views.VersionView", lambda: _service_views()["VersionView"])
PingViewSchema = _view_extension("jsonapi.views.PingView", lambda: _service_views()["PingView"])


# drf-spectacular's views read DEFAULT_SCHEMA_CLASS (this module) when they are imported,
# so they come after RosterAutoSchema.
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView  # noqa: E402


class _ErrorDocumentsMixin:
    """Errors as JSON:API error documents, like every other answer under /api/ (SPEC §2).

    These views render YAML, JSON or HTML, not JSON:API, and the API's exception handler
    only knows JSON:API-rendered views, so they write their error documents themselves.
    """

    def handle_exception(self, exc):
        if isinstance(exc, Http404):
            exc = exceptions.NotFound()
        if not isinstance(exc, exceptions.APIException):
            raise exc
        status = exc.status_code
        return jsonapi_error_response(status, DEFAULT_CODE_BY_STATUS.get(status, "invalid"), str(exc.detail),
                                      headers={"Vary": "Accept"})


class SchemaView(_ErrorDocumentsMixin, SpectacularAPIView):
    """The OpenAPI document: public, YAML or JSON, not a JSON:API document."""

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class DocsView(_ErrorDocumentsMixin, SpectacularSwaggerSplitView):
    """Swagger UI over the document, with its assets served by us (drf-spectacular-sidecar),
    and its init script from this same URL with `?script`, not inline (the
    Content-Security-Policy allows no inline script or style)."""

    title = "Roster API"
    template_name = "jsonapi/swagger_ui.html"
