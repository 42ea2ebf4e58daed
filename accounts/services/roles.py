"""Roles: named permission sets, and who may hand out which permission."""


from django.contrib.auth.models import Permission
from django.db import transaction

from accounts.models import (
    Role,
    User,
)
from accounts.rules import grantable_permissions
from core.errors import Forbidden, ServiceError

# --------------------------------------------------------------------------- roles


class UnknownPermission(ValueError):
    def __init__(self, position: int, name: str):
        super().__init__(f"`{name}` is not a permission (expected `app_label.codename`).")
        self.position = position


def permissions_from_names(names) -> list[Permission]:
    """Permission objects for `app_label.codename` strings; raises on the first unknown one."""
    wanted = []
    for position, name in enumerate(names):
        app_label, _, codename = str(name).partition(".")
        wanted.append((position, name, app_label, codename))
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for *_, codename in wanted]
        )
    }
    result = []
    for position, name, app_label, codename in wanted:
        permission = found.get((app_label, codename))
        if permission is None:
            raise UnknownPermission(position, name)
        result.append(permission)
    return result


def _check_unique_role(name, exclude_pk=None):
    clash = Role.objects.filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError("A role with this name already exists.", code="unique", field="name")


def _check_grantable(actor, permissions) -> None:
    not_held = grantable_permissions(actor, permissions)
    if not_held:
        names = ", ".join(sorted(f"{p.content_type.app_label}.{p.codename}" for p in not_held))
        raise Forbidden(f"You can only put permissions you hold yourself into a role (not {names}).",
                        field="permissions")


@transaction.atomic
def role_create(*, actor: User, name: str, description: str = "", permissions=()) -> Role:
    _check_grantable(actor, permissions)
    _check_unique_role(name)
    role = Role(name=name, description=description)
    role.full_clean(validate_constraints=False)
    role.save()
    role.permissions.set(permissions)
    return role


@transaction.atomic
def role_update(*, actor: User, role: Role, data: dict) -> Role:
    if "permissions" in data:
        added = set(data["permissions"]) - set(role.permissions.all())
        _check_grantable(actor, list(added))
    if "name" in data:
        _check_unique_role(data["name"], exclude_pk=role.pk)
        role.name = data["name"]
    if "description" in data:
        role.description = data["description"]
    role.full_clean(validate_constraints=False)
    role.save()
    if "permissions" in data:
        role.permissions.set(data["permissions"])
    return role


@transaction.atomic
def role_delete(*, actor: User, role: Role) -> None:
    role.delete()


