"""The charges ledger (SPEC §3 Charges): decimal amounts, credits only by site admins, the
exact coin limit, billing periods and their filters, totals over the whole filtered set."""

import threading
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connections
from django.utils import timezone

from billing import services
from billing.models import Charge, Product
from billing.periods import months_before, period_containing
from core.errors import Conflict
from tests.billing.factories import ChargeFactory, MerchantFactory, ProductFactory
from tests.factories import AccountFactory, SiteAdminFactory, UtilityFactory, holder_of
from tests.jsonapi import body, rel

pytestmark = pytest.mark.django_db
URL = "/api/v1/charges/"


def post(api, product, amount, *, kind="processing", caller=None, **attributes):
    if caller is not None:
        api.as_user(caller)
    return api.post(URL, body("Charge", {"kind": kind, "amount": amount, **attributes},
                              {"product": rel("Product", product.pk)}))


def error(response):
    (first,) = response.document["errors"]
    return first["code"], first.get("source", {}).get("pointer")


def total(product, period_start=None):
    rows = Charge.objects.filter(product=product)
    if period_start is not None:
        rows = rows.filter(billing_period_start=period_start)
    return sum((charge.amount for charge in rows), Decimal(0))


class TestPosting:
    def test_a_charge_records_its_billing_period(self, api, world):
        product = ProductFactory(utility=world.utility)  # billing day 5
        response = post(api, product, "12.5", caller=world["charge_adder"], description="run 7",
                        additionalData={"job": {"id": 7}}, chargedAt="2024-03-05T00:00:00Z")
        assert response.status_code == 201, response.document
        attributes = response.document["data"]["attributes"]
        assert attributes["amount"] == "12.5000"
        assert (attributes["billingPeriodStart"], attributes["billingPeriodEnd"]) == ("2024-03-05", "2024-04-05")
        assert attributes["additionalData"] == {"job": {"id": 7}}
        assert response["Location"].endswith(f"{URL}{response.document['data']['id']}/")

    def test_charged_at_defaults_to_now_and_may_name_a_merchant(self, api, world):
        product, merchant = ProductFactory(utility=world.utility), MerchantFactory()
        api.as_user(world["charge_adder"])
        response = api.post(URL, body("Charge", {"kind": "storage", "amount": 3}, {
            "product": rel("Product", product.pk), "merchant": rel("Merchant", merchant.pk)}))
        assert response.status_code == 201
        charge = Charge.objects.get()
        assert abs(charge.charged_at - timezone.now()) < timedelta(minutes=1)
        assert charge.merchant == merchant and charge.utility_id == world.utility.pk
        assert (charge.billing_period_start, charge.billing_period_end) == tuple(
            vars(period_containing(5, charge.charged_at)).values())

    @pytest.mark.parametrize("amount", ["0", 0, "0.0000", "abc", "1.00001", True, None, "NaN", "Infinity",
                                        "1e20", [], {}])
    def test_bad_amounts_are_a_400(self, api, world, amount):
        response = post(api, ProductFactory(utility=world.utility), amount, caller=world["site_admin"])
        assert response.status_code == 400, response.document
        assert error(response)[1] == "/data/attributes/amount"
        assert not Charge.objects.exists()

    @pytest.mark.parametrize("attributes,pointer", [
        ({"kind": "other"}, "/data/attributes/kind"),
        ({"additionalData": [1, 2]}, "/data/attributes/additionalData"),
        ({"chargedAt": "yesterday"}, "/data/attributes/chargedAt"),
        ({"chargedAt": "2999-01-01T00:00:00Z"}, "/data/attributes/chargedAt"),
        ({"billingPeriodStart": "2024-01-01"}, "/data/attributes/billingPeriodStart"),
    ])
    def test_bad_members_are_a_400(self, api, world, attributes, pointer):
        product = ProductFactory(utility=world.utility)
        response = post(api, product, "1", caller=world["site_admin"], **attributes)
        assert response.status_code == 400, response.document
        assert pointer in [e.get("source", {}).get("pointer") for e in response.document["errors"]]
        assert not Charge.objects.exists()

    def test_an_unknown_product_is_a_400(self, api, world):
        api.as_user(world["charge_adder"])
        response = api.post(URL, body("Charge", {"kind": "storage", "amount": "1"},
                                      {"product": rel("Product", 999999)}))
        assert response.status_code == 400 and error(response)[1] == "/data/relationships/product"

    def test_a_credit_is_for_site_admins_only(self, api, world):
        product = ProductFactory(utility=world.utility)
        response = post(api, product, "-5", caller=world["charge_adder"])
        assert response.status_code == 403 and error(response)[0] == "permission_denied"
        assert not Charge.objects.exists()
        assert post(api, product, "-5", caller=world["site_admin"]).status_code == 201
        assert total(product) == Decimal("-5")

    def test_the_ledger_is_append_only(self, api, world):
        charge = ChargeFactory(product=ProductFactory(utility=world.utility))
        api.as_user(world["site_admin"])
        assert api.patch(f"{URL}{charge.pk}/", body("Charge", {"amount": "2"}, id=charge.pk)).status_code == 405
        assert api.delete(f"{URL}{charge.pk}/").status_code == 405
        assert Charge.objects.get().amount == Decimal("1.5")


    # The session; the product with its utility, locked; the INSERT; the audit entry; the
    # service's savepoint and its release (tests run inside a transaction).
    def test_a_charge_takes_at_most_six_queries(self, api, world, django_assert_max_num_queries):
        product = ProductFactory(utility=world.utility)
        ContentType.objects.get_for_model(Charge)  # cached for the process's life outside tests
        api.as_user(world["charge_adder"]).get("/api/v1/users/me/")
        with django_assert_max_num_queries(6):
            response = post(api, product, "2.5")
        assert response.status_code == 201


