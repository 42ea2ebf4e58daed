"""Issue 12: what real JSON:API clients need (SPEC §2): paths without the slash, links,
relationship and related endpoints, media types, repeated parameters, timestamps."""

import pytest

from tests.jsonapi import body

pytestmark = pytest.mark.django_db


# --------------------------------------------------------------------------- trailing slash


@pytest.mark.parametrize("path", [
    "/api/v1/memberships", "/api/v1/users", "/api/v1/users/me", "/api/v1/users/me/permissions",
    "/api/v1/users/me/avatar", "/api/v1/version", "/api/v1/ping", "/api/v1/accounts/default",
    "/api/v1/roles?page[size]=1",
])
def test_paths_without_the_slash_are_served(api, world, path):
    response = api.as_user(world["account_admin"]).get(path, HTTP_ACCEPT="*/*")
    assert response.status_code == 200, response.content


def test_details_and_nested_paths_without_the_slash(api, world):
    api.as_user(world["account_admin"])
    account = world.account
    for path in (f"/api/v1/accounts/{account.pk}", f"/api/v1/accounts/{account.pk}/auditlog",
                 f"/api/v1/accounts/{account.pk}/activation-code", f"/api/v1/utilities/{world.utility.pk}"):
        assert api.get(path).status_code == 200, path


def test_writes_without_the_slash(api, world):
    api.as_user(world["account_admin"])
    response = api.post("/api/v1/utilities", body("Utility", {"name": "West", "billingDay": 3},
                                                    {"account": {"data": {"type": "Account",
                                                                          "id": str(world.account.pk)}}}))
    assert response.status_code == 201, response.content
    utility_id = response.document["data"]["id"]
    response = api.patch(f"/api/v1/utilities/{utility_id}", body("Utility", {"name": "Westward"}, id=utility_id))
    assert response.status_code == 200
    assert api.delete(f"/api/v1/utilities/{utility_id}").status_code == 204


@pytest.mark.parametrize("path", ["/api/v1/nope", "/api/v1/nope/", "/api/v1/users/x", "/api/v1/users/me/nope",
                                  "/api/v2/users", "/api/v1/users//"])
def test_unrouted_paths_are_jsonapi_404(api, world, path):
    response = api.as_user(world["account_admin"]).get(path)
    assert response.status_code == 404
    assert response.document["errors"][0]["code"] == "not_found"
