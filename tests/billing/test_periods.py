"""Billing-period arithmetic (billing.periods), property-based: any billing day 1..28, any
instant in any time zone, month ends, December → January, leap years, the boundary itself."""

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.periods import Period, months_before, period_before, period_containing, shift_months

billing_days = st.integers(min_value=1, max_value=28)
zones = st.sampled_from(["UTC", "Europe/Amsterdam", "America/Los_Angeles", "Asia/Kolkata", "Pacific/Auckland",
                         "Pacific/Kiritimati", "America/St_Johns", "Pacific/Pago_Pago"])
instants = st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2200, 12, 31), timezones=st.just(UTC))
aware = st.builds(lambda instant, zone: instant.astimezone(ZoneInfo(zone)), instants, zones)


@given(billing_days, aware)
def test_the_period_contains_the_instant_and_starts_and_ends_on_the_billing_day(day, instant):
    period = period_containing(day, instant)
    assert instant in period
    assert period.starts_at <= instant < period.ends_at
    assert period.start.day == day and period.end.day == day
    assert (period.end.year * 12 + period.end.month) - (period.start.year * 12 + period.start.month) == 1
    assert period.starts_at.tzinfo is UTC and period.starts_at.time() == time.min


@given(billing_days, aware)
def test_the_zone_an_instant_is_written_in_changes_nothing(day, instant):
    assert period_containing(day, instant) == period_containing(day, instant.astimezone(UTC))


@given(billing_days, aware)
def test_periods_tile_time(day, instant):
    """The period after a period begins where it ends: no gap, no overlap."""
    period = period_containing(day, instant)
    after = period_containing(day, period.ends_at)
    before = period_containing(day, period.starts_at - timedelta(microseconds=1))
    assert after.start == period.end and before.end == period.start
    assert period_before(after, 1) == period and period_before(period, 1) == before


@given(billing_days, instants)
def test_an_instant_exactly_on_the_boundary_starts_the_new_period(day, instant):
    boundary = datetime.combine(date(instant.year, instant.month, day), time.min, tzinfo=UTC)
    assert period_containing(day, boundary).start == boundary.date()
    assert period_containing(day, boundary - timedelta(microseconds=1)).end == boundary.date()


@given(billing_days, aware, st.integers(min_value=0, max_value=23))
def test_n_periods_before_is_n_months_earlier(day, instant, n):
    period = period_containing(day, instant)
    earlier = period_before(period, n)
    assert earlier.start == shift_months(period.start, -n) and earlier.start.day == day
    assert earlier.end == shift_months(period.end, -n)
    # and it is the period containing the date n months before (how the ledger filters)
    day_then = months_before(instant.astimezone(UTC).date(), n)
    assert earlier == period_containing(day, datetime.combine(day_then, time(12), tzinfo=UTC))


@given(st.dates(min_value=date(1971, 1, 1), max_value=date(2199, 12, 31)), st.integers(min_value=-30, max_value=30))
def test_shifting_months_clamps_to_the_month_end_and_is_exact_up_to_28(day, months):
    shifted = shift_months(day, months)
    assert (shifted.year * 12 + shifted.month) - (day.year * 12 + day.month) == months
    assert shifted.day == min(day.day, (date(shifted.year + shifted.month // 12, shifted.month % 12 + 1, 1)
                                        - timedelta(days=1)).day)
    if day.day <= 28:
        assert shift_months(shifted, -months) == day


@pytest.mark.parametrize("day,instant,expected", [
    (1, datetime(2023, 12, 31, 23, 59, tzinfo=UTC), Period(date(2023, 12, 1), date(2024, 1, 1))),
    (15, datetime(2024, 1, 3, tzinfo=UTC), Period(date(2023, 12, 15), date(2024, 1, 15))),
    (28, datetime(2024, 2, 29, tzinfo=UTC), Period(date(2024, 2, 28), date(2024, 3, 28))),
    (28, datetime(2023, 2, 28, tzinfo=UTC), Period(date(2023, 2, 28), date(2023, 3, 28))),
    (28, datetime(2024, 2, 27, 23, 59, 59, tzinfo=UTC), Period(date(2024, 1, 28), date(2024, 2, 28))),
    # 00:30 in Amsterdam on the 5th is still the 4th in UTC: the old period
    (5, datetime(2024, 3, 5, 0, 30, tzinfo=ZoneInfo("Europe/Amsterdam")),
     Period(date(2024, 2, 5), date(2024, 3, 5))),
    # 20:00 in Los Angeles on the 4th is already the 5th in UTC: the new period
    (5, datetime(2024, 3, 4, 20, 0, tzinfo=ZoneInfo("America/Los_Angeles")),
     Period(date(2024, 3, 5), date(2024, 4, 5))),
])
def test_known_periods(day, instant, expected):
    assert period_containing(day, instant) == expected


def test_january_back_to_december_of_the_year_before():
    assert period_before(Period(date(2024, 1, 10), date(2024, 2, 10)), 1) == Period(date(2023, 12, 10),
                                                                                    date(2024, 1, 10))
    assert period_before(Period(date(2024, 1, 10), date(2024, 2, 10)), 23).start == date(2022, 2, 10)
    assert months_before(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert months_before(date(2023, 3, 31), 1) == date(2023, 2, 28)


@pytest.mark.parametrize("day", [0, 29, 31, -1, True, "5", 5.0])
def test_billing_days_outside_1_to_28_are_refused(day):
    with pytest.raises(ValueError):
        period_containing(day, datetime(2024, 1, 1, tzinfo=UTC))


def test_naive_instants_are_refused():
    with pytest.raises(ValueError):
        period_containing(5, datetime(2024, 1, 1))


@given(billing_days, aware)
def test_negative_period_counts_are_refused(day, instant):
    with pytest.raises(ValueError):
        period_before(period_containing(day, instant), -1)
