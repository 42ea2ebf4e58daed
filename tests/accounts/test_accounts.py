import pytest

from accounts.models import Account, AccountMembership, AccountRole, AuditLogEntry
from tests.factories import AccountFactory, AccountMembershipFactory, AccountRoleFactory, UserFactory
from tests.jsonapi import body, rel

URL = "/api/v1/accounts/"
Role = AccountMembership.Role

# Who may list, read, create, change and delete accounts: tests/accounts/test_permission_matrix.py.


@pytest.mark.django_db
class TestRead:
    def test_list_holds_own_and_client_accounts(self, api, world):
        world.build()
        def names(caller):
            return {a["attributes"]["name"] for a in api.as_user(world[caller]).get(URL).document["data"]}
        default = Account.objects.get(is_default=True).name
        assert names("account_user") == {"Acme Energy", default}
        assert names("consultancy_consultant") == {"Consult & Co", "Acme Energy", default}
        assert names("consultancy_user") == {"Consult & Co", default}
        assert len(names("site_admin")) == 4

    def test_attributes_and_defaults(self, api, world):
        world.build("account_user", "account_consultant", "account_admin")
        data = api.as_user(world["account_user"]).get(f"{URL}{world.account.pk}/").document["data"]
        attributes = data["attributes"]
        assert attributes["healthTimePeriod"] == 86400 and attributes["execInterval"] == 300
        assert attributes["baseLineExecInterval"] == 86400 and attributes["cdModelFrequency"] == 604800
        assert attributes["cdExecutionFrequency"] == 600 and attributes["dataRetention"] == 0
        assert attributes["customAttributes"] == {} and attributes["defaultProductPrivacy"] == "DEFAULT_PRIVATE"
        assert attributes["memberCount"] == 3
        assert data["relationships"]["consultancyAccount"]["data"] == {"type": "Account",
                                                                      "id": str(world.consultancy.pk)}
        assert data["relationships"]["accountMemberships"]["meta"] == {"count": 3}  # unbounded: no ids

    def test_default_account_is_readable_by_everyone_signed_in(self, api, world):
        response = api.as_user(world["outsider"]).get(f"{URL}default/")
        assert response.status_code == 200
        assert response.document["data"]["id"] == str(Account.objects.get(is_default=True).pk)
        assert api.as_user(None).get(f"{URL}default/").status_code == 401

    def test_filters_and_sorts(self, api, world):
        world.build()
        api.as_user(world["site_admin"])
        search = api.get(f"{URL}?filter[search]=ENERGY acme").document["data"]
        assert [a["attributes"]["name"] for a in search] == ["Acme Energy"]
        assert api.get(f"{URL}?filter[search]=acme nothing").document["data"] == []
        assert [a["attributes"]["name"] for a in api.get(f"{URL}?filter[name]=other org").document["data"]] == [
            "Other Org"]
        by_members = [a["attributes"]["memberCount"] for a in api.get(f"{URL}?sort=-memberCount").document["data"]]
        assert by_members == sorted(by_members, reverse=True)
        label = AccountRole.objects.create(name="Supplier")
        world.other_account.account_roles.add(label)
        tagged = api.get(f"{URL}?filter[accountRoles]={label.pk}").document["data"]
        assert [a["attributes"]["name"] for a in tagged] == ["Other Org"]
        assert api.get(f"{URL}?sort=nope").status_code == 400

    def test_list_query_count_is_fixed(self, api, django_assert_max_num_queries):
        user = UserFactory()
        label = AccountRoleFactory()
        for _ in range(30):
            account = AccountFactory(account_roles=[label])
            AccountMembershipFactory(account=account, user=user, role=Role.ADMIN)
            AccountMembershipFactory(account=account)
        api.as_user(user)
        # session, count, page (with both counts), account roles, account memberships, utilities
        with django_assert_max_num_queries(6):
            small = api.get(f"{URL}?page_size=3")
        with django_assert_max_num_queries(6):
            large = api.get(f"{URL}?page_size=100&include=accountRoles")
        assert len(small.document["data"]) == 3 and len(large.document["data"]) == 31
        assert {a["attributes"]["memberCount"] for a in large.document["data"] if not a["attributes"]["name"]
                .startswith("Default")} == {2}


