"""The portal's account pages: dashboard sections, account settings, members, utilities,
activation codes, deletion and history."""

from datetime import timedelta

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Account, AccountMembership, ActivationCode, AuditLogEntry, Invitation
from accounts.services import account_update, default_account
from core.audit import MASK
from memberships.models import Membership, Utility
from memberships.views import MEMBERS_PAGE_SIZE
from tests.factories import UserFactory, UtilityFactory
from tests.portal import post_back

pytestmark = pytest.mark.django_db

ARole = AccountMembership.Role


def member(account, role=ARole.USER, **user_fields):
    user = UserFactory(**user_fields)
    AccountMembership.objects.create(account=account, user=user, role=role)
    return user


@pytest.fixture
def acme(db):
    consultancy = Account.objects.create(name="Consultancy")
    return Account.objects.create(name="Acme", consultancy_account=consultancy)


@pytest.fixture
def people(acme):
    other = Account.objects.create(name="Other")
    return {
        "admin": member(acme, ARole.ADMIN, email="admin@example.org"),
        "consultant": member(acme, ARole.CONSULTANT),
        "user": member(acme, ARole.USER, email="user@example.org"),
        "consultancy_consultant": member(acme.consultancy_account, ARole.CONSULTANT),
        "outsider": member(other, ARole.ADMIN),
        "site_admin": UserFactory(is_superuser=True),
    }


def as_user(client, user):
    client.force_login(user, backend="accounts.backends.RosterBackend")
    return client


def messages_of(response):
    return [str(message) for message in get_messages(response.wsgi_request)]


def field_errors(response, form_name, field):
    return response.context[form_name].errors.get(field, [])


def settings_data(account, **changes):
    data = {
        "name": account.name, "primary_color": account.primary_color or "",
        "secondary_color": account.secondary_color or "", "logo_url": account.logo_url or "",
        "health_time_period": account.health_time_period, "exec_interval": account.exec_interval,
        "base_line_exec_interval": account.base_line_exec_interval,
        "cd_model_frequency": account.cd_model_frequency, "cd_execution_frequency": account.cd_execution_frequency,
        "data_retention": account.data_retention, "default_product_privacy": account.default_product_privacy,
        "custom_attributes": "{}",
    }
    data.update(changes)
    return data


def snapshot(account):
    """Everything a refused write must leave alone."""
    account = Account.objects.get(pk=account.pk)
    return (
        {f.name: getattr(account, f.name) for f in Account._meta.concrete_fields},
        sorted(AccountMembership.objects.filter(account=account).values_list("user_id", "role")),
        sorted(Utility.objects.filter(account=account).values_list("name", flat=True)),
        ActivationCode.objects.filter(account=account).values_list("code", flat=True).first(),
    )


def pages(account, membership_pk):
    base = f"/accounts/{account.pk}/"
    return {
        "get": [base, f"{base}history/", f"{base}delete/"],
        "post": [
            (base, settings_data(account, name="Changed")),
            (f"{base}members/add/", {"email": "user@example.org", "role": "user"}),
            (f"{base}members/{membership_pk}/role/", {"role": "admin"}),
            (f"{base}members/{membership_pk}/remove/", {}),
            (f"{base}utilities/add/", {"name": "South", "billing_day": 3}),
            (f"{base}activation-code/refresh/", {}),
            (f"{base}delete/", {}),
        ],
    }


# --------------------------------------------------------------------------- who gets in


def test_anonymous_is_sent_to_login_and_changes_nothing(client, acme, people):
    target = AccountMembership.objects.get(user=people["user"])
    before = snapshot(acme)
    assert client.get("/accounts/new/")["Location"] == "/login/?next=/accounts/new/"
    routes = pages(acme, target.pk)
    for url in routes["get"]:
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"] == f"/login/?next={url}"
    for url, data in routes["post"]:
        response = client.post(url, data)
        assert response.status_code == 302
        assert response["Location"].startswith("/login/?next=/accounts/")
    assert snapshot(acme) == before


