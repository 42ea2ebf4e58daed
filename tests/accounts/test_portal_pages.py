"""What every portal page shares, and the pages of issue 15: feedback in the section acted on,
confirmations before destructive actions, error pages with a way back, Post/Redirect/Get,
the site admins' list of all accounts, per-utility history, and the browsers signed in."""

from datetime import timedelta

import pytest
from django.contrib.sessions.models import Session as CookieSession
from django.template.loader import get_template
from django.test import Client
from django.utils import timezone

from accounts.models import Account, AccountMembership, AuditLogEntry, BrowserSession, Contact, Session, User
from accounts.services import account_update
from memberships.models import Membership, Utility
from tests.factories import UserFactory
from tests.portal import post_back

pytestmark = pytest.mark.django_db
PASSWORD = "correct horse battery staple"


def as_user(client, user):
    client.force_login(user, backend="accounts.backends.RosterBackend")
    return client


def section(html, section_id):
    """The HTML of one <section id=...> of a page."""
    start = html.index(f'id="{section_id}"')
    return html[start:html.index("</section>", start)]


# --------------------------------------------------------------------------- feedback where users look


def test_a_refusal_shows_in_the_section_acted_on(client, world):
    utility = world.utility
    Utility.objects.filter(pk=utility.pk).update(subscriber_seats=1)
    Membership.objects.filter(user=world["spectator"], utility=utility).update(is_subscriber=True)
    target = Membership.objects.get(user=world["member"], utility=utility)
    as_user(client, world["leader"])
    response = client.post(f"/utilities/{utility.pk}/memberships/{target.pk}/subscriber/", {"is_subscriber": "true"})
    assert response["Location"] == f"/utilities/{utility.pk}/#memberships"
    html = client.get(response["Location"]).content.decode()
    members = section(html, "memberships")
    assert "All 1 subscriber seats of this utility are taken." in members
    assert 'role="alert"' in members
    # Not also at the top of the page, far from where the user acted.
    assert html.count("All 1 subscriber seats of this utility are taken.") == 1


def test_a_success_shows_in_its_section_and_keeps_the_list_state(client, world):
    utility = world.utility
    target = Membership.objects.get(user=world["member"], utility=utility)
    as_user(client, world["leader"])
    response = client.post(f"/utilities/{utility.pk}/memberships/{target.pk}/subscriber/",
                           {"is_subscriber": "true", "back": "q=member&sort=role&page=1&evil=1"})
    assert response["Location"] == f"/utilities/{utility.pk}/?q=member&sort=role&page=1#memberships"
    members = section(client.get(response["Location"]).content.decode(), "memberships")
    assert "subscribes." in members and 'role="status"' in members


# --------------------------------------------------------------------------- confirmations


@pytest.mark.parametrize("what", ["remove", "leave", "unsubscribe", "account_remove", "invitation"])
def test_destructive_actions_ask_first_and_the_question_changes_nothing(client, world, what):
    utility, account = world.utility, world.account
    member = Membership.objects.get(user=world["member"], utility=utility)
    caller, url = {
        "remove": (world["utility_admin"], f"/utilities/{utility.pk}/memberships/{member.pk}/remove/"),
        "leave": (world["member"], f"/utilities/{utility.pk}/memberships/{member.pk}/remove/"),
        "unsubscribe": (world["leader"],
                        f"/utilities/{utility.pk}/memberships/{member.pk}/subscriber/?is_subscriber=false"),
        "account_remove": (world["account_admin"], None),
        "invitation": (world["account_admin"], None),
    }[what]
    Membership.objects.filter(pk=member.pk).update(is_subscriber=True)
    if what == "account_remove":
        plain = AccountMembership.objects.get(user=world["account_user"], account=account)
        url = f"/accounts/{account.pk}/members/{plain.pk}/remove/"
    if what == "invitation":
        as_user(client, caller)
        client.post(f"/accounts/{account.pk}/members/add/", {"email": "stranger@example.org", "role": "user"})
        invitation = account.invitations.get()
        url = f"/accounts/{account.pk}/invitations/{invitation.pk}/revoke/"
    as_user(client, caller)
    before = (Membership.objects.count(), AccountMembership.objects.count(),
              Membership.objects.filter(is_subscriber=True).count(), AuditLogEntry.objects.count())
    page = client.get(url)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'method="post"' in html and "Cancel" in html and 'class="danger"' in html
    after = (Membership.objects.count(), AccountMembership.objects.count(),
             Membership.objects.filter(is_subscriber=True).count(), AuditLogEntry.objects.count())
    assert after == before


