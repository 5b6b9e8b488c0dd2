"""Choosing a landing variant, and the report's intervals: pure functions, by tables and by
hypothesis (crosspromo/variants.py, ADR 0018)."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo.variants import (
    MAX_VARIANTS,
    MAX_WEIGHT,
    Variant,
    VariantTable,
    choose_variant,
    compile_variants,
    difference_interval,
    pick_weighted,
    split_point,
    wilson_interval,
)
from alliance.ids import new_id

LINK = "lnk_01JD0000000000000000000000"


def v(
    name: str,
    weight: int = 1,
    *,
    countries: tuple[str, ...] = (),
    devices: tuple[str, ...] = (),
    visitor: str | None = None,
) -> Variant:
    return Variant(
        id=f"var_{name}",
        landing_url=f"https://shop.example/{name}",
        weight=weight,
        countries=frozenset(countries),
        devices=frozenset(devices),
        visitor=visitor,
    )


def table(*variants: Variant) -> VariantTable:
    compiled = compile_variants(variants)
    assert compiled is not None
    return compiled


def chosen(
    t: VariantTable,
    *,
    country: str | None = None,
    device: str | None = None,
    returning: bool = False,
    visitor_id: str = "vis_01JD00000000000000000000AB",
) -> str | None:
    found = choose_variant(
        t,
        link_id=LINK,
        visitor_id=visitor_id,
        country=country,
        device=device,
        returning=returning,
    )
    return None if found is None else found.id.removeprefix("var_")


# --- precedence: the most specific matching group wins ----------------------------------------

SPECIFICITY = table(
    v("any"),
    v("returning", visitor="returning"),
    v("mobile", devices=("mobile", "tablet")),
    v("de", countries=("DE", "AT")),
    v("de_mobile", countries=("DE",), devices=("mobile",)),
    v("de_new", countries=("DE",), visitor="new"),
    v("mobile_new", devices=("mobile",), visitor="new"),
    v("fr_desktop_returning", countries=("FR",), devices=("desktop",), visitor="returning"),
)


@pytest.mark.parametrize(
    ("country", "device", "returning", "expected"),
    [
        # Three conditions beat two.
        ("FR", "desktop", True, "fr_desktop_returning"),
        # Two: country+device beats country+visitor beats device+visitor.
        ("DE", "mobile", False, "de_mobile"),
        ("DE", "desktop", False, "de_new"),
        ("AT", "mobile", False, "mobile_new"),
        # One: country beats device beats visitor kind.
        ("AT", "mobile", True, "de"),
        ("DE", "desktop", True, "de"),
        ("US", "tablet", True, "mobile"),
        ("US", "desktop", True, "returning"),
        ("FR", "desktop", False, "any"),  # FR desktop but new: the three-way one fails
        # Unknown country or device matches no condition on it.
        (None, None, False, "any"),
        (None, "bot", True, "returning"),
        (None, "unknown", False, "any"),
    ],
)
def test_the_most_specific_matching_group_wins(
    country: str | None, device: str | None, returning: bool, expected: str
) -> None:
    assert chosen(SPECIFICITY, country=country, device=device, returning=returning) == expected


def test_no_match_means_the_links_normal_landing() -> None:
    t = table(v("de", countries=("DE",)), v("mobile", devices=("mobile",)))
    assert chosen(t, country="FR", device="desktop") is None
    assert chosen(t, country=None, device=None) is None


@pytest.mark.parametrize(
    ("variant", "country", "device", "returning", "matches"),
    [
        (v("a"), None, None, False, True),
        (v("a", countries=("DE",)), "DE", None, False, True),
        (v("a", countries=("DE",)), "de", None, False, False),  # the redirect passes upper case
        (v("a", countries=("DE",)), None, None, False, False),
        (v("a", devices=("tablet",)), None, "tablet", False, True),
        (v("a", devices=("tablet",)), None, "mobile", False, False),
        (v("a", visitor="new"), None, None, False, True),
        (v("a", visitor="new"), None, None, True, False),
        (v("a", visitor="returning"), None, None, True, True),
        (v("a", countries=("SE",), devices=("desktop",)), "SE", "mobile", False, False),
    ],
)
def test_every_condition_must_hold(
    variant: Variant, country: str | None, device: str | None, returning: bool, matches: bool
) -> None:
    assert variant.matches(country, device, returning) is matches


def test_compiling_drops_nothing_but_weightless_and_says_what_to_look_up() -> None:
    assert compile_variants([]) is None
    assert compile_variants([v("zero", 0)]) is None
    plain = table(v("a"), v("b", 3))
    assert (plain.needs_country, plain.needs_device) == (False, False)
    assert [g.cumulative for g in plain.groups] == [(1, 4)]
    assert plain.groups[0].unconditioned
    targeted = table(v("a", countries=("DE",)), v("b", devices=("mobile",)), v("c"))
    assert (targeted.needs_country, targeted.needs_device) == (True, True)
    assert [x.id for x in targeted.variants] == ["var_a", "var_b", "var_c"]


def test_variants_of_one_group_keep_their_creation_order() -> None:
    t = table(v("first", 1), v("de", countries=("DE",)), v("second", 1))
    assert [x.id for x in t.groups[1].variants] == ["var_first", "var_second"]


# --- the weighted split -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("point", "expected"),
    [
        (0, "a"),
        ((1 << 64) // 4 - 1, "a"),  # a holds the first quarter of the points
        ((1 << 64) // 4, "b"),
        ((1 << 64) - 1, "b"),
    ],
)
def test_pick_weighted_lays_shares_out_in_order(point: int, expected: str) -> None:
    candidates = (v("a", 1), v("b", 3))
    assert pick_weighted(candidates, (1, 4), point).id == f"var_{expected}"


def test_split_point_is_blake2b_of_link_and_visitor() -> None:
    from hashlib import blake2b

    visitor = "vis_01JD00000000000000000000AB"
    digest = blake2b(f"{LINK}:{visitor}".encode(), digest_size=8).digest()
    assert split_point(LINK, visitor) == int.from_bytes(digest, "big")
    assert split_point(LINK, visitor) != split_point("lnk_01JD0000000000000000000001", visitor)


@settings(max_examples=25, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=MAX_WEIGHT), min_size=2, max_size=6),
)
def test_weights_are_respected_over_many_visitors(weights: list[int]) -> None:
    """Each variant's share of 6,000 visitors is within 5 binomial standard deviations (plus
    half a percent) of its weight's share."""
    t = table(*(v(str(i), w) for i, w in enumerate(weights)))
    visitors = 6_000
    counts = Counter(chosen(t, visitor_id=new_id("vis")) for _ in range(visitors))
    total = sum(weights)
    for i, weight in enumerate(weights):
        p = weight / total
        sigma = math.sqrt(visitors * p * (1 - p))
        assert abs(counts.get(str(i), 0) - visitors * p) <= 5 * sigma + 0.005 * visitors


