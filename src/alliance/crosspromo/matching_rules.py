"""Partner matching: the arithmetic of recommendations, with reasons (pure).

Three questions, one model (docs/matching.md, ADR 0021):

- **programs for a partner**: which open programs should this partner join?
- **partners for a program**: which partners should the program's advertiser invite?
- **co-promotion**: which partners should this partner promote with?

Every candidate gets five components, each a value in [0, 1], and a score that is their
weighted sum (weights sum to 1, so the score is in [0, 1] too):

| component | measured from |
| --- | --- |
| audience_overlap | shared visitors (sketches), as the Jaccard index's lower bound |
| category_complementarity | what one side sells against the other's, by co-purchase lift |
| performance | Wilson lower bound of the conversion rate, against the network's rate |
| stated_fit | stated categories and the words of audience/description texts |
| popularity | approved enrollments (how many partners a program has, or programs a partner) |

A component the network cannot measure yet (no sketches, no co-purchase reaching the
minimum support, no clicks at all) is left out of the whole list and the other weights are
scaled up to sum to 1; the answer names what was left out and why. When the one asking has no
history at all (a new partner, a new program) the list falls back to category popularity:
stated fit and popularity only (`COLD_START_WEIGHTS`).

The service (matching.py) adapts the database to `Profile`, `Offer` and `Network`; the
benchmark (bench/matching.py) builds the same structures from a synthetic network, so both
rank with exactly these functions.
"""

from __future__ import annotations

import enum
import math
import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import combinations

from alliance.crosspromo.variants import wilson_interval


class Component(enum.StrEnum):
    audience_overlap = "audience_overlap"  # shared visitors, Jaccard lower bound
    category_complementarity = "category_complementarity"  # co-purchase lift of categories
    performance = "performance"  # Wilson lower bound of the conversion rate
    stated_fit = "stated_fit"  # stated categories and audience words
    popularity = "popularity"  # approved enrollments


class Kind(enum.StrEnum):
    programs = "programs"  # programs for a partner to join
    partners = "partners"  # partners for a program to invite
    co_promotion = "co_promotion"  # partners for a partner to promote with


class Basis(enum.StrEnum):
    personal = "personal"  # the one asking has history: every measurable component counts
    cold_start = "cold_start"  # no history: category popularity (stated fit and popularity)


# Default weights per list (each sums to 1). Programs and partners share theirs, chosen on a
# tuning network of bench/matching.py (seed 100, never one of the reported seeds), where the
# optimum is flat: nearby weights rank almost as well. Popularity weighs as much as it does
# because joins follow popularity in real networks too; the other components decide among
# the popular and lift the unpopular that fit. For co-promotion, overlap leads: it is
# measured between the two partners themselves, not second-hand through a program's
# partners (no benchmark truth exists for co-promotion: these weights are judgement).
_PROGRAM_WEIGHTS: Mapping[Component, float] = {
    Component.audience_overlap: 0.25,
    Component.category_complementarity: 0.25,
    Component.performance: 0.05,
    Component.stated_fit: 0.15,
    Component.popularity: 0.30,
}
WEIGHTS: Mapping[Kind, Mapping[Component, float]] = {
    Kind.programs: _PROGRAM_WEIGHTS,
    Kind.partners: _PROGRAM_WEIGHTS,
    Kind.co_promotion: {
        Component.audience_overlap: 0.35,
        Component.category_complementarity: 0.25,
        Component.performance: 0.10,
        Component.stated_fit: 0.15,
        Component.popularity: 0.15,
    },
}
COLD_START_WEIGHTS: Mapping[Component, float] = {
    Component.stated_fit: 0.5,
    Component.popularity: 0.5,
}

