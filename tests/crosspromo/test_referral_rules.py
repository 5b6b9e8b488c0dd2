"""The referral arithmetic and checks, pure: tables and hypothesis."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.crosspromo import referral_rules as rules
from alliance.money import quantum

D = Decimal


@pytest.mark.parametrize(
    ("start", "months", "end"),
    [
        ("2026-01-31T10:00", 1, "2026-02-28T10:00"),
        ("2028-01-31T10:00", 1, "2028-02-29T10:00"),  # leap year
        ("2026-03-15T00:00", 12, "2027-03-15T00:00"),
        ("2026-11-30T23:59", 3, "2027-02-28T23:59"),
        ("2026-12-01T00:00", 1, "2027-01-01T00:00"),
    ],
)
def test_add_months_clamps_to_the_months_last_day(start: str, months: int, end: str) -> None:
    at = datetime.fromisoformat(start).replace(tzinfo=UTC)
    assert rules.add_months(at, months) == datetime.fromisoformat(end).replace(tzinfo=UTC)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1)),
    st.integers(min_value=1, max_value=rules.MAX_MONTHS),
)
def test_a_term_is_at_least_28_days_a_month_and_at_most_31(start: datetime, months: int) -> None:
    at = start.replace(tzinfo=UTC)
    end = rules.add_months(at, months)
    assert timedelta(days=28 * months) <= end - at <= timedelta(days=31 * months)
    assert rules.within_term(at, months, at)
    assert rules.within_term(at, months, end - timedelta(microseconds=1))
    assert not rules.within_term(at, months, end)
    assert not rules.within_term(at, months, at - timedelta(microseconds=1))


@pytest.mark.parametrize(
    ("value", "percent", "currency", "expected"),
    [
        ("100.00", "10", "EUR", "10.00"),
        ("0.05", "10", "EUR", "0.00"),  # 0.005 rounds half-even to 0.00
        ("0.15", "10", "EUR", "0.02"),  # 0.015 rounds half-even to 0.02
        ("1234", "2.5", "JPY", "31"),  # 30.85
        ("10.000", "3.3333", "KWD", "0.333"),
        ("-5.00", "10", "EUR", "0"),  # never on negative money
        ("5.00", "0", "EUR", "0"),
    ],
)
def test_override_amounts(value: str, percent: str, currency: str, expected: str) -> None:
    assert rules.override_amount(D(value), D(percent), currency) == D(expected)


@given(
    st.decimals(min_value=0, max_value=10**9, places=2),
    st.decimals(min_value=D("0.0001"), max_value=100, places=4),
)
def test_an_override_never_exceeds_its_base_and_is_in_minor_units(
    value: Decimal, percent: Decimal
) -> None:
    amount = rules.override_amount(value, percent, "EUR")
    assert D(0) <= amount <= value
    assert amount == amount.quantize(quantum("EUR"))
    assert abs(amount - value * percent / 100) <= D("0.005")
