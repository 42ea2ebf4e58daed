"""The one DRF permission class: every write asks `user.has_perm(perm, obj)` (DESIGN.md rule 4).

Reads are governed by `for_user()` (what a caller cannot see is a 404); writes on an object
ask for `<app>.change_<model>` (PATCH) or `<app>.delete_<model>` (DELETE) on it, a 403 when
refused. Creating asks the viewset: inside a parent (`parent_field`) the viewset's
`check_parent` asks `<app>.add_<model>` on the parent; without one, `create_permission`
names the global permission needed (None: any signed-in user may create).
"""

from rest_framework.permissions import BasePermission

OBJECT_ACTIONS = {"partial_update": "change", "update": "change", "destroy": "delete",
                  # writes on a relationship URL are PATCHes of the resource (jsonapi.relationships)
                  "relationship_replace": "change", "relationship_add": "change", "relationship_remove": "change"}


def permission_name(model, action: str) -> str:
    return f"{model._meta.app_label}.{action}_{model._meta.model_name}"


class HasObjectPermission(BasePermission):
    def has_permission(self, request, view):
        if getattr(view, "action", None) == "create" and not getattr(view, "parent_field", None):
            needed = getattr(view, "create_permission", None)
            return needed is None or request.user.has_perm(needed)
        return True

    def has_object_permission(self, request, view, obj):
        action = OBJECT_ACTIONS.get(getattr(view, "action", None))
        return action is None or request.user.has_perm(permission_name(type(obj), action), obj)
