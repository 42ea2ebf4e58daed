"""Where a request comes from, decided in one place for sessions, lockout and the audit log."""

import ipaddress

from django.conf import settings


def client_ip(request) -> str | None:
    """The client's address: the connection's (REMOTE_ADDR), or, behind trusted proxies
    (`DJANGO_USE_X_FORWARDED_FOR`), the one the outermost trusted proxy appended to
    X-Forwarded-For: `DJANGO_TRUSTED_PROXY_COUNT` entries from the right. Entries left of
    it were written by the client and are never believed; a header with fewer entries than
    there are proxies did not come through them, so the connection's address stands."""
    if settings.ROSTER_USE_X_FORWARDED_FOR:
        hops = [hop.strip() for hop in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if hop.strip()]
        count = settings.ROSTER_TRUSTED_PROXY_COUNT
        if count >= 1 and len(hops) >= count:
            appended = hops[-count]
            if _is_address(appended):
                return appended
    address = request.META.get("REMOTE_ADDR") or ""
    return address if _is_address(address) else None


def _is_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True
