"""Who may do what with utilities and memberships: one permission matrix each (SPEC §1, §3),
checked cell by cell by the generic cases in tests/cases.py against the shared world."""

import pytest

from memberships.models import Membership, Utility
from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix
from tests.factories import AccountFactory, MembershipFactory, UtilityFactory
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

UTILITY_MEMBERS = ("spectator", "member", "leader", "utility_admin")
#: who reads `world.utility`: the account's members, its consultancy's admins and
#: consultants, the utility's members (SPEC §3 Utilities, §1 consultancies)
READS_UTILITY = ("account_user", "account_consultant", "account_admin", "consultancy_consultant",
                 "consultancy_admin", *UTILITY_MEMBERS, "site_admin")


def status(code, *personas):
    """{persona: code} for each; later entries of a row override earlier ones."""
    return dict.fromkeys(personas, code)


class TestUtilityPermissions(PermissionMatrix):
    url = "/api/v1/utilities/"
    resource_type = "Utility"
    model = Utility
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **status(200, *READS_UTILITY), ELSE: 404},
        # inside `world.account`: its admins; those who see the account but do not administer it
        # get 403, those who do not see it (utility members are not in it) 404
        "create": {"anonymous": 401, "account_admin": 201, "site_admin": 201,
                   **status(403, "account_user", "account_consultant", "consultancy_consultant",
                            "consultancy_admin"), ELSE: 404},
        # renaming: the account's admins and the utility's admins
        "partial_update": {"anonymous": 401, **status(403, *READS_UTILITY),
                           **status(200, "account_admin", "utility_admin", "site_admin"), ELSE: 404},
        # deleting: the account's admins only
        "destroy": {"anonymous": 401, **status(403, *READS_UTILITY), **status(204, "account_admin", "site_admin"),
                    ELSE: 404},
    }
    list_persona = "account_admin"
    list_max_queries = 3  # session, count, the page (with its memberships' count)

    def target(self, world):
        return world.utility

    def create_body(self, world, persona):
        return body("Utility", {"name": "West", "billingDay": 12}, {"account": rel("Account", world.account.pk)})

    def patch_body(self, world, obj):
        return body("Utility", {"name": "Renamed"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.name == "Renamed"

    def add_listed(self, world, count):
        UtilityFactory.create_batch(count, account=world.account)


class TestMembershipPermissions(PermissionMatrix):
    """The target is `member`'s membership of `world.utility`."""

    url = "/api/v1/memberships/"
    resource_type = "Membership"
    model = Membership
    # SPEC: members of the utility, admins and consultants of its account (and of its consultancy,
    # SPEC §1), site admins; an account's plain users do not read its utilities' memberships
    READERS = ("account_consultant", "account_admin", "consultancy_consultant", "consultancy_admin",
               *UTILITY_MEMBERS, "site_admin")
    LEADERS = ("leader", "utility_admin", "account_admin", "site_admin")
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **status(200, *READERS), ELSE: 404},
        # utility admins (account admins act as them); whoever sees the utility otherwise: 403
        "create": {"anonymous": 401, **status(403, *READS_UTILITY),
                   **status(201, "utility_admin", "account_admin", "site_admin"), ELSE: 404},
        # isSubscriber: leaders and up
        "partial_update": {"anonymous": 401, **status(403, *READERS), **status(200, *LEADERS), ELSE: 404},
        # leaders remove members; a member may leave
        "destroy": {"anonymous": 401, **status(403, *READERS), **status(204, *LEADERS, "member"), ELSE: 404},
    }
    list_persona = "spectator"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world.membership_of("member")

    def create_body(self, world, persona):
        # Someone the caller may add directly whatever the rule for strangers: they share a
        # utility of another account with the caller.
        newcomer = MembershipFactory().user
        if persona != "anonymous":
            shared = UtilityFactory(account=AccountFactory())
            MembershipFactory(utility=shared, user=world.persona(persona))
            MembershipFactory(utility=shared, user=newcomer)
        return body("Membership", {"isSubscriber": False},
                    {"user": rel("User", newcomer.pk), "utility": rel("Utility", world.utility.pk)})

    def patch_body(self, world, obj):
        return body("Membership", {"isSubscriber": True}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.is_subscriber is True

    def add_listed(self, world, count):
        MembershipFactory.create_batch(count, utility=world.utility, role=Membership.Role.MEMBER)
