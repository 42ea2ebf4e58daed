"""Relationship and related-resource endpoints of every resource (SPEC §2, JSON:API 1.0
"Fetching Relationships" and "Updating Relationships").

`RelationshipsMixin` is part of every resource viewset (`jsonapi.viewsets.RosterViewSet`);
`jsonapi.routers.Router` routes, for each relationship its serializer declares:

- `GET {collection}/{id}/relationships/{name}/`: the linkage. A to-one or bounded to-many
  relationship answers its `data` as the resource shows it. An unbounded one (a
  `VisibleRelatedField(unbounded=True)`) answers the identifiers of what the caller may
  see of it, in id order and paginated like a collection (`page`/`page[size]`, with
  `links.first/last/next/prev` and `meta.pagination`), which JSON:API allows for to-many
  linkage.
- `GET {collection}/{id}/{name}/`: the related resource (to-one: its document, `data: null`
  when there is none, 404 when the caller may not see it), or the related collection
  (to-many: the related type's own list, filtered to this resource, with every query
  parameter that list takes: include, fields, sort, filter, page).
- `PATCH` (replace), `POST` (add), `DELETE` (remove) on the relationship URL of a to-many
  relationship the serializer lists in `Meta.writable_relationships`: with resource
  identifier objects, applied as a PATCH of the resource's relationship, so the same
  validation, permission rules and service (and its audit entry) apply; 200 with the
  resulting linkage.

The parent resource is read through `for_user()` first: whoever cannot see it gets 404.
"""

from django.http import Http404
from rest_framework import status
from rest_framework.relations import ManyRelatedField
from rest_framework.response import Response
from rest_framework_json_api.utils import (
    format_field_name,
    get_resource_type_from_model,
    get_resource_type_from_serializer,
    is_relationship_field,
)

from core.errors import Forbidden
from jsonapi import planning
from jsonapi.encoding import Document
from jsonapi.errors import ApiError
from jsonapi.links import collection_of, linker_for, relationship_links

RELATIONSHIP_WRITES = {"relationship_replace": "replace", "relationship_add": "add",
                       "relationship_remove": "remove"}
RELATIONSHIP_ACTIONS = {"relationship_retrieve", "related_retrieve", *RELATIONSHIP_WRITES}
PAGE_PARAMETERS = {"page", "page_size", "page[number]", "page[size]"}


def relationship_fields(serializer_class) -> dict:
    """wire name → field name of the serializer's readable relationships."""
    fields = serializer_class().fields
    return {format_field_name(name): name for name, field in fields.items()
            if is_relationship_field(field) and not field.write_only}


def _target_type(field) -> str:
    relation = field.child_relation if isinstance(field, ManyRelatedField) else field
    resource_type = relation.get_resource_type_from_included_serializer()
    if resource_type is None:
        model = getattr(relation, "model", None)
        queryset = relation.get_queryset() if model is None else None
        if model is None and queryset is None:
            # a read-only relation has no queryset: the model field it reads names the target
            parent = field.parent
            model = parent.Meta.model._meta.get_field(field.source).related_model
        resource_type = get_resource_type_from_model(model or queryset.model)
    return resource_type


