"""The product types SPEC §3 names: a project-tier subscription whose flavours fix the
allowance and limit, and a storage subscription (no flavours; allowance required)."""

from decimal import Decimal

from django.db import migrations

PROJECT_TIER = {
    "code": "DATA_MANAGER_PROJECT_TIER_SUBSCRIPTION",
    "name": "Project tier subscription",
    "description": "A data-manager project. Its flavour fixes the coins included each billing period "
                   "(allowance) and the most it may spend (limit).",
    "flavours": ["EVALUATION", "BRONZE", "SILVER", "GOLD"],
    "fixed_allowances": {
        "EVALUATION": {"allowance": 0, "limit": 50},
        "BRONZE": {"allowance": 100, "limit": 200},
        "SILVER": {"allowance": 500, "limit": 1000},
        "GOLD": {"allowance": 2000, "limit": 4000},
    },
    "monthly_fee": Decimal("25.0000"),
    "storage_cost": Decimal("0.0000"),
}
STORAGE = {
    "code": "DATA_MANAGER_STORAGE_SUBSCRIPTION",
    "name": "Storage subscription",
    "description": "Storage for a data manager, charged per GiB. The allowance is chosen when the product is "
                   "created.",
    "flavours": [],
    "fixed_allowances": {},
    "monthly_fee": Decimal("0.0000"),
    "storage_cost": Decimal("0.2500"),
}


def seed(apps, schema_editor):
    ProductType = apps.get_model("billing", "ProductType")
    for values in (PROJECT_TIER, STORAGE):
        defaults = {key: value for key, value in values.items() if key != "code"}
        ProductType.objects.get_or_create(code=values["code"], defaults=defaults)


def unseed(apps, schema_editor):
    ProductType = apps.get_model("billing", "ProductType")
    ProductType.objects.filter(code__in=[PROJECT_TIER["code"], STORAGE["code"]], products__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, unseed)]
