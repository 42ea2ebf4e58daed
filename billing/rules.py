"""Who may do what with products and charges (SPEC §3), registered with the role permission
backend (`core.rules`). Product types and merchants have no role rules: every signed-in user
reads them and only site admins (who hold every permission) write them. Charges are created
by site admins and holders of the global `billing.add_charge`, never changed or deleted."""

from accounts.models import AccountMembership
from accounts.rules import account_role, consults_for
from billing.models import Charge, Product
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
