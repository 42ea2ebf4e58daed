"""The JSON:API renderer: DJA's, minus included resources the caller may not read, with
camelCase sparse fieldsets, and documents built by the fast read path passed straight through.

DRF imports the classes named in REST_FRAMEWORK while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from django.apps import apps
from rest_framework.renderers import JSONRenderer
from rest_framework_json_api import renderers as dja_renderers
from rest_framework_json_api.utils import undo_format_field_name

from jsonapi.encoding import Document, dumps
from jsonapi.links import JSONAPI_MEMBER, RelationshipCount, add_links, linker_for


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
        if isinstance(data, dict):
            data["jsonapi"] = JSONAPI_MEMBER
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
            data.content["jsonapi"] = JSONAPI_MEMBER
            return dumps(data.content)
        return super().render(data, accepted_media_type, renderer_context)

    @classmethod
    def build_json_resource_obj(cls, fields, resource, resource_instance, resource_name, serializer,
                                force_type_resolution=False):
        """DJA's resource object, with links (jsonapi.links), and the unbounded relationships
        that were counted rather than read as `links` and `meta.count` only."""
        resource_data = super().build_json_resource_obj(fields, resource, resource_instance, resource_name,
                                                        serializer, force_type_resolution)
        for relationship in (resource_data.get("relationships") or {}).values():
            if isinstance(relationship.get("data"), RelationshipCount):
                relationship["meta"] = {"count": int(relationship.pop("data"))}
        return add_links(resource_data, linker_for(serializer.context.get("request")))

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
