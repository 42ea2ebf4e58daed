import threading
from datetime import timedelta

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.utils import timezone

from accounts.models import AuditLogEntry
from core.errors import Conflict
from memberships import services
from memberships.models import Membership, Utility
from tests.factories import MembershipFactory, UserFactory
from tests.jsonapi import body, matrix, rel

URL = "/api/v1/memberships/"
URole = Membership.Role
UTILITY_PERSONAS = ("spectator", "member", "leader", "utility_admin")

# Who may list, read, add, change the subscription of and remove a member (and that a refusal
# changes nothing): tests/memberships/test_permission_matrix.py.


@pytest.mark.django_db
class TestAssociationExamples:
    """The utility association's documented requests, replayed against Roster."""

    def test_list_shape(self, api, world):
        world.build(*UTILITY_PERSONAS)
        api.as_user(world["spectator"])
        document = api.get(f"{URL}?filter[utility]={world.utility.pk}&page=1&page_size=2").document
        assert set(document["links"]) == {"first", "last", "next", "prev"}
        assert "page=1" in document["links"]["first"]
        assert document["meta"]["pagination"] == {"page": 1, "pages": 2, "count": 4}
        item = document["data"][0]
        assert item["type"] == "Membership" and isinstance(item["id"], str)
        assert set(item["attributes"]) >= {"isSubscriber", "isSubscriberDatetime", "role"}
        assert item["relationships"]["user"]["data"]["type"] == "User"
        assert item["relationships"]["utility"]["data"] == {"type": "Utility", "id": str(world.utility.pk)}

    def test_filter_by_comma_separated_utilities(self, api, world):
        world.build(*UTILITY_PERSONAS)
        second = Utility.objects.create(account=world.account, name="South", billing_day=2)
        Membership.objects.create(utility=second, user=world["member"], is_subscriber=False)
        api.as_user(world["account_admin"])
        both = api.get(f"{URL}?filter[utility]={world.utility.pk},{second.pk}").document["data"]
        assert len(both) == 5
        assert len(api.get(f"{URL}?filter[utility]={second.pk}").document["data"]) == 1

    def test_create_with_numeric_ids_is_201(self, api, world):
        newcomer = world["account_user"]  # in the utility's account: its admins may add them directly
        payload = {"data": {"type": "Membership", "attributes": {"isSubscriber": False}, "relationships": {
            "utility": {"data": {"type": "Utility", "id": world.utility.pk}},
            "user": {"data": {"type": "User", "id": newcomer.pk}}}}}
        response = api.as_user(world["account_admin"]).post(URL, payload)
        assert response.status_code == 201
        data = response.document["data"]
        assert data["attributes"]["isSubscriber"] is False and data["attributes"]["role"] == "spectator"
        assert data["relationships"]["user"]["data"] == {"type": "User", "id": str(newcomer.pk)}
        assert data["relationships"]["utility"]["data"] == {"type": "Utility", "id": str(world.utility.pk)}

    def test_retrieve_update_delete(self, api, world):
        target = world.membership_of("member")
        api.as_user(world["leader"])
        assert api.get(f"{URL}{target.pk}/").document["data"]["id"] == str(target.pk)
        patched = api.patch(f"{URL}{target.pk}/", {"data": {"type": "Membership", "id": str(target.pk),
                                                            "attributes": {"isSubscriber": True}}})
        assert patched.status_code == 200 and patched.document["data"]["attributes"]["isSubscriber"] is True
        deleted = api.delete(f"{URL}{target.pk}/")
        assert deleted.status_code == 204 and deleted.content == b""


