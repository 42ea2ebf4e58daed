"""SPEC §2: the conventions every /api/v1/ endpoint keeps."""

import json

import pytest

from accounts.models import Role, User
from tests.factories import UserFactory
from tests.jsonapi import MEDIA_TYPE, body, rel

pytestmark = pytest.mark.django_db


def test_media_type_of_responses(api, user):
    response = api.as_user(user).get("/api/v1/users/")
    assert response["Content-Type"] == MEDIA_TYPE


def test_body_of_another_media_type_is_415(api, site_admin):
    payload = json.dumps(body("User", {"email": "x@example.org", "password": "long enough passphrase"}))
    response = api.as_user(site_admin).post("/api/v1/users/", payload, content_type="application/json")
    assert response.status_code == 415
    assert response.document["errors"][0]["code"] == "unsupported_media_type"
    assert not User.objects.filter(email="x@example.org").exists()


def test_media_type_parameters_are_415(api, site_admin):
    payload = json.dumps(body("User", {"email": "x@example.org", "password": "long enough passphrase"}))
    response = api.as_user(site_admin).post("/api/v1/users/", payload, content_type=f"{MEDIA_TYPE}; ext=bulk")
    assert response.status_code == 415


@pytest.mark.parametrize("accept", ["application/json", "text/html", f"{MEDIA_TYPE}; ext=bulk"])
def test_accept_that_excludes_jsonapi_is_406(api, user, accept):
    response = api.as_user(user).get("/api/v1/users/", HTTP_ACCEPT=accept)
    assert response.status_code == 406
    assert response.document["errors"][0]["code"] == "not_acceptable"


@pytest.mark.parametrize("accept", [MEDIA_TYPE, "*/*", f"application/json, {MEDIA_TYPE}", ""])
def test_accept_that_allows_jsonapi(api, user, accept):
    assert api.as_user(user).get("/api/v1/users/", HTTP_ACCEPT=accept).status_code == 200


def test_a_body_of_another_type_is_415_on_delete_too(api, user):
    api.as_user(user)
    response = api.generic("DELETE", "/api/v1/users/me/", "garbage", "text/plain")
    assert response.status_code == 415
    assert User.objects.filter(pk=user.pk).exists()


