"""The portal's utility pages: memberships with subscriber toggles, roles and seats; settings;
deletion; and the dashboard's personal utility."""

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, AccountMembership, AuditLogEntry, Invitation
from accounts.services import default_account
from memberships.models import Membership, Utility
from memberships.views import MEMBERS_PAGE_SIZE
from tests.factories import UserFactory
from tests.portal import post_back

pytestmark = pytest.mark.django_db

ARole = AccountMembership.Role
URole = Membership.Role


def account_member(account, role):
    user = UserFactory()
    AccountMembership.objects.create(account=account, user=user, role=role)
    return user


def utility_member(utility, role, subscriber=False, **user_fields):
    user = UserFactory(**user_fields)
    Membership.objects.create(utility=utility, user=user, role=role, is_subscriber=subscriber)
    return user


@pytest.fixture
def place(db):
    """A utility of Acme, and a caller for every account and utility role."""
    consultancy = Account.objects.create(name="Consultancy")
    account = Account.objects.create(name="Acme", consultancy_account=consultancy)
    other = Account.objects.create(name="Other")
    utility = Utility.objects.create(account=account, name="North", billing_day=5)
    return {
        "account": account,
        "utility": utility,
        "outsider": account_member(other, ARole.ADMIN),
        "account_user": account_member(account, ARole.USER),
        "account_consultant": account_member(account, ARole.CONSULTANT),
        "account_admin": account_member(account, ARole.ADMIN),
        "consultancy_consultant": account_member(consultancy, ARole.CONSULTANT),
        "spectator": utility_member(utility, URole.SPECTATOR, email="spectator@example.org"),
        "member": utility_member(utility, URole.MEMBER, email="member@example.org"),
        "leader": utility_member(utility, URole.LEADER, email="leader@example.org"),
        "utility_admin": utility_member(utility, URole.ADMIN, email="uadmin@example.org"),
        "site_admin": UserFactory(is_superuser=True),
    }


def as_user(client, user):
    client.force_login(user, backend="accounts.backends.RosterBackend")
    return client


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def field_errors(response, form_name, field):
    return response.context[form_name].errors.get(field, [])


def membership(place, caller):
    return Membership.objects.get(utility=place["utility"], user=place[caller])


def snapshot(utility):
    """Everything a refused write must leave alone."""
    row = Utility.objects.filter(pk=utility.pk).values("name", "billing_day", "subscriber_seats").first()
    memberships = sorted(Membership.objects.filter(utility_id=utility.pk)
                         .values_list("user_id", "role", "is_subscriber", "is_subscriber_datetime"))
    return row, memberships


def routes(place):
    base = f"/utilities/{place['utility'].pk}/"
    target = membership(place, "member").pk
    return {
        "get": [base, f"{base}delete/"],
        "post": [
            (base, {"name": "Renamed", "subscriber_seats": "", "billing_day": 9}),
            (f"{base}memberships/add/", {"email": "uadmin@example.org", "role": "member"}),
            (f"{base}memberships/{target}/subscriber/", {"is_subscriber": "true"}),
            (f"{base}memberships/{target}/role/", {"role": "leader"}),
            (f"{base}memberships/{target}/remove/", {}),
            (f"{base}delete/", {}),
        ],
    }


# --------------------------------------------------------------------------- who gets in


