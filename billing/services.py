"""Writes to product types, products, charges and merchants (DESIGN.md rule 1).

The coin limit is a cross-row rule: `charge_create` locks the product's row, sums the
period's charges in SQL and only then inserts, so charges racing against one product are
counted one at a time (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions, see
config/settings/base.py, serialise every writer).
"""

from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.rules import is_site_admin
from billing.models import COIN, COIN_QUANTUM, Charge, Merchant, Product, ProductType, coin, coin_sum
from billing.periods import period_containing
from core.errors import Conflict, Forbidden, NotFound, ServiceError

MAX_COINS = 2**31 - 1
#: how far in the future a charge's `chargedAt` may lie (clocks of merchants' services drift)
CLOCK_SKEW = timedelta(minutes=5)
_MAX_WHOLE = Decimal(10) ** (COIN["max_digits"] - COIN["decimal_places"])

# --------------------------------------------------------------------------- product types


def _clean(obj, exclude=()):
    obj.full_clean(exclude=list(exclude), validate_constraints=False)


@transaction.atomic
def product_type_create(*, actor, code: str, name: str, description: str = "", flavours=None,
                        fixed_allowances=None, monthly_fee=Decimal(0), storage_cost=Decimal(0)) -> ProductType:
    if ProductType.objects.filter(code=code).exists():
        raise ServiceError("A product type with this code exists.", code="unique", field="code")
    product_type = ProductType(code=code, name=name, description=description, flavours=flavours or [],
                               fixed_allowances=fixed_allowances or {}, monthly_fee=monthly_fee,
                               storage_cost=storage_cost)
    _clean(product_type)
    product_type.save()
    return product_type


PRODUCT_TYPE_FIELDS = ("code", "name", "description", "flavours", "fixed_allowances", "monthly_fee", "storage_cost")


@transaction.atomic
def product_type_update(*, actor, product_type: ProductType, data: dict) -> ProductType:
    """Change a product type. Its flavours stay what its products use; products keep the
    allowance and limit they were created with."""
    product_type = ProductType.objects.select_for_update().filter(pk=product_type.pk).first()
    if product_type is None:
        raise NotFound("This product type no longer exists.")
    if "code" in data and ProductType.objects.filter(code=data["code"]).exclude(pk=product_type.pk).exists():
        raise ServiceError("A product type with this code exists.", code="unique", field="code")
    for field in PRODUCT_TYPE_FIELDS:
        if field in data:
            setattr(product_type, field, data[field])
    used = set(product_type.products.exclude(flavour="").values_list("flavour", flat=True).distinct())
    missing = used - set(product_type.flavours or [])
    if missing:
        raise Conflict(f"Products use the flavours {', '.join(sorted(missing))}; keep them.", field="flavours")
    _clean(product_type)
    product_type.save()
    return product_type


@transaction.atomic
def product_type_delete(*, actor, product_type: ProductType) -> None:
    try:
        product_type.delete()
    except ProtectedError:
        raise Conflict("Products of this type exist; delete them first.") from None


# --------------------------------------------------------------------------- products


def _whole_coins(value, field) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ServiceError("Coins are whole numbers.", field=field)
    if not 0 <= value <= MAX_COINS:
        raise ServiceError(f"Coins are 0 to {MAX_COINS}.", field=field)
    return value


def _check_limit(allowance: int, limit: int, field: str) -> None:
    if limit and limit < allowance:
        raise ServiceError(f"The limit ({limit}) is 0 (no cap) or at least the allowance ({allowance}).",
                           field=field)


def _check_flavour(product_type: ProductType, flavour: str) -> None:
    if product_type.flavours:
        if not flavour:
            raise ServiceError(f"Choose a flavour: {', '.join(product_type.flavours)}.", code="required",
                               field="flavour")
        if flavour not in product_type.flavours:
            raise ServiceError(f"`{flavour}` is not a flavour of {product_type.code}: "
                               f"{', '.join(product_type.flavours)}.", field="flavour")
    elif flavour:
        raise ServiceError(f"{product_type.code} has no flavours.", field="flavour")


