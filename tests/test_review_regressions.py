"""Defects a black-box review found, pinned so they stay fixed."""

import io
import json

import pytest
from PIL import Image

from accounts.models import Avatar, Role, User
from tests.factories import PASSWORD, RoleFactory, UserFactory
from tests.jsonapi import MEDIA_TYPE, body, rel

pytestmark = pytest.mark.django_db


def test_deeply_nested_json_is_a_400_not_a_500(api):
    deep = "[" * 5000 + "]" * 5000
    raw = '{"data": {"type": "Session", "attributes": {"email": ' + deep + ', "password": "x"}}}'
    response = api.generic("POST", "/api/v1/sessions/", raw, MEDIA_TYPE)
    assert response.status_code == 400


def test_nan_is_not_json(api, site_admin):
    raw = '{"data": {"type": "Role", "attributes": {"name": NaN}}}'
    response = api.as_user(site_admin).generic("POST", "/api/v1/roles/", raw, MEDIA_TYPE)
    assert response.status_code == 400
    assert not Role.objects.exists()


class TestKeepAliveBodies:
    def test_the_document_read_back_is_accepted(self, api, user):
        api.as_user(user)
        current = api.get("/api/v1/sessions/current/").document["data"]
        assert api.patch("/api/v1/sessions/current/", {"data": current}).status_code == 200
        minimal = {"data": {"type": "Session", "id": current["id"]}}
        assert api.patch("/api/v1/sessions/current/", minimal).status_code == 200

    def test_credentials_or_changes_in_the_body_are_refused(self, api, user):
        api.as_user(user)
        current = api.get("/api/v1/sessions/current/").document["data"]
        for attributes in ({"email": "a@b.c", "password": "x"}, {"userAgent": "spoofed"}):
            response = api.patch("/api/v1/sessions/current/", body("Session", attributes, id=current["id"]))
            assert response.status_code == 400


def test_lockout_counts_the_person_not_the_spelling(api):
    user = UserFactory()
    for _ in range(5):
        api.post("/api/v1/sessions/", body("Session", {"username": user.username, "password": "wrong"}))
    by_email = api.post("/api/v1/sessions/", body("Session", {"email": user.email, "password": PASSWORD}))
    assert by_email.status_code == 429


