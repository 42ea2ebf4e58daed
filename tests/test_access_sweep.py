"""The access sweep (issue 17): every operation of every API endpoint, found in the URLconf,
called by every persona of the shared world on the objects of an account none of them
belongs to, each answer checked against the rule table.

The expected answer is derived, never written down: an object the caller cannot see
(`Model.objects.for_user(user)`) is a 404; one they see but may not change is a 403
(`user.has_perm(perm, obj)`); anonymous callers get a 401. Whatever the answer, never a
500, and never a 2xx to a caller the rules refuse. A new endpoint joins the sweep by
being routed; one whose resource has no object here fails `test_every_route_is_swept`
until it is given one (`FOREIGN`), so nothing is left out silently.

Each call runs inside a savepoint that is rolled back, so a caller the rules allow to
delete does not take the object away from the callers after them.
"""

import re
from dataclasses import dataclass
from datetime import timedelta

import inflection
import pytest
from django.db import transaction
from django.urls import URLResolver, get_resolver
from django.utils import timezone

from accounts.models import (
    Account,
    AccountMembership,
    AccountRole,
    Contact,
    Invitation,
    Role,
    Session,
    User,
)
from billing.events.services import event_stream_create
from billing.models import Asset, Charge, EventStream, Merchant, Product, ProductType
from jsonapi.permissions import OBJECT_ACTIONS, permission_name
from memberships.models import Membership, Utility
from tests import factories
from tests.billing.factories import AssetFactory, ChargeFactory, MerchantFactory, ProductFactory, product_type
from tests.jsonapi import JsonApiClient

PARAMETER = re.compile(r"\(\?P<(?P<name>\w+)>(?P<pattern>[^)]*)\)")
#: paths about the caller themselves (`me`, `current`, `personal`, `default`) or public:
#: no object of another account is named in them. The collections (no parameter) are
#: swept separately: they must not list the foreign objects.
OWN_OR_PUBLIC = re.compile(r"/(me|current|personal|default)/|^api/v1/(version|ping|schema|docs)/$")
#: Server-Sent Events: a stream the caller may read never ends, which the test client cannot
#: hold; its access rules are swept through the ASGI app in tests/billing/test_event_stream_sse.py.
ENDLESS = re.compile(r"/sse/$")


def api_routes():
    """(route regex, view callback) for every URL pattern under /api/v1/."""

    def walk(patterns, prefix):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                yield from walk(pattern.url_patterns, prefix + str(pattern.pattern))
            else:
                yield prefix + str(pattern.pattern), pattern.callback

    for route, callback in walk(get_resolver().url_patterns, ""):
        if route.startswith("api/v1/"):
            yield route.replace("^", "").replace("$", ""), callback


def view_class(callback):
    return getattr(callback, "cls", None) or getattr(callback, "view_class", None)


def methods_of(callback):
    """{HTTP method: action name} the route answers (viewsets), or the view's own methods."""
    actions = getattr(callback, "actions", None)
    if actions:
        return {method.upper(): action for method, action in actions.items()}
    cls = view_class(callback)
    names = (getattr(callback, "view_initkwargs", None) or getattr(callback, "initkwargs", None) or {}).get(
        "http_method_names", cls.http_method_names)
    return {method.upper(): method for method in ("get", "post", "put", "patch", "delete")
            if hasattr(cls, method) and method in names}


