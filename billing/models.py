"""What utilities pay for: product types, the products of a utility, the charges ledger and
the merchants that post charges.

Coins are decimals everywhere (never floats): `COIN` fields hold up to 14 whole digits and 4
decimal places. Sums of coins go through `coin_sum`, which is exact on SQLite too (see there).
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import F, Func, OuterRef, Q, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import AccountMembership
from billing.periods import months_before, today_utc
from core.visibility import VisibleQuerySet
from core.visibility import ids_branch as _ids
from memberships.models import Membership, Utility

COIN = {"max_digits": 18, "decimal_places": 4}
COIN_QUANTUM = Decimal("0.0001")
ZERO = Decimal("0.0000")


# --------------------------------------------------------------------------- exact sums of coins


class _TenThousandths(Func):
    """A coin amount as whole ten-thousandths on SQLite, unchanged elsewhere.

    SQLite keeps a NUMERIC column as a binary float, and SUM over floats drifts (a million
    charges of 0.1 do not add up to 100000.0). Each row's amount rounded to whole
    ten-thousandths is exact, and SUM over integers is exact; `_FromTenThousandths` divides
    once at the end, and `coin` quantizes the result back to four places in Python.
    """

    template = "%(expressions)s"
    output_field = models.DecimalField(**COIN)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="CAST(ROUND(%(expressions)s * 10000) AS INTEGER)",
                           **extra_context)


class _FromTenThousandths(Func):
    template = "%(expressions)s"
    output_field = models.DecimalField(**COIN)

    def as_sqlite(self, compiler, connection, **extra_context):
        return self.as_sql(compiler, connection, template="(CAST(%(expressions)s AS REAL) / 10000)",
                           **extra_context)


def coin_sum(field="amount", **kwargs):
    """SUM of a coin column (0 for no rows), exact on PostgreSQL and SQLite; `filter=Q(...)`
    sums only some rows. Read the value back through `coin()`."""
    return Coalesce(_FromTenThousandths(Sum(_TenThousandths(F(field)), **kwargs)),
                    Value(ZERO, output_field=models.DecimalField(**COIN)))


def coin(value) -> Decimal:
    """A summed coin value as an exact four-place Decimal."""
    if value is None:
        return ZERO
    return Decimal(value).quantize(COIN_QUANTUM)


# --------------------------------------------------------------------------- product types


class ProductTypeQuerySet(VisibleQuerySet):
    """Every signed-in user reads product types (reference data)."""


class ProductType(models.Model):
    """What can be bought, e.g. a project-tier subscription; managed by staff in the admin."""

    code = models.CharField(max_length=100, unique=True, help_text="e.g. DATA_MANAGER_STORAGE_SUBSCRIPTION")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    flavours = models.JSONField(default=list, blank=True, help_text="list of flavour names; may be empty")
    fixed_allowances = models.JSONField(
        default=dict, blank=True, help_text='flavour → {"allowance": coins, "limit": coins} for flavours that fix them')
    monthly_fee = models.DecimalField(**COIN, default=ZERO, help_text="coins")
    storage_cost = models.DecimalField(**COIN, default=ZERO, help_text="coins per GiB")
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = ProductTypeQuerySet.as_manager()

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(monthly_fee__gte=0, storage_cost__gte=0),
                                   name="producttype_costs_not_negative"),
        ]
        # Reading a secret asset's content (SPEC §3 Assets) is what a merchant's service user
        # holds. Assets come with issue 14; the permission must exist now so that roles can
        # hold it, so it is declared here, on the app's reference model, until then.
        permissions = [("view_secret_asset", "Can read the content of secret assets")]

    def __str__(self):
        return self.name

    def clean(self):
        super().clean()
        errors = {}
        if not isinstance(self.flavours, list) or not all(isinstance(f, str) and f for f in self.flavours):
            errors["flavours"] = "A list of flavour names."
        elif len(set(self.flavours)) != len(self.flavours):
            errors["flavours"] = "Each flavour once."
        fixed = self.fixed_allowances
        if not isinstance(fixed, dict):
            errors["fixed_allowances"] = "An object of flavour → {allowance, limit}."
        elif "flavours" not in errors:
            for flavour, coins in fixed.items():
                if flavour not in self.flavours:
                    errors["fixed_allowances"] = f"`{flavour}` is not one of this type's flavours."
                    break
                if not _valid_fixed(coins):
                    errors["fixed_allowances"] = (f"`{flavour}`: allowance and limit are whole coins ≥ 0, "
                                                  "the limit 0 or at least the allowance.")
                    break
        if errors:
            raise ValidationError(errors)

    def fixed_for(self, flavour) -> dict | None:
        """`{"allowance": n, "limit": n}` when this type's `flavour` fixes them."""
        fixed = self.fixed_allowances if isinstance(self.fixed_allowances, dict) else {}
        return fixed.get(flavour)


