"""Event streams (SPEC §3): the streams, their permission matrix, and `/events/` by cursor."""

import pytest

from accounts.models import AuditLogEntry
from billing.events import services
from billing.events.models import EventStream, hash_read_token
from billing.events.selectors import Position
from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix
from tests.factories import AccountFactory, AccountMembershipFactory, MembershipFactory, UserFactory
from tests.jsonapi import body

pytestmark = pytest.mark.django_db

URL = "/api/v1/event-streams/"


def stream_of(user, format="json"):
    stream, token = services.event_stream_create(actor=user, user=user, format=format)
    stream.plain_read_token = token
    return stream


class TestEventStreamPermissions(PermissionMatrix):
    """The target is `account_user`'s stream: a stream is its owner's (site admins see all);
    one per user, so its owner's second POST is a 409; streams are never changed."""

    url = URL
    resource_type = "EventStream"
    model = EventStream
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, "account_user": 200, "site_admin": 200, ELSE: 404},
        "create": {"anonymous": 401, "account_user": 409, ELSE: 201},
        "partial_update": {"anonymous": 401, ELSE: 405},
        "destroy": {"anonymous": 401, "account_user": 204, "site_admin": 204, ELSE: 404},
    }
    list_persona = "site_admin"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world._once("event_stream", lambda: stream_of(world.persona("account_user")))

    def create_body(self, world, persona):
        self.target(world)  # so that its owner's POST is a second stream
        return body("EventStream", {"format": "text"})

    def patch_body(self, world, obj):
        return body("EventStream", {"format": "text"}, id=obj.pk)

    def add_listed(self, world, count):
        for _ in range(count):
            stream_of(UserFactory())


# --------------------------------------------------------------------------- the streams


def test_read_token_is_shown_once_and_stored_hashed(api, user):
    response = api.as_user(user).post(URL, body("EventStream", {"format": "json"}))
    assert response.status_code == 201
    data = response.document["data"]
    token = data["attributes"]["readToken"]
    assert len(token) >= 40
    stream = EventStream.objects.get(pk=data["id"])
    assert stream.read_token_hash == hash_read_token(token) and token not in stream.read_token_hash
    assert data["relationships"]["user"]["data"] == {"type": "User", "id": str(user.pk)}
    again = api.get(f"{URL}{stream.pk}/")
    assert "readToken" not in again.document["data"]["attributes"]
    listed = api.get(URL)
    assert all("readToken" not in item["attributes"] for item in listed.document["data"])


def test_one_stream_per_user(api, user):
    api.as_user(user)
    assert api.post(URL, body("EventStream", {})).status_code == 201
    second = api.post(URL, body("EventStream", {"format": "text"}))
    assert second.status_code == 409 and second.document["errors"][0]["code"] == "duplicate"
    assert EventStream.objects.filter(user=user).count() == 1


def test_format_is_json_or_text(api, user):
    response = api.as_user(user).post(URL, body("EventStream", {"format": "xml"}))
    assert response.status_code == 400
    assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/format"
    assert not EventStream.objects.exists()


def test_writes_are_audited_without_the_token(api, user):
    api.as_user(user)
    created = api.post(URL, body("EventStream", {"format": "text"}))
    token = created.document["data"]["attributes"]["readToken"]
    stream_id = created.document["data"]["id"]
    assert api.delete(f"{URL}{stream_id}/").status_code == 204
    entries = AuditLogEntry.objects.filter(content_type__model="eventstream", object_pk=stream_id).order_by("id")
    assert [entry.action for entry in entries] == [0, 2]
    assert all(entry.actor_id == user.pk for entry in entries)
    for entry in entries:
        text = str(entry.changes) + entry.object_repr
        assert token not in text and hash_read_token(token) not in text and "read_token" not in text


# --------------------------------------------------------------------------- events by cursor


#: Reading events needs committed writes on PostgreSQL: entries of a transaction still open,
#: the test's own included, wait below the horizon (core.txid).
committed = pytest.mark.django_db(transaction=True)


def events_url(stream, **params):
    query = "&".join(f"{name}={value}" for name, value in params.items())
    return f"{URL}{stream.pk}/events/" + (f"?{query}" if query else "")


def follow(api, url):
    """Every event from `url` on, following links.next until a page is empty."""
    events = []
    while True:
        response = api.get(url)
        assert response.status_code == 200, response.document
        page = response.document["data"]
        events += page
        url = response.document["links"]["next"].replace("http://testserver", "")
        if not page:
            return events, url


@committed
def test_events_are_what_the_owner_sees_oldest_first(api, world):
    admin = world.persona("account_admin")
    stream = stream_of(admin)
    mine = MembershipFactory(utility=world.utility)  # in `account`: its admin sees it
    elsewhere = AccountFactory(name="Elsewhere")  # nobody's account
    AccountMembershipFactory(account=elsewhere)
    admin.first_name = "Renamed"
    admin.save()  # a change to the owner's own user
    events, _ = follow(api.as_user(admin), events_url(stream, **{"page[size]": 3}))
    kinds = [event["attributes"]["kind"] for event in events]
    assert "membership.create" in kinds and "user.update" in kinds
    ids = [int(event["id"]) for event in events]
    assert ids == sorted(ids)
    entries = AuditLogEntry.objects.filter(pk__in=ids)
    assert all(entry.account_id == world.account.pk or entry.object_pk == str(admin.pk) for entry in entries)
    assert not AuditLogEntry.objects.filter(pk__in=ids, account_id=elsewhere.pk).exists()
    membership = next(e for e in events if e["attributes"]["kind"] == "membership.create")
    payload = membership["attributes"]["payload"]
    assert payload["objectType"] == "Membership" and payload["objectId"] == str(mine.pk)
    assert payload["changes"]["isSubscriber"][1] in ("True", "False", True, False)
    assert payload["account"] == str(world.account.pk)
    assert "summary" not in membership["attributes"]
    assert all(event["type"] == "Event" and event["meta"]["cursor"] for event in events)


