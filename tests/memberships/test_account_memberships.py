import threading

import pytest
from django.db import connection, connections

from accounts import services
from accounts.models import Account, AccountMembership, AuditLogEntry, Contact
from core.errors import Conflict
from tests.factories import AccountMembershipFactory, UserFactory
from tests.jsonapi import body, rel

URL = "/api/v1/account-memberships/"
Role = AccountMembership.Role

# Who may list, read, add, change and remove account memberships (and that a refusal changes
# nothing): tests/accounts/test_permission_matrix.py.


def member(account, role=Role.USER):
    return AccountMembershipFactory(account=account, role=role).user


@pytest.mark.django_db
class TestRead:
    def test_list_and_filters(self, api, world):
        world.build("account_user", "account_consultant", "account_admin")
        api.as_user(world["consultancy_consultant"])
        listed = api.get(f"{URL}?filter[account]={world.account.pk}").document["data"]
        assert len(listed) == 3
        admins = api.get(f"{URL}?filter[account]={world.account.pk}&filter[role]=admin").document["data"]
        assert [m["relationships"]["user"]["data"]["id"] for m in admins] == [str(world["account_admin"].pk)]
        unseen = api.get(f"{URL}?filter[account]={world.other_account.pk}").document["data"]
        assert unseen == []
        by_user = api.get(f"{URL}?filter[user]={world['account_user'].pk}").document["data"]
        assert len(by_user) == 1
        assert api.get(f"{URL}?filter[role]=owner").status_code == 400

    def test_include_user_and_account(self, api, world, django_assert_max_num_queries):
        world.build("account_user", "account_consultant", "account_admin")
        for _ in range(25):
            member(world.account)
        api.as_user(world["account_admin"])
        # session, count, page (+ users), the users' roles, account memberships and memberships, accounts
        # (+ counts), their roles, members, utilities, + visibility checks of the included users
        # (has_perm x2, check) and accounts
        with django_assert_max_num_queries(14):
            document = api.get(f"{URL}?include=user,account&page_size=100").document
        assert {r["type"] for r in document["included"]} == {"User", "Account"}
        assert len(document["data"]) == 28


@pytest.mark.django_db
class TestCreate:
    def payload(self, user, account, role=None):
        attributes = {"role": role} if role else {}
        return body("AccountMembership", attributes, {"user": rel("User", user.pk),
                                                      "account": rel("Account", account.pk)})

    def test_defaults_to_user_and_is_audited(self, api, world):
        newcomer = world["member"]  # shares the utility's account's admin a space: may be added directly
        response = api.as_user(world["account_admin"]).post(URL, self.payload(newcomer, world.account))
        assert response.document["data"]["attributes"]["role"] == "user"
        entry = AuditLogEntry.objects.get(content_type__model="accountmembership",
                                          object_id=response.document["data"]["id"])
        assert entry.account_id == world.account.pk and entry.actor == world["account_admin"]

    def test_duplicate_is_409(self, api, world):
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world["account_user"], world.account))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "duplicate"

    def test_unseen_and_missing_accounts_look_alike(self, api, world):
        newcomer = UserFactory()
        Contact.objects.create(owner=world["account_admin"], contact=newcomer)
        api.as_user(world["account_admin"])
        unseen = api.post(URL, self.payload(newcomer, world.other_account))
        missing = api.post(URL, body("AccountMembership", {}, {"user": rel("User", newcomer.pk),
                                                              "account": rel("Account", 999999)}))
        assert unseen.status_code == missing.status_code == 404

    def test_admins_add_only_people_they_share_a_space_with(self, api, world):
        """SPEC §1: anyone else is invited; a stranger is answered like an id nobody has."""
        stranger = UserFactory()
        api.as_user(world["account_admin"])
        refused = api.post(URL, self.payload(stranger, world.account))
        missing = api.post(URL, body("AccountMembership", {}, {"user": rel("User", 999999),
                                                              "account": rel("Account", world.account.pk)}))
        for response in (refused, missing):
            assert response.status_code == 400
            assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/user"
        assert not AccountMembership.objects.filter(user=stranger).exists()
        assert api.post(URL, self.payload(world["member"], world.account)).status_code == 201

    def test_non_admins_learn_nothing_about_user_ids(self, api, world):
        api.as_user(world["account_user"])
        existing = api.post(URL, self.payload(world["outsider"], world.account))
        missing = api.post(URL, body("AccountMembership", {}, {"user": rel("User", 999999),
                                                              "account": rel("Account", world.account.pk)}))
        assert existing.status_code == missing.status_code == 403

    def test_bad_role_is_400(self, api, world):
        newcomer = UserFactory()
        Contact.objects.create(owner=world["account_admin"], contact=newcomer)
        response = api.as_user(world["account_admin"]).post(URL, self.payload(newcomer, world.account, role="owner"))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/role"

    def test_the_default_account_has_no_members_or_codes(self, api, world):
        default = Account.objects.get(is_default=True)
        api.as_user(world["site_admin"])
        added = api.post("/api/v1/account-memberships/", body("AccountMembership", {}, {
            "user": rel("User", world["member"].pk), "account": rel("Account", default.pk)}))
        assert added.status_code == 409
        assert api.get(f"/api/v1/accounts/{default.pk}/activation-code/").status_code == 409


