"""queries.money_of rounds micro-units in integer arithmetic for speed; it must agree with
the one rounding rule of the project (money.round_money) to the digit and the exponent."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from alliance.money import round_money
from alliance.reports.queries import money_of
from alliance.reports.rollups import from_micros

CURRENCIES = ("EUR", "SEK", "JPY", "KWD", "CLF", "USD")


@given(st.integers(min_value=-(10**19), max_value=10**19), st.sampled_from(CURRENCIES))
def test_money_of_is_round_money_of_the_micro_units(micros: int, currency: str) -> None:
    expected = round_money(from_micros(micros), currency)
    found = money_of(micros, currency)
    assert found == expected
    assert found.as_tuple().exponent == expected.as_tuple().exponent
    # Shown the same, except that money_of never writes a negative zero ("-0.00").
    assert str(found) == (str(expected).lstrip("-") if expected == 0 else str(expected))


def test_halves_go_to_the_even_neighbour() -> None:
    assert str(money_of(12_345_000, "EUR")) == "12.34"  # 12.345 → 12.34
    assert str(money_of(12_355_000, "EUR")) == "12.36"
    assert str(money_of(-12_345_000, "EUR")) == "-12.34"
    assert str(money_of(2_500_000, "JPY")) == "2"
    assert str(money_of(0, "KWD")) == "0.000"
    assert str(money_of(-1, "EUR")) == "0.00"  # not "-0.00"