def _lock_product(product_id, related=("utility",)) -> Product:
    product = Product.objects.select_for_update().select_related(*related).filter(pk=product_id).first()
    if product is None:
        raise NotFound("This product no longer exists.")
    return product


@transaction.atomic
def product_create(*, actor, utility, product_type: ProductType, name: str, flavour: str = "",
                   allowance: int | None = None, limit: int | None = None) -> Product:
    """A product in a utility. A flavour that fixes allowance and limit gives them (sending
    either is refused); otherwise the allowance is required and the limit defaults to it."""
    flavour = flavour or ""
    _check_flavour(product_type, flavour)
    fixed = product_type.fixed_for(flavour) if flavour else None
    if fixed is not None:
        for field, value in (("allowance", allowance), ("limit", limit)):
            if value is not None:
                raise ServiceError(f"The {flavour} flavour fixes the {field} ({fixed[field]}); leave it out.",
                                   field=field)
        allowance, limit = fixed["allowance"], fixed["limit"]
    else:
        if allowance is None:
            raise ServiceError("An allowance (whole coins per billing period, 0 for none) is required.",
                               code="required", field="allowance")
        _whole_coins(allowance, "allowance")
        limit = allowance if limit is None else _whole_coins(limit, "limit")
        _check_limit(allowance, limit, "limit")
    product = Product(utility=utility, product_type=product_type, name=name, flavour=flavour,
                      allowance=allowance, limit=limit)
    _clean(product, exclude=("utility", "product_type"))
    product.save()
    return product


PRODUCT_FIELDS = ("name", "allowance", "limit")


@transaction.atomic
def product_update(*, actor, product: Product, data: dict) -> Product:
    """Rename, or change the allowance and limit where the product type does not fix them."""
    product = _lock_product(product.pk, related=("utility__account", "product_type"))
    fixed = product.product_type.fixed_for(product.flavour) if product.flavour else None
    for field in ("allowance", "limit"):
        if field not in data or data[field] == getattr(product, field):
            continue
        if fixed is not None:
            raise ServiceError(f"The {product.flavour} flavour fixes the {field}.", field=field)
        setattr(product, field, _whole_coins(data[field], field))
    _check_limit(product.allowance, product.limit, "limit" if "limit" in data else "allowance")
    if "name" in data:
        product.name = data["name"]
    _clean(product, exclude=("utility", "product_type"))
    product.save()
    return product


@transaction.atomic
def product_delete(*, actor, product: Product) -> None:
    """Delete a product without charges: the ledger keeps every charge (409 `has_charges`)."""
    product = _lock_product(product.pk)
    if Charge.objects.filter(product_id=product.pk).exists():
        raise Conflict("This product has charges; the ledger keeps them, so it cannot be deleted.",
                       code="has_charges")
    try:
        product.delete()
    except RestrictedError:  # a charge came in between (only without row locks)
        raise Conflict("This product has charges; the ledger keeps them, so it cannot be deleted.",
                       code="has_charges") from None


# --------------------------------------------------------------------------- charges


def _amount(value) -> Decimal:
    try:
        amount = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError, TypeError):
        raise ServiceError("An amount is a decimal number of coins.", field="amount") from None
    if isinstance(value, bool) or not amount.is_finite():
        raise ServiceError("An amount is a decimal number of coins.", field="amount")
    if amount != amount.quantize(COIN_QUANTUM):
        raise ServiceError("Amounts have at most 4 decimal places.", field="amount")
    if abs(amount) >= _MAX_WHOLE:
        raise ServiceError("That amount is too large.", field="amount")
    if amount == 0:
        raise ServiceError("A charge is not zero.", field="amount")
    return amount.quantize(COIN_QUANTUM)


