"""Signed-in browsers end after a while without a request, and after an absolute limit in
any case (issue 17; core.middleware.BrowserIdleTimeoutMiddleware)."""

import time

import pytest
from django.test import Client

from core.middleware import BrowserIdleTimeoutMiddleware as Idle
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser():
    client = Client()
    client.force_login(UserFactory(), backend="accounts.backends.RosterBackend")
    assert client.get("/profile/").status_code == 200  # first request: the clock starts
    return client


def shift(client, **seconds_ago):
    session = client.session
    for key, ago in seconds_ago.items():
        session[key] = time.time() - ago
    session.save()


def test_a_browser_idle_too_long_is_signed_out_and_told_why(browser, settings):
    idle = settings.ROSTER_BROWSER_IDLE_TTL.total_seconds()
    shift(browser, **{Idle.LAST_SEEN: idle + 5})
    response = browser.get("/profile/")
    assert response.status_code == 302 and response["Location"].startswith("/login/")
    login = browser.get(response["Location"])
    assert "signed out after a while without activity" in login.content.decode()
    assert browser.get("/profile/").status_code == 302  # still signed out


def test_activity_keeps_it_alive(browser, settings):
    idle = settings.ROSTER_BROWSER_IDLE_TTL.total_seconds()
    shift(browser, **{Idle.LAST_SEEN: idle - 60})
    assert browser.get("/profile/").status_code == 200
    # the request moved the last activity forward (it was older than the touch interval)
    assert time.time() - browser.session[Idle.LAST_SEEN] < 5
    assert browser.get("/profile/").status_code == 200


def test_the_absolute_limit_holds_even_when_active(browser, settings):
    absolute = settings.ROSTER_BROWSER_ABSOLUTE_TTL.total_seconds()
    shift(browser, **{Idle.SIGNED_IN: absolute + 5, Idle.LAST_SEEN: 1})
    assert browser.get("/profile/").status_code == 302


def test_recent_activity_is_not_rewritten_on_every_request(browser):
    before = browser.session[Idle.LAST_SEEN]
    time.sleep(0.01)
    browser.get("/profile/")
    assert browser.session[Idle.LAST_SEEN] == before  # within the touch interval: nothing written


def test_the_admin_is_signed_out_too(settings):
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True), backend="accounts.backends.RosterBackend")
    assert client.get("/admin/").status_code == 200
    shift(client, **{Idle.LAST_SEEN: settings.ROSTER_BROWSER_IDLE_TTL.total_seconds() + 5})
    assert client.get("/admin/").status_code == 302
