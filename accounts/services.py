"""Every write to users, sessions, roles, contacts and avatars goes through here."""

import io
import secrets
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.contrib.auth.models import Permission
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from axes.handlers.proxy import AxesProxyHandler
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.backends import find_login_user, ldap_bind, ldap_configured
from accounts.models import (
    ACTIVATION_ALPHABET,
    ACTIVATION_CODE_LENGTH,
    Account,
    AccountMembership,
    AccountRole,
    ActivationCode,
    Avatar,
    Contact,
    Role,
    Session,
    User,
    hash_token,
    normalize_email,
    unique_username_from_email,
)
from accounts.rules import grantable_permissions, is_site_admin
from core.audit import audit_context, set_audit_actor
from core.errors import Conflict, Forbidden, NotFound, ServiceError, TooManyAttempts, Unauthorized
from core.net import client_ip

# --------------------------------------------------------------------------- sessions


def session_create(*, request, password: str, email: str | None = None, username: str | None = None):
    """Check the credentials and open a bearer session; returns (session, token).

    The token is returned only here; the database keeps its SHA-256.
    """
    if bool(email) == bool(username):
        raise ServiceError("Send exactly one of `email` and `username`.", field="email" if email else "username",
                           code="invalid" if email else "required")
    if not password:
        raise ServiceError("A password is required.", code="required", field="password")
    credentials = {"email": email} if email else {"username": username}
    django_request = getattr(request, "_request", request)
    # Ask django-axes first: the attempt that reaches the limit still gets its 401,
    # the ones after it are refused without checking the password.
    AxesProxyHandler.update_request(django_request)
    if settings.AXES_ENABLED and not AxesProxyHandler.is_allowed(django_request, credentials):
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        raise TooManyAttempts(f"Too many failed sign-ins; try again in {minutes} minutes.")
    user = authenticate(django_request, password=password, **credentials)
    if user is None:
        candidate = find_login_user(email or username)
        if candidate is not None and candidate.strategy == User.Strategy.LDAP and not ldap_configured():
            raise Unauthorized("This user signs in through LDAP, and no LDAP directory is configured here.")
        raise Unauthorized("The email/username or password is wrong.")

    set_audit_actor(user)  # the person signing in opens their own session
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    absolute = now + settings.ROSTER_SESSION_ABSOLUTE_TTL
    session = Session.objects.create(
        user=user,
        key_hash=hash_token(token),
        created=now,
        last_seen_at=now,
        expires_at=min(now + settings.ROSTER_SESSION_IDLE_TTL, absolute),
        absolute_expires_at=absolute,
        user_agent=(request.META.get("HTTP_USER_AGENT") or "")[:512],
        ip_address=client_ip(request),
    )
    # Updates last_login and lets django-axes clear the failure count.
    user_logged_in.send(sender=User, request=django_request, user=user)
    return session, token


def session_keep_alive(*, session: Session, now: datetime | None = None) -> Session:
    """Push the idle expiry to now + idle TTL, never past the absolute expiry."""
    now = now or timezone.now()
    session.expires_at = min(now + settings.ROSTER_SESSION_IDLE_TTL, session.absolute_expires_at)
    session.last_seen_at = now
    session.save(update_fields=["expires_at", "last_seen_at"])
    return session


def session_delete(*, session: Session) -> None:
    """Log out: the token stops working at once."""
    session.delete()


# --------------------------------------------------------------------------- users


def _check_unique_user(*, email=None, username=None, exclude_pk=None):
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if email is not None and others.filter(email__iexact=email).exists():
        raise ServiceError("A user with this email already exists.", code="unique", field="email")
    if username is not None and others.filter(username__iexact=username).exists():
        raise ServiceError("A user with this username already exists.", code="unique", field="username")


def _save_user(user: User) -> None:
    try:
        with transaction.atomic():
            user.save()
    except IntegrityError:
        # Lost a race with another request taking the same email or username.
        _check_unique_user(email=user.email, username=user.username, exclude_pk=user.pk)
        raise


