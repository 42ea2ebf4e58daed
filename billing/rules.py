"""Who may do what with products and charges (SPEC §3), registered with the role permission
backend (`core.rules`). Product types and merchants have no role rules: every signed-in user
reads them and only site admins (who hold every permission) write them. Charges are created
by site admins and holders of the global `billing.add_charge`, never changed or deleted."""

from accounts.models import Account, AccountMembership, User
from accounts.rules import account_role, consults_for, is_account_admin, is_site_admin
from billing.models import Asset, Charge, Product
from core import rules
from memberships.models import Utility
from memberships.rules import is_utility_admin


def reads_charges(user, utility) -> bool:
    """Admins and consultants of the utility's account (and of its consultancy), the
    utility's admins; the Python side of `Charge.objects.for_user` (tested against it)."""
    if is_utility_admin(user, utility):
        return True
    if utility.is_personal:
        return False
    return account_role(user, utility.account) in AccountMembership.SENIOR_ROLES or consults_for(
        user, utility.account)


rules.register(Utility, {
    "billing.add_product": is_utility_admin,
    "billing.view_charge": reads_charges,
})

rules.register(Product, {
    "billing.view_product": lambda user, product: True,  # it was found through for_user()
    "billing.change_product": lambda user, product: is_utility_admin(user, product.utility),
    "billing.delete_product": lambda user, product: is_utility_admin(user, product.utility),
})

rules.register(Charge, {
    "billing.view_charge": lambda user, charge: True,  # it was found through for_user()
})


# --------------------------------------------------------------------------- assets
#
# SPEC §3 Assets: written by the scope's owner (the user; admins of the utility, of the
# product's utility, of the account; site admins for global ones), seen by whoever sees the
# scope (`Asset.objects.for_user`). Creating asks `billing.add_asset` on the scope object.


def writes_asset_scope(user, scope: str, target) -> bool:
    """May `user` write the assets of this scope object (None for `global`)?"""
    if is_site_admin(user):
        return True
    if target is None:
        return False  # global assets, or a scope object that is gone: site admins only
    if scope == Asset.Scope.USER:
        return target.pk == user.pk
    if scope == Asset.Scope.ACCOUNT:
        return is_account_admin(user, target)
    if scope == Asset.Scope.UTILITY:
        return is_utility_admin(user, target)
    if scope == Asset.Scope.PRODUCT:
        return is_utility_admin(user, target.utility)
    return False


def _writes_asset(user, asset) -> bool:
    if asset.scope == Asset.Scope.USER:
        return asset.scope_id == user.pk  # no query for one's own assets
    return writes_asset_scope(user, asset.scope, asset.scope_object())


def reads_secret(user, asset) -> bool:
    """Holders of `billing.view_secret_asset` (globally, or granted on this asset) who see it."""
    return user.has_perm("billing.view_secret_asset") or user.has_perm("billing.view_secret_asset", asset)


rules.register(Asset, {
    "billing.view_asset": lambda user, asset: True,  # it was found through for_user()
    "billing.change_asset": _writes_asset,
    "billing.delete_asset": _writes_asset,
})
# Adding an asset to a scope: asked on the scope object, like adding a product to a utility.
rules.refine(Account, {"billing.add_asset": lambda user, account: writes_asset_scope(user, "account", account)})
rules.refine(Utility, {"billing.add_asset": lambda user, utility: writes_asset_scope(user, "utility", utility)})
rules.refine(Product, {"billing.add_asset": lambda user, product: writes_asset_scope(user, "product", product)})
rules.refine(User, {"billing.add_asset": lambda user, target: writes_asset_scope(user, "user", target)})
