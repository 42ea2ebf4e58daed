"""The admin site for utilities and their memberships, and an account's utilities inline:
every write goes through the services, so seats and the audit log hold there as well."""

import json

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, AccountMembership, AuditLogEntry
from memberships import services
from memberships.admin import MembershipInlineFormSet
from memberships.models import Membership, Utility
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Role = Membership.Role
UTILITIES = "/admin/memberships/utility/"
MEMBERSHIPS = "/admin/memberships/membership/"
CREATE, UPDATE, DELETE = AuditLogEntry.Action.CREATE, AuditLogEntry.Action.UPDATE, AuditLogEntry.Action.DELETE


def entries_for(obj, action):
    return AuditLogEntry.objects.get_for_object(obj).filter(action=action)


def last_entry():
    return AuditLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


def state():
    """Everything a refused save must leave alone."""
    return (
        sorted(Membership.objects.values_list("pk", "user_id", "utility_id", "role", "is_subscriber",
                                              "is_subscriber_datetime")),
        sorted(Utility.objects.values_list("pk", "name", "billing_day", "subscriber_seats")),
        AuditLogEntry.objects.count(),
    )


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


@pytest.fixture
def world(site_admin):
    """Northwind with an account admin and two utilities: North (2 seats, one taken, plus a
    spectator and a member who do not subscribe) and South (unlimited, a subscribing leader);
    Lakeside with one utility; and a personal utility in the default account."""
    northwind = Account.objects.create(name="Northwind Energy")
    lakeside = Account.objects.create(name="Lakeside Solar")
    boss = UserFactory(email="boss@northwind.example")
    AccountMembership.objects.create(account=northwind, user=boss, role=AccountMembership.Role.ADMIN)
    people = {name: UserFactory(email=f"{name}@example.org") for name in ("alice", "bob", "carol", "dan", "erin")}
    north = services.utility_create(actor=site_admin, account=northwind, name="North", billing_day=1,
                                    subscriber_seats=2)
    south = services.utility_create(actor=site_admin, account=northwind, name="South", billing_day=15)
    lake = services.utility_create(actor=site_admin, account=lakeside, name="Lake Shore", billing_day=7)

    def join(user, utility, role, is_subscriber):
        return services.membership_create(actor=site_admin, user=user, utility=utility, role=role,
                                          is_subscriber=is_subscriber)

    memberships = {
        "alice": join(people["alice"], north, Role.MEMBER, True),
        "bob": join(people["bob"], north, Role.SPECTATOR, False),
        "carol": join(people["carol"], north, Role.MEMBER, False),
        "carol_south": join(people["carol"], south, Role.LEADER, True),
        "dan_lake": join(people["dan"], lake, Role.ADMIN, False),
    }
    personal = services.personal_utility_create(user=people["erin"], billing_day=3)
    return {"northwind": northwind, "lakeside": lakeside, "boss": boss, "people": people, "north": north,
            "south": south, "lake": lake, "personal": personal, "memberships": memberships,
            "default": Account.objects.get(is_default=True)}


def utility_data(utility, members=None, **changes):
    """A complete POST for the utility change form; `members` replaces the inline rows: dicts
    with id/user/role/is_subscriber/DELETE."""
    data = {"name": utility.name, "billing_day": utility.billing_day,
            "subscriber_seats": "" if utility.subscriber_seats is None else utility.subscriber_seats}
    data.update(changes)
    if members is None:
        members = [{"id": m.pk, "user": m.user_id, "role": m.role, "is_subscriber": m.is_subscriber}
                   for m in Membership.objects.filter(utility=utility).order_by("id")]
    data.update(formset("memberships", members, parent=("utility", utility.pk)))
    # the products inline billing adds to the page (none in this world)
    data.update(formset("products", [], parent=("utility", utility.pk)))
    return {key: value for key, value in data.items() if value != "" or key == "subscriber_seats"}


def formset(prefix, rows, parent):
    data = {
        f"{prefix}-TOTAL_FORMS": str(len(rows)),
        f"{prefix}-INITIAL_FORMS": str(sum(1 for row in rows if row.get("id"))),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }
    for index, row in enumerate(rows):
        data[f"{prefix}-{index}-{parent[0]}"] = str(parent[1])
        for key, value in row.items():
            if value is True:
                data[f"{prefix}-{index}-{key}"] = "on"
            elif value not in (False, None):
                data[f"{prefix}-{index}-{key}"] = str(value)
    return data


def rows_of(utility, **overrides):
    """The inline rows as the page shows them; `overrides` maps a user's email prefix to changes."""
    rows = []
    for m in Membership.objects.filter(utility=utility).select_related("user").order_by("id"):
        row = {"id": m.pk, "user": m.user_id, "role": m.role, "is_subscriber": m.is_subscriber}
        row.update(overrides.get(m.user.email.split("@")[0], {}))
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- pages

