"""The portal's billing pages of a utility: products (usage against the limit, create, edit,
delete for its admins) and charges per billing period (a chart drawn on the server, the totals
by kind), under the API's rules: unseen is 404, seen but not allowed is 403."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import AuditLogEntry
from billing.models import Charge, Product
from billing.periods import months_before, today_utc
from tests.billing.factories import ChargeFactory, ProductFactory, product_type
from tests.portal import post_back

pytestmark = pytest.mark.django_db

EVERYONE = ["outsider", "account_user", "account_consultant", "account_admin", "consultancy_consultant",
            "spectator", "member", "leader", "utility_admin", "site_admin"]
#: who sees the utility (and so its products page); the rest get 404
SEES_UTILITY = {"account_user", "account_consultant", "account_admin", "consultancy_consultant", "spectator",
                "member", "leader", "utility_admin", "site_admin"}
#: who administers its products
ADMINS = {"account_admin", "utility_admin", "site_admin"}
#: who reads its charges (SPEC §3 Charges)
READS_CHARGES = {"account_consultant", "account_admin", "consultancy_consultant", "utility_admin", "site_admin"}


def as_user(client, user):
    client.force_login(user, backend="accounts.backends.RosterBackend")
    return client


def charge(product, amount, *, kind="processing", periods_ago=0):
    """A charge recorded in the billing period `periods_ago` before the current one."""
    day = months_before(today_utc(), periods_ago)
    when = timezone.now() - (today_utc() - day)
    return ChargeFactory(product=product, amount=Decimal(amount), kind=kind, charged_at=when)


@pytest.mark.parametrize("caller", EVERYONE)
def test_products_page_by_role(client, world, caller):
    product = ProductFactory(utility=world.utility, name="Storage", allowance=10, limit=20)
    charge(product, "20")
    as_user(client, world[caller])
    response = client.get(f"/utilities/{world.utility.pk}/products/")
    if caller not in SEES_UTILITY:
        assert response.status_code == 404
        return
    assert response.status_code == 200
    (row,) = response.context["products"]
    assert row.coins_used == Decimal("20") and row.at_limit
    html = response.content.decode()
    assert "At limit" in html
    assert ("/products/add/" in html) is (caller in ADMINS)
    assert (f"/products/{product.pk}/delete/" in html) is (caller in ADMINS)
    assert ("Charges</a>" in html) is (caller in READS_CHARGES)


@pytest.mark.parametrize("caller", EVERYONE)
def test_product_writes_are_refused_to_others(client, world, caller):
    product = ProductFactory(utility=world.utility, name="Storage")
    base = f"/utilities/{world.utility.pk}/products/"
    as_user(client, world[caller])
    answers = [
        client.post(f"{base}add/", {"product_type": product_type().pk, "name": "X", "allowance": 5}).status_code,
        client.post(f"{base}{product.pk}/edit/", {"name": "Y", "allowance": 1, "limit": 1}).status_code,
        client.post(f"{base}{product.pk}/delete/").status_code,
        client.get(f"{base}{product.pk}/edit/").status_code,
        client.get(f"{base}{product.pk}/delete/").status_code,
    ]
    if caller in ADMINS:
        return
    expected = 403 if caller in SEES_UTILITY else 404
    assert answers == [expected] * 5
    product.refresh_from_db()
    assert product.name == "Storage" and Product.objects.count() == 1


def test_admin_creates_edits_and_deletes_a_product_audited(client, world):
    admin = world["utility_admin"]
    as_user(client, admin)
    base = f"/utilities/{world.utility.pk}/products/"
    response = client.post(f"{base}add/", {"product_type": product_type().pk, "name": "Archive",
                                           "allowance": 50, "limit": 80})
    assert response.status_code == 302 and response["Location"] == f"{base}#products"
    product = Product.objects.get(name="Archive")
    assert (product.allowance, product.limit) == (50, 80)
    page = client.get(response["Location"])
    assert "The product Archive is created." in page.content.decode()

    assert client.get(f"{base}{product.pk}/edit/").status_code == 200
    response = client.post(f"{base}{product.pk}/edit/", {"name": "Cold archive", "allowance": 60, "limit": 90})
    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.allowance, product.limit) == ("Cold archive", 60, 90)

    confirm = client.get(f"{base}{product.pk}/delete/")
    assert confirm.status_code == 200 and "Delete the product Cold archive?" in confirm.content.decode()
    assert Product.objects.filter(pk=product.pk).exists()  # asking deletes nothing
    assert client.post(f"{base}{product.pk}/delete/").status_code == 302
    assert not Product.objects.filter(pk=product.pk).exists()
    actions = set(AuditLogEntry.objects.filter(object_pk=str(product.pk), content_type__model="product",
                                               actor=admin).values_list("action", flat=True))
    assert actions == {0, 1, 2}


def test_product_errors_show_on_their_field_after_a_redirect(client, world):
    as_user(client, world["account_admin"])
    base = f"/utilities/{world.utility.pk}/products/"
    page = post_back(client, f"{base}add/", {"product_type": product_type().pk, "name": "Bad",
                                             "allowance": 50, "limit": 10})
    assert page.context["product_form"].errors["limit"]
    assert 'aria-invalid="true"' in page.content.decode()
    assert not Product.objects.filter(name="Bad").exists()
    # Shown once: a reload shows a fresh form.
    assert not client.get(base).context["product_form"].is_bound


def test_a_product_with_charges_is_not_deleted_and_says_why_in_its_section(client, world):
    product = ProductFactory(utility=world.utility)
    charge(product, "1")
    as_user(client, world["account_admin"])
    response = client.post(f"/utilities/{world.utility.pk}/products/{product.pk}/delete/")
    assert response.status_code == 302 and response["Location"].endswith("#products")
    assert Product.objects.filter(pk=product.pk).exists()
    page = client.get(response["Location"])
    html = page.content.decode()
    section = html[html.index('id="products"'):]
    assert "the ledger keeps them" in section and 'role="alert"' in section


@pytest.mark.parametrize("caller", EVERYONE)
def test_charges_page_by_role(client, world, caller):
    as_user(client, world[caller])
    response = client.get(f"/utilities/{world.utility.pk}/charges/")
    expected = 200 if caller in READS_CHARGES else 403 if caller in SEES_UTILITY else 404
    assert response.status_code == expected


def test_charges_chart_and_totals_by_period(client, world):
    product = ProductFactory(utility=world.utility, name="Compute")
    charge(product, "10", kind="processing")
    charge(product, "2.5", kind="storage")
    charge(product, "7", kind="processing", periods_ago=3)
    ProductFactory()  # another utility's product and charges are not counted
    charge(ProductFactory(), "100")
    as_user(client, world["account_admin"])

    current = client.get(f"/utilities/{world.utility.pk}/charges/")
    assert current.context["pbp"] == 0
    assert current.context["total"] == Decimal("12.5")
    assert dict(current.context["totals_by_kind"]) == {"processing": Decimal("10"), "storage": Decimal("2.5")}
    html = current.content.decode()
    assert "<svg" in html and 'role="img"' in html and "<script" not in html.split("<main")[1]
    bars = {bar.pbp: bar.total for bar in current.context["chart"]["bars"]}
    assert len(bars) == 12 and bars[0] == Decimal("12.5") and bars[3] == Decimal("7") and bars[1] == 0

    past = client.get(f"/utilities/{world.utility.pk}/charges/?pbp=3")
    assert past.context["total"] == Decimal("7") and past.context["charge_count"] == 1
    far = client.get(f"/utilities/{world.utility.pk}/charges/?pbp=23")
    assert far.context["pbp"] == 23 and far.context["total"] == 0
    assert {bar.pbp for bar in far.context["chart"]["bars"]} == set(range(12, 24))
    for bad in ("24", "-1", "x"):
        assert client.get(f"/utilities/{world.utility.pk}/charges/?pbp={bad}").context["pbp"] == 0


def test_charge_page_totals_match_the_api(client, api, world):
    product = ProductFactory(utility=world.utility)
    for amount in ("1.25", "2.5", "-0.75"):
        charge(product, amount)
    charge(product, "4", kind="storage", periods_ago=1)
    admin = world["account_admin"]
    as_user(client, admin)
    api.as_user(admin)
    for pbp in (0, 1):
        page = client.get(f"/utilities/{world.utility.pk}/charges/?pbp={pbp}").context
        meta = api.get(f"/api/v1/charges/?filter[utility]={world.utility.pk}&filter[pbp]={pbp}").document["meta"]
        assert Decimal(meta["total"]) == page["total"]
        assert {k: Decimal(v) for k, v in meta["totalsByKind"].items()} == dict(page["totals_by_kind"])


def test_product_and_charge_pages_cost_a_fixed_number_of_queries(client, world, django_assert_max_num_queries):
    as_user(client, world["account_admin"])
    products_url = f"/utilities/{world.utility.pk}/products/"
    charges_url = f"/utilities/{world.utility.pk}/charges/"
    product = ProductFactory(utility=world.utility)
    charge(product, "1")
    client.get(products_url)
    few = (len_queries(client, products_url), len_queries(client, charges_url))
    for number in range(15):
        extra = ProductFactory(utility=world.utility)
        for ago in range(3):
            charge(extra, str(number + 1), periods_ago=ago)
    with django_assert_max_num_queries(10):
        client.get(products_url)
    with django_assert_max_num_queries(10):
        client.get(charges_url)
    assert (len_queries(client, products_url), len_queries(client, charges_url)) == few


def len_queries(client, url):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


def test_old_charges_stay_in_their_period_after_the_billing_day_changes(client, world):
    product = ProductFactory(utility=world.utility)
    old = charge(product, "3", periods_ago=2)
    world.utility.billing_day = 20 if world.utility.billing_day != 20 else 10
    world.utility.save()
    as_user(client, world["account_admin"])
    page = client.get(f"/utilities/{world.utility.pk}/charges/?pbp=2").context
    assert page["total"] == Decimal("3") == Charge.objects.get(pk=old.pk).amount
    assert timedelta(0) <= timezone.now() - old.charged_at
