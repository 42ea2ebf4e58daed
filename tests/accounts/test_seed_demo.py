"""`manage.py seed_demo`: a believable demo, idempotent, that says how to sign in.

Seeding takes a few seconds (hundreds of memberships, each through the services), so the
tests that only look at the result share one seed per class (`seeded`); each still runs in
its own savepoint, so what a test writes is undone after it.
"""

from io import StringIO

import pytest
from django.contrib.auth.models import Permission
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.db.models import Count, Q

from accounts.models import (
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    AuditLogEntry,
    Contact,
    Role,
    Session,
    User,
)
from memberships import services as membership_services
from memberships.models import Membership, Utility
from portal.management.commands.seed_demo import (
    ADMIN_EMAIL,
    DEFAULT_PASSWORD,
    DEMO_CONSULTANT_EMAIL,
    DEMO_LEADER_EMAIL,
    DEMO_MEMBER_EMAIL,
    DEMO_PERSONAL_UTILITIES,
    DEMO_SPECTATOR_EMAIL,
    DEMO_USER_EMAIL,
    DEMO_USERS,
    DEMO_UTILITY_ADMIN_EMAIL,
    MEMBER_COUNT,
)

pytestmark = pytest.mark.django_db

MemberRole = AccountMembership.Role
CLIENTS = {"Northwind Energy", "Harbor Utilities Co-op", "Alpine Power"}