PAGES = [
    UTILITIES,
    UTILITIES + "?q=north",
    UTILITIES + "?q=alice@example.org",
    UTILITIES + "?account__id__exact={northwind}",
    UTILITIES + "?personal=yes",
    UTILITIES + "?personal=no",
    UTILITIES + "?member_role=leader",
    UTILITIES + "?member_role=nonsense",
    UTILITIES + "?o=4",
    UTILITIES + "?o=5",
    UTILITIES + "add/",
    UTILITIES + "{north}/change/",
    UTILITIES + "{personal}/change/",
    UTILITIES + "{north}/history/",
    UTILITIES + "{north}/auditlog/",
    UTILITIES + "{north}/delete/",
    MEMBERSHIPS,
    MEMBERSHIPS + "?q=bob@example",
    MEMBERSHIPS + "?q=south",
    MEMBERSHIPS + "?role__exact=leader",
    MEMBERSHIPS + "?is_subscriber__exact=1",
    MEMBERSHIPS + "?utility__account__id__exact={northwind}",
    MEMBERSHIPS + "?o=3",
    MEMBERSHIPS + "add/",
    MEMBERSHIPS + "{alice}/change/",
    MEMBERSHIPS + "{alice}/history/",
    MEMBERSHIPS + "{alice}/auditlog/",
    MEMBERSHIPS + "{alice}/delete/",
    "/admin/autocomplete/?app_label=memberships&model_name=utility&field_name=account&term=north",
    "/admin/autocomplete/?app_label=memberships&model_name=membership&field_name=utility&term=nor",
    "/admin/autocomplete/?app_label=memberships&model_name=membership&field_name=user&term=bob",
]


def path_of(template, world):
    return template.format(northwind=world["northwind"].pk, north=world["north"].pk,
                           personal=world["personal"].pk, alice=world["memberships"]["alice"].pk)


@pytest.mark.parametrize("template", PAGES)
def test_page_loads_for_site_admin(admin_client, world, template):
    path = path_of(template, world)
    assert admin_client.get(path).status_code == 200, path


def test_admin_index_lists_utilities_and_memberships(admin_client):
    page = admin_client.get("/admin/").content.decode()
    assert UTILITIES in page and MEMBERSHIPS in page


def test_utility_list_shows_seats_members_and_personal(admin_client, world):
    rows = {u.name: u for u in admin_client.get(UTILITIES).context["cl"].result_list}
    assert (rows["North"].subscriber_count, rows["North"].member_count) == (1, 3)
    assert (rows["South"].subscriber_count, rows["South"].member_count) == (1, 1)
    page = admin_client.get(UTILITIES).content.decode()
    assert "1 / 2" in page and "1 / unlimited" in page
    personal = admin_client.get(UTILITIES + "?personal=yes").context["cl"].result_list
    assert [u.pk for u in personal] == [world["personal"].pk]


def test_utility_search_and_filters_select_the_right_rows(admin_client, world):
    def names(query):
        return {u.name for u in admin_client.get(UTILITIES + query).context["cl"].result_list}

    erin_personal = world["personal"].name
    assert names("?q=carol@example.org") == {"North", "South"}  # by a member's email, each once
    assert names("?q=lakeside") == {"Lake Shore"}
    assert names("?q=sou") == {"South"}
    assert names(f"?account__id__exact={world['northwind'].pk}") == {"North", "South"}
    assert names("?personal=no") == {"North", "South", "Lake Shore"}
    assert names("?member_role=leader") == {"South"}
    assert names("?member_role=admin") == {"Lake Shore", erin_personal}
    assert names("?member_role=spectator") == {"North"}
    # Searching across members joins them, but the counts stay the utility's own.
    north = admin_client.get(UTILITIES + "?q=example.org").context["cl"].result_list
    assert {u.name: u.member_count for u in north}["North"] == 3


def test_utility_list_counts_without_a_query_per_row(admin_client, world, site_admin):
    with CaptureQueriesContext(connection) as few:
        admin_client.get(UTILITIES)
    for number in range(5):
        account = Account.objects.create(name=f"Extra {number}")
        utility = services.utility_create(actor=site_admin, account=account, name=f"Extra {number}", billing_day=2,
                                          subscriber_seats=5)
        services.membership_create(actor=site_admin, user=UserFactory(), utility=utility, is_subscriber=True)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(UTILITIES)
    assert len(many) == len(few)


def test_utility_change_page_costs_the_same_for_more_members(admin_client, world, site_admin):
    path = f"{UTILITIES}{world['south'].pk}/change/"
    with CaptureQueriesContext(connection) as few:
        admin_client.get(path)
    for _ in range(5):
        services.membership_create(actor=site_admin, user=UserFactory(), utility=world["south"], is_subscriber=True)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(path)
    assert len(many) == len(few)


