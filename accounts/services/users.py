"""Every write to users and their avatars."""

import io

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.backends import ldap_bind, ldap_configured, record_failed_sign_in, sign_in_allowed
from accounts.models import (
    Avatar,
    Session,
    User,
    normalize_email,
    unique_username_from_email,
    validate_email_address,
)
from accounts.rules import is_site_admin
from accounts.services.memberships import ensure_user_can_leave_everything
from core.audit import audit_context, set_audit_actor
from core.errors import Forbidden, ServiceError, TooManyAttempts
from core.limits import Limit

# --------------------------------------------------------------------------- users


def _check_unique_user(*, email=None, username=None, exclude_pk=None):
    others = User.objects.exclude(pk=exclude_pk) if exclude_pk else User.objects.all()
    if email is not None and others.filter(email__iexact=email).exists():
        raise ServiceError("A user with this email already exists.", code="unique", field="email")
    if username is not None and others.filter(username__iexact=username).exists():
        raise ServiceError("A user with this username already exists.", code="unique", field="username")


def _validate_email(email: str) -> None:
    try:
        validate_email_address(email)
    except ValidationError as exc:
        raise ServiceError(exc.messages[0], code="invalid", field="email") from None


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
    """Create a user. People signing themselves up (`actor` None) start unverified and are
    mailed a link; users made by site admins or holders of `accounts.add_user` start verified."""
    _validate_email(email)
    email = normalize_email(email)
    if not email:
        raise ServiceError("An email is required.", code="required", field="email")
    _check_unique_user(email=email, username=username or None)
    user = User(
        email_verified=actor is not None and (is_site_admin(actor) or actor.has_perm("accounts.add_user")),
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
        user.directory_id = user.username
    user.full_clean(exclude=["password"], validate_constraints=False)
    if actor is None:
        set_audit_actor(user)  # signing oneself up: the new user is the actor
    _save_user(user)
    if roles:
        if not is_site_admin(actor):
            raise Forbidden("Only site admins assign roles.", field="roles")
        user.roles.set(roles)
    if not user.email_verified:
        send_verification_mail(user=user, email=user.email)
    return user


@transaction.atomic
def user_signup(*, email: str, password: str, first_name: str = "", last_name: str = "") -> User | None:
    """Open sign-up, answering alike whether the address is registered (SPEC §1): a new
    address gets an unverified user and a verification link; a registered one gets only a
    notice to its owner. Returns the new user, or None when the address was taken."""
    _validate_email(email)
    normalized = normalize_email(email)
    # The password is judged against the same would-be user either way (names and the
    # username derived from the address), so its errors cannot tell a registered address.
    _set_password(User(email=normalized, username=normalized.split("@")[0], first_name=first_name,
                       last_name=last_name), password)
    if not User.objects.filter(email__iexact=normalized).exists():
        try:
            return user_create(actor=None, email=email, password=password, first_name=first_name,
                               last_name=last_name)
        except ServiceError as exc:
            if exc.code != "unique" or exc.field != "email":
                raise
            # Taken by a sign-up racing this one: answered like any registered address.
    _signup_notice(normalized)
    return None


def _signup_notice(email: str) -> None:
    owner = User.objects.filter(email__iexact=email).first()
    if owner is not None:
        _mail(owner.email, "Someone tried to sign up with your address",
              "Someone tried to create a Roster account with this email address, which already has one.\n"
              "If it was you, sign in or reset your password instead. If not, you can ignore this message.\n")


# --------------------------------------------------------------------------- email verification

EMAIL_VERIFICATION_SALT = "accounts.email-verification"


def _mail(to: str, subject: str, body: str) -> None:
    send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to])


def email_verification_token(*, user: User, email: str) -> str:
    """A signed, timestamped proof that whoever holds it reads `email` (Django's signing)."""
    return signing.dumps({"user": user.pk, "email": email}, salt=EMAIL_VERIFICATION_SALT)