def test_chunked_bodies_need_a_length(api, site_admin):
    api.as_user(site_admin)
    response = api.generic("POST", "/api/v1/roles/", "", MEDIA_TYPE, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411


class TestPagination:
    @pytest.fixture
    def admin_with_users(self, site_admin):
        UserFactory.create_batch(119)
        return site_admin

    def test_default_size_is_50_with_links_and_meta(self, api, admin_with_users):
        document = api.as_user(admin_with_users).get("/api/v1/users/").document
        assert len(document["data"]) == 50
        assert document["meta"]["pagination"] == {"page": 1, "pages": 3, "count": 120}
        links = document["links"]
        assert set(links) == {"first", "last", "next", "prev"}
        assert links["prev"] is None and "page=2" in links["next"] and "page=3" in links["last"]

    @pytest.mark.parametrize("query", ["page=2&page_size=7", "page[number]=2&page[size]=7"])
    def test_both_spellings(self, api, admin_with_users, query):
        document = api.as_user(admin_with_users).get(f"/api/v1/users/?{query}").document
        assert len(document["data"]) == 7
        assert document["meta"]["pagination"] == {"page": 2, "pages": 18, "count": 120}
        assert document["links"]["prev"] is not None

    def test_pages_do_not_overlap(self, api, admin_with_users):
        api.as_user(admin_with_users)
        seen = []
        for page in range(1, 4):
            seen += [item["id"] for item in api.get(f"/api/v1/users/?page={page}&page_size=50").document["data"]]
        assert len(seen) == len(set(seen)) == 120

    def test_size_is_capped_at_500(self, api, site_admin):
        UserFactory.create_batch(520)
        document = api.as_user(site_admin).get("/api/v1/users/?page_size=10000").document
        assert len(document["data"]) == 500

    @pytest.mark.parametrize("query", ["page=0", "page=abc", "page_size=-1", "page[size]=x", "page=1.5"])
    def test_bad_page_parameters_are_400(self, api, user, query):
        response = api.as_user(user).get(f"/api/v1/users/?{query}")
        assert response.status_code == 400
        assert "parameter" in response.document["errors"][0]["source"]

    def test_page_past_the_end_is_404(self, api, user):
        assert api.as_user(user).get("/api/v1/users/?page=99").status_code == 404


class TestQueryParameters:
    @pytest.mark.parametrize("query", [
        "filter[nope]=1", "sort=nope", "sort=-nope", "include=nope", "include=roles.nope", "bogus=1",
        "filter[id]=abc", "filter[id]=99999999999999999999999", "sort=", "filter[isActive]=maybe",
    ])
    def test_unknown_or_bad_parameters_are_400(self, api, user, query):
        response = api.as_user(user).get(f"/api/v1/users/?{query}")
        assert response.status_code == 400, query
        assert response.document["errors"][0]["code"] == "invalid"
        assert "parameter" in response.document["errors"][0]["source"]

    def test_comma_separated_id_filter(self, api, site_admin):
        a, b, _ = UserFactory.create_batch(3)
        document = api.as_user(site_admin).get(f"/api/v1/users/?filter[id]={a.pk},{b.pk}").document
        assert {item["id"] for item in document["data"]} == {str(a.pk), str(b.pk)}

    def test_sparse_fieldsets(self, api, user):
        document = api.as_user(user).get("/api/v1/users/?fields[User]=email").document
        assert set(document["data"][0]["attributes"]) == {"email"}

    def test_include_gives_a_compound_document(self, api, user, make_role):
        role = make_role()
        user.roles.add(role)
        document = api.as_user(user).get("/api/v1/users/me/?include=roles").document
        assert document["included"][0]["type"] == "Role" and document["included"][0]["id"] == str(role.pk)

    @pytest.mark.parametrize("path", ["/api/v1/users/me/?foo=1", "/api/v1/sessions/current/?page=2",
                                      "/api/v1/version/?x=1", "/api/v1/users/me/?sort=email",
                                      "/api/v1/users/?sort=first_name", "/api/v1/users/?filter[is_active]=true"])
    def test_parameters_an_endpoint_does_not_define_are_400(self, api, user, path):
        assert api.as_user(user).get(path).status_code == 400

    def test_sort_by_id(self, api, site_admin):
        UserFactory.create_batch(3)
        ids = [int(u["id"]) for u in api.as_user(site_admin).get("/api/v1/users/?sort=-id").document["data"]]
        assert ids == sorted(ids, reverse=True)

    def test_a_repeated_include_path_is_400(self, api, site_admin):
        assert api.as_user(site_admin).get("/api/v1/users/?include=roles,roles").status_code == 400

    def test_nested_includes_are_400(self, api, world):
        response = api.as_user(world["account_admin"]).get("/api/v1/memberships/?include=utility.memberships")
        assert response.status_code == 400

    @pytest.mark.parametrize("sort", ["-", "name,", ",name", "--name", ".name", "name.", "-.", "a..b"])
    def test_empty_sort_terms_are_400(self, api, world, sort):
        assert api.as_user(world["account_admin"]).get(f"/api/v1/utilities/?sort={sort}").status_code == 400

    @pytest.mark.parametrize("query", ["page=²", "page_size=²", "page[number]=٣", "filter[utility]=²",
                                       "filter[user]=1,²"])
    def test_non_ascii_digits_in_pages_and_id_filters_are_400(self, api, user, query):
        response = api.as_user(user).get(f"/api/v1/memberships/?{query}")
        assert response.status_code == 400

    def test_includes_carry_only_what_the_caller_may_read(self, api, world):
        api.as_user(world["member"])
        document = api.get("/api/v1/utilities/?include=account").document
        assert document["data"] and not [r for r in document.get("included", []) if r["type"] == "Account"]
        admin_doc = api.as_user(world["account_admin"]).get(
            f"/api/v1/accounts/{world.account.pk}/?include=consultancyAccount").document
        assert admin_doc.get("included", []) == []


class TestErrors:
    def test_unmatched_api_paths_are_jsonapi_404(self, api):
        # (`/api/v1/users` without its slash is served since issue 12: tests/test_conformance.py)
        for path in ("/api/v1/nothing/", "/api/v2/", "/api/v1/nothing", "/api/v1/users/abc/"):
            response = api.get(path)
            assert response.status_code == 404 and response.document["errors"][0]["code"] == "not_found"

    def test_non_numeric_and_huge_ids_are_404(self, api, user):
        api.as_user(user)
        for path in ("/api/v1/users/x1/", "/api/v1/users/-1/", "/api/v1/users/99999999999999999999999/",
                     "/api/v1/users/99999999/"):
            assert api.get(path).status_code == 404, path

    def test_unseen_object_is_404_not_403(self, api, user, other_user):
        response = api.as_user(user).get(f"/api/v1/users/{other_user.pk}/")
        assert response.status_code == 404

    def test_bodies_over_2_mib_are_413(self, api, site_admin):
        huge = json.dumps(body("User", {"email": "x@example.org", "firstName": "x" * (3 * 1024 * 1024)}))
        response = api.as_user(site_admin).post("/api/v1/users/", huge)
        assert response.status_code == 413
        assert not User.objects.filter(email="x@example.org").exists()

    def test_wrong_type_is_409(self, api, site_admin):
        response = api.as_user(site_admin).post("/api/v1/users/", body("Role", {"name": "x"}))
        assert response.status_code == 409 and response.document["errors"][0]["code"] == "conflict"

    def test_id_mismatch_is_409(self, api, user, other_user):
        response = api.as_user(user).patch(f"/api/v1/users/{user.pk}/", body("User", {"firstName": "x"},
                                                                                 id=other_user.pk))
        assert response.status_code == 409

    def test_wrong_relationship_type_is_409(self, api, site_admin, user):
        payload = body("User", relationships={"roles": {"data": [{"type": "User", "id": str(user.pk)}]}},
                       id=user.pk)
        assert api.as_user(site_admin).patch(f"/api/v1/users/{user.pk}/", payload).status_code == 409

    def test_errors_are_jsonapi_with_stable_codes(self, api, site_admin):
        response = api.as_user(site_admin).post("/api/v1/users/", body("User", {"email": "not-an-email",
                                                                                "password": "x"}))
        assert response.status_code == 400
        for error in response.document["errors"]:
            assert error["code"] in {"invalid", "required", "unique"}
            assert error["source"]["pointer"].startswith("/data/attributes/")

    def test_camel_case_members_only(self, api, user):
        response = api.as_user(user).patch(f"/api/v1/users/{user.pk}/", body("User", {"first_name": "x"},
                                                                                 id=user.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"]["pointer"] == "/data/attributes/first_name"

    def test_attribute_sent_as_relationship_is_400(self, api, user):
        payload = body("User", relationships={"firstName": {"data": None}}, id=user.pk)
        assert api.as_user(user).patch(f"/api/v1/users/{user.pk}/", payload).status_code == 400

    def test_client_generated_ids_are_403(self, api, site_admin):
        payload = body("User", {"email": "y@example.org", "password": "long enough passphrase"}, id=12345)
        assert api.as_user(site_admin).post("/api/v1/users/", payload).status_code == 403
        assert not User.objects.filter(email="y@example.org").exists()

    def test_method_not_allowed_is_jsonapi(self, api, user):
        response = api.as_user(user).put(f"/api/v1/users/{user.pk}/", body("User", {}, id=user.pk))
        assert response.status_code == 405
        assert response.document["errors"][0]["code"] == "method_not_allowed"

    def test_deeply_nested_json_is_a_400_not_a_500(self, api):
        deep = "[" * 5000 + "]" * 5000
        raw = '{"data": {"type": "Session", "attributes": {"email": ' + deep + ', "password": "x"}}}'
        response = api.generic("POST", "/api/v1/sessions/", raw, MEDIA_TYPE)
        assert response.status_code == 400

    def test_nan_is_not_json(self, api, site_admin):
        raw = '{"data": {"type": "Role", "attributes": {"name": NaN}}}'
        response = api.as_user(site_admin).generic("POST", "/api/v1/roles/", raw, MEDIA_TYPE)
        assert response.status_code == 400
        assert not Role.objects.exists()

    def test_server_errors_under_api_are_jsonapi(self, api, user, monkeypatch):
        from accounts.api import views

        def explode(*args, **kwargs):
            raise RuntimeError("boom")

        monkeypatch.setattr(views.UserViewSet, "retrieve", explode)
        api.raise_request_exception = False
        response = api.as_user(user).get("/api/v1/users/me/")
        assert response.status_code == 500
        assert response.document["errors"][0]["code"] == "server_error"

    def test_a_disallowed_host_under_api_gets_a_jsonapi_400(self, api):
        response = api.get("/api/v1/version/", HTTP_HOST="evil.example")
        assert response.status_code == 400
        assert response.document["errors"][0]["code"] == "invalid"

    def test_unsafe_methods_on_unrouted_api_paths_are_jsonapi_404(self, api, user):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        for method in ("post", "patch", "delete", "put"):
            response = getattr(client, method)("/api/v1/roles/abc/", data="", content_type=MEDIA_TYPE)
            assert response.status_code == 404 and response["Content-Type"] == MEDIA_TYPE, method


class TestErrorPointers:
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
        response = api.as_user(user).patch("/api/v1/users/me/?include=roles.bogus",
                                           body("User", {"firstName": "X"}, id=user.pk))
        assert response.status_code == 400
        assert response.document["errors"][0]["source"] == {"parameter": "include"}
        user.refresh_from_db()
        assert user.first_name != "X"

    def test_a_non_ascii_digit_as_a_relationship_id_is_refused(self, api, site_admin):
        from accounts.models import Account

        account = Account.objects.create(name="Digits")
        response = api.as_user(site_admin).post("/api/v1/utilities/", body(
            "Utility", {"name": "U", "billingDay": 1}, {"account": rel("Account", "²")}))
        assert response.status_code in (400, 404)
        response = api.as_user(site_admin).post("/api/v1/account-memberships/", body(
            "AccountMembership", {}, {"account": rel("Account", str(account.pk)), "user": rel("User", "²")}))
        assert response.status_code == 400


class TestSessionCookie:
    def test_the_portal_cookie_authenticates_the_api(self, user):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        response = client.get("/api/v1/users/me/", HTTP_ACCEPT=MEDIA_TYPE)
        assert response.status_code == 200

    def test_unsafe_methods_need_csrf(self, user):
        from django.test import Client

        client = Client(enforce_csrf_checks=True)
        client.force_login(user)
        payload = json.dumps(body("User", {"firstName": "Csrf"}, id=user.pk))
        refused = client.patch(f"/api/v1/users/{user.pk}/", payload, content_type=MEDIA_TYPE)
        assert refused.status_code == 403
        token = "a" * 32
        client.cookies["csrftoken"] = token
        allowed = client.patch(f"/api/v1/users/{user.pk}/", payload, content_type=MEDIA_TYPE,
                               HTTP_X_CSRFTOKEN=token)
        assert allowed.status_code == 200


class TestService:
    def test_version(self, api):
        from config import __version__

        response = api.get("/api/v1/version/")
        assert response.status_code == 200
        assert response.document["data"]["attributes"]["version"] == __version__

    def test_ping(self, api):
        response = api.get("/api/v1/ping/")
        assert response.status_code == 200 and response.document["data"]["type"] == "Ping"

    def test_ping_is_503_when_the_database_fails(self, api, monkeypatch):
        from django.db import connection
        from django.db.utils import OperationalError

        def broken(*args, **kwargs):
            raise OperationalError("down")

        monkeypatch.setattr(connection, "cursor", broken)
        response = api.get("/api/v1/ping/")
        assert response.status_code == 503


@pytest.mark.parametrize("path", ["/api/v1/users/", "/api/v1/roles/", "/api/v1/sessions/", "/api/v1/contacts/"])
def test_options_is_a_jsonapi_meta_document(api, user, path):
    response = api.as_user(user).generic("OPTIONS", path)
    assert response.status_code == 200
    assert "meta" in response.document and "data" not in response.document
    assert "GET" in response["Allow"]
