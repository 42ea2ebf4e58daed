import pytest

from accounts.models import Account, AccountMembership, AuditLogEntry
from memberships.models import Membership, Utility
from tests.factories import MembershipFactory, UserFactory, UtilityFactory
from tests.jsonapi import body, rel

URL = "/api/v1/utilities/"
URole = Membership.Role
UTILITY_PERSONAS = ("spectator", "member", "leader", "utility_admin")

# Who may list, read, create, rename and delete utilities (and that a refusal changes
# nothing): tests/memberships/test_permission_matrix.py.


@pytest.mark.django_db
class TestRead:
    def test_shape(self, api, world):
        world.build(*UTILITY_PERSONAS)
        data = api.as_user(world["account_admin"]).get(f"{URL}{world.utility.pk}/").document["data"]
        assert data["attributes"] == {"name": "North", "billingDay": 5, "isPersonal": False,
                                      "subscriberSeats": None, "created": data["attributes"]["created"]}
        assert data["relationships"]["account"]["data"] == {"type": "Account", "id": str(world.account.pk)}
        # unbounded (SPEC §2): links and the count of what the caller sees, no ids
        assert data["relationships"]["memberships"]["meta"] == {"count": 4}
        assert "data" not in data["relationships"]["memberships"]

    def test_filters(self, api, world):
        world.utility  # noqa: B018  (the one utility of the account)
        api.as_user(world["site_admin"])
        by_account = api.get(f"{URL}?filter[account]={world.account.pk}").document["data"]
        assert [u["attributes"]["name"] for u in by_account] == ["North"]
        assert [u["attributes"]["name"] for u in api.get(f"{URL}?filter[name]=NORTH").document["data"]] == ["North"]

    def test_account_counts_and_lists_its_utilities(self, api, world):
        world.utility  # noqa: B018  (the one utility of the account)
        data = api.as_user(world["account_user"]).get(f"/api/v1/accounts/{world.account.pk}/").document["data"]
        assert data["attributes"]["utilityCount"] == 1
        assert data["relationships"]["utilities"]["meta"] == {"count": 1}
        related = api.get(f"/api/v1/accounts/{world.account.pk}/utilities/").document["data"]
        assert [utility["id"] for utility in related] == [str(world.utility.pk)]

    def test_list_query_count_is_fixed(self, api, world, django_assert_max_num_queries):
        for _ in range(30):
            MembershipFactory(utility=UtilityFactory(account=world.account), user=world["member"])
        api.as_user(world["account_admin"])
        with django_assert_max_num_queries(6):
            small = api.get(f"{URL}?page_size=2")
        with django_assert_max_num_queries(10):
            large = api.get(f"{URL}?page_size=100&include=account")
        assert len(small.document["data"]) == 2 and len(large.document["data"]) == 31


