"""The viewset base every resource builds on: visibility through `for_user()`, includes checked."""

from django.http import Http404
from django.utils.cache import patch_vary_headers
from rest_framework import mixins, viewsets
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework_json_api.utils import format_value, get_resource_type_from_serializer, undo_format_field_name
from rest_framework_json_api.views import PreloadIncludesMixin

from core.errors import Forbidden
from jsonapi import documents, planning
from jsonapi.encoding import Document
from jsonapi.errors import ApiError
from jsonapi.links import linker_for
from jsonapi.permissions import HasObjectPermission
from jsonapi.query import ID_PATTERN, check_query_parameters, check_sparse_fields
from jsonapi.relationships import RELATIONSHIP_ACTIONS, RelationshipsMixin


def validate_include(serializer_class, include):
    """400 for any `include` path the resource does not offer."""
    if include is None:
        return
    if not include.strip():
        raise ApiError("`include` needs at least one path.", parameter="include")
    paths = include.split(",")
    if len(paths) != len(set(paths)):
        raise ApiError("`include` names a path twice.", parameter="include")
    for path in paths:
        if "." in path:
            raise ApiError(f"`{path}`: only direct relationships can be included.", parameter="include")
        current = serializer_class
        for segment in path.split("."):
            name = format_value(segment, "underscore")
            included = getattr(current, "included_serializers", None) or {}
            if name not in included:
                raise ApiError(f"`{path}` cannot be included here.", parameter="include")
            current = included[name]


class WireHeadersMixin:
    """Headers every API response carries (SPEC §2): `Vary: Accept` (the body depends on the
    negotiation), and on a 201 the created resource's URL as `Location`."""

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        patch_vary_headers(response, ["Accept"])
        if response.status_code == 201 and not response.has_header("Location"):
            location = self.created_location(request, getattr(response, "data", None))
            if location:
                response["Location"] = location
        return response

    def created_location(self, request, data):
        """The URL of the resource a 201 answers with (None: it has none)."""
        if isinstance(data, Document):
            data = data.content.get("data")
        resource_type = resource_id = None
        serializer = getattr(data, "serializer", None)
        if serializer is not None:
            resource_type = get_resource_type_from_serializer(serializer)
            resource_id = data.get("id") or getattr(serializer.instance, "pk", None)
        elif isinstance(data, dict):
            resource_type, resource_id = data.get("type"), data.get("id")
        if not resource_type or resource_id in (None, ""):
            return None
        return linker_for(request).resource(resource_type, resource_id)


class RosterViewSet(WireHeadersMixin, RelationshipsMixin, PreloadIncludesMixin, viewsets.GenericViewSet):
    """Base of every resource viewset.

    Reads go through `Model.objects.for_user(user)`, so anything the caller may not see is
    a 404 and lists hold only what they may read. Writes call services in `perform_*`.
    """

    lookup_value_regex = ID_PATTERN
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    ordering = ("id",)
    ordering_fields = ()
    #: query parameters beyond JSON:API's own that this view understands
    extra_query_params = ()
    permission_classes = [IsAuthenticated, HasObjectPermission]
    #: the relationship a new object is created inside (e.g. a membership's utility)
    parent_field = None
    #: the permission creating asks on that parent, and what a refusal says
    parent_permission = None
    parent_refusal = "You may not add to this."
    #: without a parent: the global permission creating needs (None: any signed-in user)
    create_permission = None
    #: for the OpenAPI document (jsonapi.schema), also as `@action` keywords: error statuses beyond
    #: those every operation has, by lowercase method (`{"delete": (409,)}`); whether a POST
    #: other than `create` makes something new (201); whether the body may be left out
    error_statuses = {}
    post_creates = False
    request_body_required = True

    def get_prefetch_related(self, include):
        """What an included resource needs (derived from its serializer's declarations), and
        the view's own `prefetch_for_includes`."""
        derived = []
        if include != "__all__":
            derived = planning.include_prefetches(self.get_serializer_class(), self.request.user, include)
        return derived + (super().get_prefetch_related(include) or [])

    def get_queryset(self):
        """What the caller sees, with what the serializer declares it needs read (scoped
        relationships, counts), for the resource and the included ones."""
        viewer = self.request.user
        serializer_class = self.get_serializer_class()
        if self.action in RELATIONSHIP_ACTIONS:
            # the parent of a relationship: only found (the query is for the related resources)
            return viewsets.GenericViewSet.get_queryset(self).for_user(viewer)
        # The fast read path annotates relationship counts on the page's rows itself.
        queryset = planning.with_counts(super().get_queryset().for_user(viewer), serializer_class, viewer,
                                        relationships=not self._fast_read_in_progress())
        if self.related_filter:
            queryset = queryset.filter(**self.related_filter)
        include = [undo_format_field_name(path)
                   for path in (self.request.query_params.get("include") or "").split(",") if path]
        return queryset.prefetch_related(*planning.resource_prefetches(serializer_class, viewer, include=include))

    def _fast_read_in_progress(self) -> bool:
        return getattr(self, "_fast_list", False) or getattr(self, "_fast_builder", None) is not None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if self.action == "related_retrieve":
            return  # the related resource's own view checks the query
        if self.action in RELATIONSHIP_ACTIONS:
            self.check_relationship_query(request)
            return
        check_query_parameters(request, extra=self.extra_query_params, collection=self.action == "list")
        validate_include(self.get_serializer_class(), request.query_params.get("include"))
        check_sparse_fields(request, self.get_serializer_class())
        if self.action == "create" and self.parent_field:
            # The parent is checked before anything else in the body, so a caller who may not
            # write into it learns nothing from how the rest of the body would validate.
            data = request.data
            if isinstance(data, dict) and data.get(self.parent_field):
                field = self.get_serializer().fields[self.parent_field]
                self.check_parent(field.to_internal_value(data[self.parent_field]))

    def filter_queryset(self, queryset):
        if self.action in RELATIONSHIP_ACTIONS:
            return queryset  # sort and filter, if any, are the related collection's
        return super().filter_queryset(queryset)

    def get_object(self):
        try:
            return super().get_object()
        except (ValueError, TypeError, OverflowError):
            raise Http404 from None

    def check_parent(self, parent):
        """403 unless the caller may create objects inside `parent`."""
        if self.parent_permission and not self.request.user.has_perm(self.parent_permission, parent):
            raise Forbidden(self.parent_refusal)


