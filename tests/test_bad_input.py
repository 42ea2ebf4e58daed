"""Rule 3: malformed requests to every endpoint get a 4xx JSON:API error and change nothing."""

import json

import pytest

from accounts.models import Account, AccountMembership, AuditLogEntry, Avatar, Contact, Role, Session, User
from memberships.models import Membership, Utility
from tests.factories import RoleFactory, SiteAdminFactory, UserFactory
from tests.jsonapi import MEDIA_TYPE

# (method, path template, resource type). {user}, {role}, {contact} are filled per test.
ENDPOINTS = [
    ("POST", "/api/v1/sessions/", "Session"),
    ("PATCH", "/api/v1/sessions/current/", "Session"),
    ("POST", "/api/v1/users/", "User"),
    ("PATCH", "/api/v1/users/{user}/", "User"),
    ("PATCH", "/api/v1/users/me/", "User"),
    ("POST", "/api/v1/roles/", "Role"),
    ("PATCH", "/api/v1/roles/{role}/", "Role"),
    ("POST", "/api/v1/contacts/", "Contact"),
    ("DELETE", "/api/v1/contacts/{contact}/", "Contact"),
    ("DELETE", "/api/v1/roles/{role}/", "Role"),
    ("POST", "/api/v1/accounts/", "Account"),
    ("PATCH", "/api/v1/accounts/{account}/", "Account"),
    ("DELETE", "/api/v1/accounts/{account}/", "Account"),
    ("POST", "/api/v1/account-roles/", "AccountRole"),
    ("POST", "/api/v1/account-memberships/", "AccountMembership"),
    ("PATCH", "/api/v1/account-memberships/{accountmembership}/", "AccountMembership"),
    ("POST", "/api/v1/activations/", "Activation"),
    ("POST", "/api/v1/utilities/", "Utility"),
    ("PATCH", "/api/v1/utilities/{utility}/", "Utility"),
    ("POST", "/api/v1/utilities/personal/", "Utility"),
    ("POST", "/api/v1/memberships/", "Membership"),
    ("PATCH", "/api/v1/memberships/{membership}/", "Membership"),
    ("DELETE", "/api/v1/memberships/{membership}/", "Membership"),
]

BIG = 3 * 1024 * 1024


def bad_bodies(type_, id_):
    """(name, raw body, content type) for each kind of malformed request."""
    def doc(data):
        return json.dumps({"data": data})

    ident = {"id": id_} if id_ else {}
    return [
        ("not json", "{not json", MEDIA_TYPE),
        ("invalid utf-8", b"\xff\xfe{", MEDIA_TYPE),
        ("json list", "[1, 2]", MEDIA_TYPE),
        ("json string", '"data"', MEDIA_TYPE),
        ("json null", "null", MEDIA_TYPE),
        ("no data", json.dumps({"meta": {}}), MEDIA_TYPE),
        ("data list", doc([{"type": type_}]), MEDIA_TYPE),
        ("data string", doc("x"), MEDIA_TYPE),
        ("no type", doc({**ident, "attributes": {}}), MEDIA_TYPE),
        ("type number", doc({**ident, "type": 7}), MEDIA_TYPE),
        ("wrong type", doc({**ident, "type": "Nope", "attributes": {}}), MEDIA_TYPE),
        ("attributes list", doc({**ident, "type": type_, "attributes": [1]}), MEDIA_TYPE),
        ("relationships string", doc({**ident, "type": type_, "relationships": "x"}), MEDIA_TYPE),
        ("relationship without data", doc({**ident, "type": type_, "relationships": {"user": {}}}), MEDIA_TYPE),
        ("relationship id object", doc({**ident, "type": type_, "relationships": {
            "contact": {"data": {"type": "User", "id": {"x": 1}}}}}), MEDIA_TYPE),
        ("relationship id huge", doc({**ident, "type": type_, "relationships": {
            "contact": {"data": {"type": "User", "id": "9" * 30}}}}), MEDIA_TYPE),
        ("relationship id text", doc({**ident, "type": type_, "relationships": {
            "roles": {"data": [{"type": "Role", "id": "abc"}]}}}), MEDIA_TYPE),
        ("unknown attribute", doc({**ident, "type": type_, "attributes": {"noSuchThing": 1}}), MEDIA_TYPE),
        ("wrong value types", doc({**ident, "type": type_, "attributes": {
            "email": 12, "password": {}, "firstName": [1], "name": None, "permissions": "x", "billingDay": "x",
            "isSubscriber": "maybe", "role": 3, "customAttributes": [1], "activationCode": {}}}), MEDIA_TYPE),
        ("wrong relationship values", doc({**ident, "type": type_, "relationships": {
            "account": {"data": {"type": "Account", "id": "x"}}, "utility": {"data": [{"type": "Utility", "id": "1"}]},
            "user": {"data": "1"}}}), MEDIA_TYPE),
        ("huge numbers", doc({**ident, "type": type_, "attributes": {
            "billingDay": 10 ** 30, "subscriberSeats": 10 ** 30, "execInterval": 10 ** 30}}), MEDIA_TYPE),
        ("id mismatch", doc({"id": "999999", "type": type_, "attributes": {}}), MEDIA_TYPE),
        ("id object", doc({"id": {"a": 1}, "type": type_, "attributes": {}}), MEDIA_TYPE),
        ("huge body", doc({**ident, "type": type_, "attributes": {"firstName": "x" * BIG}}), MEDIA_TYPE),
        ("form body", "email=a@b.c&password=x", "application/x-www-form-urlencoded"),
        ("plain json", doc({**ident, "type": type_, "attributes": {}}), "application/json"),
        ("media type params", doc({**ident, "type": type_, "attributes": {}}), f"{MEDIA_TYPE}; version=2"),
    ]


