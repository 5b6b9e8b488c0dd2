"""Benchmark partner matching on a generated network with planted structure.

    .venv/bin/python bench/matching.py [--seeds 5] [--partners 1000] [--programs 200]

The network (one per seed):

- 16 categories in 8 complementary pairs (a and a^1): a customer buying in one category adds
  a line of its complement in 30% of orders and of a random category in 10%.
- 8 latent partner segments. A segment likes one primary category (affinity 1), its
  complement (0.6), a third category (0.3) and the rest hardly (0.03). Partners do not
  reveal their segment: they state categories, noisily (primary 70%, complement 40%, a wrong
  one 25%, nothing at all 20%), and write an audience text with some category words.
- Programs: a category each, a popularity (log-normal, sigma 1: a few programs are very
  popular) and a conversion rate (2% x log-normal, sigma 0.5).
- Joins: each partner joins 3 + Poisson(5) programs, drawn without replacement with
  probability ∝ affinity(segment, category) x popularity x sqrt(rate / mean rate).
  30% of each partner's joins (at least one) are held out as its *future joins*; 10% of the
  partners are new, all their joins held out (cold starts).
- Traffic of the known joins: clicks ~ Poisson(150 x activity), visitors drawn half from a
  pool per (segment, program) of 600 and half private, so partners of one segment share
  visitors only inside the programs they both promote (visitor cookies are per program);
  orders ~ Binomial(clicks, rate x fit); each order is a basket of categories as above.

Every model sees only what the service sees: enrollments (known joins), stated categories
and texts, the orders' categories per partner, co-purchase counts, valid clicks and orders
per program and partner, and audience overlaps of 50 visitors or more. Overlaps are the exact
Jaccard index of the visitor sets: audiences this small (< 4,096 visitors) are held whole by
the service's sketches, so their estimates are exact too (bench/overlap.py measures the
sketches on large audiences). The rankings come from `matching_rules.recommend_programs` and
`recommend_partners`, the functions the API calls.

Printed: precision@10, recall@10 and NDCG@10 of the model against popularity (most joined
first) and random baselines, for programs-for-partners (partners with known joins), cold
starts (new partners), and partners-for-programs; mean over seeds, with the spread, and the
ratio of NDCG@10 to popularity's (of the means, and on the seed where it is lowest).
About 15 s per seed on one core.
"""

from __future__ import annotations

import argparse
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.crosspromo.matching_rules import (  # noqa: E402
    CoPurchaseCounter,
    Neighbour,
    Network,
    Offer,
    Profile,
    category_keys,
    ndcg_at_k,
    overlaps_through_members,
    precision_at_k,
    recall_at_k,
    recommend_partners,
    recommend_programs,
    strongest_overlaps,
    words,
)

K = 10
CATEGORIES = (
    ("running", "marathon trail sneakers pace"),
    ("nutrition", "protein energy gels recovery"),
    ("cooking", "recipes kitchen baking chef"),
    ("cookware", "pans knives ovenware skillet"),
    ("travel", "flights backpacking destinations itinerary"),
    ("luggage", "suitcases carryon packing bags"),
    ("gaming", "consoles esports controllers streaming"),
    ("electronics", "headphones gadgets chargers laptops"),
    ("gardening", "plants seeds compost greenhouse"),
    ("tools", "drills workshop hardware saws"),
    ("beauty", "skincare makeup serum fragrance"),
    ("fashion", "dresses outfits denim boutique"),
    ("parenting", "toddlers strollers nursery babies"),
    ("toys", "puzzles lego plush games"),
    ("pets", "dogs puppies cats grooming"),
    ("petfood", "kibble treats feeding raw"),
)
NOISE = tuple(
    re.findall(
        r"\w+",
        "daily weekly review guide best deals tips honest blog community lifestyle modern "
        "budget premium family home online shop local style simple smart easy",
    )
)
SEGMENTS = 8
POOL = 600  # visitors per (segment, program) pool
HELD_OUT = 0.3
NEW_PARTNERS = 0.1


@dataclass
class Truth:
    """The generated network: what the models see, and the held-out future joins."""

    profiles: dict[str, Profile]
    offers: dict[str, Offer]
    joined: dict[str, set[str]]  # partner -> known programs
    members: dict[str, set[str]]  # program -> known partners
    future: dict[str, set[str]]  # partner -> held-out programs
    new_partners: set[str]
    neighbours: dict[str, list[Neighbour]]
    net: Network