# A category pair's lift is used only once this many baskets hold both: below it, a lift
# of 5 may be one enthusiastic customer.
MIN_SUPPORT = 20
# The Jaccard lower bound at which the overlap component is 0.5 (0.02: two audiences of
# 1,000 sharing ~40 visitors). Overlaps of partners are small: 0.1 is already large.
OVERLAP_HALF = 0.02
# stated_fit = this share of category agreement + the rest of word similarity.
STATED_CATEGORY_SHARE = 0.7
# When a partner has sold something, its stated categories still weigh this much of its mix.
STATED_MIX_SHARE = 0.2
# A basket with more categories than this counts only its first ones (in sorted order): a
# 300-line order would otherwise add 45,000 pairs.
MAX_BASKET_CATEGORIES = 20
CATEGORY_LENGTH = 64


# --- categories and words ----------------------------------------------------------------


def category_key(text: str) -> str:
    """The form categories are compared in: spaces collapsed, case-folded, at most 64
    characters ("Running  Shoes" and "running shoes" are one category)."""
    return " ".join(text.split()).casefold()[:CATEGORY_LENGTH]


def category_keys(texts: Iterable[str | None]) -> frozenset[str]:
    return frozenset(key for key in (category_key(t) for t in texts if t) if key)


_WORD = re.compile(r"[^\W\d_]{3,}")  # letters only, three or more, any script
# Words too common to say anything about an audience (the same regex splits them).
_STOP_WORDS = frozenset(
    _WORD.findall(
        "the and for with from our your you are that this who all about into their they "
        "them more most over than very will can has have not but its"
    )
)


def words(text: str) -> frozenset[str]:
    """The content words of a text, case-folded (what audience similarity compares)."""
    return frozenset(w for w in _WORD.findall(text.casefold()) if w not in _STOP_WORDS)


def text_similarity(a: Collection[str], b: Collection[str]) -> float:
    """Cosine similarity of two word sets, in [0, 1]: |a ∩ b| / sqrt(|a| |b|)."""
    if not a or not b:
        return 0.0
    shared = len(set(a) & set(b))
    return min(1.0, shared / math.sqrt(len(a) * len(b)))


def category_agreement(a: Collection[str], b: Collection[str]) -> float:
    """|a ∩ b| / min(|a|, |b|) in [0, 1]: 1 when a program's one category is among a
    partner's, or when one partner's categories are all among another's."""
    if not a or not b:
        return 0.0
    return len(set(a) & set(b)) / min(len(a), len(b))


def stated_fit_value(agreement: float, similarity: float) -> float:
    return STATED_CATEGORY_SHARE * agreement + (1 - STATED_CATEGORY_SHARE) * similarity


# --- co-purchase lift ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CoPurchases:
    """How often categories are bought together: per category the baskets holding it, per
    pair (the two keys sorted) the baskets holding both, and the number of baskets."""

    baskets: int
    categories: Mapping[str, int]
    pairs: Mapping[tuple[str, str], int]

    def together(self, a: str, b: str) -> int:
        return self.pairs.get((a, b) if a < b else (b, a), 0)

    def lift(self, a: str, b: str) -> float | None:
        """P(a ∧ b) / (P(a) P(b)); None when either category was never bought."""
        na, nb = self.categories.get(a, 0), self.categories.get(b, 0)
        if not na or not nb or not self.baskets:
            return None
        return self.together(a, b) * self.baskets / (na * nb)

    def usable(self, min_support: int = MIN_SUPPORT) -> bool:
        """Some pair reaches the minimum support: the component can say something."""
        return any(n >= min_support for n in self.pairs.values())


class CoPurchaseCounter:
    """Counts baskets one at a time (memory: one entry per category and per pair seen)."""

    def __init__(self) -> None:
        self.baskets = 0
        self.categories: Counter[str] = Counter()
        self.pairs: Counter[tuple[str, str]] = Counter()

    def add(self, categories: Iterable[str]) -> None:
        """One basket: the category keys of everything one customer bought (duplicates and
        empty keys ignored). A basket without a category still counts as a basket."""
        kept = sorted({c for c in categories if c})[:MAX_BASKET_CATEGORIES]
        self.baskets += 1
        self.categories.update(kept)
        self.pairs.update(combinations(kept, 2))  # sorted input: every pair is (low, high)

    def result(self) -> CoPurchases:
        return CoPurchases(self.baskets, dict(self.categories), dict(self.pairs))


