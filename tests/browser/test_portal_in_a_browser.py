"""The portal as its users meet it, in Chromium: signing in, joining with a code, promoting a
member, a refusal shown where the user is looking, revoking a session, reading the charges
chart; every page at phone width without horizontal scroll and without axe-core violations."""

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import ActivationCode, Session, hash_token
from billing.models import Charge
from memberships.models import Membership
from tests.billing.factories import ChargeFactory, ProductFactory
from tests.browser.conftest import PASSWORD, axe_violations, no_horizontal_scroll, sign_in


def test_sign_in_from_the_dashboard_address(page, demo):
    page.goto("/")
    assert "/login/?next=/" in page.url
    page.get_by_label("Email or username").fill("ada@example.org")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_text("The email/username or password is wrong.")).to_be_visible()
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Hello, Ada")).to_be_visible()
    expect(page.get_by_role("link", name="Acme Energy")).to_be_visible()


def test_join_an_account_with_its_activation_code(page, demo):
    ActivationCode.objects.create(account=demo["account"], code="Ab3dEf7h",
                                  expires_at=timezone.now() + timedelta(hours=1))
    sign_in(page, "nina@example.org")
    field = page.get_by_role("textbox", name="Activation code")
    field.fill("WRONGONE")
    page.get_by_role("button", name="Join").click()
    # Back on the dashboard (PRG) with the error next to the field, which has the focus.
    expect(page.get_by_text("This activation code is wrong or has expired.")).to_be_in_viewport()
    expect(page.get_by_role("textbox", name="Activation code")).to_be_focused()
    page.get_by_role("textbox", name="Activation code").fill("Ab3dEf7h")
    page.get_by_role("button", name="Join").click()
    expect(page.get_by_role("heading", name="Acme Energy")).to_be_visible()
    expect(page.get_by_text("You joined Acme Energy.")).to_be_visible()


def test_promote_a_member(page, demo):
    sign_in(page, "ada@example.org")
    page.goto(f"/utilities/{demo['utility'].pk}/")
    page.get_by_label("Role of mia@example.org", exact=True).select_option("leader")
    page.get_by_role("button", name="Change the role of mia@example.org").click()
    expect(page.get_by_text("mia@example.org is now a leader.")).to_be_in_viewport()
    assert Membership.objects.get(user=demo["member"]).role == "leader"


def test_subscribing_until_the_seats_run_out_shows_the_refusal_in_view(phone, demo):
    # At phone width, where the members table is long: the message must still be where the user looks.
    sign_in(phone, "leo@example.org")
    phone.goto(f"/utilities/{demo['utility'].pk}/")
    for email in ("mia@example.org", "fan0@example.org"):
        phone.get_by_role("button", name=f"Subscribe {email}").click()
        phone.wait_for_load_state()
    message = phone.get_by_text("All 2 subscriber seats of this utility are taken.")
    expect(message).to_be_in_viewport()
    assert Membership.objects.filter(utility=demo["utility"], is_subscriber=True).count() == 2


def test_unsubscribe_asks_first(page, demo):
    sign_in(page, "leo@example.org")
    page.goto(f"/utilities/{demo['utility'].pk}/")
    page.get_by_role("link", name="Unsubscribe leo@example.org").click()
    expect(page.get_by_role("heading", name="Unsubscribe Leo Leader?")).to_be_visible()
    page.get_by_role("link", name="Cancel").click()
    assert Membership.objects.get(user=demo["leader"]).is_subscriber
    page.get_by_role("link", name="Unsubscribe leo@example.org").click()
    page.get_by_role("button", name="Unsubscribe").click()
    expect(page.get_by_text("leo@example.org no longer subscribes.")).to_be_in_viewport()
    assert not Membership.objects.get(user=demo["leader"]).is_subscriber


def test_revoke_an_api_session(page, demo):
    now = timezone.now()
    token = Session.objects.create(user=demo["member"], key_hash=hash_token("t" * 40), created=now,
                                   last_seen_at=now, expires_at=now + timedelta(hours=8),
                                   absolute_expires_at=now + timedelta(days=30), user_agent="curl/8.5")
    sign_in(page, "mia@example.org")
    page.goto("/profile/")
    page.get_by_role("link", name="Where you are signed in").click()
    expect(page.get_by_text("(this browser)")).to_be_visible()
    page.locator("#sessions").get_by_role("link", name="Revoke").click()
    expect(page.get_by_role("heading", name="Revoke this API session?")).to_be_visible()
    page.get_by_role("button", name="Revoke the session").click()
    expect(page.get_by_text("The session is revoked; its token no longer works.")).to_be_in_viewport()
    assert not Session.objects.filter(pk=token.pk).exists()


def test_read_the_charges_chart(page, demo):
    product = ProductFactory(utility=demo["utility"], name="Compute", allowance=100, limit=200)
    ChargeFactory(product=product, amount=Decimal("40"), kind=Charge.Kind.PROCESSING)
    ChargeFactory(product=product, amount=Decimal("2.5"), kind=Charge.Kind.STORAGE)
    sign_in(page, "ada@example.org")
    page.goto(f"/utilities/{demo['utility'].pk}/")
    page.get_by_role("navigation", name="Acme North").get_by_role("link", name="Charges").click()
    chart = page.get_by_role("img", name="Coins charged per billing period, by kind")
    expect(chart).to_be_visible()
    assert chart.locator("rect.bar-processing").count() == 1 and chart.locator("rect.bar-storage").count() == 1
    totals = page.get_by_label("Totals of the period")
    expect(totals).to_contain_text("42.50")
    expect(totals).to_contain_text("2.50")
    page.get_by_label("Billing period", exact=True).select_option("1")
    page.get_by_role("button", name="Show").click()
    expect(page.get_by_text("No charges in this period.")).to_be_visible()
    page.get_by_role("navigation", name="Acme North").get_by_role("link", name="Products").click()
    expect(page.get_by_role("cell", name="Compute", exact=True)).to_be_visible()


