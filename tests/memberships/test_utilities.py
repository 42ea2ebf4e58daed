import pytest

from accounts.models import Account, AuditLogEntry
from accounts.models import AccountMembership
from memberships.models import Membership, Utility
from tests.factories import UserFactory
from tests.jsonapi import body, matrix, rel

URL = "/api/v1/utilities/"
ARole = AccountMembership.Role
URole = Membership.Role


def account_member(account, role):
    user = UserFactory()
    AccountMembership.objects.create(account=account, user=user, role=role)
    return user


def utility_member(utility, role, subscriber=False):
    user = UserFactory()
    Membership.objects.create(utility=utility, user=user, role=role, is_subscriber=subscriber)
    return user


@pytest.fixture
def place(db):
    """An account with a utility, and a caller for every account and utility role."""
    consultancy = Account.objects.create(name="Consultancy")
    account = Account.objects.create(name="Acme", consultancy_account=consultancy)
    other = Account.objects.create(name="Other")
    utility = Utility.objects.create(account=account, name="North", billing_day=5)
    return {
        "account": account,
        "utility": utility,
        "other_utility": Utility.objects.create(account=other, name="Elsewhere", billing_day=1),
        "anonymous": None,
        "outsider": account_member(other, ARole.ADMIN),
        "account_user": account_member(account, ARole.USER),
        "account_consultant": account_member(account, ARole.CONSULTANT),
        "account_admin": account_member(account, ARole.ADMIN),
        "consultancy_consultant": account_member(consultancy, ARole.CONSULTANT),
        "spectator": utility_member(utility, URole.SPECTATOR),
        "member": utility_member(utility, URole.MEMBER),
        "leader": utility_member(utility, URole.LEADER),
        "utility_admin": utility_member(utility, URole.ADMIN),
        "site_admin": UserFactory(is_superuser=True),
    }


@pytest.mark.django_db
class TestRead:
    @pytest.mark.parametrize(*matrix(anonymous=401, outsider=404, account_user=200, account_consultant=200,
                                     account_admin=200, consultancy_consultant=200, spectator=200, leader=200,
                                     site_admin=200))
    def test_retrieve(self, api, place, caller, expected):
        assert api.as_user(place[caller]).get(f"{URL}{place['utility'].pk}/").status_code == expected

    def test_shape(self, api, place):
        data = api.as_user(place["account_admin"]).get(f"{URL}{place['utility'].pk}/").document["data"]
        assert data["attributes"] == {"name": "North", "billingDay": 5, "isPersonal": False,
                                      "subscriberSeats": None, "created": data["attributes"]["created"]}
        assert data["relationships"]["account"]["data"] == {"type": "Account", "id": str(place["account"].pk)}
        assert len(data["relationships"]["memberships"]["data"]) == 4

    def test_filters(self, api, place):
        api.as_user(place["site_admin"])
        by_account = api.get(f"{URL}?filter[account]={place['account'].pk}").document["data"]
        assert [u["attributes"]["name"] for u in by_account] == ["North"]
        assert [u["attributes"]["name"] for u in api.get(f"{URL}?filter[name]=NORTH").document["data"]] == ["North"]

    def test_account_counts_and_lists_its_utilities(self, api, place):
        data = api.as_user(place["account_user"]).get(f"/api/v1/accounts/{place['account'].pk}/").document["data"]
        assert data["attributes"]["utilityCount"] == 1
        assert data["relationships"]["utilities"]["data"] == [{"type": "Utility", "id": str(place["utility"].pk)}]

    def test_list_query_count_is_fixed(self, api, place, django_assert_max_num_queries):
        for n in range(30):
            utility = Utility.objects.create(account=place["account"], name=f"U{n}", billing_day=1)
            Membership.objects.create(utility=utility, user=place["member"], is_subscriber=False)
        api.as_user(place["account_admin"])
        with django_assert_max_num_queries(6):
            small = api.get(f"{URL}?page_size=2")
        with django_assert_max_num_queries(10):
            large = api.get(f"{URL}?page_size=100&include=account")
        assert len(small.document["data"]) == 2 and len(large.document["data"]) == 31


