"""ECB reference rates: the bundled history, imports, the rate of a day, cross rates."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from alliance.cli import app
from alliance.db.engine import reading, transaction
from alliance.payouts import fx
from alliance.payouts.models import FxRate

# Days far after the bundled history, so imports here never change a rate another test uses.
DAILY = """Date, USD, JPY, SEK, ISK, GBP,
06 January 2031, 1.2000, 160.00, 11.000, N/A, 0.8500,
"""
HISTORY = """Date,USD,JPY,SEK,ISK,GBP,
2031-01-10,1.2500,165.00,11.500,N/A,0.8600,
2031-01-09,1.2400,164.00,11.400,150,0.8550,
2031-01-08,1.2300,N/A,11.300,149,0.8520,
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_parses_the_historical_and_the_daily_file() -> None:
    daily = list(fx.parse_ecb(DAILY))
    assert (date(2031, 1, 6), "USD", Decimal("1.2000")) in daily
    assert all(code != "ISK" for _, code, _ in daily)  # N/A: not quoted that day
    history = list(fx.parse_ecb(HISTORY))
    assert (date(2031, 1, 8), "ISK", Decimal("149")) in history
    assert not any(day == date(2031, 1, 8) and code == "JPY" for day, code, _ in history)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Currency,USD\n", "line 1"),
        ("Date,US1\n2031-01-06,1.2\n", "line 1: column 2"),
        ("Date,USD\n2031-13-06,1.2\n", "line 2"),
        ("Date,USD\n2031-01-06,abc\n", "line 2: USD"),
        ("Date,USD\n2031-01-06,-1\n", "line 2: USD"),
    ],
)
def test_a_bad_file_is_refused_with_its_line(text: str, message: str) -> None:
    with pytest.raises(fx.FxFileError, match=message):
        list(fx.parse_ecb(text))


def test_the_bundled_history_is_stored_once(db_url: str) -> None:
    with reading() as session:
        count = session.scalar(select(func.count()).select_from(FxRate))
        first = session.scalar(select(func.min(FxRate.day)))
    assert count and count > 200_000
    assert first == date(1999, 1, 4)
    with transaction() as session:
        assert fx.load_bundled(session) == 0  # already there: nothing written again


def test_the_rate_of_a_day_is_the_last_business_day_on_or_before_it(db_url: str) -> None:
    with reading() as session:
        # 1999-01-04 (a Monday) is the ECB's first day: USD 1.1789, JPY 133.73.
        monday = fx.quote(session, "EUR", "USD", date(1999, 1, 4))
        assert (monday.rate, monday.day) == (Decimal("1.1789"), date(1999, 1, 4))
        # 1999-01-09/10 is a weekend: Friday's rate.
        sunday = fx.quote(session, "EUR", "USD", date(1999, 1, 10))
        assert sunday.day == date(1999, 1, 8)
        # Cross rate: JPY per USD = 133.73 / 1.1789, ten significant digits.
        cross = fx.quote(session, "USD", "JPY", date(1999, 1, 4))
        assert cross.rate == Decimal("113.4362541")
        assert cross.convert(Decimal("100.00")) == Decimal("11344")  # JPY: no minor unit
        back = fx.quote(session, "USD", "EUR", date(1999, 1, 4))
        assert back.rate == Decimal("0.8482483671")
        assert back.convert(Decimal("100.00")) == Decimal("84.82")
        same = fx.quote(session, "SEK", "SEK", date(2026, 11, 21))
        assert (same.rate, same.day) == (Decimal(1), date(2026, 11, 21))
        with pytest.raises(fx.NoRate) as refused:
            fx.quote(session, "EUR", "KWD", date(2026, 11, 21))  # the ECB does not quote KWD
        assert refused.value.field == "currency"
        with pytest.raises(fx.NoRate):
            fx.quote(session, "EUR", "USD", date(1998, 12, 31))  # before the first rate