def test_membership_list_selects_users_utilities_and_accounts_in_the_same_query(admin_client, world, site_admin):
    with CaptureQueriesContext(connection) as few:
        admin_client.get(MEMBERSHIPS)
    for number in range(5):
        account = Account.objects.create(name=f"Extra {number}")
        utility = services.utility_create(actor=site_admin, account=account, name=f"Extra {number}", billing_day=2)
        services.membership_create(actor=site_admin, user=UserFactory(), utility=utility, is_subscriber=False)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(MEMBERSHIPS)
    assert len(many) == len(few), "\n".join(q["sql"] for q in many.captured_queries)


def test_membership_search_by_user_email_and_filters(admin_client, world):
    def keys(query):
        return {(m.user.email, m.utility.name) for m in admin_client.get(MEMBERSHIPS + query).context["cl"].result_list}

    assert keys("?q=CAROL@example.org") == {("carol@example.org", "North"), ("carol@example.org", "South")}
    assert keys("?q=lake shore") == {("dan@example.org", "Lake Shore")}
    assert keys("?role__exact=leader") == {("carol@example.org", "South")}
    assert keys(f"?utility__account__id__exact={world['lakeside'].pk}") == {("dan@example.org", "Lake Shore")}
    assert keys("?is_subscriber__exact=1") == {("alice@example.org", "North"), ("carol@example.org", "South")}


def test_forms_use_autocomplete(admin_client, world):
    assert admin_client.get(UTILITIES + "add/").content.decode().count("admin-autocomplete") >= 2  # account, user
    assert admin_client.get(MEMBERSHIPS + "add/").content.decode().count("admin-autocomplete") >= 2


# --------------------------------------------------------------------------- utility add / change / delete


