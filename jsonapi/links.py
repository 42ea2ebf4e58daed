"""The links of resources and relationships (SPEC §2), the same on both read paths.

A resource of a type with a collection (`jsonapi.routers`) has `links.self`
(`/api/v1/{collection}/{id}/`), and each of its relationships `links.self`
(`…/{id}/relationships/{name}/`) and `links.related` (`…/{id}/{name}/`). URLs are
absolute, like pagination links, so clients follow them as they are.

DRF imports the renderer (which uses this module) while `rest_framework.views` is still
loading, so this module must not import DRF's views (nor anything that does).
"""

from functools import cache

from django.urls import NoReverseMatch, get_script_prefix, reverse

JSONAPI_MEMBER = {"version": "1.0"}

# resource type → (collection prefix, viewset, basename); filled as routers register
_collections = {}


def register_collection(resource_type, prefix, viewset, basename):
    _collections.setdefault(resource_type, (prefix, viewset, basename))


def collection_of(resource_type):
    """`(prefix, viewset, basename)` of the collection holding resources of this type, or None
    (a type with no collection of its own, or one nested under another resource)."""
    return _collections.get(resource_type)


class RelationshipCount(int):
    """An unbounded relationship's value when its ids are not read: how many related objects
    the caller may see. The renderers give it `links` and `meta.count`, never `data`."""

    __slots__ = ()


@cache
def _collection_path(script_prefix: str, resource_type: str):
    found = collection_of(resource_type)
    if found is None:
        return None
    _prefix, viewset, basename = found
    if not getattr(viewset, "relationship_routes", False):
        return None
    try:
        return reverse(f"{basename}-list")
    except NoReverseMatch:
        return None


class Linker:
    """Builds one request's links."""

    def __init__(self, request):
        self.origin = f"{request.scheme}://{request.get_host()}" if request is not None else ""
        self._bases = {}

    def collection(self, resource_type):
        """`https://host/api/v1/{collection}/` of a type (None: it has no collection)."""
        try:
            return self._bases[resource_type]
        except KeyError:
            path = _collection_path(get_script_prefix(), resource_type)
            base = self._bases[resource_type] = None if path is None else self.origin + path
            return base

    def resource(self, resource_type, resource_id):
        base = self.collection(resource_type)
        return None if base is None else f"{base}{resource_id}/"


def relationship_links(resource_url, wire_name):
    return {"self": f"{resource_url}relationships/{wire_name}/", "related": f"{resource_url}{wire_name}/"}


def add_links(resource, linker):
    """Give a rendered resource object its links (and its relationships theirs)."""
    url = linker.resource(resource["type"], resource["id"])
    if url is None:
        return resource
    resource["links"] = {"self": url}
    for wire_name, relationship in (resource.get("relationships") or {}).items():
        relationship["links"] = relationship_links(url, wire_name)
    return resource


def linker_for(request):
    """The request's Linker (one per request)."""
    if request is None:
        return Linker(None)
    linker = getattr(request, "_jsonapi_linker", None)
    if linker is None:
        linker = request._jsonapi_linker = Linker(request)
    return linker
