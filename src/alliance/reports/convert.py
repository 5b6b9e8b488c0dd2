"""Report money in one chosen currency: each day's amounts at that day's ECB rate.

The rollups keep money per UTC day in the currency it happened in: an order's amounts in the
order's currency, a commission in its program's. A report asked in one currency (`currency=EUR`)
reads them per day and converts every day's amounts at the ECB reference rate of that day
(payouts/fx.py: the last business day on or before it), never at today's rate.

Exact: micro-units times the stored rate, in Decimal with room for every digit (WIDE), summed
without rounding; each figure shown is rounded once, half-even to the target currency's minor
unit (queries.money_of). So a total is the rounded sum of the unrounded converted amounts,
and may differ by a minor unit from the sum of its rounded rows.

The rates of the report's period are read in one query per set of currencies (fx.RateBook) and
every (currency, day) rate is worked out once per request: a 90-day report in four
currencies makes a few hundred dictionary look-ups, not a few hundred queries.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import date
from decimal import ROUND_HALF_EVEN, Context, Decimal, localcontext
from typing import Any

from sqlalchemy.orm import Session

from alliance.errors import InvalidInput
from alliance.money import MoneyError, normalize_currency
from alliance.payouts import fx
from alliance.reports.models import ORDER_MEASURES

# Room for every digit: micro-units (up to 19 digits) times a rate (up to 32 digits on
# PostgreSQL's NUMERIC(32, 20)), summed over a report. Nothing is rounded until shown.
WIDE = Context(prec=80, rounding=ROUND_HALF_EVEN)
ONE = Decimal(1)
# Rates as whole numbers of 10^-SCALE: every stored ECB rate (20 decimals at most on
# PostgreSQL) and every cross rate (ten significant digits, of a rate above 10^-20) is one.
SCALE = 30
UNIT = 10**SCALE  # the rate 1

# Measures is a row of integer counts and money in micro-units; once converted, the money
# positions hold exact Decimal micro-units of the target currency (with a fraction).
Measures = list[int | Decimal]

# The money positions of ORDER_MEASURES (sales .. commission_value); the others are counts.
ORDER_MONEY = frozenset(
    ORDER_MEASURES.index(m)
    for m in (
        "sales",
        "refunded",
        "declined_sales",
        "net_sales",
        "commission_pending",
        "commission_approved",
        "commission_paid",
        "commission_declined",
        "commission_reversed",
        "commission_value",
    )
)
# The money positions of the refunds measures (refunds, refunded orders, amount, taken back).
REFUND_MONEY = frozenset({2, 3})


class Converter:
    """Turns amounts of any ECB currency on a day into `currency`, for one request.

    Holds no session (a CSV export streams on a session of its own): each call takes the one
    to read rates with. Equal only to itself, so a ReportQuery holding it stays hashable.
    """

    def __init__(self, currency: str, start: date, end: date) -> None:
        self.currency = currency
        self._book = fx.RateBook(start, end)
        self._days: dict[str, date] = {}
        self._scaled: dict[tuple[str, str], int] = {}

    def prepare(self, session: Session, currencies: Iterable[str]) -> None:
        """Read the period's rates of these currencies and the target's at once."""
        self._book.load(session, {*currencies, self.currency})

    def quote(self, session: Session, source: str, day: date | str) -> fx.Quote:
        """The rate from `source` to the target for a UTC day (a date or its ISO text)."""
        if isinstance(day, str):
            found = self._days.get(day)
            if found is None:
                found = self._days[day] = date.fromisoformat(day)
            day = found
        return self._book.quote(session, source, self.currency, day)

    def rate(self, session: Session, source: str, day: date | str) -> Decimal:
        if source == self.currency:
            return ONE
        return self.quote(session, source, day).rate

    def scaled(self, session: Session, source: str, day: str) -> int:
        """The rate as a whole number of 10^-SCALE (exact, or refused)."""
        key = (source, day)
        found = self._scaled.get(key)
        if found is None:
            rate = self.rate(session, source, day)
            found = int(rate.scaleb(SCALE, WIDE))
            if Decimal(found).scaleb(-SCALE, WIDE) != rate:
                raise ValueError(f"rate {rate} has more than {SCALE} decimals")
            self._scaled[key] = found
        return found


def converter(session: Session, currency: str | None, start: date, end: date) -> Converter | None:
    """A Converter to `currency` for a report of start..end, or None when none is asked.

    A currency the ECB does not quote (KWD, AED; RUB after March 2022: as of the report's
    last day) is refused naming the field `currency`: reports are converted at ECB rates
    only (ADR 0013).
    """
    if currency is None or not currency.strip():
        return None
    try:
        code = normalize_currency(currency)
    except MoneyError as exc:
        raise InvalidInput(str(exc), field="currency") from None
    quoted = fx.quoted_currencies(session, end)
    if code not in quoted:
        raise InvalidInput(
            f"the ECB does not quote {code}: reports convert at ECB reference rates only"
            f" ({', '.join(quoted)})",
            field="currency",
        )
    return Converter(code, start, end)


def exact(conv: Converter | None) -> AbstractContextManager[Any]:
    """Decimal arithmetic on converted figures without rounding (a no-op when nothing is
    converted, so reports in their own currencies stay exactly as they were)."""
    return localcontext(WIDE) if conv is not None else nullcontext()


def by_day(
    session: Session,
    conv: Converter,
    daily: Mapping[tuple[Any, str, str], Sequence[int]],
    money: frozenset[int],
    same: Mapping[tuple[Any, str], Sequence[int]] | None = None,
) -> dict[tuple[Any, str], Measures]:
    """Measures per (group, day, currency) -> per (group, target currency): counts added,
    money converted at the rate of each row's day and added exactly (micro-units of the
    target, with a fraction). `same`: measures per (group, currency) whose rows in the
    target currency are added as they are (they need no rate, hence no days: the caller
    reads them from the rollups' blocks and leaves that currency out of `daily`).

    In integers: a rate is a whole number of 10^-SCALE, so each product and sum is an exact
    integer (tens of thousands of rows for a network's partners over 90 days; Decimal
    arithmetic took three times as long), turned into Decimal once per figure at the end."""
    conv.prepare(session, {cur for _, _, cur in daily})
    width = len(next(iter(daily.values()), next(iter((same or {}).values()), ())))
    flags = [i in money for i in range(width)]
    sums: dict[tuple[Any, str], list[int]] = {}

    def add(key: Any, values: Sequence[int], rate: int) -> None:
        row = sums.get((key, conv.currency))
        if row is None:
            sums[(key, conv.currency)] = [
                v * rate if m else v for v, m in zip(values, flags, strict=True)
            ]
        else:
            for i, (v, m) in enumerate(zip(values, flags, strict=True)):
                row[i] += v * rate if m else v

    for (key, cur), values in (same or {}).items():
        if cur == conv.currency:
            add(key, values, UNIT)
    for (key, day, cur), values in daily.items():
        add(key, values, conv.scaled(session, cur, day))
    return {
        key: [Decimal(v).scaleb(-SCALE, WIDE) if m else v for v, m in zip(row, flags, strict=True)]
        for key, row in sums.items()
    }
