"""The attacks of the security review (issue 11), each reproduced and refused."""

import os
import pickle
import tempfile
from pathlib import Path

import pytest
from django.core import mail
from django.core.cache import caches
from django.core.management import call_command
from django.test import Client, override_settings

from accounts.models import AuditLogEntry, Avatar, Session, User
from tests.factories import PASSWORD, SiteAdminFactory, UserFactory
from tests.jsonapi import body
from tests.portal import post_back

SIGN_IN = "/api/v1/sessions/"


def sign_in(api, user, password, **extra):
    return api.as_user(None).post(SIGN_IN, body("Session", {"email": user.email, "password": password}), **extra)


# --------------------------------------------------------------------------- client addresses


@pytest.mark.django_db
class TestClientAddressBehindAProxy:
    @pytest.fixture(autouse=True)
    def _behind_one_proxy(self, settings):
        settings.ROSTER_USE_X_FORWARDED_FOR = True
        settings.ROSTER_TRUSTED_PROXY_COUNT = 1

    def test_rotating_forwarded_for_entries_still_lock_the_pair(self, api):
        user = UserFactory()
        statuses = [
            sign_in(api, user, "wrong password", HTTP_X_FORWARDED_FOR=f"10.9.{n}.1, 203.0.113.5",
                    REMOTE_ADDR="10.0.0.2").status_code
            for n in range(12)
        ]
        assert statuses[:5] == [401] * 5
        assert set(statuses[5:]) == {429}
        # the right password from the locked address is refused too
        locked = sign_in(api, user, PASSWORD, HTTP_X_FORWARDED_FOR="10.9.99.1, 203.0.113.5", REMOTE_ADDR="10.0.0.2")
        assert locked.status_code == 429

    def test_session_and_audit_record_the_address_the_proxy_appended(self, api):
        user = UserFactory()
        response = sign_in(api, user, PASSWORD, HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.5",
                           REMOTE_ADDR="10.0.0.2")
        assert response.status_code == 201
        assert response.document["data"]["attributes"]["ipAddress"] == "203.0.113.5"
        entry = AuditLogEntry.objects.filter(content_type__model="session").latest("timestamp")
        assert entry.remote_addr == "203.0.113.5"

    def test_with_two_proxies_the_second_entry_from_the_right_counts(self, api, settings):
        settings.ROSTER_TRUSTED_PROXY_COUNT = 2
        response = sign_in(api, UserFactory(), PASSWORD, REMOTE_ADDR="10.0.0.2",
                           HTTP_X_FORWARDED_FOR="198.51.100.66, 203.0.113.9, 10.0.0.1")
        assert response.document["data"]["attributes"]["ipAddress"] == "203.0.113.9"

    def test_a_header_shorter_than_the_proxy_chain_is_not_believed(self, api, settings):
        settings.ROSTER_TRUSTED_PROXY_COUNT = 2
        response = sign_in(api, UserFactory(), PASSWORD, REMOTE_ADDR="10.0.0.2", HTTP_X_FORWARDED_FOR="198.51.100.66")
        assert response.document["data"]["attributes"]["ipAddress"] == "10.0.0.2"


@pytest.mark.django_db
def test_failures_from_many_addresses_lock_the_person(api, settings):
    settings.ROSTER_USERNAME_FAILURE_LIMIT = 8
    """Four failures from each of several addresses never lock a pair (limit 5), but the
    person's failures from all of them do."""
    user = UserFactory()
    for n in range(8):
        assert sign_in(api, user, "wrong password", REMOTE_ADDR=f"192.0.2.{n // 4 + 1}").status_code == 401
    assert sign_in(api, user, PASSWORD, REMOTE_ADDR="198.51.100.200").status_code == 429
    assert sign_in(api, UserFactory(), PASSWORD, REMOTE_ADDR="198.51.100.200").status_code == 201


# --------------------------------------------------------------------------- current password


@pytest.mark.django_db
def test_wrong_current_passwords_count_towards_the_lockout(api):
    """A stolen token cannot be used to guess the password and then change it."""
    user = UserFactory()
    api.as_user(user)

    def change(current):
        return api.patch("/api/v1/users/me/", body("User", {"password": "a brand new passphrase",
                                                            "currentPassword": current}, id=user.pk),
                         REMOTE_ADDR="192.0.2.50")

    assert [change(f"guess {n}").status_code for n in range(5)] == [400] * 5
    refused = change(PASSWORD)
    assert refused.status_code == 429 and refused.document["errors"][0]["code"] == "too_many_attempts"
    user.refresh_from_db()
    assert user.check_password(PASSWORD)
    assert sign_in(api, user, PASSWORD, REMOTE_ADDR="192.0.2.50").status_code == 429


