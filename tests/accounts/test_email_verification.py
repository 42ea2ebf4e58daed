"""Email verification (SPEC §3 Users `emailVerified`): signed links, sign-up and email changes
that answer alike for taken addresses, normalised addresses, and the neutral password reset."""

import re
from datetime import timedelta

import pytest
from django.core import mail, signing

from accounts import services
from accounts.models import User, normalize_email
from tests.factories import PASSWORD, SiteAdminFactory, UserFactory
from tests.jsonapi import body

URL = "/api/v1/users/"
SIGNUP = {"first_name": "", "last_name": "", "password1": PASSWORD, "password2": PASSWORD}


def link_in(message) -> str:
    return re.search(r"/verify-email/[^/\s]+/", message.body).group(0)


def confirm(client, email_or_user, link):
    """Open the link signed in as its account and press Confirm, as a person would."""
    user = email_or_user if isinstance(email_or_user, User) else User.objects.get(email=email_or_user)
    client.force_login(user, backend="accounts.backends.RosterBackend")
    page = client.get(link)
    assert page.status_code == 200 and "Confirm my address" in page.content.decode(), page.content
    return client.post(link)



@pytest.mark.django_db
class TestSignup:
    def test_the_link_verifies_once(self, client):
        client.post("/signup/", {**SIGNUP, "email": "carol@example.org"})
        link = link_in(mail.outbox[0])
        response = confirm(client, "carol@example.org", link)
        assert response.status_code == 200 and "is confirmed" in response.content.decode()
        assert User.objects.get(email="carol@example.org").email_verified
        again = client.post(link)
        assert again.status_code == 400 and "already used" in again.content.decode()

    def test_opening_the_link_confirms_nothing_for_whoever_signed_up_with_the_address(self, client):
        """Someone signs up with a colleague's address: the colleague (or a mail scanner)
        following the link must not verify the squatter's account."""
        client.post("/signup/", {**SIGNUP, "email": "colleague@example.org"})
        link = link_in(mail.outbox[0])
        squatter = User.objects.get(email="colleague@example.org")
        opened = client.get(link)
        assert opened.status_code == 302 and opened["Location"].startswith("/login/?next=")
        assert client.post(link).status_code == 302
        other = UserFactory()
        client.force_login(other, backend="accounts.backends.RosterBackend")
        assert client.get(link).status_code == 403
        assert client.post(link).status_code == 403
        squatter.refresh_from_db()
        other.refresh_from_db()
        assert not squatter.email_verified and other.email != "colleague@example.org"

    def test_a_registered_address_gets_the_same_page_and_a_notice(self, client):
        UserFactory(email="taken@example.org")
        fresh = client.post("/signup/", {**SIGNUP, "email": "free@example.org"})
        taken = client.post("/signup/", {**SIGNUP, "email": "Taken@Example.org"})
        assert fresh.status_code == taken.status_code == 200
        assert fresh.content.decode().replace("free@", "X@") == taken.content.decode().replace("Taken@Example.org",
                                                                                                 "X@example.org")
        assert User.objects.filter(email="taken@example.org").count() == 1
        notice = mail.outbox[1]
        assert notice.to == ["taken@example.org"] and "/verify-email/" not in notice.body

    def test_a_password_like_the_name_is_refused_alike_for_registered_addresses(self, client):
        UserFactory(email="known@example.org")
        data = {**SIGNUP, "first_name": "Zebracrossing", "password1": "Zebracrossing1",
                "password2": "Zebracrossing1"}
        known = client.post("/signup/", {**data, "email": "known@example.org"})
        unknown = client.post("/signup/", {**data, "email": "unknown@example.org"})
        assert known.status_code == unknown.status_code == 200
        assert "too similar" in known.content.decode() and "too similar" in unknown.content.decode()
        assert not User.objects.filter(email="unknown@example.org").exists() and not mail.outbox

    def test_an_expired_link_says_so_and_changes_nothing(self, client, settings):
        client.post("/signup/", {**SIGNUP, "email": "late@example.org"})
        link = link_in(mail.outbox[0])
        client.force_login(User.objects.get(email="late@example.org"), backend="accounts.backends.RosterBackend")
        settings.ROSTER_EMAIL_VERIFICATION_TTL = timedelta(seconds=-1)
        response = client.post(link)
        assert response.status_code == 400 and "expired" in response.content.decode()
        assert not User.objects.get(email="late@example.org").email_verified

    def test_a_forged_link_is_refused(self, client):
        user = UserFactory(email_verified=False)
        forged = signing.dumps({"user": user.pk, "email": user.email}, salt="something else")
        assert client.get(f"/verify-email/{forged}/").status_code == 400
        user.refresh_from_db()
        assert not user.email_verified


@pytest.mark.django_db
class TestWhoStartsVerified:
    def test_site_admins_and_add_user_holders_create_verified_users(self):
        made = services.user_create(actor=SiteAdminFactory(), email="a@example.org", password=PASSWORD)
        assert made.email_verified and mail.outbox == []

    def test_existing_users_are_verified_by_the_migration_default(self):
        # Factories stand for users from before the upgrade; the field's own default is False.
        assert User._meta.get_field("email_verified").default is False

    def test_email_verified_is_private_and_read_only(self, api, world):
        me = api.as_user(world["account_user"]).get(f"{URL}me/").document["data"]
        assert me["attributes"]["emailVerified"] is True
        other = api.as_user(world["member"]).get(f"{URL}{world['account_user'].pk}/")
        if other.status_code == 200:
            assert "emailVerified" not in other.document["data"]["attributes"]