def test_a_confirmation_is_refused_to_who_may_not_act(client, world):
    admin = Membership.objects.get(user=world["utility_admin"], utility=world.utility)
    as_user(client, world["leader"])
    assert client.get(f"/utilities/{world.utility.pk}/memberships/{admin.pk}/remove/").status_code == 403
    as_user(client, world["outsider"])
    assert client.get(f"/utilities/{world.utility.pk}/memberships/{admin.pk}/remove/").status_code == 404


def test_confirmed_unsubscribe_posts_the_value_asked_about(client, world):
    member = Membership.objects.get(user=world["member"], utility=world.utility)
    Membership.objects.filter(pk=member.pk).update(is_subscriber=True)
    as_user(client, world["leader"])
    url = f"/utilities/{world.utility.pk}/memberships/{member.pk}/subscriber/"
    html = client.get(url + "?is_subscriber=false").content.decode()
    assert 'name="is_subscriber" value="false"' in html and f'action="{url}"' in html
    client.post(url, {"is_subscriber": "false"})
    member.refresh_from_db()
    assert not member.is_subscriber


# --------------------------------------------------------------------------- error pages


def test_403_page_says_why_and_leads_back(client, world):
    as_user(client, world["leader"])
    response = client.get(f"/utilities/{world.utility.pk}/delete/")
    assert response.status_code == 403
    html = response.content.decode()
    assert "Only the account&#x27;s admins delete a utility." in html
    assert 'href="/"' in html and "portal.css" in html


def test_404_page_is_styled_with_a_way_back(client, world):
    as_user(client, world["outsider"])
    response = client.get(f"/utilities/{world.utility.pk}/")
    assert response.status_code == 404
    html = response.content.decode()
    assert "Nothing here" in html and 'href="/"' in html and "portal.css" in html
    assert world.utility.name not in html


def test_api_errors_stay_json(client, world):
    as_user(client, world["outsider"])
    response = client.get("/api/v1/nothing-here/")
    assert response.status_code == 404 and response["Content-Type"].startswith("application/vnd.api+json")


def test_500_page_renders_without_a_request_context():
    html = get_template("500.html").render({})
    assert "Something went wrong" in html and 'href="/"' in html


# --------------------------------------------------------------------------- forms: PRG, colours


def test_colour_error_shows_with_the_other_errors(client, world):
    account = world.account
    as_user(client, world["account_admin"])
    page = post_back(client, f"/accounts/{account.pk}/", {
        "name": "", "primary_color": "blue", "secondary_color": "#12345", "logo_url": "ftp://x",
        "health_time_period": "", "exec_interval": 300, "base_line_exec_interval": 86400,
        "cd_model_frequency": 604800, "cd_execution_frequency": 600, "data_retention": 0,
        "default_product_privacy": "DEFAULT_PRIVATE", "custom_attributes": "{}"})
    errors = page.context["settings_form"].errors
    assert {"name", "primary_color", "secondary_color", "logo_url", "health_time_period"} <= set(errors)
    html = page.content.decode()
    assert 'type="color"' in html and 'data-colour-for="account-primary_color"' in html
    assert 'value="blue"' in html  # what was typed comes back
    account.refresh_from_db()
    assert account.primary_color != "blue"


def test_a_reload_after_a_failed_post_resubmits_nothing(client, world):
    as_user(client, world["account_admin"])
    response = client.post(f"/accounts/{world.account.pk}/utilities/add/", {"name": "", "billing_day": 40})
    assert response.status_code == 302
    first = client.get(response["Location"])
    assert first.context["utility_form"].errors
    again = client.get(response["Location"])  # the reload is a GET: a fresh form, no resubmission
    assert not again.context["utility_form"].is_bound


def test_secrets_are_not_kept_between_a_failed_post_and_its_page(client, world):
    user = world["account_user"]
    as_user(client, user)
    page = post_back(client, "/profile/email/", {"email": "new@example.org", "current_password": "wrong-one"})
    assert page.context["email_form"].errors
    assert "wrong-one" not in page.content.decode()
    assert "wrong-one" not in str(dict(client.session))


# --------------------------------------------------------------------------- all accounts, links to the admin