class TestPointers:
    def test_id_mismatch_points_at_the_id(self, api, user, other_user):
        response = api.as_user(user).patch(f"/api/v1/users/{user.pk}/", body("User", {}, id=other_user.pk))
        assert response.status_code == 409
        assert response.document["errors"][0]["source"]["pointer"] == "/data/id"

    def test_wrong_type_points_at_the_type(self, api, user):
        response = api.as_user(user).patch(f"/api/v1/users/{user.pk}/", body("user", {}, id=user.pk))
        assert response.status_code == 409
        assert response.document["errors"][0]["source"]["pointer"] == "/data/type"

    def test_wrong_relationship_type_points_at_the_relationship(self, api, site_admin, user):
        payload = body("User", relationships={"roles": {"data": [{"type": "User", "id": str(user.pk)}]}},
                       id=user.pk)
        response = api.as_user(site_admin).patch(f"/api/v1/users/{user.pk}/", payload)
        assert response.status_code == 409
        assert response.document["errors"][0]["source"]["pointer"] == "/data/relationships/roles"

    def test_empty_filter_names_the_parameter(self, api, user):
        response = api.as_user(user).get("/api/v1/users/?filter[id]=")
        assert response.status_code == 400
        assert response.document["errors"][0]["source"] == {"parameter": "filter[id]"}

    def test_bad_include_on_writes_names_the_parameter(self, api, user):
        response = api.as_user(user).patch(f"/api/v1/users/me/?include=roles.bogus",
                                           body("User", {"firstName": "X"}, id=user.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"] == {"parameter": "include"}
        user.refresh_from_db()
        assert user.first_name != "X"

    def test_adding_oneself_by_email_points_at_email(self, api, user):
        response = api.as_user(user).post("/api/v1/contacts/", body("Contact", {"email": user.email}))
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/email"


class TestMediaTypes:
    def test_a_body_of_another_type_is_415_on_delete_too(self, api, user):
        api.as_user(user)
        response = api.generic("DELETE", "/api/v1/users/me/", "garbage", "text/plain")
        assert response.status_code == 415
        assert User.objects.filter(pk=user.pk).exists()

    def test_chunked_bodies_need_a_length(self, api, site_admin):
        api.as_user(site_admin)
        response = api.generic("POST", "/api/v1/roles/", "", MEDIA_TYPE, HTTP_TRANSFER_ENCODING="chunked")
        assert response.status_code == 411

    def test_avatar_follows_accept(self, api, user):
        api.as_user(user)
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT=MEDIA_TYPE).status_code == 406
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/jpeg").status_code == 406
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/png").status_code == 200
        assert api.get("/api/v1/users/me/avatar/", HTTP_ACCEPT="image/*").status_code == 200


class TestQueryParameters:
    @pytest.mark.parametrize("path", ["/api/v1/users/me/?foo=1", "/api/v1/sessions/current/?page=2",
                                      "/api/v1/version/?x=1", "/api/v1/users/me/?sort=email",
                                      "/api/v1/users/?sort=first_name", "/api/v1/users/?filter[is_active]=true"])
    def test_parameters_an_endpoint_does_not_define_are_400(self, api, user, path):
        assert api.as_user(user).get(path).status_code == 400

    def test_sort_by_id(self, api, site_admin):
        UserFactory.create_batch(3)
        ids = [int(u["id"]) for u in api.as_user(site_admin).get("/api/v1/users/?sort=-id").document["data"]]
        assert ids == sorted(ids, reverse=True)


def test_server_errors_under_api_are_jsonapi(api, user, monkeypatch):
    from accounts.api import views

    def explode(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(views.UserViewSet, "retrieve", explode)
    api.raise_request_exception = False
    response = api.as_user(user).get("/api/v1/users/me/")
    assert response.status_code == 500
    assert response.document["errors"][0]["code"] == "server_error"


def test_avatar_rotation_from_exif_is_applied(api, user):
    image = Image.new("RGB", (40, 20), (10, 200, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90° clockwise to display
    out = io.BytesIO()
    image.save(out, format="JPEG", exif=exif.tobytes())
    api.as_user(user).put("/api/v1/users/me/avatar/", out.getvalue(), content_type="image/jpeg")
    stored = Image.open(io.BytesIO(bytes(Avatar.objects.get(user=user).image)))
    assert stored.size == (20, 40)


def test_role_holders_cannot_hand_themselves_new_powers_through_users(api):
    changer = UserFactory()
    changer.roles.add(RoleFactory(permissions=["accounts.change_user", "accounts.view_user"]))
    powerful = RoleFactory(permissions=["accounts.delete_user"])
    response = api.as_user(changer).patch(f"/api/v1/users/{changer.pk}/", body(
        "User", relationships={"roles": rel("Role", [powerful.pk])}, id=changer.pk))
    assert response.status_code == 403
    assert not changer.roles.filter(pk=powerful.pk).exists()


def test_a_disallowed_host_under_api_gets_a_jsonapi_400(api):
    response = api.get("/api/v1/version/", HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response.document["errors"][0]["code"] == "invalid"


class TestAccountsAndUtilitiesReview:
    """Defects the second review found in accounts, utilities and memberships."""

    @pytest.fixture
    def setup(self, db):
        from accounts.models import Account
        from accounts.models import AccountMembership
        from memberships.models import Membership, Utility

        consultancy = Account.objects.create(name="Consult")
        account = Account.objects.create(name="Acme", consultancy_account=consultancy)
        hidden = Account.objects.create(name="Hidden")
        admin, member = UserFactory(), UserFactory()
        AccountMembership.objects.create(account=account, user=admin, role="admin")
        utility = Utility.objects.create(account=account, name="U1", billing_day=1)
        Membership.objects.create(utility=utility, user=member, role="member", is_subscriber=False)
        return {"account": account, "hidden": hidden, "consultancy": consultancy, "admin": admin,
                "member": member, "utility": utility}

    def test_includes_carry_only_what_the_caller_may_read(self, api, setup):
        api.as_user(setup["member"])
        document = api.get(f"/api/v1/utilities/?include=account").document
        assert document["data"] and not [r for r in document.get("included", []) if r["type"] == "Account"]
        admin_doc = api.as_user(setup["admin"]).get(
            f"/api/v1/accounts/{setup['account'].pk}/?include=consultancyAccount").document
        assert admin_doc.get("included", []) == []

    def test_nested_includes_are_400(self, api, setup):
        response = api.as_user(setup["admin"]).get("/api/v1/memberships/?include=utility.memberships")
        assert response.status_code == 400

    @pytest.mark.parametrize("sort", ["-", "name,", ",name", "--name"])
    def test_empty_sort_terms_are_400(self, api, setup, sort):
        assert api.as_user(setup["admin"]).get(f"/api/v1/utilities/?sort={sort}").status_code == 400

    def test_forwarded_for_is_not_trusted_by_default(self, api, setup):
        from accounts.models import AuditLogEntry

        api.as_user(setup["admin"]).patch(f"/api/v1/accounts/{setup['account'].pk}/", body(
            "Account", {"dataRetention": 9}, id=setup["account"].pk), HTTP_X_FORWARDED_FOR="not-an-ip",
            REMOTE_ADDR="192.0.2.44")
        entry = AuditLogEntry.objects.filter(content_type__model="account").latest("timestamp")
        assert entry.remote_addr == "192.0.2.44"

    def test_consultancy_changes_by_non_site_admins_are_403_whatever_the_id(self, api, setup):
        api.as_user(setup["admin"])
        for target in (setup["hidden"].pk, 999999):
            response = api.patch(f"/api/v1/accounts/{setup['account'].pk}/", body(
                "Account", relationships={"consultancyAccount": rel("Account", target)}, id=setup["account"].pk))
            assert response.status_code == 403

    def test_the_default_account_has_no_members_or_codes(self, api, setup, site_admin):
        from accounts.models import Account

        default = Account.objects.get(is_default=True)
        api.as_user(site_admin)
        added = api.post("/api/v1/account-memberships/", body("AccountMembership", {}, {
            "user": rel("User", setup["member"].pk), "account": rel("Account", default.pk)}))
        assert added.status_code == 409
        assert api.get(f"/api/v1/accounts/{default.pk}/activation-code/").status_code == 409

    def test_personal_utility_owner_stays_admin_and_member(self, api, db):
        from memberships.models import Membership

        owner = UserFactory()
        api.as_user(owner)
        utility_id = api.post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 2})).document[
            "data"]["id"]
        mine = Membership.objects.get(utility_id=utility_id, user=owner)
        demote = api.patch(f"/api/v1/memberships/{mine.pk}/", body("Membership", {"role": "spectator"}, id=mine.pk))
        assert demote.status_code == 409
        assert api.delete(f"/api/v1/memberships/{mine.pk}/").status_code == 409
        assert api.get("/api/v1/utilities/personal/").status_code == 200

    def test_personal_utility_names_cannot_be_squatted(self, api, db):
        first, second = UserFactory(), UserFactory()
        mine = api.as_user(first).post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 2}))
        utility_id = mine.document["data"]["id"]
        api.patch(f"/api/v1/utilities/{utility_id}/", body("Utility", {"name": f"{second.username}'s utility"},
                                                           id=utility_id))
        theirs = api.as_user(second).post("/api/v1/utilities/personal/", body("Utility", {"billingDay": 3}))
        assert theirs.status_code == 201

    @pytest.mark.parametrize("attributes", [{"isSubscriber": "yes"}, {"isSubscriber": 1}])
    def test_booleans_are_json_booleans(self, api, setup, attributes):
        response = api.as_user(setup["admin"]).post("/api/v1/memberships/", body("Membership", attributes, {
            "user": rel("User", setup["admin"].pk), "utility": rel("Utility", setup["utility"].pk)}))
        assert response.status_code == 400

    def test_integers_are_json_integers(self, api, setup):
        response = api.as_user(setup["admin"]).post("/api/v1/utilities/", body("Utility", {
            "name": "Str", "billingDay": "5"}, {"account": rel("Account", setup["account"].pk)}))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/billingDay"

    def test_activation_is_strict(self, api, setup):
        api.as_user(setup["member"])
        unknown = api.post("/api/v1/activations/", body("Activation", {"activationCode": "ABCDEFGH", "x": 1}))
        assert unknown.status_code == 400
        missing = api.post("/api/v1/activations/", body("Activation", {}))
        assert missing.document["errors"][0]["source"]["pointer"] == "/data/attributes/activationCode"

    def test_filter_errors_name_the_parameter_sent(self, api, setup):
        response = api.as_user(setup["admin"]).get("/api/v1/memberships/?filter[utility]=abc")
        assert response.document["errors"][0]["source"] == {"parameter": "filter[utility]"}

    def test_permission_set_reports_read_rights_and_membership_rights(self, api, setup):
        from memberships.models import Membership

        api.as_user(setup["member"])
        utility = api.get(f"/api/v1/users/me/permissions/?objectType=Utility&objectId={setup['utility'].pk}")
        assert "memberships.view_utility" in utility.document["data"]["attributes"]["permissions"]
        mine = Membership.objects.get(user=setup["member"])
        own = api.get(f"/api/v1/users/me/permissions/?objectType=Membership&objectId={mine.pk}")
        assert "memberships.delete_membership" in own.document["data"]["attributes"]["permissions"]

    def test_timestamps_written_back_in_another_format_are_unchanged(self, api, setup):
        from memberships.models import Membership

        mine = Membership.objects.get(user=setup["member"])
        api.as_user(setup["admin"])
        stamp = api.get(f"/api/v1/memberships/{mine.pk}/").document["data"]["attributes"]["isSubscriberDatetime"]
        other_format = stamp.replace("Z", "+00:00")
        response = api.patch(f"/api/v1/memberships/{mine.pk}/", body("Membership", {
            "isSubscriberDatetime": other_format}, id=mine.pk))
        assert response.status_code == 200


