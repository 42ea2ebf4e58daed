"""Role predicates for accounts (and, later, utilities), and the DRF classes built on them."""

from django.db.models import OuterRef, Subquery

from accounts.permissions import is_site_admin
from jsonapi.permissions import RulePermission
from memberships.models import AccountMembership, Membership

Role = AccountMembership.Role
UtilityRole = Membership.Role
RANK = Membership.RANK


def account_role(user, account) -> str | None:
    """The user's role in the account, or None."""
    return _account_role(user, None if account is None else account.pk)


def _account_role(user, account_id) -> str | None:
    if user is None or not user.is_authenticated or account_id is None:
        return None
    cache = user.__dict__.setdefault("_account_role_cache", {})
    if account_id not in cache:
        cache[account_id] = (
            AccountMembership.objects.filter(user_id=user.pk, account_id=account_id).values_list("role", flat=True)
            .first()
        )
    return cache[account_id]


def with_caller_roles(accounts, user):
    """Accounts annotated with the caller's role in each and in its consultancy, so the rules
    below need no query of their own for them (see `remember_caller_roles`)."""
    def role_in(account_ref):
        return Subquery(AccountMembership.objects.filter(user_id=user.pk, account_id=OuterRef(account_ref))
                        .values("role")[:1])

    return accounts.annotate(_caller_role=role_in("pk"), _caller_consultancy_role=role_in("consultancy_account_id"))


def remember_caller_roles(user, account):
    """Prime the role cache from an account read through `with_caller_roles`."""
    if account is None or not hasattr(account, "_caller_role"):
        return
    cache = user.__dict__.setdefault("_account_role_cache", {})
    cache[account.pk] = account._caller_role
    if account.consultancy_account_id is not None:
        cache[account.consultancy_account_id] = account._caller_consultancy_role


def is_account_admin(user, account) -> bool:
    return is_site_admin(user) or account_role(user, account) == Role.ADMIN


def consults_for(user, account) -> bool:
    """Is the user a consultant or admin of the account's consultancy?"""
    if account is None or account.consultancy_account_id is None:
        return False
    return _account_role(user, account.consultancy_account_id) in (Role.CONSULTANT, Role.ADMIN)


def can_read_account_audit(user, account) -> bool:
    """Account admins, its consultants (own or through the consultancy), site admins."""
    if is_site_admin(user):
        return True
    return account_role(user, account) in (Role.ADMIN, Role.CONSULTANT) or consults_for(user, account)


ROLE_PERMISSIONS = {
    Role.USER: ["accounts.view_account", "memberships.view_accountmembership"],
    Role.CONSULTANT: ["accounts.view_account", "memberships.view_accountmembership", "accounts.view_auditlogentry"],
    Role.ADMIN: [
        "accounts.view_account",
        "accounts.change_account",
        "accounts.delete_account",
        "accounts.view_activationcode",
        "accounts.change_activationcode",
        "accounts.view_auditlogentry",
        "memberships.view_accountmembership",
        "memberships.add_accountmembership",
        "memberships.change_accountmembership",
        "memberships.delete_accountmembership",
    ],
}


def account_permission_names(user, account) -> list[str]:
    """Rights on one account that come from the user's role in it (or its consultancy)."""
    names = set(ROLE_PERMISSIONS.get(account_role(user, account), ()))
    if consults_for(user, account):
        names |= set(ROLE_PERMISSIONS[Role.CONSULTANT])
    if account.is_default:
        names.add("accounts.view_account")
    return sorted(names)


class AccountPermission(RulePermission):
    object_rules = {
        "partial_update": is_account_admin,
        "destroy": is_account_admin,
    }


class AccountMembershipPermission(RulePermission):
    """Account admins manage members; members may remove themselves (services add the last-admin rule)."""

    object_rules = {
        "partial_update": lambda user, membership: is_account_admin(user, membership.account),
        "destroy": lambda user, membership: membership.user_id == user.pk
        or is_account_admin(user, membership.account),
    }


# --------------------------------------------------------------------------- utilities


