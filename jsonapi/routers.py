"""Routing of JSON:API resources: the
relationship and related-resource routes of every relationship, and the registry of
resource types to collections that links are built from (SPEC §2).

Every app registers its viewsets with a `Router`; nothing here names an app.
"""

import re

from rest_framework.routers import Route, SimpleRouter

from jsonapi.links import register_collection


class Router(SimpleRouter):
    """DRF's SimpleRouter with, for every viewset with a
    relationship view (`jsonapi.viewsets.RelationshipsMixin`), the routes

    - `{prefix}/{id}/relationships/{name}/`: GET the linkage; PATCH/POST/DELETE for the
      relationships the serializer declares writable (`Meta.writable_relationships`);
    - `{prefix}/{id}/{name}/`: GET the related resource(s).
    """

    def register(self, prefix, viewset, basename=None):
        super().register(prefix, viewset, basename)
        basename = self.registry[-1][2]
        serializer_class = getattr(viewset, "serializer_class", None)
        resource_type = _resource_type(serializer_class, viewset)
        if resource_type and not re.search(r"[()\\\[]", prefix):
            register_collection(resource_type, prefix, viewset, basename)

    def get_routes(self, viewset):
        routes = super().get_routes(viewset)
        names = getattr(viewset, "relationship_wire_names", None)
        if not names:
            return routes
        alternatives = "|".join(re.escape(name) for name in names())
        if not alternatives:
            return routes
        relationship = rf"(?P<relationship>{alternatives})"
        return routes + [
            Route(url=rf"^{{prefix}}/{{lookup}}/relationships/{relationship}{{trailing_slash}}$",
                  mapping={"get": "relationship_retrieve", "patch": "relationship_replace",
                           "post": "relationship_add", "delete": "relationship_remove"},
                  name="{basename}-relationships", detail=True, initkwargs={"suffix": "Relationship"}),
            Route(url=rf"^{{prefix}}/{{lookup}}/{relationship}{{trailing_slash}}$",
                  mapping={"get": "related_retrieve"},
                  name="{basename}-related", detail=True, initkwargs={"suffix": "Related"}),
        ]


def _resource_type(serializer_class, viewset):
    name = getattr(viewset, "resource_name", None)
    if isinstance(name, str) and name:
        return name
    meta = getattr(serializer_class, "Meta", None)
    if meta is None:
        return None
    name = getattr(meta, "resource_name", None)
    if name:
        return name
    model = getattr(meta, "model", None)
    return model.__name__ if model is not None else None

