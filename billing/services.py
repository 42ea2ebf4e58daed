"""Writes to product types, products, charges and merchants (DESIGN.md rule 1).

The coin limit is a cross-row rule: `charge_create` locks the product's row, sums the
period's charges in SQL and only then inserts, so charges racing against one product are
counted one at a time (a row lock on PostgreSQL; SQLite's IMMEDIATE transactions, see
config/settings/base.py, serialise every writer).
"""

import re
from datetime import datetime, timedelta
from decimal import Decimal, InvalidOperation

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from accounts.models import Account
from accounts.rules import is_site_admin
from billing import crypto
from billing.models import (
    ASSET_CONTENT_MAX_BYTES,
    ASSET_NAME_PATTERN,
    COIN,
    COIN_QUANTUM,
    Asset,
    Charge,
    Merchant,
    Product,
    ProductType,
    coin,
    coin_sum,
    content_size_ok,
)
from billing.periods import period_containing
from core.db import hold, lock_clause
from core.errors import Conflict, Forbidden, NotFound, ServiceError
from jsonapi.query import is_id_text
from memberships.models import Utility

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


def _lock_product_holding_parents(product_id) -> Product | None:
    """The product, locked, with its utility (`product.utility`, no further query); its
    utility and account held (`FOR KEY SHARE`, core.db.hold). None when it is gone."""
    fields = Utility._meta.concrete_fields
    columns = ", ".join(f'u."{field.column}" AS "utility__{field.attname}"' for field in fields)
    product = next(iter(Product.objects.raw(
        # Row locks are taken in the order of the locking clauses (core.db.lock_clause): the
        # account, the utility, then the product, as a deleter of the utility (it, then its
        # products), so that no two lock in opposite orders.
        f"SELECT p.*, {columns} FROM {Account._meta.db_table} a JOIN {Utility._meta.db_table} u "
        f"ON a.id = u.account_id JOIN {Product._meta.db_table} p ON u.id = p.utility_id WHERE p.id = %s"
        + lock_clause(update=("p",), key_share=("a", "u")), [product_id])), None)
    if product is not None:
        product.utility = Utility.from_db(product._state.db, [field.attname for field in fields],
                                          [getattr(product, f"utility__{field.attname}") for field in fields])
    return product


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
    # Its utility and account held (core.db.hold): deleting either waits for this product.
    if hold(f"SELECT u.id FROM {Account._meta.db_table} a JOIN {Utility._meta.db_table} u ON a.id = u.account_id "
            "WHERE u.id = %s", [utility.pk], "a", "u") is None:
        raise NotFound("This utility no longer exists.")
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

    # The API hands over only the id (LockedLaterField): this is the one read of the product,
    # locked (its coin limit), with its utility; the utility and the account are held in the
    # same query (core.db.hold: deleting either waits for this charge, then deletes it too).
    product = _lock_product_holding_parents(product.pk)
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


# --------------------------------------------------------------------------- assets
#
# A secret's content is encrypted here, before the row is saved, and decrypted only by
# `asset_secret`: no other code sees it in clear. No message below quotes content.


def asset_scope_target(*, actor, scope: str, scope_id):
    """The object an asset of `scope` belongs to, as `actor` names it: None for `global`,
    the actor for `user` without a `scope_id`. Refused like a parent: 400 when malformed,
    404 when it does not exist or the actor cannot see it, 403 when they see it but may not
    write its assets."""
    from accounts.models import Account, User
    from billing.rules import writes_asset_scope

    if scope not in Asset.Scope.values:
        raise ServiceError(f"`scope` is one of {', '.join(Asset.Scope.values)}.", field="scope")
    if scope == Asset.Scope.GLOBAL:
        if scope_id is not None:
            raise ServiceError("Global assets have no `scopeId`.", field="scope_id")
        if not is_site_admin(actor):
            raise Forbidden("Only site admins write global assets.", field="scope")
        return None
    if scope_id is None:
        if scope == Asset.Scope.USER:
            return actor
        raise ServiceError(f"A {scope} asset names its {scope} in `scopeId`.", code="required", field="scope_id")
    text = str(scope_id)
    if isinstance(scope_id, bool) or not is_id_text(text):
        raise ServiceError("`scopeId` is the id of the scope's object.", field="scope_id")
    model = {Asset.Scope.USER: User, Asset.Scope.ACCOUNT: Account, Asset.Scope.UTILITY: Utility,
             Asset.Scope.PRODUCT: Product}[scope]
    visible = model.objects.for_user(actor)
    if model is Product:
        visible = visible.select_related("utility__account")
    elif model is Utility:
        visible = visible.select_related("account")
    target = visible.filter(pk=int(text)).first()
    if target is None:
        raise NotFound(f"There is no {model.__name__} {text} here.", field="scope_id")
    if not writes_asset_scope(actor, scope, target):
        raise Forbidden(f"You may not write this {scope}'s assets.", field="scope_id")
    return target