def test_all_accounts_is_for_site_admins_with_search_sort_and_admin_links(client, world):
    world.account, world.other_account  # noqa: B018 (built on first use)
    for caller in ("account_admin", "outsider"):
        as_user(client, world[caller])
        assert client.get("/accounts/").status_code == 403
    staff = world["site_admin"]
    User.objects.filter(pk=staff.pk).update(is_staff=True)
    as_user(client, User.objects.get(pk=staff.pk))
    dashboard = client.get("/").content.decode()
    assert 'href="/accounts/"' in dashboard and 'action="/accounts/"' in dashboard
    everything = client.get("/accounts/")
    assert everything.context["page_obj"].paginator.count == Account.objects.count()
    found = client.get("/accounts/", {"q": world.account.name.split()[0]})
    names = [account.name for account in found.context["page_obj"].object_list]
    assert world.account.name in names and world.other_account.name not in names
    html = found.content.decode()
    assert f'href="/admin/accounts/account/{world.account.pk}/change/"' in html
    by_members = client.get("/accounts/?sort=members").context["page_obj"].object_list
    counts = [account.member_count for account in by_members]
    assert counts == sorted(counts, reverse=True)
    page = client.get(f"/accounts/{world.account.pk}/").content.decode()
    assert f'href="/admin/accounts/account/{world.account.pk}/change/"' in page
    assert world.account.get_absolute_url() == f"/accounts/{world.account.pk}/"


def test_all_accounts_costs_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    as_user(client, world["site_admin"])
    client.get("/accounts/")
    for number in range(30):
        Account.objects.create(name=f"Bulk {number}")
    with django_assert_max_num_queries(6):
        response = client.get("/accounts/")
    assert len(response.context["page_obj"].object_list) >= 30


# --------------------------------------------------------------------------- history


def test_utility_history_names_people_and_fields_and_filters(client, world):
    utility = world.utility
    admin = world["account_admin"]
    User.objects.filter(pk=admin.pk).update(first_name="Ada", last_name="Admin")
    admin.refresh_from_db()
    member = Membership.objects.get(user=world["member"], utility=utility)
    second = world.second_utility
    as_user(client, admin)
    client.post(f"/utilities/{utility.pk}/memberships/{member.pk}/subscriber/", {"is_subscriber": "true"})
    client.post(f"/utilities/{second.pk}/", {"name": "Elsewhere", "subscriber_seats": "", "billing_day": 1})
    assert Utility.objects.filter(name="Elsewhere").exists()
    response = client.get(f"/utilities/{utility.pk}/history/")
    assert response.status_code == 200
    entries = response.context["entries"]
    assert entries and all(e.object_type in ("Utility", "Membership", "Product", "Charge") for e in entries)
    assert not any(e.object_repr == "Elsewhere" for e in entries)  # another utility's change
    html = response.content.decode()
    assert "<strong>Subscriber</strong>: no → yes" in html
    assert "Ada Admin" in html and f"user: {world['member'].pk}" not in html
    stamp = entries[0].timestamp
    assert stamp.strftime("%Y-%m-%d %H:%M:%S") in html
    # Filters: who and when.
    by_admin = client.get(f"/utilities/{utility.pk}/history/", {"actor": admin.pk}).context["entries"]
    assert by_admin and all(e.actor_id == admin.pk for e in by_admin)
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    assert client.get(f"/utilities/{utility.pk}/history/", {"since": tomorrow}).context["entries"] == []
    today = timezone.now().date().isoformat()
    assert client.get(f"/utilities/{utility.pk}/history/", {"until": today}).context["entries"]


def test_history_names_the_member_a_membership_is_of(client, world):
    utility = world.utility
    person = UserFactory(first_name="Grace", last_name="Hopper")
    Membership.objects.create(user=person, utility=utility, is_subscriber=False, role="member")
    as_user(client, world["account_admin"])
    html = client.get(f"/accounts/{world.account.pk}/history/?object_type=Membership").content.decode()
    assert "<strong>User</strong>: — → Grace Hopper" in html
    assert f"<strong>Utility</strong>: — → {utility.name}" in html


@pytest.mark.parametrize("caller, expected", [
    ("account_admin", 200), ("account_consultant", 200), ("consultancy_consultant", 200), ("site_admin", 200),
    ("account_user", 403), ("utility_admin", 403), ("leader", 403), ("member", 403), ("outsider", 404),
])
def test_who_reads_a_utility_history(client, world, caller, expected):
    as_user(client, world[caller])
    assert client.get(f"/utilities/{world.utility.pk}/history/").status_code == expected


