"""Products (SPEC §3): flavour rules, fixed allowances, limit ≥ allowance, the limit
defaulting to the allowance, whole non-negative coins, coinsUsed and atLimit, has_charges."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from billing.models import Product
from tests.billing.factories import (
    PROJECT_TIER,
    STORAGE,
    ChargeFactory,
    ProductFactory,
    ProductTypeFactory,
    product_type,
)
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db
URL = "/api/v1/products/"


def create(api, world, attributes, code=STORAGE, caller="utility_admin", type_id=None):
    api.as_user(world[caller])
    return api.post(URL, body("Product", attributes, {
        "utility": rel("Utility", world.utility.pk),
        "productType": rel("ProductType", type_id or product_type(code).pk)}))


def error(response):
    (first,) = response.document["errors"]
    return first["code"], first.get("source", {}).get("pointer")


class TestFlavours:
    @pytest.mark.parametrize("flavour,allowance,limit", [("EVALUATION", 0, 50), ("BRONZE", 100, 200),
                                                         ("SILVER", 500, 1000), ("GOLD", 2000, 4000)])
    def test_a_flavour_fixes_allowance_and_limit(self, api, world, flavour, allowance, limit):
        response = create(api, world, {"name": "Project", "flavour": flavour}, PROJECT_TIER)
        assert response.status_code == 201, response.document
        attributes = response.document["data"]["attributes"]
        assert (attributes["flavour"], attributes["allowance"], attributes["limit"]) == (flavour, allowance, limit)
        assert attributes["coinsUsed"] == "0.0000" and attributes["atLimit"] is False

    def test_a_type_with_flavours_needs_one(self, api, world):
        response = create(api, world, {"name": "Project"}, PROJECT_TIER)
        assert response.status_code == 400 and error(response) == ("required", "/data/attributes/flavour")
        assert not Product.objects.exists()

    @pytest.mark.parametrize("flavour", ["PLATINUM", "gold", "GOLD,SILVER"])
    def test_only_the_types_flavours(self, api, world, flavour):
        response = create(api, world, {"name": "Project", "flavour": flavour}, PROJECT_TIER)
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/flavour"

    def test_a_type_without_flavours_refuses_one(self, api, world):
        response = create(api, world, {"name": "Disk", "flavour": "GOLD", "allowance": 5})
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/flavour"

    @pytest.mark.parametrize("field", ["allowance", "limit"])
    def test_fixed_allowances_are_refused(self, api, world, field):
        response = create(api, world, {"name": "Project", "flavour": "GOLD", field: 2000}, PROJECT_TIER)
        assert response.status_code == 400 and error(response)[1] == f"/data/attributes/{field}"
        assert not Product.objects.exists()

    def test_flavours_that_fix_nothing_take_allowances(self, api, world):
        free = ProductTypeFactory(flavours=["S", "M"], fixed_allowances={"S": {"allowance": 1, "limit": 2}})
        response = create(api, world, {"name": "Medium", "flavour": "M", "allowance": 7}, type_id=free.pk)
        assert response.status_code == 201
        assert response.document["data"]["attributes"]["limit"] == 7

    def test_the_flavour_is_fixed_after_create(self, api, world):
        product = ProductFactory(utility=world.utility, product_type=product_type(PROJECT_TIER), flavour="GOLD",
                                 allowance=2000, limit=4000)
        api.as_user(world["utility_admin"])
        response = api.patch(f"{URL}{product.pk}/", body("Product", {"flavour": "BRONZE"}, id=product.pk))
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/flavour"
        response = api.patch(f"{URL}{product.pk}/", body("Product", {"limit": 5000}, id=product.pk))
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/limit"
        response = api.patch(f"{URL}{product.pk}/", body("Product", {"limit": 4000, "name": "Same"}, id=product.pk))
        assert response.status_code == 200
        product.refresh_from_db()
        assert (product.limit, product.name) == (4000, "Same")


class TestCoins:
    def test_the_limit_defaults_to_the_allowance(self, api, world):
        response = create(api, world, {"name": "Disk", "allowance": 40})
        assert response.status_code == 201
        assert response.document["data"]["attributes"]["limit"] == 40

    def test_the_allowance_is_required_where_no_flavour_fixes_it(self, api, world):
        response = create(api, world, {"name": "Disk"})
        assert response.status_code == 400 and error(response) == ("required", "/data/attributes/allowance")

    def test_limit_zero_is_no_cap(self, api, world):
        response = create(api, world, {"name": "Disk", "allowance": 40, "limit": 0})
        assert response.status_code == 201
        assert response.document["data"]["attributes"]["limit"] == 0

    def test_the_limit_covers_the_allowance(self, api, world):
        response = create(api, world, {"name": "Disk", "allowance": 40, "limit": 39})
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/limit"
        product = ProductFactory(utility=world.utility, allowance=10, limit=20)
        api.as_user(world["utility_admin"])
        response = api.patch(f"{URL}{product.pk}/", body("Product", {"allowance": 30}, id=product.pk))
        assert response.status_code == 400 and error(response)[1] == "/data/attributes/allowance"
        product.refresh_from_db()
        assert product.allowance == 10

    @pytest.mark.parametrize("value", [-1, 1.5, "10", True, None, 2**31, 10.0])
    @pytest.mark.parametrize("field", ["allowance", "limit"])
    def test_coins_are_whole_non_negative_numbers(self, api, world, field, value):
        attributes = {"name": "Disk", "allowance": 1, "limit": 1}
        attributes[field] = value
        response = create(api, world, attributes)
        assert response.status_code == 400, response.document
        assert error(response)[1] == f"/data/attributes/{field}"
        assert not Product.objects.exists()

    def test_the_database_refuses_bad_coins_too(self, world):
        for allowance, limit in ((10, 5), (-1, 0)):
            with pytest.raises(IntegrityError), transaction.atomic():
                Product.objects.create(utility=world.utility, product_type=product_type(), name="x",
                                       allowance=allowance, limit=limit)

    def test_coins_used_and_at_limit_count_the_current_period_only(self, api, world):
        from datetime import timedelta

        from django.utils import timezone

        product = ProductFactory(utility=world.utility, allowance=5, limit=10)
        ChargeFactory(product=product, amount=Decimal("4.25"))
        ChargeFactory(product=product, amount=Decimal("5.75"), kind="storage")
        ChargeFactory(product=product, amount=Decimal("99"), charged_at=timezone.now() - timedelta(days=40))
        api.as_user(world["member"])
        attributes = api.get(f"{URL}{product.pk}/").document["data"]["attributes"]
        assert (attributes["coinsUsed"], attributes["atLimit"]) == ("10.0000", True)
        listed = api.get(f"{URL}?filter[utility]={world.utility.pk}").document["data"]
        assert listed[0]["attributes"]["coinsUsed"] == "10.0000"


class TestFilters:
    def test_by_utility_account_and_type(self, api, world):
        mine = ProductFactory(utility=world.utility, product_type=product_type(STORAGE))
        other = ProductFactory(utility=world.second_utility, product_type=product_type(PROJECT_TIER),
                               flavour="GOLD", allowance=2000, limit=4000)
        ProductFactory(utility=world.other_utility)
        api.as_user(world["site_admin"])

        def ids(query):
            response = api.get(f"{URL}?{query}")
            assert response.status_code == 200, response.document
            return {int(item["id"]) for item in response.document["data"]}

        assert ids(f"filter[utility]={world.utility.pk}") == {mine.pk}
        assert ids(f"filter[account]={world.account.pk}") == {mine.pk, other.pk}
        assert ids(f"filter[productType]={product_type(PROJECT_TIER).pk}") == {other.pk}
        assert api.get(f"{URL}?filter[utility]=abc").status_code == 400
        assert api.get(f"{URL}?filter[flavour]=GOLD").status_code == 400

    def test_includes(self, api, world):
        product = ProductFactory(utility=world.utility)
        api.as_user(world["member"])
        document = api.get(f"{URL}?include=productType,utility").document
        assert {(item["type"], item["id"]) for item in document["included"]} == {
            ("ProductType", str(product.product_type_id)), ("Utility", str(world.utility.pk))}
        assert api.get(f"{URL}?include=charges").status_code == 400

    def test_utilities_carry_their_products(self, api, world):
        product = ProductFactory(utility=world.utility)
        api.as_user(world["spectator"])
        document = api.get(f"/api/v1/utilities/{world.utility.pk}/?include=products").document
        relationship = document["data"]["relationships"]["products"]
        assert relationship["meta"]["count"] == 1
        assert document["included"][0]["id"] == str(product.pk)


class TestDelete:
    def test_a_product_with_charges_is_kept(self, api, world):
        product = ProductFactory(utility=world.utility)
        ChargeFactory(product=product)
        api.as_user(world["account_admin"])
        response = api.delete(f"{URL}{product.pk}/")
        assert response.status_code == 409 and error(response)[0] == "has_charges"
        assert Product.objects.filter(pk=product.pk).exists()

    def test_a_product_without_charges_goes(self, api, world):
        product = ProductFactory(utility=world.utility)
        api.as_user(world["account_admin"])
        assert api.delete(f"{URL}{product.pk}/").status_code == 204
        assert not Product.objects.filter(pk=product.pk).exists()
