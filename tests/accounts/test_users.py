import pytest

from accounts.models import AuditLogEntry, Session, User
from tests.factories import PASSWORD, RoleFactory, UserFactory
from tests.jsonapi import MEDIA_TYPE, body, rel, token_for

URL = "/api/v1/users/"
NEW_PASSWORD = "a much longer new passphrase"


# Who may list, read, create, change and delete users (and that a refusal changes nothing):
# tests/accounts/test_permission_matrix.py. Its target is the world's `account_user`, in
# `contact_owner`'s address book.


def new_user(**attributes):
    attributes = {"email": "new.person@example.org", "password": NEW_PASSWORD, **attributes}
    return body("User", attributes)


@pytest.mark.django_db
class TestRead:
    def test_list_holds_self_and_contacts_only(self, api, world):
        contact = world.contact
        response = api.as_user(contact.owner).get(URL)
        ids = {item["id"] for item in response.document["data"]}
        assert ids == {str(contact.owner.pk), str(contact.contact.pk)}

    def test_site_admins_list_everyone(self, api, world):
        world.build()
        response = api.as_user(world["site_admin"]).get(URL)
        assert response.document["meta"]["pagination"]["count"] == User.objects.count()

    def test_attributes_and_no_secrets(self, api, world):
        data = api.as_user(world["account_user"]).get(f"{URL}me/").document["data"]
        assert set(data["attributes"]) == {"email", "username", "firstName", "lastName", "strategy", "isActive",
                                           "isSiteAdmin", "dateJoined", "lastLogin", "emailVerified"}
        assert "roles" in data["relationships"]

    def test_filter_on_an_unseen_user_is_an_empty_list(self, api, world):
        response = api.as_user(world["outsider"]).get(f"{URL}?filter[id]={world['account_user'].pk}")
        assert response.status_code == 200 and response.document["data"] == []

    def test_filters_and_sort(self, api, world):
        target = world.build()["account_user"]
        api.as_user(world["site_admin"])
        by_email = api.get(f"{URL}?filter[email]={target.email.upper()}").document["data"]
        assert [item["id"] for item in by_email] == [str(target.pk)]
        emails = [item["attributes"]["email"] for item in api.get(f"{URL}?sort=-email").document["data"]]
        assert emails == sorted(emails, reverse=True)

    def test_list_query_count_is_fixed(self, api, site_admin, django_assert_max_num_queries):
        roles = [RoleFactory() for _ in range(3)]
        for _ in range(60):
            UserFactory().roles.set(roles)
        api.as_user(site_admin)
        # session, count, page, roles (+ their permissions), account memberships, memberships
        with django_assert_max_num_queries(7):
            small = api.get(f"{URL}?page_size=5&include=roles")
        with django_assert_max_num_queries(7):
            large = api.get(f"{URL}?page_size=200&include=roles")
        assert len(small.document["data"]) == 5 and len(large.document["data"]) == 61

    def test_list_query_count_is_fixed_for_ordinary_users(self, api, user, django_assert_max_num_queries):
        from accounts.models import Account, AccountMembership

        account = Account.objects.create(name="Shared")
        for _ in range(40):
            AccountMembership.objects.create(account=account, user=UserFactory())
        AccountMembership.objects.create(account=account, user=user)
        api.as_user(user)
        # session, has_perm (user + group/role permissions), count, page, roles, account memberships,
        # memberships, + the visibility check of the included account memberships
        with django_assert_max_num_queries(9):
            response = api.get(f"{URL}?page_size=100&include=accountMemberships")
        assert len(response.document["data"]) == 41