class RelationshipsMixin:
    """The relationship and related endpoints of a resource viewset (see the module)."""

    relationship_routes = True
    #: the view serving a related collection sets this: only what is related to the parent
    related_filter = None

    @classmethod
    def relationship_wire_names(cls):
        serializer_class = getattr(cls, "serializer_class", None)
        if serializer_class is None or not cls.relationship_routes:
            return []
        return sorted(relationship_fields(serializer_class))

    def takes_identifiers(self) -> bool:
        """Whether this request's body is resource identifiers (jsonapi.parsers)."""
        return getattr(self, "action", None) in RELATIONSHIP_WRITES

    # ----------------------------------------------------------------- helpers

    def _relationship(self, instance):
        """The bound serializer field of the relationship named in the URL."""
        wire = self.kwargs["relationship"]
        # no view in the context: DJA would check the query's `include` (the related view's) here
        serializer = self.get_serializer_class()(instance, context={"request": self.request})
        name = relationship_fields(type(serializer)).get(wire)
        if name is None:
            raise Http404
        return wire, serializer.fields[name]

    def _links(self, instance, wire):
        resource_type = get_resource_type_from_serializer(self.get_serializer_class())
        url = linker_for(self.request).resource(resource_type, instance.pk)
        return relationship_links(url, wire) if url else {}

    @staticmethod
    def _linkage(field, instance):
        value = field.get_attribute(instance)
        if isinstance(field, ManyRelatedField):
            return [dict(item) for item in field.to_representation(value)]
        # A null foreign key comes back as a PKOnlyObject without a pk, not as None.
        return None if getattr(value, "pk", value) is None else dict(field.to_representation(value))

    def check_relationship_query(self, request):
        for name in request.query_params:
            if name not in PAGE_PARAMETERS:
                raise ApiError(f"Unknown query parameter `{name}` here.", parameter=name)

    # ----------------------------------------------------------------- GET

    def relationship_retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        wire, field = self._relationship(instance)
        links = self._links(instance, wire)
        if getattr(field, "unbounded", False):
            return self._unbounded_linkage(instance, field, links)
        return Response(Document({"data": self._linkage(field, instance), "links": links}))

    def _unbounded_linkage(self, instance, field, links):
        model = type(instance)
        target = _target_type(field)
        ids = planning.related_visible(model, field.source, self.request.user).filter(
            _parent=instance.pk).order_by("pk").values_list("pk", flat=True)
        page = self.paginate_queryset(ids)
        paginated = self.get_paginated_response(None).data
        document = {"data": [{"type": target, "id": str(pk)} for pk in page],
                    "links": {**links, **paginated["links"]}, "meta": paginated["meta"]}
        return Response(Document(document))

    def related_retrieve(self, request, *args, **kwargs):
        instance = self.get_object()
        _wire, field = self._relationship(instance)
        target = collection_of(_target_type(field))
        if target is None:
            raise Http404
        _prefix, viewset, _basename = target
        # The related view answers as itself, for the caller this view has authenticated.
        django_request = request._request
        django_request._force_auth_user, django_request._force_auth_token = request.user, request.auth
        if isinstance(field, ManyRelatedField):
            parent = planning.reverse_name(type(instance), field.source)
            view = viewset.as_view({"get": "list"}, related_filter={parent: instance.pk})
            response = view(django_request)
        else:
            value = field.get_attribute(instance)
            if getattr(value, "pk", value) is None:  # a null foreign key: a PKOnlyObject without pk
                return Response(Document({"data": None, "links": {"self": request.build_absolute_uri()}}))
            view = viewset.as_view({"get": "retrieve"})
            response = view(django_request, **{viewset.lookup_url_kwarg or viewset.lookup_field: str(value.pk)})
        return response.render() if hasattr(response, "render") else response

    # ----------------------------------------------------------------- writes

    def relationship_replace(self, request, *args, **kwargs):
        return self._write_relationship(request, "replace")

    def relationship_add(self, request, *args, **kwargs):
        return self._write_relationship(request, "add")

    def relationship_remove(self, request, *args, **kwargs):
        return self._write_relationship(request, "remove")

    def _write_relationship(self, request, mode):
        instance = self.get_object()
        wire, field = self._relationship(instance)
        writable = getattr(getattr(self.get_serializer_class(), "Meta", None), "writable_relationships", ())
        if field.field_name not in writable or field.read_only:
            raise Forbidden(f"`{wire}` is not changed through its relationship URL.")
        if not isinstance(field, ManyRelatedField):
            raise Forbidden(f"`{wire}` is not changed through its relationship URL.")
        sent = request.data
        if not isinstance(sent, list):
            raise ApiError("`data` must be an array of resource identifiers.", pointer="/data")
        target = _target_type(field)
        for position, item in enumerate(sent):
            if item["type"] != target:
                raise ApiError(f"`{wire}` holds `{target}` resources, not `{item['type']}`.", status_code=409,
                               pointer=f"/data/{position}/type")
        current = [item["id"] for item in self._linkage(field, instance)]
        sent_ids = [str(item["id"]) for item in sent]
        if mode == "replace":
            wanted = sent_ids
        elif mode == "add":
            wanted = current + [pk for pk in sent_ids if pk not in current]
        else:
            wanted = [pk for pk in current if pk not in sent_ids]
        data = {field.field_name: [{"type": target, "id": pk} for pk in dict.fromkeys(wanted)],
                "_members": {"attributes": [], "relationships": [wire]}}
        serializer = self.get_serializer(instance, data=data, partial=True)
        try:
            serializer.is_valid(raise_exception=True)
        except Exception as exc:
            raise _at_data(exc) from None
        self.perform_update(serializer)
        fresh = self.get_object()
        _wire, field = self._relationship(fresh)
        return Response(Document({"data": self._linkage(field, fresh), "links": self._links(fresh, wire)}),
                        status=status.HTTP_200_OK)


def _at_data(exc):
    """A validation error of the relationship, pointed at the request's `data`."""
    from rest_framework.exceptions import ValidationError

    if not isinstance(exc, ValidationError):
        return exc
    detail = exc.detail
    messages = []
    if isinstance(detail, dict):
        for value in detail.values():
            messages += [str(message) for message in (value if isinstance(value, list) else [value])]
    else:
        messages = [str(message) for message in (detail if isinstance(detail, list) else [detail])]
    return ApiError(messages[0] if messages else "Invalid relationship.", pointer="/data")