class Foreign:
    """An account nobody in the world belongs to, and one of everything inside it or about it."""

    def __init__(self):
        self.account = factories.AccountFactory(name="Foreign Ltd")
        self.admin = factories.UserFactory(username="foreign_admin", email="foreign_admin@example.net")
        self.member = factories.UserFactory(username="foreign_member", email="foreign_member@example.net")
        self.account_membership = factories.AccountMembershipFactory(
            user=self.admin, account=self.account, role=factories.AccountMembership.Role.ADMIN)
        self.utility = factories.UtilityFactory(account=self.account, name="Faraway")
        self.membership = factories.MembershipFactory(user=self.member, utility=self.utility,
                                                      role=factories.Membership.Role.MEMBER)
        self.session = factories.SessionFactory(user=self.member)
        self.contact = factories.ContactFactory(owner=self.member, contact=self.admin)
        self.product = ProductFactory(utility=self.utility, product_type=product_type())
        self.merchant = MerchantFactory()
        self.charge = ChargeFactory(product=self.product, merchant=self.merchant)
        self.invitation = Invitation.objects.create(
            email="newcomer@example.net", role="member", utility=self.utility, invited_by=self.admin,
            expires_at=timezone.now() + timedelta(days=7))
        self.role = factories.RoleFactory(name="Foreign auditor", permissions=["accounts.view_user"])
        self.account_role = factories.AccountRoleFactory(name="Foreign label")
        self.asset = AssetFactory(name="foreign-secret", scope="utility", scope_id=self.utility.pk,
                                  secret="foreign secret content")
        self.asset.merchants.add(self.merchant)
        self.event_stream = event_stream_create(actor=self.member, user=self.member)[0]


#: the object a route's `pk` names, by the resource's model
FOREIGN = {
    User: lambda f: f.member,
    Session: lambda f: f.session,
    Role: lambda f: f.role,
    Contact: lambda f: f.contact,
    Account: lambda f: f.account,
    AccountMembership: lambda f: f.account_membership,
    Invitation: lambda f: f.invitation,
    AccountRole: lambda f: f.account_role,
    Utility: lambda f: f.utility,
    Membership: lambda f: f.membership,
    ProductType: lambda f: product_type(),
    Product: lambda f: f.product,
    Charge: lambda f: f.charge,
    Merchant: lambda f: f.merchant,
    Asset: lambda f: f.asset,
    EventStream: lambda f: f.event_stream,
}
#: views with no queryset: the model their `pk` names
VIEW_MODELS = {"AvatarView": User, "ActivationCodeView": Account, "AccountAuditLogViewSet": Account,
               "AssetSecretView": Asset, "EventListView": EventStream}


def route_model(callback):
    cls = view_class(callback)
    if cls.__name__ in VIEW_MODELS:
        return VIEW_MODELS[cls.__name__]
    queryset = getattr(cls, "queryset", None)
    if queryset is not None:
        return queryset.model
    serializer = getattr(cls, "serializer_class", None)
    return serializer.Meta.model if serializer is not None else None


@dataclass(frozen=True)
class Operation:
    route: str
    method: str
    action: str
    relationship: str | None

    @property
    def id(self):
        suffix = f"[{self.relationship}]" if self.relationship else ""
        return f"{self.method} {self.route}{suffix}"


def swept_operations():
    operations = []
    for route, callback in api_routes():
        if OWN_OR_PUBLIC.search(route) or ENDLESS.search(route) or not PARAMETER.search(route):
            continue
        relationships = [None]
        for match in PARAMETER.finditer(route):
            if match["name"] == "relationship":
                relationships = match["pattern"].split("|")
        for method, action in methods_of(callback).items():
            for relationship in relationships:
                operations.append(Operation(route, method, action, relationship))
    return operations


OPERATIONS = swept_operations()
CALLBACKS = dict(api_routes())


def url_for(operation, obj):
    def fill(match):
        return operation.relationship if match["name"] == "relationship" else str(obj.pk)

    return "/" + PARAMETER.sub(fill, operation.route)


def sees(user, obj) -> bool:
    return type(obj).objects.for_user(user).filter(pk=obj.pk).exists()


# What a call needs besides seeing the object, by (view, action): a permission on it, or
# nobody in the sweep (an invitation is answered by its invitee alone, and no persona is).
NOBODY = "nobody"
EXTRA_RULES = {
    ("AccountAuditLogViewSet", "get"): "accounts.view_auditlogentry",
    ("ActivationCodeView", "get"): "accounts.change_activationcode",
    ("ActivationCodeView", "post"): "accounts.change_activationcode",
    ("InvitationViewSet", "accept"): NOBODY,
    ("InvitationViewSet", "decline"): NOBODY,
    ("AssetViewSet", "enable"): "billing.change_asset",
    ("AssetViewSet", "disable"): "billing.change_asset",
    ("AssetSecretView", "get"): "billing.view_secret_asset",
}
#: Operations no caller may make, whoever they are (answered 405 or 403 for everybody who sees the object).
NOBODY_WRITES = {
    ("AvatarView", "put"), ("AvatarView", "delete"),  # another user's avatar: only through /users/me/
}