@dataclass
class _Partner:
    id: str
    segment: int
    activity: float
    stated: list[str]
    text: str
    joins: list[str] = field(default_factory=list)


def _segments(rng: random.Random) -> list[dict[int, float]]:
    """Affinity of each segment for each category index."""
    primaries = rng.sample(range(len(CATEGORIES)), SEGMENTS)
    found = []
    for primary in primaries:
        affinity = dict.fromkeys(range(len(CATEGORIES)), 0.03)
        affinity[primary] = 1.0
        affinity[primary ^ 1] = 0.6
        third = rng.choice([c for c in range(len(CATEGORIES)) if c not in (primary, primary ^ 1)])
        affinity[third] = 0.3
        found.append(affinity)
    return found


def _text(rng: random.Random, chosen: Sequence[tuple[int, float]], noise: int) -> str:
    said = []
    for category, chance in chosen:
        if rng.random() < chance:
            said += rng.sample(CATEGORIES[category][1].split(), 2)
    said += rng.sample(NOISE, noise)
    rng.shuffle(said)
    return " ".join(said)


def _weighted_sample(rng: random.Random, weights: dict[str, float], n: int) -> list[str]:
    """n distinct keys, each drawn with probability ∝ its weight among those left
    (Efraimidis-Spirakis: the n largest u^(1/w))."""
    keyed = sorted(weights, key=lambda k: rng.random() ** (1 / weights[k]), reverse=True)
    return keyed[:n]


