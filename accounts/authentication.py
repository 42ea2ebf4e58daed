"""DRF authentication: bearer tokens from POST /api/v1/sessions/, and the portal's cookie."""

from django.conf import settings
from django.db import connection
from django.db.models import OuterRef
from django.utils import timezone
from rest_framework import authentication, exceptions

from accounts.backends import held_permission_names, remember_permissions
from accounts.models import Session, hash_token
from core.audit import set_audit_actor
from core.db import Prepared, aggregates_ids
from core.errors import WWW_AUTHENTICATE
from core.rules import object_grants_exist, remember_object_grants


def _sessions_by_key(key_hash):
    """The session with its user, whether the user holds object grants, and (where the
    database aggregates) the user's global permissions, so has_perm() costs no query later."""
    sessions = Session.objects.select_related("user").annotate(_object_grants=object_grants_exist("user_id"))
    if aggregates_ids(connection):
        sessions = sessions.annotate(_permissions=held_permission_names(OuterRef("user_id")))
    return sessions.filter(key_hash=key_hash)


# Compiled once per database: compiling its subqueries cost more than running them.
SESSION_BY_KEY = Prepared(_sessions_by_key)


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be `Bearer <token>`.")
        try:
            token = header[1].decode("ascii")
        except UnicodeDecodeError:
            raise exceptions.AuthenticationFailed("The token is not valid.") from None
        session = SESSION_BY_KEY.first(key_hash=hash_token(token))
        now = timezone.now()
        if session is None or not session.is_live or not session.user.is_active:
            raise exceptions.AuthenticationFailed("The token is unknown, expired or revoked.")
        if now - session.last_seen_at >= settings.ROSTER_SESSION_TOUCH_INTERVAL:
            # A plain UPDATE: being seen is not a change worth an audit entry.
            expires_at = min(now + settings.ROSTER_SESSION_IDLE_TTL, session.absolute_expires_at)
            Session.objects.filter(pk=session.pk).update(last_seen_at=now, expires_at=expires_at)
            session.last_seen_at, session.expires_at = now, expires_at
        if hasattr(session, "_permissions"):
            remember_permissions(session.user, session._permissions)
        remember_object_grants(session.user, session._object_grants)
        set_audit_actor(session.user)
        return session.user, session

    def authenticate_header(self, request):
        return WWW_AUTHENTICATE


class SessionAuthentication(authentication.SessionAuthentication):
    """The portal's cookie, with CSRF enforced on unsafe methods (DRF's own check)."""

    def authenticate(self, request):
        result = super().authenticate(request)
        if result is not None:
            set_audit_actor(result[0])
        return result