def test_utility_add_goes_through_the_service_and_is_audited(admin_client, site_admin, world):
    northwind = world["northwind"]
    data = {"account": northwind.pk, "name": "East", "billing_day": 9, "subscriber_seats": 4,
            **formset("memberships", [], ("utility", "")),
            **formset("products", [], ("utility", ""))}
    response = admin_client.post(UTILITIES + "add/", data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    utility = Utility.objects.get(account=northwind, name="East")
    assert (utility.billing_day, utility.subscriber_seats, utility.is_personal) == (9, 4, False)
    assert not utility.memberships.exists()  # the account's admins already act as its admins
    entry = entries_for(utility, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == northwind.pk


def test_utility_add_with_members_in_the_same_save(admin_client, site_admin, world):
    alice, bob = world["people"]["alice"], world["people"]["bob"]
    rows = [{"user": alice.pk, "role": Role.ADMIN, "is_subscriber": True}, {"user": bob.pk, "role": Role.MEMBER}]
    response = admin_client.post(UTILITIES + "add/", {"account": world["lakeside"].pk, "name": "Pier",
                                                      "billing_day": 2, "subscriber_seats": 1,
                                                      **formset("memberships", rows, ("utility", "")),
                                                      **formset("products", [], ("utility", ""))})
    assert response.status_code == 302
    utility = Utility.objects.get(name="Pier")
    assert set(utility.memberships.values_list("user__email", "role", "is_subscriber")) == {
        ("alice@example.org", Role.ADMIN, True), ("bob@example.org", Role.MEMBER, False)}
    assert AuditLogEntry.objects.filter(account_id=world["lakeside"].pk, content_type__model="membership",
                                        action=CREATE, actor=site_admin).count() == 2


@pytest.mark.parametrize("changes, field", [
    ({"name": "SOUTH"}, "name"),
    ({"billing_day": 29}, "billing_day"),
    ({"billing_day": 0}, "billing_day"),
])
def test_utility_add_shows_errors_in_place(admin_client, world, changes, field):
    before = state()
    data = {"account": world["northwind"].pk, "name": "East", "billing_day": 3, "subscriber_seats": "",
            **formset("memberships", [], ("utility", "")),
            **formset("products", [], ("utility", "")), **changes}
    response = admin_client.post(UTILITIES + "add/", data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert state() == before


def test_utility_change_goes_through_the_service_and_is_audited(admin_client, site_admin, world):
    north = world["north"]
    mark = last_entry()
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/",
                                 utility_data(north, name="North Hills", billing_day=20, subscriber_seats=5,
                                              account=world["lakeside"].pk))
    assert response.status_code == 302
    north.refresh_from_db()
    assert (north.name, north.billing_day, north.subscriber_seats) == ("North Hills", 20, 5)
    assert north.account == world["northwind"]  # fixed once it exists
    entry = entries_for(north, UPDATE).filter(pk__gt=mark).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk
    assert {"name", "billing_day", "subscriber_seats"} <= set(entry.changes_dict)


def test_utility_name_taken_in_another_case_is_a_form_error(admin_client, world):
    before = state()
    response = admin_client.post(f"{UTILITIES}{world['north'].pk}/change/", utility_data(world["north"], name="south"))
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors
    assert state() == before
    # Another account may have a utility of that name.
    response = admin_client.post(f"{UTILITIES}{world['lake'].pk}/change/", utility_data(world["lake"], name="South"))
    assert response.status_code == 302


def test_lowering_seats_below_the_subscribers_is_an_error_in_place(admin_client, world):
    south = world["south"]
    services.membership_create(actor=world["boss"], user=world["people"]["alice"], utility=south, is_subscriber=True)
    before = state()
    response = admin_client.post(f"{UTILITIES}{south.pk}/change/", utility_data(south, subscriber_seats=1))
    assert response.status_code == 200
    assert "2 subscribers" in str(response.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert state() == before


def test_one_save_frees_seats_and_lowers_the_limit(admin_client, world):
    south = world["south"]
    services.membership_create(actor=world["boss"], user=world["people"]["alice"], utility=south, is_subscriber=True)
    rows = rows_of(south, alice={"is_subscriber": False})
    response = admin_client.post(f"{UTILITIES}{south.pk}/change/", utility_data(south, members=rows,
                                                                                 subscriber_seats=1))
    assert response.status_code == 302
    south.refresh_from_db()
    assert south.subscriber_seats == 1
    assert list(south.memberships.filter(is_subscriber=True).values_list("user__email", flat=True)) == [
        "carol@example.org"]


def test_deleting_a_utility_in_the_admin(admin_client, site_admin, world):
    north = world["north"]
    members = list(north.memberships.all())
    response = admin_client.post(f"{UTILITIES}{north.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Utility.objects.filter(pk=north.pk).exists()
    assert not Membership.objects.filter(utility_id=north.pk).exists()
    entry = entries_for(north, DELETE).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk
    assert all(entries_for(m, DELETE).exists() for m in members)


def test_bulk_delete_of_utilities(admin_client, world):
    targets = [world["north"].pk, world["lake"].pk]
    response = admin_client.post(UTILITIES, {"action": "delete_selected", "post": "yes",
                                             "_selected_action": [str(pk) for pk in targets]})
    assert response.status_code == 302
    assert not Utility.objects.filter(pk__in=targets).exists()


def test_history_shows_the_utilitys_audit_log(admin_client, world):
    north = world["north"]
    admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, name="North Hills"))
    response = admin_client.get(f"{UTILITIES}{north.pk}/history/")
    assert response.status_code == 200
    assert "North Hills" in response.content.decode()


# --------------------------------------------------------------------------- the memberships inline


def test_inline_adds_a_member_through_the_service(admin_client, site_admin, world):
    south = world["south"]
    rows = rows_of(south) + [{"user": world["people"]["bob"].pk, "role": Role.LEADER, "is_subscriber": True}]
    response = admin_client.post(f"{UTILITIES}{south.pk}/change/", utility_data(south, members=rows))
    assert response.status_code == 302
    membership = Membership.objects.get(utility=south, user=world["people"]["bob"])
    assert (membership.role, membership.is_subscriber) == (Role.LEADER, True)
    entry = entries_for(membership, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk


def test_inline_add_over_the_seat_limit_is_an_error_and_changes_nothing(admin_client, world):
    north = world["north"]  # 2 seats, alice subscribes
    rows = rows_of(north, bob={"is_subscriber": True}) + [
        {"user": world["people"]["dan"].pk, "role": Role.MEMBER, "is_subscriber": True}]
    before = state()
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, members=rows,
                                                                                name="Renamed meanwhile"))
    assert response.status_code == 200
    errors = str(response.context["inline_admin_formsets"][0].formset.non_form_errors())
    assert "3 subscribers" in errors and "2 subscriber seats" in errors
    assert state() == before


def test_inline_counts_subscribers_added_since_the_page_was_loaded(admin_client, world):
    north = world["north"]
    page_rows = rows_of(north, bob={"is_subscriber": True})  # would fill the second seat
    # Meanwhile someone else takes the last seat (through the API, say).
    services.membership_update(actor=world["boss"], membership=world["memberships"]["carol"],
                               data={"is_subscriber": True})
    page_rows = [row for row in page_rows if row["user"] != world["people"]["carol"].pk]
    data = utility_data(north, members=page_rows)
    before = state()
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", data)
    assert response.status_code == 200
    assert response.context["inline_admin_formsets"][0].formset.non_form_errors()
    assert state() == before


def test_a_seat_refusal_at_save_time_is_a_message_and_rolls_everything_back(admin_client, world, monkeypatch):
    # The form's check passes (say a request took the seat between validation and save):
    # the service refuses, and the rename in the same save is undone with the memberships.
    monkeypatch.setattr(MembershipInlineFormSet, "clean", lambda self: None)
    north = world["north"]
    rows = rows_of(north, bob={"is_subscriber": True, "role": Role.LEADER}, carol={"is_subscriber": True})
    before = state()
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/",
                                 utility_data(north, members=rows, name="Renamed meanwhile"), follow=True)
    assert response.status_code == 200
    assert any("All 2 subscriber seats of this utility are taken" in m for m in messages_of(response))
    assert state() == before