def _set_password(user: User, password: str) -> None:
    if user.strategy == User.Strategy.LDAP:
        raise ServiceError("LDAP users have no local password.", field="password")
    try:
        validate_password(password, user)
    except ValidationError as exc:
        raise ValidationError({"password": exc.error_list}) from None
    user.set_password(password)


@transaction.atomic
def user_create(
    *,
    actor: User | None,
    email: str,
    password: str | None = None,
    username: str | None = None,
    first_name: str = "",
    last_name: str = "",
    strategy: str = User.Strategy.LOCAL,
    is_active: bool = True,
    roles=None,
) -> User:
    email = normalize_email(email)
    if not email:
        raise ServiceError("An email is required.", code="required", field="email")
    _check_unique_user(email=email, username=username or None)
    user = User(
        email=email,
        username=username or unique_username_from_email(email),
        first_name=first_name,
        last_name=last_name,
        strategy=strategy,
        is_active=is_active,
    )
    if strategy == User.Strategy.LOCAL:
        if not password:
            raise ServiceError("A local user needs a password.", code="required", field="password")
        _set_password(user, password)
    else:
        if password:
            raise ServiceError("LDAP users have no local password.", field="password")
        user.set_unusable_password()
    user.full_clean(exclude=["password"], validate_constraints=False)
    if actor is None:
        set_audit_actor(user)  # signing oneself up: the new user is the actor
    _save_user(user)
    if roles:
        if not is_site_admin(actor):
            raise Forbidden("Only site admins assign roles.", field="roles")
        user.roles.set(roles)
    return user


ADMIN_ONLY_USER_FIELDS = ("is_active", "strategy", "roles")


@transaction.atomic
def user_update(*, actor: User, user: User, data: dict, current_password: str | None = None,
                keep_session: Session | None = None) -> User:
    """Change a user. Site admins may change anything; people change their own profile.

    Changing one's own email or password needs the current password. A new password or
    a deactivation ends the user's other sessions.
    """
    if actor.pk != user.pk and not is_site_admin(actor):
        if user.is_superuser:
            raise Forbidden("Only site admins change a site admin.")
        for field in ("password", "email"):
            if field in data and (field == "password" or normalize_email(data[field]) != user.email):
                raise Forbidden(f"Only site admins change another user's `{field}`.", field=field)
    for field in ADMIN_ONLY_USER_FIELDS:
        if field in data and not is_site_admin(actor):
            current = set(user.roles.all()) if field == "roles" else getattr(user, field)
            wanted = set(data[field]) if field == "roles" else data[field]
            if current != wanted:
                raise Forbidden(f"Only site admins change `{field}`.", field=field)
            data = {k: v for k, v in data.items() if k != field}
    if actor.pk == user.pk and data.get("is_active") is False:
        raise ServiceError("You cannot deactivate yourself.", field="is_active")

    user = User.objects.select_for_update().get(pk=user.pk)
    email = normalize_email(data["email"]) if "email" in data else None
    changes_secret = "password" in data or (email is not None and email != user.email)
    if changes_secret and actor.pk == user.pk:
        _check_current_password(user, current_password)

    if email is not None and email != user.email:
        _check_unique_user(email=email, exclude_pk=user.pk)
        user.email = email
    if "username" in data and data["username"] != user.username:
        _check_unique_user(username=data["username"], exclude_pk=user.pk)
        user.username = data["username"]
    for field in ("first_name", "last_name", "is_active"):
        if field in data:
            setattr(user, field, data[field])
    if "strategy" in data and data["strategy"] != user.strategy:
        user.strategy = data["strategy"]
        if user.strategy == User.Strategy.LDAP:
            user.set_unusable_password()
        elif "password" not in data:
            raise ServiceError("Switching to local sign-in needs a password.", code="required", field="password")
    if "password" in data:
        _set_password(user, data["password"])
    user.full_clean(exclude=["password"], validate_constraints=False)
    _save_user(user)
    if "roles" in data:
        user.roles.set(data["roles"])
    if "password" in data or user.is_active is False:
        ended = Session.objects.filter(user=user)
        if keep_session is not None and user.is_active:
            ended = ended.exclude(pk=keep_session.pk)
        for session in ended:
            session.delete()
    return user