class TestFuzzFindings:
    def test_unsafe_methods_on_unrouted_api_paths_are_jsonapi_404(self, api, user):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        for method in ("post", "patch", "delete", "put"):
            response = getattr(client, method)("/api/v1/roles/abc/", data="", content_type=MEDIA_TYPE)
            assert response.status_code == 404 and response["Content-Type"] == MEDIA_TYPE, method

    def test_a_repeated_include_path_is_400(self, api, site_admin):
        assert api.as_user(site_admin).get("/api/v1/users/?include=roles,roles").status_code == 400


class TestPortalReview:
    @pytest.fixture
    def admin_account(self, db):
        from accounts.models import Account
        from accounts.models import AccountMembership

        account = Account.objects.create(name="Portal Co")
        admin = UserFactory()
        AccountMembership.objects.create(account=account, user=admin, role="admin")
        return account, admin

    @pytest.mark.parametrize("raw", ['{"a": 1' + "0" * 400 + "}", '{"a": ' + "9" * 5000 + "}"])
    def test_huge_numbers_in_custom_attributes_are_a_field_error(self, client, admin_account, raw):
        account, admin = admin_account
        client.force_login(admin)
        response = client.post(f"/accounts/{account.pk}/", {"name": account.name, "custom_attributes": raw,
                                                              "health_time_period": 86400})
        assert response.status_code == 200
        account.refresh_from_db()
        assert account.custom_attributes == {}

    def test_huge_numbers_in_custom_attributes_are_a_400_over_the_api(self, api, admin_account):
        account, admin = admin_account
        response = api.as_user(admin).patch(f"/api/v1/accounts/{account.pk}/", body(
            "Account", {"customAttributes": {"a": 10 ** 400}}, id=account.pk))
        assert response.status_code == 400

    def test_refreshing_the_default_accounts_code_is_a_message(self, client, site_admin):
        from accounts.models import Account

        default = Account.objects.get(is_default=True)
        client.force_login(site_admin)
        response = client.post(f"/accounts/{default.pk}/activation-code/refresh/")
        assert response.status_code == 302

    def test_personal_owner_sets_the_billing_day_in_the_portal(self, client, db):
        from memberships.services import personal_utility_create

        owner = UserFactory()
        utility = personal_utility_create(user=owner, billing_day=3)
        client.force_login(owner)
        client.post(f"/utilities/{utility.pk}/", {"name": utility.name, "billing_day": 20})
        utility.refresh_from_db()
        assert utility.billing_day == 20