def _check_asset_name(name) -> str:
    if not isinstance(name, str) or not re.match(ASSET_NAME_PATTERN, name):
        raise ServiceError("A name is 1 to 63 lower-case letters, digits and hyphens.", field="name")
    return name


def _check_unique_asset_name(asset: Asset) -> None:
    clash = Asset.objects.filter(scope=asset.scope, scope_id=asset.scope_id, name=asset.name)
    if asset.pk is not None:
        clash = clash.exclude(pk=asset.pk)
    if clash.exists():
        raise ServiceError("This scope already has an asset of that name.", code="unique", field="name")


def _put_content(asset: Asset, content) -> None:
    if not isinstance(content, str):
        raise ServiceError("`content` is text.", field="content")
    if not content_size_ok(content):
        raise ServiceError(f"`content` holds at most {ASSET_CONTENT_MAX_BYTES} bytes (64 KiB, as UTF-8).",
                           field="content")
    if asset.is_secret:
        asset.content, asset.encrypted_content = "", crypto.encrypt(content)
    else:
        asset.content, asset.encrypted_content = content, ""


def _save_asset(asset: Asset) -> None:
    _clean(asset, exclude=("creator",))
    try:
        with transaction.atomic():
            asset.save()
    except IntegrityError:
        _check_unique_asset_name(asset)  # a name taken in between: the same 400
        raise


def _merchants(merchants) -> list:
    merchants = list(merchants or ())
    if not all(isinstance(merchant, Merchant) for merchant in merchants):
        raise ServiceError("`merchants` are merchants.", field="merchants")
    return merchants


@transaction.atomic
def asset_create(*, actor, name: str, scope: str, target=None, description: str = "", content: str = "",
                 is_secret: bool = False, merchants=()) -> Asset:
    """An asset of `target` (from `asset_scope_target`; None for `global`)."""
    from billing.rules import writes_asset_scope

    if scope not in Asset.Scope.values:
        raise ServiceError(f"`scope` is one of {', '.join(Asset.Scope.values)}.", field="scope")
    if (scope == Asset.Scope.GLOBAL) != (target is None):
        raise ServiceError("Global assets have no scope object; every other scope has one.", field="scope_id")
    if not writes_asset_scope(actor, scope, target):
        raise Forbidden(f"You may not write this {scope}'s assets.", field="scope_id")
    if not isinstance(is_secret, bool):
        raise ServiceError("`isSecret` is true or false.", field="is_secret")
    asset = Asset(name=_check_asset_name(name), scope=scope, scope_id=None if target is None else target.pk,
                  description=description or "", is_secret=is_secret,
                  creator=actor if getattr(actor, "is_authenticated", False) else None)
    _put_content(asset, content if content is not None else "")
    _check_unique_asset_name(asset)
    _save_asset(asset)
    if merchants:
        asset.merchants.set(_merchants(merchants))
    return asset


ASSET_FIELDS = ("name", "description", "content", "merchants")


def _lock_asset(asset_id) -> Asset:
    asset = Asset.objects.select_for_update().filter(pk=asset_id).first()
    if asset is None:
        raise NotFound("This asset no longer exists.")
    return asset


