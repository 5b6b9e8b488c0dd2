"""The alliance order rule: worked tables, then properties against a brute-force model."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.attribution.rules import (
    Attribution,
    ClickFact,
    NoAttribution,
    OrderFacts,
    attribute,
)

T0 = datetime(2025, 3, 31, 12, 0, 0, tzinfo=UTC)  # order time in the tables
W = timedelta(days=30)
P = "prg_1"


def click(
    cid: str,
    partner: str,
    before: timedelta,
    *,
    program: str = P,
    bot: bool = False,
) -> ClickFact:
    """A click ``before`` the order (negative: after it)."""
    return ClickFact(cid, program, partner, T0 - before, bot)


def order(
    *,
    coupon: str | None = None,
    customer: str | None = None,
    coupon_beats_click: bool = True,
    window: timedelta = W,
) -> OrderFacts:
    return OrderFacts(P, T0, window, coupon, customer, coupon_beats_click)


def verdicts(result: Attribution | NoAttribution) -> list[tuple[object, object]]:
    return [(e["click_id"], e["verdict"]) for e in result.path]


# --------------------------------------------------------------------------- tables

WINNER_TABLE: list[tuple[str, list[ClickFact], OrderFacts, tuple[str, str, str | None]]] = [
    ("exactly at the window edge counts", [click("c1", "pa", W)], order(), ("pa", "click", "c1")),
    (
        "click at the order instant counts",
        [click("c1", "pa", timedelta(0))],
        order(),
        ("pa", "click", "c1"),
    ),
    (
        "a new click restarts the window",
        [click("c1", "pa", timedelta(days=45)), click("c2", "pa", timedelta(days=20))],
        order(),
        ("pa", "click", "c2"),
    ),
    (
        "last click wins across partners",
        [click("c1", "pa", timedelta(days=3)), click("c2", "pb", timedelta(days=1))],
        order(),
        ("pb", "click", "c2"),
    ),
    (
        "input order does not matter",
        [click("c2", "pb", timedelta(days=1)), click("c1", "pa", timedelta(days=3))],
        order(),
        ("pb", "click", "c2"),
    ),
    (
        "other programs' clicks are ignored, however recent",
        [click("c1", "pa", timedelta(days=5)), click("c2", "pb", timedelta(hours=1), program="x")],
        order(),
        ("pa", "click", "c1"),
    ),
    (
        "a bot click is ignored",
        [click("c1", "pa", timedelta(days=5)), click("c2", "pb", timedelta(hours=1), bot=True)],
        order(),
        ("pa", "click", "c1"),
    ),
    (
        "a click after the order is ignored",
        [click("c1", "pa", timedelta(days=5)), click("c2", "pb", -timedelta(seconds=1))],
        order(),
        ("pa", "click", "c1"),
    ),
    (
        "identical timestamps: the larger click id wins",
        [click("c2", "pb", timedelta(days=1)), click("c1", "pa", timedelta(days=1))],
        order(),
        ("pb", "click", "c2"),
    ),
    (
        "coupon beats click by default",
        [click("c1", "pa", timedelta(days=1))],
        order(coupon="pc"),
        ("pc", "coupon", None),
    ),
    (
        "click beats coupon when the program says so",
        [click("c1", "pa", timedelta(days=1))],
        order(coupon="pc", coupon_beats_click=False),
        ("pa", "click", "c1"),
    ),
    (
        "click-first program: coupon is the fallback without a valid click",
        [click("c1", "pa", timedelta(days=31))],
        order(coupon="pc", coupon_beats_click=False),
        ("pc", "coupon", None),
    ),
    ("coupon with no clicks at all", [], order(coupon="pc"), ("pc", "coupon", None)),
    (
        "customer binding without click or coupon",
        [],
        order(customer="pd"),
        ("pd", "customer", None),
    ),
    (
        "a valid click beats the customer binding",
        [click("c1", "pa", timedelta(days=2))],
        order(customer="pd"),
        ("pa", "click", "c1"),
    ),
    (
        "a coupon beats the customer binding",
        [],
        order(coupon="pc", customer="pd"),
        ("pc", "coupon", None),
    ),
    (
        "customer binding when every click is too old",
        [click("c1", "pa", timedelta(days=40))],
        order(customer="pd"),
        ("pd", "customer", None),
    ),
    (
        "a one-day window, edge inclusive",
        [click("c1", "pa", timedelta(days=1))],
        order(window=timedelta(days=1)),
        ("pa", "click", "c1"),
    ),
]


@pytest.mark.parametrize(
    ("clicks", "facts", "expected"),
    [row[1:] for row in WINNER_TABLE],
    ids=[row[0] for row in WINNER_TABLE],
)
def test_winner_table(
    clicks: list[ClickFact], facts: OrderFacts, expected: tuple[str, str, str | None]
) -> None:
    result = attribute(facts, clicks)
    assert isinstance(result, Attribution)
    assert (result.partner_id, result.method, result.click_id) == expected


NO_TABLE: list[tuple[str, list[ClickFact], str]] = [
    ("one second past the window", [click("c1", "pa", W + timedelta(seconds=1))], "outside_window"),
    (
        "one microsecond past the window",
        [click("c1", "pa", W + timedelta(microseconds=1))],
        "outside_window",
    ),
    ("no clicks", [], "no_click"),
    (
        "only other programs' clicks",
        [click("c1", "pa", timedelta(days=1), program="x")],
        "no_click",
    ),
    ("only clicks after the order", [click("c1", "pa", -timedelta(minutes=5))], "no_click"),
    ("only bots", [click("c1", "pa", timedelta(days=1), bot=True)], "bot_only"),
    (
        "a too-old human click is more telling than a bot",
        [click("c1", "pa", timedelta(days=40)), click("c2", "pb", timedelta(days=1), bot=True)],
        "outside_window",
    ),
    (
        "an old bot click is still a bot",
        [click("c1", "pa", timedelta(days=40), bot=True)],
        "bot_only",
    ),
]


@pytest.mark.parametrize(
    ("clicks", "reason"), [row[1:] for row in NO_TABLE], ids=[row[0] for row in NO_TABLE]
)
def test_no_attribution_table(clicks: list[ClickFact], reason: str) -> None:
    result = attribute(order(), clicks)
    assert isinstance(result, NoAttribution)
    assert result.reason == reason
    assert result.detail


def test_path_lists_every_click_newest_first_with_its_verdict() -> None:
    clicks = [
        click("c1", "pa", timedelta(days=40)),
        click("c2", "pa", timedelta(days=10)),
        click("c3", "pb", timedelta(days=2), bot=True),
        click("c4", "pc", timedelta(days=1), program="other"),
        click("c5", "pb", timedelta(days=1)),
        click("c6", "pd", -timedelta(hours=1)),
    ]
    random.Random(4).shuffle(clicks)
    result = attribute(order(), clicks)
    assert isinstance(result, Attribution)
    assert verdicts(result) == [
        ("c6", "after_order"),
        ("c5", "winner"),
        ("c4", "other_program"),
        ("c3", "bot"),
        ("c2", "superseded"),
        ("c1", "outside_window"),
    ]
    first = result.path[1]
    assert first == {
        "click_id": "c5",
        "partner_id": "pb",
        "occurred_at": (T0 - timedelta(days=1)).isoformat(),
        "verdict": "winner",
    }


def test_when_the_coupon_wins_valid_clicks_are_superseded() -> None:
    result = attribute(order(coupon="pc"), [click("c1", "pa", timedelta(days=1))])
    assert isinstance(result, Attribution)
    assert verdicts(result) == [("c1", "superseded")]


def test_a_negative_window_is_refused() -> None:
    with pytest.raises(ValueError, match="window"):
        attribute(order(window=-timedelta(days=1)), [])


# --------------------------------------------------------------------------- properties

PROGRAMS = ("prg_1", "prg_2")
PARTNERS = ("pa", "pb", "pc")

# Offsets in seconds relative to the order, spread around the window edge and the order.
offsets = st.one_of(
    st.integers(min_value=-3 * 86_400, max_value=40 * 86_400),
    st.sampled_from([0, -1, 1, 30 * 86_400, 30 * 86_400 - 1, 30 * 86_400 + 1]),
)


@st.composite
def click_lists(draw: st.DrawFn) -> list[ClickFact]:
    n = draw(st.integers(min_value=0, max_value=8))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    return [
        ClickFact(
            click_id=f"c{i:05d}",
            program_id=draw(st.sampled_from(PROGRAMS)),
            partner_id=draw(st.sampled_from(PARTNERS)),
            occurred_at=T0 - timedelta(seconds=draw(offsets)),
            is_bot=draw(st.booleans()),
        )
        for i in ids
    ]


orders = st.builds(
    OrderFacts,
    program_id=st.just("prg_1"),
    occurred_at=st.just(T0),
    window=st.sampled_from([timedelta(days=30), timedelta(days=1), timedelta(0)]),
    coupon_partner_id=st.sampled_from([None, "pcoupon"]),
    customer_partner_id=st.sampled_from([None, "pcustomer"]),
    coupon_beats_click=st.booleans(),
)


def reference(o: OrderFacts, clicks: list[ClickFact]) -> tuple[str, ...]:
    """The rule written the dumbest possible way."""
    valid = [
        c
        for c in clicks
        if c.program_id == o.program_id
        and not c.is_bot
        and c.occurred_at <= o.occurred_at
        and o.occurred_at - c.occurred_at <= o.window
    ]
    best = None
    for c in valid:
        if best is None or (c.occurred_at, c.click_id) > (best.occurred_at, best.click_id):
            best = c
    if o.coupon_partner_id and o.coupon_beats_click:
        return (o.coupon_partner_id, "coupon", "")
    if best is not None:
        return (best.partner_id, "click", best.click_id)
    if o.coupon_partner_id:
        return (o.coupon_partner_id, "coupon", "")
    if o.customer_partner_id:
        return (o.customer_partner_id, "customer", "")
    mine = [c for c in clicks if c.program_id == o.program_id and c.occurred_at <= o.occurred_at]
    if any(not c.is_bot for c in mine):
        return ("outside_window",)
    if mine:
        return ("bot_only",)
    return ("no_click",)


def outcome(result: Attribution | NoAttribution) -> tuple[str, ...]:
    if isinstance(result, Attribution):
        return (result.partner_id, result.method, result.click_id or "")
    return (result.reason,)


PROPS = settings(max_examples=200, deadline=None)


@PROPS
@given(orders, click_lists())
def test_matches_the_brute_force_model(o: OrderFacts, clicks: list[ClickFact]) -> None:
    result = attribute(o, clicks)
    assert outcome(result) == reference(o, clicks)
    assert len(result.path) == len(clicks)
    assert sorted(str(e["click_id"]) for e in result.path) == sorted(c.click_id for c in clicks)
    winners = [e for e in result.path if e["verdict"] == "winner"]
    if isinstance(result, Attribution) and result.method == "click":
        assert [e["click_id"] for e in winners] == [result.click_id]
    else:
        assert winners == []


@PROPS
@given(orders, click_lists(), st.randoms(use_true_random=False))
def test_input_order_never_matters(
    o: OrderFacts, clicks: list[ClickFact], rnd: random.Random
) -> None:
    shuffled = list(clicks)
    rnd.shuffle(shuffled)
    assert attribute(o, shuffled) == attribute(o, clicks)


@PROPS
@given(orders, click_lists(), st.integers(min_value=0, max_value=60 * 86_400))
def test_an_older_click_never_changes_the_winner(
    o: OrderFacts, clicks: list[ClickFact], extra_age: int
) -> None:
    before = attribute(o, clicks)
    if not (isinstance(before, Attribution) and before.method == "click"):
        return
    winner_at = next(c.occurred_at for c in clicks if c.click_id == before.click_id)
    older = ClickFact("b_older", "prg_1", "pz", winner_at - timedelta(seconds=extra_age + 1), False)
    after = attribute(o, [*clicks, older])
    assert outcome(after) == outcome(before)


@PROPS
@given(orders, click_lists(), offsets, st.sampled_from(PARTNERS))
def test_a_bot_click_never_changes_the_outcome_unless_it_is_the_only_evidence(
    o: OrderFacts, clicks: list[ClickFact], offset: int, partner: str
) -> None:
    before = attribute(o, clicks)
    bot = ClickFact("zbot", "prg_1", partner, T0 - timedelta(seconds=offset), True)
    after = attribute(o, [*clicks, bot])
    if isinstance(before, NoAttribution) and before.reason == "no_click" and offset >= 0:
        # The bot is now the only click of the program before the order: a more precise reason.
        assert isinstance(after, NoAttribution) and after.reason == "bot_only"
    else:
        assert outcome(after) == outcome(before)


@PROPS
@given(orders, click_lists(), click_lists())
def test_other_programs_never_change_the_outcome(
    o: OrderFacts, clicks: list[ClickFact], noise: list[ClickFact]
) -> None:
    foreign = [
        ClickFact(f"x{c.click_id}", "prg_other", c.partner_id, c.occurred_at, c.is_bot)
        for c in noise
    ]
    assert outcome(attribute(o, [*clicks, *foreign])) == outcome(attribute(o, clicks))


@PROPS
@given(orders, click_lists(), st.integers(min_value=1, max_value=10 * 86_400))
def test_clicks_after_the_order_never_change_the_outcome(
    o: OrderFacts, clicks: list[ClickFact], later: int
) -> None:
    future = ClickFact("zfuture", "prg_1", "pz", T0 + timedelta(seconds=later), False)
    assert outcome(attribute(o, [*clicks, future])) == outcome(attribute(o, clicks))


@PROPS
@given(click_lists(), st.sampled_from(PARTNERS))
def test_a_new_valid_click_always_wins_without_a_coupon(
    clicks: list[ClickFact], partner: str
) -> None:
    newest = ClickFact("zz_newest", "prg_1", partner, T0, False)
    result = attribute(order(), [*clicks, newest])
    assert isinstance(result, Attribution)
    assert (result.partner_id, result.click_id) == (partner, "zz_newest")


# --------------------------------------------------------------------------- geo-targeting


def rejected(cid: str, partner: str, before: timedelta) -> ClickFact:
    """A click the redirect sent to the program's fallback URL (country not allowed)."""
    return ClickFact(cid, P, partner, T0 - before, False, "country_not_allowed")


