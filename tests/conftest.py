import pytest
from django.db import connection

from tests import factories
from tests.factories import AccountMembershipFactory, MembershipFactory, RoleFactory, SiteAdminFactory, UserFactory
from tests.jsonapi import JsonApiClient

ARole = factories.AccountMembership.Role
URole = factories.Membership.Role


class World:
    """Every persona of SPEC §1 with the objects that give them their role, built on first use.

    The places:
        `consultancy` (an account), `account` (its consultancy is `consultancy`) with the
        utilities `utility` and `second_utility`; `other_account` with `other_utility`, which
        shares nothing with the rest; `personal_utility` (of `personal_owner`, in the
        default account); `contact` (`contact_owner`'s address-book entry for `account_user`);
        `role` (a Role nobody holds); `account_role` (a label on no account).

    The people, by name (`world.persona("leader")`, or `world["leader"]`): see `PERSONAS`.
    Nothing is written to the database until a test asks for it, so a test pays only for
    the part of the world it touches; the rules of one persona never depend on another
    persona existing, so a partly built world answers every question like the whole one.
    """

    #: name → who they are. The first block is every role the SPEC names: each permission
    #: matrix (tests/cases.py) gives an expected status for every one of them.
    CORE = {
        "anonymous": "not signed in",
        "outsider": "signed in, admin of `other_account`: shares nothing with `account`",
        "account_user": "`user` of `account`",
        "account_consultant": "`consultant` of `account`",
        "account_admin": "`admin` of `account`",
        "consultancy_user": "`user` of `consultancy` (sees nothing of its clients)",
        "consultancy_consultant": "`consultant` of `consultancy`, so reads `account` and all in it",
        "consultancy_admin": "`admin` of `consultancy`, so reads `account` and all in it",
        "spectator": "`spectator` of `utility`, not in `account`",
        "member": "`member` of `utility`, not in `account`",
        "leader": "`leader` of `utility`, not in `account`",
        "utility_admin": "`admin` of `utility`, not in `account`",
        "site_admin": "`is_superuser`",
    }
    #: holders of one global permission (through a Role), and other people some resources need
    EXTRA = {
        "user_adder": "holds accounts.add_user",
        "user_viewer": "holds accounts.view_user",
        "user_changer": "holds accounts.change_user",
        "user_deleter": "holds accounts.delete_user",
        "role_adder": "holds accounts.add_role",
        "role_changer": "holds accounts.change_role",
        "role_deleter": "holds accounts.delete_role",
        "accountrole_adder": "holds accounts.add_accountrole",
        "accountrole_changer": "holds accounts.change_accountrole",
        "accountrole_deleter": "holds accounts.delete_accountrole",
        "accountmembership_adder": "holds accounts.add_accountmembership",
        "membership_adder": "holds memberships.add_membership",
        "charge_adder": "holds billing.add_charge (a merchant's service user)",
        "contact_owner": "has `account_user` in their address book (`world.contact`)",
        "personal_owner": "owns `personal_utility`",
    }
    PERSONAS = {**CORE, **EXTRA}

    _ACCOUNT_ROLES = {"account_user": ARole.USER, "account_consultant": ARole.CONSULTANT,
                      "account_admin": ARole.ADMIN}
    _CONSULTANCY_ROLES = {"consultancy_user": ARole.USER, "consultancy_consultant": ARole.CONSULTANT,
                          "consultancy_admin": ARole.ADMIN}
    _UTILITY_ROLES = {"spectator": URole.SPECTATOR, "member": URole.MEMBER, "leader": URole.LEADER,
                      "utility_admin": URole.ADMIN}

    def __init__(self):
        self._built = {}

    def _once(self, key, build):
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    # ------------------------------------------------------------------- places

    @property
    def consultancy(self):
        return self._once("consultancy", lambda: factories.AccountFactory(name="Consult & Co"))

    @property
    def account(self):
        return self._once("account", lambda: factories.AccountFactory(
            name="Acme Energy", consultancy_account=self.consultancy))

    @property
    def utility(self):
        return self._once("utility", lambda: factories.UtilityFactory(account=self.account, name="North",
                                                                      billing_day=5))

    @property
    def second_utility(self):
        return self._once("second_utility", lambda: factories.UtilityFactory(account=self.account, name="South",
                                                                             billing_day=20))

    @property
    def other_account(self):
        return self._once("other_account", lambda: factories.AccountFactory(name="Other Org"))

    @property
    def other_utility(self):
        return self._once("other_utility", lambda: factories.UtilityFactory(account=self.other_account,
                                                                            name="Elsewhere"))

    @property
    def default_account(self):
        return self._once("default_account", factories.default_account)

    @property
    def personal_utility(self):
        return self._once("personal_utility", lambda: factories.PersonalUtilityFactory(
            personal_owner=self.persona("personal_owner")))

    @property
    def role(self):
        """A Role (named permission set) nobody holds."""
        return self._once("role", lambda: RoleFactory(name="Auditor", permissions=["accounts.view_user"]))

    @property
    def account_role(self):
        """An account label on no account."""
        return self._once("account_role", lambda: factories.AccountRoleFactory(name="Supplier"))

    @property
    def contact(self):
        return self._once("contact", lambda: factories.ContactFactory(
            owner=self.persona("contact_owner"), contact=self.persona("account_user")))

    # ------------------------------------------------------------------- people

    def persona(self, name):
        """The user playing `name` (None for `anonymous`), created with their role on first use."""
        if name not in self.PERSONAS:
            raise KeyError(f"no persona {name!r}; the world has {', '.join(self.PERSONAS)}")
        return self._once(("persona", name), lambda: self._make(name))

    __getitem__ = persona

    def _make(self, name):
        if name == "anonymous":
            return None
        if name == "site_admin":
            return SiteAdminFactory(username="site_admin", email="site_admin@example.org")
        user = UserFactory(username=name, email=f"{name}@example.org")
        if name == "outsider":
            AccountMembershipFactory(user=user, account=self.other_account, role=ARole.ADMIN)
        elif name in self._ACCOUNT_ROLES:
            AccountMembershipFactory(user=user, account=self.account, role=self._ACCOUNT_ROLES[name])
        elif name in self._CONSULTANCY_ROLES:
            AccountMembershipFactory(user=user, account=self.consultancy, role=self._CONSULTANCY_ROLES[name])
        elif name in self._UTILITY_ROLES:
            MembershipFactory(user=user, utility=self.utility, role=self._UTILITY_ROLES[name])
        elif name.endswith(("_adder", "_viewer", "_changer", "_deleter")):
            model, _, action = name.rpartition("_")
            action = {"adder": "add", "viewer": "view", "changer": "change", "deleter": "delete"}[action]
            app = {"membership": "memberships", "utility": "memberships", "charge": "billing"}.get(model, "accounts")
            user.roles.add(RoleFactory(permissions=[f"{app}.{action}_{model}"]))
        # contact_owner and personal_owner get their objects from `contact` and `personal_utility`
        return user

    def holder(self, *permissions):
        """A new user holding these global permissions ("app_label.codename") through a Role."""
        return factories.holder_of(*permissions)

    def membership_of(self, name):
        """The persona's membership of `utility`."""
        return factories.Membership.objects.get(utility=self.utility, user=self.persona(name))

    def account_membership_of(self, name):
        """The persona's membership of `account`."""
        return factories.AccountMembership.objects.get(account=self.account, user=self.persona(name))

    def build(self, *names):
        """Build these personas now (every CORE one when none is named): for tests about whole
        lists and counts. Returns the world."""
        for name in names or self.CORE:
            self.persona(name)
        return self

    def build_all(self):
        """Build every place and persona (for tests about whole lists)."""
        for name in self.PERSONAS:
            self.persona(name)
        for place in ("second_utility", "other_utility", "personal_utility", "contact", "role", "account_role"):
            getattr(self, place)
        return self


@pytest.fixture
def world(db):
    """The one shared world of tests: every SPEC persona and their objects (see `World`)."""
    return World()


@pytest.fixture
def api():
    return JsonApiClient()


@pytest.fixture
def user(db):
    return UserFactory()


@pytest.fixture
def other_user(db):
    return UserFactory()


@pytest.fixture
def site_admin(db):
    return SiteAdminFactory()


@pytest.fixture
def make_user(db):
    return UserFactory


@pytest.fixture
def make_role(db):
    return RoleFactory


@pytest.fixture(autouse=True)
def _fresh_caches():
    from django.core.cache import cache

    cache.clear()
    yield


@pytest.fixture
def audit_entries(db):
    """Count of audit log entries: every write adds at least one."""
    from accounts.models import AuditLogEntry

    return lambda: AuditLogEntry.objects.count()


def pytest_collection_modifyitems(config, items):
    """Tests marked postgres_only need real row locks and concurrency."""
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)")
    for item in items:
        if "postgres_only" in item.keywords and connection.vendor != "postgresql":
            item.add_marker(skip)