@dataclass(frozen=True, slots=True)
class PairLift:
    """Why two categories go together: their lift and how many baskets it rests on."""

    category: str  # the partner's side
    other: str  # the candidate's side
    lift: float | None  # None when not used (too few co-purchases, or the same category)
    support: int


def lift_value(lift: float) -> float:
    """A lift as a value in [0, 1): 0 at or below independence (lift <= 1), 0.5 at twice as
    often as chance, 0.8 at five times."""
    return max(0.0, 1.0 - 1.0 / lift) if lift > 0 else 0.0


def pair_value(
    co: CoPurchases, a: str, b: str, *, same_category: float, min_support: int
) -> tuple[float, PairLift]:
    if a == b:
        return same_category, PairLift(a, b, None, co.categories.get(a, 0))
    support = co.together(a, b)
    lift = co.lift(a, b) if support >= min_support else None
    return (lift_value(lift) if lift is not None else 0.0), PairLift(a, b, lift, support)


@dataclass(frozen=True, slots=True)
class Complementarity:
    value: float
    strongest: PairLift | None  # the pair that contributed most (None: nothing contributed)


def complementarity(
    mix: Mapping[str, float],
    other_mix: Mapping[str, float],
    co: CoPurchases,
    *,
    same_category: float,
    min_support: int = MIN_SUPPORT,
    memo: dict[tuple[str, str], tuple[float, PairLift]] | None = None,
) -> Complementarity:
    """Σ mix(a) other_mix(b) value(a, b) over category pairs: how much of what one side sells
    goes with what the other sells. value(a, b) is `lift_value` of their lift when at least
    `min_support` baskets hold both (0 below it), and `same_category` when a == b (1 for a
    program of a category the partner already sells; 0 between co-promotion partners, where
    the same category is competition rather than complement). Both mixes sum to 1 (or are
    empty), so the value is in [0, 1]. `memo` keeps pair values across calls of one list
    (pass the same dict only with the same `co`, `same_category` and `min_support`)."""
    total = 0.0
    best: tuple[float, PairLift] | None = None
    for a, share in mix.items():
        for b, other_share in other_mix.items():
            known = memo.get((a, b)) if memo is not None else None
            if known is None:
                known = pair_value(co, a, b, same_category=same_category, min_support=min_support)
                if memo is not None:
                    memo[(a, b)] = known
            value, why = known
            part = share * other_share * value
            total += part
            if part > 0 and (best is None or part > best[0]):
                best = (part, why)
    return Complementarity(min(1.0, total), best[1] if best else None)


# --- performance, overlap, popularity -----------------------------------------------------


def conversion_lower_bound(orders: int, valid_clicks: int) -> float:
    """The Wilson 95% lower bound of orders / valid clicks (0 without clicks). Orders found
    by coupon alone have no click, so orders are capped at the clicks."""
    if valid_clicks <= 0:
        return 0.0
    return wilson_interval(min(max(orders, 0), valid_clicks), valid_clicks).low


def performance_value(lower_bound: float, network_rate: float) -> float:
    """lower / (lower + network rate): 0 with no evidence of conversions, 0.5 when the
    pessimistic rate equals the network's pooled rate, towards 1 above it."""
    if network_rate <= 0 or lower_bound <= 0:
        return 0.0
    return lower_bound / (lower_bound + network_rate)


def overlap_value(jaccard_low: float) -> float:
    """j / (j + OVERLAP_HALF) of the Jaccard index's lower bound: 0 without overlap."""
    return jaccard_low / (jaccard_low + OVERLAP_HALF) if jaccard_low > 0 else 0.0