def utility_role(user, utility) -> str | None:
    """The user's effective role in a utility: account admins and site admins act as its admins."""
    if user is None or not user.is_authenticated or utility is None:
        return None
    if is_site_admin(user) or (not utility.is_personal and account_role(user, utility.account) == Role.ADMIN):
        return UtilityRole.ADMIN
    cache = user.__dict__.setdefault("_utility_role_cache", {})
    if utility.pk not in cache:
        cache[utility.pk] = (
            Membership.objects.filter(user_id=user.pk, utility_id=utility.pk).values_list("role", flat=True).first()
        )
    return cache[utility.pk]


def has_utility_role(user, utility, minimum: str) -> bool:
    role = utility_role(user, utility)
    return role is not None and RANK[role] >= RANK[minimum]


def is_utility_admin(user, utility) -> bool:
    return has_utility_role(user, utility, UtilityRole.ADMIN)


def can_change_billing_day(user, utility) -> bool:
    """The account's admins; for a personal utility, its owner."""
    if utility.is_personal and utility.personal_owner_id == getattr(user, "pk", None):
        return True
    return is_account_admin(user, utility.account)


def can_remove_membership(user, membership, utility=None) -> bool:
    """Anyone may leave; leaders remove spectators, members and leaders; admins remove anyone."""
    utility = utility or membership.utility
    if membership.user_id == user.pk or is_utility_admin(user, utility):
        return True
    return has_utility_role(user, utility, UtilityRole.LEADER) and membership.role != UtilityRole.ADMIN


def can_delete_utility(user, utility) -> bool:
    """The account's admins; a personal utility also by its owner."""
    return is_account_admin(user, utility.account) or utility.personal_owner_id == user.pk


UTILITY_ROLE_PERMISSIONS = {
    UtilityRole.SPECTATOR: ["memberships.view_utility", "memberships.view_membership"],
    UtilityRole.MEMBER: ["memberships.view_utility", "memberships.view_membership"],
    UtilityRole.LEADER: ["memberships.view_utility", "memberships.view_membership", "memberships.change_membership",
                         "memberships.delete_membership"],
    UtilityRole.ADMIN: ["memberships.view_utility", "memberships.change_utility", "memberships.view_membership",
                        "memberships.add_membership", "memberships.change_membership",
                        "memberships.delete_membership"],
}


def utility_permission_names(user, utility) -> list[str]:
    """Rights on one utility from the user's role in it (or in its account); whoever sees it reads it."""
    names = {"memberships.view_utility"}
    names |= set(UTILITY_ROLE_PERMISSIONS.get(utility_role(user, utility), ()))
    if Membership.objects.for_user(user).filter(utility=utility).exists():
        names.add("memberships.view_membership")
    if is_account_admin(user, utility.account) and not utility.is_personal:
        names.add("memberships.delete_utility")
    return sorted(names)


def membership_permission_names(user, membership) -> list[str]:
    """Rights on one membership: leaders change subscriptions and remove up to leaders, admins all."""
    names = {"memberships.view_membership"}
    role = utility_role(user, membership.utility)
    if role is not None and RANK[role] >= RANK[UtilityRole.LEADER]:
        names.add("memberships.change_membership")
        if membership.role != UtilityRole.ADMIN or role == UtilityRole.ADMIN:
            names.add("memberships.delete_membership")
    if membership.user_id == user.pk:
        names.add("memberships.delete_membership")
    return sorted(names)


def account_membership_permission_names(user, membership) -> list[str]:
    names = {"memberships.view_accountmembership"}
    if is_account_admin(user, membership.account):
        names.add("memberships.change_accountmembership")
        if membership.role != Role.ADMIN or is_site_admin(user) or membership.user_id == user.pk:
            names.add("memberships.delete_accountmembership")
    elif membership.user_id == user.pk:
        names.add("memberships.delete_accountmembership")
    return sorted(names)


class UtilityPermission(RulePermission):
    """Account admins change and delete; utility admins may rename and set seats (the service checks which)."""

    object_rules = {
        "partial_update": is_utility_admin,
        "destroy": lambda user, utility: is_account_admin(user, utility.account),
    }


class MembershipPermission(RulePermission):
    """Leaders change subscriptions and remove up to leaders; admins do everything; anyone may leave."""

    object_rules = {
        "partial_update": lambda user, m: has_utility_role(user, m.utility, UtilityRole.LEADER),
        "destroy": can_remove_membership,
    }