def test_inline_hands_a_seat_over_in_one_save(admin_client, site_admin, world):
    north = world["north"]
    services.membership_update(actor=site_admin, membership=world["memberships"]["carol"],
                               data={"is_subscriber": True})  # both seats taken: alice and carol
    # Listed subscriber-first, yet the seat alice frees is what lets bob in.
    rows = rows_of(north, alice={"is_subscriber": False}, bob={"is_subscriber": True})
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, members=rows))
    assert response.status_code == 302
    subscribers = set(north.memberships.filter(is_subscriber=True).values_list("user__email", flat=True))
    assert subscribers == {"bob@example.org", "carol@example.org"}


def test_inline_changes_and_removes_through_the_services(admin_client, site_admin, world):
    north = world["north"]
    bob, carol = world["memberships"]["bob"], world["memberships"]["carol"]
    stamp = carol.is_subscriber_datetime
    mark = last_entry()
    rows = rows_of(north, bob={"DELETE": True}, carol={"role": Role.LEADER})
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, members=rows))
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=bob.pk).exists()
    assert entries_for(bob, DELETE).get().actor == site_admin
    carol.refresh_from_db()
    assert carol.role == Role.LEADER and carol.is_subscriber_datetime == stamp  # only moved by a subscription
    update = entries_for(carol, UPDATE).filter(pk__gt=mark).get()
    assert update.actor == site_admin and update.account_id == world["northwind"].pk


def test_inline_refuses_a_duplicate_member_in_place(admin_client, world):
    north = world["north"]
    rows = rows_of(north) + [{"user": world["people"]["bob"].pk, "role": Role.ADMIN}]
    before = state()
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, members=rows))
    assert response.status_code == 200
    assert any(response.context["inline_admin_formsets"][0].formset.errors)
    assert state() == before


def test_inline_keeps_a_members_user_fixed(admin_client, world):
    north = world["north"]
    someone = UserFactory()
    rows = rows_of(north, bob={"user": someone.pk, "role": Role.MEMBER})
    response = admin_client.post(f"{UTILITIES}{north.pk}/change/", utility_data(north, members=rows))
    assert response.status_code == 302
    bob = Membership.objects.get(pk=world["memberships"]["bob"].pk)
    assert bob.user == world["people"]["bob"] and bob.role == Role.MEMBER
    assert not Membership.objects.filter(user=someone).exists()


# --------------------------------------------------------------------------- membership add / change / delete