def test_anonymous_is_sent_to_login_and_changes_nothing(client, place):
    before = snapshot(place["utility"])
    pages = routes(place)
    for url in pages["get"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    for url, data in pages["post"]:
        response = client.post(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith(f"/login/?next=/utilities/{place['utility'].pk}/")
    assert client.post("/utilities/personal/", {"billing_day": 3})["Location"] == "/login/?next=/"
    assert snapshot(place["utility"]) == before


def test_outsider_gets_404_everywhere_and_changes_nothing(client, place):
    before = snapshot(place["utility"])
    as_user(client, place["outsider"])
    pages = routes(place)
    for url in pages["get"]:
        assert client.get(url).status_code == 404, url
    for url, data in pages["post"]:
        assert client.post(url, data).status_code == 404, url
    assert snapshot(place["utility"]) == before


def test_membership_of_another_utility_is_404(client, place):
    south = Utility.objects.create(account=place["account"], name="South", billing_day=1)
    elsewhere = Membership.objects.create(utility=south, user=place["member"], is_subscriber=False)
    as_user(client, place["account_admin"])
    url = f"/utilities/{place['utility'].pk}/memberships/{elsewhere.pk}/subscriber/"
    assert client.post(url, {"is_subscriber": "true"}).status_code == 404
    elsewhere.refresh_from_db()
    assert elsewhere.is_subscriber is False


def test_account_user_sees_the_utility_but_not_its_members(client, place):
    as_user(client, place["account_user"])
    response = client.get(f"/utilities/{place['utility'].pk}/")
    assert response.status_code == 200
    assert response.context["memberships"] == []
    assert "No members you can see." in response.content.decode()


@pytest.mark.parametrize("caller", ["spectator", "member"])
def test_plain_member_sees_read_only_page(client, place, caller):
    as_user(client, place[caller])
    response = client.get(f"/utilities/{place['utility'].pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert len(response.context["memberships"]) == 4
    assert "member_form" not in response.context and "settings_form" not in response.context
    assert "/subscriber/" not in html and "/role/" not in html and "/memberships/add/" not in html
    assert "/delete/" not in html
    # The only remove button is their own "Leave".
    own = membership(place, caller)
    assert html.count("/remove/") == 1 and f"/memberships/{own.pk}/remove/" in html


@pytest.mark.parametrize("caller", ["spectator", "member", "account_user", "account_consultant",
                                    "consultancy_consultant"])
def test_below_leader_every_write_is_refused(client, place, caller):
    before = snapshot(place["utility"])
    as_user(client, place[caller])
    pages = routes(place)
    for url, data in pages["post"]:
        if caller == "member" and url.endswith("/remove/"):
            continue  # their own membership: leaving is allowed
        response = client.post(url, data)
        # Account users and consultants see the utility but not its memberships (404 on them).
        assert response.status_code in (403, 404), url
        if "/memberships/" not in url or caller in ("spectator", "member", "account_consultant",
                                                    "consultancy_consultant"):
            assert response.status_code == 403, url
    assert snapshot(place["utility"]) == before


def test_csrf_is_enforced(place):
    client = Client(enforce_csrf_checks=True)
    as_user(client, place["leader"])
    target = membership(place, "member")
    url = f"/utilities/{place['utility'].pk}/memberships/{target.pk}/subscriber/"
    assert client.post(url, {"is_subscriber": "true"}).status_code == 403
    target.refresh_from_db()
    assert target.is_subscriber is False


# --------------------------------------------------------------------------- leaders


def test_leader_toggles_subscription_audited(client, place):
    target = membership(place, "member")
    as_user(client, place["leader"])
    html = client.get(f"/utilities/{place['utility'].pk}/").content.decode()
    assert f"/memberships/{target.pk}/subscriber/" in html
    assert f"/memberships/{target.pk}/role/" not in html  # leaders see roles, they do not set them
    url = f"/utilities/{place['utility'].pk}/memberships/{target.pk}/subscriber/"

    response = client.post(url, {"is_subscriber": "true"})
    assert response["Location"] == f"/utilities/{place['utility'].pk}/#memberships"
    target.refresh_from_db()
    assert target.is_subscriber is True
    entry = AuditLogEntry.objects.filter(object_pk=str(target.pk), action=1).latest("timestamp")
    assert entry.actor == place["leader"] and entry.account_id == place["account"].pk
    assert entry.changes_dict["is_subscriber"] == ["False", "True"] or \
        entry.changes_dict["is_subscriber"] == [False, True]

    client.post(url, {"is_subscriber": "false"})
    target.refresh_from_db()
    assert target.is_subscriber is False


def test_leader_cannot_change_roles(client, place):
    target = membership(place, "member")
    as_user(client, place["leader"])
    before = snapshot(place["utility"])
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/{target.pk}/role/", {"role": "leader"})
    assert response.status_code == 403
    assert snapshot(place["utility"]) == before


def test_leader_removes_members_but_not_admins(client, place):
    as_user(client, place["leader"])
    html = client.get(f"/utilities/{place['utility'].pk}/").content.decode()
    admin = membership(place, "utility_admin")
    assert f"/memberships/{admin.pk}/remove/" not in html
    assert client.post(f"/utilities/{place['utility'].pk}/memberships/{admin.pk}/remove/").status_code == 403
    assert Membership.objects.filter(pk=admin.pk).exists()

    target = membership(place, "member")
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/{target.pk}/remove/")
    assert response.status_code == 302
    assert not Membership.objects.filter(pk=target.pk).exists()
    assert AuditLogEntry.objects.filter(object_pk=str(target.pk), action=2, actor=place["leader"]).exists()


def test_member_leaves(client, place):
    own = membership(place, "member")
    as_user(client, place["member"])
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/{own.pk}/remove/")
    assert response["Location"] == "/"
    assert not Membership.objects.filter(pk=own.pk).exists()
    assert client.get(f"/utilities/{place['utility'].pk}/").status_code == 404


# --------------------------------------------------------------------------- seats


def test_full_seats_refuse_a_subscription_and_change_nothing(client, place):
    utility = place["utility"]
    Membership.objects.filter(user=place["spectator"]).update(is_subscriber=True)
    Utility.objects.filter(pk=utility.pk).update(subscriber_seats=1)
    target = membership(place, "member")
    as_user(client, place["leader"])
    before = snapshot(utility)
    response = client.post(f"/utilities/{utility.pk}/memberships/{target.pk}/subscriber/", {"is_subscriber": "true"})
    assert response.status_code == 302
    assert messages_of(response) == ["All 1 subscriber seats of this utility are taken."]
    assert snapshot(utility) == before
    page = client.get(f"/utilities/{utility.pk}/")
    assert page.context["subscriber_count"] == 1
    assert "All 1 subscriber seats of this utility are taken." in page.content.decode()



def shares_a_space(admin, person):
    """Make `person` someone `admin` may add directly (SPEC §1): both in a utility elsewhere."""
    from tests.factories import UtilityFactory

    elsewhere = UtilityFactory()
    Membership.objects.create(user=admin, utility=elsewhere, is_subscriber=False)
    Membership.objects.create(user=person, utility=elsewhere, is_subscriber=False)


def test_full_seats_refuse_a_subscribing_newcomer_with_a_field_error(client, place):
    utility = place["utility"]
    Membership.objects.filter(user=place["spectator"]).update(is_subscriber=True)
    Utility.objects.filter(pk=utility.pk).update(subscriber_seats=1)
    newcomer = UserFactory(email="new@example.org")
    shares_a_space(place["utility_admin"], newcomer)
    as_user(client, place["utility_admin"])
    response = post_back(client, f"/utilities/{utility.pk}/memberships/add/",
                           {"email": "new@example.org", "role": "member", "is_subscriber": "on"})
    assert response.status_code == 200
    assert field_errors(response, "member_form", "is_subscriber") == [
        "All 1 subscriber seats of this utility are taken."]
    assert not Membership.objects.filter(user=newcomer, utility=utility).exists()


def test_seats_cannot_drop_below_subscribers(client, place):
    utility = place["utility"]
    Membership.objects.filter(user__in=[place["spectator"], place["member"]]).update(is_subscriber=True)
    as_user(client, place["utility_admin"])
    before = snapshot(utility)
    response = post_back(client, f"/utilities/{utility.pk}/",
                         {"name": "North", "subscriber_seats": 1, "billing_day": 5})
    assert response.status_code == 200
    assert field_errors(response, "settings_form", "subscriber_seats") == [
        "2 members subscribe already; free seats before lowering the limit to 1."]
    assert snapshot(utility) == before


# --------------------------------------------------------------------------- utility admins


def test_utility_admin_adds_a_member_by_email(client, place):
    newcomer = UserFactory(email="new@example.org")
    shares_a_space(place["utility_admin"], newcomer)
    as_user(client, place["utility_admin"])
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/add/",
                           {"email": "New@Example.org", "role": "leader", "is_subscriber": "on"})
    assert response.status_code == 302
    added = Membership.objects.get(utility=place["utility"], user=newcomer)
    assert (added.role, added.is_subscriber) == (URole.LEADER, True)
    assert AuditLogEntry.objects.filter(object_pk=str(added.pk), action=0, actor=place["utility_admin"]).exists()


def test_a_stranger_is_invited_to_the_utility(client, place):
    UserFactory(email="stranger@example.org")
    as_user(client, place["utility_admin"])
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/add/",
                           {"email": "stranger@example.org", "role": "member"})
    assert response.status_code == 302
    invitation = Invitation.objects.get(utility=place["utility"])
    assert (invitation.email, invitation.role) == ("stranger@example.org", "member")
    assert not Membership.objects.filter(utility=place["utility"], user__email="stranger@example.org").exists()


@pytest.mark.parametrize("email, error", [
    ("member@example.org", "This user is already a member of this utility."),
])
def test_add_member_errors_show_on_email(client, place, email, error):
    UserFactory(email="stranger@example.org")
    as_user(client, place["utility_admin"])
    before = snapshot(place["utility"])
    response = post_back(client, f"/utilities/{place['utility'].pk}/memberships/add/",
                         {"email": email, "role": "member"})
    assert response.status_code == 200
    assert field_errors(response, "member_form", "email") == [error]
    assert snapshot(place["utility"]) == before


def test_utility_admin_changes_a_role(client, place):
    target = membership(place, "spectator")
    as_user(client, place["utility_admin"])
    response = client.post(f"/utilities/{place['utility'].pk}/memberships/{target.pk}/role/", {"role": "leader"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == URole.LEADER
    assert AuditLogEntry.objects.filter(object_pk=str(target.pk), action=1, actor=place["utility_admin"]).exists()


def test_utility_admin_renames_and_sets_seats_but_not_billing_day(client, place):
    utility = place["utility"]
    as_user(client, place["utility_admin"])
    form = client.get(f"/utilities/{utility.pk}/").context["settings_form"]
    assert form.fields["billing_day"].disabled
    response = client.post(f"/utilities/{utility.pk}/", {"name": "North East", "subscriber_seats": 10,
                                                          "billing_day": 20})
    assert response.status_code == 302
    utility.refresh_from_db()
    assert (utility.name, utility.subscriber_seats, utility.billing_day) == ("North East", 10, 5)
    entry = AuditLogEntry.objects.filter(object_pk=str(utility.pk), action=1).latest("timestamp")
    assert entry.actor == place["utility_admin"]


def test_account_admin_changes_billing_day(client, place):
    utility = place["utility"]
    as_user(client, place["account_admin"])
    assert not client.get(f"/utilities/{utility.pk}/").context["settings_form"].fields["billing_day"].disabled
    client.post(f"/utilities/{utility.pk}/", {"name": "North", "subscriber_seats": "", "billing_day": 20})
    utility.refresh_from_db()
    assert (utility.billing_day, utility.subscriber_seats) == (20, None)


def test_taken_utility_name_is_a_field_error(client, place):
    Utility.objects.create(account=place["account"], name="South", billing_day=1)
    as_user(client, place["utility_admin"])
    response = post_back(client, f"/utilities/{place['utility'].pk}/", {"name": "SOUTH", "subscriber_seats": ""})
    assert field_errors(response, "settings_form", "name") == ["This account already has a utility of that name."]
    place["utility"].refresh_from_db()
    assert place["utility"].name == "North"


# --------------------------------------------------------------------------- delete


def test_utility_admin_cannot_delete(client, place):
    as_user(client, place["utility_admin"])
    assert client.get(f"/utilities/{place['utility'].pk}/delete/").status_code == 403
    assert client.post(f"/utilities/{place['utility'].pk}/delete/").status_code == 403
    assert Utility.objects.filter(pk=place["utility"].pk).exists()


def test_account_admin_deletes_after_confirming(client, place):
    utility = place["utility"]
    as_user(client, place["account_admin"])
    assert client.get(f"/utilities/{utility.pk}/delete/").status_code == 200
    response = client.post(f"/utilities/{utility.pk}/delete/")
    assert response["Location"] == f"/accounts/{place['account'].pk}/"
    assert not Utility.objects.filter(pk=utility.pk).exists()
    assert not Membership.objects.filter(utility_id=utility.pk).exists()
    assert AuditLogEntry.objects.filter(object_pk=str(utility.pk), action=2, actor=place["account_admin"],
                                        account_id=place["account"].pk).exists()


# --------------------------------------------------------------------------- personal utilities


def test_personal_utility_from_the_dashboard(client, place):
    me = UserFactory(username="sam")
    as_user(client, me)
    response = client.post("/utilities/personal/", {"billing_day": 12})
    utility = Utility.objects.get(personal_owner=me)
    assert response["Location"] == f"/utilities/{utility.pk}/"
    assert utility.account == default_account() and utility.billing_day == 12
    assert Membership.objects.get(utility=utility, user=me).role == URole.ADMIN
    page = client.get(f"/utilities/{utility.pk}/")
    assert page.status_code == 200 and page.context["can_delete"]
    dashboard = client.get("/")
    assert "personal_utilities" in dashboard.context, (
        "portal.views.DashboardView must put portal.views.dashboard_sections() in its context")
    dashboard = dashboard.content.decode()
    assert f'href="/utilities/{utility.pk}/"' in dashboard
    assert 'action="/utilities/personal/' not in dashboard

    again = post_back(client, "/utilities/personal/", {"billing_day": 3})
    assert again.status_code == 200
    assert field_errors(again, "personal_utility_form", "billing_day") == ["You already have a personal utility."]
    assert Utility.objects.filter(personal_owner=me).count() == 1

    response = client.post(f"/utilities/{utility.pk}/delete/")
    assert response["Location"] == "/"
    assert not Utility.objects.filter(personal_owner=me).exists()


def test_personal_utility_billing_day_is_checked(client, place):
    me = UserFactory()
    as_user(client, me)
    response = post_back(client, "/utilities/personal/", {"billing_day": 31})
    assert response.status_code == 200
    assert field_errors(response, "personal_utility_form", "billing_day")
    assert not Utility.objects.filter(personal_owner=me).exists()


def test_someone_elses_personal_utility_is_404(client, place):
    owner = UserFactory()
    as_user(client, owner)
    client.post("/utilities/personal/", {"billing_day": 1})
    utility = Utility.objects.get(personal_owner=owner)
    as_user(client, place["account_admin"])
    assert client.get(f"/utilities/{utility.pk}/").status_code == 404
    assert client.post(f"/utilities/{utility.pk}/delete/").status_code == 404


# --------------------------------------------------------------------------- query counts


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("caller", ["account_admin", "utility_admin", "leader", "spectator"])
def test_utility_page_query_count_is_fixed(client, place, caller, django_assert_max_num_queries):
    utility = place["utility"]
    as_user(client, place[caller])
    url = f"/utilities/{utility.pk}/"
    client.get(url)
    few = _count_queries(client, url)
    for number in range(46):
        utility_member(utility, [URole.SPECTATOR, URole.MEMBER, URole.LEADER][number % 3], subscriber=number % 2 == 0)
    assert Membership.objects.filter(utility=utility).count() == 50
    with django_assert_max_num_queries(10):
        response = client.get(url)
    # A page of the members (issue 15: a long list is paged), counted over all of them.
    assert len(response.context["memberships"]) == MEMBERS_PAGE_SIZE
    assert response.context["page_obj"].paginator.count == response.context["member_count"] == 50
    assert response.context["subscriber_count"] == 23
    assert _count_queries(client, url) == few


def test_an_admin_sees_remove_buttons_and_the_add_form(client, place):
    """The members table's shared pieces (templates/includes/member_*.html) as a utility admin."""
    as_user(client, place["utility_admin"])
    html = client.get(f"/utilities/{place['utility'].pk}/").content.decode()
    spectator = membership(place, "spectator")
    assert f'href="/utilities/{place["utility"].pk}/memberships/{spectator.pk}/remove/"' in html  # asks first
    assert f'aria-label="Remove spectator@example.org from {place["utility"].name}"' in html
    assert f'action="/utilities/{place["utility"].pk}/memberships/add/#memberships"' in html
    assert 'aria-labelledby="membership-add-heading"' in html and 'id="membership-add-heading"' in html
    assert f'/memberships/{spectator.pk}/role/"' in html and f'id="role-{spectator.pk}"' in html


def test_personal_owner_sets_the_billing_day(client, db):
    from memberships.services import personal_utility_create

    owner = UserFactory()
    utility = personal_utility_create(user=owner, billing_day=3)
    client.force_login(owner)
    client.post(f"/utilities/{utility.pk}/", {"name": utility.name, "billing_day": 20})
    utility.refresh_from_db()
    assert utility.billing_day == 20