# The fast read path (jsonapi.documents): GET lists and details whose serializers it
# understands are built in one pass; everything else takes DJA's standard path. Resource
# viewsets use these two mixins instead of DRF's (a view may set `fast_read = False`).


class ListModelMixin(mixins.ListModelMixin):
    def list(self, request, *args, **kwargs):
        builder = documents.Builder.for_view(self)
        if builder is None:
            return super().list(request, *args, **kwargs)
        self._fast_list = True
        try:
            queryset = self.filter_queryset(self.get_queryset())
        finally:
            self._fast_list = False
        if self.paginator is not None and hasattr(self.paginator, "finish"):
            # a paginator that reads the page's rows in a query of its own (ids first)
            # takes the plain queryset and adds what the document needs to that query
            queryset, self.paginator.finish = builder.strip(queryset), builder.annotate
        else:
            queryset = builder.prepare(queryset)
        page = self.paginate_queryset(queryset)
        if page is None:
            return Response(Document(builder.document(queryset, many=True)))
        document = builder.document(page, many=True)
        paginated = self.get_paginated_response(None).data
        document["links"], document["meta"] = paginated["links"], paginated["meta"]
        return Response(Document(document))


class RetrieveModelMixin(mixins.RetrieveModelMixin):
    def retrieve(self, request, *args, **kwargs):
        builder = documents.Builder.for_view(self)
        if builder is None:
            return super().retrieve(request, *args, **kwargs)
        self._fast_builder = builder
        try:
            instance = self.get_object()
        finally:
            self._fast_builder = None
        return Response(Document(builder.document([instance], many=False)))

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        builder = getattr(self, "_fast_builder", None)
        return queryset if builder is None else builder.prepare(queryset)


class CreateModelMixin(mixins.CreateModelMixin):
    """DRF's create, leaving `Location` to `WireHeadersMixin`: DRF's would take a `url`
    attribute (a merchant has one) for the resource's own address."""

    def get_success_headers(self, data):
        return {}


class RosterModelViewSet(
    ListModelMixin,
    RetrieveModelMixin,
    CreateModelMixin,
    mixins.UpdateModelMixin,
    mixins.DestroyModelMixin,
    RosterViewSet,
):
    """A resource with every JSON:API operation (list, read, create, PATCH, delete)."""


class RosterAPIView(WireHeadersMixin, APIView):
    """Base of endpoints that are not a model collection: only their own query parameters."""

    extra_query_params = ()
    #: for the OpenAPI document (jsonapi.schema): as on RosterViewSet
    error_statuses = {}
    post_creates = False
    #: media types other than JSON:API this view takes as its body (e.g. raw images); the
    #: request guard (jsonapi.middleware) then leaves checking its bodies' types to the view
    body_media_types = ()
    #: the methods the OpenAPI document lists for this route (None: every one it serves)
    schema_methods = None

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        check_query_parameters(request, extra=self.extra_query_params, resource=False)
