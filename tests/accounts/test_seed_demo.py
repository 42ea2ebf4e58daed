"""`manage.py seed_demo`: a believable demo, idempotent, that says how to sign in."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.seed_demo import ADMIN_EMAIL, DEFAULT_PASSWORD, DEMO_USER_EMAIL, DEMO_USERS
from accounts.models import AuditLogEntry, Contact, Role, Session, User

pytestmark = pytest.mark.django_db


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts():
    return {model.__name__: model.objects.count() for model in (User, Role, Contact, Session, AuditLogEntry)}


def test_seed_creates_the_site_admin_and_the_demo_users():
    seed()
    admin = User.objects.get(email=ADMIN_EMAIL)
    assert admin.is_superuser and admin.is_staff and admin.is_active
    assert admin.check_password(DEFAULT_PASSWORD)
    assert User.objects.filter(is_superuser=False).count() == len(DEMO_USERS) >= 10
    ordinary = User.objects.get(email=DEMO_USER_EMAIL)
    assert ordinary.first_name and ordinary.last_name and ordinary.check_password(DEFAULT_PASSWORD)
    assert not ordinary.is_staff and not ordinary.is_superuser
    assert all(u.email.split("@")[1].startswith("example.") for u in User.objects.exclude(pk=admin.pk))
    assert User.objects.filter(strategy="ldap").exists()


def test_seed_creates_roles_with_existing_permissions_only():
    seed()
    support = Role.objects.get(name="Support agent")
    manager = Role.objects.get(name="User manager")
    assert {p.codename for p in support.permissions.all()} == {"view_user", "change_user"}
    assert {p.codename for p in manager.permissions.all()} == {"add_user", "change_user", "view_user"}
    billing_perms_exist = Permission.objects.filter(content_type__app_label="billing",
                                                    codename__in=["add_charge", "view_secret_asset"]).count() == 2
    assert Role.objects.filter(name="Billing service").exists() == billing_perms_exist
    holder = User.objects.get(roles=support)
    assert holder.has_perm("accounts.change_user") and not holder.has_perm("accounts.add_user")


def test_seed_creates_contacts_between_demo_users():
    seed()
    assert Contact.objects.count() >= 10
    assert not Contact.objects.filter(owner__email=ADMIN_EMAIL).exists()


def test_running_twice_changes_nothing():
    seed()
    before = counts()
    output = seed()
    assert counts() == before
    assert "nothing new" in output


def test_if_empty_does_nothing_on_a_database_with_users(user):
    before = counts()
    assert seed("--if-empty") == ""
    assert counts() == before
    assert not User.objects.filter(email=ADMIN_EMAIL).exists()


def test_if_empty_seeds_an_empty_database():
    seed("--if-empty")
    assert User.objects.filter(email=ADMIN_EMAIL, is_superuser=True).exists()


def test_output_says_how_to_sign_in():
    output = seed()
    assert ADMIN_EMAIL in output and DEFAULT_PASSWORD in output and DEMO_USER_EMAIL in output
    for url in ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/admin/", "http://127.0.0.1:8000/api/v1/"):
        assert url in output
    assert "curl -X POST http://127.0.0.1:8000/api/v1/sessions/" in output
    assert "Content-Type: application/vnd.api+json" in output
    assert '"type": "Session"' in output


def test_demo_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("ROSTER_DEMO_PASSWORD", "another demo passphrase")
    output = seed()
    assert User.objects.get(email=ADMIN_EMAIL).check_password("another demo passphrase")
    assert "another demo passphrase" in output


def test_a_weak_demo_password_fails_and_saves_nothing(monkeypatch):
    monkeypatch.setenv("ROSTER_DEMO_PASSWORD", "12345678")
    with pytest.raises(CommandError, match="nothing was saved"):
        seed()
    assert not User.objects.exists()


def test_seeded_admin_signs_in_over_the_api(api):
    seed()
    response = api.post("/api/v1/sessions/", {"data": {"type": "Session", "attributes": {
        "email": ADMIN_EMAIL, "password": DEFAULT_PASSWORD}}})
    assert response.status_code == 201