@settings(max_examples=50, deadline=None)
@given(
    weights=st.lists(st.integers(min_value=1, max_value=MAX_WEIGHT), min_size=1, max_size=20),
    country=st.sampled_from(["DE", "FR", None]),
    device=st.sampled_from(["desktop", "mobile", "tablet", "bot", None]),
    returning=st.booleans(),
    data=st.data(),
)
def test_a_visitor_always_gets_the_same_variant(
    weights: list[int],
    country: str | None,
    device: str | None,
    returning: bool,
    data: st.DataObject,
) -> None:
    variants = [
        v(
            str(i),
            w,
            countries=data.draw(st.sampled_from([(), ("DE",), ("DE", "FR")])),
            devices=data.draw(st.sampled_from([(), ("mobile",), ("desktop", "tablet")])),
            visitor=data.draw(st.sampled_from([None, "new", "returning"])),
        )
        for i, w in enumerate(weights)
    ]
    t = table(*variants)
    visitor = new_id("vis")
    first = chosen(t, country=country, device=device, returning=returning, visitor_id=visitor)
    for _ in range(3):
        again = chosen(t, country=country, device=device, returning=returning, visitor_id=visitor)
        assert again == first
    # And the one chosen is a matching variant of the most specific matching group.
    matching = [x for x in variants if x.matches(country, device, returning)]
    if not matching:
        assert first is None
        return
    best = max(x.rank for x in matching)
    assert first in {x.id.removeprefix("var_") for x in matching if x.rank == best}


def test_a_larger_table_is_still_chosen_from() -> None:
    t = table(*(v(str(i), i + 1, countries=("DE",) if i % 2 else ()) for i in range(MAX_VARIANTS)))
    assert chosen(t, country="DE") in {str(i) for i in range(1, MAX_VARIANTS, 2)}
    assert chosen(t, country="SE") in {str(i) for i in range(0, MAX_VARIANTS, 2)}


# --- the report's intervals -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "trials", "low", "high"),
    [
        # Newcombe (1998), "Two-sided confidence intervals for the single proportion",
        # Table I, method 3 (score interval), to its four decimals.
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
        # The closed forms at the ends: z^2 / (n + z^2) and its mirror.
        (0, 10, 0.0, 1.959963984540054**2 / (10 + 1.959963984540054**2)),
        (10, 10, 10 / (10 + 1.959963984540054**2), 1.0),
    ],
)
def test_wilson_interval_table(successes: int, trials: int, low: float, high: float) -> None:
    interval = wilson_interval(successes, trials)
    assert interval.low == pytest.approx(low, abs=5e-5)
    assert interval.high == pytest.approx(high, abs=5e-5)


def test_wilson_interval_edges() -> None:
    assert wilson_interval(0, 0) == wilson_interval(0, -1)
    assert (wilson_interval(0, 0).low, wilson_interval(0, 0).high) == (0.0, 1.0)
    with pytest.raises(ValueError, match="between"):
        wilson_interval(3, 2)


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=1, max_value=10**7), st.data())
def test_wilson_interval_contains_the_estimate_inside_0_1(trials: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(min_value=0, max_value=trials))
    interval = wilson_interval(successes, trials)
    assert 0.0 <= interval.low <= successes / trials <= interval.high <= 1.0


def test_newcombe_difference_table() -> None:
    # Newcombe (1998), "Interval estimation for the difference between independent
    # proportions", method 10 for 56/70 - 48/80: 0.0524 to 0.3339.
    interval = difference_interval(56, 70, 48, 80)
    assert interval.low == pytest.approx(0.0524, abs=5e-4)
    assert interval.high == pytest.approx(0.3339, abs=5e-4)
    same = difference_interval(5, 50, 5, 50)
    assert same.low < 0 < same.high


def test_overlap() -> None:
    a, b = wilson_interval(5, 100), wilson_interval(40, 100)
    assert not a.overlaps(b) and not b.overlaps(a)
    assert a.overlaps(wilson_interval(8, 100))