def _valid_fixed(coins) -> bool:
    if not isinstance(coins, dict) or set(coins) != {"allowance", "limit"}:
        return False
    allowance, limit = coins["allowance"], coins["limit"]
    whole = all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 2**31 for v in (allowance, limit))
    return whole and (limit == 0 or limit >= allowance)


# --------------------------------------------------------------------------- visibility


def charge_utility_ids(user):
    """Ids of the utilities whose charges the user reads: those of the accounts they are an
    admin or consultant of, and of these accounts' consultancy clients, and those they are an
    admin of. Personal utilities (in the default account) only to their own admins."""
    senior = AccountMembership.SENIOR_ROLES
    administered = Membership.objects.filter(user_id=user.pk, role=Membership.Role.ADMIN)
    in_senior_accounts = Utility.objects.filter(account__account_memberships__user_id=user.pk,
                                                account__account_memberships__role__in=senior,
                                                personal_owner__isnull=True)
    in_client_accounts = Utility.objects.filter(
        account__consultancy_account__account_memberships__user_id=user.pk,
        account__consultancy_account__account_memberships__role__in=senior,
        personal_owner__isnull=True,
    )
    return _ids(administered, "utility_id").union(_ids(in_senior_accounts, "pk"), _ids(in_client_accounts, "pk"))


# --------------------------------------------------------------------------- products


class ProductQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Whoever sees the utility sees its products."""
        return self.filter(utility_id__in=Utility.objects.for_user(user).order_by().values("pk"))

    def with_usage(self, user=None, *, today=None):
        """`coins_used`: the product's charges in the current billing period, summed in the
        rows' own query (the period as recorded on each charge: see `Charge.in_period`)."""
        charges = Charge.objects.filter(product_id=OuterRef("pk")).filter(Charge.in_period(0, today=today))
        used = charges.order_by().values("product_id").annotate(total=coin_sum()).values("total")
        return self.annotate(coins_used=Coalesce(Subquery(used, output_field=models.DecimalField(**COIN)),
                                                 Value(ZERO, output_field=models.DecimalField(**COIN))))


class Product(models.Model):
    """Something a utility pays for: a product type, in a flavour, with a coin allowance and
    limit per billing period (limit 0: no cap)."""

    utility = models.ForeignKey(Utility, on_delete=models.CASCADE, related_name="products")
    product_type = models.ForeignKey(ProductType, on_delete=models.PROTECT, related_name="products")
    name = models.CharField(max_length=200)
    flavour = models.CharField(max_length=64, blank=True, default="")
    allowance = models.PositiveIntegerField(default=0, help_text="coins included per billing period")
    limit = models.PositiveIntegerField(default=0, help_text="most coins per billing period; 0: no cap")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    objects = ProductQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(allowance__gte=0) & Q(limit__gte=0), name="product_coins_not_negative"),
            models.CheckConstraint(condition=Q(limit=0) | Q(limit__gte=F("allowance")),
                                   name="product_limit_covers_allowance",
                                   violation_error_message="The limit is 0 (no cap) or at least the allowance."),
        ]

    def __str__(self):
        return self.name

    @property
    def at_limit(self) -> bool:
        """Has the current billing period used the whole limit? (needs `with_usage`)"""
        return self.limit > 0 and getattr(self, "coins_used", ZERO) >= self.limit

    def audit_account_id(self):
        return _account_of_utility(self)