def test_a_click_from_a_country_not_allowed_never_wins() -> None:
    result = attribute(
        order(), [click("c1", "pa", timedelta(days=3)), rejected("c2", "pb", timedelta(days=1))]
    )
    assert isinstance(result, Attribution)
    assert (result.partner_id, result.click_id) == ("pa", "c1")
    assert verdicts(result) == [("c2", "country_not_allowed"), ("c1", "winner")]


def test_only_clicks_from_countries_not_allowed_attribute_nothing() -> None:
    result = attribute(order(), [rejected("c1", "pa", timedelta(days=1))])
    assert isinstance(result, NoAttribution)
    assert result.reason == "country_not_allowed"
    assert verdicts(result) == [("c1", "country_not_allowed")]
    # The coupon still works: geo-targeting rules out clicks, not the partner's coupon.
    with_coupon = attribute(
        order(coupon="pc", coupon_beats_click=False), [rejected("c1", "pa", timedelta(days=1))]
    )
    assert isinstance(with_coupon, Attribution) and with_coupon.method == "coupon"


def test_a_rejected_bot_click_is_reported_as_a_bot() -> None:
    bot = ClickFact("c1", P, "pa", T0 - timedelta(days=1), True, "country_not_allowed")
    result = attribute(order(), [bot])
    assert isinstance(result, NoAttribution) and verdicts(result) == [("c1", "bot")]
