"""Who may do what with users, roles, contacts and sessions: predicates and DRF classes."""

from jsonapi.permissions import RulePermission


def is_site_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


def has_global_perm(user, perm: str) -> bool:
    return bool(user and user.is_authenticated and (is_site_admin(user) or user.has_perm(perm)))


def can_create_user(user) -> bool:
    return has_global_perm(user, "accounts.add_user")


def can_change_user(actor, target) -> bool:
    """Oneself; site admins anyone; holders of change_user anyone but a site admin."""
    if actor.pk == target.pk or is_site_admin(actor):
        return True
    return not target.is_superuser and has_global_perm(actor, "accounts.change_user")


def can_delete_user(actor, target) -> bool:
    """Site admins; holders of delete_user anyone but a site admin. Oneself through /users/me/."""
    if is_site_admin(actor):
        return True
    return not target.is_superuser and has_global_perm(actor, "accounts.delete_user")


def grantable_permissions(actor, permissions) -> list:
    """The permissions in `permissions` the actor may not hand out (they hold them not themselves)."""
    if is_site_admin(actor):
        return []
    held = actor.get_all_permissions()
    return [p for p in permissions if f"{p.content_type.app_label}.{p.codename}" not in held]


def can_write_role(user, action: str) -> bool:
    return has_global_perm(user, f"accounts.{action}_role")


class UserPermission(RulePermission):
    create_rule = staticmethod(lambda request, view: can_create_user(request.user))
    object_rules = {
        "partial_update": can_change_user,
        "destroy": can_delete_user,
    }


class RolePermission(RulePermission):
    create_rule = staticmethod(lambda request, view: can_write_role(request.user, "add"))
    object_rules = {
        "partial_update": lambda user, role: can_write_role(user, "change"),
        "destroy": lambda user, role: can_write_role(user, "delete"),
    }


class SiteAdminWritePermission(RulePermission):
    """Signed-in users read; site admins write."""

    create_rule = staticmethod(lambda request, view: is_site_admin(request.user))
    object_rules = {
        "partial_update": lambda user, obj: is_site_admin(user),
        "destroy": lambda user, obj: is_site_admin(user),
    }