@pytest.mark.django_db
def test_the_portal_password_form_counts_wrong_current_passwords_too():
    user = UserFactory()
    client = Client(REMOTE_ADDR="192.0.2.60")
    client.force_login(user, backend="accounts.backends.RosterBackend")
    for n in range(5):
        client.post("/profile/password/", {"old_password": f"guess {n}", "new_password1": "a brand new passphrase",
                                           "new_password2": "a brand new passphrase"})
    response = client.post("/profile/password/", {"old_password": PASSWORD, "new_password1": "a brand new passphrase",
                                                   "new_password2": "a brand new passphrase"})
    assert response.status_code == 200 and b"Too many failed password checks" in response.content
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


# --------------------------------------------------------------------------- staff takeover


@pytest.mark.django_db
class TestAdminPasswordView:
    def _staff_with(self, *perms):
        from tests.factories import RoleFactory

        staff = UserFactory(is_staff=True)
        staff.roles.add(RoleFactory(permissions=list(perms)))
        return staff

    def test_staff_holding_change_user_cannot_set_a_password(self):
        victim = UserFactory()
        client = Client()
        client.force_login(self._staff_with("accounts.change_user", "accounts.view_user"),
                           backend="accounts.backends.RosterBackend")
        url = f"/admin/accounts/user/{victim.pk}/password/"
        assert client.get(url).status_code == 403
        response = client.post(url, {"password1": "taken over at last", "password2": "taken over at last",
                                     "usable_password": "true"})
        assert response.status_code == 403
        victim.refresh_from_db()
        assert victim.check_password(PASSWORD)

    def test_site_admins_set_a_password(self):
        victim = UserFactory()
        Session.objects.create(user=victim, key_hash="x" * 64, expires_at="2999-01-01T00:00Z",
                               absolute_expires_at="2999-01-01T00:00Z")
        client = Client()
        client.force_login(SiteAdminFactory(), backend="accounts.backends.RosterBackend")
        url = f"/admin/accounts/user/{victim.pk}/password/"
        assert client.get(url).status_code == 200
        client.post(url, {"password1": "a fresh passphrase", "password2": "a fresh passphrase",
                          "usable_password": "true"})
        victim.refresh_from_db()
        assert victim.check_password("a fresh passphrase")
        assert not Session.objects.filter(user=victim).exists()


# --------------------------------------------------------------------------- the shared cache


