"""Every write to users and their avatars."""

import io

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from PIL import Image, ImageOps, UnidentifiedImageError

from accounts.backends import ldap_bind, ldap_configured, record_failed_sign_in, sign_in_allowed
from accounts.models import (
    Avatar,
    Session,
    User,
    normalize_email,
    unique_username_from_email,
)
from accounts.rules import is_site_admin
from accounts.services.memberships import ensure_user_can_leave_everything
from core.audit import audit_context, set_audit_actor
from core.errors import Forbidden, ServiceError, TooManyAttempts

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
        user.directory_id = user.username
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


def user_update(*, actor: User, user: User, data: dict, current_password: str | None = None,
                keep_session: Session | None = None, request=None) -> User:
    """Change a user. Site admins may change anything; people change their own profile.

    Changing one's own email or password needs the current password, checked before the
    change's transaction opens: a wrong one counts towards the sign-in lockout (with
    `request`), and that count must survive the refusal. A new password or a deactivation
    ends the user's other sessions.
    """
    email = normalize_email(data["email"]) if "email" in data else None
    changes_secret = "password" in data or (email is not None and email != user.email)
    if changes_secret and actor.pk == user.pk:
        _check_current_password(user, current_password, request)
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
        _check_unique_user(email=email, exclude_pk=user.pk)
        user.email = email
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