@pytest.mark.django_db
class TestCreate:
    def test_username_is_derived_and_made_unique(self, api, site_admin):
        UserFactory(username="jane")
        response = api.as_user(site_admin).post(URL, new_user(email="Jane@Example.org"))
        assert response.status_code == 201
        attributes = response.document["data"]["attributes"]
        assert attributes["username"] == "jane2"
        assert attributes["email"] == "jane@example.org"
        assert "password" not in attributes
        assert User.objects.get(email="jane@example.org").check_password(NEW_PASSWORD)

    def test_email_is_unique_case_insensitively(self, api, site_admin, user):
        response = api.as_user(site_admin).post(URL, new_user(email=user.email.upper()))
        assert response.status_code == 400
        error = response.document["errors"][0]
        assert error["code"] == "unique" and error["source"]["pointer"] == "/data/attributes/email"

    def test_username_is_unique(self, api, site_admin, user):
        response = api.as_user(site_admin).post(URL, new_user(username=user.username.upper()))
        assert response.document["errors"][0]["code"] == "unique"
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/username"

    def test_password_rules(self, api, site_admin):
        api.as_user(site_admin)
        missing = api.post(URL, body("User", {"email": "x@example.org"}))
        assert missing.status_code == 400 and missing.document["errors"][0]["code"] == "required"
        weak = api.post(URL, new_user(password="123"))
        assert weak.status_code == 400
        assert all(e["source"]["pointer"] == "/data/attributes/password" for e in weak.document["errors"])
        ldap = api.post(URL, new_user(strategy="ldap"))
        assert ldap.status_code == 400 and ldap.document["errors"][0]["source"]["pointer"].endswith("password")
        ok = api.post(URL, body("User", {"email": "dir@example.org", "strategy": "ldap"}))
        assert ok.status_code == 201 and not User.objects.get(email="dir@example.org").has_usable_password()
        assert not User.objects.filter(email__in=["x@example.org", "new.person@example.org"]).exists()

    def test_is_site_admin_is_read_only(self, api, site_admin):
        response = api.as_user(site_admin).post(URL, new_user(isSiteAdmin=True))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/isSiteAdmin"

    def test_roles_only_by_site_admins(self, api, world):
        role = RoleFactory()
        payload = new_user()
        payload["data"]["relationships"] = {"roles": rel("Role", [role.pk])}
        refused = api.as_user(world["user_adder"]).post(URL, payload)
        assert refused.status_code == 403
        assert not User.objects.filter(email="new.person@example.org").exists()
        created = api.as_user(world["site_admin"]).post(URL, payload)
        assert created.status_code == 201
        assert created.document["data"]["relationships"]["roles"]["data"] == [{"type": "Role", "id": str(role.pk)}]


@pytest.mark.django_db
class TestUpdate:
    def patch(self, api, user, attributes=None, relationships=None):
        return api.patch(f"{URL}{user.pk}/", body("User", attributes, relationships, id=user.pk))

    def test_changing_password_needs_the_current_one(self, api, user):
        api.as_user(user)
        missing = self.patch(api, user, {"password": NEW_PASSWORD})
        assert missing.status_code == 400
        assert missing.document["errors"][0]["source"]["pointer"] == "/data/attributes/currentPassword"
        wrong = self.patch(api, user, {"password": NEW_PASSWORD, "currentPassword": "nope"})
        assert wrong.status_code == 400
        user.refresh_from_db()
        assert user.check_password(PASSWORD)
        ok = self.patch(api, user, {"password": NEW_PASSWORD, "currentPassword": PASSWORD})
        assert ok.status_code == 200
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)

    def test_a_new_password_ends_the_other_sessions(self, api, user):
        other_token = token_for(user)
        api.as_user(user)
        self.patch(api, user, {"password": NEW_PASSWORD, "currentPassword": PASSWORD})
        assert api.get(f"{URL}me/").status_code == 200
        api.credentials(HTTP_AUTHORIZATION=f"Bearer {other_token}")
        assert api.get(f"{URL}me/").status_code == 401

    def test_changing_email_needs_the_current_password(self, api, user):
        api.as_user(user)
        assert self.patch(api, user, {"email": "new@example.org"}).status_code == 400
        ok = self.patch(api, user, {"email": "New@Example.org", "currentPassword": PASSWORD})
        # The new address waits for its link (tests/accounts/test_email_verification.py).
        assert ok.status_code == 200 and ok.document["data"]["attributes"]["email"] == user.email
        user.refresh_from_db()
        assert user.pending_email == "new@example.org"

    def test_site_admin_sets_others_passwords_without_the_current_one(self, api, site_admin, user):
        assert self.patch(api.as_user(site_admin), user, {"password": NEW_PASSWORD}).status_code == 200
        user.refresh_from_db()
        assert user.check_password(NEW_PASSWORD)

    @pytest.mark.parametrize("attributes", [{"isActive": False}, {"strategy": "ldap"}])
    def test_privileged_fields_are_for_site_admins(self, api, user, site_admin, attributes):
        refused = self.patch(api.as_user(user), user, attributes)
        assert refused.status_code == 403
        assert self.patch(api.as_user(site_admin), user, attributes).status_code == 200

    def test_sending_privileged_fields_unchanged_is_fine(self, api, user):
        assert self.patch(api.as_user(user), user, {"isActive": True, "strategy": "local"}).status_code == 200

    def test_roles_are_set_by_site_admins(self, api, user, site_admin):
        role = RoleFactory(permissions=["accounts.add_user"])
        relationships = {"roles": rel("Role", [role.pk])}
        assert self.patch(api.as_user(user), user, relationships=relationships).status_code == 403
        assert not user.has_perm("accounts.add_user")
        assert self.patch(api.as_user(site_admin), user, relationships=relationships).status_code == 200
        assert User.objects.get(pk=user.pk).has_perm("accounts.add_user")

    def test_read_only_attribute_with_a_new_value_is_refused(self, api, user):
        response = self.patch(api.as_user(user), user, {"dateJoined": "2000-01-01T00:00:00Z", "firstName": "X"})
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/dateJoined"
        user.refresh_from_db()
        assert user.first_name != "X"

    def test_read_only_attributes_sent_back_unchanged_are_ignored(self, api, user):
        api.as_user(user)
        current = api.get(f"{URL}me/").document["data"]
        attributes = {**current["attributes"], "firstName": "Round"}
        response = self.patch(api, user, attributes, current["relationships"])
        assert response.status_code == 200, response.document
        assert response.document["data"]["attributes"]["firstName"] == "Round"

    def test_holders_of_change_user_cannot_touch_site_admins_or_secrets(self, api, site_admin):
        changer = UserFactory()
        changer.roles.add(RoleFactory(permissions=["accounts.change_user", "accounts.view_user"]))
        other = UserFactory()
        api.as_user(changer)
        assert self.patch(api, site_admin, {"firstName": "pwned"}).status_code == 403
        assert self.patch(api, other, {"password": NEW_PASSWORD}).status_code == 403
        assert self.patch(api, other, {"email": "taken-over@example.org"}).status_code == 403
        assert self.patch(api, other, {"firstName": "Renamed"}).status_code == 200
        site_admin.refresh_from_db()
        other.refresh_from_db()
        assert site_admin.first_name != "pwned" and other.check_password(PASSWORD)

    def test_holders_of_delete_user_cannot_delete_site_admins(self, api, site_admin):
        deleter = UserFactory()
        deleter.roles.add(RoleFactory(permissions=["accounts.delete_user", "accounts.view_user"]))
        assert api.as_user(deleter).delete(f"{URL}{site_admin.pk}/").status_code == 403
        assert User.objects.filter(pk=site_admin.pk).exists()
        victim = UserFactory()
        assert api.delete(f"{URL}{victim.pk}/").status_code == 204

    def test_nobody_deactivates_themselves(self, api, site_admin):
        response = self.patch(api.as_user(site_admin), site_admin, {"isActive": False})
        assert response.status_code == 400
        site_admin.refresh_from_db()
        assert site_admin.is_active

    def test_deactivating_ends_sessions(self, api, user, site_admin):
        token_for(user)
        self.patch(api.as_user(site_admin), user, {"isActive": False})
        assert not Session.objects.filter(user=user).exists()

    def test_role_holders_cannot_hand_themselves_new_powers(self, api):
        changer = UserFactory()
        changer.roles.add(RoleFactory(permissions=["accounts.change_user", "accounts.view_user"]))
        powerful = RoleFactory(permissions=["accounts.delete_user"])
        response = api.as_user(changer).patch(f"/api/v1/users/{changer.pk}/", body(
            "User", relationships={"roles": rel("Role", [powerful.pk])}, id=changer.pk))
        assert response.status_code == 403
        assert not changer.roles.filter(pk=powerful.pk).exists()


