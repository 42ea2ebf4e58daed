"""The admin site for users, roles, contacts, bearer sessions, the audit log, accounts,
account roles and activation codes."""

import json
import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts import services as account_services
from accounts.models import (
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    AuditLogEntry,
    Contact,
    Role,
    Session,
    User,
    hash_token,
)
from core.errors import Conflict
from memberships.models import Utility
from tests.factories import PASSWORD, ContactFactory, RoleFactory, UserFactory

pytestmark = pytest.mark.django_db

CREATE, UPDATE, DELETE = AuditLogEntry.Action.CREATE, AuditLogEntry.Action.UPDATE, AuditLogEntry.Action.DELETE


def make_session(user, *, expired=False, token=None):
    now = timezone.now()
    expires = now - timedelta(minutes=1) if expired else now + timedelta(hours=8)
    return Session.objects.create(
        user=user,
        key_hash=hash_token(token or secrets.token_urlsafe(32)),
        expires_at=expires,
        absolute_expires_at=now + timedelta(days=30),
        user_agent="pytest",
        ip_address="192.0.2.7",
    )


def entries_for(obj, action=None, after=0):
    """Audit entries about obj, only those written after the entry numbered `after`."""
    entries = AuditLogEntry.objects.get_for_object(obj).filter(pk__gt=after)
    return entries.filter(action=action) if action is not None else entries


def last_entry():
    return AuditLogEntry.objects.order_by("-pk").values_list("pk", flat=True).first() or 0


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


@pytest.fixture
def population(site_admin):
    """One of everything the admin shows, so change pages and filters have rows."""
    role = RoleFactory(name="Support agent", permissions=["accounts.view_user"])
    alice = UserFactory(email="alice@example.org", username="alice")
    bob = UserFactory(email="bob@example.org", username="bob")
    alice.roles.add(role)
    contact = ContactFactory(owner=alice, contact=bob)
    live = make_session(alice)
    expired = make_session(bob, expired=True)
    return {"role": role, "alice": alice, "bob": bob, "contact": contact, "live": live, "expired": expired}


def user_change_data(user, **overrides):
    """A complete POST for the user change form, as the browser would send it."""
    data = {
        "email": user.email,
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "strategy": user.strategy,
        "is_active": "on" if user.is_active else "",
        "is_staff": "on" if user.is_staff else "",
        "is_superuser": "on" if user.is_superuser else "",
        "roles": [str(pk) for pk in user.roles.values_list("pk", flat=True)],
        "contact_entries-TOTAL_FORMS": "0",
        "contact_entries-INITIAL_FORMS": "0",
        "contact_entries-MIN_NUM_FORMS": "0",
        "contact_entries-MAX_NUM_FORMS": "1000",
    }
    existing = list(Contact.objects.filter(owner=user).order_by("id"))
    data["contact_entries-TOTAL_FORMS"] = data["contact_entries-INITIAL_FORMS"] = str(len(existing))
    for index, entry in enumerate(existing):
        data[f"contact_entries-{index}-id"] = str(entry.pk)
        data[f"contact_entries-{index}-owner"] = str(user.pk)
        data[f"contact_entries-{index}-contact"] = str(entry.contact_id)
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


# --------------------------------------------------------------------------- access


def test_anonymous_is_sent_to_the_admin_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_non_staff_user_is_redirected_away_from_admin(client, user):
    client.force_login(user)
    for path in ("/admin/", "/admin/accounts/user/", f"/admin/accounts/user/{user.pk}/change/"):
        response = client.get(path)
        assert response.status_code == 302, path
        assert response["Location"].startswith("/admin/login/"), path


def test_admin_index_lists_every_accounts_model(admin_client):
    response = admin_client.get("/admin/")
    assert response.status_code == 200
    for name in ("user", "role", "contact", "session", "auditlogentry"):
        assert f"/admin/accounts/{name}/" in response.content.decode()


def test_guardian_admin_integration_still_imports(admin_client):
    from guardian.admin import GuardedModelAdminMixin  # noqa: F401

    assert admin_client.get("/admin/").status_code == 200


# --------------------------------------------------------------------------- every page loads


PAGES = [
    # changelists, with search and every filter
    "/admin/accounts/user/",
    "/admin/accounts/user/?q=alice",
    "/admin/accounts/user/?is_active__exact=1",
    "/admin/accounts/user/?is_superuser__exact=0",
    "/admin/accounts/user/?is_staff__exact=0",
    "/admin/accounts/user/?strategy__exact=local",
    "/admin/accounts/user/?roles__id__exact={role}",
    "/admin/accounts/user/add/",
    "/admin/accounts/user/{alice}/change/",
    "/admin/accounts/user/{alice}/password/",
    "/admin/accounts/user/{alice}/history/",
    "/admin/accounts/user/{alice}/auditlog/",
    "/admin/accounts/user/{alice}/delete/",
    "/admin/accounts/role/",
    "/admin/accounts/role/?q=support",
    "/admin/accounts/role/?o=3",
    "/admin/accounts/role/add/",
    "/admin/accounts/role/{role}/change/",
    "/admin/accounts/role/{role}/history/",
    "/admin/accounts/role/{role}/delete/",
    "/admin/accounts/contact/",
    "/admin/accounts/contact/?q=bob@example",
    "/admin/accounts/contact/add/",
    "/admin/accounts/contact/{contact}/change/",
    "/admin/accounts/contact/{contact}/history/",
    "/admin/accounts/contact/{contact}/delete/",
    "/admin/accounts/session/",
    "/admin/accounts/session/?q=alice",
    "/admin/accounts/session/?status=live",
    "/admin/accounts/session/?status=expired",
    "/admin/accounts/session/{live}/change/",
    "/admin/accounts/session/{live}/history/",
    "/admin/accounts/session/{live}/delete/",
    "/admin/accounts/auditlogentry/",
    "/admin/accounts/auditlogentry/?q=alice",
    "/admin/accounts/auditlogentry/?action__exact=0",
    "/admin/accounts/auditlogentry/?content_type__id__exact={user_type}",
    "/admin/accounts/auditlogentry/?actor__id__exact={admin}",
    "/admin/accounts/auditlogentry/{entry}/change/",
    "/admin/autocomplete/?app_label=accounts&model_name=contact&field_name=contact&term=bob",
]


@pytest.mark.parametrize("template", PAGES)
def test_admin_page_loads_for_site_admin(admin_client, site_admin, population, template):
    entry = entries_for(population["alice"]).first()
    path = template.format(
        role=population["role"].pk, alice=population["alice"].pk, contact=population["contact"].pk,
        live=population["live"].pk, entry=entry.pk, admin=site_admin.pk,
        user_type=ContentType.objects.get_for_model(User).pk,
    )
    response = admin_client.get(path)
    assert response.status_code == 200, path