class TestCoinLimit:
    def test_charges_up_to_the_limit_pass_and_past_it_are_refused(self, api, world):
        product = ProductFactory(utility=world.utility, allowance=5, limit=10)
        api.as_user(world["charge_adder"])
        assert post(api, product, "9.9999").status_code == 201
        refused = post(api, product, "0.0002")
        assert refused.status_code == 409 and error(refused)[0] == "coin_limit_exceeded"
        assert post(api, product, "0.0001").status_code == 201
        assert total(product) == Decimal("10")
        assert post(api, product, "0.0001").status_code == 409
        assert api.get(f"/api/v1/products/{product.pk}/").status_code == 404  # they may post, not read
        api.as_user(world["utility_admin"])
        assert api.get(f"/api/v1/products/{product.pk}/").document["data"]["attributes"]["atLimit"] is True

    def test_a_credit_makes_room(self, api, world):
        product = ProductFactory(utility=world.utility, allowance=0, limit=10)
        ChargeFactory(product=product, amount=Decimal("10"))
        assert post(api, product, "1", caller=world["charge_adder"]).status_code == 409
        assert post(api, product, "-3", caller=world["site_admin"]).status_code == 201
        assert post(api, product, "3", caller=world["charge_adder"]).status_code == 201
        assert post(api, product, "0.0001", caller=world["charge_adder"]).status_code == 409

    def test_limit_zero_is_no_cap(self, api, world):
        product = ProductFactory(utility=world.utility, allowance=0, limit=0)
        assert post(api, product, "99999999", caller=world["charge_adder"]).status_code == 201

    def test_each_period_has_its_own_limit(self, api, world):
        product = ProductFactory(utility=world.utility, allowance=0, limit=10)
        last_period = timezone.now() - timedelta(days=35)
        ChargeFactory(product=product, amount=Decimal("10"), charged_at=last_period)
        assert post(api, product, "10", caller=world["charge_adder"]).status_code == 201
        response = post(api, product, "1", caller=world["site_admin"], chargedAt=last_period.isoformat())
        assert response.status_code == 409

    def test_sums_are_exact_on_every_database(self, world):
        """A thousand charges of 0.1 are 100, not 99.99999999999986 (SQLite keeps floats)."""
        product = ProductFactory(utility=world.utility, allowance=0, limit=100)
        Charge.objects.bulk_create([ChargeFactory.build(product=product, amount=Decimal("0.1"))
                                    for _ in range(999)])
        admin = SiteAdminFactory()
        services.charge_create(actor=admin, product=product, kind="processing", amount=Decimal("0.1"))
        with pytest.raises(Conflict):
            services.charge_create(actor=admin, product=product, kind="processing", amount=Decimal("0.0001"))
        assert Product.objects.with_usage().get(pk=product.pk).coins_used == Decimal("100.0000")

    def test_sequential_charges_never_pass_the_limit(self, world):
        """On SQLite (whose writers take turns) as on PostgreSQL: one at a time, exactly."""
        product = ProductFactory(utility=world.utility, allowance=0, limit=7)
        adder = holder_of("billing.add_charge")
        outcomes = []
        for _ in range(20):
            try:
                services.charge_create(actor=adder, product=product, kind="processing", amount=Decimal("0.5"))
                outcomes.append("charged")
            except Conflict as exc:
                outcomes.append(exc.code)
        assert outcomes.count("charged") == 14 and outcomes.count("coin_limit_exceeded") == 6
        assert total(product) == Decimal("7")


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_twenty_parallel_charges_race_for_the_limit():
    """The product's row lock counts racing charges one at a time: exactly the ones that fit
    go through, and the period's total is the limit."""
    account = AccountFactory(name="Coin race")
    utility = UtilityFactory(account=account, billing_day=1)
    product = ProductFactory(utility=utility, allowance=0, limit=10)
    ChargeFactory(product=product, amount=Decimal("3"))
    adder = holder_of("billing.add_charge")
    barrier = threading.Barrier(20)
    outcomes = []

    def charge():
        try:
            barrier.wait()
            services.charge_create(actor=adder, product=product, kind="processing", amount=Decimal("0.5"))
            outcomes.append("charged")
        except Conflict as exc:
            outcomes.append(exc.code)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=charge) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count("charged") == 14
    assert outcomes.count("coin_limit_exceeded") == 6
    assert total(product) == Decimal("10")