def test_the_default_cache_is_the_database_or_redis():
    from config.settings import base

    assert base.CACHES["default"]["BACKEND"] == "django.core.cache.backends.db.DatabaseCache"
    with override_settings():
        os.environ["DJANGO_REDIS_URL"] = "redis://127.0.0.1:6379/0"
        try:
            import importlib

            reloaded = importlib.reload(base)
            assert reloaded.CACHES["default"]["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        finally:
            del os.environ["DJANGO_REDIS_URL"]
            importlib.reload(base)


class _Planted:
    """What an attacker would plant: unpickling it writes a marker file."""

    marker = Path(tempfile.gettempdir()) / "roster-pickle-ran"

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.django_db(transaction=True)
def test_a_pickle_planted_where_the_file_cache_lived_never_runs(api, settings):
    """The old default cache unpickled whatever was in `<tmp>/roster-cache`; a throttled
    request (activations) now reads the database's cache and never that directory."""
    from django.core.cache.backends.filebased import FileBasedCache

    from config.settings import base

    old = Path(tempfile.gettempdir()) / "roster-cache"
    old.mkdir(exist_ok=True)
    _Planted.marker.unlink(missing_ok=True)
    user = UserFactory()
    # exactly where the old file cache kept this user's activation throttle
    planted = Path(FileBasedCache(str(old), {})._key_to_file(f"throttle_activation_{user.pk}"))
    planted.write_bytes(pickle.dumps(4102444800.0) + pickle.dumps(_Planted()))
    settings.CACHES = base.CACHES
    call_command("createcachetable", verbosity=0)
    for _ in range(3):
        api.as_user(user).post("/api/v1/activations/", body("Activation", {"activationCode": "ABCDEFGH"}))
    assert caches["default"].__class__.__name__ == "DatabaseCache"
    assert not _Planted.marker.exists()


# --------------------------------------------------------------------------- body sizes


@pytest.mark.django_db
def test_a_huge_portal_upload_is_refused_before_it_is_read():
    user = UserFactory()
    client = Client()
    client.force_login(user, backend="accounts.backends.RosterBackend")
    huge = b"\x89PNG\r\n\x1a\n" + b"\0" * (3 * 1024 * 1024)
    from django.core.files.uploadedfile import SimpleUploadedFile

    response = client.post("/profile/avatar/", {"avatar": SimpleUploadedFile("a.png", huge, "image/png")})
    assert response.status_code == 413
    assert not Avatar.objects.filter(user=user).exists()


@pytest.mark.django_db
def test_a_huge_body_is_refused_on_any_path_by_its_length():
    response = Client().generic("POST", "/login/", b"x", CONTENT_LENGTH=str(30 * 1024 * 1024),
                                content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert User.objects.count() == 0


# --------------------------------------------------------------------------- harvesting people


@pytest.mark.django_db
def test_an_account_admin_cannot_harvest_people_by_adding_ids(api):
    """Sign up, create an account (its creator is its admin), add user ids one by one: every
    id of someone they share nothing with is answered as if there were no such user."""
    strangers = [UserFactory() for _ in range(4)] + [UserFactory(is_active=False)]
    harvester = UserFactory()
    api.as_user(harvester)
    account = api.post("/api/v1/accounts/", body("Account", {"name": "Harvest"})).document["data"]["id"]
    answers = set()
    for pk in [*(s.pk for s in strangers), max(s.pk for s in strangers) + 1000]:
        response = api.post("/api/v1/account-memberships/", body("AccountMembership", {}, {
            "user": {"data": {"type": "User", "id": str(pk)}},
            "account": {"data": {"type": "Account", "id": account}},
        }))
        assert response.status_code == 400
        error = response.document["errors"][0]
        assert error["source"]["pointer"] == "/data/relationships/user"
        answers.add((error["code"], error["detail"].replace(str(pk), "N")))
        assert api.get(f"/api/v1/users/{pk}/").status_code == 404
    assert len(answers) == 1  # the same answer for a registered, an inactive and an unknown id


@pytest.mark.django_db
def test_people_who_share_an_account_are_added_directly(api, world):
    admin, colleague = world.persona("account_admin"), world.persona("account_user")
    other = world.other_account
    from accounts.models import AccountMembership

    AccountMembership.objects.create(user=admin, account=other, role="admin")
    response = api.as_user(admin).post("/api/v1/account-memberships/", body("AccountMembership", {}, {
        "user": {"data": {"type": "User", "id": str(colleague.pk)}},
        "account": {"data": {"type": "Account", "id": str(other.pk)}}}))
    assert response.status_code == 201


@pytest.mark.django_db
def test_site_admins_add_any_active_user_but_no_inactive_one(api, world):
    stranger, inactive = UserFactory(), UserFactory(is_active=False)
    api.as_user(world.persona("site_admin"))

    def add(user):
        return api.post("/api/v1/memberships/", body("Membership", {"isSubscriber": False}, {
            "user": {"data": {"type": "User", "id": str(user.pk)}},
            "utility": {"data": {"type": "Utility", "id": str(world.utility.pk)}}}))

    assert add(stranger).status_code == 201
    assert add(inactive).status_code == 400


@pytest.mark.django_db
def test_private_attributes_are_for_the_person_their_account_admins_and_site_admins(api, world):
    person = world.persona("account_user")
    private = {"lastLogin", "dateJoined", "isActive", "strategy", "isSiteAdmin"}
    for viewer, sees in (("account_user", True), ("account_admin", True), ("site_admin", True),
                         ("account_consultant", False), ("member", False)):
        api.as_user(world.persona(viewer))
        response = api.get(f"/api/v1/users/{person.pk}/")
        if response.status_code == 404:
            continue  # cannot see the person at all
        attributes = set(response.document["data"]["attributes"])
        assert (private <= attributes) if sees else not (private & attributes), viewer
        listed = api.get(f"/api/v1/users/?filter[id]={person.pk}").document["data"]
        assert bool(private & set(listed[0]["attributes"])) == sees, viewer


@pytest.mark.django_db
def test_contacts_by_email_find_only_active_people_and_are_throttled(api, settings):
    owner, inactive = UserFactory(), UserFactory(is_active=False)
    api.as_user(owner)
    response = api.post("/api/v1/contacts/", body("Contact", {"email": inactive.email}))
    assert response.status_code == 400 and response.document["errors"][0]["source"]["pointer"] == \
        "/data/attributes/email"
    for n in range(40):
        last = api.post("/api/v1/contacts/", body("Contact", {"email": f"probe{n}@example.org"}))
        if last.status_code == 429:
            break
    assert last.status_code == 429


@pytest.mark.django_db
def test_the_portal_address_book_finds_only_active_people_and_shares_the_throttle(client, api):
    from accounts.models import Contact

    owner, inactive = UserFactory(), UserFactory(is_active=False)
    client.force_login(owner, backend="accounts.backends.RosterBackend")
    refused = post_back(client, "/profile/contacts/add/", {"email": inactive.email})
    assert refused.status_code == 200 and "No user has this email" in refused.content.decode()
    assert not Contact.objects.filter(owner=owner).exists()
    for n in range(15):  # half the allowance here, half through the API: one budget
        client.post("/profile/contacts/add/", {"email": f"probe{n}@example.org"})
        api.as_user(owner).post("/api/v1/contacts/", body("Contact", {"email": f"api{n}@example.org"}))
    spent = post_back(client, "/profile/contacts/add/", {"email": "last@example.org"})
    assert "Too many lookups" in spent.content.decode()
    assert api.post("/api/v1/contacts/", body("Contact", {"email": "x@example.org"})).status_code == 429


@pytest.mark.django_db
def test_every_lookup_by_address_reads_a_unicode_domain_as_its_idna_form(api, client):
    user = UserFactory(email="anna@xn--bcher-kva.de")
    signed_in = api.post("/api/v1/sessions/", body("Session", {"email": "Anna@Bücher.de", "password": PASSWORD}))
    assert signed_in.status_code == 201, signed_in.document
    client.post("/password-reset/", {"email": "anna@bücher.de"})
    assert [message.to for message in mail.outbox] == [["anna@xn--bcher-kva.de"]]
    owner = UserFactory()
    api.as_user(owner)
    added = api.post("/api/v1/contacts/", body("Contact", {"email": "ANNA@bücher.de"}))
    assert added.status_code == 201 and added.document["data"]["relationships"]["contact"]["data"]["id"] == \
        str(user.pk)


# --------------------------------------------------------------------------- LDAP identity


@pytest.mark.django_db
class TestLdapIdentity:
    def _ldap_user(self, username="ada"):
        from accounts import services

        return services.user_create(actor=SiteAdminFactory(), email=f"{username}@example.org", username=username,
                                    strategy=User.Strategy.LDAP)

    def test_the_directory_identifier_is_fixed_at_creation(self):
        assert self._ldap_user("ada").directory_id == "ada"

    def test_an_ldap_user_cannot_change_their_username(self, api):
        user = self._ldap_user("ada")
        response = api.as_user(user).patch("/api/v1/users/me/", body("User", {"username": "root"}, id=user.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/username"
        user.refresh_from_db()
        assert user.username == "ada"

    def test_the_bind_names_the_fixed_identifier_not_the_current_username(self, monkeypatch, settings):
        settings.ROSTER_LDAP_SERVER_URI = "ldap://127.0.0.1:1"
        import ldap3

        from accounts.backends import ldap_bind

        user = self._ldap_user("ada")
        User.objects.filter(pk=user.pk).update(username="someone-else")  # e.g. changed by staff
        user.refresh_from_db()
        bound = []

        class FakeConnection:
            def __init__(self, server, user=None, password=None, **kwargs):
                bound.append(user)

            def bind(self):
                return False

            def unbind(self):
                pass

        monkeypatch.setattr(ldap3, "Connection", FakeConnection)
        ldap_bind(user, "secret")
        assert bound == ["uid=ada,ou=people,dc=example,dc=org"]

    def test_an_ldap_refusal_costs_a_password_hash_like_any_other(self, monkeypatch):
        from django.contrib.auth import authenticate
        from django.test import RequestFactory

        user = self._ldap_user("ada")
        hashed = []
        original = User.set_password
        monkeypatch.setattr(User, "set_password", lambda self, raw: (hashed.append(raw), original(self, raw)))
        request = RequestFactory().post("/api/v1/sessions/")
        assert authenticate(request, email=user.email, password="guess") is None
        assert hashed == ["guess"]