@pytest.mark.django_db
class TestRead:
    def test_filters(self, api, world):
        world.build(*UTILITY_PERSONAS)
        api.as_user(world["account_admin"])
        Membership.objects.filter(user=world["leader"]).update(is_subscriber=True)
        subscribers = api.get(f"{URL}?filter[isSubscriber]=true").document["data"]
        assert [m["relationships"]["user"]["data"]["id"] for m in subscribers] == [str(world["leader"].pk)]
        leaders = api.get(f"{URL}?filter[role]=leader,admin").document["data"]
        assert len(leaders) == 2
        mine = api.get(f"{URL}?filter[user]={world['spectator'].pk}").document["data"]
        assert len(mine) == 1
        assert api.get(f"{URL}?filter[role]=boss").status_code == 400
        assert api.get(f"{URL}?filter[utility]=abc").status_code == 400
        unseen = api.get(f"{URL}?filter[utility]={world.other_utility.pk}").document["data"]
        assert unseen == []

    def test_include_and_sparse_fieldsets(self, api, world):
        api.as_user(world["spectator"])
        document = api.get(f"{URL}?include=user,utility&fields[Membership]=isSubscriber,user,utility").document
        assert set(document["data"][0]["attributes"]) == {"isSubscriber"}
        assert {r["type"] for r in document["included"]} == {"User", "Utility"}

    # Without include: session, count, page. With it: + the users' roles, account memberships and
    # memberships, the utilities and their memberships, and one visibility check per included type.
    @pytest.mark.parametrize("include,bound", [("", 3), ("&include=user,utility", 12)])
    def test_query_count_is_fixed(self, api, world, include, bound, django_assert_max_num_queries):
        world.build(*UTILITY_PERSONAS)
        for _ in range(60):
            MembershipFactory(utility=world.utility, role=URole.MEMBER)
        api.as_user(world["spectator"])
        with django_assert_max_num_queries(bound):
            small = api.get(f"{URL}?page_size=5{include}")
        with django_assert_max_num_queries(bound):
            large = api.get(f"{URL}?page_size=100{include}")
        assert len(small.document["data"]) == 5 and len(large.document["data"]) == 64

    def test_filter_errors_name_the_parameter_sent(self, api, world):
        response = api.as_user(world["account_admin"]).get("/api/v1/memberships/?filter[utility]=abc")
        assert response.document["errors"][0]["source"] == {"parameter": "filter[utility]"}


@pytest.mark.django_db
class TestCreate:
    def payload(self, user, utility, **attributes):
        return body("Membership", {"isSubscriber": False, **attributes},
                    {"user": rel("User", user.pk), "utility": rel("Utility", utility.pk)})

    def test_is_subscriber_is_required(self, api, world):
        payload = body("Membership", {}, {"user": rel("User", world["account_user"].pk),
                                          "utility": rel("Utility", world.utility.pk)})
        response = api.as_user(world["account_admin"]).post(URL, payload)
        assert response.status_code == 400 and response.document["errors"][0]["code"] == "required"
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/isSubscriber"

    # The session; the utility (404 if unseen) and the caller's account role on it (403); the user
    # among those the caller may add; the utility locked; the INSERT and its audit entry; two
    # savepoints and their releases (the service's transaction, the insert's). A seat limit adds
    # one count (already a member? seats taken?).
    @pytest.mark.parametrize("seats,bound", [(None, 11), (5, 12)])
    def test_a_post_takes_at_most_eleven_queries(self, api, world, seats, bound, django_assert_max_num_queries):
        Utility.objects.filter(pk=world.utility.pk).update(subscriber_seats=seats)
        ContentType.objects.get_for_model(Membership)  # cached for the process's life outside tests
        payload = self.payload(world["account_user"], world.utility, isSubscriber=True)
        api.as_user(world["account_admin"]).get("/api/v1/users/me/")
        with django_assert_max_num_queries(bound):
            response = api.post(URL, payload)
        assert response.status_code == 201
        entry = AuditLogEntry.objects.filter(object_pk=response.document["data"]["id"]).latest("id")
        assert entry.actor_id == world["account_admin"].pk and entry.account_id == world.utility.account_id

    def test_a_duplicate_subscriber_is_409_before_the_seats_are_counted(self, api, world):
        Utility.objects.filter(pk=world.utility.pk).update(subscriber_seats=0)
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world["member"], world.utility,
                                                                               isSubscriber=True))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "duplicate"

    def test_duplicate_is_409(self, api, world):
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world["member"], world.utility))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "duplicate"

    def test_subscriber_datetime_is_set_by_the_server(self, api, world):
        before = timezone.now()
        response = api.as_user(world["account_admin"]).post(URL, self.payload(
            world["account_user"], world.utility, isSubscriber=True))
        stamp = response.document["data"]["attributes"]["isSubscriberDatetime"]
        assert stamp and Membership.objects.get(pk=response.document["data"]["id"]).is_subscriber_datetime >= before
        sent = api.post(URL, self.payload(world["account_consultant"], world.utility,
                                          isSubscriberDatetime="2020-01-01T00:00:00Z"))
        assert sent.status_code == 400

    def test_creation_is_audited_into_the_account(self, api, world):
        response = api.as_user(world["account_admin"]).post(URL, self.payload(world["account_user"],
                                                                              world.utility))
        entry = AuditLogEntry.objects.get(content_type__model="membership", object_id=response.document["data"]["id"])
        assert entry.account_id == world.account.pk and entry.actor == world["account_admin"]

    def test_seat_limit(self, api, world):
        Utility.objects.filter(pk=world.utility.pk).update(subscriber_seats=1)
        api.as_user(world["account_admin"])
        first = api.post(URL, self.payload(world["account_user"], world.utility, isSubscriber=True))
        assert first.status_code == 201
        second = api.post(URL, self.payload(world["account_consultant"], world.utility, isSubscriber=True))
        assert second.status_code == 409 and second.document["errors"][0]["code"] == "seat_limit_reached"
        assert not Membership.objects.filter(user=world["account_consultant"]).exists()
        free = api.post(URL, self.payload(world["account_consultant"], world.utility, isSubscriber=False))
        assert free.status_code == 201

    @pytest.mark.parametrize("attributes", [{"isSubscriber": "yes"}, {"isSubscriber": 1}])
    def test_booleans_are_json_booleans(self, api, world, attributes):
        response = api.as_user(world["account_admin"]).post("/api/v1/memberships/", body("Membership", attributes, {
            "user": rel("User", world["account_admin"].pk), "utility": rel("Utility", world.utility.pk)}))
        assert response.status_code == 400