def test_a_forbidden_page_says_why(page, demo):
    sign_in(page, "leo@example.org")
    response = page.goto(f"/utilities/{demo['utility'].pk}/delete/")
    assert response.status == 403
    expect(page.get_by_text("Only the account's admins delete a utility.")).to_be_visible()
    page.get_by_role("link", name="Back to the dashboard").click()
    expect(page.get_by_role("heading", name="Hello, Leo")).to_be_visible()


def main_pages(demo):
    """(who, address) of every main page and a confirmation page."""
    utility, account = demo["utility"], demo["account"]
    mia = Membership.objects.get(user=demo["member"])
    return [
        (None, "/login/"),
        (None, "/password-reset/"),
        ("ada@example.org", "/"),
        ("ada@example.org", f"/accounts/{account.pk}/"),
        ("ada@example.org", f"/accounts/{account.pk}/history/"),
        ("ada@example.org", f"/utilities/{utility.pk}/"),
        ("ada@example.org", f"/utilities/{utility.pk}/products/"),
        ("ada@example.org", f"/utilities/{utility.pk}/charges/"),
        ("ada@example.org", f"/utilities/{utility.pk}/history/"),
        ("ada@example.org", f"/utilities/{utility.pk}/memberships/{mia.pk}/remove/"),
        ("ada@example.org", f"/accounts/{account.pk}/delete/"),
        ("ada@example.org", "/accounts/new/"),
        ("ada@example.org", "/profile/"),
        ("ada@example.org", "/profile/password/"),
        ("mia@example.org", "/"),
        ("mia@example.org", f"/utilities/{utility.pk}/"),
        ("root@example.org", "/accounts/"),
        ("root@example.org", "/no-such-page/"),
        ("leo@example.org", f"/utilities/{utility.pk}/delete/"),
    ]


def with_billing(demo):
    product = ProductFactory(utility=demo["utility"], name="Compute", allowance=100, limit=200)
    ChargeFactory(product=product, amount=Decimal("40"))


def visit_all(tab, demo, check):
    with_billing(demo)
    signed_in = None
    for who, address in main_pages(demo):
        if who != signed_in:
            tab.context.clear_cookies()
            if who is not None:
                sign_in(tab, who)
            signed_in = who
        tab.goto(address)
        check(address, tab)


def test_every_page_fits_a_phone_without_horizontal_scroll(phone, demo):
    overflows = {}

    def check(address, tab):
        extra = no_horizontal_scroll(tab)
        if extra > 0:
            overflows[address] = extra

    visit_all(phone, demo, check)
    assert overflows == {}, overflows


@pytest.mark.parametrize("width", ["phone", "desktop"])
def test_every_page_has_no_axe_violations(page, phone, demo, axe_source, width):
    tab = phone if width == "phone" else page
    found = {}

    def check(address, tab):
        violations = axe_violations(tab, axe_source)
        if violations:
            found[address] = violations

    visit_all(tab, demo, check)
    assert found == {}, json.dumps(found, indent=1)


def test_branding_with_the_colour_picker(page, demo):
    sign_in(page, "ada@example.org")
    page.goto(f"/accounts/{demo['account'].pk}/")
    page.get_by_role("link", name="Settings and branding").click()
    page.get_by_label("Pick the primary colour").fill("#aa3366")
    expect(page.locator("#account-primary_color")).to_have_value("#aa3366")
    page.locator("#account-secondary_color").fill("not a colour")
    page.get_by_role("button", name="Save settings").click()
    # The colour error shows with the others, on the field, which has the focus.
    expect(page.locator("#account-secondary_color")).to_be_focused()
    expect(page.locator("#account-primary_color")).to_have_value("#aa3366")
    page.locator("#account-secondary_color").fill("#112233")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("The account's settings are saved.")).to_be_in_viewport()
    demo["account"].refresh_from_db()
    assert (demo["account"].primary_color, demo["account"].secondary_color) == ("#aa3366", "#112233")


def test_no_page_breaks_the_content_security_policy(page, demo):
    """Every portal page, the admin's main pages and the API docs load under the policy the
    server sends (no inline script or style, nothing from elsewhere): Chromium reports each
    refusal on the console, and there are none."""
    refused = []
    page.on("console", lambda message: refused.append(f"{page.url}: {message.text}")
            if "Content Security Policy" in message.text else None)
    visit_all(page, demo, lambda address, tab: tab.wait_for_load_state("load"))
    page.context.clear_cookies()
    sign_in(page, "root@example.org")
    utility = demo["utility"]
    for address in ("/admin/", "/admin/accounts/user/", f"/admin/memberships/utility/{utility.pk}/change/",
                    f"/admin/memberships/utility/{utility.pk}/history/",
                    "/admin/accounts/auditlogentry/", "/api/v1/docs/"):
        response = page.goto(address)
        assert "'self'" in response.headers["content-security-policy"], address
        page.wait_for_load_state("load")
    page.wait_for_selector(".swagger-ui .info")  # the docs page rendered with its init script
    assert refused == [], "\n".join(refused)