@pytest.mark.django_db
class TestChangeRole:
    def patch(self, api, membership, role):
        return api.patch(f"{URL}{membership.pk}/", body("AccountMembership", {"role": role}, id=membership.pk))

    def test_demoting_another_admin_is_for_site_admins(self, api, world):
        other_admin = member(world.account, Role.ADMIN)
        target = AccountMembership.objects.get(user=other_admin)
        assert self.patch(api.as_user(world["account_admin"]), target, "user").status_code == 403
        assert self.patch(api.as_user(world["site_admin"]), target, "user").status_code == 200

    def test_an_admin_may_step_down_when_another_remains(self, api, world):
        member(world.account, Role.ADMIN)
        mine = world.account_membership_of("account_admin")
        assert self.patch(api.as_user(world["account_admin"]), mine, "user").status_code == 200

    def test_the_last_admin_cannot_be_demoted(self, api, world):
        mine = world.account_membership_of("account_admin")
        for caller in ("account_admin", "site_admin"):
            response = self.patch(api.as_user(world[caller]), mine, "user")
            assert response.status_code == 409 and response.document["errors"][0]["code"] == "last_admin"
        assert world.account_membership_of("account_admin").role == Role.ADMIN

    def test_user_and_account_are_fixed(self, api, world):
        target = world.account_membership_of("account_user")
        response = api.as_user(world["site_admin"]).patch(f"{URL}{target.pk}/", body(
            "AccountMembership", relationships={"account": rel("Account", world.other_account.pk)}, id=target.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/account"
        same = api.as_user(world["site_admin"]).patch(f"{URL}{target.pk}/", body(
            "AccountMembership", {"role": "consultant"}, {"account": rel("Account", world.account.pk),
                                                          "user": rel("User", world["account_user"].pk)}, id=target.pk))
        assert same.status_code == 200


@pytest.mark.django_db
class TestRemove:
    def test_removing_another_admin_is_for_site_admins(self, api, world):
        other_admin = member(world.account, Role.ADMIN)
        target = AccountMembership.objects.get(user=other_admin)
        assert api.as_user(world["account_admin"]).delete(f"{URL}{target.pk}/").status_code == 403
        assert api.as_user(world["site_admin"]).delete(f"{URL}{target.pk}/").status_code == 204

    def test_the_last_admin_cannot_leave(self, api, world):
        mine = world.account_membership_of("account_admin")
        response = api.as_user(world["account_admin"]).delete(f"{URL}{mine.pk}/")
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "last_admin"
        assert api.as_user(world["site_admin"]).delete(f"{URL}{mine.pk}/").status_code == 409

    def test_the_last_admin_cannot_delete_themselves(self, api, world):
        response = api.as_user(world["account_admin"]).delete("/api/v1/users/me/")
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "last_admin"
        assert world["account_admin"].__class__.objects.filter(pk=world["account_admin"].pk).exists()
        member(world.account, Role.ADMIN)
        assert api.as_user(world["account_admin"]).delete("/api/v1/users/me/").status_code == 204


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_two_admins_leaving_at_once_leave_one_behind():
    """The last-admin rule holds under concurrency: row locks serialise the two removals."""
    account = Account.objects.create(name="Race")
    first, second = UserFactory(), UserFactory()
    memberships = [AccountMembership.objects.create(account=account, user=u, role=Role.ADMIN)
                   for u in (first, second)]
    barrier = threading.Barrier(2)
    outcomes = []

    def leave(membership):
        try:
            barrier.wait()
            services.account_membership_delete(actor=membership.user, membership=membership)
            outcomes.append("left")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=leave, args=(m,)) for m in memberships]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["last_admin", "left"]
    assert AccountMembership.objects.filter(account=account, role=Role.ADMIN).count() == 1


def test_race_test_is_skipped_only_off_postgres():
    assert connection.vendor in ("sqlite", "postgresql")
