"""The fair-exchange arithmetic (crosspromo/exchange_rules.py) by tables and by hypothesis:
both partners' balances come from one signed sum, so bal(A, B) = -bal(B, A) exactly and each
balance is the sum of its entries; a person counts once per direction; only screened valid
clicks count; tolerance and capped carry-over."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.crosspromo.exchange_rules import (
    Delivery,
    Tolerance,
    balance_of,
    carry_over,
    confirmed,
    exceeds,
    first_per_person,
    pair_of,
    signed_units,
)

T0 = datetime(2027, 3, 1, tzinfo=UTC)
PARTNERS = ["ptn_A", "ptn_B", "ptn_C"]


def delivery(
    click: str, visitor: str, promoter: str, beneficiary: str, minutes: int = 0, valid: bool = True
) -> Delivery:
    return Delivery(click, visitor, promoter, beneficiary, T0 + timedelta(minutes=minutes), valid)


@pytest.mark.parametrize(
    ("promoter", "beneficiary", "units", "stored", "bal_promoter", "bal_beneficiary"),
    [
        ("ptn_A", "ptn_B", 1, 1, 1, -1),  # the low partner delivered: +
        ("ptn_B", "ptn_A", 1, -1, 1, -1),  # the high partner delivered: -
        ("ptn_B", "ptn_A", 5, -5, 5, -5),
        ("ptn_A", "ptn_B", 0, 0, 0, 0),
    ],
)
def test_signed_units_and_both_sides(
    promoter: str,
    beneficiary: str,
    units: int,
    stored: int,
    bal_promoter: int,
    bal_beneficiary: int,
) -> None:
    assert signed_units(promoter, beneficiary, units) == stored
    assert balance_of(promoter, beneficiary, stored) == bal_promoter
    assert balance_of(beneficiary, promoter, stored) == bal_beneficiary


def test_a_partner_does_not_pair_with_itself() -> None:
    with pytest.raises(ValueError):
        pair_of("ptn_A", "ptn_A")


deliveries_strategy = st.lists(
    st.tuples(
        st.sampled_from(PARTNERS),
        st.sampled_from(PARTNERS),
        st.integers(min_value=1, max_value=20),
    ).filter(lambda t: t[0] != t[1]),
    max_size=60,
)


@given(deliveries_strategy)
def test_balances_are_antisymmetric_and_sum_the_entries(rows: list[tuple[str, str, int]]) -> None:
    stored: dict[tuple[str, str], list[int]] = {}
    delivered: dict[tuple[str, str], int] = {}
    for promoter, beneficiary, units in rows:
        stored.setdefault(pair_of(promoter, beneficiary), []).append(
            signed_units(promoter, beneficiary, units)
        )
        delivered[(promoter, beneficiary)] = delivered.get((promoter, beneficiary), 0) + units
    for a in PARTNERS:
        for b in PARTNERS:
            if a == b:
                continue
            total = sum(stored.get(pair_of(a, b), []))
            assert balance_of(a, b, total) == -balance_of(b, a, total)
            # What a delivered to b, minus what b delivered to a.
            assert balance_of(a, b, total) == delivered.get((a, b), 0) - delivered.get((b, a), 0)


def test_a_person_counts_once_per_direction_from_the_first_click() -> None:
    rows = [
        delivery("clk_3", "vis_1", "ptn_A", "ptn_B", minutes=30),
        delivery("clk_1", "vis_1", "ptn_A", "ptn_B", minutes=10),  # the first: kept
        delivery("clk_2", "vis_1", "ptn_B", "ptn_A", minutes=20),  # the other direction: kept
        delivery("clk_4", "vis_2", "ptn_A", "ptn_B", minutes=10),
    ]
    kept = first_per_person(rows)
    assert [d.click_id for d in kept] == ["clk_1", "clk_4", "clk_2"]


@given(
    st.lists(
        st.tuples(
            st.sampled_from(PARTNERS[:2]),
            st.sampled_from(["vis_1", "vis_2", "vis_3"]),
            st.integers(min_value=0, max_value=100),
        ),
        max_size=40,
    )
)
def test_dedup_keeps_one_earliest_delivery_per_person_and_direction(
    rows: list[tuple[str, str, int]],
) -> None:
    deliveries = [
        delivery(f"clk_{i:03d}", visitor, promoter, "ptn_B" if promoter == "ptn_A" else "ptn_A", m)
        for i, (promoter, visitor, m) in enumerate(rows)
    ]
    kept = first_per_person(deliveries)
    keys = [(d.promoter, d.visitor_id) for d in kept]
    assert len(keys) == len(set(keys)) == len({(p, v) for p, v, _ in rows})
    for d in kept:
        same = [x for x in deliveries if (x.promoter, x.visitor_id) == (d.promoter, d.visitor_id)]
        assert (d.occurred_at, d.click_id) == min((x.occurred_at, x.click_id) for x in same)


def test_only_valid_clicks_past_the_screening_period_are_confirmed() -> None:
    screening = timedelta(days=7)
    now = T0 + timedelta(days=8)
    rows = [
        delivery("clk_old", "vis_1", "ptn_A", "ptn_B", minutes=0),
        delivery("clk_edge", "vis_2", "ptn_A", "ptn_B", minutes=24 * 60),  # exactly 7 days
        delivery("clk_young", "vis_3", "ptn_A", "ptn_B", minutes=24 * 60 + 1),
        delivery("clk_bot", "vis_4", "ptn_A", "ptn_B", minutes=0, valid=False),
    ]
    assert [d.click_id for d in confirmed(rows, now, screening)] == ["clk_old", "clk_edge"]


@given(
    st.lists(st.tuples(st.integers(0, 20_000), st.booleans()), max_size=30),
    st.integers(0, 20_000),
)
def test_confirmed_is_exactly_the_old_valid_ones(rows: list[tuple[int, bool]], age: int) -> None:
    deliveries = [
        delivery(f"clk_{i}", f"vis_{i}", "ptn_A", "ptn_B", m, v) for i, (m, v) in enumerate(rows)
    ]
    now = T0 + timedelta(minutes=20_000)
    kept = {d.click_id for d in confirmed(deliveries, now, timedelta(minutes=age))}
    for d in deliveries:
        assert (d.click_id in kept) == (d.valid and now - d.occurred_at >= timedelta(minutes=age))


@pytest.mark.parametrize(
    ("balance", "exchanged", "tolerance", "expected"),
    [
        (5, 100, Tolerance(), False),  # nothing agreed: never
        (5, 100, Tolerance(units=5), False),
        (6, 100, Tolerance(units=5), True),
        (-6, 100, Tolerance(units=5), True),  # either side
        (10, 100, Tolerance(percent=Decimal("10")), False),
        (11, 100, Tolerance(percent=Decimal("10")), True),
        (3, 5, Tolerance(percent=Decimal("10"), units=5), False),  # young campaign: units hold
        (30, 1000, Tolerance(percent=Decimal("10"), units=5), False),  # large: percent holds
        (120, 1000, Tolerance(percent=Decimal("10"), units=5), True),
        (0, 0, Tolerance(units=0), False),
        (1, 1, Tolerance(percent=Decimal("0")), True),
    ],
)
def test_tolerance(balance: int, exchanged: int, tolerance: Tolerance, expected: bool) -> None:
    assert exceeds(balance, exchanged, tolerance) is expected


@pytest.mark.parametrize(
    ("balance", "cap", "carried", "forgiven"),
    [(10, 3, 3, 7), (-10, 3, -3, -7), (2, 3, 2, 0), (0, 0, 0, 0), (5, 0, 0, 5)],
)
def test_carry_over_table(balance: int, cap: int, carried: int, forgiven: int) -> None:
    outcome = carry_over(balance, cap)
    assert (outcome.carried, outcome.forgiven) == (carried, forgiven)


@given(st.integers(-(10**12), 10**12), st.integers(0, 10**12))
def test_carry_over_keeps_the_side_and_adds_up(balance: int, cap: int) -> None:
    outcome = carry_over(balance, cap)
    assert outcome.carried + outcome.forgiven == balance
    assert abs(outcome.carried) <= cap
    assert outcome.carried * balance >= 0 and outcome.forgiven * balance >= 0
    assert abs(outcome.carried) == min(cap, abs(balance))


def test_a_negative_cap_is_refused() -> None:
    with pytest.raises(ValueError):
        carry_over(3, -1)
