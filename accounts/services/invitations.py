"""Invitations (SPEC §3): how an admin adds someone they do not already share a space with.
Accepting makes the membership through the usual services, the invitee joining themselves."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from accounts.models import Account, AccountMembership, Invitation, User, normalize_email, validate_email_address
from accounts.services.memberships import account_membership_create
from core.errors import Conflict, Forbidden, ServiceError, TooManyAttempts
from core.limits import Limit

Status = Invitation.Status

#: What the apps above add for their targets, by model label ("memberships.utility"):
#: `default_role`, `roles` (the valid ones), `is_member(email, target)`, and
#: `join(user, target, role)` (creates and returns the membership). Filled in AppConfig.ready().
TARGETS = {
    "accounts.account": {
        "default_role": AccountMembership.Role.USER,
        "roles": [choice for choice, _ in AccountMembership.Role.choices],
        "is_member": lambda email, account: AccountMembership.objects.filter(
            account=account, user__email__iexact=email).exists(),
        "join": lambda user, account, role: account_membership_create(actor=user, user=user, account=account,
                                                                      role=role),
    },
}


def _kind(target) -> dict:
    return TARGETS[target._meta.label_lower]


def _count_invitation(actor) -> None:
    """At most ROSTER_INVITATIONS_PER_HOUR invitations per inviter: an invitation mails an
    address the inviter chooses, and must not become a way to send mail to anyone at will."""
    limit = settings.ROSTER_INVITATIONS_PER_HOUR
    if not Limit("invitations", f"{limit}/hour").hit(actor.pk):
        raise TooManyAttempts(f"You sent {limit} invitations in the last hour; try again later.")


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _pending(invitation) -> None:
    if invitation.current_status != Status.PENDING:
        raise Conflict(f"This invitation is {invitation.current_status}; only a pending one can be answered.",
                       code="conflict")


@transaction.atomic
def invitation_create(*, actor, email: str, target, role: str | None = None) -> Invitation:
    """Invite an address into an account or a utility and mail it a link. Answers alike
    whether or not the address belongs to anyone (SPEC §1)."""
    if not actor.has_perm("accounts.add_invitation", target):
        raise Forbidden("Only the admins of this account or utility invite people to it.")
    try:
        validate_email_address(email)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], field="email") from None
    email = normalize_email(email)
    if getattr(target, "is_default", False):
        raise ServiceError("Nobody is invited into the default account: every signed-in user reads it.",
                           field="account")
    kind = _kind(target)
    role = role or kind["default_role"]
    if role not in kind["roles"]:
        raise ServiceError(f"`{role}` is no role here; use one of {', '.join(kind['roles'])}.", field="role")
    target_field = "account" if isinstance(target, Account) else "utility"
    type(target).objects.select_for_update().filter(pk=target.pk).first()  # one invitation at a time
    if Invitation.objects.filter(**{target_field: target}, email=email, status=Status.PENDING,
                                 expires_at__gt=timezone.now()).exists():
        raise Conflict("This address has a pending invitation here already.", code="duplicate")
    if kind["is_member"](email, target):
        raise Conflict("This person is already a member here.", code="duplicate")
    _count_invitation(actor)
    invitation = Invitation(email=email, role=role, invited_by=actor, **{target_field: target},
                            expires_at=timezone.now() + settings.ROSTER_INVITATION_TTL)
    invitation.full_clean()
    invitation.save()
    link = f"{settings.ROSTER_SITE_URL.rstrip('/')}/#invitations"  # the dashboard lists them, with answers
    send_mail(_one_line(f"You are invited to {target}"), f"{actor.get_full_name() or actor.email} invites you "
              f"to join {target} on Roster as {role}.\n\nSign in (or sign up with this address) to accept or decline: "
              f"{link}\n\nThe invitation expires on {invitation.expires_at:%Y-%m-%d}.\n",
              settings.DEFAULT_FROM_EMAIL, [email])
    return invitation


def _lock(invitation) -> Invitation:
    return Invitation.objects.select_for_update().get(pk=invitation.pk)


def _ensure_invitee(actor, invitation) -> None:
    if not (actor.email_verified and normalize_email(actor.email) == invitation.email):
        raise Forbidden("Only the person invited, with this verified email, answers an invitation.")


@transaction.atomic
def invitation_accept(*, actor: User, invitation: Invitation):
    """Join as invited; returns the new AccountMembership or Membership."""
    invitation = _lock(invitation)
    _ensure_invitee(actor, invitation)
    _pending(invitation)
    inviter = invitation.invited_by
    if inviter is None or not inviter.is_active or not inviter.has_perm("accounts.add_invitation",
                                                                          invitation.target):
        # An admin who lost the right to invite here cannot still let people in through an
        # invitation sent earlier (to a second address of their own, say).
        raise Conflict("This invitation is no longer valid: whoever sent it may no longer invite here.",
                       code="conflict")
    membership = _kind(invitation.target)["join"](actor, invitation.target, invitation.role)
    invitation.status = Status.ACCEPTED
    invitation.save(update_fields=["status"])
    return membership


@transaction.atomic
def invitation_decline(*, actor: User, invitation: Invitation) -> Invitation:
    invitation = _lock(invitation)
    _ensure_invitee(actor, invitation)
    _pending(invitation)
    invitation.status = Status.DECLINED
    invitation.save(update_fields=["status"])
    return invitation


@transaction.atomic
def invitation_revoke(*, actor: User, invitation: Invitation) -> Invitation:
    """Withdraw an invitation (the target's admins). A pending one only; others stay as they are."""
    invitation = _lock(invitation)
    if not actor.has_perm("accounts.delete_invitation", invitation):
        raise Forbidden("Only the admins of this account or utility revoke its invitations.")
    _pending(invitation)
    invitation.status = Status.REVOKED
    invitation.save(update_fields=["status"])
    return invitation