def test_an_import_wins_and_pairs_meet_on_a_day_quoting_both(db_url: str, tmp_path: Path) -> None:
    archive = tmp_path / "eurofxref-hist.zip"
    with zipfile.ZipFile(archive, "w") as out:
        out.writestr("eurofxref-hist.csv", HISTORY)
    result = CliRunner().invoke(app, ["fx", "import", str(archive)])
    assert result.exit_code == 0, result.output
    assert "imported 13 rates of 5 currencies for 3 days" in result.output
    daily = _write(tmp_path, "eurofxref.csv", DAILY)
    assert CliRunner().invoke(app, ["fx", "import", str(daily)]).exit_code == 0
    corrected = _write(tmp_path, "fix.csv", "Date,USD\n2031-01-06,1.2100\n")
    assert CliRunner().invoke(app, ["fx", "import", str(corrected)]).exit_code == 0
    with reading() as session:
        assert fx.quote(session, "EUR", "USD", date(2031, 1, 7)).rate == Decimal("1.2100")
        # JPY has no rate on the 8th: a JPY/ISK pair steps back to the 6th? ISK is N/A
        # there, so both meet on the 9th for the 9th, and on no day for the 8th.
        both = fx.quote(session, "ISK", "JPY", date(2031, 1, 9))
        assert both.day == date(2031, 1, 9)
        assert both.rate == Decimal("1.093333333")
        stepped = fx.quote(session, "SEK", "JPY", date(2031, 1, 8))
        assert stepped.day == date(2031, 1, 6)
    rate = CliRunner().invoke(app, ["fx", "rate", "sek", "usd", "--on", "2031-01-11"])
    assert rate.exit_code == 0, rate.output
    assert "1 SEK = 0.1086956522 USD (ECB, 2031-01-10)" in rate.output


def test_the_cli_refuses_a_bad_file_and_an_unknown_rate(tmp_path: Path) -> None:
    bad = _write(tmp_path, "bad.csv", "Date,USD\n2031-01-06,x\n")
    result = CliRunner().invoke(app, ["fx", "import", str(bad)])
    assert result.exit_code == 2
    assert "is not a number" in result.output
    unknown = CliRunner().invoke(app, ["fx", "rate", "EUR", "KWD"])
    assert unknown.exit_code == 2
    assert "no ECB reference rate for KWD" in unknown.output


def _quote_or_refusal(
    quote: Callable[..., fx.Quote], session: Session, base: str, to: str, day: date
) -> fx.Quote | str:
    try:
        return quote(session, base, to, day)
    except fx.NoRate as exc:
        return exc.detail


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2008, 11, 20), date(2009, 1, 20)),  # ISK stops: pairs with it step back
        (date(2024, 3, 20), date(2024, 4, 5)),  # Easter: four days without rates
        (date(2023, 12, 20), date(2024, 1, 5)),  # Christmas and New Year
    ],
)
def test_a_rate_book_quotes_exactly_as_fx_quote(db_url: str, start: date, end: date) -> None:
    """RateBook (one query for a period, then memory) answers what fx.quote answers, leg by
    leg, on every day of the period and a week either side of it (the database then)."""
    pairs = [("USD", "EUR"), ("EUR", "SEK"), ("ISK", "USD"), ("JPY", "GBP"), ("SEK", "SEK")]
    with reading() as session:
        book = fx.RateBook(start, end)
        book.load(session, ["USD", "SEK", "ISK", "JPY", "GBP"])
        day = start - timedelta(days=7)
        while day <= end + timedelta(days=7):
            for base, quote in pairs:
                expected = _quote_or_refusal(fx.quote, session, base, quote, day)
                found = _quote_or_refusal(book.quote, session, base, quote, day)
                assert found == expected, (base, quote, day)
            day += timedelta(days=1)


def test_a_rate_book_reads_a_period_in_one_query(db_url: str) -> None:
    with reading() as session:
        book = fx.RateBook(date(2024, 1, 1), date(2024, 3, 31))
        book.load(session, ["USD", "SEK"])
        statements: list[str] = []

        def count(*args: object) -> None:
            statements.append(str(args[2]))

        engine = session.get_bind()
        event.listen(engine, "before_cursor_execute", count)
        try:
            for offset in range(91):
                book.quote(session, "USD", "SEK", date(2024, 1, 1) + timedelta(days=offset))
        finally:
            event.remove(engine, "before_cursor_execute", count)
    assert statements == []


def test_the_quoted_currencies_of_a_day(db_url: str) -> None:
    with reading() as session:
        now = fx.quoted_currencies(session, date(2025, 6, 1))
        then = fx.quoted_currencies(session, date(2021, 6, 1))
        assert fx.quoted_currencies(session, date(1990, 1, 1)) == ["EUR"]
    assert {"EUR", "USD", "SEK", "JPY", "GBP"} <= set(now)
    assert "KWD" not in now and "KWD" not in then  # never quoted
    assert "RUB" in then and "RUB" not in now  # quoted until March 2022
    assert now == sorted(now)