def popularity_value(count: int, most: int) -> float:
    """log(1 + count) / log(1 + most): the tenth partner counts less than the first."""
    if most <= 0 or count <= 0:
        return 0.0
    return min(1.0, math.log1p(count) / math.log1p(most))


# --- the facts matching works on ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Profile:
    """A partner as matching sees it."""

    id: str
    name: str
    stated: frozenset[str] = frozenset()  # category keys the partner states
    words: frozenset[str] = frozenset()  # of its audience text and categories
    sold: Mapping[str, int] = field(default_factory=dict)  # category key -> orders
    approved: int = 0  # approved enrollments
    orders: int = 0  # orders (not declined) in the performance window
    valid_clicks: int = 0  # in the performance window

    @property
    def has_history(self) -> bool:
        return bool(self.sold or self.approved or self.orders or self.valid_clicks)

    def mix(self) -> dict[str, float]:
        """What the partner sells, as shares summing to 1: its orders' categories, with its
        stated categories weighing STATED_MIX_SHARE (all of it before its first order)."""
        sold_total = sum(n for n in self.sold.values() if n > 0)
        mix: dict[str, float] = {}
        stated_share = STATED_MIX_SHARE if sold_total else 1.0
        if sold_total:
            sold_share = 1.0 if not self.stated else 1.0 - STATED_MIX_SHARE
            for category, n in self.sold.items():
                if n > 0:
                    mix[category] = mix.get(category, 0.0) + sold_share * n / sold_total
        if self.stated:
            for category in self.stated:
                mix[category] = mix.get(category, 0.0) + stated_share / len(self.stated)
        return mix


@dataclass(frozen=True, slots=True)
class Offer:
    """A program as matching sees it."""

    id: str
    name: str
    category: str = ""  # category key ("" = none)
    words: frozenset[str] = frozenset()  # of its name, description and category
    approved: int = 0  # approved partners
    orders: int = 0  # orders (not declined) in the performance window, every partner
    valid_clicks: int = 0

    @property
    def has_history(self) -> bool:
        return bool(self.approved or self.orders or self.valid_clicks)

    def mix(self) -> dict[str, float]:
        return {self.category: 1.0} if self.category else {}


@dataclass(frozen=True, slots=True)
class OverlapHit:
    """The strongest audience overlap behind a candidate: the Jaccard lower bound and how
    many partners it was measured against (for programs: its approved partners)."""

    jaccard_low: float
    partners: int = 1
    shared: float = 0.0  # estimated shared visitors of the strongest pair


@dataclass(frozen=True, slots=True)
class Network:
    """Network-wide facts: co-purchases (None: never computed) and the pooled conversion rate
    of the performance window (0: no valid clicks, performance cannot be judged)."""

    co_purchases: CoPurchases | None
    network_rate: float
    min_support: int = MIN_SUPPORT


# --- scoring -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Part:
    """One component of one candidate's score."""

    name: Component
    value: float  # in [0, 1]
    weight: float
    explanation: str

    @property
    def contribution(self) -> float:
        return self.value * self.weight


@dataclass(frozen=True, slots=True)
class Recommendation:
    id: str
    name: str
    score: float
    parts: tuple[Part, ...]


@dataclass(frozen=True, slots=True)
class Recommendations:
    kind: Kind
    basis: Basis
    weights: Mapping[Component, float]  # the weights used (sum 1)
    unavailable: Mapping[Component, str]  # left out, with the reason
    items: tuple[Recommendation, ...]


def effective_weights(
    weights: Mapping[Component, float], available: Collection[Component]
) -> dict[Component, float]:
    """The weights of the available components, scaled to sum to 1 (in component order)."""
    kept = {c: w for c, w in weights.items() if c in available and w > 0}
    total = sum(kept.values())
    if total <= 0:
        raise ValueError("no available component has a weight")
    return {c: w / total for c, w in kept.items()}