def needed(operation):
    """The permission the write needs on the object (None: seeing it is enough)."""
    cls = view_class(CALLBACKS[operation.route]).__name__
    key = (cls, operation.action)
    if key in NOBODY_WRITES:
        return NOBODY
    if key in EXTRA_RULES:
        return EXTRA_RULES[key]
    if operation.relationship and operation.method != "GET":
        # only what the serializer declares writable changes through a relationship URL
        # (a many relationship); JSON:API 1.0 answers any other such write with a 403
        serializer = view_class(CALLBACKS[operation.route]).serializer_class
        writable = getattr(serializer.Meta, "writable_relationships", ())
        if inflection.underscore(operation.relationship) not in writable:
            return NOBODY
    action = OBJECT_ACTIONS.get(operation.action)
    return permission_name(route_model(CALLBACKS[operation.route]), action) if action else None


def allowed(user, obj, perm) -> bool:
    return perm is not NOBODY and (perm is None or user.has_perm(perm, obj))


def request_body(operation, obj):
    if operation.method not in ("POST", "PATCH", "PUT"):
        return None
    if operation.relationship:
        return {"data": []}
    serializer = view_class(CALLBACKS[operation.route]).__dict__.get("resource_name")
    return {"data": {"type": serializer or type(obj).__name__, "id": str(obj.pk), "attributes": {}}}


def test_every_route_is_swept():
    """Every API route names an object the sweep can build, or is the caller's own or public."""
    unknown = sorted({op.route for op in OPERATIONS if route_model(CALLBACKS[op.route]) not in FOREIGN})
    assert not unknown, f"routes with no foreign object to sweep (add them to FOREIGN): {unknown}"
    assert len(OPERATIONS) > 100


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.id)
def test_sweep(operation, world):
    world.build_all()
    foreign = Foreign()
    obj = FOREIGN[route_model(CALLBACKS[operation.route])](foreign)
    url = url_for(operation, obj)
    body = request_body(operation, obj)
    perm = needed(operation)
    wrong = []
    for name in world.PERSONAS:
        user = world.persona(name)
        api = JsonApiClient().as_user(user)
        with transaction.atomic():
            response = api.generic(operation.method, url, body)
            transaction.set_rollback(True)
        status = response.status_code
        if status >= 500:
            wrong.append(f"{name}: {status}")
            continue
        if user is None:
            if status != 401:
                wrong.append(f"anonymous: {status}, expected 401")
            continue
        if not sees(user, obj):
            if status not in (404, 405):
                wrong.append(f"{name} (cannot see it): {status}, expected 404")
        elif operation.method == "GET":
            expected = 200 if allowed(user, obj, perm) else 403
            if status != expected:
                wrong.append(f"{name} (sees it): {status}, expected {expected}")
        elif not allowed(user, obj, perm):
            if status not in (403, 405):
                wrong.append(f"{name} (sees it, may not {perm}): {status}, expected 403")
        elif status in (401, 403, 404):
            wrong.append(f"{name} (allowed {perm}): {status}")
    assert not wrong, f"{operation.id} on {url}:\n" + "\n".join(wrong)


@pytest.mark.parametrize("route", sorted({r for r, cb in api_routes()
                                          if not PARAMETER.search(r) and not OWN_OR_PUBLIC.search(r)
                                          and "GET" in methods_of(cb)}))
def test_collections_list_only_what_the_caller_sees(route, world):
    """A collection never lists a foreign object to a caller who cannot see it."""
    world.build_all()
    foreign = Foreign()
    model = route_model(CALLBACKS[route])
    obj = FOREIGN[model](foreign)
    for name in world.PERSONAS:
        user = world.persona(name)
        response = JsonApiClient().as_user(user).get(f"/{route}?page[size]=100")
        if user is None:
            assert response.status_code == 401, route
            continue
        assert response.status_code == 200, (name, response.status_code)
        ids = {item["id"] for item in response.document["data"]}
        if not sees(user, obj):
            assert str(obj.pk) not in ids, (name, route)


