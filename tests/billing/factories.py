"""factory_boy factories for billing (tests/factories.py holds the lower layers'). Like those,
they write rows directly, skipping the services' rules, so a test can set up any state."""

import importlib
from decimal import Decimal

import factory
from django.utils import timezone

from billing import crypto
from billing.models import Asset, Charge, Merchant, Product, ProductType
from billing.periods import period_containing
from tests.factories import UtilityFactory

PROJECT_TIER = "DATA_MANAGER_PROJECT_TIER_SUBSCRIPTION"
STORAGE = "DATA_MANAGER_STORAGE_SUBSCRIPTION"


def product_type(code=STORAGE) -> ProductType:
    """One of the seeded product types (the data migration made them; a transactional test
    before this one may have flushed them, so they are seeded again the same way)."""
    if not ProductType.objects.filter(code=code).exists():
        from django.apps import apps

        importlib.import_module("billing.migrations.0002_seed_product_types").seed(apps, None)
    return ProductType.objects.get(code=code)


class ProductTypeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ProductType

    code = factory.Sequence(lambda n: f"TEST_TYPE_{n}")
    name = factory.Sequence(lambda n: f"Test type {n}")
    flavours = factory.LazyFunction(list)
    fixed_allowances = factory.LazyFunction(dict)


class ProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Product

    utility = factory.SubFactory(UtilityFactory)
    product_type = factory.LazyFunction(product_type)
    name = factory.Sequence(lambda n: f"Product {n}")
    allowance = 100
    limit = 0


class MerchantFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Merchant

    name = factory.Sequence(lambda n: f"Merchant {n}")
    kind = "DATA_MANAGER"
    url = "https://dm.example.org/"


class ChargeFactory(factory.django.DjangoModelFactory):
    """A charge in the billing period of its `charged_at` (now by default)."""

    class Meta:
        model = Charge

    product = factory.SubFactory(ProductFactory)
    utility = factory.LazyAttribute(lambda charge: charge.product.utility)
    kind = Charge.Kind.PROCESSING
    amount = Decimal("1.5000")
    charged_at = factory.LazyFunction(timezone.now)
    billing_period_start = factory.LazyAttribute(
        lambda charge: period_containing(charge.utility.billing_day, charge.charged_at).start)
    billing_period_end = factory.LazyAttribute(
        lambda charge: period_containing(charge.utility.billing_day, charge.charged_at).end)


class AssetFactory(factory.django.DjangoModelFactory):
    """A plain global asset by default; `secret="..."` makes a secret holding that text
    (encrypted as the services do), `scope=...` with `scope_id=...` another scope."""

    class Meta:
        model = Asset

    class Params:
        secret = None

    name = factory.Sequence(lambda n: f"asset-{n}")
    scope = Asset.Scope.GLOBAL
    scope_id = None
    content = factory.LazyAttribute(lambda asset: "" if asset.secret is not None else "plain value")
    is_secret = factory.LazyAttribute(lambda asset: asset.secret is not None)
    encrypted_content = factory.LazyAttribute(
        lambda asset: crypto.encrypt(asset.secret) if asset.secret is not None else "")
