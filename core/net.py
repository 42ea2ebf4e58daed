"""Where a request comes from, decided in one place for sessions, lockout and the audit log."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """Return the client's address: REMOTE_ADDR, or the first X-Forwarded-For hop when trusted."""
    if settings.ROSTER_USE_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        first = forwarded.split(",")[0].strip()
        if _is_address(first):
            return first
    address = request.META.get("REMOTE_ADDR") or ""
    return address if _is_address(address) else None


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
