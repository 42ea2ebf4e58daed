"""`for_user()` against a plain reading of the visibility rules (SPEC §1 and §3).

The querysets are written for the database's index planner (UNIONs of id lookups); the
reference below is written for people: Python predicates over every row, one rule a line.
Both must pick exactly the same rows for every kind of caller.
"""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts.models import Account, AccountMembership, Contact, User
from accounts.services import default_account
from memberships import services
from memberships.models import Membership, Utility
from tests.factories import RoleFactory, UserFactory

ARole = AccountMembership.Role
URole = Membership.Role
SENIOR = {ARole.ADMIN, ARole.CONSULTANT}


# --------------------------------------------------------------------------- the reference


class Reference:
    """The rules, read straight off the spec, over rows loaded into memory."""

    def __init__(self):
        self.accounts = list(Account.objects.all())
        self.utilities = list(Utility.objects.all())
        self.memberships = list(Membership.objects.all())
        self.account_memberships = list(AccountMembership.objects.all())
        self.users = list(User.objects.all())
        self.contacts = list(Contact.objects.all())
        self.account_of = {u.pk: u.account for u in self.utilities}
        self.personal = {u.pk for u in self.utilities if u.personal_owner_id is not None}

    def account_role(self, user, account_id):
        return next((m.role for m in self.account_memberships
                     if m.user_id == user.pk and m.account_id == account_id), None)

    def is_utility_member(self, user, utility_id):
        return any(m.user_id == user.pk and m.utility_id == utility_id for m in self.memberships)

    def is_senior_in(self, user, account_id):
        """Admin or consultant of the account: reads everything in it."""
        return account_id is not None and self.account_role(user, account_id) in SENIOR

    def sees_account(self, user, account, include_default=True):
        """Own accounts, the clients of one's consultancy (as its consultant or admin), the default account."""
        return (
            (include_default and account.is_default)
            or self.account_role(user, account.pk) is not None
            or self.is_senior_in(user, account.consultancy_account_id)
        )

    def sees_utility(self, user, utility):
        """The account's members and consultants, the utility's members; personal utilities only their members."""
        if self.is_utility_member(user, utility.pk):
            return True
        return utility.personal_owner_id is None and self.sees_account(user, utility.account, include_default=False)

    def sees_membership(self, user, membership):
        """Members of the utility, admins and consultants of its account or of its account's consultancy;
        a personal utility's only its members (SPEC §3: not the default account's admins)."""
        account = self.account_of[membership.utility_id]
        return (
            self.is_utility_member(user, membership.utility_id)
            or membership.utility_id not in self.personal and self.is_senior_in(user, account.pk)
            or self.is_senior_in(user, account.consultancy_account_id)
        )

    def sees_account_membership(self, user, account_membership):
        """One's own, and those of the accounts one sees (the default account's only as its member)."""
        return account_membership.user_id == user.pk or self.sees_account(
            user, account_membership.account, include_default=False)

    def sees_user(self, viewer, other):
        """Oneself, one's contacts, people sharing an account one sees or a utility whose members one reads."""
        if viewer.has_perm("accounts.view_user"):
            return True
        return (
            other.pk == viewer.pk
            or any(c.owner_id == viewer.pk and c.contact_id == other.pk for c in self.contacts)
            or any(m.user_id == other.pk and self.sees_account(viewer, m.account, include_default=False)
                   for m in self.account_memberships)
            or any(m.user_id == other.pk and self.sees_membership(viewer, m) for m in self.memberships)
        )

    def visible(self, viewer, model, **options):
        """Primary keys of `model` rows the viewer may see."""
        if viewer is None or not viewer.is_authenticated:
            return set()
        rows, rule = {
            Account: (self.accounts, self.sees_account),
            Utility: (self.utilities, self.sees_utility),
            Membership: (self.memberships, self.sees_membership),
            AccountMembership: (self.account_memberships, self.sees_account_membership),
            User: (self.users, self.sees_user),
        }[model]
        return {row.pk for row in rows if viewer.is_superuser or rule(viewer, row, **options)}


# --------------------------------------------------------------------------- a varied world


def _in_account(account, role, user=None):
    user = user or UserFactory()
    AccountMembership.objects.create(account=account, user=user, role=role)
    return user


def _in_utility(utility, role=URole.SPECTATOR, user=None):
    user = user or UserFactory()
    Membership.objects.create(utility=utility, user=user, role=role, is_subscriber=False)
    return user


