"""The role permission backend and its rule tables (DESIGN.md, rule 4).

Every decision any face makes is `user.has_perm(perm, obj)`. Django asks each backend in
AUTHENTICATION_BACKENDS in turn: active site admins hold everything before any backend is
asked; global permissions (direct, groups, Roles) come from the model backend when `obj` is
None; guardian answers grants on single objects; and this backend answers what a user's
account and utility roles let them do with one object, from the rules each app registers in
its `rules.py`:

    rules.register(Account, {
        "accounts.change_account": is_account_admin,
        ...
    })

A rule is `(user, obj) -> bool`. `refine()` adds rules that refine a decision (who may
change a membership's *role*, a utility's *billing day*): asked like any other permission,
but they are no Django permission, so they are never listed or granted.
"""

from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Exists, OuterRef
from guardian.backends import ObjectPermissionBackend
from guardian.models import GroupObjectPermission, UserObjectPermission

Predicate = Callable[[object, object], bool]

#: A permission no backend grants: only site admins, who hold every permission, have it
#: (e.g. a viewset's `create_permission` for what the SPEC reserves to them).
SITE_ADMINS_ONLY = "core.site_admins_only"


@dataclass(frozen=True)
class Rule:
    perm: str
    predicate: Predicate
    listed: bool


_by_perm: dict[tuple[type, str], Rule] = {}
_by_model: dict[type, list[Rule]] = {}
_refinements: set[str] = set()  # unlisted rules: no Django permission, so no grant holds them


def register(model: type, rules: dict[str, Predicate], *, listed: bool = True) -> None:
    """Add `perm → predicate` rules for objects of `model`, one per Django permission;
    `listed=False` keeps them out of /users/me/permissions/."""
    _add(model, rules, listed)


def refine(model: type, rules: dict[str, Predicate]) -> None:
    """Add rules that refine a decision (who may change a membership's *role*): asked like
    permissions, but no Django permission exists for them, so none is listed or granted."""
    _add(model, rules, False)
    _refinements.update(rules)


def _add(model, rules, listed):
    for perm, predicate in rules.items():
        rule = Rule(perm, predicate, listed)
        key = (model, perm)
        if key in _by_perm:
            raise ValueError(f"{perm} on {model.__name__} has a rule already")
        _by_perm[key] = rule
        _by_model.setdefault(model, []).append(rule)


def _model_of(obj) -> type:
    return obj._meta.concrete_model if hasattr(obj, "_meta") else type(obj)


def _signed_in(user) -> bool:
    return bool(user is not None and user.is_authenticated and user.is_active)


def allows(user, perm: str, obj) -> bool:
    """What the role rules alone say (no site-admin, global or guardian shortcut)."""
    rule = _by_perm.get((_model_of(obj), perm))
    return rule is not None and _signed_in(user) and bool(rule.predicate(user, obj))


def listed_permissions(user, obj) -> set[str]:
    """The listed permissions the user's roles give them on `obj`."""
    if not _signed_in(user):
        return set()
    return {rule.perm for rule in _by_model.get(_model_of(obj), ()) if rule.listed and rule.predicate(user, obj)}


def registered(model: type) -> list[Rule]:
    """The rules registered for a model (tests walk them)."""
    return list(_by_model.get(model, ()))


class RoleBackend:
    """Answers object permissions from the registered role rules; knows no global ones."""

    def authenticate(self, request, **credentials):
        return None

    def has_perm(self, user_obj, perm, obj=None):
        return obj is not None and allows(user_obj, perm, obj)

    def get_all_permissions(self, user_obj, obj=None):
        return set() if obj is None else listed_permissions(user_obj, obj)

    def get_user_permissions(self, user_obj, obj=None):
        return set()

    def get_group_permissions(self, user_obj, obj=None):
        return set()

    def has_module_perms(self, user_obj, app_label):
        return False


class GuardianBackend(ObjectPermissionBackend):
    """django-guardian's grants on single objects. Guardian raises for a permission of another
    app than the object's; a rule asked on a parent object (`memberships.add_utility` on an
    Account) is such a permission, and no grant can hold it, so the answer is no."""

    def has_perm(self, user_obj, perm, obj=None):
        if obj is not None and "." in perm and perm.split(".", 1)[0] != obj._meta.app_label:
            return False
        if obj is not None and (perm in _refinements or not holds_object_grants(user_obj)):
            return False  # most people hold no grant: one query per request, not one per object
        return super().has_perm(user_obj, perm, obj)


def holds_object_grants(user) -> bool:
    """Does the user hold any guardian grant, directly or through a group? (Asked once per
    user object, i.e. once per request.)"""
    if not _signed_in(user):
        return False
    try:
        return user.__dict__["_holds_object_grants"]
    except KeyError:
        held = type(user).objects.filter(pk=user.pk).filter(object_grants_exist("pk")).exists()
        remember_object_grants(user, held)
        return held


def object_grants_exist(user_ref: str):
    """An expression: does the user at `user_ref` hold any guardian grant? Annotated where the
    user is read (sign-in by token or cookie), so `holds_object_grants` asks nothing more."""
    direct = UserObjectPermission.objects.filter(user_id=OuterRef(user_ref))
    via_group = GroupObjectPermission.objects.filter(group__user=OuterRef(user_ref))
    return Exists(direct) | Exists(via_group)


def remember_object_grants(user, held) -> None:
    user.__dict__["_holds_object_grants"] = bool(held)
