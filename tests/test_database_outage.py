"""When the database does not answer, every path says so with a 503 and `Retry-After`
(issue 17): a JSON:API `service_unavailable` under /api/, a page that needs no database on
the portal; never a 500. `scripts/faults.sh` stops a real PostgreSQL mid-load; these
tests make the same failure happen where it can: in a view, in authentication, in the
session middleware."""

from unittest import mock

import pytest
from django.db.utils import InterfaceError, OperationalError
from django.test import Client

from tests.factories import UserFactory
from tests.jsonapi import assert_jsonapi

pytestmark = pytest.mark.django_db

GONE = OperationalError("connection to server at \"127.0.0.1\", port 5432 failed: Connection refused")


def client():
    return Client(raise_request_exception=False)


@pytest.mark.parametrize("failure", [GONE, InterfaceError("connection already closed")])
def test_an_api_view_whose_database_is_gone_answers_503(failure):
    user = UserFactory()
    http = client()
    http.force_login(user, backend="accounts.backends.RosterBackend")
    with mock.patch("accounts.api.views.UserViewSet.list", side_effect=failure):
        response = http.get("/api/v1/users/", HTTP_ACCEPT="application/vnd.api+json")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    document = assert_jsonapi(response)
    assert document["errors"][0]["code"] == "service_unavailable"


def test_authentication_whose_database_is_gone_answers_503():
    with mock.patch("accounts.authentication.BearerTokenAuthentication.authenticate", side_effect=GONE):
        response = client().get("/api/v1/accounts/", HTTP_AUTHORIZATION="Bearer x",
                                 HTTP_ACCEPT="application/vnd.api+json")
    assert response.status_code == 503
    assert assert_jsonapi(response)["errors"][0]["code"] == "service_unavailable"


def test_a_portal_page_whose_database_is_gone_answers_503_without_the_database():
    user = UserFactory()
    http = client()
    http.force_login(user, backend="accounts.backends.RosterBackend")
    with mock.patch("django.contrib.sessions.backends.db.SessionStore.load", side_effect=GONE):
        response = http.get("/profile/")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert "Nothing you sent was saved" in response.content.decode()


def test_other_failures_are_still_500():
    user = UserFactory()
    http = client()
    http.force_login(user, backend="accounts.backends.RosterBackend")
    with mock.patch("accounts.api.views.UserViewSet.list", side_effect=RuntimeError("bug")):
        response = http.get("/api/v1/users/", HTTP_ACCEPT="application/vnd.api+json")
    assert response.status_code == 500
    assert assert_jsonapi(response)["errors"][0]["code"] == "server_error"