@pytest.mark.django_db
class TestDelete:
    def test_delete_oneself_through_me(self, api, user):
        response = api.as_user(user).delete(f"{URL}me/")
        assert response.status_code == 204
        assert not User.objects.filter(pk=user.pk).exists()
        entry = AuditLogEntry.objects.filter(object_id=user.pk, action=AuditLogEntry.Action.DELETE,
                                             content_type__model="user").get()
        assert entry.actor_id is None or entry.actor_id == user.pk


@pytest.mark.django_db
class TestMe:
    def test_me_is_the_caller(self, api, user):
        response = api.as_user(user).get(f"{URL}me/")
        assert response.document["data"]["id"] == str(user.pk)

    def test_me_needs_authentication(self, api):
        assert api.get(f"{URL}me/").status_code == 401

    def test_patch_me(self, api, user):
        api.as_user(user)
        response = api.patch(f"{URL}me/", body("User", {"lastName": "Mine"}, id=user.pk))
        assert response.status_code == 200
        assert response.document["data"]["attributes"]["lastName"] == "Mine"

    def test_patch_me_with_another_id_is_a_conflict(self, api, user, other_user):
        response = api.as_user(user).patch(f"{URL}me/", body("User", {"lastName": "X"}, id=other_user.pk))
        assert response.status_code == 409

    @pytest.mark.parametrize("method", ["head", "options"])
    def test_only_delete_deletes_the_caller(self, user, method):
        from django.test import Client

        client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}", HTTP_ACCEPT=MEDIA_TYPE)
        response = getattr(client, method)("/api/v1/users/me/")
        assert response.status_code == 200
        assert User.objects.filter(pk=user.pk).exists()
