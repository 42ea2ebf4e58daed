"""The admin for billing: pages load, writes go through the services (flavour rules,
has_charges, the audit log), the ledger filters and exports, a utility's products inline."""

from decimal import Decimal

import pytest

from accounts.models import AuditLogEntry
from billing.models import Charge, Product
from tests.billing.factories import (
    PROJECT_TIER,
    STORAGE,
    ChargeFactory,
    MerchantFactory,
    ProductFactory,
    product_type,
)
from tests.factories import UtilityFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client, site_admin):
    client.force_login(site_admin)
    return client


@pytest.fixture
def ledger(world):
    product = ProductFactory(utility=world.utility, name="Disk")
    merchant = MerchantFactory(name="DM")
    charges = [ChargeFactory(product=product, merchant=merchant, amount=Decimal("2.5"), description="=SUM(A1)"),
               ChargeFactory(product=product, kind="storage", amount=Decimal("4"))]
    return product, charges


def test_pages_load(admin_client, world, ledger):
    product, charges = ledger
    pages = ["/admin/billing/producttype/", "/admin/billing/producttype/add/",
             f"/admin/billing/producttype/{product.product_type_id}/change/",
             "/admin/billing/product/", "/admin/billing/product/add/", f"/admin/billing/product/{product.pk}/change/",
             "/admin/billing/charge/", "/admin/billing/charge/add/", f"/admin/billing/charge/{charges[0].pk}/change/",
             "/admin/billing/charge/?pbp=0", "/admin/billing/charge/?pbp=3&kind__exact=storage",
             f"/admin/billing/charge/?utility__account__id__exact={world.account.pk}",
             f"/admin/billing/charge/?utility__id__exact={world.utility.pk}",
             "/admin/billing/merchant/", "/admin/billing/merchant/add/",
             f"/admin/memberships/utility/{world.utility.pk}/change/"]
    for page in pages:
        response = admin_client.get(page)
        assert response.status_code == 200, page
    assert b"Disk" in admin_client.get(f"/admin/memberships/utility/{world.utility.pk}/change/").content


def test_the_ledger_filters_by_period_and_kind(admin_client, ledger):
    _product, charges = ledger
    response = admin_client.get("/admin/billing/charge/?pbp=0&kind__exact=storage")
    assert list(response.context["cl"].result_list) == [charges[1]]
    assert list(admin_client.get("/admin/billing/charge/?pbp=1").context["cl"].result_list) == []


def test_the_ledger_exports_csv(admin_client, ledger):
    _product, charges = ledger
    response = admin_client.post("/admin/billing/charge/", {
        "action": "export_csv", "_selected_action": [c.pk for c in charges]})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode()
    lines = text.strip().splitlines()
    assert lines[0].startswith("id,charged_at,account") and len(lines) == 3
    assert "'=SUM(A1)" in text and "2.5000" in text


def test_the_ledger_is_append_only_in_the_admin_too(admin_client, ledger):
    _product, charges = ledger
    response = admin_client.post(f"/admin/billing/charge/{charges[0].pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Charge.objects.count() == 2


def test_a_charge_added_in_the_admin_goes_through_the_service(admin_client, world, site_admin):
    product = ProductFactory(utility=world.utility, allowance=0, limit=5)
    data = {"product": product.pk, "kind": "processing", "amount": "6", "description": "", "additional_data": "{}",
            "charged_at_0": "", "charged_at_1": "", "merchant": ""}
    response = admin_client.post("/admin/billing/charge/add/", {**data, "charged_at_0": "2020-01-01",
                                                                "charged_at_1": "00:00:00"}, follow=True)
    assert not Charge.objects.exists()  # past the limit: refused with a message
    assert any("limit" in str(m) for m in response.context["messages"])
    response = admin_client.post("/admin/billing/charge/add/", {**data, "amount": "-2", "charged_at_0": "2020-01-01",
                                                                "charged_at_1": "00:00:00"})
    assert response.status_code == 302
    charge = Charge.objects.get()
    assert charge.amount == Decimal("-2") and charge.billing_period_start.year == 2019
    assert AuditLogEntry.objects.get_for_object(charge).get().actor == site_admin


def test_a_product_added_in_the_admin_takes_its_flavours_coins(admin_client, world):
    response = admin_client.post("/admin/billing/product/add/", {
        "utility": world.utility.pk, "product_type": product_type(PROJECT_TIER).pk, "name": "Project",
        "flavour": "SILVER", "allowance": "", "limit": "", "charges-TOTAL_FORMS": "0", "charges-INITIAL_FORMS": "0"})
    assert response.status_code == 302, response.context["adminform"].form.errors
    product = Product.objects.get()
    assert (product.allowance, product.limit) == (500, 1000)
    assert AuditLogEntry.objects.get_for_object(product).get().account_id == world.account.pk


def test_a_product_with_charges_is_not_deleted_in_the_admin(admin_client, ledger):
    product, _charges = ledger
    response = admin_client.post(f"/admin/billing/product/{product.pk}/delete/", {"post": "yes"}, follow=True)
    assert Product.objects.filter(pk=product.pk).exists()
    # the admin's own check names the charges that keep it (the service would refuse it too)
    assert b"charge" in response.content.lower() and response.context.get("perms_lacking") is not None


def test_the_utility_page_adds_products_through_the_service(admin_client, world):
    utility = UtilityFactory(account=world.account, name="East", billing_day=3)
    data = {"name": utility.name, "billing_day": 3, "subscriber_seats": "",
            "memberships-TOTAL_FORMS": "0", "memberships-INITIAL_FORMS": "0",
            "products-TOTAL_FORMS": "1", "products-INITIAL_FORMS": "0",
            "products-0-utility": str(utility.pk), "products-0-name": "Disk",
            "products-0-product_type": str(product_type(STORAGE).pk), "products-0-flavour": "",
            "products-0-allowance": "30", "products-0-limit": ""}
    response = admin_client.post(f"/admin/memberships/utility/{utility.pk}/change/", data)
    assert response.status_code == 302
    product = Product.objects.get(utility=utility)
    assert (product.name, product.allowance, product.limit) == ("Disk", 30, 30)
    assert AuditLogEntry.objects.get_for_object(product).exists()