def combine(values: Mapping[Component, float], weights: Mapping[Component, float]) -> float:
    """Σ weight x value over the weighted components, clamped to [0, 1] against rounding."""
    return min(1.0, max(0.0, sum(w * values.get(c, 0.0) for c, w in weights.items())))


def top(items: Iterable[Recommendation], limit: int) -> tuple[Recommendation, ...]:
    """The `limit` best, highest score first; ties by id, so the order is stable."""
    return tuple(sorted(items, key=lambda r: (-r.score, r.id))[:limit])


@dataclass(frozen=True, slots=True)
class _Plan:
    basis: Basis
    weights: dict[Component, float]
    unavailable: dict[Component, str]


def _plan(
    kind: Kind,
    net: Network,
    *,
    cold: bool,
    overlap_known: bool,
    overlap_reason: str,
    weights: Mapping[Component, float] | None,
) -> _Plan:
    if cold:
        return _Plan(Basis.cold_start, dict(COLD_START_WEIGHTS), {})
    unavailable: dict[Component, str] = {}
    if not overlap_known:
        unavailable[Component.audience_overlap] = overlap_reason
    if net.co_purchases is None:
        unavailable[Component.category_complementarity] = "co-purchases not computed yet"
    elif not net.co_purchases.usable(net.min_support):
        unavailable[Component.category_complementarity] = (
            f"no two categories were bought together {net.min_support} times yet"
        )
    if net.network_rate <= 0:
        unavailable[Component.performance] = "no valid clicks in the network yet"
    chosen = weights or WEIGHTS[kind]
    available = [c for c in Component if c not in unavailable]
    return _Plan(Basis.personal, effective_weights(chosen, available), unavailable)


def _percent(rate: float) -> str:
    return f"{rate * 100:.2f}%"


def _pair_text(why: PairLift | None, seller: str) -> str:
    """`seller`: the subject and verb, "the partner sells" or "you sell"."""
    if why is None:
        return "no category sold on one side is bought with the other's often enough"
    if why.lift is None:
        return f"{seller} {why.category} already"
    return (
        f"{seller} {why.category}; customers who buy it buy {why.other} "
        f"{why.lift:.1f}x as often as chance ({why.support} co-purchases)"
    )


def _complementarity_part(
    mix: Mapping[str, float],
    other_mix: Mapping[str, float],
    net: Network,
    weight: float,
    *,
    same_category: float,
    seller: str,
    memo: dict[tuple[str, str], tuple[float, PairLift]],
) -> Part:
    co = net.co_purchases
    assert co is not None  # only called when the component is available
    found = complementarity(
        mix, other_mix, co, same_category=same_category, min_support=net.min_support, memo=memo
    )
    if not mix or not other_mix:
        text = "no category known on one side"
    else:
        text = _pair_text(found.strongest, seller)
    return Part(Component.category_complementarity, found.value, weight, text)


def _performance_part(
    orders: int, valid_clicks: int, net: Network, weight: float, *, of_partner: bool
) -> Part:
    """`of_partner`: the candidate is a partner, whose rates are its own business: the
    explanation compares with the network in words. A program's rates are what the
    marketplace shows every partner anyway: in numbers."""
    low = conversion_lower_bound(orders, valid_clicks)
    value = performance_value(low, net.network_rate)
    if valid_clicks <= 0:
        text = "no valid clicks yet"
    elif of_partner:
        text = (
            "converts at least as well as the network (95% Wilson lower bound)"
            if low >= net.network_rate
            else "no evidence yet of converting as well as the network (95% Wilson lower bound)"
        )
    else:
        text = (
            f"conversion rate at least {_percent(low)} (95% Wilson lower bound) "
            f"against the network's {_percent(net.network_rate)}"
        )
    return Part(Component.performance, value, weight, text)


