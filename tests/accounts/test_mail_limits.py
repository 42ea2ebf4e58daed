"""Limits on what mails an address someone else chooses (issue 17; core.limits): sign-up and
password reset per client address and per mailed address, address changes per user. Over a
limit nothing is sent and nothing is stored, and the answer is the same whether the address
is registered or not."""

import re

import pytest
from django.core import mail

from accounts.models import User
from core.limits import Limit, parse_rate
from tests.factories import PASSWORD, UserFactory
from tests.jsonapi import body

pytestmark = pytest.mark.django_db


def signup(client, email, address="198.51.100.7"):
    return client.post("/signup/", {"email": email, "first_name": "A", "last_name": "B",
                                    "password1": PASSWORD, "password2": PASSWORD}, REMOTE_ADDR=address)


def reset(client, email, address="198.51.100.7"):
    return client.post("/password-reset/", {"email": email}, REMOTE_ADDR=address)


def test_rates_parse():
    assert parse_rate("20/hour") == (20, 3600)
    assert parse_rate("3/minutes") == (3, 60)
    assert parse_rate("1/day") == (1, 86400)


def test_a_limit_counts_each_key_alone_and_refuses_when_any_is_over():
    limit = Limit("test", "2/hour")
    assert limit.hit("a", "x") and limit.hit("a", "y")
    assert not limit.hit("a", "z")  # "a" is over
    assert limit.hit("b", "z")  # "z" has one
    assert limit.hit(None, "w")  # an unknown client is not counted


class TestSignup:
    def test_one_address_is_signed_up_for_at_most_the_limit(self, client, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "signup_address": "2/hour"}
        for n in range(2):
            assert signup(client, "target@example.org", address=f"198.51.100.{n}").status_code == 200
        sent = len(mail.outbox)
        response = signup(client, "target@example.org", address="198.51.100.9")
        assert response.status_code == 429
        assert "Too many requests" in response.content.decode()
        assert len(mail.outbox) == sent

    def test_one_client_signs_up_at_most_the_limit(self, client, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "signup_client": "3/hour"}
        for n in range(3):
            assert signup(client, f"person{n}@example.org").status_code == 200
        response = signup(client, "person9@example.org")
        assert response.status_code == 429
        assert not User.objects.filter(email="person9@example.org").exists()
        assert signup(client, "person9@example.org", address="203.0.113.5").status_code == 200

    def test_registered_and_new_addresses_are_limited_alike(self, client, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "signup_address": "1/hour"}
        UserFactory(email="known@example.org")
        answers = []
        for email in ("known@example.org", "unknown@example.org"):
            signup(client, email, address="203.0.113.1")
            response = signup(client, email, address="203.0.113.2")
            page = re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", response.content.decode())
            answers.append((response.status_code, page.replace(email, "ADDRESS")))
        assert answers[0][0] == answers[1][0] == 429
        assert answers[0][1] == answers[1][1]


class TestPasswordReset:
    def test_one_address_gets_at_most_the_limit(self, client, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "password_reset_address": "2/hour"}
        UserFactory(email="victim@example.org")
        for n in range(2):
            assert reset(client, "victim@example.org", address=f"198.51.100.{n}").status_code == 302
        assert len(mail.outbox) == 2
        response = reset(client, "victim@example.org", address="198.51.100.50")
        assert response.status_code == 429
        assert len(mail.outbox) == 2

    def test_one_client_asks_at_most_the_limit(self, client, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "password_reset_client": "2/hour"}
        for n in range(2):
            assert reset(client, f"someone{n}@example.org").status_code == 302
        assert reset(client, "someone9@example.org").status_code == 429


class TestAddressChange:
    def test_address_changes_are_limited_per_user(self, api, settings):
        settings.ROSTER_LIMITS = {**settings.ROSTER_LIMITS, "verification_mail": "2/hour"}
        user = UserFactory(email="mine@example.org")
        api.as_user(user)
        for n in range(2):
            response = api.patch("/api/v1/users/me/", body(
                "User", {"email": f"new{n}@example.org", "currentPassword": PASSWORD}, id=user.pk))
            assert response.status_code == 200
        response = api.patch("/api/v1/users/me/", body(
            "User", {"email": "new9@example.org", "currentPassword": PASSWORD}, id=user.pk))
        assert response.status_code == 429
        assert response.document["errors"][0]["code"] == "too_many_attempts"
        user.refresh_from_db()
        assert user.pending_email == "new1@example.org"
        assert [m.to for m in mail.outbox] == [["new0@example.org"], ["new1@example.org"]]