def test_history_pages_cost_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    admin = world["account_admin"]
    as_user(client, admin)
    urls = [f"/accounts/{world.account.pk}/history/", f"/utilities/{world.utility.pk}/history/"]
    for url in urls:
        client.get(url)
    for number in range(20):
        person = UserFactory(first_name=f"P{number}")
        Membership.objects.create(user=person, utility=world.utility, is_subscriber=False, role="spectator")
        account_update(actor=admin, account=world.account, data={"data_retention": number})
    for url in urls:
        with django_assert_max_num_queries(16):
            assert client.get(url).status_code == 200


# --------------------------------------------------------------------------- browsers signed in


def sign_in(user, agent="Browser A"):
    browser = Client(HTTP_USER_AGENT=agent)
    response = browser.post("/login/", {"username": user.email, "password": PASSWORD})
    assert response.status_code == 302, response
    return browser


@pytest.fixture
def person(db):
    return UserFactory(email="pat@example.org", password=PASSWORD)


def test_signing_in_records_the_browser_and_signing_out_forgets_it(person):
    first = sign_in(person, "Firefox on a laptop")
    record = BrowserSession.objects.get(user=person)
    assert record.user_agent == "Firefox on a laptop" and record.session_key == first.session.session_key
    html = first.get("/profile/").content.decode()
    assert "Firefox on a laptop" in html and "(this browser)" in html
    first.post("/logout/")
    assert not BrowserSession.objects.filter(user=person).exists()


def test_an_api_sign_in_is_no_browser(client, person):
    response = client.post("/api/v1/sessions/", {"data": {"type": "Session", "attributes": {
        "email": person.email, "password": PASSWORD}}}, content_type="application/vnd.api+json")
    assert response.status_code == 201
    assert not BrowserSession.objects.exists()


def test_signing_out_another_browser(person):
    laptop, phone = sign_in(person, "Laptop"), sign_in(person, "Phone")
    other = BrowserSession.objects.get(user=person, user_agent="Phone")
    html = laptop.get("/profile/").content.decode()
    assert f"/profile/browsers/{other.pk}/revoke/" in html
    assert laptop.get(f"/profile/browsers/{other.pk}/revoke/").status_code == 200  # asks first
    assert phone.get("/profile/").status_code == 200
    response = laptop.post(f"/profile/browsers/{other.pk}/revoke/")
    assert response["Location"] == "/profile/#browsers"
    assert phone.get("/profile/").status_code == 302  # signed out
    assert laptop.get("/profile/").status_code == 200
    entry = AuditLogEntry.objects.filter(content_type__model="browsersession", action=2).latest("timestamp")
    assert entry.actor == person and "session_key" not in (entry.changes or {})


def test_this_browser_is_not_revoked_from_the_list(person):
    laptop = sign_in(person)
    own = BrowserSession.objects.get(user=person)
    response = laptop.post(f"/profile/browsers/{own.pk}/revoke/")
    assert response.status_code == 302 and BrowserSession.objects.filter(pk=own.pk).exists()


def test_nobody_sees_or_ends_anyone_elses_browsers(person):
    sign_in(person, "Pat's tablet")
    theirs = BrowserSession.objects.get(user=person)
    intruder = UserFactory(password=PASSWORD)
    browser = sign_in(intruder)
    assert browser.get(f"/profile/browsers/{theirs.pk}/revoke/").status_code == 404
    assert browser.post(f"/profile/browsers/{theirs.pk}/revoke/").status_code == 404
    assert CookieSession.objects.filter(session_key=theirs.session_key).exists()
    assert "tablet" not in section(browser.get("/profile/").content.decode(), "browsers")


def test_sign_out_everywhere_ends_browsers_and_tokens(person, client):
    laptop, phone = sign_in(person, "Laptop"), sign_in(person, "Phone")
    client.post("/api/v1/sessions/", {"data": {"type": "Session", "attributes": {
        "email": person.email, "password": PASSWORD}}}, content_type="application/vnd.api+json")
    assert Session.objects.filter(user=person).count() == 1
    assert laptop.get("/profile/sign-out-everywhere/").status_code == 200  # asks first
    assert BrowserSession.objects.filter(user=person).count() == 2
    response = laptop.post("/profile/sign-out-everywhere/")
    assert response["Location"] == "/login/"
    assert phone.get("/profile/").status_code == 302 and laptop.get("/profile/").status_code == 302
    assert not BrowserSession.objects.filter(user=person).exists()
    assert not Session.objects.filter(user=person).exists()