@transaction.atomic
def charge_create(*, actor, product: Product, kind: str, amount, description: str = "",
                  additional_data=None, charged_at: datetime | None = None, merchant: Merchant | None = None
                  ) -> Charge:
    """Add a charge to the ledger, in the billing period `charged_at` (default: now) falls in.

    Refused with 409 `coin_limit_exceeded` when it would take the product's total in that
    period past the product's limit (0: no cap). A negative amount (a credit) is for site
    admins only.
    """
    if not actor.has_perm("billing.add_charge"):
        raise Forbidden("Only site admins and holders of billing.add_charge post charges.")
    amount = _amount(amount)
    if amount < 0 and not is_site_admin(actor):
        raise Forbidden("Only site admins credit coins (a negative amount).", field="amount")
    if kind not in Charge.Kind.values:
        raise ServiceError(f"`{kind}` is not one of {', '.join(Charge.Kind.values)}.", field="kind")
    now = timezone.now()
    charged_at = now if charged_at is None else charged_at
    if timezone.is_naive(charged_at):
        raise ServiceError("`chargedAt` needs a time zone.", field="charged_at")
    if charged_at > now + CLOCK_SKEW:
        raise ServiceError("A charge cannot lie in the future.", field="charged_at")
    if additional_data is None:
        additional_data = {}
    if not isinstance(additional_data, dict):
        raise ServiceError("`additionalData` is an object.", field="additional_data")

    # The API hands over only the id (LockedLaterField): this is the one read of the product.
    product = Product.objects.select_for_update().select_related("utility").filter(pk=product.pk).first()
    if product is None:
        raise ServiceError("There is no such product.", field="product")
    period = period_containing(product.utility.billing_day, charged_at)
    if amount > 0 and product.limit > 0:
        charged = Charge.objects.filter(product_id=product.pk, billing_period_start=period.start)
        used = coin(charged.aggregate(total=coin_sum())["total"])
        if used + amount > product.limit:
            raise Conflict(f"This charge would take the product to {used + amount} coins in the billing period "
                           f"from {period.start}, past its limit of {product.limit}.",
                           code="coin_limit_exceeded", field="amount")
    charge = Charge(product=product, utility=product.utility, merchant=merchant, kind=kind, amount=amount,
                    description=description or "", additional_data=additional_data, charged_at=charged_at,
                    billing_period_start=period.start, billing_period_end=period.end)
    # The product, its utility and the merchant were just read: no query to check them again.
    _clean(charge, exclude=("product", "utility", "merchant"))
    charge.save()
    return charge


# --------------------------------------------------------------------------- merchants

MERCHANT_FIELDS = ("name", "kind", "url")


@transaction.atomic
def merchant_create(*, actor, name: str, kind: str, url: str = "") -> Merchant:
    merchant = Merchant(name=name, kind=kind, url=url or "")
    _clean(merchant)
    merchant.save()
    return merchant


@transaction.atomic
def merchant_update(*, actor, merchant: Merchant, data: dict) -> Merchant:
    merchant = Merchant.objects.select_for_update().filter(pk=merchant.pk).first()
    if merchant is None:
        raise NotFound("This merchant no longer exists.")
    for field in MERCHANT_FIELDS:
        if field in data:
            setattr(merchant, field, data[field] if data[field] is not None else "")
    _clean(merchant)
    merchant.save()
    return merchant


@transaction.atomic
def merchant_delete(*, actor, merchant: Merchant) -> None:
    """A merchant named by charges stays: the ledger keeps who charged."""
    if Charge.objects.filter(merchant_id=merchant.pk).exists():
        raise Conflict("Charges name this merchant; the ledger keeps them, so it cannot be deleted.",
                       code="has_charges")
    try:
        merchant.delete()
    except ProtectedError:
        raise Conflict("Charges name this merchant; the ledger keeps them, so it cannot be deleted.",
                       code="has_charges") from None