def seed(*args):
    out = StringIO()
    call_command("seed_demo", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def counts():
    models = (User, Role, Contact, Session, Account, AccountRole, AccountMembership, ActivationCode, Utility,
              Membership, AuditLogEntry)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture(scope="class")
def seeded(django_db_setup, django_db_blocker):
    """One seed for a class of tests; rolled back when the class is done. Returns its output."""
    with django_db_blocker.unblock(), transaction.atomic():
        # (How long seeding takes is measured by hand, never asserted: timings flake on shared machines.)
        output = seed()
        yield output
        transaction.set_rollback(True)


def test_if_empty_does_nothing_on_a_database_with_users(user):
    before = counts()
    assert seed("--if-empty") == ""
    assert counts() == before
    assert not User.objects.filter(email=ADMIN_EMAIL).exists()


def test_if_empty_seeds_an_empty_database():
    seed("--if-empty")
    assert User.objects.filter(email=ADMIN_EMAIL, is_superuser=True).exists()


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


class TestSeededDemo:
    """What one seed makes; each test reads it (and what it writes is undone after it)."""

    @pytest.fixture(autouse=True)
    def _output(self, seeded):
        self.output = seeded

    def test_seed_creates_the_site_admin_and_the_demo_users(self):
        admin = User.objects.get(email=ADMIN_EMAIL)
        assert admin.is_superuser and admin.is_staff and admin.is_active
        assert admin.check_password(DEFAULT_PASSWORD)
        assert len(DEMO_USERS) >= 10
        assert User.objects.filter(is_superuser=False).count() == len(DEMO_USERS) + MEMBER_COUNT
        ordinary = User.objects.get(email=DEMO_USER_EMAIL)
        assert ordinary.first_name and ordinary.last_name and ordinary.check_password(DEFAULT_PASSWORD)
        assert not ordinary.is_staff and not ordinary.is_superuser
        assert all(u.email.split("@")[1].startswith("example.") for u in User.objects.exclude(pk=admin.pk))
        assert User.objects.filter(strategy="ldap").exists()

    def test_seed_creates_co_op_members_who_sign_in_through_the_directory(self):
        members = User.objects.filter(email__regex=r"^member[0-9]{2}@example\.org$")
        assert members.count() == MEMBER_COUNT == 60
        assert {(m.first_name, m.strategy) for m in members} == {("Member", User.Strategy.LDAP)}
        assert not any(member.has_usable_password() for member in members)

    def test_seed_creates_roles_with_existing_permissions_only(self):
        support = Role.objects.get(name="Support agent")
        manager = Role.objects.get(name="User manager")
        assert {p.codename for p in support.permissions.all()} == {"view_user", "change_user"}
        assert {p.codename for p in manager.permissions.all()} == {"add_user", "change_user", "view_user"}
        billing_perms_exist = Permission.objects.filter(
            content_type__app_label="billing", codename__in=["add_charge", "view_secret_asset"]).count() == 2
        assert Role.objects.filter(name="Billing service").exists() == billing_perms_exist
        holder = User.objects.get(roles=support)
        assert holder.has_perm("accounts.change_user") and not holder.has_perm("accounts.add_user")

    def test_seed_creates_contacts_between_demo_users(self):
        assert Contact.objects.count() >= 10
        assert not Contact.objects.filter(owner__email=ADMIN_EMAIL).exists()

    def test_seed_creates_a_consultancy_with_three_clients_and_an_unrelated_account(self):
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

    def test_seed_creates_members_in_every_role(self):
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
        assert set(Account.objects.for_user(consultant).values_list("name", flat=True)) >= CLIENTS

    def test_seeded_accounts_have_a_history(self):
        account = Account.objects.get(name="Northwind Energy")
        entries = AuditLogEntry.objects.filter(account_id=account.pk)
        assert {entry.content_type.model for entry in entries} >= {"account", "accountmembership", "utility",
                                                                   "membership"}
        assert entries.filter(content_type__model="accountmembership").count() == \
            AccountMembership.objects.filter(account=account).count()
        assert entries.filter(content_type__model="membership", action=AuditLogEntry.Action.CREATE).count() == \
            Membership.objects.filter(utility__account=account).count()

    def test_seed_creates_two_to_four_utilities_per_customer_account(self):
        per_account = dict(Account.objects.filter(is_default=False).annotate(n=Count("utilities"))
                           .values_list("name", "n"))
        assert per_account.pop("Gridwise Consulting") == 0  # it advises; it is not billed
        assert all(2 <= n <= 4 for n in per_account.values()), per_account
        assert set(per_account) >= CLIENTS
        shared = Utility.objects.filter(personal_owner__isnull=True)
        assert len(set(shared.values_list("billing_day", flat=True))) >= 5
        assert shared.filter(subscriber_seats__isnull=False).exists()
        assert shared.filter(subscriber_seats__isnull=True).exists()

    def test_seed_creates_personal_utilities_in_the_default_account(self):
        personal = Utility.objects.filter(personal_owner__isnull=False).select_related("personal_owner", "account")
        assert {u.personal_owner.email for u in personal} == {email for email, _ in DEMO_PERSONAL_UTILITIES}
        for utility in personal:
            assert utility.account.is_default
            membership = Membership.objects.get(utility=utility)
            assert (membership.user, membership.role) == (utility.personal_owner, Membership.Role.ADMIN)

    def test_seed_creates_a_few_hundred_memberships_across_roles_and_subscriptions(self):
        memberships = Membership.objects.filter(utility__personal_owner__isnull=True)
        assert 250 <= memberships.count() <= 400
        roles = dict(memberships.values_list("role").annotate(n=Count("pk")).order_by())
        assert set(roles) == set(Membership.Role.values)
        assert roles["spectator"] > roles["member"] > roles["leader"] > roles["admin"] >= 11
        assert memberships.filter(is_subscriber=True).exists() and memberships.filter(is_subscriber=False).exists()
        for role in Membership.Role.values:
            assert {True, False} <= set(memberships.filter(role=role).values_list("is_subscriber", flat=True)), role
        # Every utility has members, an admin among them, and the demo people have their roles.
        assert not Utility.objects.filter(memberships__isnull=True).exists()
        assert not Utility.objects.exclude(memberships__role="admin").exists()
        leader = Membership.objects.get(user__email=DEMO_LEADER_EMAIL, utility__name="Northwind Residential")
        assert leader.role == Membership.Role.LEADER and leader.is_subscriber

    def test_seed_respects_subscriber_seats(self):
        limited = Utility.objects.filter(subscriber_seats__isnull=False).annotate(
            subscribers=Count("memberships", filter=Q(memberships__is_subscriber=True)),
            members=Count("memberships"))
        assert limited.count() >= 3
        assert all(u.subscribers <= u.subscriber_seats for u in limited)
        # Some are full, with members left waiting for a seat.
        full = [u for u in limited if u.subscribers == u.subscriber_seats and u.members > u.subscribers]
        assert full

    def test_output_names_account_admins_and_consultants(self):
        output = self.output
        assert f"Account admin  {DEMO_USER_EMAIL}" in output and "admin of Northwind Energy" in output
        assert f"Consultant     {DEMO_CONSULTANT_EMAIL}" in output and "consultant of Gridwise Consulting" in output
        assert ("Gridwise Consulting  (consultancy for Alpine Power, Harbor Utilities Co-op, Northwind Energy)"
                in output)
        assert "admins:      amira.haddad@example.com, jonas.berg@example.org" in output
        assert "consultants: daniel.okafor@example.com" in output

    def test_output_sums_up_utilities_and_memberships(self):
        count = Membership.objects.filter(utility__personal_owner__isnull=True).count()
        subscribing = Membership.objects.filter(utility__personal_owner__isnull=True, is_subscriber=True).count()
        assert f"Utilities: 11 in 4 accounts, plus 2 personal; {count} memberships (" in self.output
        assert f"{subscribing} subscribing." in self.output
        assert "All seats taken: " in self.output and "Harbor Marina 8/8" in self.output
        assert f"Utility leader {DEMO_LEADER_EMAIL}" in self.output
        assert "leader of Northwind Residential" in self.output

    def test_every_role_has_a_named_person_who_signs_in_with_a_password(self):
        """SPEC §5: site admin, account admin, consultant, utility admin, leader, member and
        spectator each have a demo person with a password, and the printed list names them."""
        people = {
            "Site admin": (ADMIN_EMAIL, lambda u: u.is_superuser),
            "Account admin": (DEMO_USER_EMAIL,
                              lambda u: AccountMembership.objects.filter(user=u, role="admin").exists()),
            "Consultant": (DEMO_CONSULTANT_EMAIL,
                           lambda u: AccountMembership.objects.filter(user=u, role="consultant").exists()),
            "Utility admin": (DEMO_UTILITY_ADMIN_EMAIL,
                              lambda u: Membership.objects.filter(user=u, role="admin").exists()),
            "Utility leader": (DEMO_LEADER_EMAIL, lambda u: Membership.objects.filter(user=u, role="leader").exists()),
            "Member": (DEMO_MEMBER_EMAIL, lambda u: Membership.objects.filter(user=u, role="member").exists()),
            "Spectator": (DEMO_SPECTATOR_EMAIL,
                          lambda u: Membership.objects.filter(user=u, role="spectator").exists()),
        }
        for label, (email, holds_role) in people.items():
            person = User.objects.get(email=email)
            assert person.is_active and person.strategy == "local", label
            assert person.check_password(DEFAULT_PASSWORD), label
            assert holds_role(person), label
            assert any(line.strip().startswith(label) and email in line for line in self.output.splitlines()), label
        # The member, spectator and utility admin hold nothing else, so the portal shows that role alone.
        for email in (DEMO_MEMBER_EMAIL, DEMO_SPECTATOR_EMAIL, DEMO_UTILITY_ADMIN_EMAIL):
            assert not AccountMembership.objects.filter(user__email=email).exists()
            assert Membership.objects.filter(user__email=email).count() == 1

    def test_output_says_how_to_sign_in(self):
        output = self.output
        assert ADMIN_EMAIL in output and DEFAULT_PASSWORD in output and DEMO_USER_EMAIL in output
        for url in ("http://127.0.0.1:8000/", "http://127.0.0.1:8000/admin/", "http://127.0.0.1:8000/api/v1/"):
            assert url in output
        assert "curl -X POST http://127.0.0.1:8000/api/v1/sessions/" in output
        assert "Content-Type: application/vnd.api+json" in output
        assert '"type": "Session"' in output

    def test_seed_creates_event_streams_and_prints_how_to_watch_them_once(self):
        from billing.events.models import EventStream, hash_read_token

        for email in (ADMIN_EMAIL, DEMO_USER_EMAIL):
            stream = EventStream.objects.get(user__email=email)
            line = next(line for line in self.output.splitlines()
                        if f"/api/v1/event-streams/{stream.pk}/sse/?token=" in line)
            token = line.split("?token=")[1].rstrip("'")
            assert stream.read_token_hash == hash_read_token(token)  # the printed token reads that stream
            assert AuditLogEntry.objects.filter(content_type__model="eventstream", object_pk=str(stream.pk),
                                                action=AuditLogEntry.Action.CREATE).exists()
        assert "?token=" not in seed()  # a second run has no token to show

    def test_running_twice_changes_nothing(self):
        before = counts()
        memberships = set(AccountMembership.objects.values_list("account__name", "user__email", "role"))
        utility_members = set(Membership.objects.values_list("utility__name", "user__email", "role", "is_subscriber",
                                                             "is_subscriber_datetime"))
        output = seed()
        assert counts() == before  # the audit log included
        assert set(AccountMembership.objects.values_list("account__name", "user__email", "role")) == memberships
        assert set(Membership.objects.values_list("utility__name", "user__email", "role", "is_subscriber",
                                                  "is_subscriber_datetime")) == utility_members
        assert "nothing new" in output
        assert "admin of Northwind Energy" in output

    def test_a_second_run_fills_gaps_within_the_seats(self):
        marina = Utility.objects.get(name="Harbor Marina")
        gone = list(marina.memberships.all())
        for membership in gone:
            membership_services.membership_delete(actor=User.objects.get(email=ADMIN_EMAIL), membership=membership)
        admin = User.objects.get(email=ADMIN_EMAIL)
        membership_services.utility_update(actor=admin, utility=marina, data={"subscriber_seats": 3})
        output = seed()
        assert f"{len(gone)} memberships" in output
        assert marina.memberships.count() == len(gone)
        assert marina.memberships.filter(is_subscriber=True).count() == 3

    def test_seeded_admin_signs_in_over_the_api(self, api):
        response = api.post("/api/v1/sessions/", {"data": {"type": "Session", "attributes": {
            "email": ADMIN_EMAIL, "password": DEFAULT_PASSWORD}}})
        assert response.status_code == 201