def _rel(type_, obj):
    return {"data": {"type": type_, "id": str(obj.pk)}}


#: POSTs that name a foreign object as their parent: (collection, the parent, the document)
CREATES = {
    "account-memberships": (lambda f: f.account, lambda f, me: {"type": "AccountMembership", "attributes": {
        "role": "user"}, "relationships": {"account": _rel("Account", f.account), "user": _rel("User", me)}}),
    "invitations": (lambda f: f.utility, lambda f, me: {"type": "Invitation", "attributes": {
        "email": "someone.new@example.net", "role": "member"},
        "relationships": {"utility": _rel("Utility", f.utility)}}),
    "utilities": (lambda f: f.account, lambda f, me: {"type": "Utility", "attributes": {
        "name": "Planted", "billingDay": 3}, "relationships": {"account": _rel("Account", f.account)}}),
    "memberships": (lambda f: f.utility, lambda f, me: {"type": "Membership", "attributes": {
        "role": "member", "isSubscriber": False}, "relationships": {
        "utility": _rel("Utility", f.utility), "user": _rel("User", me)}}),
    "products": (lambda f: f.utility, lambda f, me: {"type": "Product", "attributes": {
        "name": "Planted", "allowance": 10}, "relationships": {
        "utility": _rel("Utility", f.utility), "productType": _rel("ProductType", product_type())}}),
    "charges": (lambda f: f.product, lambda f, me: {"type": "Charge", "attributes": {
        "kind": "processing", "amount": "1.0000"}, "relationships": {"product": _rel("Product", f.product)}}),
    "contacts": (lambda f: f.member, lambda f, me: {"type": "Contact", "relationships": {
        "contact": _rel("User", f.member)}}),
    "assets": (lambda f: f.utility, lambda f, me: {"type": "Asset", "attributes": {
        "name": "planted", "scope": "utility", "scopeId": str(f.utility.pk), "content": "x"}}),
}
CREATE_PERMISSIONS = {
    "account-memberships": "accounts.add_accountmembership", "invitations": "accounts.add_invitation",
    "utilities": "memberships.add_utility", "memberships": "memberships.add_membership",
    "products": "billing.add_product", "contacts": None, "assets": "billing.add_asset",
}
#: creates governed by a global permission (SPEC: charges are posted by site admins and by
#: holders of billing.add_charge, merchants' service users, on any product): without it a
#: 403 whatever the body names, so the 403 confirms nothing about the parent
GLOBAL_CREATE_PERMISSIONS = {"charges": "billing.add_charge"}


@pytest.mark.parametrize("collection", sorted(CREATES))
def test_creating_inside_a_foreign_account(collection, world):
    """A POST naming a foreign parent: refused (never a 2xx, never a 500) unless the caller
    may add there; refused without seeing it, it is a 404 or a 400 on the relationship,
    never a 403 that would confirm the parent exists."""
    world.build_all()
    foreign = Foreign()
    parent_of, document = CREATES[collection]
    parent = parent_of(foreign)
    perm = CREATE_PERMISSIONS.get(collection)
    global_perm = GLOBAL_CREATE_PERMISSIONS.get(collection)
    wrong = []
    for name in world.PERSONAS:
        user = world.persona(name)
        if user is None:
            continue
        api = JsonApiClient().as_user(user)
        with transaction.atomic():
            response = api.post(f"/api/v1/{collection}/", {"data": document(foreign, user)})
            transaction.set_rollback(True)
        status = response.status_code
        seen = sees(user, parent)
        may = user.has_perm(global_perm) if global_perm else seen and (perm is None or user.has_perm(perm, parent))
        if status >= 500 or (200 <= status < 300 and not may):
            wrong.append(f"{name} (sees the parent: {seen}, may add: {may}): {status}")
        elif may and status in (401, 403, 404):
            wrong.append(f"{name} may add here: {status}")
        elif global_perm and not may and status != 403:
            wrong.append(f"{name} lacks {global_perm}: {status}, expected 403")
        elif not seen and status == 403 and not global_perm:
            wrong.append(f"{name} cannot see the parent but got 403 (404 expected)")
    assert not wrong, f"POST /api/v1/{collection}/:\n" + "\n".join(wrong)