@pytest.mark.django_db
class TestPerformanceChangeReview:
    """Found by the review of the issue-6 change."""

    @pytest.mark.parametrize("method", ["head", "options"])
    def test_only_delete_deletes_the_caller(self, user, method):
        from django.test import Client

        from tests.jsonapi import token_for

        client = Client(HTTP_AUTHORIZATION=f"Bearer {token_for(user)}", HTTP_ACCEPT=MEDIA_TYPE)
        response = getattr(client, method)("/api/v1/users/me/")
        assert response.status_code == 200
        assert User.objects.filter(pk=user.pk).exists()

    @pytest.mark.parametrize("query", ["page=²", "page_size=²", "page[number]=٣", "filter[utility]=²",
                                       "filter[user]=1,²"])
    def test_non_ascii_digits_are_a_400(self, api, user, query):
        response = api.as_user(user).get(f"/api/v1/memberships/?{query}")
        assert response.status_code == 400

    def test_a_non_ascii_digit_as_a_relationship_id_is_refused(self, api, site_admin):
        from accounts.models import Account

        account = Account.objects.create(name="Digits")
        response = api.as_user(site_admin).post("/api/v1/utilities/", body(
            "Utility", {"name": "U", "billingDay": 1}, {"account": rel("Account", "²")}))
        assert response.status_code in (400, 404)
        response = api.as_user(site_admin).post("/api/v1/account-memberships/", body(
            "AccountMembership", {}, {"account": rel("Account", str(account.pk)), "user": rel("User", "²")}))
        assert response.status_code == 400

    def test_session_visibility_is_not_frozen_on_the_user_object(self, user):
        from datetime import timedelta

        from django.utils import timezone

        from accounts.models import Session
        from tests.jsonapi import token_for

        token_for(user)
        assert Session.objects.for_user(user).count() == 1
        Session.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
        assert Session.objects.for_user(user).count() == 0
