"""What utilities pay for: product types, the products of a utility, the charges ledger and
the merchants that post charges.

Coins are decimals everywhere (never floats): `COIN` fields hold up to 14 whole digits and 4
decimal places. Sums of coins go through `coin_sum`, which is exact on SQLite too (see there).
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
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


# --------------------------------------------------------------------------- assets

#: SPEC §3 Assets: `content` holds at most 64 KiB, counted as UTF-8 bytes (what is stored)
ASSET_CONTENT_MAX_BYTES = 64 * 1024
ASSET_NAME_PATTERN = r"^[a-z0-9-]{1,63}\Z"


def content_size_ok(text: str) -> bool:
    return len(text.encode("utf-8")) <= ASSET_CONTENT_MAX_BYTES


class AssetQuerySet(VisibleQuerySet):
    def visible_to(self, user):
        """Global assets, one's own user assets, and those of the accounts, utilities and
        products the user sees (each scope's own `for_user`)."""
        from accounts.models import Account

        scope = Asset.Scope
        return self.filter(
            Q(scope=scope.GLOBAL)
            | Q(scope=scope.USER, scope_id=user.pk)
            | Q(scope=scope.ACCOUNT, scope_id__in=Account.objects.for_user(user).order_by().values("pk"))
            | Q(scope=scope.UTILITY, scope_id__in=Utility.objects.for_user(user).order_by().values("pk"))
            | Q(scope=scope.PRODUCT, scope_id__in=Product.objects.for_user(user).order_by().values("pk"))
        )


class Asset(models.Model):
    """A named configuration value or secret of a scope: the site (`global`), a user, an
    account, a utility or a product; merchants' services read the ones attached to them.

    The scope is named by `scope` and `scope_id` (no foreign key: one column serves four
    tables); deleting the scope object deletes its assets (`billing.services`, connected in
    `BillingConfig.ready`). A secret's content lives only in `encrypted_content` (Fernet,
    `billing.crypto`), a plain value only in `content`: a check constraint keeps each row
    to one of them, and the audit log masks `encrypted_content` whole.
    """

    class Scope(models.TextChoices):
        GLOBAL = "global"
        USER = "user"
        PRODUCT = "product"
        UTILITY = "utility"
        ACCOUNT = "account"

    name = models.CharField(max_length=63, validators=[
        RegexValidator(ASSET_NAME_PATTERN, "Lower-case letters, digits and hyphens, 1 to 63 of them.")])
    description = models.CharField(max_length=1000, blank=True)
    scope = models.CharField(max_length=16, choices=Scope.choices)
    scope_id = models.BigIntegerField(null=True, blank=True, help_text="the user, account, utility or product; "
                                                                       "empty for global assets")
    content = models.TextField(blank=True, help_text="a plain value (empty for secrets)")
    encrypted_content = models.TextField(blank=True, editable=False, help_text="a secret's Fernet token")
    is_secret = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    creator = models.ForeignKey("accounts.User", on_delete=models.SET_NULL, null=True, blank=True,
                                related_name="created_assets")
    merchants = models.ManyToManyField(Merchant, blank=True, related_name="assets")
    created = models.DateTimeField(default=timezone.now, editable=False)
    updated = models.DateTimeField(auto_now=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["name", "id"]
        permissions = [("view_secret_asset", "Can read the content of secret assets")]
        constraints = [
            models.UniqueConstraint(fields=["scope", "scope_id", "name"], name="asset_name_unique_in_scope",
                                    violation_error_message="This scope has an asset of that name."),
            # NULLs never clash in a unique index: global assets (scope_id NULL) get their own.
            models.UniqueConstraint(fields=["name"], condition=Q(scope="global"), name="asset_global_name_unique",
                                    violation_error_message="A global asset of that name exists."),
            models.CheckConstraint(condition=Q(scope__in=["global", "user", "product", "utility", "account"]),
                                   name="asset_scope_known"),
            models.CheckConstraint(
                condition=(Q(scope="global") & Q(scope_id__isnull=True))
                | (~Q(scope="global") & Q(scope_id__isnull=False)),
                name="asset_scope_id_matches_scope",
                violation_error_message="Global assets have no scope id; every other scope needs one."),
            models.CheckConstraint(condition=Q(is_secret=True, content="") | Q(is_secret=False, encrypted_content=""),
                                   name="asset_content_in_one_column"),
        ]

    def __str__(self):
        return self.name if self.scope == self.Scope.GLOBAL else f"{self.name} ({self.scope} {self.scope_id})"

    def clean(self):
        super().clean()
        if self.scope == self.Scope.GLOBAL and self.scope_id is not None:
            raise ValidationError({"scope_id": "Global assets have no scope id."})
        if self.scope != self.Scope.GLOBAL and self.scope_id is None:
            raise ValidationError({"scope_id": f"A {self.scope} asset names its {self.scope}."})
        if not content_size_ok(self.content):
            raise ValidationError({"content": f"At most {ASSET_CONTENT_MAX_BYTES} bytes (UTF-8)."})

    def scope_object(self):
        """The account, utility, product or user the asset belongs to (None: global, or gone)."""
        from accounts.models import Account, User

        model = {self.Scope.ACCOUNT: Account, self.Scope.UTILITY: Utility, self.Scope.PRODUCT: Product,
                 self.Scope.USER: User}.get(self.scope)
        if model is None or self.scope_id is None:
            return None
        cache = self.__dict__.setdefault("_scope_object", {})
        if self.scope_id not in cache:
            related = {Utility: ("account",), Product: ("utility__account",)}.get(model, ())
            cache[self.scope_id] = model._default_manager.select_related(*related).filter(pk=self.scope_id).first()
        return cache[self.scope_id]

    def audit_account_id(self):
        """The account whose audit log shows this asset (none for global and user assets)."""
        if self.scope == self.Scope.ACCOUNT:
            return self.scope_id
        if self.scope == self.Scope.UTILITY:
            return Utility.objects.filter(pk=self.scope_id).values_list("account_id", flat=True).first()
        if self.scope == self.Scope.PRODUCT:
            return Product.objects.filter(pk=self.scope_id).values_list("utility__account_id", flat=True).first()
        return None


# --------------------------------------------------------------------------- event streams

from billing.events.models import EventStream  # noqa: E402,F401 (a model of this app, kept in its own package)
