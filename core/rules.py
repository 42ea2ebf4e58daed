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

A rule is `(user, obj) -> bool`. Rules registered with `listed=False` refine a decision
(who may change a membership's *role*, a utility's *billing day*) and are asked like any
other permission, but they are no Django permission, so `/users/me/permissions/` does not
list them.
"""

from dataclasses import dataclass
from typing import Callable

Predicate = Callable[[object, object], bool]


@dataclass(frozen=True)
class Rule:
    perm: str
    predicate: Predicate
    listed: bool


_by_perm: dict[tuple[type, str], Rule] = {}
_by_model: dict[type, list[Rule]] = {}


def register(model: type, rules: dict[str, Predicate], *, listed: bool = True) -> None:
    """Add `perm → predicate` rules for objects of `model` (one entry per permission)."""
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
