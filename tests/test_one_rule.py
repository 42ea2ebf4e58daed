"""One rule, every face: for each caller role × action × object kind, the API and the portal
give the answer the role permission backend gives (`user.has_perm(perm, obj)`), and the
admin asks the same backend.

Allowed → the face does it (2xx, or the page re-rendered with its form's errors); refused on
an object the caller sees → 403; on one they cannot see → 404. The expected answer is never
written here: it is read from the backend, so a face that re-derives a role and drifts from
the rule tables fails.
"""

from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin as django_admin
from django.test import Client, RequestFactory

from accounts.models import Account, AccountMembership, User
from memberships.models import Membership, Utility
from tests.factories import RoleFactory, SiteAdminFactory, UserFactory
from tests.jsonapi import JsonApiClient, body, rel

PERSONAS = [
    "outsider", "account_user", "account_consultant", "account_admin", "consultancy_consultant",
    "spectator", "member", "leader", "utility_admin", "site_admin",
]


class World:
    def __init__(self):
        self.consultancy = Account.objects.create(name="Consultancy")
        self.account = Account.objects.create(name="Acme", consultancy_account=self.consultancy)
        self.utility = Utility.objects.create(account=self.account, name="Grid", billing_day=5)
        self.people = {name: UserFactory(is_staff=True) for name in PERSONAS if name != "site_admin"}
        self.people["site_admin"] = SiteAdminFactory()
        self.other_admin = UserFactory()
        roles = {"account_user": "user", "account_consultant": "consultant", "account_admin": "admin"}
        self.account_memberships = {
            name: AccountMembership.objects.create(user=self.people[name], account=self.account, role=role)
            for name, role in roles.items()
        }
        self.account_memberships["other_admin"] = AccountMembership.objects.create(
            user=self.other_admin, account=self.account, role="admin")
        AccountMembership.objects.create(user=self.people["consultancy_consultant"], account=self.consultancy,
                                         role="consultant")
        utility_roles = {"spectator": "spectator", "member": "member", "leader": "leader", "utility_admin": "admin"}
        self.memberships = {
            name: Membership.objects.create(user=self.people[name], utility=self.utility, role=role,
                                            is_subscriber=False)
            for name, role in utility_roles.items()
        }


@pytest.fixture
def world(db):
    return World()


def _sees(user, obj) -> bool:
    return type(obj).objects.for_user(user).filter(pk=obj.pk).exists()


@dataclass
class Action:
    name: str
    perms: tuple  # every one of them is needed
    target: Callable  # world → the object the permission is asked on
    api: Callable | None  # (client, world) → response
    portal: Callable | None  # (client, world) → response


def _acc(w):
    return w.account


def _util(w):
    return w.utility