@pytest.fixture
def world(db):
    """Two consultancies with clients, plain accounts, the default account with personal and
    shared utilities, and one caller of every kind (several kinds at once for some)."""
    default = default_account()
    consultancy = Account.objects.create(name="Consultancy")
    client = Account.objects.create(name="Client", consultancy_account=consultancy)
    second_client = Account.objects.create(name="Second client", consultancy_account=consultancy)
    other_consultancy = Account.objects.create(name="Other consultancy")
    their_client = Account.objects.create(name="Their client", consultancy_account=other_consultancy)
    plain = Account.objects.create(name="Plain")
    empty = Account.objects.create(name="Empty")

    utilities = {
        "client_north": Utility.objects.create(account=client, name="North", billing_day=1),
        "client_south": Utility.objects.create(account=client, name="South", billing_day=2),
        "second_client": Utility.objects.create(account=second_client, name="East", billing_day=3),
        "consultancy": Utility.objects.create(account=consultancy, name="Own", billing_day=4),
        "their_client": Utility.objects.create(account=their_client, name="West", billing_day=5),
        "plain": Utility.objects.create(account=plain, name="Plain", billing_day=6),
        "plain_unpeopled": Utility.objects.create(account=plain, name="Nobody", billing_day=7),
        "empty": Utility.objects.create(account=empty, name="Alone", billing_day=8),
        "default_shared": Utility.objects.create(account=default, name="Shared", billing_day=9),
    }

    people = {
        "anonymous": AnonymousUser(),
        "site_admin": UserFactory(is_superuser=True, is_staff=True),
        "outsider": UserFactory(),
        "client_admin": _in_account(client, ARole.ADMIN),
        "client_consultant": _in_account(client, ARole.CONSULTANT),
        "client_user": _in_account(client, ARole.USER),
        "consultancy_consultant": _in_account(consultancy, ARole.CONSULTANT),
        "consultancy_admin": _in_account(consultancy, ARole.ADMIN),
        "consultancy_user": _in_account(consultancy, ARole.USER),
        "other_consultant": _in_account(other_consultancy, ARole.CONSULTANT),
        "plain_admin": _in_account(plain, ARole.ADMIN),
        "utility_spectator": _in_utility(utilities["client_north"], URole.SPECTATOR),
        "utility_leader": _in_utility(utilities["plain"], URole.LEADER),
        "default_member": _in_account(default, ARole.USER),
        "default_admin": _in_account(default, ARole.ADMIN),
        "with_view_user": UserFactory(),
    }
    # Several roles at once: a plain account's user who leads a client's utility, and a
    # consultant who is also a spectator in another consultancy's client.
    people["mixed"] = _in_account(plain, ARole.USER)
    _in_utility(utilities["client_south"], URole.LEADER, user=people["mixed"])
    _in_utility(utilities["their_client"], URole.SPECTATOR, user=people["consultancy_consultant"])
    _in_utility(utilities["default_shared"], URole.MEMBER, user=people["utility_leader"])
    people["with_view_user"].roles.add(RoleFactory(permissions=["accounts.view_user"]))

    # Personal utilities: private to their members, whoever else is in the default account.
    people["personal_owner"] = UserFactory()
    personal = services.personal_utility_create(user=people["personal_owner"], billing_day=10)
    _in_utility(personal, URole.SPECTATOR, user=people["client_user"])
    people["other_personal_owner"] = UserFactory()
    services.personal_utility_create(user=people["other_personal_owner"], billing_day=11)

    # Plenty of people in the utilities, some in several.
    crowd = [UserFactory() for _ in range(6)]
    for n, person in enumerate(crowd):
        for key in list(utilities)[n % 3::3]:
            _in_utility(utilities[key], list(URole)[n % 4], user=person)
    _in_account(second_client, ARole.USER, user=crowd[0])
    _in_account(their_client, ARole.ADMIN, user=crowd[1])

    # Contacts make people visible one way only.
    Contact.objects.create(owner=people["outsider"], contact=crowd[2])
    Contact.objects.create(owner=people["utility_spectator"], contact=people["other_personal_owner"])
    return people


MODELS = [Account, Utility, Membership, AccountMembership, User]
KINDS = [
    "anonymous", "site_admin", "outsider", "client_admin", "client_consultant", "client_user",
    "consultancy_consultant", "consultancy_admin", "consultancy_user", "other_consultant", "plain_admin",
    "utility_spectator", "utility_leader", "default_member", "default_admin", "with_view_user", "mixed",
    "personal_owner", "other_personal_owner",
]


@pytest.mark.django_db
class TestForUserMatchesTheRules:
    @pytest.mark.parametrize("kind", KINDS)
    def test_same_rows_as_the_reference(self, world, kind):
        viewer = world[kind]
        reference = Reference()
        mismatches = {}
        for model in MODELS:
            expected = reference.visible(viewer, model)
            queryset = model.objects.for_user(viewer)
            found = set(queryset.values_list("pk", flat=True))
            if found != expected or queryset.count() != len(expected):
                mismatches[model.__name__] = {"unexpected": found - expected, "missing": expected - found}
        expected = reference.visible(viewer, Account, include_default=False)
        found = set(Account.objects.for_user(viewer, include_default=False).values_list("pk", flat=True))
        if found != expected:
            mismatches["Account without default"] = {"unexpected": found - expected, "missing": expected - found}
        assert mismatches == {}

    def test_no_user_sees_nothing(self, world):
        for model in MODELS:
            assert not model.objects.for_user(None).exists()

    def test_the_world_has_every_case(self, world):
        """Guard the fixture: each rule grants something to someone and withholds something from someone."""
        reference = Reference()
        for model in MODELS:
            totals = {kind: len(reference.visible(world[kind], model)) for kind in KINDS}
            everything = model.objects.count()
            assert totals["site_admin"] == everything
            assert any(0 < n < everything for kind, n in totals.items() if kind != "site_admin"), model

    def test_querysets_compose(self, world):
        """Filtering, ordering, slicing and counting a visible queryset keep working (lists, filters, prefetches)."""
        viewer = world["consultancy_consultant"]
        memberships = Membership.objects.for_user(viewer)
        utility_ids = sorted(set(memberships.values_list("utility_id", flat=True)))
        narrowed = memberships.filter(utility_id__in=utility_ids[:2]).order_by("-id")
        assert narrowed.count() == len(list(narrowed)) > 0
        assert list(narrowed[:1]) == [narrowed.first()]
        counted = Account.objects.for_user(viewer).with_counts(viewer).order_by("name")
        reference = Reference()
        for account in counted:
            assert account.utility_count == sum(
                1 for u in reference.utilities if u.account_id == account.pk and reference.sees_utility(viewer, u))
