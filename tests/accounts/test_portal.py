"""The portal's account pages: sign in and out, lockout, reset, sign-up, dashboard, profile."""

import io
import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from PIL import Image

from accounts.models import AuditLogEntry, Avatar, Contact, Session, User, hash_token
from tests.portal import post_back

PASSWORD = "portal-pass-4821-xyz"

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(db):
    return User.objects.create_user(email="alice@example.org", password=PASSWORD, first_name="Alice")


@pytest.fixture
def bob(db):
    return User.objects.create_user(email="bob@example.org", password=PASSWORD)


@pytest.fixture
def alice_client(client, alice):
    client.force_login(alice, backend="accounts.backends.RosterBackend")
    return client


def make_session(user, token):
    now = timezone.now()
    return Session.objects.create(
        user=user,
        key_hash=hash_token(token),
        expires_at=now + timedelta(hours=1),
        absolute_expires_at=now + timedelta(days=1),
        user_agent="curl/8.0",
        ip_address="192.0.2.7",
    )


def png_bytes(size=(8, 8)):
    out = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


def field_errors(response, form_name, field):
    return response.context[form_name].errors.get(field, [])


# --------------------------------------------------------------------------- signing in and out


def test_dashboard_sends_anonymous_visitor_to_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


def test_login_page_renders_email_or_username_field(client):
    response = client.get("/login/")
    assert response.status_code == 200
    assert "Email or username" in response.content.decode()
    assert 'href="/password-reset/"' in response.content.decode()


@pytest.mark.parametrize("identifier", ["alice@example.org", "ALICE@example.org", "alice"])
def test_login_with_email_or_username(client, alice, identifier):
    response = client.post("/login/", {"username": identifier, "password": PASSWORD})
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert client.get("/").context["user"] == alice


def test_login_follows_next(client, alice):
    response = client.post("/login/?next=/profile/", {"username": "alice", "password": PASSWORD,
                                                      "next": "/profile/"})
    assert response["Location"] == "/profile/"


def test_login_with_wrong_password_shows_error(client, alice):
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "The email/username or password is wrong." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_lockout_after_five_failures(client, alice):
    for _ in range(4):
        response = client.post("/login/", {"username": "alice", "password": "nope"}, REMOTE_ADDR="10.0.0.1")
        assert response.status_code == 200
    client.post("/login/", {"username": "alice", "password": "nope"}, REMOTE_ADDR="10.0.0.1")

    # Locked: even the right password is refused, with the lockout page.
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.1")
    assert response.status_code == 429
    assert "accounts/lockout.html" in [t.name for t in response.templates]
    assert "Try again in 15 minutes" in response.content.decode()
    assert "_auth_user_id" not in client.session

    # The pair is locked, not the user: another address still signs in.
    response = client.post("/login/", {"username": "alice", "password": PASSWORD}, REMOTE_ADDR="10.0.0.2")
    assert response.status_code == 302


def test_lockout_response_leaves_api_responses_alone(rf):
    from django.http import HttpResponse

    from accounts.views import lockout_response

    original = HttpResponse(status=429)
    assert lockout_response(rf.post("/api/v1/sessions/"), original, {}) is original


def test_logout_is_post_only_and_returns_to_login(alice_client):
    assert alice_client.get("/logout/").status_code == 405
    response = alice_client.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert alice_client.get("/").status_code == 302


def test_nav_shows_admin_link_only_to_staff(client, alice):
    client.force_login(alice, backend="accounts.backends.RosterBackend")
    assert 'href="/admin/"' not in client.get("/").content.decode()
    alice.is_staff = True
    alice.save()
    assert 'href="/admin/"' in client.get("/").content.decode()


# --------------------------------------------------------------------------- password reset


def test_password_reset_sends_email_and_link_sets_password(client, alice):
    make_session(alice, "api-token")
    response = client.post("/password-reset/", {"email": "Alice@Example.org"})
    assert response.status_code == 302
    assert response["Location"] == "/password-reset/done/"
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["alice@example.org"]
    assert message.subject == "Reset your Roster password"

    link = re.search(r"http://testserver(/password-reset/\S+/\S+/)", message.body).group(1)
    form_url = client.get(link)["Location"]  # Django swaps the token for a session-held one
    response = client.post(form_url, {"new_password1": "a-brand-new-pass-77", "new_password2": "a-brand-new-pass-77"})
    assert response["Location"] == "/password-reset/complete/"
    alice.refresh_from_db()
    assert alice.check_password("a-brand-new-pass-77")
    assert not Session.objects.filter(user=alice).exists()


def test_password_reset_for_unknown_email_sends_nothing(client, alice):
    response = client.post("/password-reset/", {"email": "nobody@example.org"})
    assert response.status_code == 302
    assert mail.outbox == []


# --------------------------------------------------------------------------- sign-up


