"""`make screenshots`: a PNG of each main page, at desktop and at phone width, with the demo
data (`seed_demo`), into $SCREENSHOTS_DIR (default: screenshots/). Deselected in `make test`."""

import os
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from memberships.models import Utility
from portal.management.commands.seed_demo import (
    ADMIN_EMAIL,
    DEFAULT_PASSWORD,
    DEMO_LEADER_EMAIL,
    DEMO_MEMBER_EMAIL,
    DEMO_USER_EMAIL,
)
from tests.browser.conftest import DESKTOP, PHONE, sign_in

pytestmark = pytest.mark.screenshots


def pages():
    residential = Utility.objects.get(name="Northwind Residential")
    northwind = residential.account
    return [
        (None, "login", "/login/"),
        (DEMO_USER_EMAIL, "dashboard", "/"),
        (DEMO_USER_EMAIL, "account", f"/accounts/{northwind.pk}/"),
        (DEMO_USER_EMAIL, "account-history", f"/accounts/{northwind.pk}/history/"),
        (DEMO_USER_EMAIL, "utility-members", f"/utilities/{residential.pk}/"),
        (DEMO_USER_EMAIL, "utility-products", f"/utilities/{residential.pk}/products/"),
        (DEMO_USER_EMAIL, "utility-charges", f"/utilities/{residential.pk}/charges/"),
        (DEMO_USER_EMAIL, "utility-history", f"/utilities/{residential.pk}/history/"),
        (DEMO_USER_EMAIL, "profile", "/profile/"),
        (DEMO_LEADER_EMAIL, "leader-utility", f"/utilities/{residential.pk}/"),
        (DEMO_MEMBER_EMAIL, "member-dashboard", "/"),
        (ADMIN_EMAIL, "all-accounts", "/accounts/"),
        (ADMIN_EMAIL, "not-found", "/no-such-page/"),
    ]


def test_screenshots(browser, live_server, transactional_db):
    call_command("seed_demo", stdout=StringIO())
    target = Path(os.environ.get("SCREENSHOTS_DIR", "screenshots"))
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        context = browser.new_context(viewport=viewport, base_url=live_server.url, device_scale_factor=1,
                                      is_mobile=width == "phone")
        tab = context.new_page()
        signed_in = None
        for who, name, address in pages():
            if who != signed_in:
                context.clear_cookies()
                if who:
                    sign_in(tab, who, DEFAULT_PASSWORD)
                signed_in = who
            tab.goto(address)
            path = target / f"{name}-{width}.png"
            tab.screenshot(path=str(path), full_page=True)
            written.append(path)
        context.close()
    print(f"\n{len(written)} screenshots in {target}/")
    assert all(path.stat().st_size > 0 for path in written)