def test_search_and_filters_select_the_right_rows(admin_client, population):
    page = admin_client.get("/admin/accounts/user/?q=alice").content.decode()
    assert "alice@example.org" in page and "bob@example.org" not in page
    page = admin_client.get("/admin/accounts/session/?status=live").content.decode()
    assert "alice@example.org" in page and "bob@example.org" not in page
    page = admin_client.get("/admin/accounts/session/?status=expired").content.decode()
    assert "bob@example.org" in page and "alice@example.org" not in page


def test_history_button_shows_the_audit_log(admin_client, population):
    response = admin_client.get(f"/admin/accounts/user/{population['alice'].pk}/history/")
    assert response.status_code == 200
    assert response.templates[0].name == "auditlog/object_history.html"
    assert list(response.context["log_entries"]) == list(entries_for(population["alice"]).order_by("-timestamp"))


# --------------------------------------------------------------------------- users


def test_add_form_derives_the_username_from_the_email(admin_client, site_admin):
    UserFactory(email="taken@example.com", username="newcomer")
    response = admin_client.post("/admin/accounts/user/add/", {
        "email": "Newcomer@Example.org", "username": "", "first_name": "New", "last_name": "Comer",
        "strategy": "local", "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    created = User.objects.get(email="newcomer@example.org")
    assert created.username == "newcomer2"
    assert created.check_password(PASSWORD)
    assert response["Location"] == reverse("admin:accounts_user_change", args=[created.pk])
    entry = entries_for(created, CREATE).get()
    assert entry.actor == site_admin


def test_add_form_keeps_a_given_username(admin_client):
    response = admin_client.post("/admin/accounts/user/add/", {
        "email": "given@example.org", "username": "chosen-name", "strategy": "local",
        "password1": PASSWORD, "password2": PASSWORD,
    })
    assert response.status_code == 302
    assert User.objects.get(email="given@example.org").username == "chosen-name"


def test_add_form_creates_an_ldap_user_without_a_password(admin_client):
    response = admin_client.post("/admin/accounts/user/add/", {"email": "dir@example.org", "strategy": "ldap"})
    assert response.status_code == 302
    created = User.objects.get(email="dir@example.org")
    assert created.strategy == "ldap" and not created.has_usable_password()


@pytest.mark.parametrize("data, field", [
    ({"email": "x@example.org", "strategy": "local"}, "password1"),
    ({"email": "x@example.org", "strategy": "ldap", "password1": PASSWORD, "password2": PASSWORD}, "password1"),
    ({"email": "x@example.org", "strategy": "local", "password1": PASSWORD, "password2": "other"}, "password2"),
    ({"email": "x@example.org", "strategy": "local", "password1": "12345678", "password2": "12345678"},
     "password2"),
    ({"email": "ALICE@example.org", "strategy": "local", "password1": PASSWORD, "password2": PASSWORD}, "email"),
    ({"email": "x@example.org", "username": "ALICE", "strategy": "local", "password1": PASSWORD,
      "password2": PASSWORD}, "username"),
])
def test_add_form_shows_errors_in_place(admin_client, population, data, field):
    count = User.objects.count()
    response = admin_client.post("/admin/accounts/user/add/", data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert User.objects.count() == count


def test_change_form_writes_are_audited_with_the_admin_as_actor(admin_client, site_admin, population):
    alice = population["alice"]
    mark = last_entry()
    response = admin_client.post(f"/admin/accounts/user/{alice.pk}/change/",
                                 user_change_data(alice, first_name="Alicia", is_staff="on"))
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.first_name == "Alicia" and alice.is_staff
    updates = entries_for(alice, UPDATE, after=mark)
    assert updates.exists()
    assert {entry.actor for entry in updates} == {site_admin}
    changed = set().union(*(entry.changes_dict for entry in updates))
    assert {"first_name", "is_staff"} <= changed


def test_change_form_sets_roles(admin_client, site_admin, population):
    bob, role = population["bob"], population["role"]
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/change/", user_change_data(bob, roles=[role.pk]))
    assert response.status_code == 302
    assert list(bob.roles.all()) == [role]
    assert bob.has_perm("accounts.view_user")
    assert entries_for(bob, UPDATE).filter(actor=site_admin).exists()


def test_deactivating_in_the_change_form_ends_bearer_sessions(admin_client, population):
    alice = population["alice"]
    response = admin_client.post(f"/admin/accounts/user/{alice.pk}/change/", user_change_data(alice, is_active=""))
    assert response.status_code == 302
    alice.refresh_from_db()
    assert not alice.is_active
    assert not Session.objects.filter(user=alice).exists()


def test_a_taken_username_is_a_form_error_not_a_500(admin_client, population):
    bob = population["bob"]
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/change/", user_change_data(bob, username="Alice"))
    assert response.status_code == 200
    assert "username" in response.context["adminform"].form.errors


def test_admin_cannot_lock_themselves_out_in_the_change_form(admin_client, site_admin):
    response = admin_client.get(f"/admin/accounts/user/{site_admin.pk}/change/")
    form = response.context["adminform"].form
    for field in ("is_active", "is_superuser", "is_staff", "email"):
        assert field not in form.fields


def test_ldap_user_switches_to_local_with_a_new_password(admin_client, site_admin):
    person = UserFactory(strategy="ldap")
    person.set_unusable_password()
    person.save()
    page = admin_client.get(f"/admin/accounts/user/{person.pk}/change/")
    assert page.status_code == 200
    assert "local_password1" in page.context["adminform"].form.fields
    data = user_change_data(person, strategy="local")
    response = admin_client.post(f"/admin/accounts/user/{person.pk}/change/", data)
    assert response.status_code == 200
    assert "local_password1" in response.context["adminform"].form.errors

    data.update(local_password1=PASSWORD, local_password2=PASSWORD)
    response = admin_client.post(f"/admin/accounts/user/{person.pk}/change/", data)
    assert response.status_code == 302
    person.refresh_from_db()
    assert person.strategy == "local" and person.check_password(PASSWORD)


def test_password_form_changes_the_password_and_ends_bearer_sessions(admin_client, site_admin, population):
    alice = population["alice"]
    mark = last_entry()
    new_password = "a brand new passphrase"
    response = admin_client.post(f"/admin/accounts/user/{alice.pk}/password/",
                                 {"password1": new_password, "password2": new_password, "usable_password": "true"})
    assert response.status_code == 302
    alice.refresh_from_db()
    assert alice.check_password(new_password)
    assert not Session.objects.filter(user=alice).exists()
    entry = entries_for(alice, UPDATE, after=mark).get()
    assert "password" in entry.changes_dict
    assert entry.actor == site_admin
    assert new_password not in str(entry.changes) and alice.password not in str(entry.changes)


def test_password_form_is_refused_for_ldap_users(admin_client):
    person = UserFactory(strategy="ldap")
    response = admin_client.get(f"/admin/accounts/user/{person.pk}/password/")
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:accounts_user_change", args=[person.pk])


def test_contacts_inline_adds_and_removes_entries_through_services(admin_client, site_admin, population):
    alice, bob = population["alice"], population["bob"]
    carol = UserFactory(email="carol@example.org")
    data = user_change_data(alice)
    data.update({
        "contact_entries-0-DELETE": "on",
        "contact_entries-TOTAL_FORMS": "2",
        "contact_entries-1-owner": str(alice.pk),
        "contact_entries-1-contact": str(carol.pk),
    })
    response = admin_client.post(f"/admin/accounts/user/{alice.pk}/change/", data)
    assert response.status_code == 302
    assert list(Contact.objects.filter(owner=alice).values_list("contact", flat=True)) == [carol.pk]
    created = Contact.objects.get(owner=alice, contact=carol)
    assert entries_for(created, CREATE).get().actor == site_admin
    assert AuditLogEntry.objects.filter(action=DELETE, content_type__model="contact", actor=site_admin,
                                        object_repr__contains=f"→ {bob.email}").exists()


def test_deleting_a_user_in_the_admin(admin_client, site_admin, population):
    bob = population["bob"]
    response = admin_client.post(f"/admin/accounts/user/{bob.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not User.objects.filter(pk=bob.pk).exists()
    assert AuditLogEntry.objects.filter(action=DELETE, object_pk=str(bob.pk), content_type__model="user",
                                        actor=site_admin).exists()


# --------------------------------------------------------------------------- the deactivate action


def deactivate(client, users, asks=True):
    """The action asks first (a confirmation page that changes nothing), then deactivates;
    `asks=False`: for a caller who may not, no question either (the confirmed POST is sent anyway)."""
    selected = {"action": "deactivate_users", "_selected_action": [str(u.pk) for u in users]}
    active = {u.pk: User.objects.get(pk=u.pk).is_active for u in users}
    asked = client.post("/admin/accounts/user/", selected)
    assert ("Yes, deactivate" in asked.content.decode()) is asks
    assert {u.pk: User.objects.get(pk=u.pk).is_active for u in users} == active
    return client.post("/admin/accounts/user/", {**selected, "post": "yes"}, follow=True)


def test_deactivate_action_deactivates_ends_sessions_and_is_audited(admin_client, site_admin, population):
    alice, bob = population["alice"], population["bob"]
    sessions = [population["live"].pk, population["expired"].pk, make_session(alice).pk]
    mark = last_entry()

    response = deactivate(admin_client, [alice, bob])

    assert response.status_code == 200
    alice.refresh_from_db()
    bob.refresh_from_db()
    assert not alice.is_active and not bob.is_active
    assert not Session.objects.filter(pk__in=sessions).exists()
    for person in (alice, bob):
        entry = entries_for(person, UPDATE, after=mark).get()
        assert entry.actor == site_admin
        assert [str(value) for value in entry.changes_dict["is_active"]] == ["True", "False"]
    session_type = ContentType.objects.get_for_model(Session)
    ended = AuditLogEntry.objects.filter(content_type=session_type, action=DELETE,
                                         object_pk__in=[str(pk) for pk in sessions])
    assert ended.count() == 3
    assert {entry.actor for entry in ended} == {site_admin}
    messages = [str(m) for m in response.context["messages"]]
    assert any("Deactivated 2 users" in m for m in messages)


def test_deactivate_action_skips_oneself(admin_client, site_admin, population):
    own = make_session(site_admin)
    response = deactivate(admin_client, [site_admin, population["alice"]])
    site_admin.refresh_from_db()
    assert site_admin.is_active
    assert Session.objects.filter(pk=own.pk).exists()
    assert not User.objects.get(pk=population["alice"].pk).is_active
    messages = [str(m) for m in response.context["messages"]]
    assert any("cannot deactivate yourself" in m for m in messages)


def test_deactivate_action_is_for_site_admins_only(client, population):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(staff)
    response = client.get("/admin/accounts/user/")
    assert response.status_code == 200
    assert "deactivate_users" not in response.content.decode()
    deactivate(client, [population["alice"]], asks=False)
    assert User.objects.get(pk=population["alice"].pk).is_active


def test_staff_without_site_admin_cannot_touch_site_admins_or_grant_privileges(client, site_admin, population):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_user", "change_user"]))
    client.force_login(staff)
    response = client.get(f"/admin/accounts/user/{site_admin.pk}/password/")
    assert response.status_code == 403
    response = client.get(f"/admin/accounts/user/{population['bob'].pk}/change/")
    form = response.context["adminform"].form
    for field in ("is_superuser", "is_staff", "is_active", "roles", "strategy"):
        assert field not in form.fields


# --------------------------------------------------------------------------- roles


def test_role_add_goes_through_the_service_and_is_audited(admin_client, site_admin):
    permissions = Permission.objects.filter(content_type__app_label="accounts",
                                            codename__in=["view_user", "add_user"])
    response = admin_client.post("/admin/accounts/role/add/", {
        "name": "Onboarding", "description": "Adds people.", "permissions": [p.pk for p in permissions],
    })
    assert response.status_code == 302
    role = Role.objects.get(name="Onboarding")
    assert set(role.permissions.all()) == set(permissions)
    assert entries_for(role, CREATE).get().actor == site_admin


def test_role_change_and_delete(admin_client, site_admin, population):
    role = population["role"]
    mark = last_entry()
    response = admin_client.post(f"/admin/accounts/role/{role.pk}/change/", {
        "name": "Support lead", "description": "", "permissions": [],
    })
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.name == "Support lead" and not role.permissions.exists()
    assert {entry.actor for entry in entries_for(role, UPDATE, after=mark)} == {site_admin}

    response = admin_client.post(f"/admin/accounts/role/{role.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()
    assert entries_for(role, DELETE).get().actor == site_admin


def test_a_service_refusal_at_save_time_is_a_message_not_a_500(admin_client, population, monkeypatch):
    from accounts import services
    from core.errors import Conflict

    def refuse(**kwargs):
        raise Conflict("This role is still needed.")

    monkeypatch.setattr(services, "role_delete", refuse)
    role = population["role"]
    response = admin_client.post(f"/admin/accounts/role/{role.pk}/delete/", {"post": "yes"}, follow=True)
    assert response.status_code == 200
    assert "This role is still needed." in [str(m) for m in response.context["messages"]]
    assert Role.objects.filter(pk=role.pk).exists()


def test_role_name_taken_in_another_case_is_a_form_error(admin_client, population):
    response = admin_client.post("/admin/accounts/role/add/", {"name": "SUPPORT AGENT", "description": ""})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors


def test_role_list_counts_users_without_a_query_per_row(admin_client, population):
    population["bob"].roles.add(population["role"])
    page = admin_client.get("/admin/accounts/role/")
    assert page.context["cl"].result_list[0].user_count == 2

    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/accounts/role/")
    for _ in range(5):
        role = RoleFactory()
        UserFactory().roles.add(role)
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/accounts/role/")
    assert len(many) == len(few)


# --------------------------------------------------------------------------- contacts


def test_contact_add_goes_through_the_service(admin_client, site_admin, population):
    alice = population["alice"]
    carol = UserFactory()
    response = admin_client.post("/admin/accounts/contact/add/", {"owner": alice.pk, "contact": carol.pk})
    assert response.status_code == 302
    contact = Contact.objects.get(owner=alice, contact=carol)
    assert entries_for(contact, CREATE).get().actor == site_admin


@pytest.mark.parametrize("target", ["alice", "bob"])
def test_contact_add_refuses_self_and_duplicates_in_place(admin_client, population, target):
    count = Contact.objects.count()
    response = admin_client.post("/admin/accounts/contact/add/",
                                 {"owner": population["alice"].pk, "contact": population[target].pk})
    assert response.status_code == 200
    assert response.context["adminform"].form.errors
    assert Contact.objects.count() == count


def test_contact_admin_uses_autocomplete(admin_client):
    page = admin_client.get("/admin/accounts/contact/add/").content.decode()
    assert page.count("admin-autocomplete") >= 2


# --------------------------------------------------------------------------- bearer sessions


def test_session_admin_never_shows_the_token_hash(admin_client, population):
    session = population["live"]
    for path in ("/admin/accounts/session/", f"/admin/accounts/session/{session.pk}/change/",
                 f"/admin/accounts/session/{session.pk}/history/", f"/admin/accounts/session/{session.pk}/delete/"):
        page = admin_client.get(path).content.decode()
        assert session.key_hash not in page, path
        assert "key_hash" not in page and "Key hash" not in page, path


def test_session_admin_is_read_only_but_revokes(admin_client, site_admin, population):
    session = population["live"]
    assert admin_client.get("/admin/accounts/session/add/").status_code == 403
    response = admin_client.post(f"/admin/accounts/session/{session.pk}/change/", {"user_agent": "changed"})
    assert response.status_code == 403
    session.refresh_from_db()
    assert session.user_agent == "pytest"

    response = admin_client.post(f"/admin/accounts/session/{session.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Session.objects.filter(pk=session.pk).exists()
    assert entries_for(session, DELETE).get().actor == site_admin


def test_session_list_selects_users_in_the_same_query(admin_client, population):
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/accounts/session/")
    for _ in range(5):
        make_session(UserFactory())
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/accounts/session/")
    assert len(many) == len(few)


# --------------------------------------------------------------------------- the audit log


def test_audit_log_admin_is_read_only(admin_client, population):
    entry = entries_for(population["alice"]).first()
    assert admin_client.get("/admin/accounts/auditlogentry/add/").status_code == 403
    assert admin_client.get(f"/admin/accounts/auditlogentry/{entry.pk}/delete/").status_code == 403
    response = admin_client.post(f"/admin/accounts/auditlogentry/{entry.pk}/change/", {"object_repr": "forged"})
    assert response.status_code == 403
    entry.refresh_from_db()
    assert entry.object_repr != "forged"
    page = admin_client.get("/admin/accounts/auditlogentry/").content.decode()
    assert "delete_selected" not in page


def test_audit_log_admin_is_ours_not_auditlogs(admin_client):
    from django.contrib import admin

    from accounts.admin import AuditLogEntryAdmin

    assert isinstance(admin.site._registry[AuditLogEntry], AuditLogEntryAdmin)


def test_audit_log_search_by_actor_email(admin_client, site_admin, population):
    admin_client.post("/admin/accounts/role/add/", {"name": "Searchable", "description": ""})
    response = admin_client.get(f"/admin/accounts/auditlogentry/?q={site_admin.email}")
    results = list(response.context["cl"].result_list)
    # Entries the admin wrote, and entries about the admin (whose repr is their email).
    assert {entry.object_repr for entry in results if entry.actor == site_admin} == {"Searchable"}
    assert all(entry.actor == site_admin or entry.object_repr == site_admin.email for entry in results)
    response = admin_client.get("/admin/accounts/auditlogentry/?q=Searchable")
    assert [entry.object_repr for entry in response.context["cl"].result_list] == ["Searchable"]


# =========================================================================== accounts

ADMIN, CONSULTANT, USER = AccountMembership.Role.ADMIN, AccountMembership.Role.CONSULTANT, AccountMembership.Role.USER


@pytest.fixture
def accounts_world(site_admin):
    """A consultancy, a client account with an admin, a consultant and a user, an account role,
    and the client's activation code."""
    supplier = AccountRole.objects.create(name="Supplier", description="Sells energy.")
    consultancy = Account.objects.create(name="Gridwise Consulting")
    account = Account.objects.create(name="Northwind Energy", consultancy_account=consultancy)
    account.account_roles.add(supplier)
    other = Account.objects.create(name="Lakeside Solar")
    people = {role: UserFactory(email=f"{role}@northwind.example") for role in (ADMIN, CONSULTANT, USER)}
    memberships = {role: AccountMembership.objects.create(account=account, user=person, role=role)
                   for role, person in people.items()}
    AccountMembership.objects.create(account=other, user=UserFactory(email="lake@example.org"), role=ADMIN)
    code = account_services.activation_code_refresh(actor=site_admin, account=account)
    return {"supplier": supplier, "consultancy": consultancy, "account": account, "other": other,
            "people": people, "memberships": memberships, "code": code,
            "default": Account.objects.get(is_default=True)}


def inline_data(account, **changes):
    """A complete POST for the account change form; `changes` override fields, and
    `members` replaces the inline rows: a list of dicts with id/user/role/DELETE."""
    members = changes.pop("members", None)
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
    existing = list(AccountMembership.objects.filter(account=account).order_by("id"))
    if members is None:
        members = [{"id": m.pk, "user": m.user_id, "role": m.role} for m in existing]
    prefix = "account_memberships"
    data[f"{prefix}-TOTAL_FORMS"] = str(len(members))
    data[f"{prefix}-INITIAL_FORMS"] = str(sum(1 for row in members if row.get("id")))
    data[f"{prefix}-MIN_NUM_FORMS"] = "0"
    data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
    for index, row in enumerate(members):
        if row.get("id"):
            data[f"{prefix}-{index}-id"] = str(row["id"])
        data[f"{prefix}-{index}-account"] = str(account.pk)
        data[f"{prefix}-{index}-user"] = str(row["user"])
        data[f"{prefix}-{index}-role"] = row["role"]
        if row.get("DELETE"):
            data[f"{prefix}-{index}-DELETE"] = "on"
    # The utilities inline, unchanged (tests/memberships/test_utility_admin.py changes it).
    utilities = list(Utility.objects.filter(account=account).order_by("name", "id"))
    prefix = "utilities"
    data[f"{prefix}-TOTAL_FORMS"] = data[f"{prefix}-INITIAL_FORMS"] = str(len(utilities))
    data[f"{prefix}-MIN_NUM_FORMS"] = "0"
    data[f"{prefix}-MAX_NUM_FORMS"] = "1000"
    for index, utility in enumerate(utilities):
        data[f"{prefix}-{index}-id"] = str(utility.pk)
        data[f"{prefix}-{index}-account"] = str(account.pk)
        data[f"{prefix}-{index}-name"] = utility.name
        data[f"{prefix}-{index}-billing_day"] = str(utility.billing_day)
        if utility.subscriber_seats is not None:
            data[f"{prefix}-{index}-subscriber_seats"] = str(utility.subscriber_seats)
    return {key: value for key, value in data.items() if value != ""}


def messages_of(response):
    return [str(m) for m in response.context["messages"]]


ACCOUNT_PAGES = [
    "/admin/accounts/account/",
    "/admin/accounts/account/?q=north",
    "/admin/accounts/account/?account_roles__id__exact={supplier}",
    "/admin/accounts/account/?consultancy_account__id__exact={consultancy}",
    "/admin/accounts/account/?is_default__exact=1",
    "/admin/accounts/account/?o=3",
    "/admin/accounts/account/add/",
    "/admin/accounts/account/{account}/change/",
    "/admin/accounts/account/{default}/change/",
    "/admin/accounts/account/{account}/history/",
    "/admin/accounts/account/{account}/auditlog/",
    "/admin/accounts/account/{account}/delete/",
    "/admin/accounts/account/{account}/permissions/",
    "/admin/accounts/account/{account}/permissions/user-manage/{admin_user}/",
    "/admin/autocomplete/?app_label=accounts&model_name=account&field_name=consultancy_account&term=grid",
    "/admin/accounts/accountrole/",
    "/admin/accounts/accountrole/?q=supp",
    "/admin/accounts/accountrole/?o=3",
    "/admin/accounts/accountrole/add/",
    "/admin/accounts/accountrole/{supplier}/change/",
    "/admin/accounts/accountrole/{supplier}/history/",
    "/admin/accounts/accountrole/{supplier}/delete/",
    "/admin/accounts/activationcode/",
    "/admin/accounts/activationcode/?q=north",
    "/admin/accounts/activationcode/?status=valid",
    "/admin/accounts/activationcode/?status=expired",
    "/admin/accounts/activationcode/{account}/change/",
    "/admin/accounts/activationcode/{account}/history/",
    "/admin/accounts/activationcode/{account}/delete/",
    "/admin/accounts/auditlogentry/?account_id={account}",
]


def account_path(template, world):
    return template.format(
        supplier=world["supplier"].pk, consultancy=world["consultancy"].pk, account=world["account"].pk,
        default=world["default"].pk, admin_user=world["people"][ADMIN].pk,
    )


@pytest.mark.parametrize("template", ACCOUNT_PAGES)
def test_account_admin_page_loads_for_site_admin(admin_client, accounts_world, template):
    path = account_path(template, accounts_world)
    response = admin_client.get(path)
    assert response.status_code == 200, path


def test_admin_index_lists_the_account_models(admin_client):
    page = admin_client.get("/admin/").content.decode()
    for path in ("/admin/accounts/account/", "/admin/accounts/accountrole/", "/admin/accounts/activationcode/",
                 "/admin/accounts/accountmembership/"):
        assert path in page


def test_account_search_and_filters_select_the_right_rows(admin_client, accounts_world):
    def names(query):
        return {a.name for a in admin_client.get(f"/admin/accounts/account/{query}").context["cl"].result_list}

    assert names("?q=NORTH") == {"Northwind Energy"}
    assert names(f"?account_roles__id__exact={accounts_world['supplier'].pk}") == {"Northwind Energy"}
    assert names(f"?consultancy_account__id__exact={accounts_world['consultancy'].pk}") == {"Northwind Energy"}
    assert names("?is_default__exact=1") == {accounts_world["default"].name}


def test_account_list_counts_members_without_a_query_per_row(admin_client, accounts_world):
    page = admin_client.get("/admin/accounts/account/?q=northwind")
    assert page.context["cl"].result_list[0].member_count == 3
    assert page.context["cl"].result_list[0].utility_count == 0

    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/accounts/account/")
    for number in range(5):
        account = Account.objects.create(name=f"Extra {number}", consultancy_account=accounts_world["consultancy"])
        AccountMembership.objects.create(account=account, user=UserFactory(), role=ADMIN)
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/accounts/account/")
    assert len(many) == len(few)


def test_account_change_page_costs_the_same_for_more_members(admin_client, accounts_world):
    account = accounts_world["account"]
    path = f"/admin/accounts/account/{account.pk}/change/"
    with CaptureQueriesContext(connection) as few:
        admin_client.get(path)
    for _ in range(5):
        AccountMembership.objects.create(account=account, user=UserFactory(), role=USER)
    with CaptureQueriesContext(connection) as many:
        admin_client.get(path)
    assert len(many) == len(few)


# --------------------------------------------------------------------------- account add / change / delete


def test_account_add_goes_through_the_service_and_makes_the_admin_its_admin(admin_client, site_admin,
                                                                            accounts_world):
    consultancy, supplier = accounts_world["consultancy"], accounts_world["supplier"]
    data = inline_data(accounts_world["other"], name="Alpine Power", consultancy_account=consultancy.pk,
                       account_roles=[supplier.pk], primary_color="#112233", members=[])
    response = admin_client.post("/admin/accounts/account/add/", data)
    assert response.status_code == 302, response.context and response.context["adminform"].form.errors
    account = Account.objects.get(name="Alpine Power")
    assert response["Location"] == reverse("admin:accounts_account_change", args=[account.pk])
    assert account.consultancy_account == consultancy and list(account.account_roles.all()) == [supplier]
    assert account.primary_color == "#112233"
    assert AccountMembership.objects.get(account=account).user == site_admin
    assert AccountMembership.objects.get(account=account).role == ADMIN
    assert entries_for(account, CREATE).get().actor == site_admin
    created = AuditLogEntry.objects.filter(account_id=account.pk, content_type__model="accountmembership")
    assert created.get().actor == site_admin


def test_account_add_form_has_no_members_inline(admin_client):
    response = admin_client.get("/admin/accounts/account/add/")
    assert response.context["inline_admin_formsets"] == []


@pytest.mark.parametrize("changes, field", [
    ({"name": "NORTHWIND ENERGY"}, "name"),
    ({"primary_color": "red"}, "primary_color"),
    ({"logo_url": "ftp://example.org/logo.png"}, "logo_url"),
    ({"custom_attributes": '{"nested": {"no": 1}}'}, "custom_attributes"),
])
def test_account_add_shows_errors_in_place(admin_client, accounts_world, changes, field):
    count = Account.objects.count()
    data = inline_data(accounts_world["other"], members=[], **{"name": "Fresh Co", **changes})
    response = admin_client.post("/admin/accounts/account/add/", data)
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert Account.objects.count() == count


def test_account_change_goes_through_the_service_and_is_audited(admin_client, site_admin, accounts_world):
    account = accounts_world["account"]
    mark = last_entry()
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/",
                                 inline_data(account, name="Northwind Energy AG", consultancy_account="",
                                             account_roles=[], data_retention=30))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Northwind Energy AG" and account.data_retention == 30
    assert account.consultancy_account is None and not account.account_roles.exists()
    updates = entries_for(account, UPDATE, after=mark)
    assert updates.exists() and {entry.actor for entry in updates} == {site_admin}
    changed = set().union(*(entry.changes_dict for entry in updates))
    assert {"name", "data_retention", "consultancy_account", "account_roles"} <= changed


def test_account_cannot_be_its_own_consultancy(admin_client, accounts_world):
    account = accounts_world["account"]
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/",
                                 inline_data(account, consultancy_account=account.pk))
    assert response.status_code == 200
    assert "consultancy_account" in response.context["adminform"].form.errors
    account.refresh_from_db()
    assert account.consultancy_account == accounts_world["consultancy"]


def test_deleting_an_account_in_the_admin(admin_client, site_admin, accounts_world):
    other = accounts_world["other"]
    response = admin_client.post(f"/admin/accounts/account/{other.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Account.objects.filter(pk=other.pk).exists()
    assert entries_for(other, DELETE).get().actor == site_admin


def test_the_default_account_cannot_be_deleted(admin_client, accounts_world):
    default = accounts_world["default"]
    page = admin_client.get(f"/admin/accounts/account/{default.pk}/change/")
    assert page.context["has_delete_permission"] is False
    assert f"/admin/accounts/account/{default.pk}/delete/" not in page.content.decode()
    assert admin_client.get(f"/admin/accounts/account/{default.pk}/delete/").status_code == 403
    assert admin_client.post(f"/admin/accounts/account/{default.pk}/delete/", {"post": "yes"}).status_code == 403

    response = admin_client.post("/admin/accounts/account/", {
        "action": "delete_selected", "post": "yes",
        "_selected_action": [str(default.pk), str(accounts_world["other"].pk)],
    })
    assert response.status_code == 403
    assert Account.objects.filter(pk__in=[default.pk, accounts_world["other"].pk]).count() == 2


def test_a_refused_account_delete_is_a_message(admin_client, accounts_world, monkeypatch):
    def refuse(**kwargs):
        raise Conflict("This account is still billed.")

    monkeypatch.setattr(account_services, "account_delete", refuse)
    other = accounts_world["other"]
    response = admin_client.post(f"/admin/accounts/account/{other.pk}/delete/", {"post": "yes"}, follow=True)
    assert "This account is still billed." in messages_of(response)
    response = admin_client.post("/admin/accounts/account/", {
        "action": "delete_selected", "post": "yes", "_selected_action": [str(other.pk)],
    }, follow=True)
    assert "This account is still billed." in messages_of(response)
    assert Account.objects.filter(pk=other.pk).exists()


def test_delete_queryset_refuses_the_default_account(rf, site_admin, accounts_world):
    from django.contrib import admin as django_admin

    request = rf.post("/admin/accounts/account/")
    request.user = site_admin
    with pytest.raises(Conflict):
        django_admin.site._registry[Account].delete_queryset(request, Account.objects.all())
    assert Account.objects.count() == 4  # nothing deleted, the others neither


# --------------------------------------------------------------------------- the members inline


def test_inline_adds_a_member_through_the_service(admin_client, site_admin, accounts_world):
    account = accounts_world["account"]
    newcomer = UserFactory(email="newcomer@example.org")
    rows = [{"id": m.pk, "user": m.user_id, "role": m.role} for m in accounts_world["memberships"].values()]
    rows.append({"user": newcomer.pk, "role": CONSULTANT})
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", inline_data(account, members=rows))
    assert response.status_code == 302
    membership = AccountMembership.objects.get(account=account, user=newcomer)
    assert membership.role == CONSULTANT
    entry = entries_for(membership, CREATE).get()
    assert entry.actor == site_admin and entry.account_id == account.pk


def test_inline_refuses_a_duplicate_member_in_place(admin_client, accounts_world):
    account = accounts_world["account"]
    rows = [{"id": m.pk, "user": m.user_id, "role": m.role} for m in accounts_world["memberships"].values()]
    rows.append({"user": accounts_world["people"][USER].pk, "role": ADMIN})
    count = AccountMembership.objects.count()
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", inline_data(account, members=rows))
    assert response.status_code == 200
    assert any(response.context["inline_admin_formsets"][0].formset.errors)
    assert AccountMembership.objects.count() == count


def test_inline_demoting_the_last_admin_is_a_message_and_changes_nothing(admin_client, accounts_world):
    account = accounts_world["account"]
    admin_membership = accounts_world["memberships"][ADMIN]
    rows = [{"id": m.pk, "user": m.user_id, "role": USER if m.role == ADMIN else m.role}
            for m in accounts_world["memberships"].values()]
    mark = last_entry()
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/",
                                 inline_data(account, name="Renamed meanwhile", members=rows), follow=True)
    assert response.status_code == 200
    assert any("last admin" in m for m in messages_of(response))
    admin_membership.refresh_from_db()
    assert admin_membership.role == ADMIN
    account.refresh_from_db()
    assert account.name == "Northwind Energy"  # the whole save was rolled back
    assert last_entry() == mark


def test_inline_removing_the_last_admin_is_a_message_and_changes_nothing(admin_client, accounts_world):
    account = accounts_world["account"]
    rows = [{"id": m.pk, "user": m.user_id, "role": m.role, "DELETE": m.role == ADMIN}
            for m in accounts_world["memberships"].values()]
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/",
                                 inline_data(account, members=rows), follow=True)
    assert any("last admin" in m for m in messages_of(response))
    assert AccountMembership.objects.filter(account=account, role=ADMIN).count() == 1


def test_inline_hands_the_admin_role_over_in_one_save(admin_client, site_admin, accounts_world):
    account = accounts_world["account"]
    swapped = {ADMIN: USER, CONSULTANT: ADMIN, USER: USER}
    rows = [{"id": m.pk, "user": m.user_id, "role": swapped[m.role]} for m in accounts_world["memberships"].values()]
    mark = last_entry()
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", inline_data(account, members=rows))
    assert response.status_code == 302
    roles = dict(AccountMembership.objects.filter(account=account).values_list("user__email", "role"))
    assert roles == {"admin@northwind.example": USER, "consultant@northwind.example": ADMIN,
                     "user@northwind.example": USER}
    updates = AuditLogEntry.objects.filter(pk__gt=mark, content_type__model="accountmembership", action=UPDATE)
    assert updates.count() == 2 and {entry.actor for entry in updates} == {site_admin}


def test_inline_removes_a_member_through_the_service(admin_client, site_admin, accounts_world):
    account = accounts_world["account"]
    leaving = accounts_world["memberships"][USER]
    rows = [{"id": m.pk, "user": m.user_id, "role": m.role, "DELETE": m.pk == leaving.pk}
            for m in accounts_world["memberships"].values()]
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", inline_data(account, members=rows))
    assert response.status_code == 302
    assert not AccountMembership.objects.filter(pk=leaving.pk).exists()
    assert entries_for(leaving, DELETE).get().actor == site_admin


def test_inline_keeps_a_members_user_fixed(admin_client, accounts_world):
    account = accounts_world["account"]
    someone = UserFactory()
    rows = [{"id": m.pk, "user": someone.pk if m.role == USER else m.user_id, "role": m.role}
            for m in accounts_world["memberships"].values()]
    response = admin_client.post(f"/admin/accounts/account/{account.pk}/change/", inline_data(account, members=rows))
    assert response.status_code == 302
    kept = AccountMembership.objects.get(pk=accounts_world["memberships"][USER].pk)
    assert kept.user == accounts_world["people"][USER]
    assert not AccountMembership.objects.filter(user=someone).exists()


# --------------------------------------------------------------------------- account history


def test_account_history_lists_everything_inside_the_account(admin_client, site_admin, accounts_world):
    account, other = accounts_world["account"], accounts_world["other"]
    leaving = accounts_world["memberships"][USER]
    admin_client.post(f"/admin/accounts/accountmembership/{leaving.pk}/delete/", {"post": "yes"})

    response = admin_client.get(f"/admin/accounts/account/{account.pk}/history/")
    assert response.status_code == 200
    entries = list(response.context["log_entries"])
    assert entries == list(AuditLogEntry.objects.filter(account_id=account.pk).order_by("-timestamp", "-id"))
    models = {entry.content_type.model for entry in entries}
    assert {"account", "accountmembership", "activationcode"} <= models
    assert not any(entry.account_id == other.pk for entry in entries)
    assert entries[0].action == DELETE and entries[0].object_pk == str(leaving.pk)
    page = response.content.decode()
    assert str(leaving) in page and "Account membership" in page
    assert f"/admin/accounts/auditlogentry/?account_id={account.pk}" in page


def test_account_history_names_people_and_fields(admin_client, accounts_world):
    """Issue 15: who and what by name, fields by label, times to the second, not `user: 53`."""
    account = accounts_world["account"]
    person = accounts_world["people"][USER]
    User.objects.filter(pk=person.pk).update(first_name="Una", last_name="User")
    page = admin_client.get(f"/admin/accounts/account/{account.pk}/history/").content.decode()
    assert "<td>User</td><td>— → Una User</td>" in page
    assert f"<td>user</td><td>{person.pk}</td>" not in page
    assert f"<td>{person.pk}</td>" not in page
    entry = AuditLogEntry.objects.filter(account_id=account.pk).latest("timestamp")
    assert entry.timestamp.strftime("%Y-%m-%d %H:%M:%S") in page


def test_account_history_paginates(admin_client, accounts_world):
    account = accounts_world["account"]
    for number in range(60):
        account_services.account_update(actor=None, account=account, data={"data_retention": number + 1})
    first = admin_client.get(f"/admin/accounts/account/{account.pk}/history/")
    assert len(first.context["log_entries"]) == 50
    second = admin_client.get(f"/admin/accounts/account/{account.pk}/history/?p=2")
    assert second.status_code == 200 and len(second.context["log_entries"]) > 0


def test_audit_log_admin_filters_by_account(admin_client, accounts_world):
    account = accounts_world["account"]
    response = admin_client.get(f"/admin/accounts/auditlogentry/?account_id={account.pk}")
    results = list(response.context["cl"].result_list)
    assert results and all(entry.account_id == account.pk for entry in results)


# --------------------------------------------------------------------------- activation codes


def refresh(client, accounts, path="/admin/accounts/account/"):
    return client.post(path, {
        "action": "refresh_activation_codes", "_selected_action": [str(a.pk) for a in accounts],
    }, follow=True)


def test_refresh_action_replaces_the_code_and_is_audited(admin_client, site_admin, accounts_world):
    account, other = accounts_world["account"], accounts_world["other"]
    old = accounts_world["code"].code
    mark = last_entry()
    response = refresh(admin_client, [account, other])
    assert response.status_code == 200
    fresh = ActivationCode.objects.get(account=account)
    assert fresh.code != old and fresh.is_valid
    assert ActivationCode.objects.filter(account=other).exists()
    assert any("2 accounts" in m for m in messages_of(response))
    entries = AuditLogEntry.objects.filter(pk__gt=mark, content_type__model="activationcode")
    assert {(entry.account_id, entry.action) for entry in entries} == {(account.pk, UPDATE), (other.pk, CREATE)}
    assert {entry.actor for entry in entries} == {site_admin}
    page = response.content.decode()
    for code in (old, fresh.code, ActivationCode.objects.get(account=other).code):
        assert code not in page
        assert all(code not in str(entry.changes) for entry in entries)


def test_refresh_action_on_the_activation_code_list(admin_client, site_admin, accounts_world):
    old = accounts_world["code"].code
    response = refresh(admin_client, [accounts_world["code"]], path="/admin/accounts/activationcode/")
    assert response.status_code == 200
    assert ActivationCode.objects.get(account=accounts_world["account"]).code != old


def test_refresh_action_needs_the_permission(client, accounts_world):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename__in=["view_account", "change_account"]))
    client.force_login(staff)
    page = client.get("/admin/accounts/account/").content.decode()
    assert "refresh_activation_codes" not in page
    old = accounts_world["code"].code
    refresh(client, [accounts_world["account"]])
    assert ActivationCode.objects.get(account=accounts_world["account"]).code == old


def test_activation_code_never_appears_in_the_admin(admin_client, accounts_world):
    account, code = accounts_world["account"], accounts_world["code"]
    refreshed = refresh(admin_client, [account]).content.decode()
    code = ActivationCode.objects.get(account=account)
    paths = [
        "/admin/accounts/activationcode/",
        "/admin/accounts/activationcode/?status=valid",
        f"/admin/accounts/activationcode/{account.pk}/change/",
        f"/admin/accounts/activationcode/{account.pk}/history/",
        f"/admin/accounts/activationcode/{account.pk}/delete/",
        f"/admin/accounts/account/{account.pk}/change/",
        f"/admin/accounts/account/{account.pk}/history/",
        f"/admin/accounts/account/{account.pk}/delete/",
        f"/admin/accounts/auditlogentry/?account_id={account.pk}",
    ]
    entry = AuditLogEntry.objects.filter(content_type__model="activationcode", account_id=account.pk).last()
    paths.append(f"/admin/accounts/auditlogentry/{entry.pk}/change/")
    assert code.code not in refreshed
    for path in paths:
        response = admin_client.get(path)
        assert response.status_code == 200, path
        assert code.code not in response.content.decode(), path
    form = admin_client.get(f"/admin/accounts/activationcode/{account.pk}/change/").context["adminform"]
    assert "code" not in form.form.fields and "code" not in form.readonly_fields


def test_activation_code_admin_is_read_only_but_deletes(admin_client, site_admin, accounts_world):
    account, code = accounts_world["account"], accounts_world["code"]
    assert admin_client.get("/admin/accounts/activationcode/add/").status_code == 403
    response = admin_client.post(f"/admin/accounts/activationcode/{account.pk}/change/", {"code": "forged12"})
    assert response.status_code == 403
    assert ActivationCode.objects.get(account=account).code == code.code

    response = admin_client.post(f"/admin/accounts/activationcode/{account.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not ActivationCode.objects.filter(account=account).exists()
    assert entries_for(code, DELETE).get().actor == site_admin


def test_activation_code_list_selects_accounts_in_the_same_query(admin_client, site_admin, accounts_world):
    with CaptureQueriesContext(connection) as few:
        admin_client.get("/admin/accounts/activationcode/")
    for number in range(5):
        account = Account.objects.create(name=f"Coded {number}")
        account_services.activation_code_refresh(actor=site_admin, account=account)
    with CaptureQueriesContext(connection) as many:
        admin_client.get("/admin/accounts/activationcode/")
    assert len(many) == len(few)


# --------------------------------------------------------------------------- account roles


def test_account_role_add_change_delete_go_through_services(admin_client, site_admin, accounts_world):
    response = admin_client.post("/admin/accounts/accountrole/add/", {"name": "Aggregator", "description": "Pools."})
    assert response.status_code == 302
    role = AccountRole.objects.get(name="Aggregator")
    assert entries_for(role, CREATE).get().actor == site_admin

    response = admin_client.post(f"/admin/accounts/accountrole/{role.pk}/change/",
                                 {"name": "Aggregators", "description": "Pools demand."})
    assert response.status_code == 302
    role.refresh_from_db()
    assert role.name == "Aggregators" and role.description == "Pools demand."
    assert entries_for(role, UPDATE).get().actor == site_admin

    response = admin_client.post(f"/admin/accounts/accountrole/{role.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not AccountRole.objects.filter(pk=role.pk).exists()
    assert entries_for(role, DELETE).get().actor == site_admin


def test_account_role_name_taken_in_another_case_is_a_form_error(admin_client, accounts_world):
    response = admin_client.post("/admin/accounts/accountrole/add/", {"name": "SUPPLIER", "description": ""})
    assert response.status_code == 200
    assert "name" in response.context["adminform"].form.errors


def test_account_role_list_counts_accounts(admin_client, accounts_world):
    accounts_world["other"].account_roles.add(accounts_world["supplier"])
    response = admin_client.get("/admin/accounts/accountrole/")
    assert [(r.name, r.account_count) for r in response.context["cl"].result_list] == [("Supplier", 2)]


# --------------------------------------------------------------------------- staff who are not site admins


@pytest.fixture
def account_staff(client):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(
        content_type__app_label__in=["accounts", "memberships"],
        codename__in=["view_account", "change_account", "add_account", "view_accountrole", "view_user",
                      "view_accountmembership", "change_accountmembership", "add_accountmembership",
                      "delete_accountmembership"],
    ))
    client.force_login(staff)
    return client


def test_staff_cannot_set_consultancy_or_account_roles(account_staff, accounts_world):
    account = accounts_world["account"]
    response = account_staff.get(f"/admin/accounts/account/{account.pk}/change/")
    form = response.context["adminform"].form
    assert "consultancy_account" not in form.fields and "account_roles" not in form.fields
    assert "name" in form.fields
    add_form = account_staff.get("/admin/accounts/account/add/").context["adminform"].form
    assert "consultancy_account" not in add_form.fields and "account_roles" not in add_form.fields

    response = account_staff.post(f"/admin/accounts/account/{account.pk}/change/",
                                  inline_data(account, name="Northwind", consultancy_account="", account_roles=[]))
    assert response.status_code == 302
    account.refresh_from_db()
    assert account.name == "Northwind"
    assert account.consultancy_account == accounts_world["consultancy"] and account.account_roles.exists()


def test_staff_only_read_account_roles(client, accounts_world):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(content_type__app_label="accounts",
                                                          codename__endswith="_accountrole"))
    client.force_login(staff)
    role = accounts_world["supplier"]
    assert client.get("/admin/accounts/accountrole/").status_code == 200
    assert client.get(f"/admin/accounts/accountrole/{role.pk}/change/").status_code == 200
    assert client.get("/admin/accounts/accountrole/add/").status_code == 403
    assert client.post(f"/admin/accounts/accountrole/{role.pk}/change/", {"name": "X"}).status_code == 403
    assert client.post(f"/admin/accounts/accountrole/{role.pk}/delete/", {"post": "yes"}).status_code == 403
    role.refresh_from_db()
    assert role.name == "Supplier"


def test_staff_cannot_demote_another_admin_through_the_inline(account_staff, accounts_world):
    account = accounts_world["account"]
    AccountMembership.objects.create(account=account, user=UserFactory(), role=ADMIN)
    demoted = accounts_world["memberships"][ADMIN]
    rows = [{"id": m.pk, "user": m.user_id, "role": USER if m.pk == demoted.pk else m.role}
            for m in AccountMembership.objects.filter(account=account).order_by("id")]
    response = account_staff.post(f"/admin/accounts/account/{account.pk}/change/",
                                  inline_data(account, members=rows), follow=True)
    assert any("Only site admins" in m for m in messages_of(response))
    demoted.refresh_from_db()
    assert demoted.role == ADMIN


def test_object_permissions_are_for_site_admins_only(account_staff, accounts_world):
    account = accounts_world["account"]
    page = account_staff.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()
    assert f"/admin/accounts/account/{account.pk}/permissions/" not in page
    assert account_staff.get(f"/admin/accounts/account/{account.pk}/permissions/").status_code == 403
    user_page = f"/admin/accounts/account/{account.pk}/permissions/user-manage/{accounts_world['people'][USER].pk}/"
    assert account_staff.post(user_page, {"permissions": ["change_account"]}).status_code == 403
    assert not accounts_world["people"][USER].has_perm("accounts.change_account", account)


def test_site_admin_grants_an_object_permission(admin_client, accounts_world):
    account, person = accounts_world["account"], accounts_world["people"][USER]
    page = admin_client.get(f"/admin/accounts/account/{account.pk}/change/").content.decode()
    assert f"/admin/accounts/account/{account.pk}/permissions/" in page

    response = admin_client.post(f"/admin/accounts/account/{account.pk}/permissions/",
                                 {"user": person.email, "submit_manage_user": "1"})
    assert response.status_code == 302
    manage = f"/admin/accounts/account/{account.pk}/permissions/user-manage/{person.pk}/"
    assert response["Location"] == manage
    response = admin_client.post(manage, {"permissions": ["change_account"]})
    assert response.status_code == 302
    person = User.objects.get(pk=person.pk)
    assert person.has_perm("accounts.change_account", account)
    assert not person.has_perm("accounts.change_account", accounts_world["other"])
    listing = admin_client.get(f"/admin/accounts/account/{account.pk}/permissions/").content.decode()
    assert person.email in listing