@transaction.atomic
def asset_update(*, actor, asset: Asset, data: dict) -> Asset:
    """Rename, describe, give new content (encrypted again for a secret), set the merchants.

    `isSecret`, `scope` and `scopeId` are fixed after create; `content` sent as null
    (what a client read from a secret, writing it back) asks for no change."""
    asset = _lock_asset(asset.pk)
    if "is_secret" in data and data["is_secret"] != asset.is_secret:
        raise ServiceError("`isSecret` cannot be changed; make a new asset.", field="is_secret")
    for field in ("scope", "scope_id"):
        if field in data and data[field] != getattr(asset, field):
            raise ServiceError(f"`{'scopeId' if field == 'scope_id' else field}` cannot be changed.", field=field)
    if "name" in data and data["name"] != asset.name:
        asset.name = _check_asset_name(data["name"])
        _check_unique_asset_name(asset)
    if "description" in data:
        asset.description = data["description"] or ""
    if data.get("content") is not None:
        _put_content(asset, data["content"])
    _save_asset(asset)
    if "merchants" in data:
        wanted = _merchants(data["merchants"])
        if {m.pk for m in wanted} != set(asset.merchants.values_list("pk", flat=True)):
            asset.merchants.set(wanted)
    return asset


@transaction.atomic
def asset_set_enabled(*, actor, asset: Asset, enabled: bool) -> Asset:
    """Enable or disable an asset (a no-op, with no audit entry, when it already is)."""
    asset = _lock_asset(asset.pk)
    if asset.enabled != enabled:
        asset.enabled = enabled
        asset.save(update_fields=["enabled", "updated"])
    return asset


@transaction.atomic
def asset_delete(*, actor, asset: Asset) -> None:
    _lock_asset(asset.pk).delete()


def asset_secret(*, actor, asset: Asset) -> str:
    """A secret's content in clear, for holders of `billing.view_secret_asset` (the caller
    has found the asset through `for_user`)."""
    from billing.rules import reads_secret

    if not asset.is_secret:
        raise NotFound("This asset is no secret: its content is in the asset itself.")
    if not reads_secret(actor, asset):
        raise Forbidden("Reading a secret's content needs the billing.view_secret_asset permission.")
    return crypto.decrypt(asset.encrypted_content)


def assets_rotate_keys(*, batch_size: int = 500) -> tuple[int, int]:
    """Encrypt every secret again with the first configured key; returns (re-encrypted,
    secrets). Rows already under the first key are left alone, so a second run writes
    nothing; each batch is its own transaction. Written with `update()`: the content did not
    change, so there is nothing for the audit log (which masks it anyway)."""
    rotated = total = 0
    ids = list(Asset.objects.filter(is_secret=True).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch_size):
        with transaction.atomic():
            rows = Asset.objects.select_for_update().filter(pk__in=ids[start:start + batch_size]).order_by("pk")
            for asset in rows:
                total += 1
                if crypto.encrypted_with_first_key(asset.encrypted_content):
                    continue
                try:
                    token = crypto.rotate(asset.encrypted_content)
                except crypto.SecretUnreadable:
                    raise crypto.SecretUnreadable(f"No configured asset key decrypts asset {asset.pk}.") from None
                Asset.objects.filter(pk=asset.pk).update(encrypted_content=token)
                rotated += 1
    return rotated, total


SCOPE_MODELS = {"accounts.Account": Asset.Scope.ACCOUNT, "memberships.Utility": Asset.Scope.UTILITY,
                "billing.Product": Asset.Scope.PRODUCT, "accounts.User": Asset.Scope.USER}


def delete_scope_assets(sender, instance, **kwargs) -> None:
    """`pre_delete` of accounts, utilities, products and users: their assets go with them
    (each one audited), however the object is deleted: a service, a cascade, the admin.

    A receiver, against the habit of DESIGN.md rule 1, because the scope is no foreign key
    (one column names four tables) and the lower layers' delete services cannot know assets.
    It runs while everything above the object still exists, so each asset's audit entry
    finds its account; a cascade sends it for every account, utility and product it takes."""
    scope = SCOPE_MODELS.get(sender._meta.label)
    if scope is not None and instance.pk is not None:
        Asset.objects.filter(scope=scope, scope_id=instance.pk).delete()