@transaction.atomic
def user_reset_password(*, user: User, password: str) -> User:
    """Set a password proven by a reset link (no current password), ending every session."""
    set_audit_actor(user)
    user = User.objects.select_for_update().get(pk=user.pk)
    _set_password(user, password)
    user.save(update_fields=["password"])
    for session in Session.objects.filter(user=user):
        session.delete()
    return user


def _check_current_password(user: User, current_password: str | None) -> None:
    if not current_password:
        raise ServiceError("Changing your email or password needs `currentPassword`.", code="required",
                           field="current_password")
    if user.strategy == User.Strategy.LDAP:
        ok = ldap_configured() and ldap_bind(user, current_password)
    else:
        ok = user.check_password(current_password)
    if not ok:
        raise ServiceError("`currentPassword` is wrong.", field="current_password")


@transaction.atomic
def user_delete(*, actor: User, user: User) -> None:
    """Delete a user and what is theirs (sessions, contacts, avatar, memberships).

    Refused (409 last_admin) while they are the last admin of an account.
    """
    if user.is_superuser and actor is not None and actor.pk != user.pk and not is_site_admin(actor):
        raise Forbidden("Only site admins delete a site admin.")
    ensure_user_can_leave_everything(user)
    if actor is not None and actor.pk == user.pk:
        # The entries outlive their actor: name them by email, since the row is going away.
        with audit_context(actor=None, actor_email=user.email):
            user.delete()
    else:
        user.delete()


# --------------------------------------------------------------------------- roles


class UnknownPermission(ValueError):
    def __init__(self, position: int, name: str):
        super().__init__(f"`{name}` is not a permission (expected `app_label.codename`).")
        self.position = position


def permissions_from_names(names) -> list[Permission]:
    """Permission objects for `app_label.codename` strings; raises on the first unknown one."""
    wanted = []
    for position, name in enumerate(names):
        app_label, _, codename = str(name).partition(".")
        wanted.append((position, name, app_label, codename))
    found = {
        (p.content_type.app_label, p.codename): p
        for p in Permission.objects.select_related("content_type").filter(
            codename__in=[codename for *_, codename in wanted]
        )
    }
    result = []
    for position, name, app_label, codename in wanted:
        permission = found.get((app_label, codename))
        if permission is None:
            raise UnknownPermission(position, name)
        result.append(permission)
    return result


def _check_unique_role(name, exclude_pk=None):
    clash = Role.objects.filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError("A role with this name already exists.", code="unique", field="name")


def _check_grantable(actor, permissions) -> None:
    not_held = grantable_permissions(actor, permissions)
    if not_held:
        names = ", ".join(sorted(f"{p.content_type.app_label}.{p.codename}" for p in not_held))
        raise Forbidden(f"You can only put permissions you hold yourself into a role (not {names}).",
                        field="permissions")


@transaction.atomic
def role_create(*, actor: User, name: str, description: str = "", permissions=()) -> Role:
    _check_grantable(actor, permissions)
    _check_unique_role(name)
    role = Role(name=name, description=description)
    role.full_clean(validate_constraints=False)
    role.save()
    role.permissions.set(permissions)
    return role


@transaction.atomic
def role_update(*, actor: User, role: Role, data: dict) -> Role:
    if "permissions" in data:
        added = set(data["permissions"]) - set(role.permissions.all())
        _check_grantable(actor, list(added))
    if "name" in data:
        _check_unique_role(data["name"], exclude_pk=role.pk)
        role.name = data["name"]
    if "description" in data:
        role.description = data["description"]
    role.full_clean(validate_constraints=False)
    role.save()
    if "permissions" in data:
        role.permissions.set(data["permissions"])
    return role


@transaction.atomic
def role_delete(*, actor: User, role: Role) -> None:
    role.delete()


# --------------------------------------------------------------------------- contacts