def test_outsider_gets_404_everywhere_and_changes_nothing(client, acme, people):
    target = AccountMembership.objects.get(user=people["user"])
    before = snapshot(acme)
    as_user(client, people["outsider"])
    routes = pages(acme, target.pk)
    for url in routes["get"]:
        assert client.get(url).status_code == 404, url
    for url, data in routes["post"]:
        assert client.post(url, data).status_code == 404, url
    assert snapshot(acme) == before


def test_unknown_and_malformed_ids_are_404(client, people):
    as_user(client, people["site_admin"])
    assert client.get("/accounts/999999/").status_code == 404
    assert client.get("/accounts/abc/").status_code == 404


def test_membership_of_another_account_is_404(client, acme, people):
    other_membership = AccountMembership.objects.get(user=people["outsider"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{other_membership.pk}/remove/")
    assert response.status_code == 404
    assert AccountMembership.objects.filter(pk=other_membership.pk).exists()


def test_plain_member_sees_read_only_page(client, acme, people):
    as_user(client, people["user"])
    response = client.get(f"/accounts/{acme.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert response.context["is_admin"] is False
    assert "settings_form" not in response.context and "member_form" not in response.context
    assert "Only the account's admins change its settings." in html
    assert f'action="/accounts/{acme.pk}/members/add/' not in html
    assert f'action="/accounts/{acme.pk}/utilities/add/' not in html
    assert "activation-code/refresh/" not in html
    assert f'href="/accounts/{acme.pk}/history/"' not in html
    # Members are listed; the only button is the user's own "Leave".
    assert "admin@example.org" in html
    own = AccountMembership.objects.get(user=people["user"])
    assert f"/members/{own.pk}/remove/" in html
    admin_membership = AccountMembership.objects.get(user=people["admin"])
    assert f"/members/{admin_membership.pk}/remove/" not in html
    assert f"/members/{admin_membership.pk}/role/" not in html


@pytest.mark.parametrize("caller", ["user", "consultant", "consultancy_consultant"])
def test_non_admins_are_refused_every_write(client, acme, people, caller):
    target = AccountMembership.objects.get(user=people["consultant"] if caller == "user" else people["user"])
    before = snapshot(acme)
    as_user(client, people[caller])
    assert client.get(f"/accounts/{acme.pk}/").status_code == 200
    assert client.get(f"/accounts/{acme.pk}/delete/").status_code == 403
    for url, data in pages(acme, target.pk)["post"]:
        assert client.post(url, data).status_code == 403, url
    assert snapshot(acme) == before


def test_csrf_is_enforced(acme, people):
    client = Client(enforce_csrf_checks=True)
    as_user(client, people["admin"])
    before = snapshot(acme)
    assert client.post(f"/accounts/{acme.pk}/", settings_data(acme, name="Changed")).status_code == 403
    assert client.post(f"/accounts/{acme.pk}/activation-code/refresh/").status_code == 403
    assert snapshot(acme) == before


# --------------------------------------------------------------------------- create


def test_create_account_makes_creator_admin(client, people):
    as_user(client, people["user"])
    assert client.get("/accounts/new/").status_code == 200
    response = client.post("/accounts/new/", settings_data(Account(name=""), name="Globex", primary_color="#112233"))
    account = Account.objects.get(name="Globex")
    assert response["Location"] == f"/accounts/{account.pk}/"
    assert account.primary_color == "#112233"
    assert AccountMembership.objects.get(account=account).role == ARole.ADMIN
    assert AuditLogEntry.objects.filter(account_id=account.pk, actor=people["user"]).exists()


def test_create_account_with_taken_name_is_a_field_error(client, acme, people):
    as_user(client, people["user"])
    response = client.post("/accounts/new/", settings_data(Account(name=""), name="ACME"))
    assert response.status_code == 200
    assert field_errors(response, "form", "name") == ["An account with this name already exists."]
    assert Account.objects.filter(name__iexact="acme").count() == 1


# --------------------------------------------------------------------------- settings


def test_admin_changes_settings_audited_with_actor(client, acme, people):
    as_user(client, people["admin"])
    page = client.get(f"/accounts/{acme.pk}/")
    assert page.context["settings_form"].initial["name"] == "Acme"
    response = client.post(f"/accounts/{acme.pk}/", settings_data(
        acme, name="Acme Energy", primary_color="#aabbcc", logo_url="https://acme.example/logo.png",
        data_retention=30, default_product_privacy="ALWAYS_PRIVATE",
        custom_attributes='{"region": "north", "tier": 2, "beta": true}',
    ))
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/{acme.pk}/#settings"
    acme.refresh_from_db()
    assert (acme.name, acme.primary_color, acme.data_retention) == ("Acme Energy", "#aabbcc", 30)
    assert acme.default_product_privacy == "ALWAYS_PRIVATE"
    assert acme.custom_attributes == {"region": "north", "tier": 2, "beta": True}
    entry = AuditLogEntry.objects.filter(account_id=acme.pk, object_pk=str(acme.pk), action=1).latest("timestamp")
    assert entry.actor == people["admin"]
    assert entry.changes_dict["name"] == ["Acme", "Acme Energy"]


@pytest.mark.parametrize("changes, field, error", [
    ({"primary_color": "red"}, "primary_color", "Use a colour in the form #rrggbb."),
    ({"logo_url": "ftp://example.org/logo.png"}, "logo_url", None),
    ({"custom_attributes": '{"nested": {"no": 1}}'}, "custom_attributes",
     "`nested`: values are text, numbers or true/false."),
    ({"custom_attributes": "[1, 2]"}, "custom_attributes", "customAttributes must be an object."),
    ({"custom_attributes": "{not json"}, "custom_attributes", None),
    ({"data_retention": "-1"}, "data_retention", None),
    ({"name": "consultancy"}, "name", "An account with this name already exists."),
])
def test_invalid_settings_are_field_errors_and_change_nothing(client, acme, people, changes, field, error):
    as_user(client, people["admin"])
    before = snapshot(acme)
    response = post_back(client, f"/accounts/{acme.pk}/", {**settings_data(acme, name="Renamed"), **changes})
    assert response.status_code == 200
    errors = field_errors(response, "settings_form", field)
    assert errors
    if error:
        assert errors == [error]
    assert 'aria-invalid="true"' in response.content.decode()
    assert snapshot(acme) == before


def test_site_admin_edits_any_account(client, acme, people):
    as_user(client, people["site_admin"])
    response = client.post(f"/accounts/{acme.pk}/", settings_data(acme, exec_interval=600))
    assert response.status_code == 302
    acme.refresh_from_db()
    assert acme.exec_interval == 600


# --------------------------------------------------------------------------- members


def test_admin_adds_member_by_email(client, acme, people):
    newcomer = UserFactory(email="new@example.org")
    elsewhere = UtilityFactory()
    for person in (people["admin"], newcomer):  # people the admin may add directly share a space (SPEC §1)
        Membership.objects.create(user=person, utility=elsewhere, is_subscriber=False)
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/add/", {"email": "NEW@example.org", "role": "consultant"})
    assert response.status_code == 302
    assert response["Location"] == f"/accounts/{acme.pk}/#members"
    membership = AccountMembership.objects.get(account=acme, user=newcomer)
    assert membership.role == ARole.CONSULTANT
    entry = AuditLogEntry.objects.get(account_id=acme.pk, object_pk=str(membership.pk), action=0)
    assert entry.actor == people["admin"]


def test_someone_the_admin_cannot_add_directly_is_invited_with_the_same_message(client, acme, people):
    stranger = UserFactory(email="stranger@example.org")
    as_user(client, people["admin"])
    said = []
    for email in ("stranger@example.org", "nobody@example.org"):
        response = client.post(f"/accounts/{acme.pk}/members/add/", {"email": email, "role": "user"}, follow=True)
        assert response.status_code == 200
        said.append([str(m).replace(email, "X") for m in response.context["messages"]])
    # the same words a direct add gets (MemberByEmailForm.done_message)
    assert said[0] == said[1] == ["X is added, or invited by email when they are not someone you can add directly."]
    assert not AccountMembership.objects.filter(user=stranger).exists()
    assert set(Invitation.objects.filter(account=acme).values_list("email", flat=True)) == {
        "stranger@example.org", "nobody@example.org"}


def test_adding_an_existing_member_is_a_field_error(client, acme, people):
    as_user(client, people["admin"])
    response = post_back(client, f"/accounts/{acme.pk}/members/add/", {"email": "user@example.org", "role": "admin"})
    assert response.status_code == 200
    assert field_errors(response, "member_form", "email") == ["This user is already a member of this account."]
    assert AccountMembership.objects.get(account=acme, user=people["user"]).role == ARole.USER


def test_admin_changes_a_role(client, acme, people):
    target = AccountMembership.objects.get(user=people["user"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{target.pk}/role/", {"role": "consultant"})
    assert response.status_code == 302
    target.refresh_from_db()
    assert target.role == ARole.CONSULTANT
    assert AuditLogEntry.objects.filter(object_pk=str(target.pk), action=1, actor=people["admin"]).exists()


def test_last_admin_cannot_demote_themselves(client, acme, people):
    own = AccountMembership.objects.get(user=people["admin"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{own.pk}/role/", {"role": "user"})
    assert response.status_code == 302
    assert messages_of(response) == ["This is the account's last admin; promote another member first."]
    own.refresh_from_db()
    assert own.role == ARole.ADMIN
    page = client.get(response["Location"])
    assert "last admin" in page.content.decode()


def test_last_admin_cannot_leave(client, acme, people):
    own = AccountMembership.objects.get(user=people["admin"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{own.pk}/remove/")
    assert messages_of(response) == ["This is the account's last admin; promote another member first."]
    assert AccountMembership.objects.filter(pk=own.pk).exists()


def test_admin_cannot_demote_or_remove_another_admin(client, acme, people):
    second = AccountMembership.objects.create(account=acme, user=UserFactory(), role=ARole.ADMIN)
    as_user(client, people["admin"])
    html = client.get(f"/accounts/{acme.pk}/").content.decode()
    assert f"/members/{second.pk}/role/" not in html and f"/members/{second.pk}/remove/" not in html
    assert client.post(f"/accounts/{acme.pk}/members/{second.pk}/role/", {"role": "user"}).status_code == 403
    assert client.post(f"/accounts/{acme.pk}/members/{second.pk}/remove/").status_code == 403
    second.refresh_from_db()
    assert second.role == ARole.ADMIN


def test_admin_removes_a_member(client, acme, people):
    target = AccountMembership.objects.get(user=people["user"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{target.pk}/remove/")
    assert response.status_code == 302
    assert not AccountMembership.objects.filter(pk=target.pk).exists()
    entry = AuditLogEntry.objects.get(object_pk=str(target.pk), action=2)
    assert entry.actor == people["admin"] and entry.account_id == acme.pk


def test_member_leaves_and_returns_to_dashboard(client, acme, people):
    own = AccountMembership.objects.get(user=people["user"])
    as_user(client, people["user"])
    response = client.post(f"/accounts/{acme.pk}/members/{own.pk}/remove/")
    assert response["Location"] == "/"
    assert not AccountMembership.objects.filter(pk=own.pk).exists()
    assert client.get(f"/accounts/{acme.pk}/").status_code == 404


def test_invalid_role_changes_nothing(client, acme, people):
    target = AccountMembership.objects.get(user=people["user"])
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/members/{target.pk}/role/", {"role": "owner"})
    assert messages_of(response) == ["Choose one of the roles."]
    target.refresh_from_db()
    assert target.role == ARole.USER


# --------------------------------------------------------------------------- utilities


def test_admin_creates_a_utility(client, acme, people):
    as_user(client, people["admin"])
    response = client.post(f"/accounts/{acme.pk}/utilities/add/",
                           {"name": "North", "billing_day": 5, "subscriber_seats": 3})
    utility = Utility.objects.get(account=acme, name="North")
    assert response["Location"] == f"/utilities/{utility.pk}/"
    assert (utility.billing_day, utility.subscriber_seats) == (5, 3)
    assert not Membership.objects.filter(utility=utility).exists()
    assert AuditLogEntry.objects.filter(object_pk=str(utility.pk), action=0, actor=people["admin"],
                                        account_id=acme.pk).exists()
    assert "North" in client.get(f"/accounts/{acme.pk}/").content.decode()


@pytest.mark.parametrize("data, field, error", [
    ({"name": "north", "billing_day": 5}, "name", "This account already has a utility of that name."),
    ({"name": "South", "billing_day": 29}, "billing_day", None),
    ({"name": "South", "billing_day": 0}, "billing_day", None),
    ({"name": "", "billing_day": 5}, "name", "This field is required."),
])
def test_utility_form_errors_show_in_place(client, acme, people, data, field, error):
    Utility.objects.create(account=acme, name="North", billing_day=1)
    as_user(client, people["admin"])
    response = post_back(client, f"/accounts/{acme.pk}/utilities/add/", data)
    assert response.status_code == 200
    errors = field_errors(response, "utility_form", field)
    assert errors and (error is None or errors == [error])
    assert list(Utility.objects.filter(account=acme).values_list("name", flat=True)) == ["North"]


# --------------------------------------------------------------------------- activation codes


def test_admin_sees_and_refreshes_the_code(client, acme, people):
    as_user(client, people["admin"])
    page = client.get(f"/accounts/{acme.pk}/")
    assert page.context["activation_code"] is None  # reading the page issues nothing
    assert not ActivationCode.objects.filter(account=acme).exists()

    response = client.post(f"/accounts/{acme.pk}/activation-code/refresh/")
    assert response["Location"] == f"/accounts/{acme.pk}/#activation-code"
    first = ActivationCode.objects.get(account=acme).code
    assert first in client.get(f"/accounts/{acme.pk}/").content.decode()

    client.post(f"/accounts/{acme.pk}/activation-code/refresh/")
    second = ActivationCode.objects.get(account=acme).code
    assert second != first
    entries = AuditLogEntry.objects.filter(account_id=acme.pk, content_type__model="activationcode")
    assert entries.count() == 2 and {e.actor for e in entries} == {people["admin"]}
    # The old code is dead at once.
    as_user(client, UserFactory())
    response = post_back(client, "/accounts/activate/", {"activation_code": first})
    assert field_errors(response, "activation_form", "activation_code") == [
        "This activation code is wrong or has expired."]


def test_expired_code_is_not_shown(client, acme, people):
    ActivationCode.objects.create(account=acme, code="ABCDEFGH", expires_at=timezone.now() - timedelta(seconds=1))
    as_user(client, people["admin"])
    page = client.get(f"/accounts/{acme.pk}/")
    assert page.context["activation_code"] is None
    assert "ABCDEFGH" not in page.content.decode()


# --------------------------------------------------------------------------- delete


def test_admin_deletes_account_after_confirming(client, acme, people):
    utility = Utility.objects.create(account=acme, name="North", billing_day=1)
    as_user(client, people["admin"])
    confirm = client.get(f"/accounts/{acme.pk}/delete/")
    assert confirm.status_code == 200
    assert "Delete Acme?" in confirm.content.decode()
    response = client.post(f"/accounts/{acme.pk}/delete/")
    assert response["Location"] == "/"
    assert not Account.objects.filter(pk=acme.pk).exists()
    assert not Utility.objects.filter(pk=utility.pk).exists()
    assert AuditLogEntry.objects.filter(account_id=acme.pk, action=2, actor=people["admin"],
                                        object_pk=str(acme.pk)).exists()


def test_default_account_cannot_be_deleted(client, people):
    default = default_account()
    as_user(client, people["site_admin"])
    assert "/delete/" not in client.get(f"/accounts/{default.pk}/").content.decode()
    response = client.post(f"/accounts/{default.pk}/delete/")
    assert response["Location"] == f"/accounts/{default.pk}/"
    assert messages_of(response) == [
        "The default account holds everyone's personal utilities and cannot be deleted."]
    assert Account.objects.filter(pk=default.pk).exists()


def test_everyone_reads_the_default_account_read_only(client, people):
    default = default_account()
    as_user(client, people["user"])
    response = client.get(f"/accounts/{default.pk}/")
    assert response.status_code == 200
    assert response.context["is_admin"] is False
    assert client.post(f"/accounts/{default.pk}/", settings_data(default, name="Mine")).status_code == 403


# --------------------------------------------------------------------------- history


@pytest.mark.parametrize("caller, expected", [
    ("admin", 200), ("consultant", 200), ("consultancy_consultant", 200), ("site_admin", 200),
    ("user", 403), ("outsider", 404),
])
def test_who_reads_the_history(client, acme, people, caller, expected):
    as_user(client, people[caller])
    assert client.get(f"/accounts/{acme.pk}/history/").status_code == expected


def test_consultant_sees_history_link_and_entries_newest_first(client, acme, people):
    account_update(actor=people["admin"], account=acme, data={"name": "Acme 2"})
    Utility.objects.create(account=acme, name="North", billing_day=1)
    as_user(client, people["consultant"])
    assert f'href="/accounts/{acme.pk}/history/"' in client.get(f"/accounts/{acme.pk}/").content.decode()
    response = client.get(f"/accounts/{acme.pk}/history/")
    entries = list(response.context["page_obj"].object_list)
    assert entries[0].object_type == "Utility" and entries[0].action_name == "create"
    timestamps = [(e.timestamp, e.pk) for e in entries]
    assert timestamps == sorted(timestamps, reverse=True)
    html = response.content.decode()
    assert "<strong>Name</strong>: Acme → Acme 2" in html  # labels people read, not field names


def test_history_shows_actor_and_masks_secrets(client, acme, people):
    as_user(client, people["admin"])
    client.post(f"/accounts/{acme.pk}/activation-code/refresh/")
    code = ActivationCode.objects.get(account=acme).code
    response = client.get(f"/accounts/{acme.pk}/history/?object_type=ActivationCode")
    entries = list(response.context["page_obj"].object_list)
    assert len(entries) == 1
    assert dict(entries[0].change_rows)["Code"].endswith(f"→ {MASK}")
    html = response.content.decode()
    assert code not in html
    assert "admin@example.org" in html


def test_history_filters_and_paginates(client, acme, people):
    for number in range(60):
        Utility.objects.create(account=acme, name=f"U{number:02}", billing_day=1)
    account_update(actor=people["admin"], account=acme, data={"name": "Acme 2"})
    as_user(client, people["admin"])

    first = client.get(f"/accounts/{acme.pk}/history/")
    assert len(first.context["page_obj"].object_list) == 50
    assert first.context["page_obj"].paginator.count == AuditLogEntry.objects.filter(account_id=acme.pk).count()
    assert 'href="?page=2"' in first.content.decode()

    utilities = client.get(f"/accounts/{acme.pk}/history/?object_type=Utility&action=create&page=2")
    page = utilities.context["page_obj"]
    assert page.paginator.count == 60 and len(page.object_list) == 10
    assert {e.object_type for e in page.object_list} == {"Utility"}
    assert 'href="?object_type=Utility&amp;action=create&amp;page=1"' in utilities.content.decode()

    updates = client.get(f"/accounts/{acme.pk}/history/?action=update").context["page_obj"]
    assert [e.object_type for e in updates.object_list] == ["Account"]

    # Unknown filter values are ignored rather than crashing; a page past the end shows the last.
    assert client.get(f"/accounts/{acme.pk}/history/?action=explode&object_type=Nope").status_code == 200
    assert client.get(f"/accounts/{acme.pk}/history/?page=999").context["page_obj"].number == 2


def test_history_of_one_account_holds_nothing_of_another(client, acme, people):
    other = Account.objects.get(name="Other")
    Utility.objects.create(account=other, name="Secret utility", billing_day=1)
    as_user(client, people["admin"])
    assert "Secret utility" not in client.get(f"/accounts/{acme.pk}/history/").content.decode()


# --------------------------------------------------------------------------- dashboard


def get_dashboard(client):
    response = client.get("/")
    assert response.status_code == 200
    assert "my_accounts" in response.context, (
        "portal.views.DashboardView must put portal.views.dashboard_sections() in its context")
    return response


def test_dashboard_lists_my_accounts_and_utilities(client, acme, people):
    north = Utility.objects.create(account=acme, name="North", billing_day=5)
    Membership.objects.create(utility=north, user=people["user"], role="leader", is_subscriber=True)
    as_user(client, people["user"])
    response = get_dashboard(client)
    accounts = list(response.context["my_accounts"])
    assert [(a.name, a.my_role, a.member_count, a.utility_count) for a in accounts] == [("Acme", "user", 3, 1)]
    html = response.content.decode()
    assert f'href="/accounts/{acme.pk}/"' in html and f'href="/utilities/{north.pk}/"' in html
    assert 'href="/accounts/new/"' in html
    assert [(m.utility.name, m.role, m.is_subscriber) for m in response.context["my_memberships"]] == [
        ("North", "leader", True)]


def test_dashboard_lists_consultancy_clients(client, acme, people):
    as_user(client, people["consultancy_consultant"])
    accounts = {a.name: a.my_role for a in get_dashboard(client).context["my_accounts"]}
    assert accounts == {"Acme": None, "Consultancy": "consultant"}


def test_dashboard_query_count_is_fixed(client, acme, people, django_assert_max_num_queries):
    as_user(client, people["user"])
    client.get("/")
    for number in range(20):
        account = Account.objects.create(name=f"Account {number}")
        AccountMembership.objects.create(account=account, user=people["user"])
        utility = Utility.objects.create(account=account, name="U", billing_day=1)
        Membership.objects.create(utility=utility, user=people["user"], is_subscriber=False)
    with django_assert_max_num_queries(12):
        response = get_dashboard(client)
    assert len(response.context["my_accounts"]) == 21


def test_join_with_activation_code_from_dashboard(client, acme, people):
    ActivationCode.objects.create(account=acme, code="Ab3dEf7h", expires_at=timezone.now() + timedelta(hours=1))
    joiner = UserFactory()
    as_user(client, joiner)
    response = client.post("/accounts/activate/", {"activation_code": " Ab3dEf7h "})
    assert response["Location"] == f"/accounts/{acme.pk}/"
    membership = AccountMembership.objects.get(account=acme, user=joiner)
    assert membership.role == ARole.USER
    assert AuditLogEntry.objects.filter(object_pk=str(membership.pk), action=0, actor=joiner).exists()
    assert client.get(response["Location"]).status_code == 200


@pytest.mark.parametrize("code", ["WRONGONE", "short", ""])
def test_wrong_activation_code_is_a_field_error(client, acme, people, code):
    ActivationCode.objects.create(account=acme, code="Ab3dEf7h", expires_at=timezone.now() + timedelta(hours=1))
    as_user(client, people["outsider"])
    response = post_back(client, "/accounts/activate/", {"activation_code": code})
    assert response.status_code == 200
    assert "accounts/dashboard.html" in [t.name for t in response.templates]
    assert field_errors(response, "activation_form", "activation_code")
    assert not AccountMembership.objects.filter(account=acme, user=people["outsider"]).exists()
    # The rest of the dashboard is still there.
    assert "Other" in response.content.decode()


def test_expired_activation_code_is_a_field_error(client, acme, people):
    ActivationCode.objects.create(account=acme, code="Ab3dEf7h", expires_at=timezone.now() - timedelta(seconds=1))
    as_user(client, people["outsider"])
    response = post_back(client, "/accounts/activate/", {"activation_code": "Ab3dEf7h"})
    assert field_errors(response, "activation_form", "activation_code") == [
        "This activation code is wrong or has expired."]


def test_joining_twice_is_a_field_error(client, acme, people):
    ActivationCode.objects.create(account=acme, code="Ab3dEf7h", expires_at=timezone.now() + timedelta(hours=1))
    as_user(client, people["user"])
    response = post_back(client, "/accounts/activate/", {"activation_code": "Ab3dEf7h"})
    assert field_errors(response, "activation_form", "activation_code") == [
        "This user is already a member of this account."]


def test_activation_attempts_are_throttled(client, acme, people):
    from accounts.api.views import ActivationThrottle

    as_user(client, people["outsider"])
    limit, _ = ActivationThrottle().parse_rate(ActivationThrottle().get_rate())
    for _ in range(limit):
        client.post("/accounts/activate/", {"activation_code": "WRONGONE"})
    response = post_back(client, "/accounts/activate/", {"activation_code": "WRONGONE"})
    assert field_errors(response, "activation_form", "activation_code") == ["Too many attempts; try again later."]


def test_anonymous_activation_is_sent_to_login(client, acme):
    response = client.post("/accounts/activate/", {"activation_code": "Ab3dEf7h"})
    assert response["Location"] == "/login/?next=/"


# --------------------------------------------------------------------------- query counts


def _count_queries(client, url):
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


@pytest.mark.parametrize("caller", ["admin", "user"])
def test_account_page_query_count_is_fixed(client, acme, people, caller, django_assert_max_num_queries):
    as_user(client, people[caller])
    url = f"/accounts/{acme.pk}/"
    client.get(url)  # warm the session and content-type caches
    few = _count_queries(client, url)
    for number in range(27):
        member(acme, ARole.ADMIN if number % 5 == 0 else ARole.USER)
    for number in range(5):
        Utility.objects.create(account=acme, name=f"U{number}", billing_day=1)
    assert AccountMembership.objects.filter(account=acme).count() == 30
    with django_assert_max_num_queries(12):
        response = client.get(url)
    # A page of the members (issue 15: a long list is paged), counted over all of them.
    assert len(response.context["members"]) == MEMBERS_PAGE_SIZE
    assert response.context["page_obj"].paginator.count == 30
    assert _count_queries(client, url) == few


def test_history_query_count_is_fixed(client, acme, people, django_assert_max_num_queries):
    for number in range(60):
        Utility.objects.create(account=acme, name=f"U{number:02}", billing_day=1)
    as_user(client, people["admin"])
    client.get(f"/accounts/{acme.pk}/history/")
    with django_assert_max_num_queries(12):
        client.get(f"/accounts/{acme.pk}/history/")


def test_an_admin_sees_remove_buttons_and_the_add_form(client, acme, people):
    """The members table's shared pieces (templates/includes/member_*.html) as an account admin."""
    as_user(client, people["admin"])
    html = client.get(f"/accounts/{acme.pk}/").content.decode()
    plain = AccountMembership.objects.get(user=people["user"])
    assert f'href="/accounts/{acme.pk}/members/{plain.pk}/remove/"' in html  # asks first
    assert 'aria-label="Remove user@example.org from Acme"' in html
    assert f'action="/accounts/{acme.pk}/members/add/#members"' in html
    assert 'aria-labelledby="member-add-heading"' in html and 'id="member-add-heading"' in html
    assert f'action="/accounts/{acme.pk}/members/{plain.pk}/role/"' in html and f'id="role-{plain.pk}"' in html


@pytest.mark.parametrize("raw", ['{"a": 1' + "0" * 400 + "}", '{"a": ' + "9" * 5000 + "}"])
def test_huge_numbers_in_custom_attributes_are_a_field_error(client, world, raw):
    account, admin = world.account, world["account_admin"]
    client.force_login(admin)
    response = post_back(client, f"/accounts/{account.pk}/", {"name": account.name, "custom_attributes": raw,
                                                          "health_time_period": 86400})
    assert response.status_code == 200
    account.refresh_from_db()
    assert account.custom_attributes == {}


def test_refreshing_the_default_accounts_code_is_a_message(client, site_admin):
    default = Account.objects.get(is_default=True)
    client.force_login(site_admin)
    response = client.post(f"/accounts/{default.pk}/activation-code/refresh/")
    assert response.status_code == 302
