"""The admin site for account memberships: every write goes through the membership services."""

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import Account, AccountMembership, AuditLogEntry
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

Role = AccountMembership.Role
URL = "/admin/accounts/accountmembership/"
CREATE, UPDATE, DELETE = AuditLogEntry.Action.CREATE, AuditLogEntry.Action.UPDATE, AuditLogEntry.Action.DELETE


def entries_for(obj, action):
    return AuditLogEntry.objects.get_for_object(obj).filter(action=action)


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


@pytest.fixture
def world(db):
    """Northwind with an admin, a consultant and a user; Lakeside with one admin."""
    northwind = Account.objects.create(name="Northwind Energy")
    lakeside = Account.objects.create(name="Lakeside Solar")
    people = {role: UserFactory(email=f"{role}@northwind.example") for role in Role.values}
    memberships = {role: AccountMembership.objects.create(account=northwind, user=person, role=role)
                   for role, person in people.items()}
    lake_admin = AccountMembership.objects.create(account=lakeside, user=UserFactory(email="lake@example.org"),
                                                  role=Role.ADMIN)
    return {"northwind": northwind, "lakeside": lakeside, "people": people, "memberships": memberships,
            "lake_admin": lake_admin}


PAGES = [
    URL,
    URL + "?q=northwind.example",
    URL + "?q=lakeside",
    URL + "?role__exact=admin",
    URL + "?account__id__exact={northwind}",
    URL + "?o=2",
    URL + "add/",
    URL + "{membership}/change/",
    URL + "{membership}/history/",
    URL + "{membership}/auditlog/",
    URL + "{membership}/delete/",
    "/admin/autocomplete/?app_label=accounts&model_name=accountmembership&field_name=user&term=north",
    "/admin/autocomplete/?app_label=accounts&model_name=accountmembership&field_name=account&term=lake",
]


@pytest.mark.parametrize("template", PAGES)
def test_page_loads_for_site_admin(admin_client, world, template):
    path = template.format(northwind=world["northwind"].pk, membership=world["memberships"][Role.USER].pk)
    assert admin_client.get(path).status_code == 200, path


def test_search_and_filters_select_the_right_rows(admin_client, world):
    def emails(query):
        return {m.user.email for m in admin_client.get(URL + query).context["cl"].result_list}

    assert emails("?q=lakeside") == {"lake@example.org"}
    assert emails("?q=consultant@northwind") == {"consultant@northwind.example"}
    assert emails("?role__exact=admin") == {"admin@northwind.example", "lake@example.org"}
    assert emails(f"?account__id__exact={world['lakeside'].pk}") == {"lake@example.org"}


def test_list_selects_users_and_accounts_in_the_same_query(admin_client, world):
    with CaptureQueriesContext(connection) as few:
        admin_client.get(URL)
    for _ in range(5):
        AccountMembership.objects.create(account=Account.objects.create(name=f"Org {_}"), user=UserFactory())
    with CaptureQueriesContext(connection) as many:
        admin_client.get(URL)
    # The account filter lists accounts with members: one query, however many there are.
    assert len(many) == len(few)


def test_add_and_change_forms_use_autocomplete(admin_client, world):
    page = admin_client.get(URL + "add/").content.decode()
    assert page.count("admin-autocomplete") >= 2