@pytest.mark.django_db
class TestWrite:
    def payload(self, account, **attributes):
        return body("Utility", {"name": "South", "billingDay": 12, **attributes},
                    {"account": rel("Account", account.pk)})

    # A utility admin who is not in the account does not see the account: 404.
    @pytest.mark.parametrize(*matrix(anonymous=401, outsider=404, account_user=403, account_consultant=403,
                                     utility_admin=404, account_admin=201, site_admin=201))
    def test_who_creates(self, api, place, caller, expected):
        response = api.as_user(place[caller]).post(URL, self.payload(place["account"]))
        assert response.status_code == expected
        assert Utility.objects.filter(name="South").exists() == (expected == 201)

    def test_creating_makes_no_membership_and_is_audited(self, api, place):
        response = api.as_user(place["account_admin"]).post(URL, self.payload(place["account"], subscriberSeats=3))
        utility = Utility.objects.get(pk=response.document["data"]["id"])
        assert not utility.memberships.exists()
        assert response.document["data"]["attributes"]["subscriberSeats"] == 3
        entry = AuditLogEntry.objects.get(content_type__model="utility", object_id=utility.pk)
        assert entry.account_id == place["account"].pk and entry.actor == place["account_admin"]

    @pytest.mark.parametrize("attributes,pointer", [
        ({"billingDay": 0}, "billingDay"), ({"billingDay": 29}, "billingDay"), ({"billingDay": "x"}, "billingDay"),
        ({"name": ""}, "name"), ({"name": "north"}, "name"), ({"subscriberSeats": -1}, "subscriberSeats"),
        ({"isPersonal": True}, "isPersonal"),
    ])
    def test_validation(self, api, place, attributes, pointer):
        response = api.as_user(place["account_admin"]).post(URL, self.payload(place["account"], **attributes))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == f"/data/attributes/{pointer}"

    def test_missing_account_is_required(self, api, place):
        response = api.as_user(place["account_admin"]).post(URL, body("Utility", {"name": "X", "billingDay": 1}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/account"

    @pytest.mark.parametrize(*matrix(account_user=403, leader=403, utility_admin=200, account_admin=200))
    def test_rename(self, api, place, caller, expected):
        utility = place["utility"]
        response = api.as_user(place[caller]).patch(f"{URL}{utility.pk}/", body("Utility", {"name": "Renamed"},
                                                                                  id=utility.pk))
        assert response.status_code == expected

    def test_billing_day_is_for_account_admins(self, api, place):
        utility = place["utility"]
        payload = body("Utility", {"billingDay": 20}, id=utility.pk)
        assert api.as_user(place["utility_admin"]).patch(f"{URL}{utility.pk}/", payload).status_code == 403
        assert api.as_user(place["account_admin"]).patch(f"{URL}{utility.pk}/", payload).status_code == 200

    def test_account_is_fixed(self, api, place):
        utility = place["utility"]
        response = api.as_user(place["site_admin"]).patch(f"{URL}{utility.pk}/", body(
            "Utility", relationships={"account": rel("Account", place["other_utility"].account_id)}, id=utility.pk))
        assert response.status_code == 400

    def test_seats_cannot_drop_below_subscribers(self, api, place):
        utility = place["utility"]
        Membership.objects.filter(utility=utility).update(is_subscriber=True)
        response = api.as_user(place["account_admin"]).patch(f"{URL}{utility.pk}/", body(
            "Utility", {"subscriberSeats": 2}, id=utility.pk))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "seat_limit_reached"
        assert api.patch(f"{URL}{utility.pk}/", body("Utility", {"subscriberSeats": 4}, id=utility.pk)
                         ).status_code == 200

    @pytest.mark.parametrize(*matrix(outsider=404, account_user=403, utility_admin=403, account_admin=204,
                                     site_admin=204))
    def test_who_deletes(self, api, place, caller, expected):
        utility = place["utility"]
        assert api.as_user(place[caller]).delete(f"{URL}{utility.pk}/").status_code == expected

    def test_delete_removes_memberships_and_is_in_the_account_history(self, api, place):
        utility = place["utility"]
        api.as_user(place["account_admin"]).delete(f"{URL}{utility.pk}/")
        assert not Membership.objects.filter(utility_id=utility.pk).exists()
        log = api.get(f"/api/v1/accounts/{place['account'].pk}/auditlog/?filter[action]=delete").document["data"]
        assert {e["attributes"]["objectType"] for e in log} == {"Utility", "Membership"}


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
        assert default["relationships"]["utilities"]["data"] == []

    def test_only_the_billing_day_is_taken(self, api, db):
        api.as_user(UserFactory())
        assert api.post(f"{URL}personal/", body("Utility", {"billingDay": 40})).status_code == 400
        assert api.post(f"{URL}personal/", body("Utility", {"billingDay": 4, "name": "Mine"})).status_code == 400
        assert api.as_user(None).post(f"{URL}personal/", body("Utility", {"billingDay": 4})).status_code == 401


@pytest.mark.django_db
def test_permission_set_for_a_utility(api, place):
    url = f"/api/v1/users/me/permissions/?objectType=Utility&objectId={place['utility'].pk}"
    leader = api.as_user(place["leader"]).get(url).document["data"]["attributes"]["permissions"]
    assert "memberships.change_membership" in leader and "memberships.add_membership" not in leader
    admin = api.as_user(place["account_admin"]).get(url).document["data"]["attributes"]["permissions"]
    assert {"memberships.add_membership", "memberships.change_utility", "memberships.delete_utility"} <= set(admin)
    assert api.as_user(place["outsider"]).get(url).status_code == 404


@pytest.mark.django_db
def test_personal_utility_owner_sets_its_billing_day(api):
    owner = UserFactory()
    api.as_user(owner)
    utility_id = api.post(f"{URL}personal/", body("Utility", {"billingDay": 3})).document["data"]["id"]
    response = api.patch(f"{URL}{utility_id}/", body("Utility", {"billingDay": 21}, id=utility_id))
    assert response.status_code == 200 and response.document["data"]["attributes"]["billingDay"] == 21
