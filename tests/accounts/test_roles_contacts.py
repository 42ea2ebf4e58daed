import io

import pytest
from PIL import Image

from accounts.models import AuditLogEntry, Avatar, Contact, Role
from tests.factories import ContactFactory, RoleFactory, UserFactory
from tests.jsonapi import MEDIA_TYPE, body, matrix, rel

ROLES = "/api/v1/roles/"
CONTACTS = "/api/v1/contacts/"


@pytest.fixture
def role_actors(db):
    def holder(*perms):
        user = UserFactory()
        user.roles.add(RoleFactory(permissions=list(perms)))
        return user

    return {
        "anonymous": None,
        "user": UserFactory(),
        "adder": holder("accounts.add_role", "accounts.view_user", "accounts.add_user"),
        "changer": holder("accounts.change_role"),
        "deleter": holder("accounts.delete_role"),
        "site_admin": UserFactory(is_superuser=True),
    }


# Who may list, read, create, change and delete roles, contacts and account roles (and that a
# refusal changes nothing): tests/accounts/test_permission_matrix.py.


@pytest.mark.django_db
class TestRoles:
    @pytest.mark.parametrize(*matrix(anonymous=401, user=200, site_admin=200))
    def test_any_signed_in_user_reads(self, api, role_actors, caller, expected):
        role = RoleFactory(permissions=["accounts.view_user"])
        api.as_user(role_actors[caller])
        assert api.get(ROLES).status_code == expected
        response = api.get(f"{ROLES}{role.pk}/")
        assert response.status_code == expected
        if expected == 200:
            assert response.document["data"]["attributes"]["permissions"] == ["accounts.view_user"]

    @pytest.mark.parametrize(*matrix(anonymous=401, user=403, changer=403, adder=201, site_admin=201))
    def test_create(self, api, role_actors, caller, expected):
        payload = body("Role", {"name": "Auditor", "description": "Reads users",
                                "permissions": ["accounts.view_user", "accounts.add_user"]})
        response = api.as_user(role_actors[caller]).post(ROLES, payload)
        assert response.status_code == expected
        if expected == 201:
            assert response.document["data"]["attributes"]["permissions"] == ["accounts.add_user",
                                                                              "accounts.view_user"]
        assert Role.objects.filter(name="Auditor").exists() == (expected == 201)

    def test_no_one_hands_out_permissions_they_do_not_hold(self, api, role_actors):
        escalate = body("Role", {"name": "Escalate", "permissions": ["accounts.delete_user"]})
        assert api.as_user(role_actors["adder"]).post(ROLES, escalate).status_code == 403
        assert not Role.objects.filter(name="Escalate").exists()
        own_role = role_actors["changer"].roles.get()
        grown = body("Role", {"permissions": ["accounts.change_role", "accounts.delete_user"]}, id=own_role.pk)
        response = api.as_user(role_actors["changer"]).patch(f"{ROLES}{own_role.pk}/", grown)
        assert response.status_code == 403
        assert response.document["errors"][0]["code"] == "permission_denied"
        assert not role_actors["changer"].__class__.objects.get(pk=role_actors["changer"].pk).has_perm(
            "accounts.delete_user")

    def test_unknown_permission_is_a_400_pointing_at_it(self, api, site_admin):
        payload = body("Role", {"name": "Bad", "permissions": ["accounts.view_user", "nope.nothing"]})
        response = api.as_user(site_admin).post(ROLES, payload)
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/permissions/1"
        assert not Role.objects.filter(name="Bad").exists()

    def test_name_is_unique_case_insensitively(self, api, site_admin):
        RoleFactory(name="Support")
        response = api.as_user(site_admin).post(ROLES, body("Role", {"name": "SUPPORT"}))
        assert response.status_code == 400
        assert response.document["errors"][0]["code"] == "unique"

    def test_roles_grant_their_permissions(self, api, site_admin):
        user = UserFactory()
        role = RoleFactory(permissions=["accounts.add_user"])
        api.as_user(site_admin).patch(f"/api/v1/users/{user.pk}/",
                                      body("User", relationships={"roles": rel("Role", [role.pk])}, id=user.pk))
        response = api.as_user(user).get("/api/v1/users/me/permissions/")
        assert response.document["data"]["attributes"]["permissions"] == ["accounts.add_user"]
        api.as_user(user).post("/api/v1/users/", body("User", {"email": "made@example.org",
                                                               "password": "long enough passphrase"}))
        assert AuditLogEntry.objects.filter(actor=user, content_type__model="user").exists()

    def test_role_permission_changes_are_audited(self, api, site_admin):
        role = RoleFactory()
        api.as_user(site_admin).patch(f"{ROLES}{role.pk}/",
                                      body("Role", {"permissions": ["accounts.view_user"]}, id=role.pk))
        entry = AuditLogEntry.objects.filter(object_id=role.pk, content_type__model="role").latest("timestamp")
        assert entry.actor == site_admin and "permissions" in entry.changes

    def test_list_query_count_is_fixed(self, api, user, django_assert_max_num_queries):
        for _ in range(40):
            RoleFactory(permissions=["accounts.view_user", "accounts.add_user"])
        api.as_user(user)
        with django_assert_max_num_queries(5):
            response = api.get(f"{ROLES}?page_size=100")
        assert len(response.document["data"]) == 40


