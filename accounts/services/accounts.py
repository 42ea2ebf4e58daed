"""Accounts, account roles and activation codes."""

import secrets

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import (
    ACTIVATION_ALPHABET,
    ACTIVATION_CODE_LENGTH,
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    User,
)
from accounts.rules import is_site_admin
from accounts.services.memberships import account_membership_create
from core.errors import Conflict, Forbidden, NotFound, ServiceError

# --------------------------------------------------------------------------- accounts


def _check_unique_account(name, exclude_pk=None):
    clash = Account.objects.filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError("An account with this name already exists.", code="unique", field="name")


# An account's own settings: every editable column of the model, so a new attribute is
# written by the services (and the admin, which writes through them) without a list to
# forget. Its links to other rows are for site admins.
ACCOUNT_FIELDS = tuple(field.name for field in Account._meta.concrete_fields
                       if field.editable and not field.is_relation and not field.primary_key)
SITE_ADMIN_ACCOUNT_FIELDS = ("consultancy_account", "account_roles")


def _save_account(account: Account) -> None:
    account.full_clean(validate_constraints=False)
    try:
        with transaction.atomic():
            account.save()
    except IntegrityError:
        _check_unique_account(account.name, exclude_pk=account.pk)
        raise


@transaction.atomic
def account_create(*, actor: User, data: dict) -> Account:
    """Create an account; its creator becomes its admin in the same transaction."""
    for field in SITE_ADMIN_ACCOUNT_FIELDS:
        if data.get(field) and not is_site_admin(actor):
            raise Forbidden(f"Only site admins set `{field}`.", field=field)
    _check_unique_account(data.get("name", ""))
    account = Account(**{k: v for k, v in data.items() if k in ACCOUNT_FIELDS or k == "consultancy_account"})
    _save_account(account)
    if data.get("account_roles"):
        account.account_roles.set(data["account_roles"])
    account_membership_create(actor=actor, user=actor, account=account, role=AccountMembership.Role.ADMIN)
    return account


@transaction.atomic
def account_update(*, actor: User, account: Account, data: dict) -> Account:
    """Change an account. `consultancy_account` and `account_roles` are for site admins."""
    account = Account.objects.select_for_update().get(pk=account.pk)
    if "consultancy_account" in data and data["consultancy_account"] != account.consultancy_account:
        if not is_site_admin(actor):
            raise Forbidden("Only site admins set `consultancyAccount`.", field="consultancy_account")
        if data["consultancy_account"] is not None and data["consultancy_account"].pk == account.pk:
            raise ServiceError("An account cannot be its own consultancy.", field="consultancy_account")
        account.consultancy_account = data["consultancy_account"]
    changes_roles = "account_roles" in data and set(data["account_roles"]) != set(account.account_roles.all())
    if changes_roles and not is_site_admin(actor):
        raise Forbidden("Only site admins set `accountRoles`.", field="account_roles")
    if "name" in data:
        _check_unique_account(data["name"], exclude_pk=account.pk)
    for field in ACCOUNT_FIELDS:
        if field in data:
            setattr(account, field, data[field])
    _save_account(account)
    if "account_roles" in data:
        account.account_roles.set(data["account_roles"])
    return account


@transaction.atomic
def account_delete(*, actor: User, account: Account) -> None:
    """Delete an account and all its data in one transaction; its audit history stays."""
    if account.is_default:
        raise Conflict("The default account holds everyone's personal utilities and cannot be deleted.")
    # Locked first: writers of rows under it hold it (core.db.hold), so this waits for them
    # and then deletes what they wrote too, or they wait and find it gone.
    if not Account.objects.select_for_update().filter(pk=account.pk).exists():
        raise NotFound("This account no longer exists.")
    account.delete()


def default_account() -> Account:
    """The site's default account (created by a migration; recreated if someone removed it)."""
    account = Account.objects.filter(is_default=True).first()
    if account is None:
        account, _ = Account.objects.get_or_create(is_default=True, defaults={"name": DEFAULT_ACCOUNT_NAME})
    return account


DEFAULT_ACCOUNT_NAME = "Default account"


# --------------------------------------------------------------------------- account roles


@transaction.atomic
def account_role_create(*, actor: User, name: str, description: str = "") -> AccountRole:
    if AccountRole.objects.filter(name__iexact=name).exists():
        raise ServiceError("An account role with this name already exists.", code="unique", field="name")
    role = AccountRole(name=name, description=description)
    role.full_clean(validate_constraints=False)
    role.save()
    return role


@transaction.atomic
def account_role_update(*, actor: User, role: AccountRole, data: dict) -> AccountRole:
    if "name" in data and AccountRole.objects.filter(name__iexact=data["name"]).exclude(pk=role.pk).exists():
        raise ServiceError("An account role with this name already exists.", code="unique", field="name")
    for field in ("name", "description"):
        if field in data:
            setattr(role, field, data[field])
    role.full_clean(validate_constraints=False)
    role.save()
    return role


@transaction.atomic
def account_role_delete(*, actor: User, role: AccountRole) -> None:
    role.delete()


# --------------------------------------------------------------------------- activation codes


def _new_code() -> str:
    return "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(ACTIVATION_CODE_LENGTH))


def _issue(account: Account, now) -> ActivationCode:
    expires_at = now + settings.ROSTER_ACTIVATION_CODE_TTL
    for _ in range(5):
        code = _new_code()
        if ActivationCode.objects.filter(code=code).exclude(account=account).exists():
            continue
        activation, _ = ActivationCode.objects.update_or_create(
            account=account, defaults={"code": code, "issued_at": now, "expires_at": expires_at}
        )
        return activation
    raise RuntimeError("Could not find a free activation code.")  # 57**8 codes: practically unreachable


def _refuse_default(account):
    if account.is_default:
        raise Conflict("Nobody joins the default account; it only holds personal utilities.")


@transaction.atomic
def activation_code_current(*, actor: User, account: Account) -> ActivationCode:
    """The account's valid code, issuing one when none is valid."""
    _refuse_default(account)
    Account.objects.select_for_update().filter(pk=account.pk).first()
    now = timezone.now()
    current = ActivationCode.objects.filter(account=account).first()
    if current is not None and current.expires_at > now:
        return current
    return _issue(account, now)


@transaction.atomic
def activation_code_refresh(*, actor: User, account: Account) -> ActivationCode:
    """Replace the account's code; the previous one stops working at once."""
    _refuse_default(account)
    Account.objects.select_for_update().filter(pk=account.pk).first()
    return _issue(account, timezone.now())


@transaction.atomic
def account_activate(*, actor: User, code: str):
    """Join the account whose valid code this is, as `user`. Wrong and expired codes look alike."""
    code = (code or "").strip()
    activation = (
        ActivationCode.objects.select_related("account").filter(code=code, expires_at__gt=timezone.now()).first()
        if len(code) == ACTIVATION_CODE_LENGTH else None
    )
    if activation is None:
        raise ServiceError("This activation code is wrong or has expired.", code="invalid_activation_code",
                           field="activation_code")
    return account_membership_create(actor=actor, user=actor, account=activation.account,
                                     role=AccountMembership.Role.USER)


