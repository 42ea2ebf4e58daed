"""Signing in and out: bearer sessions."""

import secrets
from contextlib import contextmanager
from datetime import datetime

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.utils import timezone

from accounts.backends import find_login_user, ldap_configured, sign_in_allowed
from accounts.models import (
    Session,
    User,
    hash_token,
)
from core.audit import set_audit_actor
from core.errors import ServiceError, TooManyAttempts, Unauthorized
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
    # Ask the lockout first: the attempt that reaches the limit still gets its 401, the ones
    # after it are refused without checking the password.
    if not sign_in_allowed(django_request, credentials):
        minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
        raise TooManyAttempts(f"Too many failed sign-ins; try again in {minutes} minutes.")
    with _without_cookie_session(django_request):  # failures are logged by django-axes too
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
    # Updates last_login and lets django-axes clear the failure count. A bearer token is no
    # cookie session (SPEC §2: signing in sets no cookie), and django-axes would start one to
    # log its hash, so the receivers see a request without a session.
    with _without_cookie_session(django_request):
        user_logged_in.send(sender=User, request=django_request, user=user)
    return session, token


@contextmanager
def _without_cookie_session(request):
    session = request.__dict__.pop("session", None)
    try:
        yield
    finally:
        if session is not None:
            request.session = session


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