@committed
def test_an_ordinary_member_sees_only_changes_to_themselves(api, world):
    member = world.persona("member")  # a utility member, not in the account: no audit log
    stream = stream_of(member, format="text")
    MembershipFactory(utility=world.utility)
    member.last_name = "Changed"
    member.save()
    events, _ = follow(api.as_user(member), events_url(stream))
    assert {event["attributes"]["kind"] for event in events} <= {"user.create", "user.update", "eventstream.create"}
    assert any(event["attributes"]["kind"] == "user.update" for event in events)
    line = [e for e in events if e["attributes"]["kind"] == "user.update"][-1]["attributes"]["summary"]
    assert "\n" not in line and "updated" in line and "lastName" in line
    assert "payload" not in events[0]["attributes"]


@committed
def test_secrets_never_reach_a_payload(api, world):
    admin = world.persona("site_admin")
    stream = stream_of(admin)
    victim = UserFactory()
    victim.set_password("a-new-Secret-123")
    victim.save()
    events, _ = follow(api.as_user(admin), events_url(stream, **{"page[size]": 500}))
    text = str(events)
    assert "a-new-Secret-123" not in text and victim.password not in text
    password_changes = [e["attributes"]["payload"]["changes"].get("password") for e in events
                        if e["attributes"]["payload"]["objectId"] == str(victim.pk)]
    assert any(change == ["********", "********"] for change in password_changes if change)


@committed
def test_the_cursor_continues_where_it_stopped(api, world):
    admin = world.persona("account_admin")
    stream = stream_of(admin)
    api.as_user(admin)
    _, next_url = follow(api, events_url(stream))
    assert api.get(next_url).document["data"] == []
    first = MembershipFactory(utility=world.utility)
    second = MembershipFactory(utility=world.utility)
    events, next_url = follow(api, next_url)
    memberships = [e for e in events if e["attributes"]["kind"] == "membership.create"]
    assert [e["attributes"]["payload"]["objectId"] for e in memberships] == [str(first.pk), str(second.pk)]
    assert follow(api, next_url)[0] == []
    # an event's own cursor resumes after it
    after_first = events[0]["meta"]["cursor"]
    again, _ = follow(api, events_url(stream, **{"page[cursor]": after_first}))
    assert [e["id"] for e in again] == [e["id"] for e in events[1:]]


@pytest.mark.parametrize("params", [{"page[cursor]": "nonsense!"}, {"page[cursor]": "MTIz"},
                                    {"page[size]": "0"}, {"page[size]": "501"}, {"page[size]": "x"},
                                    {"page[number]": "2"}, {"sort": "-id"}, {"include": "user"}])
def test_bad_paging_is_a_400(api, user, params):
    stream = stream_of(user)
    response = api.as_user(user).get(events_url(stream, **params))
    assert response.status_code == 400
    assert response.document["errors"][0]["source"]["parameter"] == next(iter(params))


@pytest.mark.parametrize("persona,status", [("anonymous", 401), ("outsider", 404), ("account_admin", 404),
                                            ("account_user", 200), ("site_admin", 200)])
def test_events_are_for_the_owner_and_site_admins(api, world, persona, status):
    stream = stream_of(world.persona("account_user"))
    response = api.as_user(world.persona(persona)).get(events_url(stream))
    assert response.status_code == status


@committed
def test_an_events_page_costs_the_same_at_any_size_and_depth(api, world, django_assert_max_num_queries):
    admin = world.persona("account_admin")
    stream = stream_of(admin)
    for _ in range(30):
        MembershipFactory(utility=world.utility)
    api.as_user(admin)
    api.get(events_url(stream))  # warm the content-type cache
    with django_assert_max_num_queries(4):  # session, stream, the owner's accounts, the page
        small = api.get(events_url(stream, **{"page[size]": 2}))
    with django_assert_max_num_queries(4):
        large = api.get(events_url(stream, **{"page[size]": 100}))
    deep_cursor = large.document["data"][-5]["meta"]["cursor"]
    with django_assert_max_num_queries(4):
        deep = api.get(events_url(stream, **{"page[cursor]": deep_cursor}))
    assert len(small.document["data"]) == 2 and len(large.document["data"]) > 30
    assert len(deep.document["data"]) == 4


def test_cursors_are_opaque_round_trips():
    for position in (Position(0, 1), Position(987654321012, 42), Position(2**62, 2**62)):
        assert Position.decode(position.encode()) == position
    for bad in ("", "=", "MTIzLjQ1LjY", "LTEuMg", "a" * 65):
        with pytest.raises(ValueError):
            Position.decode(bad)
