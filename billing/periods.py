"""Billing periods: a utility's period starts at 00:00 UTC on its billing day (1..28) and
ends, exclusive, at 00:00 UTC on the billing day of the next month.

Billing days stop at 28, so every month has one and moving a period start by whole months
is exact (no clamping): February, December → January and leap years need no special case.
"""

import calendar
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

MAX_PRIOR_PERIODS = 23


@dataclass(frozen=True, order=True)
class Period:
    """[start, end) as dates; as instants, from `start` 00:00 UTC up to `end` 00:00 UTC."""

    start: date
    end: date

    @property
    def starts_at(self) -> datetime:
        return datetime.combine(self.start, time.min, tzinfo=UTC)

    @property
    def ends_at(self) -> datetime:
        return datetime.combine(self.end, time.min, tzinfo=UTC)

    def __contains__(self, instant) -> bool:
        return self.starts_at <= _utc(instant) < self.ends_at


def _utc(instant: datetime) -> datetime:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError("billing periods need an aware datetime")
    return instant.astimezone(UTC)


def _check_day(billing_day: int) -> None:
    if isinstance(billing_day, bool) or not isinstance(billing_day, int) or not 1 <= billing_day <= 28:
        raise ValueError(f"a billing day is 1..28, not {billing_day!r}")


def shift_months(day: date, months: int) -> date:
    """`day` moved by whole months, its day of the month clamped to the target month's length."""
    index = day.year * 12 + (day.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def months_before(day: date, months: int) -> date:
    return shift_months(day, -months)


def today_utc() -> date:
    return datetime.now(UTC).date()


def period_containing(billing_day: int, instant: datetime) -> Period:
    """The billing period of a utility with `billing_day` that `instant` falls in."""
    _check_day(billing_day)
    day = _utc(instant).date()
    start = date(day.year, day.month, billing_day)
    if day.day < billing_day:
        start = shift_months(start, -1)
    return Period(start, shift_months(start, 1))


def period_before(period: Period, n: int) -> Period:
    """The period `n` periods before `period` (0: itself); n is 0..23 on the API."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"a number of periods is a whole number ≥ 0, not {n!r}")
    return Period(shift_months(period.start, -n), shift_months(period.end, -n))