@pytest.mark.django_db
class TestUpdate:
    def patch(self, api, target, **attributes):
        return api.patch(f"{URL}{target.pk}/", body("Membership", attributes, id=target.pk))

    @pytest.mark.parametrize(*matrix(outsider=404, account_user=404, spectator=403, member=403, leader=200,
                                     utility_admin=200, account_admin=200, site_admin=200))
    def test_who_changes_subscription(self, api, world, caller, expected):
        target = world.membership_of("spectator")
        assert self.patch(api.as_user(world[caller]), target, isSubscriber=True).status_code == expected

    @pytest.mark.parametrize(*matrix(leader=403, utility_admin=200, account_admin=200))
    def test_only_admins_change_roles(self, api, world, caller, expected):
        target = world.membership_of("spectator")
        assert self.patch(api.as_user(world[caller]), target, role="member").status_code == expected
        target.refresh_from_db()
        assert (target.role == "member") == (expected == 200)

    def test_datetime_moves_only_when_subscription_changes(self, api, world):
        target = world.membership_of("member")
        old = timezone.now() - timedelta(days=3)
        Membership.objects.filter(pk=target.pk).update(is_subscriber_datetime=old)
        api.as_user(world["utility_admin"])
        self.patch(api, target, role="leader")
        target.refresh_from_db()
        assert target.is_subscriber_datetime == old
        self.patch(api, target, isSubscriber=False)  # unchanged
        target.refresh_from_db()
        assert target.is_subscriber_datetime == old
        self.patch(api, target, isSubscriber=True)
        target.refresh_from_db()
        assert target.is_subscriber_datetime > old

    def test_subscribing_past_the_seats_is_409(self, api, world):
        Utility.objects.filter(pk=world.utility.pk).update(subscriber_seats=1)
        Membership.objects.filter(user=world["leader"]).update(is_subscriber=True)
        response = self.patch(api.as_user(world["leader"]), world.membership_of("member"), isSubscriber=True)
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "seat_limit_reached"
        assert world.membership_of("member").is_subscriber is False

    # The session; the membership with its utility, account and the caller's roles on it, locked;
    # the UPDATE; the audit entry; the transaction's savepoint and its release (tests run inside
    # a transaction). A seat limit adds the count of the seats taken.
    @pytest.mark.parametrize("caller", ["leader", "utility_admin", "account_admin", "site_admin"])
    @pytest.mark.parametrize("attributes,seats,bound", [({"isSubscriber": True}, None, 6),
                                                        ({"isSubscriber": True}, 5, 7)])
    def test_a_patch_takes_at_most_six_queries(self, api, world, caller, attributes, seats, bound,
                                               django_assert_max_num_queries):
        target = world.membership_of("member")
        Utility.objects.filter(pk=world.utility.pk).update(subscriber_seats=seats)
        api.as_user(world[caller]).get("/api/v1/users/me/")  # the user's first request is not the point
        with django_assert_max_num_queries(bound):
            response = self.patch(api, target, **attributes)
        assert response.status_code == 200
        entry = AuditLogEntry.objects.filter(object_pk=str(target.pk)).latest("id")
        assert entry.actor_id == world[caller].pk and entry.account_id == world.utility.account_id
        assert entry.changes["is_subscriber"] == [False, True]

    def test_a_role_change_takes_at_most_six_queries(self, api, world, django_assert_max_num_queries):
        target = world.membership_of("member")
        api.as_user(world["utility_admin"]).get("/api/v1/users/me/")
        with django_assert_max_num_queries(6):
            response = self.patch(api, target, role="leader")
        assert response.status_code == 200
        entry = AuditLogEntry.objects.filter(object_pk=str(target.pk)).latest("id")
        assert entry.changes == {"role": ["member", "leader"]}

    def test_user_and_utility_are_fixed(self, api, world):
        target = world.membership_of("member")
        response = api.as_user(world["site_admin"]).patch(f"{URL}{target.pk}/", body(
            "Membership", relationships={"utility": rel("Utility", world.other_utility.pk)}, id=target.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/utility"

    def test_timestamps_written_back_in_another_format_are_unchanged(self, api, world):
        mine = Membership.objects.get(user=world["member"])
        api.as_user(world["account_admin"])
        stamp = api.get(f"/api/v1/memberships/{mine.pk}/").document["data"]["attributes"]["isSubscriberDatetime"]
        other_format = stamp.replace("Z", "+00:00")
        response = api.patch(f"/api/v1/memberships/{mine.pk}/", body("Membership", {
            "isSubscriberDatetime": other_format}, id=mine.pk))
        assert response.status_code == 200


@pytest.mark.django_db
class TestDelete:
    @pytest.mark.parametrize("caller,target,expected", [
        # (who removes `member` is in the permission matrix)
        ("leader", "spectator", 204), ("leader", "utility_admin", 403), ("member", "spectator", 403),
        ("utility_admin", "leader", 204), ("account_admin", "utility_admin", 204),
    ])
    def test_the_leader_admin_split(self, api, world, caller, target, expected):
        victim = world.membership_of(target)
        assert api.as_user(world[caller]).delete(f"{URL}{victim.pk}/").status_code == expected
        assert Membership.objects.filter(pk=victim.pk).exists() == (expected != 204)

    def test_leader_removes_another_leader(self, api, world):
        second = MembershipFactory(utility=world.utility, role=URole.LEADER).user
        victim = Membership.objects.get(user=second)
        assert api.as_user(world["leader"]).delete(f"{URL}{victim.pk}/").status_code == 204


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_requests_race_for_the_last_seat():
    """Seats hold under concurrency: the utility's row lock lets exactly one through."""
    from accounts.models import Account

    account = Account.objects.create(name="Seat race")
    utility = Utility.objects.create(account=account, name="Hot", billing_day=1, subscriber_seats=3)
    admin = UserFactory(is_superuser=True)
    for _ in range(2):
        Membership.objects.create(utility=utility, user=UserFactory(), is_subscriber=True)
    contenders = [UserFactory() for _ in range(20)]
    barrier = threading.Barrier(len(contenders))
    outcomes = []

    def join(user):
        try:
            barrier.wait()
            services.membership_create(actor=admin, user=user, utility=utility, is_subscriber=True)
            outcomes.append("joined")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=join, args=(user,)) for user in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("joined") == 1
    assert outcomes.count("seat_limit_reached") == 19
    assert Membership.objects.filter(utility=utility, is_subscriber=True).count() == 3


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_subscription_toggles_race_for_the_last_seat():
    from accounts.models import Account

    account = Account.objects.create(name="Toggle race")
    utility = Utility.objects.create(account=account, name="Hot", billing_day=1, subscriber_seats=1)
    admin = UserFactory(is_superuser=True)
    members = [Membership.objects.create(utility=utility, user=UserFactory(), is_subscriber=False)
               for _ in range(20)]
    barrier = threading.Barrier(len(members))
    outcomes = []

    def subscribe(target):
        try:
            barrier.wait()
            services.membership_update(actor=admin, membership=target, data={"is_subscriber": True})
            outcomes.append("subscribed")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=subscribe, args=(m,)) for m in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("subscribed") == 1
    assert Membership.objects.filter(utility=utility, is_subscriber=True).count() == 1