def test_add_goes_through_the_service_and_is_audited(admin_client, site_admin, world):
    newcomer = UserFactory()
    response = admin_client.post(URL + "add/", {"user": newcomer.pk, "account": world["northwind"].pk,
                                                "role": Role.CONSULTANT})
    assert response.status_code == 302
    membership = AccountMembership.objects.get(user=newcomer, account=world["northwind"])
    assert membership.role == Role.CONSULTANT
    entry = entries_for(membership, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk


def test_a_duplicate_is_a_form_error(admin_client, world):
    count = AccountMembership.objects.count()
    response = admin_client.post(URL + "add/", {"user": world["people"][Role.USER].pk,
                                                "account": world["northwind"].pk, "role": Role.ADMIN})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert AccountMembership.objects.count() == count


def test_change_form_changes_only_the_role(admin_client, site_admin, world):
    membership = world["memberships"][Role.USER]
    form = admin_client.get(f"{URL}{membership.pk}/change/").context["adminform"].form
    assert set(form.fields) == {"role"}
    response = admin_client.post(f"{URL}{membership.pk}/change/", {
        "role": Role.ADMIN, "user": UserFactory().pk, "account": world["lakeside"].pk,
    })
    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert membership.user == world["people"][Role.USER] and membership.account == world["northwind"]
    assert entries_for(membership, UPDATE).get().actor == site_admin


def test_demoting_the_last_admin_is_a_message_and_changes_nothing(admin_client, world):
    membership = world["memberships"][Role.ADMIN]
    count = AuditLogEntry.objects.count()
    response = admin_client.post(f"{URL}{membership.pk}/change/", {"role": Role.USER}, follow=True)
    assert response.status_code == 200
    assert any("last admin" in m for m in messages_of(response))
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    assert AuditLogEntry.objects.count() == count


def test_removing_the_last_admin_is_a_message_and_changes_nothing(admin_client, world):
    membership = world["memberships"][Role.ADMIN]
    response = admin_client.post(f"{URL}{membership.pk}/delete/", {"post": "yes"}, follow=True)
    assert any("last admin" in m for m in messages_of(response))
    assert AccountMembership.objects.filter(pk=membership.pk).exists()


def test_bulk_delete_that_would_leave_no_admin_deletes_nothing(admin_client, world):
    # The newest row is deleted first, so the refusal comes after a delete that must be undone.
    newest = AccountMembership.objects.create(account=world["northwind"], user=UserFactory())
    targets = [newest, world["memberships"][Role.ADMIN]]
    count = AuditLogEntry.objects.count()
    response = admin_client.post(URL, {
        "action": "delete_selected", "post": "yes", "_selected_action": [str(m.pk) for m in targets],
    }, follow=True)
    assert response.status_code == 200
    assert any("last admin" in m for m in messages_of(response))
    assert AccountMembership.objects.filter(pk__in=[m.pk for m in targets]).count() == 2
    assert AuditLogEntry.objects.count() == count


def test_delete_goes_through_the_service_and_is_audited(admin_client, site_admin, world):
    membership = world["memberships"][Role.CONSULTANT]
    response = admin_client.post(f"{URL}{membership.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccountMembership.objects.filter(pk=membership.pk).exists()
    entry = entries_for(membership, DELETE).get()
    assert entry.actor == site_admin and entry.account_id == world["northwind"].pk


@pytest.fixture
def staff_client(client):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(
        content_type__app_label__in=["accounts", "memberships"],
        codename__in=["view_user", "view_account", "view_accountmembership", "add_accountmembership",
                      "change_accountmembership", "delete_accountmembership"],
    ))
    client.force_login(staff)
    return client


def test_staff_cannot_demote_or_remove_another_admin(staff_client, world):
    AccountMembership.objects.create(account=world["northwind"], user=UserFactory(), role=Role.ADMIN)
    membership = world["memberships"][Role.ADMIN]
    response = staff_client.post(f"{URL}{membership.pk}/change/", {"role": Role.USER}, follow=True)
    assert any("Only site admins" in m for m in messages_of(response))
    response = staff_client.post(f"{URL}{membership.pk}/delete/", {"post": "yes"}, follow=True)
    assert any("Only site admins" in m for m in messages_of(response))
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_staff_may_promote_and_remove_ordinary_members(staff_client, world):
    membership = world["memberships"][Role.USER]
    assert staff_client.post(f"{URL}{membership.pk}/change/", {"role": Role.ADMIN}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == Role.ADMIN
    consultant = world["memberships"][Role.CONSULTANT]
    assert staff_client.post(f"{URL}{consultant.pk}/delete/", {"post": "yes"}).status_code == 302
    assert not AccountMembership.objects.filter(pk=consultant.pk).exists()
