"""The admin site for users, roles, contacts, bearer sessions and the audit log."""

import secrets
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import AuditLogEntry, Contact, Role, Session, User, hash_token
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


def deactivate(client, users):
    return client.post("/admin/accounts/user/", {
        "action": "deactivate_users", "_selected_action": [str(u.pk) for u in users],
    }, follow=True)


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
    deactivate(client, [population["alice"]])
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
    from config.errors import Conflict

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