def _stated_part(
    mine: Collection[str],
    theirs: Collection[str],
    my_words: Collection[str],
    their_words: Collection[str],
    weight: float,
    text: str,
) -> Part:
    agreement = category_agreement(mine, theirs)
    similarity = text_similarity(my_words, their_words)
    shared = sorted(set(mine) & set(theirs))
    said = f"{text}: {', '.join(shared)}" if shared else f"no {text}"
    said += f"; audience words alike {similarity:.2f}"
    return Part(Component.stated_fit, stated_fit_value(agreement, similarity), weight, said)


def _build(
    candidate_id: str,
    name: str,
    plan: _Plan,
    parts: Sequence[Part],
) -> Recommendation:
    kept = tuple(p for p in parts if p.name in plan.weights)
    score = combine({p.name: p.value for p in kept}, plan.weights)
    return Recommendation(candidate_id, name, score, kept)


def _weighted(plan: _Plan, component: Component) -> float:
    return plan.weights.get(component, 0.0)


def recommend_programs(
    partner: Profile,
    programs: Iterable[Offer],
    net: Network,
    overlaps: Mapping[str, OverlapHit] | None,
    *,
    joined: Collection[str],
    limit: int,
    weights: Mapping[Component, float] | None = None,
) -> Recommendations:
    """Programs for `partner`, never one in `joined`. `overlaps` (program id -> the
    partner's strongest overlap with the program's approved partners) is None when the
    partner's audience is not measured."""
    offers = [p for p in programs if p.id not in joined]
    plan = _plan(
        Kind.programs,
        net,
        cold=not partner.has_history,
        overlap_known=overlaps is not None,
        overlap_reason="no audience sketch of the partner yet",
        weights=weights,
    )
    most = max((p.approved for p in offers), default=0)
    mix = partner.mix()
    memo: dict[tuple[str, str], tuple[float, PairLift]] = {}
    found = []
    for offer in offers:
        parts: list[Part] = []
        if Component.audience_overlap in plan.weights and overlaps is not None:
            hit = overlaps.get(offer.id)
            parts.append(_program_overlap_part(hit, _weighted(plan, Component.audience_overlap)))
        if Component.category_complementarity in plan.weights:
            parts.append(
                _complementarity_part(
                    mix,
                    offer.mix(),
                    net,
                    _weighted(plan, Component.category_complementarity),
                    same_category=1.0,
                    seller="the partner sells",
                    memo=memo,
                )
            )
        if Component.performance in plan.weights:
            parts.append(
                _performance_part(
                    offer.orders,
                    offer.valid_clicks,
                    net,
                    _weighted(plan, Component.performance),
                    of_partner=False,
                )
            )
        parts.append(
            _stated_part(
                partner.stated,
                offer.mix().keys(),
                partner.words,
                offer.words,
                _weighted(plan, Component.stated_fit),
                "stated category of the program",
            )
        )
        parts.append(
            Part(
                Component.popularity,
                popularity_value(offer.approved, most),
                _weighted(plan, Component.popularity),
                f"approved partners: {offer.approved} (most among these programs: {most})",
            )
        )
        found.append(_build(offer.id, offer.name, plan, parts))
    return Recommendations(
        Kind.programs, plan.basis, plan.weights, plan.unavailable, top(found, limit)
    )


def _program_overlap_part(hit: OverlapHit | None, weight: float) -> Part:
    if hit is None or hit.jaccard_low <= 0:
        text = "no audience overlap of 50 visitors or more with the program's partners"
        return Part(Component.audience_overlap, 0.0, weight, text)
    text = (
        f"audience shared with {hit.partners} of the program's approved partners "
        "(overlaps of 50 visitors or more)"
    )
    return Part(Component.audience_overlap, overlap_value(hit.jaccard_low), weight, text)


