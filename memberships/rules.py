"""Who may do what with utilities and memberships, registered with the role permission
backend (`core.rules`). Account admins act as utility admins on every utility of their
account (not on personal utilities, which live in the default account)."""

from django.db.models import OuterRef, Subquery

from accounts.models import Account, AccountMembership
from accounts.rules import account_role_by_id, is_account_admin, is_site_admin
from core import rules
from memberships.models import Membership, Utility

UtilityRole = Membership.Role
RANK = Membership.RANK


def utility_role(user, utility) -> str | None:
    """The user's effective role in a utility: account admins and site admins act as its admins."""
    if user is None or not user.is_authenticated or utility is None:
        return None
    if is_site_admin(user) or (not utility.is_personal and account_role_by_id(user, utility.account_id) == "admin"):
        return UtilityRole.ADMIN
    cache = user.__dict__.setdefault("_utility_role_cache", {})
    if utility.pk not in cache:
        cache[utility.pk] = (
            Membership.objects.filter(user_id=user.pk, utility_id=utility.pk).values_list("role", flat=True).first()
        )
    return cache[utility.pk]


def with_caller_roles(memberships, user):
    """Memberships annotated with the user's role in each one's account and in its utility: the
    facts `utility_role` asks, read in the same query (`remember_caller_roles` hands them over)."""
    account_role_of = AccountMembership.objects.filter(user_id=user.pk, account_id=OuterRef("utility__account_id"))
    utility_role_of = Membership.objects.filter(user_id=user.pk, utility_id=OuterRef("utility_id"))
    return memberships.annotate(
        _caller_account_role=Subquery(account_role_of.order_by("id").values("role")[:1]),
        _caller_utility_role=Subquery(utility_role_of.order_by("-id").values("role")[:1]),
    )


def remember_caller_roles(user, membership) -> None:
    """Put the roles `with_caller_roles` read where `account_role` and `utility_role` look first."""
    if "_caller_utility_role" not in membership.__dict__ or not user.is_authenticated:
        return
    user.__dict__.setdefault("_utility_role_cache", {})[membership.utility_id] = membership._caller_utility_role
    account_id = membership.utility.account_id
    user.__dict__.setdefault("_account_role_cache", {})[account_id] = membership._caller_account_role


def has_utility_role(user, utility, minimum: str) -> bool:
    role = utility_role(user, utility)
    return role is not None and RANK[role] >= RANK[minimum]


def is_utility_admin(user, utility) -> bool:
    return has_utility_role(user, utility, UtilityRole.ADMIN)


def _leads(user, utility) -> bool:
    return has_utility_role(user, utility, UtilityRole.LEADER)


def _reads_memberships(user, utility) -> bool:
    return utility_role(user, utility) is not None or Membership.objects.for_user(user).filter(
        utility=utility).exists()


def _deletes_utility(user, utility) -> bool:
    """The account's admins; a personal utility is deleted by its owner."""
    if utility.is_personal:
        return utility.personal_owner_id == user.pk
    return is_account_admin(user, utility.account)


def _sets_billing_day(user, utility) -> bool:
    """The account's admins; for a personal utility, its owner."""
    if utility.is_personal:
        return utility.personal_owner_id == user.pk
    return is_account_admin(user, utility.account)


rules.register(Utility, {
    "memberships.view_utility": lambda user, utility: True,  # it was found through for_user()
    "memberships.change_utility": is_utility_admin,
    "memberships.delete_utility": _deletes_utility,
    "memberships.view_membership": _reads_memberships,
    "memberships.add_membership": is_utility_admin,
    "memberships.change_membership": _leads,
    "memberships.delete_membership": _leads,
})
rules.refine(Utility, {"memberships.change_utility_billing_day": _sets_billing_day})
# Inviting into a utility (accounts.services.invitations): its admins, account admins among them.
rules.refine(Utility, {"accounts.add_invitation": is_utility_admin})
# New utilities are made inside an account by its admins.
rules.refine(Account, {"memberships.add_utility": is_account_admin})


def _removes_member(user, membership) -> bool:
    """Anyone may leave; leaders remove spectators, members and leaders; admins remove anyone."""
    if membership.user_id == user.pk:
        return True
    role = utility_role(user, membership.utility)
    if role is None or RANK[role] < RANK[UtilityRole.LEADER]:
        return False
    return membership.role != UtilityRole.ADMIN or role == UtilityRole.ADMIN


rules.register(Membership, {
    "memberships.view_membership": lambda user, membership: True,  # it was found through for_user()
    "memberships.change_membership": lambda user, membership: _leads(user, membership.utility),
    "memberships.delete_membership": _removes_member,
})
# Roles are the utility admins' to change; leaders change subscriptions only.
rules.refine(Membership, {
    "memberships.change_membership_role": lambda user, membership: is_utility_admin(user, membership.utility),
})