@pytest.mark.django_db
class TestWrite:
    def payload(self, account, **attributes):
        return body("Utility", {"name": "West", "billingDay": 12, **attributes},
                    {"account": rel("Account", account.pk)})

    def test_creating_makes_no_membership_and_is_audited(self, api, world):
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world.account, subscriberSeats=3))
        utility = Utility.objects.get(pk=response.document["data"]["id"])
        assert not utility.memberships.exists()
        assert response.document["data"]["attributes"]["subscriberSeats"] == 3
        entry = AuditLogEntry.objects.get(content_type__model="utility", object_id=utility.pk)
        assert entry.account_id == world.account.pk and entry.actor == world["account_admin"]

    @pytest.mark.parametrize("attributes,pointer", [
        ({"billingDay": 0}, "billingDay"), ({"billingDay": 29}, "billingDay"), ({"billingDay": "x"}, "billingDay"),
        ({"name": ""}, "name"), ({"name": "north"}, "name"), ({"subscriberSeats": -1}, "subscriberSeats"),
        ({"isPersonal": True}, "isPersonal"),
    ])
    def test_validation(self, api, world, attributes, pointer):
        world.utility  # noqa: B018  ("north" is its name)
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world.account, **attributes))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == f"/data/attributes/{pointer}"

    def test_missing_account_is_required(self, api, world):
        response = api.as_user(world["account_admin"]).post(URL, body("Utility", {"name": "X", "billingDay": 1}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/account"

    def test_billing_day_is_for_account_admins(self, api, world):
        utility = world.utility
        payload = body("Utility", {"billingDay": 20}, id=utility.pk)
        assert api.as_user(world["utility_admin"]).patch(f"{URL}{utility.pk}/", payload).status_code == 403
        assert api.as_user(world["account_admin"]).patch(f"{URL}{utility.pk}/", payload).status_code == 200

    def test_account_is_fixed(self, api, world):
        utility = world.utility
        response = api.as_user(world["site_admin"]).patch(f"{URL}{utility.pk}/", body(
            "Utility", relationships={"account": rel("Account", world.other_utility.account_id)}, id=utility.pk))
        assert response.status_code == 400

    def test_seats_cannot_drop_below_subscribers(self, api, world):
        world.build(*UTILITY_PERSONAS)
        utility = world.utility
        Membership.objects.filter(utility=utility).update(is_subscriber=True)
        response = api.as_user(world["account_admin"]).patch(f"{URL}{utility.pk}/", body(
            "Utility", {"subscriberSeats": 2}, id=utility.pk))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "seat_limit_reached"
        assert api.patch(f"{URL}{utility.pk}/", body("Utility", {"subscriberSeats": 4}, id=utility.pk)
                         ).status_code == 200

    def test_delete_removes_memberships_and_is_in_the_account_history(self, api, world):
        world.build(*UTILITY_PERSONAS)
        utility = world.utility
        api.as_user(world["account_admin"]).delete(f"{URL}{utility.pk}/")
        assert not Membership.objects.filter(utility_id=utility.pk).exists()
        log = api.get(f"/api/v1/accounts/{world.account.pk}/auditlog/?filter[action]=delete").document["data"]
        assert {e["attributes"]["objectType"] for e in log} == {"Utility", "Membership"}

    def test_integers_are_json_integers(self, api, world):
        response = api.as_user(world["account_admin"]).post("/api/v1/utilities/", body("Utility", {
            "name": "Str", "billingDay": "5"}, {"account": rel("Account", world.account.pk)}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/billingDay"


@pytest.mark.django_db
class TestPersonal:
    def test_lifecycle(self, api, db):
        user = UserFactory()
        api.as_user(user)
        assert api.get(f"{URL}personal/").status_code == 404
        created = api.post(f"{URL}personal/", body("Utility", {"billingDay": 7}))
        assert created.status_code == 201
        data = created.document["data"]
        assert data["attributes"]["isPersonal"] is True and data["attributes"]["billingDay"] == 7
        default = Account.objects.get(is_default=True)
        assert data["relationships"]["account"]["data"]["id"] == str(default.pk)
        membership = Membership.objects.get(utility_id=data["id"])
        assert membership.user == user and membership.role == URole.ADMIN
        assert api.get(f"{URL}personal/").document["data"]["id"] == data["id"]
        again = api.post(f"{URL}personal/", body("Utility", {"billingDay": 8}))
        assert again.status_code == 409 and again.document["errors"][0]["code"] == "duplicate"
        assert api.delete(f"{URL}personal/").status_code == 204
        assert not Utility.objects.filter(pk=data["id"]).exists()
        assert api.delete(f"{URL}personal/").status_code == 404

    def test_personal_utilities_are_private(self, api, db):
        owner, stranger = UserFactory(), UserFactory()
        utility_id = api.as_user(owner).post(f"{URL}personal/", body("Utility", {"billingDay": 3})).document[
            "data"]["id"]
        api.as_user(stranger)
        assert api.get(f"{URL}{utility_id}/").status_code == 404
        default = api.get("/api/v1/accounts/default/").document["data"]
        assert default["relationships"]["utilities"]["meta"] == {"count": 0}
        assert api.get("/api/v1/accounts/default/?include=utilities").document["data"]["relationships"][
            "utilities"]["data"] == []

    @pytest.mark.parametrize("role", ["admin", "consultant"])
    def test_personal_utilities_are_private_from_the_default_accounts_admins(self, api, db, role):
        owner, senior = UserFactory(), UserFactory()
        default = Account.objects.get(is_default=True)
        AccountMembership.objects.create(account=default, user=senior, role=role)
        utility_id = api.as_user(owner).post(f"{URL}personal/", body("Utility", {"billingDay": 3})).document[
            "data"]["id"]
        membership = Membership.objects.get(utility_id=utility_id)
        api.as_user(senior)
        assert api.get(f"{URL}{utility_id}/").status_code == 404
        assert api.get(f"/api/v1/memberships/{membership.pk}/").status_code == 404
        assert api.get(f"/api/v1/memberships/?filter[utility]={utility_id}").document["data"] == []
        assert api.patch(f"{URL}{utility_id}/", body("Utility", {"name": "Mine"}, id=utility_id)).status_code == 404
        history = api.get(f"/api/v1/accounts/{default.pk}/auditlog/").document["data"]
        assert not [entry for entry in history if entry["attributes"]["objectType"] in ("Utility", "Membership")]
        assert not AuditLogEntry.objects.filter(account_id=default.pk, object_pk=str(utility_id),
                                                content_type__model="utility").exists()

    def test_only_the_billing_day_is_taken(self, api, db):
        api.as_user(UserFactory())
        assert api.post(f"{URL}personal/", body("Utility", {"billingDay": 40})).status_code == 400
        assert api.post(f"{URL}personal/", body("Utility", {"billingDay": 4, "name": "Mine"})).status_code == 400
        assert api.as_user(None).post(f"{URL}personal/", body("Utility", {"billingDay": 4})).status_code == 401

    def test_the_owner_stays_admin_and_member(self, api, db):
        owner = UserFactory()
        api.as_user(owner)
        utility_id = api.post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 2})).document[
            "data"]["id"]
        mine = Membership.objects.get(utility_id=utility_id, user=owner)
        demote = api.patch(f"/api/v1/memberships/{mine.pk}/", body("Membership", {"role": "spectator"}, id=mine.pk))
        assert demote.status_code == 409
        assert api.delete(f"/api/v1/memberships/{mine.pk}/").status_code == 409
        assert api.get("/api/v1/utilities/personal/").status_code == 200

    def test_renaming_one_does_not_take_another_users_default_name(self, api, db):
        first, second = UserFactory(), UserFactory()
        mine = api.as_user(first).post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 2}))
        utility_id = mine.document["data"]["id"]
        api.patch(f"/api/v1/utilities/{utility_id}/", body("Utility", {"name": f"{second.username}'s utility"},
                                                           id=utility_id))
        theirs = api.as_user(second).post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 3}))
        assert theirs.status_code == 201


