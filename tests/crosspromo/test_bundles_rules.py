"""A bundle line's arithmetic (crosspromo/bundle_rules.py), pure: which part of the order's
commission the line carries, how much of it an order-level refund takes, and the parties'
parts over whole sequences of refunds."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.crosspromo import bundle_rules as rules

D = Decimal


@pytest.mark.parametrize(
    ("items", "rule", "expected"),
    [
        # One rate for every line: the line amounts.
        ([{"amount": "100.00"}, {"amount": "50.00"}], {"percent": "10"}, [D(100), D(50)]),
        # Lines at different rates: percent x prorated base, as the calculator priced them.
        (
            [{"amount": "100.00"}, {"amount": "100.00"}],
            {"lines": [{"percent": "10", "base": "100"}, {"percent": "20", "base": "100"}]},
            [D(1000), D(2000)],
        ),
        # Negative (discount) lines earn nothing and weigh nothing.
        ([{"amount": "-5.00"}, {"amount": "5.00"}], {}, [D(0), D(5)]),
        # A snapshot that does not match the items is not trusted: the amounts are.
        ([{"amount": "1"}], {"lines": [{"percent": "1", "base": "1"}] * 2}, [D(1)]),
    ],
)
def test_line_weights(
    items: list[dict[str, str]], rule: dict[str, object], expected: list[Decimal]
) -> None:
    assert rules.line_weights(items, rule) == expected


def test_line_commission_is_the_lines_largest_remainder_part() -> None:
    # 10.00 over three equal lines: 3.34, 3.33, 3.33; the bundle holds lines 1 and 3.
    assert rules.line_commission(1000, [D(1)] * 3, [True, False, True]) == 334 + 333
    assert rules.line_commission(1000, [D(0), D(0)], [True, False]) == 0
    assert rules.line_commission(0, [D(1)], [True]) == 0


@pytest.mark.parametrize(
    ("part", "whole", "taken", "expected"),
    [
        (10000, 15000, 7500, 5000),
        (1, 2, 1, 0),  # 0.5 rounds half-even to 0
        (3, 2, 1, 2),  # 1.5 to 2
        (100, 100, 250, 100),  # more than the whole: the whole line
        (100, 0, 10, 0),
        (0, 100, 10, 0),
    ],
)
def test_proportional(part: int, whole: int, taken: int, expected: int) -> None:
    assert rules.proportional(part, whole, taken) == expected


@given(
    part=st.integers(min_value=0, max_value=10**12),
    extra=st.integers(min_value=0, max_value=10**12),
    a=st.integers(min_value=0, max_value=10**12),
    b=st.integers(min_value=0, max_value=10**12),
)
def test_proportional_is_monotone_exact_at_the_ends_and_within_half_a_unit(
    part: int, extra: int, a: int, b: int
) -> None:
    whole = part + extra
    low, high = sorted((min(a, whole), min(b, whole)))
    assert rules.proportional(part, whole, low) <= rules.proportional(part, whole, high)
    assert rules.proportional(part, whole, 0) == 0
    assert rules.proportional(part, whole, whole) == part
    if whole:
        assert abs(rules.proportional(part, whole, low) - Fraction(part * low, whole)) <= Fraction(
            1, 2
        )


@given(
    line=st.integers(min_value=0, max_value=10**12),
    rest=st.integers(min_value=0, max_value=10**12),
    rate=st.integers(min_value=0, max_value=100),
    weights=st.lists(st.integers(min_value=1, max_value=10**4), min_size=1, max_size=50),
    cuts=st.lists(st.integers(min_value=0, max_value=10**6), max_size=6),
)
def test_an_order_refunded_step_by_step_gives_back_exactly_what_its_bundle_line_got(
    line: int, rest: int, rate: int, weights: list[int], cuts: list[int]
) -> None:
    """The hook's arithmetic replayed purely: a line of `line` units in an order of
    `line + rest`, a commission of `rate`% of the order, refunds at increasing cumulative
    amounts, then a full one. Each step's rows add up to the line's share of that step, no
    party ever gives back more than it got, and after the full refund every party nets 0."""
    order = line + rest
    commission = order * rate // 100
    line_com = rules.line_commission(commission, [D(line), D(rest)], [True, False])
    keys = [f"bdp_{i:03d}" for i in range(len(weights))]
    sold = rules.sale_parts(line, line_com, [D(w) for w in weights], keys)
    assert sum(sold.revenue) == line and sum(sold.commission) == line_com
    points = sorted({order * c // 10**6 for c in cuts} | {order})
    given_rev = [0] * len(weights)
    given_com = [0] * len(weights)
    for refunded in points:
        kept = commission - commission * refunded // order if order else 0  # a ledger's value
        taken = commission - kept
        line_refunded = rules.proportional(line, order, refunded)
        line_taken = rules.proportional(line_com, commission, taken)
        now = rules.refunded_parts(sold, line, line_com, line_refunded, line_taken, keys)
        assert sum(now.revenue) == line_refunded and sum(now.commission) == line_taken
        for i in range(len(weights)):
            assert 0 <= now.revenue[i] <= sold.revenue[i]
            assert 0 <= now.commission[i] <= sold.commission[i]
        given_rev, given_com = list(now.revenue), list(now.commission)
    assert given_rev == list(sold.revenue) and given_com == list(sold.commission)