def recommend_partners(
    program: Offer,
    partners: Iterable[Profile],
    net: Network,
    overlaps: Mapping[str, OverlapHit] | None,
    *,
    joined: Collection[str],
    limit: int,
    weights: Mapping[Component, float] | None = None,
) -> Recommendations:
    """Partners for `program`, never one in `joined` (its enrollments). `overlaps` (partner
    id -> its strongest overlap with the program's approved partners) is None when none of
    them has a measured audience."""
    candidates = [p for p in partners if p.id not in joined]
    plan = _plan(
        Kind.partners,
        net,
        cold=not program.has_history,
        overlap_known=overlaps is not None,
        overlap_reason="no audience sketch of the program's partners yet",
        weights=weights,
    )
    most = max((p.approved for p in candidates), default=0)
    target = program.mix()
    memo: dict[tuple[str, str], tuple[float, PairLift]] = {}
    found = []
    for partner in candidates:
        parts: list[Part] = []
        if Component.audience_overlap in plan.weights and overlaps is not None:
            hit = overlaps.get(partner.id)
            parts.append(_program_overlap_part(hit, _weighted(plan, Component.audience_overlap)))
        if Component.category_complementarity in plan.weights:
            parts.append(
                _complementarity_part(
                    partner.mix(),
                    target,
                    net,
                    _weighted(plan, Component.category_complementarity),
                    same_category=1.0,
                    seller="the partner sells",
                    memo=memo,
                )
            )
        if Component.performance in plan.weights:
            parts.append(
                _performance_part(
                    partner.orders,
                    partner.valid_clicks,
                    net,
                    _weighted(plan, Component.performance),
                    of_partner=True,
                )
            )
        parts.append(
            _stated_part(
                partner.stated,
                target.keys(),
                partner.words,
                program.words,
                _weighted(plan, Component.stated_fit),
                "stated category of the program",
            )
        )
        parts.append(
            Part(
                Component.popularity,
                popularity_value(partner.approved, most),
                _weighted(plan, Component.popularity),
                f"approved in programs: {partner.approved} (most among these partners: {most})",
            )
        )
        found.append(_build(partner.id, partner.name, plan, parts))
    return Recommendations(
        Kind.partners, plan.basis, plan.weights, plan.unavailable, top(found, limit)
    )


def recommend_co_promotion(
    partner: Profile,
    partners: Iterable[Profile],
    net: Network,
    overlaps: Mapping[str, OverlapHit] | None,
    *,
    limit: int,
    exclude: Collection[str] = (),
    weights: Mapping[Component, float] | None = None,
) -> Recommendations:
    """Partners for `partner` to promote with: never itself, nor one in `exclude`.
    `overlaps` (partner id -> the measured overlap of the two audiences) is None when the
    partner's audience is not measured."""
    candidates = [p for p in partners if p.id != partner.id and p.id not in exclude]
    plan = _plan(
        Kind.co_promotion,
        net,
        cold=not partner.has_history,
        overlap_known=overlaps is not None,
        overlap_reason="no audience sketch of the partner yet",
        weights=weights,
    )
    most = max((p.approved for p in candidates), default=0)
    mix = partner.mix()
    memo: dict[tuple[str, str], tuple[float, PairLift]] = {}
    found = []
    for other in candidates:
        parts: list[Part] = []
        if Component.audience_overlap in plan.weights and overlaps is not None:
            parts.append(
                _pair_overlap_part(
                    overlaps.get(other.id), _weighted(plan, Component.audience_overlap)
                )
            )
        if Component.category_complementarity in plan.weights:
            parts.append(
                _complementarity_part(
                    mix,
                    other.mix(),
                    net,
                    _weighted(plan, Component.category_complementarity),
                    same_category=0.0,
                    seller="you sell",
                    memo=memo,
                )
            )
        if Component.performance in plan.weights:
            parts.append(
                _performance_part(
                    other.orders,
                    other.valid_clicks,
                    net,
                    _weighted(plan, Component.performance),
                    of_partner=True,
                )
            )
        parts.append(
            _stated_part(
                partner.stated,
                other.stated,
                partner.words,
                other.words,
                _weighted(plan, Component.stated_fit),
                "stated categories in common",
            )
        )
        parts.append(
            Part(
                Component.popularity,
                popularity_value(other.approved, most),
                _weighted(plan, Component.popularity),
                f"approved in programs: {other.approved} (most among these partners: {most})",
            )
        )
        found.append(_build(other.id, other.name, plan, parts))
    return Recommendations(
        Kind.co_promotion, plan.basis, plan.weights, plan.unavailable, top(found, limit)
    )


