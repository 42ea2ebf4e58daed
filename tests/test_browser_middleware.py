"""Sessions, CSRF, the cookie user and messages are skipped for /api/ requests with a bearer
token (core.middleware): the token alone decides who calls, cookies or not."""

import pytest
from django.test import Client

from tests.jsonapi import assert_jsonapi, token_for

pytestmark = pytest.mark.django_db


def test_the_token_decides_even_with_another_users_session_cookie(user, other_user):
    client = Client()
    client.force_login(other_user)  # a portal session cookie of someone else
    response = client.get("/api/v1/users/me/", HTTP_AUTHORIZATION=f"Bearer {token_for(user)}")
    assert response.status_code == 200
    assert_jsonapi(response)
    assert response.json()["data"]["id"] == str(user.pk)
    assert "sessionid" not in response.cookies


def test_a_bad_token_is_refused_whatever_the_cookie_says(user, other_user):
    client = Client()
    client.force_login(other_user)
    response = client.get("/api/v1/users/me/", HTTP_AUTHORIZATION="Bearer not-a-token")
    assert response.status_code == 401
    assert_jsonapi(response)


def test_without_a_token_the_cookie_still_signs_the_portal_in(user):
    client = Client()
    client.force_login(user)
    response = client.get("/api/v1/users/me/")
    assert_jsonapi(response)
    assert response.status_code == 200 and response.json()["data"]["id"] == str(user.pk)
