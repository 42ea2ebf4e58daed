"""Signing in and out: bearer sessions, and the browsers signed in with a cookie."""

import secrets
from contextlib import contextmanager
from datetime import datetime
from importlib import import_module

from django.conf import settings
from django.contrib.auth import authenticate, user_logged_in
from django.db import transaction
from django.utils import timezone

from accounts.backends import find_login_user, ldap_configured, sign_in_allowed
from accounts.models import (
    BrowserSession,
    Session,
    User,
    hash_token,
)
from core.audit import set_audit_actor
from core.errors import Forbidden, ServiceError, TooManyAttempts, Unauthorized
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


@transaction.atomic
def session_keep_alive(*, session: Session, now: datetime | None = None) -> Session:
    """Push the idle expiry to now + idle TTL, never past the absolute expiry. A session
    that ended since the request was authenticated (a logout or revocation on any server
    won the race) is refused like its token would be now: 401."""
    if not _lock_session(session):
        raise Unauthorized("The token is unknown, expired or revoked.", code="authentication_failed")
    now = now or timezone.now()
    session.expires_at = min(now + settings.ROSTER_SESSION_IDLE_TTL, session.absolute_expires_at)
    session.last_seen_at = now
    session.save(update_fields=["expires_at", "last_seen_at"])
    return session


@transaction.atomic
def session_delete(*, session: Session) -> bool:
    """Log out: the token stops working at once. Whether this call ended it: False when it
    had ended already (concurrent logouts and revocations end it, and audit it, once)."""
    if not _lock_session(session):
        return False
    session.delete()
    return True


def _lock_session(session: Session) -> bool:
    """Lock the session's row (a row lock on PostgreSQL); whether it still exists."""
    return Session.objects.select_for_update().filter(pk=session.pk).exists()




# --------------------------------------------------------------------------- browser sessions


def _cookie_store(session_key: str):
    engine = import_module(settings.SESSION_ENGINE)
    return engine.SessionStore(session_key=session_key)


def browser_session_start(*, request, user) -> BrowserSession | None:
    """Remember a browser that signed in (portal or admin), so its owner can list and end it.
    A request without a cookie session (an API sign-in) is none."""
    session = getattr(request, "session", None)
    key = getattr(session, "session_key", None)
    if not key:
        return None
    browser, _ = BrowserSession.objects.update_or_create(
        session_key=key,
        defaults={"user": user, "user_agent": (request.META.get("HTTP_USER_AGENT") or "")[:512],
                  "ip_address": client_ip(request)},
    )
    return browser


def browser_session_forget(*, session_key: str | None) -> None:
    """A browser signed out: its record goes with its cookie session."""
    if session_key:
        for browser in BrowserSession.objects.filter(session_key=session_key):
            browser.delete()


def browser_session_rekey(*, old_key: str | None, new_key: str | None) -> None:
    """The cookie session got a new key (e.g. after a password change): follow it."""
    if old_key and new_key and old_key != new_key:
        BrowserSession.objects.filter(session_key=old_key).update(session_key=new_key)


def browser_session_end(*, actor, browser: BrowserSession) -> None:
    """Sign a browser out: its cookie session is deleted, so its next request is signed out."""
    if browser.user_id != actor.pk:
        raise Forbidden("You end only your own sessions.")
    _cookie_store(browser.session_key).delete()
    browser.delete()


def sign_out_everywhere(*, actor) -> tuple[int, int]:
    """End every browser session and every API token of `actor`, this browser's included.
    Returns (browsers, tokens) ended."""
    browsers = list(BrowserSession.objects.filter(user_id=actor.pk))
    for browser in browsers:
        _cookie_store(browser.session_key).delete()
        browser.delete()
    tokens = list(Session.objects.filter(user_id=actor.pk))
    for token in tokens:
        token.delete()
    return len(browsers), len(tokens)
