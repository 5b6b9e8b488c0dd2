"""The largest-remainder split (crosspromo/split.py): worked tables, then properties over
totals up to 10¹² minor units and 1 to 50 parties, for sales and for cumulative refunds."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.crosspromo.split import (
    SplitError,
    from_minor,
    refund_parts,
    refund_step,
    split,
    split_amount,
    to_minor,
)

D = Decimal
MAX_TOTAL = 10**12

# --- worked examples -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "weights", "keys", "expected"),
    [
        # Equal thirds: the left-over unit goes to the first key.
        (100, [1, 1, 1], None, [34, 33, 33]),
        (100, [1, 1, 1], ["c", "a", "b"], [33, 34, 33]),
        # Largest remainder wins: 7 x (5, 3, 2)/10 = 3.5, 2.1, 1.4 → 4, 2, 1.
        (7, [5, 3, 2], None, [4, 2, 1]),
        # Equal remainders (0.5 each): the larger weight first, whatever the keys say.
        (3, [1, 3], ["a", "b"], [1, 2]),
        (5, [3, 1, 1], None, [3, 1, 1]),
        # Zero weight gets nothing, even when a unit is left over.
        (1, [0, 1, 1], None, [0, 1, 0]),
        (101, [0, 50, 50], None, [0, 51, 50]),
        # Decimal weights: the same proportions as integers give the same parts.
        (1000, [D("0.5"), D("0.25"), D("0.25")], None, [500, 250, 250]),
        (10, [D("33.3"), D("33.3"), D("33.4")], None, [3, 3, 4]),
        # A refund (negative total) mirrors the sale.
        (-100, [1, 1, 1], None, [-34, -33, -33]),
        (0, [1, 2], None, [0, 0]),
        (MAX_TOTAL, [1, 1, 1], None, [333333333334, 333333333333, 333333333333]),
    ],
)
def test_split_table(
    total: int, weights: list[int | Decimal], keys: list[str] | None, expected: list[int]
) -> None:
    assert split(total, weights, keys) == expected


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (D("1000"), "JPY", [D("334"), D("333"), D("333")]),  # zero decimals
        (D("10.00"), "EUR", [D("3.34"), D("3.33"), D("3.33")]),
        (D("10.000"), "KWD", [D("3.334"), D("3.333"), D("3.333")]),  # three decimals
        (D("0.001"), "BHD", [D("0.001"), D("0.000"), D("0.000")]),
        (D("-0.01"), "USD", [D("-0.01"), D("0.00"), D("0.00")]),
    ],
)
def test_split_amount_in_minor_units(
    amount: Decimal, currency: str, expected: list[Decimal]
) -> None:
    parts = split_amount(amount, currency, [1, 1, 1])
    assert parts == expected
    assert sum(parts) == amount
    assert [str(p) for p in parts] == [str(e) for e in expected]  # the currency's exponent


def test_minor_units_round_trip_and_refuse_sub_minor_digits() -> None:
    assert to_minor(D("12.34"), "EUR") == 1234
    assert to_minor(D("1200"), "JPY") == 1200
    assert to_minor(D("1.234"), "KWD") == 1234
    assert to_minor(D("12.30000"), "EUR") == 1230  # PostgreSQL NUMERIC(20, 6) comes back so
    assert from_minor(1234, "KWD") == D("1.234")
    with pytest.raises(SplitError):
        to_minor(D("12.345"), "EUR")
    with pytest.raises(SplitError):
        to_minor(D("0.5"), "JPY")


@pytest.mark.parametrize(
    ("total", "weights", "keys", "field"),
    [
        (10, [], None, "weights"),
        (10, [1, -1], None, "weights"),
        (10, [0, 0], None, "weights"),
        (10, [D("NaN")], None, "weights"),
        (10, [1.5], None, "weights"),
        (10, [True], None, "weights"),
        (10, [1, 1], ["a"], "keys"),
        (10, [1, 1], ["a", "a"], "keys"),
    ],
)
def test_split_refuses_what_cannot_be_split(
    total: int, weights: list[object], keys: list[str] | None, field: str
) -> None:
    with pytest.raises(SplitError) as caught:
        split(total, weights, keys)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_refund_table_partial_then_full() -> None:
    original = split(10_000, [3, 2, 1])  # 100.00 EUR: 50.00, 33.33, 16.67
    assert original == [5000, 3333, 1667]
    first = refund_step(original, 10_000, 0, 2_500)
    assert first == [1250, 833, 417]
    second = refund_step(original, 10_000, 2_500, 10_000)
    assert second == [3750, 2500, 1250]
    assert [a + b for a, b in zip(first, second, strict=True)] == original


def test_refund_steps_show_the_alabama_paradox_and_stay_exact() -> None:
    """Hamilton is not monotone in the total: refunding 11 instead of 10 of (6, 6, 2) takes
    the third party's cumulative part from 2 down to 1. The step gives that unit back; the
    cumulative parts stay exact and never exceed the original ones."""
    original = [6, 6, 2]
    assert refund_parts(original, 14, 10) == [4, 4, 2]
    assert refund_parts(original, 14, 11) == [5, 5, 1]
    assert refund_step(original, 14, 10, 11) == [1, 1, -1]


def test_refund_parts_refuse_more_than_the_original() -> None:
    with pytest.raises(SplitError) as caught:
        refund_parts([5, 5], 10, 11)
    assert caught.value.field == "refunded"
    with pytest.raises(SplitError):
        refund_parts([5, 5], 11, 5)
    with pytest.raises(SplitError):
        refund_parts([5, -5], 0, 0)


# --- properties ------------------------------------------------------------------------------

totals = st.integers(min_value=-MAX_TOTAL, max_value=MAX_TOTAL)
int_weights = st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=50).filter(
    lambda ws: any(ws)
)
decimal_weights = st.lists(
    st.decimals(min_value=0, max_value=10**4, places=3, allow_nan=False, allow_infinity=False),
    min_size=1,
    max_size=50,
).filter(lambda ws: any(ws))
any_weights = st.one_of(int_weights, decimal_weights)


def _exact_share(total: int, weights: list[int | Decimal], i: int) -> Fraction:
    return Fraction(total) * Fraction(weights[i]) / sum(Fraction(w) for w in weights)


@given(total=totals, weights=any_weights)
def test_parts_add_up_and_stay_within_one_unit_of_the_exact_share(
    total: int, weights: list[int | Decimal]
) -> None:
    parts = split(total, weights)
    assert sum(parts) == total
    for i, part in enumerate(parts):
        assert abs(part - _exact_share(total, weights, i)) < 1
        if weights[i] == 0:
            assert part == 0


@given(total=st.integers(min_value=0, max_value=MAX_TOTAL), weights=any_weights)
def test_a_larger_weight_never_gets_less(total: int, weights: list[int | Decimal]) -> None:
    parts = split(total, weights)
    for i, wi in enumerate(weights):
        for j, wj in enumerate(weights):
            if wi > wj:
                assert parts[i] >= parts[j]
            elif wi == wj:
                assert abs(parts[i] - parts[j]) <= 1


@given(total=totals, weights=any_weights, data=st.data())
def test_deterministic_and_independent_of_the_listing_order(
    total: int, weights: list[int | Decimal], data: st.DataObject
) -> None:
    keys = [f"bdp_{i:04d}" for i in range(len(weights))]
    parts = split(total, weights, keys)
    assert split(total, list(weights), list(keys)) == parts
    order = data.draw(st.permutations(range(len(weights))))
    shuffled = split(total, [weights[i] for i in order], [keys[i] for i in order])
    assert shuffled == [parts[i] for i in order]


@given(total=st.integers(min_value=0, max_value=MAX_TOTAL), weights=int_weights)
def test_negative_totals_mirror_positive_ones_and_scaled_weights_agree(
    total: int, weights: list[int]
) -> None:
    parts = split(total, weights)
    assert split(-total, weights) == [-p for p in parts]
    assert split(total, [w * 7 for w in weights]) == parts
    assert split(total, [Decimal(w) / 8 for w in weights]) == parts


@given(
    total=st.integers(min_value=0, max_value=MAX_TOTAL),
    weights=any_weights,
    cuts=st.lists(st.floats(min_value=0, max_value=1), max_size=8),
)
def test_sequences_of_partial_refunds(
    total: int, weights: list[int | Decimal], cuts: list[float]
) -> None:
    """Random increasing cumulative refunds, then a full one: every cumulative split is
    within the original parts, each event's parts add up to that event's amount and stay
    within two units of its exact share, and the events add up to the cumulative parts —
    after the full refund, exactly the original parts."""
    original = split(total, weights)
    # Cumulative amounts from fractions of the total (the floats only pick points).
    points = sorted({int(Fraction(c) * total) for c in cuts} | {total})
    refunded = [0] * len(original)
    before = 0
    for now in points:
        cumulative = refund_parts(original, total, now)
        assert sum(cumulative) == now
        assert all(0 <= c <= o for c, o in zip(cumulative, original, strict=True))
        step = refund_step(original, total, before, now)
        assert sum(step) == now - before
        for i, part in enumerate(step):
            exact = Fraction(now - before) * original[i] / total if total else Fraction(0)
            assert abs(part - exact) < 2
        refunded = [r + s for r, s in zip(refunded, step, strict=True)]
        assert refunded == cumulative
        before = now
    assert refunded == original


@given(total=st.integers(min_value=1, max_value=MAX_TOTAL), weights=any_weights, data=st.data())
def test_refunds_are_negative_totals_too(
    total: int, weights: list[int | Decimal], data: st.DataObject
) -> None:
    """A split of a negative amount (what a party owes back) refunds symmetrically."""
    original = split(-total, weights)
    refunded = -data.draw(st.integers(min_value=0, max_value=total))
    parts = refund_parts(original, -total, refunded)
    assert sum(parts) == refunded
    assert all(o <= p <= 0 for p, o in zip(parts, original, strict=True))
    assert refund_parts(original, -total, -total) == original
