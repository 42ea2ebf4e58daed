"""Writes to utilities and memberships. Cross-row rules (subscriber seats) take row locks."""

from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import Account
from accounts.services.memberships import ensure_addable
from core.audit import audited_update, snapshot
from core.db import hold, lock_clause
from core.errors import Conflict, Forbidden, NotFound, ServiceError
from memberships.models import Membership, Utility

# --------------------------------------------------------------------------- utilities


def _lock_utility(utility_id, *, hold_account=False) -> Utility:
    """Serialise seat-counting writes of one utility (a row lock on PostgreSQL); with
    `hold_account`, before writing a row under it, its account is held too, in the same
    query (core.db.hold: deleting the account waits for this transaction)."""
    if hold_account:
        utility = next(iter(Utility.objects.raw(  # locks in FROM order: the account, then the utility
            f"SELECT u.* FROM {Account._meta.db_table} a JOIN {Utility._meta.db_table} u ON a.id = u.account_id "
            "WHERE u.id = %s" + lock_clause(update=("u",), key_share=("a",)), [utility_id])), None)
    else:
        utility = Utility.objects.select_for_update().filter(pk=utility_id).first()
    if utility is None:
        raise NotFound("This utility no longer exists.")
    return utility


def _check_unique_utility_name(account_id, name, exclude_pk=None):
    clash = Utility.objects.filter(account_id=account_id, name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError("This account already has a utility of that name.", code="unique", field="name")


def _subscribers(utility_id, excluding=None) -> int:
    rows = Membership.objects.filter(utility_id=utility_id, is_subscriber=True)
    if excluding is not None:
        rows = rows.exclude(pk=excluding)
    return rows.count()


def _seat_available(utility: Utility, excluding=None) -> None:
    if utility.subscriber_seats is not None and _subscribers(utility.pk, excluding) >= utility.subscriber_seats:
        raise Conflict(f"All {utility.subscriber_seats} subscriber seats of this utility are taken.",
                       code="seat_limit_reached", field="is_subscriber")


def _raise(error):
    def raiser():
        raise error

    return raiser


def _save(obj, unique_check, exclude=None) -> None:
    obj.full_clean(exclude=exclude, validate_constraints=False)
    try:
        with transaction.atomic():
            obj.save()
    except IntegrityError:
        unique_check()
        raise


@transaction.atomic
def utility_create(*, actor, account, name: str, billing_day: int, subscriber_seats=None) -> Utility:
    """Create a utility. No membership is made: the account's admins already act as its admins."""
    if hold(f"SELECT a.id FROM {Account._meta.db_table} a WHERE a.id = %s", [account.pk], "a") is None:
        raise NotFound("This account no longer exists.")  # deleted meanwhile (core.db.hold)
    _check_unique_utility_name(account.pk, name)
    utility = Utility(account=account, name=name, billing_day=billing_day, subscriber_seats=subscriber_seats)
    _save(utility, lambda: _check_unique_utility_name(account.pk, name))
    return utility


@transaction.atomic
def utility_update(*, actor, utility: Utility, data: dict) -> Utility:
    """Utility admins rename and set seats; the billing day is for the account's admins."""
    utility = _lock_utility(utility.pk)
    if "billing_day" in data and data["billing_day"] != utility.billing_day:
        if not actor.has_perm("memberships.change_utility_billing_day", utility):
            raise Forbidden("Only the account's admins change the billing day.", field="billing_day")
        utility.billing_day = data["billing_day"]
    if "name" in data and data["name"] != utility.name:
        _check_unique_utility_name(utility.account_id, data["name"], exclude_pk=utility.pk)
        utility.name = data["name"]
    if "subscriber_seats" in data:
        seats = data["subscriber_seats"]
        taken = _subscribers(utility.pk)
        if seats is not None and seats < taken:
            raise Conflict(f"{taken} members subscribe already; free seats before lowering the limit to {seats}.",
                           code="seat_limit_reached", field="subscriber_seats")
        utility.subscriber_seats = seats
    _save(utility, lambda: _check_unique_utility_name(utility.account_id, utility.name, exclude_pk=utility.pk))
    return utility


@transaction.atomic
def utility_delete(*, actor, utility: Utility) -> None:
    """Delete a utility with its memberships (and, later, products and charges)."""
    _lock_utility(utility.pk).delete()


@transaction.atomic
def personal_utility_create(*, user, billing_day: int) -> Utility:
    """The user's own utility in the default account, with them as its admin; one per user."""
    from accounts.services import default_account

    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # one request at a time per user
    if Utility.objects.filter(personal_owner=user).exists():
        raise Conflict("You already have a personal utility.", code="duplicate")
    account = default_account()
    utility = Utility(account=account, name=f"{user.username}'s utility", billing_day=billing_day,
                      personal_owner=user)
    _save(utility, _raise(Conflict("You already have a personal utility.", code="duplicate")))
    Membership.objects.create(user=user, utility=utility, role=Membership.Role.ADMIN, is_subscriber=False)
    return utility


@transaction.atomic
def personal_utility_delete(*, user) -> None:
    utility = Utility.objects.filter(personal_owner=user).first()
    if utility is None:
        raise NotFound("You have no personal utility.")
    _lock_utility(utility.pk).delete()


# --------------------------------------------------------------------------- memberships


@transaction.atomic
def membership_create(*, actor, user, utility, is_subscriber: bool, role=Membership.Role.SPECTATOR) -> Membership:
    ensure_addable(actor=actor, user=user, permission="memberships.add_membership")
    utility = _lock_utility(utility.pk, hold_account=True)
    duplicate = Conflict("This user is already a member of this utility.", code="duplicate")
    if is_subscriber and utility.subscriber_seats is not None:
        # Whether they are in already and the seats taken, in one count under the utility's lock.
        counts = Membership.objects.filter(utility_id=utility.pk).aggregate(
            mine=Count("pk", filter=Q(user_id=user.pk)), taken=Count("pk", filter=Q(is_subscriber=True)))
        if counts["mine"]:
            raise duplicate
        if counts["taken"] >= utility.subscriber_seats:
            raise Conflict(f"All {utility.subscriber_seats} subscriber seats of this utility are taken.",
                           code="seat_limit_reached", field="is_subscriber")
    # Otherwise a second membership of the same person is refused by the unique pair (`_save`).
    membership = Membership(user=user, utility=utility, role=role, is_subscriber=is_subscriber)
    # The user and the utility were just read (the utility locked): no re-check they exist.
    _save(membership, _raise(duplicate), exclude=["user", "utility"])
    return membership


def lock_memberships(queryset):
    """`queryset` with each membership's utility and user loaded and both the utility's and the
    membership's rows locked (FOR UPDATE OF utility, membership: PostgreSQL takes the locks in
    that order, the utility first, as every other writer of a utility's memberships does)."""
    return queryset.select_related("user", "utility").select_for_update(of=("utility", "self"))


def membership_update(*, actor, membership: Membership, data: dict, locked: bool = False) -> Membership:
    """Leaders change `isSubscriber`; only admins change `role`. Seats hold under concurrency.

    `locked`: the caller read `membership` through `lock_memberships` in the transaction it
    has open (the API does, to read the row, the caller's roles on it and its lock at once)."""
    with transaction.atomic(savepoint=not locked):
        if not locked:
            membership = lock_memberships(Membership.objects.filter(pk=membership.pk)).first()
            if membership is None:
                raise NotFound("This membership no longer exists.")
        utility = membership.utility
        old = snapshot(membership)
        changed = []
        if "role" in data and data["role"] != membership.role:
            if not actor.has_perm("memberships.change_membership_role", membership):
                raise Forbidden("Only the utility's admins change roles.", field="role")
            if utility.personal_owner_id == membership.user_id:
                raise Conflict("The owner of a personal utility stays its admin.", field="role")
            membership.role = data["role"]
            changed.append("role")
        if "is_subscriber" in data and data["is_subscriber"] != membership.is_subscriber:
            if data["is_subscriber"]:
                _seat_available(utility, excluding=membership.pk)
            membership.is_subscriber = data["is_subscriber"]
            membership.is_subscriber_datetime = timezone.now()
            changed += ["is_subscriber", "is_subscriber_datetime"]
        if changed:
            # Only what changed is validated: the user and utility it points to were just read.
            membership.full_clean(exclude=[f.name for f in Membership._meta.fields if f.name not in changed],
                                  validate_constraints=False)
            audited_update(membership, old, changed)
        return membership


@transaction.atomic
def membership_delete(*, actor, membership: Membership) -> None:
    """Leaders remove spectators, members and leaders; admins remove anyone; anyone may leave."""
    if membership.utility.personal_owner_id == membership.user_id:
        raise Conflict("The owner of a personal utility stays in it; delete the utility instead.")
    if membership.role == Membership.Role.ADMIN and not actor.has_perm("memberships.delete_membership", membership):
        raise Forbidden("Only the utility's admins remove an admin.")
    _lock_utility(membership.utility_id)
    # Gone meanwhile (a concurrent removal won): deleted, and audited, once.
    if not Membership.objects.select_for_update().filter(pk=membership.pk).exists():
        raise NotFound("This membership no longer exists.")
    Membership.objects.filter(pk=membership.pk).delete()