def snapshot():
    return (
        AuditLogEntry.objects.count(),
        User.objects.count(),
        Role.objects.count(),
        Contact.objects.count(),
        Session.objects.count(),
        Avatar.objects.count(),
        Account.objects.count(),
        AccountMembership.objects.count(),
        Utility.objects.count(),
        Membership.objects.count(),
        tuple(Account.objects.order_by("pk").values_list("name", "exec_interval", "consultancy_account")),
        tuple(Utility.objects.order_by("pk").values_list("name", "billing_day", "subscriber_seats")),
        tuple(Membership.objects.order_by("pk").values_list("role", "is_subscriber")),
        tuple(User.objects.order_by("pk").values_list("email", "first_name", "password", "is_active")),
        tuple(Role.objects.order_by("pk").values_list("name", "description")),
    )


CASES = [
    (method, path, type_, name)
    for method, path, type_ in ENDPOINTS
    for name, *_ in bad_bodies(type_, "1")
    if not (method == "DELETE" and name not in ("huge body",))
]


@pytest.mark.django_db
@pytest.mark.parametrize("method,path,type_,case", CASES)
def test_bad_input_changes_nothing(api, method, path, type_, case):
    admin = SiteAdminFactory()
    target = UserFactory()
    role = RoleFactory()
    contact = Contact.objects.create(owner=admin, contact=target)
    account = Account.objects.create(name="Bad input Co")
    account_membership = AccountMembership.objects.create(account=account, user=target, role="admin")
    utility = Utility.objects.create(account=account, name="U", billing_day=3, subscriber_seats=5)
    membership = Membership.objects.create(utility=utility, user=target, is_subscriber=False)
    ids = {"user": target.pk, "role": role.pk, "contact": contact.pk, "account": account.pk,
           "accountmembership": account_membership.pk, "utility": utility.pk, "membership": membership.pk}
    url = path.format(**ids)
    own_id = admin.pk if "/me/" in url else next(
        (value for key, value in ids.items() if "{" + key + "}" in path), None)
    if method == "PATCH" and "current" in url:
        own_id = None
    raw, content_type = next((raw, ct) for name, raw, ct in bad_bodies(type_, str(own_id) if own_id else None)
                             if name == case)
    if url != "/api/v1/sessions/":
        api.as_user(admin)
    before = snapshot()
    response = api.generic(method, url, raw, content_type)
    assert 400 <= response.status_code < 500, (response.status_code, response.content[:300])
    if case == "huge body":
        assert response.status_code == 413
    if case in ("plain json", "form body", "media type params") and method != "DELETE":
        assert response.status_code == 415
    if case == "id mismatch" and method == "PATCH" and own_id:
        assert response.status_code == 409
    if case == "wrong type" and method in ("POST", "PATCH"):
        assert response.status_code in (409, 400)
    after = snapshot()
    # Signing in as a side effect of a bad body is impossible; the token session the
    # test itself opened is the only Session row.
    assert after == before


@pytest.mark.django_db
@pytest.mark.parametrize("path", [
    "/api/v1/users/{bad}/", "/api/v1/roles/{bad}/", "/api/v1/contacts/{bad}/", "/api/v1/sessions/{bad}/",
    "/api/v1/users/{bad}/avatar/", "/api/v1/accounts/{bad}/", "/api/v1/accounts/{bad}/auditlog/",
    "/api/v1/accounts/{bad}/activation-code/", "/api/v1/account-memberships/{bad}/", "/api/v1/utilities/{bad}/",
    "/api/v1/memberships/{bad}/", "/api/v1/account-roles/{bad}/",
])
@pytest.mark.parametrize("bad", ["abc", "1e3", "-1", "0x10", "9" * 25, "%00", "1.0"])
def test_non_numeric_ids_are_404(api, path, bad):
    api.as_user(SiteAdminFactory())
    for method in ("GET", "PATCH", "DELETE"):
        response = api.generic(method, path.format(bad=bad), "", MEDIA_TYPE)
        assert response.status_code == 404, (method, path, bad, response.status_code)


@pytest.mark.django_db
@pytest.mark.parametrize("content_type,data", [
    ("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100),
    ("image/png", b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024)),
    ("image/jpeg", b"\xff\xd8\xff" + b"garbage" * 10),
    ("text/plain", b"hello"),
    (MEDIA_TYPE, b'{"data": {}}'),
])
def test_bad_avatars_change_nothing(api, content_type, data):
    user = UserFactory()
    api.as_user(user)
    before = snapshot()
    response = api.generic("PUT", "/api/v1/users/me/avatar/", data, content_type)
    assert 400 <= response.status_code < 500
    assert snapshot() == before
