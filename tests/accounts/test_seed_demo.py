"""`manage.py seed_demo`: a believable demo, idempotent, that says how to sign in."""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.management.commands.seed_demo import (
    ADMIN_EMAIL,
    DEFAULT_PASSWORD,
    DEMO_CONSULTANT_EMAIL,
    DEMO_USER_EMAIL,
    DEMO_USERS,
)
from accounts.models import Account, AccountRole, ActivationCode, AuditLogEntry, Contact, Role, Session, User
from memberships.models import AccountMembership

pytestmark = pytest.mark.django_db

MemberRole = AccountMembership.Role
CLIENTS = {"Northwind Energy", "Harbor Utilities Co-op", "Alpine Power"}


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts():
    models = (User, Role, Contact, Session, Account, AccountRole, AccountMembership, ActivationCode, AuditLogEntry)
    return {model.__name__: model.objects.count() for model in models}


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


def test_seed_creates_a_consultancy_with_three_clients_and_an_unrelated_account():
    seed()
    consultancy = Account.objects.get(name="Gridwise Consulting")
    assert consultancy.consultancy_account is None
    assert {a.name for a in consultancy.client_accounts.all()} == CLIENTS
    assert [r.name for r in consultancy.account_roles.all()] == ["Consultancy"]
    unrelated = Account.objects.exclude(is_default=True).exclude(pk=consultancy.pk).exclude(name__in=CLIENTS)
    assert unrelated.count() == 1 and unrelated.get().consultancy_account is None
    assert not unrelated.get().client_accounts.exists()
    assert {r.name for r in AccountRole.objects.all()} == {"Supplier", "Aggregator", "Consultancy"}
    for client in consultancy.client_accounts.all():
        assert client.account_roles.exists()
        assert not client.account_roles.filter(name="Consultancy").exists()
    assert Account.objects.filter(is_default=True).count() == 1


def test_seed_creates_members_in_every_role():
    seed()
    for name in CLIENTS:
        members = AccountMembership.objects.filter(account__name=name)
        assert 1 <= members.filter(role=MemberRole.ADMIN).count() <= 2, name
        assert members.filter(role=MemberRole.CONSULTANT).count() == 1, name
        assert members.filter(role=MemberRole.USER).count() >= 2, name
    consultancy = AccountMembership.objects.filter(account__name="Gridwise Consulting")
    assert {m.role for m in consultancy} == {MemberRole.ADMIN, MemberRole.CONSULTANT}
    # Demo people only; the site admin needs no membership to see everything.
    assert not AccountMembership.objects.filter(user__email=ADMIN_EMAIL).exists()
    assert AccountMembership.objects.filter(user__email=DEMO_USER_EMAIL, role=MemberRole.ADMIN).exists()
    consultant = User.objects.get(email=DEMO_CONSULTANT_EMAIL)
    assert AccountMembership.objects.get(user=consultant, account__name="Gridwise Consulting").role == "consultant"
    assert CLIENTS <= set(Account.objects.for_user(consultant).values_list("name", flat=True))


def test_seeded_accounts_have_a_history():
    seed()
    account = Account.objects.get(name="Northwind Energy")
    entries = AuditLogEntry.objects.filter(account_id=account.pk)
    assert {entry.content_type.model for entry in entries} >= {"account", "accountmembership"}
    assert entries.filter(content_type__model="accountmembership").count() == \
        AccountMembership.objects.filter(account=account).count()


def test_output_names_account_admins_and_consultants():
    output = seed()
    assert f"Account admin  {DEMO_USER_EMAIL}" in output and "admin of Northwind Energy" in output
    assert f"Consultant     {DEMO_CONSULTANT_EMAIL}" in output and "consultant of Gridwise Consulting" in output
    assert "Gridwise Consulting  (consultancy for Alpine Power, Harbor Utilities Co-op, Northwind Energy)" in output
    assert "admins:      amira.haddad@example.com, jonas.berg@example.org" in output
    assert "consultants: daniel.okafor@example.com" in output


def test_running_twice_changes_nothing():
    seed()
    before = counts()
    memberships = set(AccountMembership.objects.values_list("account__name", "user__email", "role"))
    output = seed()
    assert counts() == before
    assert set(AccountMembership.objects.values_list("account__name", "user__email", "role")) == memberships
    assert "nothing new" in output
    assert "admin of Northwind Energy" in output


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