class TestPeriods:
    @pytest.fixture
    def ledger(self, world):
        """Charges of two utilities with different billing days, in this and earlier periods."""
        north = ProductFactory(utility=world.utility)  # billing day 5
        south = ProductFactory(utility=world.second_utility)  # billing day 20
        now = timezone.now()
        charges = {}
        for name, product in (("north", north), ("south", south)):
            day = product.utility.billing_day
            current = period_containing(day, now)
            for back in range(3):
                start = months_before(current.start, back)
                at = datetime.combine(start, datetime.min.time(), tzinfo=UTC) + timedelta(hours=1)
                charges[(name, back)] = ChargeFactory(product=product, charged_at=at,
                                                      amount=Decimal(f"{back + 1}.25"),
                                                      kind="storage" if back == 1 else "processing")
        return charges

    def ids(self, api, query=""):
        response = api.get(f"{URL}?page_size=500{query}")
        assert response.status_code == 200, response.document
        return response, {int(item["id"]) for item in response.document["data"]}

    def test_the_current_period_by_default_per_utility(self, api, world, ledger):
        api.as_user(world["account_admin"])
        response, ids = self.ids(api)
        assert ids == {ledger[("north", 0)].pk, ledger[("south", 0)].pk}
        assert response.document["meta"]["total"] == "2.5000"
        assert response.document["meta"]["totalsByKind"] == {"processing": "2.5000", "storage": "0.0000"}
        assert self.ids(api, "&filter[pbp]=0")[1] == ids

    @pytest.mark.parametrize("back", [1, 2])
    def test_prior_billing_periods(self, api, world, ledger, back):
        api.as_user(world["account_admin"])
        response, ids = self.ids(api, f"&filter[pbp]={back}")
        assert ids == {ledger[("north", back)].pk, ledger[("south", back)].pk}
        assert response.document["meta"]["total"] == f"{2 * (back + 1.25):.4f}"

    def test_from_and_until_are_dates_end_exclusive(self, api, world, ledger):
        api.as_user(world["site_admin"])
        start = ledger[("north", 1)].charged_at.date()
        _, ids = self.ids(api, f"&filter[from]={start}&filter[until]={start + timedelta(days=1)}")
        assert ledger[("north", 1)].pk in ids and ledger[("north", 0)].pk not in ids
        _, ids = self.ids(api, f"&filter[from]={start + timedelta(days=1)}")
        assert ledger[("north", 1)].pk not in ids and ledger[("north", 0)].pk in ids
        _, ids = self.ids(api, f"&filter[until]={start}")
        assert ids == {c.pk for c in ledger.values() if c.charged_at.date() < start}

    @pytest.mark.parametrize("query", ["filter[pbp]=24", "filter[pbp]=-1", "filter[pbp]=x", "filter[pbp]=1.5",
                                       "filter[from]=2024-13-01", "filter[until]=soon",
                                       "filter[pbp]=1&filter[from]=2024-01-01",
                                       "filter[pbp]=0&filter[until]=2024-01-01",
                                       "filter[from]=2024-02-01&filter[until]=2024-01-01",
                                       "filter[kind]=gold", "filter[product]=a", "filter[merchant]=1"])
    def test_bad_period_filters_are_a_400(self, api, world, query):
        api.as_user(world["site_admin"])
        response = api.get(f"{URL}?{query}")
        assert response.status_code == 400, response.document
        assert response.document["errors"][0]["source"]["parameter"].startswith("filter[")

    def test_totals_cover_the_whole_filtered_set_not_the_page(self, api, world):
        product = ProductFactory(utility=world.utility)
        ChargeFactory.create_batch(7, product=product, amount=Decimal("1.1"))
        ChargeFactory(product=ProductFactory(utility=world.other_utility), amount=Decimal("50"))
        api.as_user(world["utility_admin"])
        document = api.get(f"{URL}?page_size=2").document
        assert len(document["data"]) == 2 and document["meta"]["pagination"]["count"] == 7
        assert document["meta"]["total"] == "7.7000"
        document = api.get(f"{URL}?filter[product]={product.pk}&filter[kind]=storage").document
        assert document["meta"]["total"] == "0.0000" and document["data"] == []

    def test_filters_by_product_utility_and_account(self, api, world, ledger):
        api.as_user(world["site_admin"])
        other = ChargeFactory(product=ProductFactory(utility=world.other_utility))
        north, south = ledger[("north", 0)], ledger[("south", 0)]
        assert self.ids(api, f"&filter[product]={north.product_id}")[1] == {north.pk}
        assert self.ids(api, f"&filter[utility]={world.second_utility.pk}")[1] == {south.pk}
        assert self.ids(api, f"&filter[account]={world.account.pk}")[1] == {north.pk, south.pk}
        assert self.ids(api, f"&filter[account]={world.other_account.pk}")[1] == {other.pk}

    def test_a_charge_of_an_earlier_period_is_read_by_its_id(self, api, world, ledger):
        api.as_user(world["account_consultant"])
        old = ledger[("north", 2)]
        response = api.get(f"{URL}{old.pk}/?include=product,merchant")
        assert response.status_code == 200 and response.document["data"]["id"] == str(old.pk)

    def test_includes(self, api, world):
        charge = ChargeFactory(product=ProductFactory(utility=world.utility), merchant=MerchantFactory())
        api.as_user(world["consultancy_consultant"])
        document = api.get(f"{URL}?include=product,merchant").document
        assert {(item["type"], item["id"]) for item in document["included"]} == {
            ("Product", str(charge.product_id)), ("Merchant", str(charge.merchant_id))}


def test_the_period_boundary_is_midnight_utc(world):
    product = ProductFactory(utility=world.utility)  # billing day 5
    admin = SiteAdminFactory()
    at = datetime(2024, 3, 5, tzinfo=UTC)
    before = services.charge_create(actor=admin, product=product, kind="storage", amount=1,
                                    charged_at=at - timedelta(microseconds=1))
    after = services.charge_create(actor=admin, product=product, kind="storage", amount=1, charged_at=at)
    assert before.billing_period_end == after.billing_period_start == date(2024, 3, 5)
