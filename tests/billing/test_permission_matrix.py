"""Who may do what with product types, products, charges and merchants: one permission
matrix each (SPEC §3), checked cell by cell by the generic cases in tests/cases.py."""

from decimal import Decimal

import pytest

from billing.models import Charge, Merchant, Product, ProductType
from tests.billing.factories import STORAGE, ChargeFactory, MerchantFactory, ProductFactory, product_type
from tests.cases import EVERYONE_ELSE as ELSE
from tests.cases import PermissionMatrix
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db

UTILITY_MEMBERS = ("spectator", "member", "leader", "utility_admin")
#: who sees `world.utility`, and so its products (SPEC §3 Utilities, Products)
READS_UTILITY = ("account_user", "account_consultant", "account_admin", "consultancy_consultant",
                 "consultancy_admin", *UTILITY_MEMBERS, "site_admin")
#: admins of the utility or of its account
PRODUCT_WRITERS = ("account_admin", "utility_admin", "site_admin")
#: SPEC §3 Charges: admins and consultants of the account (its consultancy's too, SPEC §1),
#: utility admins; leaders, members, spectators and the account's plain users see none
READS_CHARGES = ("account_consultant", "account_admin", "consultancy_consultant", "consultancy_admin",
                 "utility_admin", "site_admin")


def status(code, *personas):
    return dict.fromkeys(personas, code)


class TestProductTypePermissions(PermissionMatrix):
    """Read-only over the API: every write is a 405, for site admins too."""

    url = "/api/v1/product-types/"
    resource_type = "ProductType"
    model = ProductType
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, ELSE: 200},
        "create": {"anonymous": 401, ELSE: 405},
        "partial_update": {"anonymous": 401, ELSE: 405},
        "destroy": {"anonymous": 401, ELSE: 405},
    }
    list_persona = "member"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return product_type(STORAGE)

    def create_body(self, world, persona):
        return body("ProductType", {"code": "NEW_TYPE", "name": "New"})

    def patch_body(self, world, obj):
        return body("ProductType", {"name": "Renamed"}, id=obj.pk)

    def add_listed(self, world, count):
        for index in range(count):
            ProductType.objects.create(code=f"EXTRA_{index}", name=f"Extra {index}")


class TestProductPermissions(PermissionMatrix):
    url = "/api/v1/products/"
    resource_type = "Product"
    model = Product
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **status(200, *READS_UTILITY), ELSE: 404},
        "create": {"anonymous": 401, **status(403, *READS_UTILITY), **status(201, *PRODUCT_WRITERS), ELSE: 404},
        "partial_update": {"anonymous": 401, **status(403, *READS_UTILITY), **status(200, *PRODUCT_WRITERS),
                           ELSE: 404},
        "destroy": {"anonymous": 401, **status(403, *READS_UTILITY), **status(204, *PRODUCT_WRITERS), ELSE: 404},
    }
    list_persona = "account_admin"
    list_max_queries = 3  # session, count, page (with coinsUsed and the relationships)

    def target(self, world):
        return world._once("product", lambda: ProductFactory(utility=world.utility, name="Storage A",
                                                             allowance=100, limit=150))

    def create_body(self, world, persona):
        return body("Product", {"name": "Storage B", "allowance": 10},
                    {"utility": rel("Utility", world.utility.pk),
                     "productType": rel("ProductType", product_type(STORAGE).pk)})

    def patch_body(self, world, obj):
        return body("Product", {"name": "Renamed", "limit": 300}, id=obj.pk)

    def assert_patched(self, obj):
        assert (obj.name, obj.limit) == ("Renamed", 300)

    def add_listed(self, world, count):
        product = self.target(world)
        for _ in range(count):
            ChargeFactory(product=ProductFactory(utility=world.utility))
        ChargeFactory(product=product)


class TestChargePermissions(PermissionMatrix):
    """An append-only ledger: posted by site admins and holders of billing.add_charge."""

    url = "/api/v1/charges/"
    resource_type = "Charge"
    model = Charge
    extra_personas = ("charge_adder",)
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, **status(200, *READS_CHARGES), ELSE: 404},
        # a global permission, asked before the body is read: everyone else 403
        "create": {"anonymous": 401, "site_admin": 201, "charge_adder": 201, ELSE: 403},
        "partial_update": {"anonymous": 401, ELSE: 405},
        "destroy": {"anonymous": 401, ELSE: 405},
    }
    list_persona = "account_consultant"
    list_max_queries = 3  # session, count with meta.total and totalsByKind, page

    def product(self, world):
        return world._once("charged_product", lambda: ProductFactory(utility=world.utility, allowance=100, limit=0))

    def target(self, world):
        return world._once("charge", lambda: ChargeFactory(product=self.product(world), amount=Decimal("3.5")))

    def create_body(self, world, persona):
        return body("Charge", {"kind": "processing", "amount": "1.25"},
                    {"product": rel("Product", self.product(world).pk)})

    def patch_body(self, world, obj):
        return body("Charge", {"description": "changed"}, id=obj.pk)

    def add_listed(self, world, count):
        ChargeFactory.create_batch(count, product=self.product(world))


class TestMerchantPermissions(PermissionMatrix):
    url = "/api/v1/merchants/"
    resource_type = "Merchant"
    model = Merchant
    matrix = {
        "list": {"anonymous": 401, ELSE: 200},
        "retrieve": {"anonymous": 401, ELSE: 200},
        "create": {"anonymous": 401, "site_admin": 201, ELSE: 403},
        "partial_update": {"anonymous": 401, "site_admin": 200, ELSE: 403},
        "destroy": {"anonymous": 401, "site_admin": 204, ELSE: 403},
    }
    list_persona = "outsider"
    list_max_queries = 3  # session, count, page

    def target(self, world):
        return world._once("merchant", lambda: MerchantFactory(name="Data Manager"))

    def create_body(self, world, persona):
        return body("Merchant", {"name": "Squonk", "kind": "DATA_MANAGER", "url": "https://squonk.example/"})

    def patch_body(self, world, obj):
        return body("Merchant", {"name": "Renamed"}, id=obj.pk)

    def assert_patched(self, obj):
        assert obj.name == "Renamed"

    def add_listed(self, world, count):
        MerchantFactory.create_batch(count)
