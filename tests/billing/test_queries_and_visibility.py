"""Pinned query counts of the billing endpoints (lists: at most 4 at any page size, a charge
POST at most 8), and the read rules in Python agreeing with `for_user()` in SQL."""

from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from billing.models import Charge, Product
from tests.billing.factories import ChargeFactory, MerchantFactory, ProductFactory
from tests.jsonapi import JsonApiClient, body, rel

pytestmark = pytest.mark.django_db

LISTS = [
    "/api/v1/products/",
    "/api/v1/products/?include=productType,utility",
    "/api/v1/charges/",
    "/api/v1/charges/?include=product,merchant",
    "/api/v1/charges/?filter[pbp]=1",
    "/api/v1/charges/?filter[from]=2000-01-01&sort=-amount",
    "/api/v1/product-types/",
    "/api/v1/merchants/",
]


@pytest.fixture
def busy(world):
    merchant = MerchantFactory()
    for utility in (world.utility, world.second_utility):
        for _ in range(6):
            product = ProductFactory(utility=utility, allowance=10, limit=100)
            ChargeFactory.create_batch(5, product=product, merchant=merchant)
    return world


@pytest.mark.parametrize("persona", ["site_admin", "account_admin", "consultancy_consultant", "utility_admin",
                                     "member"])
@pytest.mark.parametrize("path", LISTS)
def test_lists_take_at_most_four_queries_at_any_page_size(busy, persona, path, django_assert_max_num_queries):
    client = JsonApiClient().as_user(busy[persona])
    joiner = "&" if "?" in path else "?"
    client.get(path)  # a session's first request may refresh it
    sizes = {}
    for size in (2, 100):
        with django_assert_max_num_queries(4):
            response = client.get(f"{path}{joiner}page_size={size}")
        assert response.status_code == 200
        sizes[size] = len(response.document["data"])
    if persona == "site_admin" and ("/products/" in path or "/charges/" in path) and "pbp" not in path:
        assert sizes[100] > sizes[2]


def statements(context):
    """The statements a request ran, without the SAVEPOINT/RELEASE pair the test's own
    transaction adds around the service's `atomic` (outside a test it is the outermost
    transaction, whose BEGIN and COMMIT are no statements Django runs through a cursor)."""
    return [q["sql"] for q in context.captured_queries
            if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO SAVEPOINT"))]


@pytest.mark.parametrize("persona", ["charge_adder", "site_admin"])
def test_a_charge_post_takes_at_most_eight_queries(world, persona):
    product = ProductFactory(utility=world.utility, allowance=0, limit=1000)
    merchant = MerchantFactory()
    ChargeFactory.create_batch(3, product=product)
    client = JsonApiClient().as_user(world[persona])
    client.get("/api/v1/merchants/")
    document = body("Charge", {"kind": "processing", "amount": "2.5"},
                    {"product": rel("Product", product.pk), "merchant": rel("Merchant", merchant.pk)})
    with CaptureQueriesContext(connection) as context:
        response = client.post("/api/v1/charges/", document)
    assert response.status_code == 201
    # session, merchant, the product read under its row lock (the one read of it), the period's
    # sum, the charge, its audit entry: 6, one under the bound of 8 to spare
    assert len(statements(context)) <= 7, statements(context)
    product.limit = 1
    product.save()
    with CaptureQueriesContext(connection) as context:
        refused = client.post("/api/v1/charges/", document)
    assert refused.status_code == 409
    assert len(statements(context)) <= 7, statements(context)


def test_reading_charges_the_rule_and_the_query_agree(world):
    """`billing.view_charge` on a utility (the portal's and admin's question) is exactly
    whether `Charge.objects.for_user` shows that utility's charges."""
    world.build_all()
    utilities = [world.utility, world.second_utility, world.other_utility, world.personal_utility]
    for utility in utilities:
        ChargeFactory(product=ProductFactory(utility=utility), amount=Decimal("1"))
    for name in world.PERSONAS:
        user = world[name]
        if user is None:
            continue
        seen = set(Charge.objects.for_user(user).values_list("utility_id", flat=True))
        for utility in utilities:
            assert user.has_perm("billing.view_charge", utility) == (utility.pk in seen), (name, utility.name)


def test_products_are_seen_exactly_by_who_sees_the_utility(world):
    from memberships.models import Utility

    world.build_all()
    utilities = [world.utility, world.second_utility, world.other_utility, world.personal_utility]
    for utility in utilities:
        ProductFactory(utility=utility)
    for name in world.PERSONAS:
        user = world[name]
        if user is None:
            continue
        products = set(Product.objects.for_user(user).values_list("utility_id", flat=True))
        seen = set(Utility.objects.for_user(user).filter(pk__in=[u.pk for u in utilities]).values_list(
            "pk", flat=True))
        assert products == seen, name