def test_membership_add_goes_through_the_service_and_is_audited(admin_client, site_admin, world):
    dan = world["people"]["dan"]
    response = admin_client.post(MEMBERSHIPS + "add/", {"user": dan.pk, "utility": world["north"].pk,
                                                        "role": Role.LEADER, "is_subscriber": "on"})
    assert response.status_code == 302
    membership = Membership.objects.get(user=dan, utility=world["north"])
    assert (membership.role, membership.is_subscriber) == (Role.LEADER, True)
    entry = entries_for(membership, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk


@pytest.mark.parametrize("who, field", [("dan", "is_subscriber"), ("alice", "__all__")])
def test_membership_add_shows_seat_and_duplicate_errors_in_place(admin_client, world, who, field):
    services.membership_update(actor=world["boss"], membership=world["memberships"]["carol"],
                               data={"is_subscriber": True})  # North is full
    before = state()
    response = admin_client.post(MEMBERSHIPS + "add/", {"user": world["people"][who].pk, "utility": world["north"].pk,
                                                        "role": Role.MEMBER, "is_subscriber": "on"})
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert state() == before


def test_membership_change_moves_the_datetime_only_with_the_subscription(admin_client, site_admin, world):
    bob = world["memberships"]["bob"]
    stamp = bob.is_subscriber_datetime
    form = admin_client.get(f"{MEMBERSHIPS}{bob.pk}/change/").context["adminform"].form
    assert set(form.fields) == {"role", "is_subscriber"}
    response = admin_client.post(f"{MEMBERSHIPS}{bob.pk}/change/", {"role": Role.LEADER,
                                                                     "user": world["people"]["dan"].pk})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.role == Role.LEADER and bob.is_subscriber_datetime == stamp and bob.user.email == "bob@example.org"
    response = admin_client.post(f"{MEMBERSHIPS}{bob.pk}/change/", {"role": Role.LEADER, "is_subscriber": "on"})
    assert response.status_code == 302
    bob.refresh_from_db()
    assert bob.is_subscriber and bob.is_subscriber_datetime > stamp
    assert {entry.actor for entry in entries_for(bob, UPDATE)} == {site_admin}


def test_membership_change_past_the_seats_is_an_error_in_place(admin_client, world):
    services.membership_update(actor=world["boss"], membership=world["memberships"]["carol"],
                               data={"is_subscriber": True})
    bob = world["memberships"]["bob"]
    before = state()
    response = admin_client.post(f"{MEMBERSHIPS}{bob.pk}/change/", {"role": Role.SPECTATOR, "is_subscriber": "on"})
    assert response.status_code == 200
    assert "is_subscriber" in response.context["adminform"].form.errors
    assert state() == before


def test_membership_delete_goes_through_the_service(admin_client, site_admin, world):
    dan = world["memberships"]["dan_lake"]
    response = admin_client.post(f"{MEMBERSHIPS}{dan.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=dan.pk).exists()
    entry = entries_for(dan, DELETE).get()
    assert entry.actor == site_admin and entry.account_id == world["lakeside"].pk


# --------------------------------------------------------------------------- bulk actions


def act(client, action, memberships):
    return client.post(MEMBERSHIPS, {"action": action, "_selected_action": [str(m.pk) for m in memberships]},
                       follow=True)


def test_mark_as_subscribers_is_all_or_nothing_when_seats_run_out(admin_client, site_admin, world):
    north = world["north"]  # 2 seats, alice subscribes: one left for bob and carol
    extra = services.membership_create(actor=site_admin, user=world["people"]["dan"], utility=north,
                                       is_subscriber=False)
    south = world["memberships"]["carol_south"]
    services.membership_update(actor=world["boss"], membership=south, data={"is_subscriber": False})
    chosen = [world["memberships"]["bob"], world["memberships"]["carol"], extra, south, world["memberships"]["alice"]]
    before = state()
    response = act(admin_client, "mark_subscribers", chosen)
    assert response.status_code == 200
    [message] = messages_of(response)
    assert message.startswith("Nothing was changed: 2 of the 4 memberships to change were refused "
                              "(the other 2 would have gone through).")
    assert "carol@example.org in North: All 2 subscriber seats of this utility are taken." in message
    assert "dan@example.org in North" in message
    assert state() == before


def test_mark_as_subscribers_writes_audit_entries_with_the_admin_as_actor(admin_client, site_admin, world):
    north = world["north"]
    services.utility_update(actor=site_admin, utility=north, data={"subscriber_seats": 3})
    chosen = [world["memberships"]["alice"], world["memberships"]["bob"], world["memberships"]["carol"]]
    mark = last_entry()
    response = act(admin_client, "mark_subscribers", chosen)
    assert messages_of(response) == ["Marked 2 of the selected memberships as subscribers.",
                                     "1 subscribed already."]
    assert north.memberships.filter(is_subscriber=True).count() == 3
    updates = AuditLogEntry.objects.filter(pk__gt=mark, content_type__model="membership", action=UPDATE)
    assert sorted(int(entry.object_pk) for entry in updates) == sorted(m.pk for m in chosen[1:])
    assert {(entry.actor, entry.account_id) for entry in updates} == {(site_admin, world["northwind"].pk)}
    assert all({"is_subscriber", "is_subscriber_datetime"} <= set(entry.changes_dict) for entry in updates)


def test_remove_subscription_and_set_role(admin_client, site_admin, world):
    alice, bob = world["memberships"]["alice"], world["memberships"]["bob"]
    response = act(admin_client, "remove_subscription", [alice, bob])
    assert messages_of(response) == ["Removed the subscription of 1 of the selected memberships.",
                                     "1 did not subscribe."]
    response = act(admin_client, "set_role_leader", [alice, bob, world["memberships"]["dan_lake"]])
    assert messages_of(response) == ["Set the role of 3 of the selected memberships to Leader."]
    assert set(Membership.objects.filter(pk__in=[alice.pk, bob.pk]).values_list("role", "is_subscriber")) == {
        (Role.LEADER, False)}
    assert Membership.objects.get(pk=world["memberships"]["dan_lake"].pk).role == Role.LEADER
    for role in ("spectator", "member", "admin"):
        response = act(admin_client, f"set_role_{role}", [alice])
        assert Membership.objects.get(pk=alice.pk).role == role


# --------------------------------------------------------------------------- staff who are not site admins


def staff(client, *codenames, account=None, role=None):
    person = UserFactory(is_staff=True)
    person.user_permissions.add(*Permission.objects.filter(content_type__app_label__in=["accounts", "memberships"],
                                                           codename__in=codenames))
    if account is not None:
        AccountMembership.objects.create(account=account, user=person, role=role)
    client.force_login(person)
    return person


MEMBERSHIP_PERMS = ("view_user", "view_account", "view_utility", "view_membership", "add_membership",
                    "change_membership", "delete_membership")
UTILITY_PERMS = ("view_account", "view_utility", "change_utility", "view_membership", "change_membership",
                 "view_user")


def test_staff_who_are_not_utility_admins_cannot_change_roles(client, world):
    staff(client, *MEMBERSHIP_PERMS)
    bob = world["memberships"]["bob"]
    form = client.get(f"{MEMBERSHIPS}{bob.pk}/change/").context["adminform"].form
    assert set(form.fields) == {"is_subscriber"}  # the role is shown read-only
    response = client.post(f"{MEMBERSHIPS}{bob.pk}/change/", {"role": Role.ADMIN, "is_subscriber": "on"}, follow=True)
    assert response.redirect_chain[0][1] == 302
    bob.refresh_from_db()
    assert bob.role == Role.SPECTATOR and bob.is_subscriber  # subscriptions are theirs to change
    before = state()
    response = act(client, "set_role_admin", [bob, world["memberships"]["carol"]])
    [message] = messages_of(response)
    assert "Nothing was changed" in message and "Only the utility's admins change roles." in message
    assert state() == before


def test_staff_who_administer_the_account_change_roles_and_billing_days(client, world):
    staff(client, *MEMBERSHIP_PERMS, *UTILITY_PERMS, account=world["northwind"], role=AccountMembership.Role.ADMIN)
    response = act(client, "set_role_leader", [world["memberships"]["bob"]])
    assert messages_of(response) == ["Set the role of 1 of the selected memberships to Leader."]
    north = world["north"]
    assert "billing_day" in client.get(f"{UTILITIES}{north.pk}/change/").context["adminform"].form.fields
    # Elsewhere their billing day is read-only, as the service would refuse it.
    lake = world["lake"]
    form = client.get(f"{UTILITIES}{lake.pk}/change/").context["adminform"].form
    assert "billing_day" not in form.fields and "name" in form.fields
    response = client.post(f"{UTILITIES}{lake.pk}/change/", utility_data(lake, name="Lake Front", billing_day=27))
    assert response.status_code == 302
    lake.refresh_from_db()
    assert (lake.name, lake.billing_day) == ("Lake Front", 7)


# --------------------------------------------------------------------------- an account's utilities inline


def account_data(account, utilities=None, **changes):
    """A complete POST for the account change form with both inlines; `utilities` replaces
    the utility rows (dicts with id/name/billing_day/subscriber_seats/DELETE)."""
    data = {
        "name": account.name,
        "consultancy_account": account.consultancy_account_id or "",
        "account_roles": [str(pk) for pk in account.account_roles.values_list("pk", flat=True)],
        "primary_color": account.primary_color or "",
        "secondary_color": account.secondary_color or "",
        "logo_url": account.logo_url or "",
        "health_time_period": account.health_time_period,
        "exec_interval": account.exec_interval,
        "base_line_exec_interval": account.base_line_exec_interval,
        "cd_model_frequency": account.cd_model_frequency,
        "cd_execution_frequency": account.cd_execution_frequency,
        "data_retention": account.data_retention,
        "custom_attributes": json.dumps(account.custom_attributes),
        "default_product_privacy": account.default_product_privacy,
    }
    data.update(changes)
    members = [{"id": m.pk, "user": m.user_id, "role": m.role}
               for m in AccountMembership.objects.filter(account=account).order_by("id")]
    data.update(formset("account_memberships", members, parent=("account", account.pk)))
    if utilities is None:
        utilities = [{"id": u.pk, "name": u.name, "billing_day": u.billing_day, "subscriber_seats": u.subscriber_seats}
                     for u in Utility.objects.filter(account=account).order_by("name", "id")]
    data.update(formset("utilities", utilities, parent=("account", account.pk)))
    return {key: value for key, value in data.items() if value != ""}


def existing_utilities(account):
    return [{"id": u.pk, "name": u.name, "billing_day": u.billing_day, "subscriber_seats": u.subscriber_seats}
            for u in Utility.objects.filter(account=account).order_by("name", "id")]


def test_account_page_shows_its_utilities_with_seats(admin_client, world):
    response = admin_client.get(f"/admin/accounts/account/{world['northwind'].pk}/change/")
    utilities = [f for f in response.context["inline_admin_formsets"] if f.formset.model is Utility]
    assert [form.instance.name for form in utilities[0].formset.forms] == ["North", "South"]
    assert "1 / 2" in response.content.decode()


def test_the_default_account_lists_no_personal_utilities_inline(admin_client, world):
    response = admin_client.get(f"/admin/accounts/account/{world['default'].pk}/change/")
    assert not any(f.formset.model is Utility for f in response.context["inline_admin_formsets"])


def test_account_inline_creates_a_utility_through_the_service(admin_client, site_admin, world):
    northwind = world["northwind"]
    rows = existing_utilities(northwind) + [{"name": "East", "billing_day": 12, "subscriber_seats": 25}]
    response = admin_client.post(f"/admin/accounts/account/{northwind.pk}/change/", account_data(northwind, rows))
    assert response.status_code == 302, response.context and [
        f.formset.errors for f in response.context["inline_admin_formsets"]]
    east = Utility.objects.get(account=northwind, name="East")
    assert (east.billing_day, east.subscriber_seats) == (12, 25)
    assert not east.memberships.exists()
    entry = entries_for(east, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == northwind.pk


def test_account_inline_changes_and_removes_utilities_through_the_services(admin_client, site_admin, world):
    northwind = world["northwind"]
    rows = existing_utilities(northwind)
    rows[0].update(name="North Hills", subscriber_seats=3)  # North
    rows[1]["DELETE"] = True  # South
    response = admin_client.post(f"/admin/accounts/account/{northwind.pk}/change/", account_data(northwind, rows))
    assert response.status_code == 302
    north = Utility.objects.get(pk=world["north"].pk)
    assert (north.name, north.subscriber_seats) == ("North Hills", 3)
    assert entries_for(north, UPDATE).get().actor == site_admin
    assert not Utility.objects.filter(pk=world["south"].pk).exists()
    assert entries_for(world["south"], DELETE).get().actor == site_admin


@pytest.mark.parametrize("row, field", [
    ({"name": "north", "billing_day": 3}, "name"),
    ({"name": "East", "billing_day": 31}, "billing_day"),
])
def test_account_inline_shows_errors_in_place(admin_client, world, row, field):
    northwind = world["northwind"]
    before = state()
    response = admin_client.post(f"/admin/accounts/account/{northwind.pk}/change/",
                                 account_data(northwind, existing_utilities(northwind) + [row]))
    assert response.status_code == 200
    [utilities] = [f.formset for f in response.context["inline_admin_formsets"] if f.formset.model is Utility]
    assert any(field in errors for errors in utilities.errors)
    assert state() == before


def test_account_inline_refuses_two_new_rows_of_one_name(admin_client, world):
    northwind = world["northwind"]
    rows = existing_utilities(northwind) + [{"name": "East", "billing_day": 3}, {"name": "EAST", "billing_day": 4}]
    before = state()
    response = admin_client.post(f"/admin/accounts/account/{northwind.pk}/change/", account_data(northwind, rows))
    assert response.status_code == 200
    assert state() == before


def test_account_inline_refuses_seats_below_the_subscribers(admin_client, world):
    northwind = world["northwind"]
    services.membership_update(actor=world["boss"], membership=world["memberships"]["carol"],
                               data={"is_subscriber": True})
    rows = existing_utilities(northwind)
    rows[0]["subscriber_seats"] = 1  # North has two subscribers
    before = state()
    response = admin_client.post(f"/admin/accounts/account/{northwind.pk}/change/", account_data(northwind, rows))
    assert response.status_code == 200
    assert state() == before


def test_account_inline_locks_the_billing_day_for_staff_who_are_not_its_admins(client, world):
    staff(client, "view_account", "change_account", "view_accountmembership", "view_utility", "add_utility",
          "change_utility", "view_user")
    northwind = world["northwind"]
    rows = existing_utilities(northwind)
    rows[0].update(billing_day=25, name="North Hills")
    response = client.post(f"/admin/accounts/account/{northwind.pk}/change/", account_data(northwind, rows))
    assert response.status_code == 302
    north = Utility.objects.get(pk=world["north"].pk)
    assert (north.name, north.billing_day) == ("North Hills", 1)


# --------------------------------------------------------------------------- object permissions (guardian)


def test_site_admin_grants_an_object_permission_on_a_utility(admin_client, world):
    north, person = world["north"], world["people"]["bob"]
    page = admin_client.get(f"/admin/memberships/utility/{north.pk}/change/").content.decode()
    assert f"/admin/memberships/utility/{north.pk}/permissions/" in page
    assert "View on site" in page  # its portal page (Utility.get_absolute_url)
    assert north.get_absolute_url() == f"/utilities/{north.pk}/"
    response = admin_client.post(f"/admin/memberships/utility/{north.pk}/permissions/",
                                 {"user": person.email, "submit_manage_user": "1"})
    manage = f"/admin/memberships/utility/{north.pk}/permissions/user-manage/{person.pk}/"
    assert response.status_code == 302 and response["Location"] == manage
    assert admin_client.post(manage, {"permissions": ["change_utility"]}).status_code == 302
    person = type(person).objects.get(pk=person.pk)
    assert person.has_perm("memberships.change_utility", north)
    assert not person.has_perm("memberships.change_utility", world["south"])


def test_utility_object_permissions_are_for_site_admins_only(client, world):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_utility", "change_utility"]))
    client.force_login(staff)
    north = world["north"]
    page = client.get(f"/admin/memberships/utility/{north.pk}/change/")
    assert page.status_code == 200
    assert f"/admin/memberships/utility/{north.pk}/permissions/" not in page.content.decode()
    assert client.get(f"/admin/memberships/utility/{north.pk}/permissions/").status_code == 403
    person = world["people"]["bob"]
    manage = f"/admin/memberships/utility/{north.pk}/permissions/user-manage/{person.pk}/"
    assert client.post(manage, {"permissions": ["change_utility"]}).status_code == 403
    assert not type(person).objects.get(pk=person.pk).has_perm("memberships.change_utility", north)
