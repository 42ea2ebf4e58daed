"""Issue 6: the hot lists cost a fixed number of SQL queries, at most four, whatever the page
size and whoever asks (session, count, page, and at most one more)."""

import pytest
from django.core.management import call_command

from accounts.models import Account, User
from tests.jsonapi import JsonApiClient

HOT_LISTS = [
    "/api/v1/memberships/",
    "/api/v1/memberships/?include=user,utility",
    "/api/v1/accounts/",
    "/api/v1/accounts/{account}/auditlog/",
    "/api/v1/accounts/{account}/auditlog/?include=actor",
    "/api/v1/products/",
    "/api/v1/products/?include=productType,utility",
    "/api/v1/charges/",
    "/api/v1/charges/?include=product,merchant",
    "/api/v1/charges/?filter[pbp]=2&filter[account]={account}",
    "/api/v1/utilities/?include=products",
]
CALLERS = ["admin@roster.example", "amira.haddad@example.com", "daniel.okafor@example.com", "mei.chen@example.org"]


@pytest.fixture
def demo(db):
    call_command("seed_demo", verbosity=0)
    return Account.objects.get(name="Northwind Energy")


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("path", HOT_LISTS)
def test_hot_lists_take_at_most_four_queries_at_any_page_size(demo, caller, path, django_assert_max_num_queries):
    client = JsonApiClient().as_user(User.objects.get(email=caller))
    url = path.format(account=demo.pk)
    joiner = "&" if "?" in url else "?"
    client.get(url)  # the first request of a session may also refresh it; measure the steady state
    sizes = {}
    for size in (2, 200):
        with django_assert_max_num_queries(4):
            response = client.get(f"{url}{joiner}page_size={size}")
        assert response.status_code in (200, 403), response.content
        sizes[size] = len(response.document.get("data", []))
    if caller == "admin@roster.example":
        assert sizes[200] > sizes[2], "the large page must really be larger"