ACTIONS = [
    Action("change account", ("accounts.change_account",), _acc,
           lambda c, w: c.patch(f"/api/v1/accounts/{w.account.pk}/",
                                body("Account", {"name": w.account.name}, id=w.account.pk)),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/", {})),
    Action("delete account", ("accounts.delete_account",), _acc,
           lambda c, w: c.delete(f"/api/v1/accounts/{w.account.pk}/"),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/delete/", {})),
    Action("read audit log", ("accounts.view_auditlogentry",), _acc,
           lambda c, w: c.get(f"/api/v1/accounts/{w.account.pk}/auditlog/"),
           lambda c, w: c.get(f"/accounts/{w.account.pk}/history/")),
    Action("activation code", ("accounts.change_activationcode",), _acc,
           lambda c, w: c.get(f"/api/v1/accounts/{w.account.pk}/activation-code/"),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/activation-code/refresh/", {})),
    Action("add account member", ("accounts.add_accountmembership",), _acc,
           lambda c, w: c.post("/api/v1/account-memberships/", body("AccountMembership", {"role": "user"}, {
               "user": rel("User", w.people["member"].pk), "account": rel("Account", w.account.pk)})),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/members/add/", {})),
    Action("create utility", ("memberships.add_utility",), _acc,
           lambda c, w: c.post("/api/v1/utilities/", body("Utility", {"name": "New", "billingDay": 3}, {
               "account": rel("Account", w.account.pk)})),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/utilities/add/", {})),
    Action("change account member", ("accounts.change_accountmembership",),
           lambda w: w.account_memberships["account_user"],
           lambda c, w: c.patch(f"/api/v1/account-memberships/{w.account_memberships['account_user'].pk}/",
                                body("AccountMembership", {"role": "user"},
                                     id=w.account_memberships["account_user"].pk)),
           lambda c, w: c.post(f"/accounts/{w.account.pk}/members/{w.account_memberships['account_user'].pk}/role/",
                               {"role": "user"})),
    Action("remove account member", ("accounts.delete_accountmembership",),
           lambda w: w.account_memberships["account_user"],
           lambda c, w: c.delete(f"/api/v1/account-memberships/{w.account_memberships['account_user'].pk}/"),
           lambda c, w: c.post(
               f"/accounts/{w.account.pk}/members/{w.account_memberships['account_user'].pk}/remove/", {})),
    Action("remove another admin", ("accounts.delete_accountmembership",),
           lambda w: w.account_memberships["other_admin"],
           lambda c, w: c.delete(f"/api/v1/account-memberships/{w.account_memberships['other_admin'].pk}/"),
           None),
    Action("change utility", ("memberships.change_utility",), _util,
           lambda c, w: c.patch(f"/api/v1/utilities/{w.utility.pk}/",
                                body("Utility", {"name": w.utility.name}, id=w.utility.pk)),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/", {})),
    Action("delete utility", ("memberships.delete_utility",), _util,
           lambda c, w: c.delete(f"/api/v1/utilities/{w.utility.pk}/"),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/delete/", {})),
    Action("add utility member", ("memberships.add_membership",), _util,
           lambda c, w: c.post("/api/v1/memberships/", body("Membership", {"isSubscriber": False}, {
               "user": rel("User", w.people["account_user"].pk), "utility": rel("Utility", w.utility.pk)})),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/memberships/add/", {})),
    Action("toggle subscriber", ("memberships.change_membership",), lambda w: w.memberships["spectator"],
           lambda c, w: c.patch(f"/api/v1/memberships/{w.memberships['spectator'].pk}/",
                                body("Membership", {"isSubscriber": True}, id=w.memberships["spectator"].pk)),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/memberships/{w.memberships['spectator'].pk}/subscriber/",
                               {"is_subscriber": "true"})),
    Action("change utility role", ("memberships.change_membership", "memberships.change_membership_role"),
           lambda w: w.memberships["spectator"],
           lambda c, w: c.patch(f"/api/v1/memberships/{w.memberships['spectator'].pk}/",
                                body("Membership", {"role": "member"}, id=w.memberships["spectator"].pk)),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/memberships/{w.memberships['spectator'].pk}/role/",
                               {"role": "member"})),
    Action("remove utility member", ("memberships.delete_membership",), lambda w: w.memberships["member"],
           lambda c, w: c.delete(f"/api/v1/memberships/{w.memberships['member'].pk}/"),
           lambda c, w: c.post(f"/utilities/{w.utility.pk}/memberships/{w.memberships['member'].pk}/remove/", {})),
    Action("remove utility admin", ("memberships.delete_membership",), lambda w: w.memberships["utility_admin"],
           lambda c, w: c.delete(f"/api/v1/memberships/{w.memberships['utility_admin'].pk}/"),
           lambda c, w: c.post(
               f"/utilities/{w.utility.pk}/memberships/{w.memberships['utility_admin'].pk}/remove/", {})),
]


def _expected(user, action, world):
    target = action.target(world)
    fresh = User.objects.get(pk=user.pk)  # no role cache from earlier calls
    allowed = all(fresh.has_perm(perm, target) for perm in action.perms)
    return allowed, _sees(fresh, target)


def _check(status, allowed, sees, face):
    if allowed:
        assert status < 400 or status in (400, 409) and face == "api", f"{face}: allowed, answered {status}"
    else:
        assert status == (403 if sees else 404), f"{face}: refused (sees: {sees}), answered {status}"


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", ACTIONS, ids=lambda action: action.name)
def test_api_answers_what_the_backend_answers(world, persona, action):
    user = world.people[persona]
    allowed, sees = _expected(user, action, world)
    response = action.api(JsonApiClient().as_user(user), world)
    _check(response.status_code, allowed, sees, "api")


@pytest.mark.parametrize("persona", PERSONAS)
@pytest.mark.parametrize("action", [a for a in ACTIONS if a.portal], ids=lambda action: action.name)
def test_portal_answers_what_the_backend_answers(world, persona, action):
    user = world.people[persona]
    allowed, sees = _expected(user, action, world)
    client = Client()
    client.force_login(user, backend="accounts.backends.RosterBackend")
    _check(action.portal(client, world).status_code, allowed, sees, "portal")


ADMIN_OBJECTS = {
    "account": (Account, _acc, "accounts.{}_account"),
    "account membership": (AccountMembership, lambda w: w.account_memberships["account_user"],
                           "accounts.{}_accountmembership"),
    "utility": (Utility, _util, "memberships.{}_utility"),
    "membership": (Membership, lambda w: w.memberships["member"], "memberships.{}_membership"),
    "user": (User, lambda w: w.people["member"], "accounts.{}_user"),
}


@pytest.mark.parametrize("persona", [*PERSONAS, "staff_with_global_rights"])
@pytest.mark.parametrize("kind", ADMIN_OBJECTS)
@pytest.mark.parametrize("verb", ["change", "delete"])
def test_admin_asks_the_backend(world, persona, kind, verb):
    """The admin is the staff's face: staff may change or delete what they hold the model
    permission for (globally), narrowed to the objects the role rules allow wherever the
    admin declares an object permission. No admin decides by a role of its own."""
    model, target, perm = ADMIN_OBJECTS[kind]
    perm = perm.format(verb)
    if persona == "staff_with_global_rights":
        held = [p.format(v) for _, _, p in ADMIN_OBJECTS.values() for v in ("change", "delete")]
        role = RoleFactory(permissions=held)
        user = UserFactory(is_staff=True)
        user.roles.add(role)
    else:
        user = world.people[persona]
    obj = target(world)
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=user.pk)
    model_admin = django_admin.site._registry[model]
    answer = getattr(model_admin, f"has_{verb}_permission")(request, obj)
    fresh = User.objects.get(pk=user.pk)
    narrowed = perm in getattr(model_admin, "object_permissions", {}).values()
    assert answer == (fresh.has_perm(perm) and (not narrowed or fresh.has_perm(perm, obj)))