@pytest.mark.django_db
class TestEmailChange:
    def change(self, api, user, email):
        return api.patch(f"{URL}me/", body("User", {"email": email, "currentPassword": PASSWORD}, id=user.pk))

    def test_the_old_address_stays_until_the_link_is_used(self, api, client):
        user = UserFactory(email="old@example.org")
        response = self.change(api.as_user(user), user, "New@Example.org")
        assert response.status_code == 200
        assert response.document["data"]["attributes"]["email"] == "old@example.org"
        assert mail.outbox[0].to == ["new@example.org"]
        assert confirm(client, user, link_in(mail.outbox[0])).status_code == 200
        user.refresh_from_db()
        assert user.email == "new@example.org" and user.pending_email == "" and user.email_verified

    def test_a_taken_address_answers_alike_and_stores_nothing(self, api):
        UserFactory(email="taken@example.org")
        user = UserFactory(email="mine@example.org")
        free = self.change(api.as_user(user), user, "free@example.org")
        taken = self.change(api, user, "taken@example.org")
        assert free.status_code == taken.status_code == 200
        assert free.document["data"]["attributes"] == taken.document["data"]["attributes"]
        user.refresh_from_db()
        assert user.email == "mine@example.org" and user.pending_email == ""
        assert [m.to for m in mail.outbox] == [["free@example.org"], ["taken@example.org"]]
        assert "/verify-email/" not in mail.outbox[1].body

    def test_a_superseded_link_no_longer_works(self, api, client):
        user = UserFactory()
        self.change(api.as_user(user), user, "first@example.org")
        self.change(api, user, "second@example.org")
        client.force_login(user, backend="accounts.backends.RosterBackend")
        assert client.post(link_in(mail.outbox[0])).status_code == 400
        user.refresh_from_db()
        assert user.pending_email == "second@example.org"

    def test_the_portal_form_waits_for_the_link(self, client):
        user = UserFactory(email="old@example.org")
        client.force_login(user, backend="accounts.backends.RosterBackend")
        response = client.post("/profile/email/", {"email": "new@example.org", "current_password": PASSWORD})
        assert response.status_code == 302
        user.refresh_from_db()
        assert user.email == "old@example.org" and user.pending_email == "new@example.org"
        assert mail.outbox[0].to == ["new@example.org"]


@pytest.mark.django_db
class TestNormalisation:
    def test_case_nfkc_and_idna(self):
        assert normalize_email(" Ｐerson@Example.ORG ") == "person@example.org"
        assert normalize_email("a@bücher.example") == "a@xn--bcher-kva.example"
        assert normalize_email("a@BÜCHER.example") == normalize_email("a@xn--bcher-kva.example")

    @pytest.mark.parametrize("email", ["ceo@corp.com\ufe6bevil.com", "ceo\uff20corp.com@evil.com",
                                       "a@" + "\ufb03." * 80 + "com"])
    def test_an_address_whose_normal_form_is_no_address_is_a_400(self, api, world, email):
        """NFKC turns a small or full-width "@" into a real one, and ligatures grow: what would
        be stored is checked, not what was typed."""
        user = UserFactory(email="me@example.org")
        changed = api.as_user(user).patch(f"{URL}me/", body("User", {"email": email, "currentPassword": PASSWORD},
                                                             id=user.pk))
        assert changed.status_code == 400 and changed.document["errors"][0]["source"]["pointer"] == \
            "/data/attributes/email"
        user.refresh_from_db()
        assert user.pending_email == "" and not mail.outbox
        invited = api.as_user(world["account_admin"]).post("/api/v1/invitations/", body(
            "Invitation", {"email": email}, {"account": {"data": {"type": "Account", "id": str(world.account.pk)}}}))
        assert invited.status_code == 400, invited.document
        created = api.as_user(SiteAdminFactory()).post(URL, body("User", {"email": email, "password": "x8!Kq2#zLm"}))
        assert created.status_code == 400, created.document

    def test_a_domain_mixing_scripts_is_a_400_on_email(self, api):
        admin = SiteAdminFactory()
        # "exаmple" with a Cyrillic а
        response = api.as_user(admin).post(URL, body("User", {"email": "x@ex\u0430mple.org", "password": PASSWORD}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/email"
        assert not User.objects.filter(email__startswith="x@").exists()

    def test_the_portal_refuses_mixed_scripts_too(self, client):
        response = client.post("/signup/", {**SIGNUP, "email": "x@ex\u0430mple.org"})
        assert response.status_code == 200 and not User.objects.exists() and mail.outbox == []


@pytest.mark.django_db
def test_password_reset_answers_alike_for_unknown_addresses(client):
    UserFactory(email="known@example.org")
    known = client.post("/password-reset/", {"email": "known@example.org"})
    unknown = client.post("/password-reset/", {"email": "nobody@example.org"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]
    assert [m.to for m in mail.outbox] == [["known@example.org"]]


def test_tokens_are_django_signing(settings):
    user = User(pk=7, email="a@example.org")
    token = services.email_verification_token(user=user, email=user.email)
    assert signing.loads(token, salt="accounts.email-verification") == {"user": 7, "email": "a@example.org"}
