"""People in accounts. The last-admin rule takes the account's row lock."""

from django.db import IntegrityError, transaction

from accounts.models import Account, AccountMembership, User
from core.errors import Conflict, Forbidden, NotFound, ServiceError

# --------------------------------------------------------------------------- account memberships

MemberRole = AccountMembership.Role


def _lock_account(account_id) -> Account:
    """Serialise membership changes of one account (a row lock on PostgreSQL)."""
    return Account.objects.select_for_update().get(pk=account_id)


def _ensure_another_admin(account_id, leaving: AccountMembership) -> None:
    others = AccountMembership.objects.filter(account_id=account_id, role=MemberRole.ADMIN).exclude(pk=leaving.pk)
    if not others.exists():
        raise Conflict("This is the account's last admin; promote another member first.", code="last_admin")


def _reload(membership) -> AccountMembership:
    """The membership as it is now, under the account's lock (another request may have removed it)."""
    fresh = AccountMembership.objects.select_related("user", "account").filter(pk=membership.pk).first()
    if fresh is None:
        raise NotFound("This membership no longer exists.")
    return fresh


def ensure_addable(*, actor, user, permission: str) -> None:
    """Refuse to add someone the actor may not add directly (SPEC §1): answered as if there
    were no such user, so adding is no way to learn who has an account here. Joining oneself
    (creating an account, an activation code) is no add."""
    if actor is not None and getattr(user, "_addable_by", None) == (actor.pk, permission):
        return  # read through `addable_by` for this actor in this request (AddableUserField)
    if actor is not None and actor.pk != user.pk and not User.objects.addable_by(
            actor, permission).filter(pk=user.pk).exists():
        raise ServiceError("There is no such user to add; invite them by email instead.", field="user")


@transaction.atomic
def account_membership_create(*, actor, user, account, role=MemberRole.USER) -> AccountMembership:
    ensure_addable(actor=actor, user=user, permission="accounts.add_accountmembership")
    if account.is_default:
        raise Conflict("The default account has no members; it only holds personal utilities.")
    _lock_account(account.pk)
    if AccountMembership.objects.filter(user=user, account=account).exists():
        raise Conflict("This user is already a member of this account.", code="duplicate")
    membership = AccountMembership(user=user, account=account, role=role)
    membership.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            membership.save()
    except IntegrityError:
        raise Conflict("This user is already a member of this account.", code="duplicate") from None
    return membership


@transaction.atomic
def account_membership_update(*, actor, membership: AccountMembership, role: str) -> AccountMembership:
    """Change a member's role. Promotion is open to account admins; demoting another admin
    is for site admins; nobody demotes the last admin."""
    _lock_account(membership.account_id)
    membership = _reload(membership)
    if membership.role == MemberRole.ADMIN and role != MemberRole.ADMIN:
        if not actor.has_perm("accounts.demote_accountmembership", membership):
            raise Forbidden("Only site admins demote another admin.", field="role")
        _ensure_another_admin(membership.account_id, membership)
    membership.role = role
    membership.full_clean(validate_constraints=False)
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def account_membership_delete(*, actor, membership: AccountMembership) -> None:
    """Remove a member. Removing another admin is for site admins; the last admin stays."""
    _lock_account(membership.account_id)
    membership = _reload(membership)
    if membership.role == MemberRole.ADMIN:
        if not actor.has_perm("accounts.delete_accountmembership", membership):
            raise Forbidden("Only site admins remove another admin.")
        _ensure_another_admin(membership.account_id, membership)
    membership.delete()


def ensure_user_can_leave_everything(user) -> None:
    """Refuse (409 last_admin) when the user is the last admin of any account. Locks those accounts."""
    admin_of = list(
        AccountMembership.objects.filter(user=user, role=MemberRole.ADMIN).values_list("account_id", flat=True)
    )
    for account_id in sorted(admin_of):
        _lock_account(account_id)
        membership = AccountMembership.objects.get(user=user, account_id=account_id)
        try:
            _ensure_another_admin(account_id, membership)
        except Conflict:
            name = Account.objects.filter(pk=account_id).values_list("name", flat=True).first()
            raise Conflict(f"{user.email} is the last admin of “{name}”; promote another member first.",
                           code="last_admin") from None