def test_changing_the_password_keeps_this_browser_listed(person):
    laptop = sign_in(person)
    response = laptop.post("/profile/password/", {"old_password": PASSWORD, "new_password1": "another horse 42 x",
                                                  "new_password2": "another horse 42 x"})
    assert response.status_code == 302
    assert "(this browser)" in laptop.get("/profile/").content.decode()


def test_contact_removal_asks_first(client, world):
    owner = world["contact_owner"]
    contact = world.contact
    as_user(client, owner)
    page = client.get(f"/profile/contacts/{contact.pk}/remove/")
    assert page.status_code == 200 and "Remove the contact" in page.content.decode()
    assert Contact.objects.filter(pk=contact.pk).exists()


# --------------------------------------------------------------------------- member lists


def test_utility_members_search_sort_pages_and_names(client, world):
    utility = world.utility
    for number in range(30):
        Membership.objects.create(utility=utility, role="spectator", is_subscriber=number % 2 == 0,
                                  user=UserFactory(first_name=f"Fan{number:02}", last_name="Zed",
                                                   email=f"fan{number:02}@example.org"))
    as_user(client, world["account_admin"])
    first = client.get(f"/utilities/{utility.pk}/?sort=name")
    page = first.context["page_obj"]
    total = Membership.objects.filter(utility=utility).count()
    assert page.paginator.count == total and page.paginator.num_pages == 2
    html = first.content.decode()
    assert 'aria-sort="ascending"' in html and "Fan00 Zed" in html  # names, sorted by name
    names = [m.user.first_name for m in first.context["memberships"]]
    assert names == sorted(names, key=str.lower)
    second = client.get(f"/utilities/{utility.pk}/?sort=name&page=2")
    assert second.context["page_obj"].number == 2
    assert not {m.pk for m in second.context["memberships"]} & {m.pk for m in first.context["memberships"]}
    found = client.get(f"/utilities/{utility.pk}/", {"q": "fan07"}).context
    assert [m.user.email for m in found["memberships"]] == ["fan07@example.org"]
    assert found["member_count"] == total  # the counts are of the whole utility
    nobody = client.get(f"/utilities/{utility.pk}/", {"q": "nobody-at-all"})
    assert "No member matches" in nobody.content.decode()
    assert client.get(f"/utilities/{utility.pk}/?sort=evil&page=x").status_code == 200


def test_account_members_search_and_sort(client, world):
    account = world.account
    for number in range(12):
        AccountMembership.objects.create(account=account, role="user",
                                         user=UserFactory(first_name=f"Acc{number:02}", last_name="Member"))
    as_user(client, world["account_admin"])
    found = client.get(f"/accounts/{account.pk}/", {"q": "acc03 member"}).context
    assert [m.user.first_name for m in found["members"]] == ["Acc03"]
    by_role = client.get(f"/accounts/{account.pk}/?sort=role").context["members"]
    roles = [m.role for m in by_role]
    assert roles == sorted(roles)


def test_portal_templates_have_no_inline_script_or_style():
    """A Content-Security-Policy can forbid inline code: the portal's scripts and styles are
    static files (the admin's own templates are Django's and django-auditlog's)."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    offenders = []
    for path in [*(root / "templates").rglob("*.html"), *(root / "portal" / "templates").rglob("*.html")]:
        if {"admin", "auditlog"} & set(path.relative_to(root).parts):
            continue
        text = path.read_text(encoding="utf-8")
        if re.search(r"<script(?![^>]*\bsrc=)", text) or re.search(r"<style|\sstyle=|\son[a-z]+=", text):
            offenders.append(str(path.relative_to(root)))
    assert offenders == []


def test_a_kept_form_shows_only_on_its_own_page(client, world):
    as_user(client, world["utility_admin"])
    north, south = world.utility, world.second_utility
    from memberships.models import Membership as M

    M.objects.get_or_create(utility=south, user=world["utility_admin"], defaults={"role": "admin",
                                                                                  "is_subscriber": False})
    response = client.post(f"/utilities/{north.pk}/memberships/add/", {"email": "not-an-address", "role": "member"})
    assert response.status_code == 302
    elsewhere = client.get(f"/utilities/{south.pk}/")
    assert not elsewhere.context["member_form"].is_bound  # another utility's page: not its form
    own = client.get(f"/utilities/{north.pk}/")
    assert own.context["member_form"].errors["email"]
