"""Referral overrides' arithmetic and checks, pure: no database, tested by tables and
hypothesis (tests/crosspromo/test_referral_rules.py)."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from alliance.money import round_money

HUNDRED = Decimal(100)
MAX_LEVELS = 5
MAX_MONTHS = 120


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` plus whole calendar months, the day clamped to the month's last (Jan 31 + 1
    month = Feb 28 or 29): the term a partner reads in its terms, not 30-day blocks."""
    month_index = moment.month - 1 + months
    year, month = moment.year + month_index // 12, month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def within_term(recruited_at: datetime, months: int, occurred_at: datetime) -> bool:
    """Does a commission earned at `occurred_at` fall in the override term, which starts at
    recruitment and lasts `months` (end excluded)? Commissions from before the recruitment
    never count."""
    return recruited_at <= occurred_at < add_months(recruited_at, months)


def override_amount(value: Decimal, percent: Decimal, currency: str) -> Decimal:
    """`percent` of a commission's value, rounded half-even to the currency's minor unit.
    Never negative: an override is computed on approved (positive) money."""
    if value <= 0 or percent <= 0:
        return Decimal(0)
    return round_money(value * percent / HUNDRED, currency)


def arithmetic(
    percent: Decimal, value: Decimal, currency: str, amount: Decimal, level: int, recruit: str
) -> str:
    """The sentence a partner reads in its statement."""
    whose = "your recruit" if level == 1 else f"your level-{level} recruit"
    return (
        f"{percent.normalize():f}% of {value} {currency} ({whose} {recruit}'s approved "
        f"commission) = {amount} {currency}"
    )


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """Hashes only (tracking.visitor.hash_ip for the IP; the same keyed hash of the user
    agent): what sign-up and sign-in compare, never the raw values."""

    ip_hash: str
    device_hash: str
