"""The arithmetic of matching: tables for the formulas, hypothesis for the invariants (scores
in [0, 1], monotone in every component, weights summing to 1, never the partner itself nor
anything already joined)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo.matching_rules import (
    COLD_START_WEIGHTS,
    MAX_BASKET_CATEGORIES,
    WEIGHTS,
    Basis,
    Component,
    CoPurchaseCounter,
    CoPurchases,
    Kind,
    Neighbour,
    Network,
    Offer,
    OverlapHit,
    Profile,
    category_agreement,
    category_key,
    combine,
    complementarity,
    conversion_lower_bound,
    effective_weights,
    lift_value,
    ndcg_at_k,
    overlap_value,
    overlaps_through_members,
    performance_value,
    popularity_value,
    precision_at_k,
    recall_at_k,
    recommend_co_promotion,
    recommend_partners,
    recommend_programs,
    strongest_overlaps,
    text_similarity,
    words,
)

# --- formulas, by table ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("Running Shoes", "running shoes"),
        ("  running   shoes ", "running shoes"),
        ("STRASSE", "strasse"),
        ("Straße", "strasse"),  # casefold, not lower
        ("", ""),
        ("x" * 80, "x" * 64),
    ],
)
def test_category_key(text: str, key: str) -> None:
    assert category_key(text) == key


def test_co_purchase_counts_and_lift() -> None:
    counter = CoPurchaseCounter()
    # 100 baskets: 40 with running, 30 with nutrition, 24 with both; 10 with books only.
    for _ in range(24):
        counter.add(["running", "nutrition", "running"])  # duplicates count once
    for _ in range(16):
        counter.add(["running"])
    for _ in range(6):
        counter.add(["nutrition"])
    for _ in range(10):
        counter.add(["books"])
    for _ in range(44):
        counter.add([])  # a basket without a category still counts as a basket
    co = counter.result()
    assert co.baskets == 100
    assert co.categories == {"running": 40, "nutrition": 30, "books": 10}
    assert co.together("running", "nutrition") == co.together("nutrition", "running") == 24
    # P(r ∧ n) / (P(r) P(n)) = 0.24 / (0.4 x 0.3) = 2
    assert co.lift("running", "nutrition") == pytest.approx(2.0)
    assert co.lift("running", "books") == 0.0
    assert co.lift("running", "unknown") is None
    assert co.usable(20) and not co.usable(25)


def test_a_huge_basket_counts_only_its_first_categories() -> None:
    counter = CoPurchaseCounter()
    counter.add([f"c{i:03d}" for i in range(300)])
    co = counter.result()
    assert len(co.categories) == MAX_BASKET_CATEGORIES
    assert len(co.pairs) == MAX_BASKET_CATEGORIES * (MAX_BASKET_CATEGORIES - 1) // 2


@pytest.mark.parametrize(
    ("lift", "value"),
    [(0.0, 0.0), (0.5, 0.0), (1.0, 0.0), (2.0, 0.5), (4.0, 0.75), (5.0, 0.8)],
)
def test_lift_value(lift: float, value: float) -> None:
    assert lift_value(lift) == pytest.approx(value)


def _co(pairs: dict[tuple[str, str], int], singles: dict[str, int], baskets: int) -> CoPurchases:
    counter = CoPurchaseCounter()
    for (a, b), n in pairs.items():
        for _ in range(n):
            counter.add([a, b])
    for category, n in singles.items():
        for _ in range(n):
            counter.add([category])
    while counter.baskets < baskets:
        counter.add([])
    return counter.result()


def test_complementarity_uses_lift_only_above_the_minimum_support() -> None:
    co = _co({("running", "nutrition"): 30, ("running", "books"): 19}, {"running": 10}, 1000)
    assert co.lift("running", "books") > 1
    found = complementarity({"running": 1.0}, {"books": 1.0}, co, same_category=1.0)
    assert found.value == 0.0 and found.strongest is None  # 19 co-purchases < 20
    found = complementarity({"running": 1.0}, {"nutrition": 1.0}, co, same_category=1.0)
    # lift = 30 x 1000 / (59 x 30)
    lift = 30 * 1000 / (59 * 30)
    assert found.value == pytest.approx(1 - 1 / lift)
    assert found.strongest is not None and found.strongest.support == 30
    # Weighted by both mixes; the same category counts `same_category`.
    mixed = complementarity(
        {"running": 0.5, "nutrition": 0.5},
        {"nutrition": 1.0},
        co,
        same_category=1.0,
    )
    assert mixed.value == pytest.approx(0.5 * (1 - 1 / lift) + 0.5 * 1.0)
    competitors = complementarity({"nutrition": 1.0}, {"nutrition": 1.0}, co, same_category=0.0)
    assert competitors.value == 0.0


@pytest.mark.parametrize(
    ("orders", "clicks", "low"),
    [
        (0, 0, 0.0),
        (5, 0, 0.0),  # coupon orders without any click: nothing to judge by
        (0, 100, 0.0),
        (10, 100, 0.0552),  # Wilson 95%: 5.52% .. 17.4%
        (100, 1000, 0.0829),
        (150, 100, 0.9630),  # orders capped at the clicks
    ],
)
def test_conversion_lower_bound(orders: int, clicks: int, low: float) -> None:
    assert conversion_lower_bound(orders, clicks) == pytest.approx(low, abs=1e-4)


def test_more_evidence_at_one_rate_raises_the_lower_bound() -> None:
    assert conversion_lower_bound(1, 10) < conversion_lower_bound(10, 100)
    assert conversion_lower_bound(10, 100) < conversion_lower_bound(1000, 10000)


@pytest.mark.parametrize(
    ("low", "network", "value"),
    [(0.0, 0.02, 0.0), (0.02, 0.02, 0.5), (0.06, 0.02, 0.75), (0.05, 0.0, 0.0)],
)
def test_performance_value(low: float, network: float, value: float) -> None:
    assert performance_value(low, network) == pytest.approx(value)


@pytest.mark.parametrize(("j", "value"), [(0.0, 0.0), (0.02, 0.5), (0.06, 0.75)])
def test_overlap_value(j: float, value: float) -> None:
    assert overlap_value(j) == pytest.approx(value)


@pytest.mark.parametrize(
    ("count", "most", "value"),
    [(0, 10, 0.0), (10, 10, 1.0), (3, 15, 0.5), (5, 0, 0.0)],
)
def test_popularity_value(count: int, most: int, value: float) -> None:
    assert popularity_value(count, most) == pytest.approx(value)


def test_words_and_similarity() -> None:
    assert words("Trail running for the Marathon, 2024!") == {"trail", "running", "marathon"}
    assert words("Кулинария и рецепты") == {"кулинария", "рецепты"}  # any script
    assert text_similarity({"a1", "b1"}, {"a1", "b1"}) == pytest.approx(1.0)
    assert text_similarity({"aa", "bb", "cc", "dd"}, {"aa"}) == pytest.approx(0.5)
    assert text_similarity(set(), {"aa"}) == 0.0
    assert category_agreement({"running"}, {"running", "nutrition"}) == 1.0
    assert category_agreement({"a", "b"}, {"b", "c", "d"}) == 0.5
    assert category_agreement(set(), {"a"}) == 0.0


def test_profile_mix() -> None:
    new = Profile("ptn_a", "A", stated=frozenset({"running", "nutrition"}))
    assert new.mix() == {"running": 0.5, "nutrition": 0.5}
    seller = Profile(
        "ptn_b", "B", stated=frozenset({"running"}), sold={"running": 30, "nutrition": 10}
    )
    assert seller.mix() == pytest.approx({"running": 0.8 * 0.75 + 0.2, "nutrition": 0.8 * 0.25})
    assert math.fsum(seller.mix().values()) == pytest.approx(1.0)
    assert Profile("ptn_c", "C", sold={"books": 3}).mix() == {"books": 1.0}
    assert Profile("ptn_d", "D").mix() == {}


@pytest.mark.parametrize(
    ("ranked", "relevant", "precision", "recall", "ndcg"),
    [
        (["a", "b", "c"], {"a"}, 0.1, 1.0, 1.0),
        (["x", "a"], {"a"}, 0.1, 1.0, 1 / math.log2(3)),
        (["x", "y"], {"a", "b"}, 0.0, 0.0, 0.0),
        (["a", "b"], {"a", "b"}, 0.2, 1.0, 1.0),
        (
            ["b", "x", "a"],
            {"a", "b", "c", "d"},
            0.2,
            0.5,
            (1 + 0.5) / (1 + 1 / math.log2(3) + 0.5 + 1 / math.log2(5)),
        ),
        ([], set(), 0.0, 0.0, 0.0),
    ],
)
def test_ranking_metrics(
    ranked: list[str], relevant: set[str], precision: float, recall: float, ndcg: float
) -> None:
    assert precision_at_k(ranked, relevant, 10) == pytest.approx(precision)
    assert recall_at_k(ranked, relevant, 10) == pytest.approx(recall)
    assert ndcg_at_k(ranked, relevant, 10) == pytest.approx(ndcg)


def test_overlaps_are_summed_over_the_programs_partners() -> None:
    mine = [Neighbour("ptn_b", 0.01, 80), Neighbour("ptn_c", 0.03, 200)]
    hits = overlaps_through_members(
        mine, {"prg_1": {"ptn_b", "ptn_c", "ptn_z"}, "prg_2": {"ptn_b"}, "prg_3": {"ptn_z"}}
    )
    assert hits == {
        "prg_1": OverlapHit(pytest.approx(0.04), 2, 200),
        "prg_2": OverlapHit(0.01, 1, 80),
    }
    anchors = [[Neighbour("ptn_x", 0.02, 60)], [Neighbour("ptn_x", 0.01, 90)], []]
    assert strongest_overlaps(anchors) == {"ptn_x": OverlapHit(pytest.approx(0.03), 2, 90)}


# --- whole lists ---------------------------------------------------------------------------

# 560 baskets: running 100, nutrition 100, both 40 (lift 40 x 560 / 100² = 2.24), books 200.
CO = CoPurchaseCounter()
for _ in range(40):
    CO.add(["running", "nutrition"])
for _ in range(60):
    CO.add(["running"])
    CO.add(["nutrition"])
for _ in range(200):
    CO.add(["books"])
    CO.add([])
NET = Network(CO.result(), network_rate=0.02)


def _partner(pid: str = "ptn_me", **fields: object) -> Profile:
    base: dict[str, object] = {
        "stated": frozenset({"running"}),
        "words": words("trail running marathon"),
        "sold": {"running": 50},
        "approved": 2,
        "orders": 50,
        "valid_clicks": 2000,
    }
    base.update(fields)
    return Profile(pid, pid.upper(), **base)


def test_programs_ranked_with_reasons() -> None:
    programs = [
        Offer("prg_gel", "Gels", "nutrition", words("energy gels"), 5, 30, 1000),
        Offer("prg_book", "Books", "books", words("novels"), 12, 300, 10000),
        Offer("prg_shoe", "Shoes", "running", words("trail shoes"), 10, 40, 1000),
        Offer("prg_joined", "Mine", "running", words("trail"), 10, 40, 1000),
    ]
    overlaps = {"prg_shoe": OverlapHit(0.05, 3, 500)}
    found = recommend_programs(_partner(), programs, NET, overlaps, joined={"prg_joined"}, limit=10)
    assert found.basis is Basis.personal
    assert found.unavailable == {}
    assert [r.id for r in found.items] == ["prg_shoe", "prg_gel", "prg_book"]
    shoe = found.items[0]
    assert {p.name for p in shoe.parts} == set(Component)
    assert shoe.score == pytest.approx(sum(p.contribution for p in shoe.parts))
    assert math.fsum(p.weight for p in shoe.parts) == pytest.approx(1.0)
    by_name = {p.name: p for p in found.items[1].parts}
    assert "2.2x as often as chance (40 co-purchases)" in (
        by_name[Component.category_complementarity].explanation
    )
    assert by_name[Component.audience_overlap].value == 0.0


def test_a_missing_measure_is_left_out_and_the_rest_reweighted() -> None:
    programs = [Offer("prg_1", "One", "running", frozenset(), 1, 0, 0)]
    net = Network(None, network_rate=0.0)
    found = recommend_programs(_partner(), programs, net, None, joined=(), limit=5)
    assert set(found.unavailable) == {
        Component.audience_overlap,
        Component.category_complementarity,
        Component.performance,
    }
    assert set(found.weights) == {Component.stated_fit, Component.popularity}
    assert math.fsum(found.weights.values()) == pytest.approx(1.0)
    assert found.weights[Component.stated_fit] == pytest.approx(0.15 / 0.45)
    assert {p.name for p in found.items[0].parts} == set(found.weights)


def test_complementarity_below_support_everywhere_is_unavailable() -> None:
    counter = CoPurchaseCounter()
    for _ in range(19):
        counter.add(["a", "b"])
    net = Network(counter.result(), 0.02)
    found = recommend_programs(
        _partner(), [Offer("prg_1", "One", "a")], net, {}, joined=(), limit=5
    )
    assert "20 times" in found.unavailable[Component.category_complementarity]


def test_cold_start_falls_back_to_category_popularity() -> None:
    newcomer = Profile("ptn_new", "New", stated=frozenset({"running"}))
    programs = [
        Offer("prg_a", "Popular, other category", "books", frozenset(), 40, 400, 10000),
        Offer("prg_b", "Running, popular", "running", frozenset(), 30, 10, 10000),
        Offer("prg_c", "Running, less popular", "running", frozenset(), 3, 300, 1000),
        Offer("prg_d", "Nobody's", "running", frozenset(), 0, 0, 0),
    ]
    found = recommend_programs(newcomer, programs, NET, None, joined=(), limit=10)
    assert found.basis is Basis.cold_start
    assert found.weights == COLD_START_WEIGHTS
    assert [r.id for r in found.items] == ["prg_b", "prg_c", "prg_a", "prg_d"]


def test_partners_for_a_program_never_lists_its_enrollments() -> None:
    program = Offer("prg_x", "X", "running", words("trail"), 2, 10, 500)
    partners = [_partner("ptn_a"), _partner("ptn_b", stated=frozenset()), _partner("ptn_in")]
    found = recommend_partners(
        program, partners, NET, {"ptn_b": OverlapHit(0.1, 2, 400)}, joined={"ptn_in"}, limit=5
    )
    assert [r.id for r in found.items] == ["ptn_b", "ptn_a"]
    assert found.kind is Kind.partners


def test_co_promotion_never_lists_the_partner_itself() -> None:
    me = _partner("ptn_me")
    others = [
        me,
        _partner("ptn_gel", stated=frozenset({"nutrition"}), sold={"nutrition": 40}),
        _partner("ptn_rival", sold={"running": 40}),
    ]
    found = recommend_co_promotion(me, others, NET, {"ptn_gel": OverlapHit(0.02, 1, 120)}, limit=5)
    assert [r.id for r in found.items] == ["ptn_gel", "ptn_rival"]
    rival = {p.name: p for p in found.items[1].parts}
    assert rival[Component.category_complementarity].value == 0.0  # same category: rivals
    gel = {p.name: p for p in found.items[0].parts}
    assert "about 120 shared visitors" in gel[Component.audience_overlap].explanation


def test_limit_and_ties_by_id() -> None:
    programs = [Offer(f"prg_{i}", "Same", "running") for i in (3, 1, 2)]
    found = recommend_programs(_partner(), programs, NET, {}, joined=(), limit=2)
    assert [r.id for r in found.items] == ["prg_1", "prg_2"]


# --- invariants, by hypothesis -------------------------------------------------------------

unit = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)
components = st.sets(st.sampled_from(list(Component)), min_size=1)


@given(available=components, kind=st.sampled_from(list(Kind)))
def test_effective_weights_sum_to_one(available: set[Component], kind: Kind) -> None:
    weights = effective_weights(WEIGHTS[kind], available)
    assert set(weights) == available
    assert math.fsum(weights.values()) == pytest.approx(1.0, abs=1e-12)
    assert all(w > 0 for w in weights.values())


def test_default_weights_sum_to_one() -> None:
    for weights in (*WEIGHTS.values(), COLD_START_WEIGHTS):
        assert math.fsum(weights.values()) == pytest.approx(1.0, abs=1e-12)


@given(
    values=st.fixed_dictionaries(dict.fromkeys(Component, unit)), kind=st.sampled_from(list(Kind))
)
def test_scores_are_bounded(values: dict[Component, float], kind: Kind) -> None:
    assert 0.0 <= combine(values, WEIGHTS[kind]) <= 1.0


@given(
    values=st.fixed_dictionaries(dict.fromkeys(Component, unit)),
    component=st.sampled_from(list(Component)),
    more=unit,
    available=components,
)
def test_scores_are_monotone_in_every_component(
    values: dict[Component, float], component: Component, more: float, available: set[Component]
) -> None:
    weights = effective_weights(WEIGHTS[Kind.programs], available)
    higher = {**values, component: max(values[component], more)}
    assert combine(higher, weights) >= combine(values, weights)


@given(
    lift=st.floats(min_value=0.0, max_value=1e6),
    more=st.floats(min_value=0.0, max_value=1e6),
    low=unit,
    higher=unit,
    rate=st.floats(min_value=1e-6, max_value=1.0),
    j=unit,
    j2=unit,
    count=st.integers(0, 10_000),
    extra=st.integers(0, 10_000),
)
def test_component_values_are_bounded_and_monotone(
    lift: float,
    more: float,
    low: float,
    higher: float,
    rate: float,
    j: float,
    j2: float,
    count: int,
    extra: int,
) -> None:
    a, b = sorted((lift, more))
    assert 0.0 <= lift_value(a) <= lift_value(b) < 1.0
    a, b = sorted((low, higher))
    assert 0.0 <= performance_value(a, rate) <= performance_value(b, rate) < 1.0
    a, b = sorted((j, j2))
    assert 0.0 <= overlap_value(a) <= overlap_value(b) < 1.0
    most = count + extra
    assert 0.0 <= popularity_value(count, most) <= popularity_value(most, most) <= 1.0


@given(orders=st.integers(0, 10_000), clicks=st.integers(0, 10_000), more=st.integers(0, 100))
def test_wilson_lower_bound_is_a_rate_and_grows_with_orders(
    orders: int, clicks: int, more: int
) -> None:
    low = conversion_lower_bound(orders, clicks)
    assert 0.0 <= low <= 1.0
    if clicks:
        assert low <= min(orders, clicks) / clicks + 1e-12
    assert conversion_lower_bound(orders + more, clicks) >= low


ids = st.text(alphabet="abcdef", min_size=1, max_size=3)
categories = st.sampled_from(["running", "nutrition", "books", "toys"])


@st.composite
def profiles(draw: st.DrawFn, pid: str | None = None) -> Profile:
    return Profile(
        id=pid or "ptn_" + draw(ids),
        name="P",
        stated=frozenset(draw(st.sets(categories, max_size=2))),
        words=frozenset(draw(st.sets(st.sampled_from(["trail", "gels", "novel"]), max_size=2))),
        sold=draw(st.dictionaries(categories, st.integers(0, 50), max_size=3)),
        approved=draw(st.integers(0, 20)),
        orders=draw(st.integers(0, 100)),
        valid_clicks=draw(st.integers(0, 1000)),
    )


@st.composite
def offers(draw: st.DrawFn) -> Offer:
    return Offer(
        id="prg_" + draw(ids),
        name="O",
        category=draw(st.sampled_from(["", "running", "nutrition", "books"])),
        approved=draw(st.integers(0, 20)),
        orders=draw(st.integers(0, 100)),
        valid_clicks=draw(st.integers(0, 1000)),
    )


hits = st.builds(OverlapHit, unit, st.integers(1, 5), st.floats(50, 1e5))


@settings(max_examples=200)
@given(
    partner=profiles(pid="ptn_me"),
    programs=st.lists(offers(), max_size=12, unique_by=lambda o: o.id),
    joined=st.sets(st.sampled_from([f"prg_{c}" for c in "abcdef"])),
    overlaps=st.none() | st.dictionaries(st.sampled_from([f"prg_{c}" for c in "abc"]), hits),
    limit=st.integers(1, 50),
)
def test_programs_never_joined_and_scores_consistent(
    partner: Profile,
    programs: list[Offer],
    joined: set[str],
    overlaps: dict[str, OverlapHit] | None,
    limit: int,
) -> None:
    found = recommend_programs(partner, programs, NET, overlaps, joined=joined, limit=limit)
    ids_found = [r.id for r in found.items]
    assert not set(ids_found) & joined
    assert len(ids_found) == min(limit, len([p for p in programs if p.id not in joined]))
    assert math.fsum(found.weights.values()) == pytest.approx(1.0)
    scores = [r.score for r in found.items]
    assert scores == sorted(scores, reverse=True)
    for r in found.items:
        assert 0.0 <= r.score <= 1.0
        assert r.score == pytest.approx(math.fsum(p.contribution for p in r.parts))
        assert all(0.0 <= p.value <= 1.0 for p in r.parts)


@settings(max_examples=200)
@given(
    me=profiles(pid="ptn_me"),
    others=st.lists(profiles(), max_size=10, unique_by=lambda p: p.id),
    include_me=st.booleans(),
    overlaps=st.none() | st.dictionaries(st.sampled_from(["ptn_a", "ptn_me"]), hits),
)
def test_co_promotion_never_self(
    me: Profile,
    others: list[Profile],
    include_me: bool,
    overlaps: dict[str, OverlapHit] | None,
) -> None:
    pool = [*others, me] if include_me else others
    found = recommend_co_promotion(me, pool, NET, overlaps, limit=50)
    assert "ptn_me" not in [r.id for r in found.items]
    assert all(0.0 <= r.score <= 1.0 for r in found.items)


@settings(max_examples=200)
@given(
    program=offers(),
    partners=st.lists(profiles(), max_size=10, unique_by=lambda p: p.id),
    joined=st.sets(st.sampled_from([f"ptn_{c}" for c in "abcdef"])),
)
def test_partners_never_enrolled(program: Offer, partners: list[Profile], joined: set[str]) -> None:
    found = recommend_partners(program, partners, NET, {}, joined=joined, limit=50)
    assert not {r.id for r in found.items} & joined
    assert all(0.0 <= r.score <= 1.0 for r in found.items)
