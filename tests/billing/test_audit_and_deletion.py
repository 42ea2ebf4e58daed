"""Every billing write is in its account's audit log (SPEC §3 Accounts), also after the
product or the whole utility is gone; deleting a utility or an account removes its products
and charges (SPEC §3 Accounts, Utilities), while deleting a product with charges is refused."""

from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db.models import RestrictedError

from accounts.models import Account, AuditLogEntry
from billing.models import Charge, Product
from memberships.models import Utility
from tests.billing.factories import ChargeFactory, ProductFactory, product_type
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db


def log(api, account_id, **filters):
    query = "&".join(f"filter[{name}]={value}" for name, value in filters.items())
    response = api.get(f"/api/v1/accounts/{account_id}/auditlog/?page_size=500&{query}")
    assert response.status_code == 200, response.document
    return [(entry["attributes"]["objectType"], entry["attributes"]["action"], entry["attributes"]["objectId"])
            for entry in response.document["data"]], response.document["data"]


def test_products_and_charges_are_in_the_accounts_audit_log(api, world):
    api.as_user(world["account_admin"])
    response = api.post("/api/v1/products/", body("Product", {"name": "Disk", "allowance": 10}, {
        "utility": rel("Utility", world.utility.pk), "productType": rel("ProductType", product_type().pk)}))
    product_id = response.document["data"]["id"]
    api.patch(f"/api/v1/products/{product_id}/", body("Product", {"limit": 20}, id=product_id))
    api.as_user(world["charge_adder"])
    response = api.post("/api/v1/charges/", body("Charge", {"kind": "storage", "amount": "2.5"},
                                                 {"product": rel("Product", product_id)}))
    charge_id = response.document["data"]["id"]
    api.as_user(world["account_consultant"])
    entries, documents = log(api, world.account.pk)
    assert ("Product", "create", product_id) in entries and ("Product", "update", product_id) in entries
    assert ("Charge", "create", charge_id) in entries
    update = next(d for d in documents if d["attributes"]["objectType"] == "Product"
                  and d["attributes"]["action"] == "update")
    assert update["attributes"]["changes"]["limit"] == [10, 20]
    created = next(d for d in documents if d["attributes"]["objectType"] == "Charge")
    assert created["attributes"]["changes"]["billingPeriodStart"][1]
    assert created["relationships"]["actor"]["data"]["id"] == str(world["charge_adder"].pk)
    # nothing of it in another account's log
    api.as_user(world["outsider"])
    assert not [e for e in log(api, world.other_account.pk)[0] if e[0] in ("Product", "Charge")]


def test_deleting_a_utility_removes_its_products_and_charges_and_the_log_keeps_them(api, world):
    product = ProductFactory(utility=world.utility)
    charges = ChargeFactory.create_batch(3, product=product)
    kept = ChargeFactory(product=ProductFactory(utility=world.second_utility))
    api.as_user(world["account_admin"])
    assert api.delete(f"/api/v1/utilities/{world.utility.pk}/").status_code == 204
    assert not Product.objects.filter(pk=product.pk).exists()
    assert not Charge.objects.filter(product_id=product.pk).exists()
    assert Charge.objects.filter(pk=kept.pk).exists()
    entries, _ = log(api, world.account.pk, action="delete")
    assert ("Product", "delete", str(product.pk)) in entries
    assert {("Charge", "delete", str(c.pk)) for c in charges} <= set(entries)


def test_deleting_an_account_removes_everything_billed_and_site_admins_still_read_its_log(api, world):
    product = ProductFactory(utility=world.utility)
    charge = ChargeFactory(product=product)
    account_id = world.account.pk
    api.as_user(world["account_admin"])
    assert api.delete(f"/api/v1/accounts/{account_id}/").status_code == 204
    assert not Account.objects.filter(pk=account_id).exists()
    assert not Utility.objects.filter(account_id=account_id).exists()
    assert not Product.objects.filter(pk=product.pk).exists() and not Charge.objects.filter(pk=charge.pk).exists()
    api.as_user(world["site_admin"])
    entries, _ = log(api, account_id)
    assert ("Charge", "delete", str(charge.pk)) in entries and ("Product", "delete", str(product.pk)) in entries
    charge_type = ContentType.objects.get_for_model(Charge)
    assert AuditLogEntry.objects.filter(account_id=account_id, content_type=charge_type,
                                        object_pk=str(charge.pk)).count() == 2  # created, deleted


def test_a_product_with_charges_cannot_be_deleted_even_directly(world):
    charge = ChargeFactory(product=ProductFactory(utility=world.utility), amount=Decimal("1"))
    with pytest.raises(RestrictedError):
        charge.product.delete()
    assert Charge.objects.filter(pk=charge.pk).exists()