def _account_of_utility(obj):
    """The account of `obj.utility`: from the loaded utility when there is one (the services
    load it with the row they lock), else one query."""
    utility = obj._state.fields_cache.get("utility")
    if utility is not None:
        return utility.account_id
    return Utility.objects.filter(pk=obj.utility_id).values_list("account_id", flat=True).first()


# --------------------------------------------------------------------------- merchants


class MerchantQuerySet(VisibleQuerySet):
    """Every signed-in user reads merchants."""


class Merchant(models.Model):
    """A service that sells products and posts charges, e.g. a data manager."""

    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=100, help_text="e.g. DATA_MANAGER")
    url = models.URLField(max_length=500, blank=True)
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = MerchantQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name


# --------------------------------------------------------------------------- charges


class ChargeQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Admins and consultants of the account (and of its consultancy), utility admins."""
        return self.filter(utility_id__in=charge_utility_ids(user))


class Charge(models.Model):
    """One entry of the append-only ledger: coins a product cost, in one billing period.

    `utility` is the product's (fixed), kept on the charge so the ledger is filtered and
    read by utility without a join, and so deleting a utility (or its account) takes its
    charges with it, while deleting a product that has charges is refused (RESTRICT)."""

    class Kind(models.TextChoices):
        PROCESSING = "processing"
        STORAGE = "storage"

    product = models.ForeignKey(Product, on_delete=models.RESTRICT, related_name="charges")
    utility = models.ForeignKey(Utility, on_delete=models.CASCADE, related_name="charges", editable=False)
    merchant = models.ForeignKey(Merchant, on_delete=models.PROTECT, null=True, blank=True, related_name="charges")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    amount = models.DecimalField(**COIN, help_text="coins; negative: a credit")
    description = models.CharField(max_length=1000, blank=True)
    additional_data = models.JSONField(default=dict, blank=True)
    charged_at = models.DateTimeField(default=timezone.now)
    billing_period_start = models.DateField(editable=False)
    billing_period_end = models.DateField(editable=False, help_text="exclusive")
    created = models.DateTimeField(default=timezone.now, editable=False)

    objects = ChargeQuerySet.as_manager()

    class Meta:
        ordering = ["-charged_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="charge_amount_not_zero",
                                   violation_error_message="A charge is not zero."),
            models.CheckConstraint(condition=Q(billing_period_end__gt=F("billing_period_start")),
                                   name="charge_period_not_empty"),
        ]
        indexes = [
            # the coin limit's sum and a product's usage: one product's charges in one period
            models.Index(fields=["product", "billing_period_start"], name="charge_product_period_idx"),
            # the ledger of a utility (what for_user and filter[utility] join on), by period
            models.Index(fields=["utility", "billing_period_start", "billing_period_end"],
                         name="charge_utility_period_idx"),
            models.Index(fields=["billing_period_start", "billing_period_end"], name="charge_period_idx"),
        ]

    def __str__(self):
        return f"{self.amount} coins ({self.kind}) for product {self.product_id}"

    def audit_account_id(self):
        return _account_of_utility(self)

    @staticmethod
    def in_period(pbp: int = 0, *, today=None) -> Q:
        """Charges recorded in their utility's billing period `pbp` periods before the current.

        Each charge records the billing period it fell in (from its utility's billing day).
        A utility's period N periods back is the one containing the date N months before
        today (day clamped to the month's end), so one condition on the recorded columns
        selects it for every utility at once, whatever its billing day (see billing.periods).
        """
        day = months_before(today or today_utc(), pbp)
        return Q(billing_period_start__lte=day, billing_period_end__gt=day)


# --------------------------------------------------------------------------- event streams

from billing.events.models import EventStream  # noqa: E402,F401 (a model of this app, kept in its own package)
