"""Who may do what with users, roles, contacts, sessions, accounts and account memberships.

The rules are registered with the role permission backend (`core.rules`); every face asks
`user.has_perm(perm, obj)`. Site admins hold everything before a rule is asked, so the
rules speak only of roles, ownership and global permissions.
"""

from django.db.models import OuterRef, Subquery

from accounts.models import Account, AccountMembership, Contact, Invitation, Role, Session, User
from core import rules

AccountRoleName = AccountMembership.Role


def is_site_admin(user) -> bool:
    return bool(user and user.is_authenticated and user.is_active and user.is_superuser)


# --------------------------------------------------------------------------- account roles


def account_role(user, account) -> str | None:
    """The user's role in the account, or None."""
    return _account_role(user, None if account is None else account.pk)


def account_role_by_id(user, account_id) -> str | None:
    """`account_role` by the account's id (no need to load the account)."""
    return _account_role(user, account_id)


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
    """Site admins, and admins of the account: the role utilities and their rules build on."""
    return is_site_admin(user) or account_role(user, account) == AccountRoleName.ADMIN


def consults_for(user, account) -> bool:
    """Is the user a consultant or admin of the account's consultancy?"""
    if account is None or account.consultancy_account_id is None:
        return False
    return _account_role(user, account.consultancy_account_id) in AccountMembership.SENIOR_ROLES


def _reads_account(user, account) -> bool:
    return account.is_default or account_role(user, account) is not None or consults_for(user, account)


def _senior_in(user, account) -> bool:
    """Admins and consultants of the account, and of its consultancy."""
    return account_role(user, account) in AccountMembership.SENIOR_ROLES or consults_for(user, account)


def _admin_of(user, account) -> bool:
    return account_role(user, account) == AccountRoleName.ADMIN


rules.register(Account, {
    "accounts.view_account": _reads_account,
    "accounts.change_account": _admin_of,
    "accounts.delete_account": _admin_of,
    "accounts.view_activationcode": _admin_of,
    "accounts.change_activationcode": _admin_of,
    "accounts.view_auditlogentry": _senior_in,
    "accounts.view_accountmembership": lambda user, account: account_role(user, account) is not None
    or consults_for(user, account),
    "accounts.add_accountmembership": _admin_of,
    "accounts.change_accountmembership": _admin_of,
    "accounts.delete_accountmembership": _admin_of,
})


def _may_remove_member(user, membership) -> bool:
    """Members leave; account admins remove anyone but another admin (that is for site admins)."""
    if membership.user_id == user.pk:
        return True
    return _admin_of(user, membership.account) and membership.role != AccountRoleName.ADMIN


rules.register(AccountMembership, {
    "accounts.view_accountmembership": lambda user, membership: True,  # it was found through for_user()
    "accounts.change_accountmembership": lambda user, membership: _admin_of(user, membership.account),
    "accounts.delete_accountmembership": _may_remove_member,
})
# Demoting an admin is a change like any other, except that only site admins (and the
# admin themselves) may do it.
rules.refine(AccountMembership, {
    "accounts.demote_accountmembership": lambda user, membership: membership.user_id == user.pk,
})


# --------------------------------------------------------------------------- people


def _changes_user(actor, target) -> bool:
    """Oneself; holders of the global change_user anyone but a site admin."""
    return actor.pk == target.pk or (not target.is_superuser and actor.has_perm("accounts.change_user"))


def _deletes_user(actor, target) -> bool:
    """Holders of the global delete_user, anyone but a site admin. Oneself through /users/me/."""
    return not target.is_superuser and actor.has_perm("accounts.delete_user")


# Object rights on people, roles, contacts and sessions are not listed by
# /users/me/permissions/: the SPEC lists role-derived rights on accounts and utilities only.
rules.register(User, {
    "accounts.change_user": _changes_user,
    "accounts.delete_user": _deletes_user,
}, listed=False)
rules.register(Role, {
    "accounts.change_role": lambda user, role: user.has_perm("accounts.change_role"),
    "accounts.delete_role": lambda user, role: user.has_perm("accounts.delete_role"),
}, listed=False)
rules.register(Contact, {
    "accounts.delete_contact": lambda user, contact: contact.owner_id == user.pk,
}, listed=False)
rules.register(Session, {
    "accounts.delete_session": lambda user, session: session.user_id == user.pk,
}, listed=False)


def _administered_people(user) -> set:
    """Everyone in the accounts the user administers (one query per user object, i.e. per
    request: a page of users asks it once)."""
    try:
        return user.__dict__["_administered_people"]
    except KeyError:
        administered = AccountMembership.objects.filter(user_id=user.pk, role=AccountRoleName.ADMIN)
        people = set(AccountMembership.objects.filter(account_id__in=administered.values("account_id"))
                     .values_list("user_id", flat=True))
        user.__dict__["_administered_people"] = people
        return people


# A person's private attributes (last sign-in, date joined, whether active, sign-in strategy,
# site admin): for themselves, site admins and admins of an account they belong to (SPEC §1).
rules.refine(User, {
    "accounts.view_user_private": lambda viewer, person: viewer.pk == person.pk
    or person.pk in _administered_people(viewer),
})


def grantable_permissions(actor, permissions) -> list:
    """The permissions in `permissions` the actor may not hand out (they hold them not themselves)."""
    if is_site_admin(actor):
        return []
    held = actor.get_all_permissions()
    return [p for p in permissions if f"{p.content_type.app_label}.{p.codename}" not in held]


# --------------------------------------------------------------------------- invitations

# Who invites into an account (the memberships app adds utilities: their admins). Refinements:
# asked like permissions, listed nowhere.
rules.refine(Account, {"accounts.add_invitation": _admin_of})
rules.refine(Invitation, {
    # The target's admins revoke; whoever sent it may too while still able to invite there.
    "accounts.delete_invitation": lambda user, invitation: user.has_perm("accounts.add_invitation",
                                                                         invitation.target),
    "accounts.view_invitation": lambda user, invitation: True,  # it was found through for_user()
})