def test_signup_creates_an_unverified_user_and_mails_the_link(client):
    response = client.post("/signup/", {
        "email": "Carol@Example.org", "first_name": "Carol", "last_name": "Jones",
        "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 200
    assert "Check your email" in response.content.decode()
    carol = User.objects.get(email="carol@example.org")
    assert carol.username == "carol" and carol.first_name == "Carol"
    assert carol.check_password(PASSWORD) and not carol.email_verified
    assert [message.to for message in mail.outbox] == [["carol@example.org"]]
    assert "/verify-email/" in mail.outbox[0].body
    assert client.get("/").status_code == 302  # not signed in: the dashboard sends to /login/


def test_signup_shows_service_errors_next_to_fields(client, alice):
    response = client.post("/signup/", {"email": "dave@example.org", "password1": "123", "password2": "123"})
    assert field_errors(response, "form", "password1")
    assert not User.objects.filter(email="dave@example.org").exists()

    response = client.post("/signup/", {"email": "dave@example.org", "password1": PASSWORD, "password2": "x"})
    assert field_errors(response, "form", "password2") == ["The two passwords differ."]


def test_signup_is_404_when_disabled(client, settings):
    settings.ROSTER_SIGNUP_ENABLED = False
    assert client.get("/signup/").status_code == 404
    assert client.post("/signup/", {"email": "e@example.org", "password1": PASSWORD,
                                    "password2": PASSWORD}).status_code == 404
    assert not User.objects.filter(email="e@example.org").exists()
    assert 'href="/signup/"' not in client.get("/login/").content.decode()


# --------------------------------------------------------------------------- dashboard


def test_dashboard_shows_roles_and_counts(alice_client, alice, bob):
    from accounts.models import Role

    alice.roles.add(Role.objects.create(name="Billing clerk"))
    Contact.objects.create(owner=alice, contact=bob)
    make_session(alice, "one")
    make_session(bob, "two")
    response = alice_client.get("/")
    assert response.status_code == 200
    assert response.context["contact_count"] == 1
    assert response.context["session_count"] == 1
    assert "Billing clerk" in response.content.decode()
    assert "Hello, Alice" in response.content.decode()


# --------------------------------------------------------------------------- profile


def test_profile_requires_login(client, bob):
    assert client.get("/profile/")["Location"] == "/login/?next=/profile/"
    response = client.post("/profile/contacts/add/", {"email": "bob@example.org"})
    assert response["Location"] == "/login/?next=/profile/"
    assert not Contact.objects.exists()


def test_profile_update_saves_and_is_audited(alice_client, alice):
    response = alice_client.post("/profile/", {"first_name": "Alicia", "last_name": "Smith", "username": "alicia"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert (alice.first_name, alice.last_name, alice.username) == ("Alicia", "Smith", "alicia")
    entry = AuditLogEntry.objects.filter(actor=alice, object_pk=str(alice.pk)).latest("timestamp")
    assert entry.changes_dict["first_name"] == ["Alice", "Alicia"]


def test_profile_taken_username_is_a_field_error(alice_client, alice, bob):
    response = post_back(alice_client, "/profile/", {"first_name": "A", "last_name": "", "username": "BOB"})
    assert response.status_code == 200
    assert field_errors(response, "profile_form", "username") == ["A user with this username already exists."]
    alice.refresh_from_db()
    assert alice.username == "alice" and alice.first_name == "Alice"


def test_email_change_with_current_password(alice_client, alice):
    response = alice_client.post("/profile/email/", {"email": "new@example.org", "current_password": PASSWORD})
    assert response.status_code == 302
    alice.refresh_from_db()
    # The new address replaces the old once its link is used (test_email_verification.py).
    assert alice.email == "alice@example.org" and alice.pending_email == "new@example.org"


@pytest.mark.parametrize("current_password, error", [
    ("", "This field is required."),
    ("wrong", "Your current password is wrong."),
])
def test_email_change_needs_current_password(alice_client, alice, current_password, error):
    response = post_back(alice_client, "/profile/email/",
                         {"email": "new@example.org", "current_password": current_password})
    assert response.status_code == 200
    assert field_errors(response, "email_form", "current_password") == [error]
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_email_change_to_a_taken_email_answers_like_a_free_one(alice_client, alice, bob):
    taken = alice_client.post("/profile/email/", {"email": "bob@example.org", "current_password": PASSWORD})
    free = alice_client.post("/profile/email/", {"email": "free@example.org", "current_password": PASSWORD})
    assert taken.status_code == free.status_code == 302
    alice.refresh_from_db()
    assert alice.email == "alice@example.org"


def test_password_change_goes_through_service_and_keeps_browser_signed_in(alice_client, alice):
    make_session(alice, "api-token")
    response = alice_client.post("/profile/password/", {
        "old_password": PASSWORD, "new_password1": "another-pass-9132", "new_password2": "another-pass-9132",
    })
    assert response.status_code == 302
    assert response["Location"] == "/profile/"
    alice.refresh_from_db()
    assert alice.check_password("another-pass-9132")
    assert not Session.objects.filter(user=alice).exists()  # the service ends API sessions
    assert alice_client.get("/profile/").status_code == 200


def test_password_change_with_wrong_old_password_is_a_field_error(alice_client, alice):
    response = alice_client.post("/profile/password/", {
        "old_password": "wrong", "new_password1": "another-pass-9132", "new_password2": "another-pass-9132",
    })
    assert response.status_code == 200
    assert field_errors(response, "form", "old_password")
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_profile_lists_own_sessions_only(alice_client, alice, bob):
    mine, theirs = make_session(alice, "mine"), make_session(bob, "theirs")
    response = alice_client.get("/profile/")
    assert list(response.context["sessions"]) == [mine]
    assert f"/profile/sessions/{theirs.pk}/revoke/" not in response.content.decode()


def test_revoke_own_session(alice_client, alice):
    session = make_session(alice, "mine")
    response = alice_client.post(f"/profile/sessions/{session.pk}/revoke/")
    assert response.status_code == 302
    assert not Session.objects.filter(pk=session.pk).exists()


def test_revoke_someone_elses_session_is_404(alice_client, bob):
    session = make_session(bob, "theirs")
    assert alice_client.post(f"/profile/sessions/{session.pk}/revoke/").status_code == 404
    assert Session.objects.filter(pk=session.pk).exists()


def test_revoke_is_post_only(alice_client, alice):
    session = make_session(alice, "mine")
    # A GET only asks (a confirmation page whose form POSTs); it revokes nothing.
    page = alice_client.get(f"/profile/sessions/{session.pk}/revoke/")
    assert page.status_code == 200 and "Revoke this API session?" in page.content.decode()
    assert f'action="/profile/sessions/{session.pk}/revoke/"' in page.content.decode()
    assert Session.objects.filter(pk=session.pk).exists()


def test_contact_add_by_email(alice_client, alice, bob):
    response = alice_client.post("/profile/contacts/add/", {"email": "BOB@example.org"})
    assert response.status_code == 302
    assert Contact.objects.filter(owner=alice, contact=bob).exists()
    assert "bob@example.org" in alice_client.get("/profile/").content.decode()


@pytest.mark.parametrize("email, error", [
    ("nobody@example.org", "No user has this email."),
    ("alice@example.org", "You cannot add yourself as a contact."),
])
def test_contact_add_errors_show_on_email_field(alice_client, alice, email, error):
    response = post_back(alice_client, "/profile/contacts/add/", {"email": email})
    assert response.status_code == 200
    assert field_errors(response, "contact_form", "email") == [error]
    assert not Contact.objects.filter(owner=alice).exists()


def test_contact_add_duplicate_is_a_field_error(alice_client, alice, bob):
    Contact.objects.create(owner=alice, contact=bob)
    response = post_back(alice_client, "/profile/contacts/add/", {"email": "bob@example.org"})
    assert field_errors(response, "contact_form", "email") == ["This user is already in your contacts."]


def test_contact_remove_own_only(alice_client, alice, bob):
    mine = Contact.objects.create(owner=alice, contact=bob)
    theirs = Contact.objects.create(owner=bob, contact=alice)
    assert alice_client.post(f"/profile/contacts/{theirs.pk}/remove/").status_code == 404
    assert Contact.objects.filter(pk=theirs.pk).exists()
    assert alice_client.post(f"/profile/contacts/{mine.pk}/remove/").status_code == 302
    assert not Contact.objects.filter(pk=mine.pk).exists()


def test_avatar_upload_png(alice_client, alice):
    upload = SimpleUploadedFile("me.png", png_bytes(), content_type="image/png")
    response = alice_client.post("/profile/avatar/", {"image": upload})
    assert response.status_code == 302
    avatar = Avatar.objects.get(user=alice)
    assert avatar.content_type == "image/png"
    assert bytes(avatar.image).startswith(b"\x89PNG")


@pytest.mark.parametrize("name, data, content_type, error", [
    ("notes.txt", b"hello", "text/plain", "An avatar must be image/png or image/jpeg."),
    ("fake.png", b"not really a png", "image/png", "The body is not a readable image."),
])
def test_avatar_upload_refuses_non_images(alice_client, alice, name, data, content_type, error):
    upload = SimpleUploadedFile(name, data, content_type=content_type)
    response = post_back(alice_client, "/profile/avatar/", {"image": upload})
    assert response.status_code == 200
    assert field_errors(response, "avatar_form", "image") == [error]
    assert error in response.content.decode()
    assert not Avatar.objects.filter(user=alice).exists()


def test_avatar_reset(alice_client, alice):
    alice_client.post("/profile/avatar/", {"image": SimpleUploadedFile("me.png", png_bytes(),
                                                                       content_type="image/png")})
    response = alice_client.post("/profile/avatar/reset/")
    assert response.status_code == 302
    assert not Avatar.objects.filter(user=alice).exists()


def test_profile_page_renders_every_section(alice_client):
    html = alice_client.get("/profile/").content.decode()
    for fragment in ('src="/api/v1/users/me/avatar/"', 'action="/profile/avatar/#avatar"',
                     'action="/profile/contacts/add/#contacts"', 'action="/profile/email/#email"',
                     'href="/profile/password/"', 'enctype="multipart/form-data"'):
        assert fragment in html