def _pair_overlap_part(hit: OverlapHit | None, weight: float) -> Part:
    if hit is None or hit.jaccard_low <= 0:
        return Part(Component.audience_overlap, 0.0, weight, "fewer than 50 shared visitors")
    text = (
        f"about {round(hit.shared):,} shared visitors, Jaccard index at least "
        f"{hit.jaccard_low:.4f} (95% lower bound)"
    )
    return Part(Component.audience_overlap, overlap_value(hit.jaccard_low), weight, text)


# --- ranking quality (the benchmark) --------------------------------------------------------


def precision_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the first k recommendations that are relevant (k in the denominator, as
    usual, even when fewer were recommended)."""
    if k <= 0:
        raise ValueError("k must be positive")
    return sum(1 for item in ranked[:k] if item in relevant) / k


def recall_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Share of the relevant items found in the first k (0 when nothing is relevant)."""
    if not relevant:
        return 0.0
    return sum(1 for item in ranked[:k] if item in relevant) / len(relevant)


def ndcg_at_k(ranked: Sequence[str], relevant: Collection[str], k: int) -> float:
    """Normalised discounted cumulative gain with binary relevance: Σ 1/log2(rank + 1) over
    the relevant items of the first k, over the same sum for a perfect ranking."""
    if not relevant:
        return 0.0
    gain = sum(1 / math.log2(i + 2) for i, item in enumerate(ranked[:k]) if item in relevant)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(k, len(relevant))))
    return gain / ideal


# --- audience overlap, gathered per candidate ------------------------------------------------


@dataclass(frozen=True, slots=True)
class Neighbour:
    """One measured overlap of two partners' audiences (50 shared visitors or more)."""

    partner_id: str
    jaccard_low: float
    shared: float


def overlaps_through_members(
    neighbours: Iterable[Neighbour], members: Mapping[str, Collection[str]]
) -> dict[str, OverlapHit]:
    """Program id -> a partner's overlap with the program's approved partners (`members`:
    program id -> partner ids): the Jaccard lower bounds summed over those it shares an
    audience with, so that a program whose partners are many of the partner's neighbours
    ranks above one with a single neighbour (user-based collaborative filtering, with the
    overlap as the similarity)."""
    by_partner = {n.partner_id: n for n in neighbours}
    hits: dict[str, OverlapHit] = {}
    for program_id, partner_ids in members.items():
        found = [by_partner[p] for p in partner_ids if p in by_partner]
        if found:
            strongest = max(n.shared for n in found)
            hits[program_id] = OverlapHit(sum(n.jaccard_low for n in found), len(found), strongest)
    return hits


def strongest_overlaps(per_anchor: Iterable[Iterable[Neighbour]]) -> dict[str, OverlapHit]:
    """Candidate id -> its overlap with the anchors (the program's partners): the Jaccard
    lower bounds summed over the anchors it shares an audience with, as in
    `overlaps_through_members`. `per_anchor`: each anchor's neighbours."""
    total: dict[str, float] = defaultdict(float)
    count: Counter[str] = Counter()
    strongest: dict[str, float] = {}
    for neighbours in per_anchor:
        for n in neighbours:
            total[n.partner_id] += n.jaccard_low
            count[n.partner_id] += 1
            strongest[n.partner_id] = max(strongest.get(n.partner_id, 0.0), n.shared)
    return {pid: OverlapHit(total[pid], count[pid], strongest[pid]) for pid in total}