@pytest.mark.django_db
class TestContacts:
    def test_add_by_relationship_and_by_email(self, api, user):
        friend, colleague = UserFactory(), UserFactory()
        user.roles.add(RoleFactory(permissions=["accounts.view_user"]))  # sees `friend`, so may name its id
        api.as_user(user)
        by_id = api.post(CONTACTS, body("Contact", relationships={"contact": rel("User", friend.pk)}))
        assert by_id.status_code == 201
        assert by_id.document["data"]["attributes"]["email"] == friend.email
        by_email = api.post(CONTACTS, body("Contact", {"email": colleague.email.upper()}))
        assert by_email.status_code == 201
        assert by_email.document["data"]["attributes"]["username"] == colleague.username
        assert set(Contact.objects.filter(owner=user).values_list("contact", flat=True)) == {friend.pk,
                                                                                             colleague.pk}

    def test_numeric_relationship_ids_are_accepted(self, api, user):
        friend = UserFactory()
        user.roles.add(RoleFactory(permissions=["accounts.view_user"]))
        payload = {"data": {"type": "Contact", "relationships": {"contact": {"data": {"type": "User",
                                                                                       "id": friend.pk}}}}}
        assert api.as_user(user).post(CONTACTS, payload).status_code == 201

    def test_both_or_neither_is_a_400(self, api, user, other_user):
        api.as_user(user)
        both = api.post(CONTACTS, body("Contact", {"email": other_user.email},
                                       {"contact": rel("User", user.pk)}))
        assert both.status_code == 400
        assert api.post(CONTACTS, body("Contact", {})).status_code == 400
        assert not Contact.objects.exists()

    def test_unknown_email_points_at_email(self, api, user):
        response = api.as_user(user).post(CONTACTS, body("Contact", {"email": "ghost@example.org"}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/email"

    def test_an_unseen_user_id_is_refused_like_a_missing_one(self, api, user, other_user):
        response = api.as_user(user).post(CONTACTS, body("Contact", relationships={
            "contact": rel("User", other_user.pk)}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/contact"

    def test_duplicate_is_a_409(self, api, user, other_user):
        api.as_user(user)
        assert api.post(CONTACTS, body("Contact", {"email": other_user.email})).status_code == 201
        again = api.post(CONTACTS, body("Contact", {"email": other_user.email}))
        assert again.status_code == 409 and again.document["errors"][0]["code"] == "duplicate"

    def test_self_is_refused(self, api, user):
        assert api.as_user(user).post(CONTACTS, body("Contact", {"email": user.email})).status_code == 400

    def test_list_and_delete_only_ones_own(self, api, user, other_user):
        mine = ContactFactory(owner=user)
        theirs = ContactFactory(owner=other_user)
        api.as_user(user)
        assert [item["id"] for item in api.get(CONTACTS).document["data"]] == [str(mine.pk)]
        assert api.get(f"{CONTACTS}{theirs.pk}/").status_code == 404
        assert api.delete(f"{CONTACTS}{theirs.pk}/").status_code == 404
        assert api.delete(f"{CONTACTS}{mine.pk}/").status_code == 204
        assert list(Contact.objects.all()) == [theirs]

    def test_list_query_count_is_fixed(self, api, user, django_assert_max_num_queries):
        for _ in range(30):
            ContactFactory(owner=user)
        api.as_user(user)
        # session, count, page, the contacts' roles, account memberships and memberships, + the included
        # users' visibility check (has_perm twice, then the check)
        with django_assert_max_num_queries(9):
            response = api.get(f"{CONTACTS}?page_size=100&include=contact")
        assert len(response.document["data"]) == 30 and len(response.document["included"]) == 30

    def test_adding_oneself_by_email_points_at_email(self, api, user):
        response = api.as_user(user).post(CONTACTS, body("Contact", {"email": user.email}))
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/email"


def png_bytes(size=(64, 48), with_metadata=False):
    image = Image.new("RGB", size, (200, 30, 30))
    out = io.BytesIO()
    if with_metadata:
        from PIL import PngImagePlugin

        info = PngImagePlugin.PngInfo()
        info.add_text("Comment", "secret location 52.1N")
        image.save(out, format="PNG", pnginfo=info)
    else:
        image.save(out, format="PNG")
    return out.getvalue()


def jpeg_bytes_with_exif():
    image = Image.new("RGB", (40, 40), (0, 90, 200))
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    return out.getvalue()


@pytest.mark.django_db
class TestAvatars:
    def test_default_avatar_is_generated(self, api, user):
        response = api.as_user(user).get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/png")
        assert response.status_code == 200 and response["Content-Type"] == "image/png"
        assert Image.open(io.BytesIO(response.content)).format == "PNG"

    def test_upload_png_strips_metadata(self, api, user):
        api.as_user(user)
        response = api.put("/api/v1/users/me/avatar/", png_bytes(with_metadata=True), content_type="image/png")
        assert response.status_code == 200
        stored = Image.open(io.BytesIO(bytes(Avatar.objects.get(user=user).image)))
        assert stored.format == "PNG" and "Comment" not in stored.info
        assert b"secret location" not in bytes(Avatar.objects.get(user=user).image)
        assert api.get("/api/v1/users/me/avatar/").content == bytes(Avatar.objects.get(user=user).image)

    def test_upload_jpeg_strips_exif(self, api, user):
        api.as_user(user)
        assert api.put("/api/v1/users/me/avatar/", jpeg_bytes_with_exif(), content_type="image/jpeg").status_code == 200
        stored = bytes(Avatar.objects.get(user=user).image)
        assert b"SpyCam" not in stored and not Image.open(io.BytesIO(stored)).getexif()

    def test_upload_is_audited(self, api, user):
        api.as_user(user).put("/api/v1/users/me/avatar/", png_bytes(), content_type="image/png")
        assert AuditLogEntry.objects.filter(content_type__model="avatar", actor=user).exists()

    @pytest.mark.parametrize("data,content_type,status", [
        (b"not an image at all", "image/png", 400),
        (png_bytes(), "image/jpeg", 400),
        (png_bytes(), "image/gif", 415),
        (png_bytes(), "application/octet-stream", 415),
        (b"", "image/png", 400),
    ])
    def test_bad_uploads_are_refused(self, api, user, data, content_type, status):
        response = api.as_user(user).put("/api/v1/users/me/avatar/", data, content_type=content_type)
        assert response.status_code == status
        assert not Avatar.objects.exists()

    def test_more_than_a_mebibyte_is_refused(self, api, user):
        big = png_bytes() + b"\0" * (1024 * 1024)
        response = api.as_user(user).put("/api/v1/users/me/avatar/", big, content_type="image/png")
        assert response.status_code == 413
        assert not Avatar.objects.exists()

    def test_delete_resets_to_default(self, api, user):
        api.as_user(user)
        api.put("/api/v1/users/me/avatar/", png_bytes(), content_type="image/png")
        assert api.delete("/api/v1/users/me/avatar/").status_code == 204
        assert not Avatar.objects.exists()

    def test_others_avatars_follow_visibility(self, api, user, other_user):
        api.as_user(user)
        assert api.get(f"/api/v1/users/{other_user.pk}/avatar/").status_code == 404
        Contact.objects.create(owner=user, contact=other_user)
        assert api.get(f"/api/v1/users/{other_user.pk}/avatar/").status_code == 200
        assert api.put(f"/api/v1/users/{other_user.pk}/avatar/", png_bytes(),
                       content_type="image/png").status_code == 403
        assert api.as_user(None).get(f"/api/v1/users/{other_user.pk}/avatar/").status_code == 401

    def test_avatar_follows_accept(self, api, user):
        api.as_user(user)
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT=MEDIA_TYPE).status_code == 406
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/jpeg").status_code == 406
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/png").status_code == 200
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/*").status_code == 200

    def test_exif_rotation_is_applied_before_the_metadata_goes(self, api, user):
        image = Image.new("RGB", (40, 20), (10, 200, 10))
        exif = Image.Exif()
        exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
        out = io.BytesIO()
        image.save(out, format="JPEG", exif=exif.tobytes())
        api.as_user(user).put("/api/v1/users/me/avatar/", out.getvalue(), content_type="image/jpeg")
        stored = Image.open(io.BytesIO(bytes(Avatar.objects.get(user=user).image)))
        assert stored.size == (20, 40)


@pytest.mark.django_db
class TestPermissionSet:
    def test_global_permissions_sorted(self, api, user):
        user.roles.add(RoleFactory(permissions=["accounts.view_user", "accounts.add_role"]))
        response = api.as_user(user).get("/api/v1/users/me/permissions/")
        assert response.document["data"]["type"] == "PermissionSet"
        assert response.document["data"]["attributes"]["permissions"] == ["accounts.add_role", "accounts.view_user"]

    def test_site_admin_holds_everything(self, api, site_admin):
        permissions = api.as_user(site_admin).get("/api/v1/users/me/permissions/").document["data"][
            "attributes"]["permissions"]
        assert "accounts.delete_user" in permissions and permissions == sorted(permissions)

    def test_object_grants_are_added(self, api, user):
        from guardian.shortcuts import assign_perm

        role = RoleFactory()
        assign_perm("accounts.change_role", user, role)
        response = api.as_user(user).get(f"/api/v1/users/me/permissions/?objectType=Role&objectId={role.pk}")
        assert "accounts.change_role" in response.document["data"]["attributes"]["permissions"]
        plain = api.get("/api/v1/users/me/permissions/")
        assert "accounts.change_role" not in plain.document["data"]["attributes"]["permissions"]

    def test_bad_object_queries(self, api, user, other_user):
        api.as_user(user)
        assert api.get("/api/v1/users/me/permissions/?objectType=Nope&objectId=1").status_code == 400
        assert api.get("/api/v1/users/me/permissions/?objectType=Role").status_code == 400
        assert api.get(f"/api/v1/users/me/permissions/?objectType=User&objectId={other_user.pk}").status_code == 404
        assert api.get("/api/v1/users/me/permissions/?objectType=User&objectId=abc").status_code == 404
        assert api.get("/api/v1/users/me/permissions/?bogus=1").status_code == 400

    def test_anonymous_is_refused(self, api):
        assert api.get("/api/v1/users/me/permissions/").status_code == 401
