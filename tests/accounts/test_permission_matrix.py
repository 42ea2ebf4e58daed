"""Who may do what with the accounts app's collections: one permission matrix each (SPEC §1, §3),
checked cell by cell by the generic cases in tests/cases.py against the shared world."""

import pytest

from accounts.models import Account, AccountMembership, AccountRole, Contact, Invitation, Role, User
from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix
from tests.factories import (
    AccountFactory,
    AccountMembershipFactory,
    AccountRoleFactory,
    ContactFactory,
    MembershipFactory,
    RoleFactory,
    UserFactory,
)
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

#: who reads `world.account` and everything in it: its members, and the admins and
#: consultants of its consultancy (SPEC §1)
READS_ACCOUNT = {"account_user": 200, "account_consultant": 200, "account_admin": 200,
                 "consultancy_consultant": 200, "consultancy_admin": 200, "site_admin": 200}
#: of those, who may not change what is in it (a refusal they see: 403)
SEES_ACCOUNT_ONLY = ("account_user", "account_consultant", "consultancy_consultant", "consultancy_admin")


def refused(*personas, status=403):
    return dict.fromkeys(personas, status)


class TestAccountPermissions(PermissionMatrix):
    url = "/api/v1/accounts/"
    resource_type = "Account"
    model = Account
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **READS_ACCOUNT, ELSE: 404},
        # any signed-in user; the creator becomes its admin
        "create": {"anonymous": 401, ELSE: 201},
        "partial_update": {"anonymous": 401, "account_admin": 200, "site_admin": 200,
                           **refused(*SEES_ACCOUNT_ONLY), ELSE: 404},
        "destroy": {"anonymous": 401, "account_admin": 204, "site_admin": 204,
                    **refused(*SEES_ACCOUNT_ONLY), ELSE: 404},
    }
    list_persona = "account_admin"
    list_max_queries = 3  # session, count, the page (its counts and relationships in it)

    def target(self, world):
        return world.account

    def create_body(self, world, persona):
        return body("Account", {"name": "New Co", "primaryColor": "#1a3443"})

    def patch_body(self, world, obj):
        return body("Account", {"secondaryColor": "#f1a122"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.secondary_color == "#f1a122"

    def add_listed(self, world, count):
        admin = world.persona(self.list_persona)
        for _ in range(count):
            AccountMembershipFactory(user=admin, account=AccountFactory(), role=AccountMembership.Role.ADMIN)


class TestAccountMembershipPermissions(PermissionMatrix):
    """The target is `account_user`'s membership of `world.account`."""

    url = "/api/v1/account-memberships/"
    resource_type = "AccountMembership"
    model = AccountMembership
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **READS_ACCOUNT, ELSE: 404},
        # into an account the caller does not see: 404; one they see but do not administer: 403
        "create": {"anonymous": 401, "account_admin": 201, "site_admin": 201, **refused(*SEES_ACCOUNT_ONLY),
                   ELSE: 404},
        # promoting `account_user` to consultant: account admins (not the member themselves)
        "partial_update": {"anonymous": 401, "account_admin": 200, "site_admin": 200,
                           **refused(*SEES_ACCOUNT_ONLY), ELSE: 404},
        # a member may remove themselves
        "destroy": {"anonymous": 401, "account_user": 204, "account_admin": 204, "site_admin": 204,
                    **refused("account_consultant", "consultancy_consultant", "consultancy_admin"), ELSE: 404},
    }
    list_persona = "account_admin"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world.account_membership_of("account_user")

    def create_body(self, world, persona):
        # Someone every account admin may add directly: they share the account's second utility.
        newcomer = MembershipFactory(utility=world.second_utility).user
        return body("AccountMembership", {"role": "user"}, {"user": rel("User", newcomer.pk),
                                                            "account": rel("Account", world.account.pk)})

    def patch_body(self, world, obj):
        return body("AccountMembership", {"role": "consultant"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.role == AccountMembership.Role.CONSULTANT

    def add_listed(self, world, count):
        AccountMembershipFactory.create_batch(count, account=world.account)


USER_PERSONAS = ("user_adder", "user_viewer", "user_changer", "user_deleter", "contact_owner")


class TestUserPermissions(PermissionMatrix):
    """The target is `account_user`: seen by whoever shares an account or utility with them,
    by their contacts, by holders of accounts.view_user and by site admins."""

    url = "/api/v1/users/"
    resource_type = "User"
    model = User
    extra_personas = USER_PERSONAS
    SEES_TARGET = {**READS_ACCOUNT, "contact_owner": 200, "user_viewer": 200}
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **SEES_TARGET, ELSE: 404},
        "create": {"anonymous": 401, "user_adder": 201, "site_admin": 201, ELSE: 403},
        # oneself and site admins; whoever else sees them: 403
        "partial_update": {"anonymous": 401, "account_user": 200, "site_admin": 200,
                           **refused(*(set(SEES_TARGET) - {"account_user", "site_admin"})), ELSE: 404},
        # site admins; oneself only through /users/me/
        "destroy": {"anonymous": 401, "site_admin": 204, **refused(*(set(SEES_TARGET) - {"site_admin"})),
                    ELSE: 404},
    }
    list_max_queries = 3  # session, count, the page (roles and relationship counts in it)

    def target(self, world):
        world.contact  # noqa: B018  (contact_owner's entry for the target)
        return world.persona("account_user")

    def create_body(self, world, persona):
        return body("User", {"email": "new.person@example.org", "password": "a long enough passphrase"})

    def patch_body(self, world, obj):
        return body("User", {"firstName": "Changed"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.first_name == "Changed"

    def add_listed(self, world, count):
        roles = RoleFactory.create_batch(2)
        UserFactory.create_batch(count, roles=roles)


ROLE_PERSONAS = ("role_adder", "role_changer", "role_deleter")


class TestRolePermissions(PermissionMatrix):
    url = "/api/v1/roles/"
    resource_type = "Role"
    model = Role
    extra_personas = ROLE_PERSONAS
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, ELSE: 200},
        "create": {"anonymous": 401, "role_adder": 201, "site_admin": 201, ELSE: 403},
        "partial_update": {"anonymous": 401, "role_changer": 200, "site_admin": 200, ELSE: 403},
        "destroy": {"anonymous": 401, "role_deleter": 204, "site_admin": 204, ELSE: 403},
    }
    list_persona = "account_user"
    # session, count, page, the roles' permissions (and their content types)
    list_max_queries = 5

    def target(self, world):
        return world.role

    def create_body(self, world, persona):
        return body("Role", {"name": "Support", "description": "Answers the phone.", "permissions": []})

    def patch_body(self, world, obj):
        return body("Role", {"description": "changed"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.description == "changed"

    def add_listed(self, world, count):
        for _ in range(count):
            RoleFactory(permissions=["accounts.view_user", "accounts.add_user"])


class TestContactPermissions(PermissionMatrix):
    """The target is `contact_owner`'s entry for `account_user`: an address book is its owner's
    alone (site admins included); contacts are never changed, only added and removed."""

    url = "/api/v1/contacts/"
    resource_type = "Contact"
    model = Contact
    extra_personas = ("contact_owner",)
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, "contact_owner": 200, ELSE: 404},
        "create": {"anonymous": 401, ELSE: 201},
        "partial_update": {"anonymous": 401, ELSE: 405},
        "destroy": {"anonymous": 401, "contact_owner": 204, ELSE: 404},
    }
    list_persona = "contact_owner"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world.contact

    def create_body(self, world, persona):
        return body("Contact", {"email": UserFactory().email})

    def patch_body(self, world, obj):
        return body("Contact", {}, id=obj.pk)

    def add_listed(self, world, count):
        ContactFactory.create_batch(count, owner=world.persona(self.list_persona))


