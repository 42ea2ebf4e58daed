"""The permission base of resource views: predicates per action."""

from rest_framework.permissions import BasePermission


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