@pytest.mark.django_db
class TestCreate:
    def test_any_signed_in_user_creates_and_becomes_admin(self, api, world):
        response = api.as_user(world["account_user"]).post(URL, body("Account", {"name": "New Co",
                                                                          "primaryColor": "#1a3443"}))
        assert response.status_code == 201
        account = Account.objects.get(name="New Co")
        assert AccountMembership.objects.get(account=account).user == world["account_user"]
        assert AccountMembership.objects.get(account=account).role == Role.ADMIN
        assert response.document["data"]["attributes"]["memberCount"] == 1
        entries = AuditLogEntry.objects.filter(account_id=account.pk)
        assert {e.content_type.model for e in entries} == {"account", "accountmembership"}
        assert all(e.actor == world["account_user"] for e in entries)

    @pytest.mark.parametrize("attributes,pointer", [
        ({"name": ""}, "name"),
        ({}, "name"),
        ({"name": "ACME energy"}, "name"),
        ({"name": "A", "primaryColor": "red"}, "primaryColor"),
        ({"name": "A", "secondaryColor": "#12345"}, "secondaryColor"),
        ({"name": "A", "logoUrl": "ftp://example.org/x.png"}, "logoUrl"),
        ({"name": "A", "logoUrl": "javascript:alert(1)"}, "logoUrl"),
        ({"name": "A", "execInterval": 0}, "execInterval"),
        ({"name": "A", "dataRetention": -1}, "dataRetention"),
        ({"name": "A", "healthTimePeriod": 10 ** 12}, "healthTimePeriod"),
        ({"name": "A", "defaultProductPrivacy": "SOMETIMES"}, "defaultProductPrivacy"),
        ({"name": "A", "customAttributes": []}, "customAttributes"),
        ({"name": "A", "customAttributes": {"nested": {"a": 1}}}, "customAttributes/nested"),
        ({"name": "A", "customAttributes": {"empty": ""}}, "customAttributes/empty"),
        ({"name": "A", "customAttributes": {"long": "x" * 1025}}, "customAttributes/long"),
        ({"name": "A", "customAttributes": {"none": None}}, "customAttributes/none"),
        ({"name": "A", "customAttributes": {f"k{n}": n for n in range(101)}}, "customAttributes"),
        ({"name": "A", "memberCount": 3}, "memberCount"),
    ])
    def test_validation(self, api, world, attributes, pointer):
        api.as_user(world["account_user"])
        before = Account.objects.count()
        response = api.post(URL, body("Account", attributes))
        assert response.status_code == 400, response.document
        assert response.document["errors"][0]["source"]["pointer"] == f"/data/attributes/{pointer}"
        assert Account.objects.count() == before

    def test_name_taken_is_unique(self, api, world):
        response = api.as_user(world["account_user"]).post(URL, body("Account", {"name": "acme ENERGY"}))
        assert response.document["errors"][0]["code"] == "unique"

    def test_custom_attributes_round_trip(self, api, world):
        attributes = {"phone": "123456789", "floors": 3, "ratio": 0.5, "active": True}
        response = api.as_user(world["account_user"]).post(URL, body("Account", {"name": "Attr Co",
                                                                          "customAttributes": attributes}))
        assert response.document["data"]["attributes"]["customAttributes"] == attributes

    def test_site_admin_only_fields_on_create(self, api, world):
        payload = body("Account", {"name": "Sneaky"}, {"consultancyAccount": rel("Account", world.account.pk)})
        assert api.as_user(world["account_admin"]).post(URL, payload).status_code == 403
        assert not Account.objects.filter(name="Sneaky").exists()
        assert api.as_user(world["site_admin"]).post(URL, payload).status_code == 201


