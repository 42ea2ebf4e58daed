"""Where a request comes from, decided in one place for sessions, lockout and the audit log."""

from django.conf import settings


def client_ip(request) -> str | None:
    """Return the client's address: REMOTE_ADDR, or the first X-Forwarded-For hop when trusted."""
    if settings.ROSTER_USE_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        first = forwarded.split(",")[0].strip()
        if first:
            return first
    return request.META.get("REMOTE_ADDR") or None
