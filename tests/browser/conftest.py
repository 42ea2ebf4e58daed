"""End-to-end tests in a real browser: Playwright for Python driving Debian's Chromium
(`apt-get install chromium`; Playwright's own browser download cannot run here) against
pytest-django's `live_server`.

They are skipped, saying why, only when no Chromium (or no Playwright) is installed; `.ci/run`
installs Chromium first, so CI always runs them. axe-core comes from the npm registry, fetched
once by `npm pack` into tests/browser/.assets/ (gitignored) at the version pinned below, and
handed to each page by the test: nothing is loaded from the internet by the pages.
"""

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest

from accounts.models import Account, AccountMembership, ActivationCode, User
from memberships.models import Membership, Utility

CHROMIUM = os.environ.get("ROSTER_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
AXE_VERSION = "4.14.1"
ASSETS = Path(__file__).parent / ".assets"
PASSWORD = "correct horse battery staple"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}

try:
    from playwright.sync_api import sync_playwright
except ImportError:  # pragma: no cover - requirements-dev.txt pins it
    sync_playwright = None

SKIP_REASON = None
if sync_playwright is None:
    SKIP_REASON = "Playwright for Python is not installed (pip install -r requirements-dev.txt)"
elif not Path(CHROMIUM).exists():
    SKIP_REASON = f"no Chromium at {CHROMIUM}: `apt-get install chromium` (or set ROSTER_CHROMIUM) to run them"


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if Path(str(item.fspath)).is_relative_to(here):
            item.add_marker(pytest.mark.browser)
            if SKIP_REASON:
                item.add_marker(pytest.mark.skip(reason=f"browser tests skipped: {SKIP_REASON}"))


@pytest.fixture(scope="session")
def browser():
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run
    # where one runs unless told the caller is synchronous, which these tests are.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                              args=["--no-sandbox", "--disable-dev-shm-usage"])
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(viewport=DESKTOP, base_url=live_server.url)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(viewport=PHONE, base_url=live_server.url, is_mobile=True, has_touch=True,
                                  device_scale_factor=2)
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    context.close()


def sign_in(tab, email, password=PASSWORD):
    tab.goto("/login/")
    tab.get_by_label("Email or username").fill(email)
    tab.get_by_label("Password").fill(password)
    tab.get_by_role("button", name="Sign in").click()
    tab.wait_for_url(lambda url: "/login/" not in url)


@pytest.fixture(scope="session")
def axe_source():
    """axe-core's browser build, from the npm registry at AXE_VERSION (fetched once)."""
    target = ASSETS / f"axe-{AXE_VERSION}.min.js"
    if not target.exists():
        npm = shutil.which("npm")
        if npm is None:
            pytest.fail("axe-core is needed and npm is not installed to fetch it (apt-get install npm)")
        ASSETS.mkdir(exist_ok=True)
        # Each test process packs into a directory of its own, then renames: two xdist workers
        # fetching at once never read a half-written file.
        with tempfile.TemporaryDirectory(dir=ASSETS) as scratch:
            subprocess.run([npm, "pack", f"axe-core@{AXE_VERSION}", "--silent", "--pack-destination", scratch],
                           check=True, capture_output=True, timeout=300)
            with tarfile.open(Path(scratch) / f"axe-core-{AXE_VERSION}.tgz") as archive:
                source = archive.extractfile("package/axe.min.js").read()
            partial = Path(scratch) / "axe.min.js"
            partial.write_bytes(source)
            os.replace(partial, target)
    return target.read_text(encoding="utf-8")


def person(email, first, last, **fields):
    return User.objects.create_user(email=email, password=PASSWORD, first_name=first, last_name=last,
                                    email_verified=True, **fields)


@pytest.fixture
def demo(transactional_db):
    """A small world with a person for every role, each with a password."""
    people = {
        "site_admin": person("root@example.org", "Sam", "Root", is_superuser=True, is_staff=True),
        "account_admin": person("ada@example.org", "Ada", "Admin"),
        "consultant": person("cora@example.org", "Cora", "Consultant"),
        "leader": person("leo@example.org", "Leo", "Leader"),
        "member": person("mia@example.org", "Mia", "Member"),
        "newcomer": person("nina@example.org", "Nina", "Newcomer"),
    }
    account = Account.objects.create(name="Acme Energy", primary_color="#0b6e4f", secondary_color="#f2a900")
    AccountMembership.objects.create(account=account, user=people["account_admin"], role="admin")
    AccountMembership.objects.create(account=account, user=people["consultant"], role="consultant")
    utility = Utility.objects.create(account=account, name="Acme North", billing_day=5, subscriber_seats=2)
    Membership.objects.create(utility=utility, user=people["leader"], role="leader", is_subscriber=True)
    Membership.objects.create(utility=utility, user=people["member"], role="member", is_subscriber=False)
    for number in range(3):
        Membership.objects.create(utility=utility, role="spectator", is_subscriber=False,
                                  user=person(f"fan{number}@example.org", "Fan", f"Number {number}"))
    return {"account": account, "utility": utility, **people}


def no_horizontal_scroll(tab) -> int:
    """How many pixels the page is wider than the viewport (0: no horizontal scroll)."""
    return tab.evaluate("document.documentElement.scrollWidth - document.documentElement.clientWidth")


def axe_violations(tab, axe_source) -> list:
    # Evaluated through the DevTools protocol, which the page's Content-Security-Policy does
    # not govern (an inline <script> tag would be refused, as it should be)
    if not tab.evaluate("typeof window.axe !== 'undefined'"):
        tab.evaluate(axe_source + "\n;undefined")
    result = tab.evaluate("""async () => {
        const r = await axe.run(document, {resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                                        nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}));
    }""")
    return result


__all__ = ["ActivationCode", "DESKTOP", "PASSWORD", "PHONE", "axe_violations", "no_horizontal_scroll", "sign_in"]