ACCOUNT_ROLE_PERSONAS = ("accountrole_adder", "accountrole_changer", "accountrole_deleter")


class TestAccountRolePermissions(PermissionMatrix):
    url = "/api/v1/account-roles/"
    resource_type = "AccountRole"
    model = AccountRole
    extra_personas = ACCOUNT_ROLE_PERSONAS
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, ELSE: 200},
        "create": {"anonymous": 401, "site_admin": 201, ELSE: 403},
        "partial_update": {"anonymous": 401, "site_admin": 200, ELSE: 403},
        "destroy": {"anonymous": 401, "site_admin": 204, ELSE: 403},
    }
    # SPEC §3: written by site admins, so holders of the global add/change/delete permissions get 403 too.
    list_persona = "account_user"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world.account_role

    def create_body(self, world, persona):
        return body("AccountRole", {"name": "Aggregator", "description": "Buys energy"})

    def patch_body(self, world, obj):
        return body("AccountRole", {"description": "changed"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.description == "changed"

    def add_listed(self, world, count):
        AccountRoleFactory.create_batch(count)


class TestInvitationPermissions(PermissionMatrix):
    """The target is an invitation into `world.account`, sent by its admin to an address
    nobody holds. DELETE revokes (the row stays); there is no PATCH."""

    url = "/api/v1/invitations/"
    resource_type = "Invitation"
    model = Invitation
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        # the sender and the target's admins (and site admins); the invitee too, once signed up
        "retrieve": {"anonymous": 401, "account_admin": 200, "site_admin": 200, ELSE: 404},
        # into an account the caller does not see: 404; one they see but do not administer: 403
        "create": {"anonymous": 401, "account_admin": 201, "site_admin": 201, **refused(*SEES_ACCOUNT_ONLY),
                   ELSE: 404},
        "partial_update": {"anonymous": 401, ELSE: 405},  # an invitation is fixed; it is answered or revoked
        "destroy": {"anonymous": 401, "account_admin": 204, "site_admin": 204, ELSE: 404},
    }

    def target(self, world):
        from accounts.services import invitation_create

        return world._once("invitation", lambda: invitation_create(
            actor=world["account_admin"], email="invited@example.org", target=world.account))

    def create_body(self, world, persona):
        return body("Invitation", {"email": "new.invitee@example.org", "role": "consultant"},
                    {"account": rel("Account", world.account.pk)})

    def patch_body(self, world, obj):
        return body("Invitation", {"role": "admin"}, id=obj.pk)

    def test_destroy(self, api, world, persona, expected):
        target = self.target(world)
        response = api.as_user(world.persona(persona)).delete(self.detail_url(target))
        self.check_response(response, expected)
        target.refresh_from_db()
        assert target.status == ("revoked" if expected == 204 else "pending")

    test_destroy.matrix_action = "destroy"