def generate(seed: int, n_partners: int, n_programs: int) -> Truth:
    rng = random.Random(seed)
    affinity = _segments(rng)
    primary_of = [max(a, key=lambda c: a[c]) for a in affinity]

    program_category: dict[str, int] = {}
    popularity: dict[str, float] = {}
    rate: dict[str, float] = {}
    texts: dict[str, str] = {}
    for i in range(n_programs):
        pid = f"prg{i:04d}"
        program_category[pid] = rng.randrange(len(CATEGORIES))
        popularity[pid] = rng.lognormvariate(0, 1.0)
        rate[pid] = 0.02 * rng.lognormvariate(0, 0.5)
        texts[pid] = _text(rng, [(program_category[pid], 1.0)], 3)
    mean_rate = statistics.fmean(rate.values())

    partners: list[_Partner] = []
    for i in range(n_partners):
        segment = rng.randrange(SEGMENTS)
        primary = primary_of[segment]
        stated: list[str] = []
        if rng.random() >= 0.2:
            if rng.random() < 0.7:
                stated.append(CATEGORIES[primary][0])
            if rng.random() < 0.4:
                stated.append(CATEGORIES[primary ^ 1][0])
            if rng.random() < 0.25:
                stated.append(CATEGORIES[rng.randrange(len(CATEGORIES))][0])
        text = _text(rng, [(primary, 0.6), (primary ^ 1, 0.3)], 3)
        partners.append(_Partner(f"ptn{i:05d}", segment, rng.lognormvariate(0, 0.8), stated, text))

    for p in partners:
        weights = {
            pid: affinity[p.segment][program_category[pid]]
            * popularity[pid]
            * math.sqrt(rate[pid] / mean_rate)
            for pid in program_category
        }
        n = min(3 + _poisson(rng, 5), n_programs // 2)
        p.joins = _weighted_sample(rng, weights, n)

    new_partners = {p.id for p in rng.sample(partners, round(NEW_PARTNERS * n_partners))}
    joined: dict[str, set[str]] = {}
    future: dict[str, set[str]] = {}
    for p in partners:
        if p.id in new_partners:
            joined[p.id], future[p.id] = set(), set(p.joins)
            continue
        held = max(1, round(HELD_OUT * len(p.joins)))
        joined[p.id], future[p.id] = set(p.joins[:-held]), set(p.joins[-held:])
    members: dict[str, set[str]] = defaultdict(set)
    for partner_id, programs in joined.items():
        for pid in programs:
            members[pid].add(partner_id)

    # Traffic, orders and baskets of the known joins.
    co = CoPurchaseCounter()
    sold: dict[str, Counter[str]] = defaultdict(Counter)
    visitors: dict[str, set[int]] = defaultdict(set)
    program_clicks: Counter[str] = Counter()
    program_orders: Counter[str] = Counter()
    partner_clicks: Counter[str] = Counter()
    partner_orders: Counter[str] = Counter()
    private = 10**9
    program_index = {pid: i for i, pid in enumerate(program_category)}
    for p in partners:
        for pid in sorted(joined[p.id]):  # sorted: set order varies by process
            clicks = _poisson(rng, 150 * p.activity)
            pool_base = (p.segment * n_programs + program_index[pid]) * POOL
            for _ in range(clicks):
                if rng.random() < 0.5:
                    visitors[p.id].add(pool_base + rng.randrange(POOL))
                else:
                    private += 1
                    visitors[p.id].add(-private)  # negative: nobody else's
            category = program_category[pid]
            fit = 0.5 + affinity[p.segment][category]
            orders = sum(1 for _ in range(clicks) if rng.random() < rate[pid] * fit)
            for _ in range(orders):
                basket = {CATEGORIES[category][0]}
                if rng.random() < 0.3:
                    basket.add(CATEGORIES[category ^ 1][0])
                if rng.random() < 0.1:
                    basket.add(CATEGORIES[rng.randrange(len(CATEGORIES))][0])
                co.add(basket)
                sold[p.id].update(basket)
            program_clicks[pid] += clicks
            program_orders[pid] += orders
            partner_clicks[p.id] += clicks
            partner_orders[p.id] += orders

    neighbours = _neighbours(visitors)
    total_clicks = sum(program_clicks.values())
    net = Network(co.result(), sum(program_orders.values()) / total_clicks if total_clicks else 0)
    profiles = {
        p.id: Profile(
            id=p.id,
            name=p.id,
            stated=category_keys(p.stated),
            words=words(p.text + " " + " ".join(p.stated)),
            sold=dict(sold[p.id]),
            approved=len(joined[p.id]),
            orders=partner_orders[p.id],
            valid_clicks=partner_clicks[p.id],
        )
        for p in partners
    }
    offers = {
        pid: Offer(
            id=pid,
            name=pid,
            category=CATEGORIES[category][0],
            words=words(texts[pid] + " " + CATEGORIES[category][0]),
            approved=len(members[pid]),
            orders=program_orders[pid],
            valid_clicks=program_clicks[pid],
        )
        for pid, category in program_category.items()
    }
    return Truth(profiles, offers, joined, dict(members), future, new_partners, neighbours, net)


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method for small means, a rounded normal for large ones."""
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _neighbours(visitors: dict[str, set[int]]) -> dict[str, list[Neighbour]]:
    """Every pair sharing 50 visitors or more, with its exact Jaccard index (the service
    keeps the same threshold: smaller overlaps are suppressed)."""
    holders: dict[int, list[str]] = defaultdict(list)
    for partner_id, seen in visitors.items():
        for visitor in seen:
            if visitor >= 0:
                holders[visitor].append(partner_id)
    shared: Counter[tuple[str, str]] = Counter()
    for ids in holders.values():
        if len(ids) > 1:
            ids.sort()
            for i, a in enumerate(ids):
                for b in ids[i + 1 :]:
                    shared[(a, b)] += 1
    found: dict[str, list[Neighbour]] = defaultdict(list)
    for (a, b), n in shared.items():
        if n < 50:
            continue
        jaccard = n / (len(visitors[a]) + len(visitors[b]) - n)
        found[a].append(Neighbour(b, jaccard, n))
        found[b].append(Neighbour(a, jaccard, n))
    return found


# --- the rankers ----------------------------------------------------------------------------


Ranker = Callable[[str], list[str]]


def model_programs(truth: Truth) -> Ranker:
    def rank(partner_id: str) -> list[str]:
        answer = recommend_programs(
            truth.profiles[partner_id],
            truth.offers.values(),
            truth.net,
            overlaps_through_members(truth.neighbours.get(partner_id, []), truth.members),
            joined=truth.joined[partner_id],
            limit=K,
        )
        return [r.id for r in answer.items]

    return rank


def popular_programs(truth: Truth) -> Ranker:
    ordered = sorted(truth.offers, key=lambda pid: (-len(truth.members.get(pid, ())), pid))

    def rank(partner_id: str) -> list[str]:
        known = truth.joined[partner_id]
        return [pid for pid in ordered if pid not in known][:K]

    return rank


def random_programs(truth: Truth, seed: int) -> Ranker:
    rng = random.Random(seed)
    ids = sorted(truth.offers)

    def rank(partner_id: str) -> list[str]:
        known = truth.joined[partner_id]
        return rng.sample([pid for pid in ids if pid not in known], K)

    return rank


def model_partners(truth: Truth) -> Ranker:
    def rank(program_id: str) -> list[str]:
        anchors = truth.members.get(program_id, set())
        answer = recommend_partners(
            truth.offers[program_id],
            truth.profiles.values(),
            truth.net,
            strongest_overlaps(truth.neighbours.get(a, []) for a in anchors),
            joined=anchors,
            limit=K,
        )
        return [r.id for r in answer.items]

    return rank


def popular_partners(truth: Truth) -> Ranker:
    ordered = sorted(truth.profiles, key=lambda p: (-len(truth.joined[p]), p))

    def rank(program_id: str) -> list[str]:
        known = truth.members.get(program_id, set())
        return [p for p in ordered if p not in known][:K]

    return rank


def random_partners(truth: Truth, seed: int) -> Ranker:
    rng = random.Random(seed)
    ids = sorted(truth.profiles)

    def rank(program_id: str) -> list[str]:
        known = truth.members.get(program_id, set())
        return rng.sample([p for p in ids if p not in known], K)

    return rank


@dataclass
class Scores:
    precision: list[float] = field(default_factory=list)
    recall: list[float] = field(default_factory=list)
    ndcg: list[float] = field(default_factory=list)

    def add(self, other: Scores) -> None:
        self.precision.append(statistics.fmean(other.precision))
        self.recall.append(statistics.fmean(other.recall))
        self.ndcg.append(statistics.fmean(other.ndcg))


def evaluate(rank: Ranker, truth_sets: dict[str, set[str]]) -> Scores:
    found = Scores()
    for key, relevant in truth_sets.items():
        ranked = rank(key)
        found.precision.append(precision_at_k(ranked, relevant, K))
        found.recall.append(recall_at_k(ranked, relevant, K))
        found.ndcg.append(ndcg_at_k(ranked, relevant, K))
    return found


def _cell(values: list[float]) -> str:
    mean = statistics.fmean(values)
    if len(values) < 2:
        return f"{mean:.3f}"
    return f"{mean:.3f} ± {statistics.stdev(values):.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=1)
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--programs", type=int, default=200)
    args = parser.parse_args()

    tasks = ("programs for partners", "programs for new partners", "partners for programs")
    results: dict[tuple[str, str], Scores] = defaultdict(Scores)
    began = time.perf_counter()
    for seed in range(args.first_seed, args.first_seed + args.seeds):
        truth = generate(seed, args.partners, args.programs)
        known = {p: f for p, f in truth.future.items() if p not in truth.new_partners and f}
        new = {p: f for p, f in truth.future.items() if p in truth.new_partners and f}
        by_program: dict[str, set[str]] = defaultdict(set)
        for partner_id, programs in truth.future.items():
            for pid in programs:
                by_program[pid].add(partner_id)
        for task, sets, rankers in (
            (
                tasks[0],
                known,
                {
                    "model": model_programs(truth),
                    "popularity": popular_programs(truth),
                    "random": random_programs(truth, seed),
                },
            ),
            (
                tasks[1],
                new,
                {
                    "model": model_programs(truth),
                    "popularity": popular_programs(truth),
                    "random": random_programs(truth, seed),
                },
            ),
            (
                tasks[2],
                dict(by_program),
                {
                    "model": model_partners(truth),
                    "popularity": popular_partners(truth),
                    "random": random_partners(truth, seed),
                },
            ),
        ):
            for name, rank in rankers.items():
                results[(task, name)].add(evaluate(rank, sets))
        print(f"seed {seed}: done at {time.perf_counter() - began:.0f} s", file=sys.stderr)

    print(
        f"\n{args.seeds} networks (seeds {args.first_seed}-{args.first_seed + args.seeds - 1}),"
        f" {args.partners:,} partners, {args.programs:,} programs each; mean ± sd over seeds\n"
    )
    print(
        "| task | ranker | precision@10 | recall@10 | NDCG@10 | NDCG vs popularity (lowest seed) |"
    )
    print("|---|---|---|---|---|---|")
    for task in tasks:
        popular = results[(task, "popularity")].ndcg
        for name in ("model", "popularity", "random"):
            s = results[(task, name)]
            ratio = statistics.fmean(s.ndcg) / statistics.fmean(popular)
            lowest = min(m / p for m, p in zip(s.ndcg, popular, strict=True))
            print(
                f"| {task} | {name} | {_cell(s.precision)} | {_cell(s.recall)} | "
                f"{_cell(s.ndcg)} | {ratio:.2f}x ({lowest:.2f}x) |"
            )
    print(f"\n{time.perf_counter() - began:.0f} s in all")


if __name__ == "__main__":
    main()
