"""Counters that limit how often something may happen, shared by every process.

They count in the default cache, which every worker and app server shares (the database,
or Redis when `DJANGO_REDIS_URL` is set: SPEC §5), so a limit holds across processes and
machines. A limit is a rate, "N/period" (period: second, minute, hour, day), from
`ROSTER_LIMITS` by name; each key (a user, a client address, a mailed address) is counted
on its own, and `hit()` refuses when any of the keys it is given is over.

Used where mail goes to an address someone else chooses (sign-up, password reset,
invitations, verification links): without a limit each is a way to send mail at will.
DRF endpoints use DRF throttles (the same cache); these are for what is not a DRF view or
must hold for the portal and the API alike.
"""

import hashlib

from django.conf import settings
from django.core.cache import cache

PERIODS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """"20/hour" → (20, 3600)."""
    count, _, period = rate.partition("/")
    return int(count), PERIODS[period.strip().rstrip("s")]


class Limit:
    """`Limit("signup_client")`: at most ROSTER_LIMITS["signup_client"] per key per period
    (or the `rate` given)."""

    def __init__(self, name: str, rate: str | None = None):
        self.name = name
        self._rate = rate

    @property
    def rate(self) -> tuple[int, int]:
        return parse_rate(self._rate or settings.ROSTER_LIMITS[self.name])

    def _key(self, key) -> str:
        # keys may be addresses: hashed, so the cache holds no personal data in clear
        digest = hashlib.sha256(str(key).lower().encode()).hexdigest()[:32]
        return f"roster:limit:{self.name}:{digest}"

    def hit(self, *keys) -> bool:
        """Count one event for every key; False when any of them is now over its limit.
        A None key (an unknown client address) is not counted."""
        allowed, period = self.rate
        over = False
        for key in keys:
            if key is None:
                continue
            name = self._key(key)
            cache.add(name, 0, timeout=period)
            try:
                count = cache.incr(name)
            except ValueError:  # expired between add and incr
                cache.set(name, 1, timeout=period)
                count = 1
            over = over or count > allowed
        return not over

    def reset(self, *keys) -> None:
        cache.delete_many([self._key(key) for key in keys if key is not None])

    def describe(self) -> str:
        allowed, period = self.rate
        unit = {seconds: name for name, seconds in PERIODS.items()}.get(period, f"{period} s")
        return f"{allowed} per {unit}"
