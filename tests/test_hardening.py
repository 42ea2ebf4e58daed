"""Response headers that harden every page and document (issue 17): a Content-Security-Policy
with no inline script or style and nothing from elsewhere (tests/browser checks that no page
breaks it in Chromium), Referrer-Policy, X-Content-Type-Options; and the API docs page keeps
to the policy (its init script is a file of its own)."""

import re
from pathlib import Path

import pytest
from django.test import Client

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


def directives(response):
    policy = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in (p.strip() for p in policy.split(";")) if part}


@pytest.mark.parametrize("path", ["/login/", "/", "/profile/", "/api/v1/users/me/", "/api/v1/docs/", "/admin/"])
def test_every_response_carries_the_policy_and_the_headers(path):
    client = Client()
    client.force_login(UserFactory(is_staff=True), backend="accounts.backends.RosterBackend")
    response = client.get(path, HTTP_ACCEPT="application/vnd.api+json" if "/api/v1/users" in path else "*/*")
    assert response.status_code in (200, 302), path
    policy = directives(response)
    assert policy["script-src"] == ["'self'"] and policy["style-src"] == ["'self'"]
    assert policy["default-src"] == ["'self'"] and policy["object-src"] == ["'none'"]
    assert policy["frame-ancestors"] == ["'none'"] and policy["form-action"] == ["'self'"]
    assert "'unsafe-inline'" not in response["Content-Security-Policy"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Content-Type-Options"] == "nosniff"


def test_the_docs_page_has_no_inline_script_or_style():
    page = Client().get("/api/v1/docs/").content.decode()
    assert "<style" not in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "an inline script"
    script = re.search(r'<script src="(/api/v1/docs/\?[^"]*)"', page).group(1)
    response = Client().get(script.replace("&amp;", "&"))
    assert response.status_code == 200 and response["Content-Type"].startswith("application/javascript")
    assert "SwaggerUIBundle" in response.content.decode()


def test_no_template_has_inline_script_or_style():
    found = []
    for template in (ROOT / "templates").rglob("*.html"):
        text = template.read_text()
        if re.search(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", text) or "<style" in text \
                or re.search(r"\sstyle=\"", text) or re.search(r"\son[a-z]+=\"", text):
            found.append(str(template.relative_to(ROOT)))
    assert found == []