def send_verification_mail(*, user: User, email: str) -> None:
    token = email_verification_token(user=user, email=email)
    link = f"{settings.ROSTER_SITE_URL.rstrip('/')}/verify-email/{token}/"
    days = max(1, int(settings.ROSTER_EMAIL_VERIFICATION_TTL.total_seconds() // 86400))
    _mail(email, "Confirm your email address for Roster",
          f"Open this link to confirm that {email} is your address:\n\n{link}\n\n"
          f"The link works once, for {days} days. If you did not ask for it, ignore this message.\n")


def _verification_payload(token: str) -> tuple[int, str]:
    """(user id, address) a verification link carries; a forged or expired link is refused."""
    try:
        payload = signing.loads(token, salt=EMAIL_VERIFICATION_SALT,
                                max_age=settings.ROSTER_EMAIL_VERIFICATION_TTL)
    except signing.SignatureExpired:
        raise ServiceError("This link has expired; ask for a new one.", code="expired") from None
    except signing.BadSignature:
        raise ServiceError("This link is not valid.", code="invalid") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("user"), int) or not payload.get("email"):
        raise ServiceError("This link is not valid.", code="invalid")
    return payload["user"], payload["email"]


def email_verification_user_id(*, token: str) -> int:
    """Whose address a verification link confirms; a forged or expired link is refused."""
    return _verification_payload(token)[0]


@transaction.atomic
def email_verify(*, token: str, actor: User) -> User:
    """Confirm an address from a verification link: a new user's own address, or a changed
    one waiting in `pending_email` (which then replaces the old). Only the account the link
    was made for confirms it, signed in: a link opened by someone else (or by a mail
    scanner) proves nothing about who set that account's password. A used, superseded,
    expired or forged link is refused and changes nothing."""
    user_id, email = _verification_payload(token)
    if actor is None or not actor.is_authenticated or actor.pk != user_id:
        raise Forbidden("This link confirms the address of another account; sign in as that account to use it.")
    invalid = ServiceError("This link was already used or is no longer valid.", code="invalid")
    user = User.objects.select_for_update().filter(pk=user_id, is_active=True).first()
    if user is None:
        raise invalid
    set_audit_actor(user)
    if user.pending_email and user.pending_email == email:
        if User.objects.exclude(pk=user.pk).filter(email__iexact=email).exists():
            raise invalid  # someone else took it meanwhile
        user.email, user.pending_email, user.email_verified = email, "", True
        _save_user(user)
    elif user.email == email and not user.email_verified:
        user.email_verified = True
        user.save(update_fields=["email_verified"])
    else:
        raise invalid
    return user


@transaction.atomic
def email_change_request(*, user: User, email: str) -> None:
    """Ask to change one's address: it waits in `pending_email` and its link is mailed to it;
    the old address stays until the link is used. A taken address is answered alike (its
    owner is told instead, and nothing is stored). Each request mails an address the caller
    chooses, so they are limited per user (ROSTER_LIMITS["verification_mail"]), both kinds alike."""
    if not Limit("verification_mail").hit(user.pk):
        raise TooManyAttempts("Too many address changes in a short time; try again later.", field="email")
    user = User.objects.select_for_update().get(pk=user.pk)
    owner = User.objects.exclude(pk=user.pk).filter(email__iexact=email).first()
    if owner is not None:
        user.pending_email = ""
        user.save(update_fields=["pending_email"])
        _mail(owner.email, "Someone tried to use your address on Roster",
              "Someone asked to move their Roster account to this email address, which already has one.\n"
              "Nothing has changed; you can ignore this message.\n")
        return
    user.pending_email = email
    user.save(update_fields=["pending_email"])
    send_verification_mail(user=user, email=email)


ADMIN_ONLY_USER_FIELDS = ("is_active", "strategy", "roles")


def user_update(*, actor: User, user: User, data: dict, current_password: str | None = None,
                keep_session: Session | None = None, request=None) -> User:
    """Change a user. Site admins may change anything; people change their own profile.

    Changing one's own email or password needs the current password, checked before the
    change's transaction opens: a wrong one counts towards the sign-in lockout (with
    `request`), and that count must survive the refusal. A new password or a deactivation
    ends the user's other sessions.
    """
    if "email" in data:
        _validate_email(data["email"])
    email = normalize_email(data["email"]) if "email" in data else None
    changes_secret = "password" in data or (email is not None and email != user.email)
    if changes_secret and actor.pk == user.pk:
        _check_current_password(user, current_password, request)
    if email is not None and actor.pk == user.pk:
        # One's own new address replaces the old only once its link is used.
        data = {key: value for key, value in data.items() if key != "email"}
        user = _user_update(actor=actor, user=user, data=data, keep_session=keep_session)
        if email != user.email:
            email_change_request(user=user, email=email)
        user.refresh_from_db()
        return user
    return _user_update(actor=actor, user=user, data=data, keep_session=keep_session)


@transaction.atomic
def _user_update(*, actor: User, user: User, data: dict, keep_session: Session | None) -> User:
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

    if email is not None and email != user.email:
        # A site admin's change of another's address: staff vouch for it, as when creating.
        _check_unique_user(email=email, exclude_pk=user.pk)
        user.email, user.pending_email, user.email_verified = email, "", True
    if "username" in data and data["username"] != user.username:
        if user.strategy == User.Strategy.LDAP:
            raise ServiceError("An LDAP user's username is fixed: it names them in the directory.",
                               field="username")
        _check_unique_user(username=data["username"], exclude_pk=user.pk)
        user.username = data["username"]
    for field in ("first_name", "last_name", "is_active"):
        if field in data:
            setattr(user, field, data[field])
    if "strategy" in data and data["strategy"] != user.strategy:
        user.strategy = data["strategy"]
        if user.strategy == User.Strategy.LDAP:
            user.set_unusable_password()
            user.directory_id = user.username  # fixed from now on
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


def _check_current_password(user: User, current_password: str | None, request=None) -> None:
    """A password check like a sign-in's: refused while the person is locked out, and a
    wrong password counted towards the lockout (so a stolen token cannot guess it)."""
    if not current_password:
        raise ServiceError("Changing your email or password needs `currentPassword`.", code="required",
                           field="current_password")
    credentials = {"username": user.email}
    django_request = getattr(request, "_request", request)
    if django_request is not None and not sign_in_allowed(django_request, credentials):
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        raise TooManyAttempts(f"Too many failed password checks; try again in {minutes} minutes.")
    if user.strategy == User.Strategy.LDAP:
        ok = ldap_configured() and ldap_bind(user, current_password)
    else:
        ok = user.check_password(current_password)
    if not ok:
        if django_request is not None:
            record_failed_sign_in(django_request, credentials)
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