@transaction.atomic
def contact_create(*, owner: User, contact: User) -> Contact:
    if contact.pk == owner.pk:
        raise ServiceError("You cannot add yourself as a contact.", field="contact")
    if Contact.objects.filter(owner=owner, contact=contact).exists():
        raise Conflict("This user is already in your contacts.", code="duplicate")
    try:
        with transaction.atomic():
            return Contact.objects.create(owner=owner, contact=contact)
    except IntegrityError:
        raise Conflict("This user is already in your contacts.", code="duplicate") from None


@transaction.atomic
def contact_delete(*, owner: User, contact: Contact) -> None:
    contact.delete()


# --------------------------------------------------------------------------- avatars

AVATAR_FORMATS = {"image/png": "PNG", "image/jpeg": "JPEG"}
# Refuse images whose pixel count could exhaust memory when decoded (decompression bombs).
AVATAR_MAX_PIXELS = 16_000_000


@transaction.atomic
def avatar_set(*, user: User, data: bytes, content_type: str) -> Avatar:
    """Validate an uploaded PNG or JPEG and store it re-encoded, without metadata."""
    content_type = (content_type or "").split(";")[0].strip().lower()
    if content_type not in AVATAR_FORMATS:
        raise ServiceError("An avatar must be image/png or image/jpeg.", status=415, code="unsupported_media_type")
    if not data:
        raise ServiceError("The request body is empty; send the image bytes.", code="required")
    if len(data) > settings.ROSTER_AVATAR_MAX_BYTES:
        raise ServiceError(f"An avatar may be at most {settings.ROSTER_AVATAR_MAX_BYTES} bytes.", status=413,
                           code="request_too_large")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            if probe.format != AVATAR_FORMATS[content_type]:
                raise ServiceError(f"The body is not a {AVATAR_FORMATS[content_type]} image.")
            width, height = probe.size
            if width * height > AVATAR_MAX_PIXELS:
                raise ServiceError("The image has too many pixels.")
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            upright = ImageOps.exif_transpose(image)  # phones store rotation in EXIF, which we drop
            clean = _reencode(upright, AVATAR_FORMATS[content_type])
    except ServiceError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        raise ServiceError("The body is not a readable image.") from None
    avatar, _ = Avatar.objects.update_or_create(user=user, defaults={"image": clean, "content_type": content_type})
    return avatar


def _reencode(image: Image.Image, fmt: str) -> bytes:
    size = settings.ROSTER_AVATAR_SIZE * 2
    image.thumbnail((size, size))
    if fmt == "JPEG":
        image = image.convert("RGB")
    elif image.mode not in ("RGB", "RGBA", "L", "LA"):
        image = image.convert("RGBA")
    # A fresh image carries pixels only: no EXIF, ICC or text chunks.
    fresh = Image.new(image.mode, image.size)
    fresh.paste(image)
    out = io.BytesIO()
    fresh.save(out, format=fmt, **({"quality": 90} if fmt == "JPEG" else {"optimize": True}))
    return out.getvalue()


@transaction.atomic
def avatar_delete(*, user: User) -> None:
    avatar = Avatar.objects.filter(user=user).first()
    if avatar is not None:
        avatar.delete()


# --------------------------------------------------------------------------- accounts


def _check_unique_account(name, exclude_pk=None):
    clash = Account.objects.filter(name__iexact=name)
    if exclude_pk:
        clash = clash.exclude(pk=exclude_pk)
    if clash.exists():
        raise ServiceError("An account with this name already exists.", code="unique", field="name")


ACCOUNT_FIELDS = (
    "name", "primary_color", "secondary_color", "logo_url", "health_time_period", "exec_interval",
    "base_line_exec_interval", "cd_model_frequency", "cd_execution_frequency", "data_retention",
    "custom_attributes", "default_product_privacy",
)
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
    if "account_roles" in data and set(data["account_roles"]) != set(account.account_roles.all()):
        if not is_site_admin(actor):
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


@transaction.atomic
def account_membership_create(*, actor, user, account, role=MemberRole.USER) -> AccountMembership:
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