@pytest.mark.django_db
class TestUpdate:
    def patch(self, api, account, attributes=None, relationships=None):
        return api.patch(f"{URL}{account.pk}/", body("Account", attributes, relationships, id=account.pk))

    def test_consultancy_and_roles_only_by_site_admins(self, api, world):
        label = AccountRole.objects.create(name="Aggregator")
        api.as_user(world["account_admin"])
        refused = self.patch(api, world.account, relationships={"consultancyAccount": rel("Account",
                                                                                             world.other_account.pk)})
        assert refused.status_code in (400, 403)
        assert self.patch(api, world.account, relationships={
            "accountRoles": rel("Account" if False else "AccountRole", [label.pk])}).status_code == 403
        world.account.refresh_from_db()
        assert world.account.consultancy_account == world.consultancy
        api.as_user(world["site_admin"])
        ok = self.patch(api, world.account, relationships={
            "consultancyAccount": rel("Account", world.other_account.pk),
            "accountRoles": rel("AccountRole", [label.pk]),
        })
        assert ok.status_code == 200
        world.account.refresh_from_db()
        assert world.account.consultancy_account == world.other_account
        assert list(world.account.account_roles.all()) == [label]

    def test_sending_site_admin_fields_unchanged_is_fine(self, api, world):
        api.as_user(world["account_admin"])
        current = api.get(f"{URL}{world.account.pk}/").document["data"]
        response = self.patch(api, world.account, {"name": "Acme Power"}, {
            "consultancyAccount": current["relationships"]["consultancyAccount"],
            "accountRoles": current["relationships"]["accountRoles"]})
        assert response.status_code == 200

    def test_cannot_be_its_own_consultancy(self, api, world):
        response = self.patch(api.as_user(world["site_admin"]), world.account, relationships={
            "consultancyAccount": rel("Account", world.account.pk)})
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/consultancyAccount"

    def test_clearing_the_consultancy(self, api, world):
        response = self.patch(api.as_user(world["site_admin"]), world.account, relationships={
            "consultancyAccount": {"data": None}})
        assert response.status_code == 200
        world.account.refresh_from_db()
        assert world.account.consultancy_account is None

    def test_updates_are_audited_with_the_account_id(self, api, world):
        self.patch(api.as_user(world["account_admin"]), world.account, {"dataRetention": 30})
        entry = AuditLogEntry.objects.filter(content_type__model="account", object_id=world.account.pk,
                                             action=AuditLogEntry.Action.UPDATE).latest("timestamp")
        assert entry.account_id == world.account.pk and entry.actor == world["account_admin"]
        assert entry.changes["data_retention"] == [0, 30]

    def test_read_only_counts_unchanged_are_ignored(self, api, world):
        api.as_user(world["account_admin"])
        current = api.get(f"{URL}{world.account.pk}/").document["data"]
        response = self.patch(api, world.account, {**current["attributes"], "name": "Acme Two"})
        assert response.status_code == 200
        wrong = self.patch(api, world.account, {"memberCount": 99})
        assert wrong.status_code == 400

    def test_consultancy_changes_by_non_site_admins_are_403_whatever_the_id(self, api, world):
        api.as_user(world["account_admin"])
        for target in (world.other_account.pk, 999999):
            response = api.patch(f"{URL}{world.account.pk}/", body(
                "Account", relationships={"consultancyAccount": rel("Account", target)}, id=world.account.pk))
            assert response.status_code == 403

    def test_huge_numbers_in_custom_attributes_are_a_400(self, api, world):
        account, admin = world.account, world["account_admin"]
        response = api.as_user(admin).patch(f"/api/v1/accounts/{account.pk}/", body(
            "Account", {"customAttributes": {"a": 10 ** 400}}, id=account.pk))
        assert response.status_code == 400


@pytest.mark.django_db
class TestDelete:
    def test_delete_removes_all_data_and_keeps_history_for_site_admins(self, api, world):
        account = world.account
        api.as_user(world["account_admin"]).delete(f"{URL}{account.pk}/")
        assert not AccountMembership.objects.filter(account_id=account.pk).exists()
        history = api.as_user(world["site_admin"]).get(f"{URL}{account.pk}/auditlog/")
        assert history.status_code == 200
        kinds = {(e["attributes"]["objectType"], e["attributes"]["action"]) for e in history.document["data"]}
        assert ("Account", "delete") in kinds and ("AccountMembership", "delete") in kinds
        assert api.as_user(world["account_admin"]).get(f"{URL}{account.pk}/auditlog/").status_code == 404

    def test_the_default_account_cannot_be_deleted(self, api, world):
        default = Account.objects.get(is_default=True)
        response = api.as_user(world["site_admin"]).delete(f"{URL}{default.pk}/")
        assert response.status_code == 409
        assert Account.objects.filter(pk=default.pk).exists()


@pytest.mark.django_db
class TestPermissionSet:
    @pytest.mark.parametrize("caller,present,absent", [
        ("account_admin", ["accounts.change_account", "accounts.add_accountmembership"], []),
        ("account_consultant", ["accounts.view_auditlogentry"], ["accounts.change_account"]),
        ("account_user", ["accounts.view_account"], ["accounts.view_auditlogentry", "accounts.change_account"]),
        ("consultancy_consultant", ["accounts.view_auditlogentry"], ["accounts.change_account"]),
    ])
    def test_role_rights_on_an_account(self, api, world, caller, present, absent):
        response = api.as_user(world[caller]).get(
            f"/api/v1/users/me/permissions/?objectType=Account&objectId={world.account.pk}")
        permissions = response.document["data"]["attributes"]["permissions"]
        assert set(present) <= set(permissions) and not set(absent) & set(permissions)

    def test_guardian_grants_on_an_account(self, api, world):
        from guardian.shortcuts import assign_perm

        assign_perm("accounts.change_account", world["account_user"], world.account)
        response = api.as_user(world["account_user"]).get(
            f"/api/v1/users/me/permissions/?objectType=Account&objectId={world.account.pk}")
        assert "accounts.change_account" in response.document["data"]["attributes"]["permissions"]

    def test_unseen_account_is_404(self, api, world):
        response = api.as_user(world["outsider"]).get(
            f"/api/v1/users/me/permissions/?objectType=Account&objectId={world.account.pk}")
        assert response.status_code == 404