@pytest.mark.django_db
def test_permission_set_for_a_utility(api, world):
    url = f"/api/v1/users/me/permissions/?objectType=Utility&objectId={world.utility.pk}"
    leader = api.as_user(world["leader"]).get(url).document["data"]["attributes"]["permissions"]
    assert "memberships.change_membership" in leader and "memberships.add_membership" not in leader
    admin = api.as_user(world["account_admin"]).get(url).document["data"]["attributes"]["permissions"]
    assert {"memberships.add_membership", "memberships.change_utility", "memberships.delete_utility"} <= set(admin)
    assert api.as_user(world["outsider"]).get(url).status_code == 404


@pytest.mark.django_db
def test_permission_set_reports_read_rights_and_membership_rights(api, world):
    api.as_user(world["member"])
    utility = api.get(f"/api/v1/users/me/permissions/?objectType=Utility&objectId={world.utility.pk}")
    assert "memberships.view_utility" in utility.document["data"]["attributes"]["permissions"]
    mine = Membership.objects.get(user=world["member"])
    own = api.get(f"/api/v1/users/me/permissions/?objectType=Membership&objectId={mine.pk}")
    assert "memberships.delete_membership" in own.document["data"]["attributes"]["permissions"]


@pytest.mark.django_db
def test_personal_utility_owner_sets_its_billing_day(api):
    owner = UserFactory()
    api.as_user(owner)
    utility_id = api.post(f"{URL}personal/", body("Utility", {"billingDay": 3})).document["data"]["id"]
    response = api.patch(f"{URL}{utility_id}/", body("Utility", {"billingDay": 21}, id=utility_id))
    assert response.status_code == 200 and response.document["data"]["attributes"]["billingDay"] == 21
