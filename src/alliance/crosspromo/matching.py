"""Partner matching over the database: recommendations with reasons (docs/matching.md).

The ranking is matching_rules' (pure); this module only gathers its facts:

- **co-purchases** and each partner's **category mix** are learned from orders by the daily
  `refresh_matching` job (`refresh_co_purchases`) into matching_models' tables: one pass
  over the orders of the window in (program, customer) order, so one customer's orders are
  one basket without holding every basket in memory;
- **performance**: valid clicks and orders (not declined) per program or per partner over
  the last PERFORMANCE_DAYS, from the report rollups;
- **audience overlap**: crosspromo/overlap's sketches (`top_overlaps`): pairs sharing 50
  visitors or more. Visitor ids come from per-program cookies, so two partners overlap only
  through programs they both promote (docs/audience-overlap.md);
- **stated fit** and **popularity**: partners' categories and audience texts, programs'
  category, name and description, approved enrollments.

Who may ask what is decided by the API (matching_api.py); the functions here take ids the
caller was allowed to name.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.clock import utcnow
from alliance.conversions.models import Conversion, ConversionKind, ConversionStatus
from alliance.crosspromo import matching_rules as rules
from alliance.crosspromo.matching_models import (
    CoPurchaseCategory,
    CoPurchasePair,
    MatchingState,
    PartnerCategoryOrders,
)
from alliance.crosspromo.overlap import default_window_days, top_overlaps
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.db.engine import reading, transaction
from alliance.errors import Conflict
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.reports.models import ORDER_MEASURES
from alliance.reports.queries import ReportQuery, Scope, orders_counts, valid_clicks_by
from alliance.reports.schemas import OrdersGroup

# Orders co-purchases and category mixes are learned from: a year, so seasonal categories
# (garden in spring, toys in December) are all in it.
LEARN_WINDOW_DAYS = 365
# Conversion rates are judged over the last 90 days, like the marketplace's network numbers.
PERFORMANCE_DAYS = 90
# A partner's nearest audiences looked at (top_overlaps' limit).
NEIGHBOURS = 500
# A program's approved partners its candidates' audiences are compared with (those with the
# most valid clicks in it): each costs one pass over the sketches.
MAX_ANCHORS = 5
ORDER_BATCH = 5_000
WRITE_BATCH = 5_000
STATE = "co_purchases"
# The statuses of orders that were bought: declined ones (fraud, tests) and refunded ones
# (returned) say nothing about what goes together.
_BOUGHT = (ConversionStatus.pending.value, ConversionStatus.completed.value)
_ORDERS = ORDER_MEASURES.index("orders")
_DECLINED = ORDER_MEASURES.index("declined_orders")


# --- learning from orders ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RefreshResult:
    window_days: int
    orders_read: int
    baskets: int
    categories: int
    pairs: int
    partners: int
    seconds: float

    def as_result(self) -> dict[str, Any]:
        return {
            "window_days": self.window_days,
            "orders_read": self.orders_read,
            "baskets": self.baskets,
            "categories": self.categories,
            "pairs": self.pairs,
            "partners": self.partners,
            "seconds": round(self.seconds, 3),
        }


def order_categories(items: Iterable[Any], program_category: str) -> set[str]:
    """The category keys of an order's lines; a line without one is of its program's
    category (a store-wide program of one category sends lines without any)."""
    found = set()
    for item in items or ():
        category = item.get("category") if isinstance(item, dict) else None
        key = rules.category_key(category) if isinstance(category, str) else ""
        found.add(key or program_category)
    if not found:
        found.add(program_category)
    found.discard("")
    return found


def refresh_co_purchases(
    *, now: datetime | None = None, window_days: int = LEARN_WINDOW_DAYS
) -> RefreshResult:
    """Count co-purchases and partners' category mixes over the orders of the window, and
    replace the stored counts with them in one transaction (readers see the old or the new,
    never a mix). A basket is one customer's orders in one program (customer ids are the
    store's, so they never join two programs), or one order without a customer id."""
    began = time.perf_counter()
    now = now or utcnow()
    since = now - timedelta(days=window_days)
    counter = rules.CoPurchaseCounter()
    mixes: dict[str, Counter[str]] = defaultdict(Counter)
    orders_read = 0
    statement = (
        select(
            Conversion.id,
            Conversion.program_id,
            Conversion.partner_id,
            Conversion.customer_id,
            Conversion.items,
        )
        .where(
            Conversion.kind == ConversionKind.sale.value,
            Conversion.status.in_(_BOUGHT),
            Conversion.occurred_at >= since,
            Conversion.occurred_at <= now,
        )
        # (program_id, customer_id) is an index: one customer's orders come together.
        .order_by(Conversion.program_id, Conversion.customer_id, Conversion.id)
        .execution_options(yield_per=ORDER_BATCH)
    )
    with reading() as session:
        program_categories = {
            pid: rules.category_key(category or "")
            for pid, category in session.execute(select(Program.id, Program.category))
        }
        basket_key: tuple[str, str] | None = None
        basket: set[str] = set()
        for conversion_id, program_id, partner_id, customer_id, items in session.execute(statement):
            orders_read += 1
            categories = order_categories(items, program_categories.get(program_id, ""))
            mixes[partner_id].update(categories)
            key = (program_id, customer_id or "#" + conversion_id)
            if key != basket_key:
                if basket_key is not None:
                    counter.add(basket)
                basket_key, basket = key, set()
            basket |= categories
        if basket_key is not None:
            counter.add(basket)
    co = counter.result()
    _store(co, mixes, window_days, orders_read, now)
    return RefreshResult(
        window_days,
        orders_read,
        co.baskets,
        len(co.categories),
        len(co.pairs),
        len(mixes),
        time.perf_counter() - began,
    )


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), WRITE_BATCH):
        yield rows[start : start + WRITE_BATCH]


def _store(
    co: rules.CoPurchases,
    mixes: Mapping[str, Counter[str]],
    window_days: int,
    orders_read: int,
    now: datetime,
) -> None:
    categories = [{"category": c, "baskets": n} for c, n in co.categories.items()]
    pairs = [{"category": a, "other_category": b, "baskets": n} for (a, b), n in co.pairs.items()]
    partner_rows = [
        {"partner_id": partner_id, "category": category, "orders": n}
        for partner_id, counts in mixes.items()
        for category, n in counts.items()
    ]
    with transaction() as session:
        for model in (CoPurchasePair, CoPurchaseCategory, PartnerCategoryOrders):
            session.execute(delete(model))
        for model, rows in (
            (CoPurchaseCategory, categories),
            (CoPurchasePair, pairs),
            (PartnerCategoryOrders, partner_rows),
        ):
            for chunk in _chunks(rows):
                session.execute(insert(model), chunk)
        session.execute(delete(MatchingState).where(MatchingState.name == STATE))
        session.add(
            MatchingState(
                name=STATE,
                window_days=window_days,
                baskets=co.baskets,
                orders_read=orders_read,
                computed_at=now,
            )
        )


def load_co_purchases(
    session: Session, min_support: int = rules.MIN_SUPPORT
) -> rules.CoPurchases | None:
    """The stored counts (None: never computed). Only pairs with `min_support` baskets are
    read: a pair below it counts as never bought together, which is what the rules do with
    it anyway, and the table of rare pairs can be long."""
    state = session.get(MatchingState, STATE)
    if state is None:
        return None
    categories = dict(
        session.execute(select(CoPurchaseCategory.category, CoPurchaseCategory.baskets)).all()
    )
    pairs = {
        (a, b): n
        for a, b, n in session.execute(
            select(
                CoPurchasePair.category, CoPurchasePair.other_category, CoPurchasePair.baskets
            ).where(CoPurchasePair.baskets >= min_support)
        ).all()
    }
    return rules.CoPurchases(state.baskets, categories, pairs)


# --- performance ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Performance:
    """Orders (not declined) and valid clicks per program or partner, and the network's
    pooled conversion rate, over the last PERFORMANCE_DAYS."""

    orders: Mapping[str, int]
    valid_clicks: Mapping[str, int]
    network_rate: float


def performance_by(session: Session, group: str, now: datetime) -> Performance:
    """`group`: "program" or "partner" (the order's partner). From the report rollups, with
    the changes they have not absorbed yet read from the raw tables (reports/cube.py)."""
    today = now.date()
    query = ReportQuery(
        start=today - timedelta(days=PERFORMANCE_DAYS - 1), end=today, scope=Scope(None, None)
    )
    clicks = {k: v for k, v in valid_clicks_by(session, query, group).items() if k is not None}
    orders: Counter[str] = Counter()
    for (key, _currency), measures in orders_counts(session, query, OrdersGroup(group)).items():
        if key is not None:
            orders[key] += int(measures[_ORDERS]) - int(measures[_DECLINED])
    total_clicks = sum(clicks.values())
    rate = min(1.0, sum(orders.values()) / total_clicks) if total_clicks else 0.0
    return Performance(dict(orders), clicks, rate)


# --- profiles and offers -------------------------------------------------------------------


def _approved_counts(session: Session, column: Any, ids: Collection[str] | None) -> Counter[str]:
    statement = select(column, func.count()).where(
        Enrollment.status == EnrollmentStatus.approved.value
    )
    if ids is not None:
        statement = statement.where(column.in_(list(ids)))
    return Counter(dict(session.execute(statement.group_by(column)).all()))


def profiles(
    session: Session, performance: Performance, partner_ids: Collection[str] | None = None
) -> dict[str, rules.Profile]:
    """Partners as matching sees them: all of them, or those of `partner_ids`."""
    statement = select(Partner.id, Partner.name, Partner.categories, Partner.audience)
    sold_statement = select(
        PartnerCategoryOrders.partner_id,
        PartnerCategoryOrders.category,
        PartnerCategoryOrders.orders,
    )
    if partner_ids is not None:
        statement = statement.where(Partner.id.in_(list(partner_ids)))
        sold_statement = sold_statement.where(
            PartnerCategoryOrders.partner_id.in_(list(partner_ids))
        )
    sold: dict[str, dict[str, int]] = defaultdict(dict)
    for partner_id, category, orders in session.execute(sold_statement):
        sold[partner_id][category] = orders
    approved = _approved_counts(session, Enrollment.partner_id, partner_ids)
    found = {}
    for partner_id, name, categories, audience in session.execute(statement):
        stated = [c for c in categories or () if isinstance(c, str)]
        found[partner_id] = rules.Profile(
            id=partner_id,
            name=name,
            stated=rules.category_keys(stated),
            words=rules.words(" ".join([audience or "", *stated])),
            sold=sold.get(partner_id, {}),
            approved=approved.get(partner_id, 0),
            orders=performance.orders.get(partner_id, 0),
            valid_clicks=performance.valid_clicks.get(partner_id, 0),
        )
    return found


def offer_of(program: Program, approved: int, performance: Performance) -> rules.Offer:
    return rules.Offer(
        id=program.id,
        name=program.name,
        category=rules.category_key(program.category or ""),
        words=rules.words(f"{program.name} {program.description} {program.category}"),
        approved=approved,
        orders=performance.orders.get(program.id, 0),
        valid_clicks=performance.valid_clicks.get(program.id, 0),
    )


# --- audience overlap ------------------------------------------------------------------------


def neighbours(
    session: Session, partner_id: str, window_days: int, candidates: Any = None
) -> list[rules.Neighbour] | None:
    """The partner's nearest audiences (50 shared visitors or more); None when the partner
    has no sketch yet (the overlap cannot be judged, rather than being zero)."""
    try:
        found = top_overlaps(
            session, partner_id, window_days, limit=NEIGHBOURS, candidates=candidates
        )
    except Conflict:
        return None
    return [
        rules.Neighbour(p.other_partner_id, p.overlap.jaccard.low, p.overlap.shared.value)
        for p in found
    ]


def _members(session: Session, partner_ids: Collection[str]) -> dict[str, set[str]]:
    """Program id -> those of `partner_ids` approved in it."""
    members: dict[str, set[str]] = defaultdict(set)
    if not partner_ids:
        return members
    rows = session.execute(
        select(Enrollment.program_id, Enrollment.partner_id).where(
            Enrollment.partner_id.in_(list(partner_ids)),
            Enrollment.status == EnrollmentStatus.approved.value,
        )
    )
    for program_id, partner_id in rows:
        members[program_id].add(partner_id)
    return members


# --- the three lists ---------------------------------------------------------------------


def _wanted(categories: Collection[str] | None) -> frozenset[str] | None:
    """The category keys a list is narrowed to (None: every category)."""
    keys = rules.category_keys(categories or ())
    return keys or None


def _matches(wanted: frozenset[str] | None, keys: Collection[str]) -> bool:
    return wanted is None or not wanted.isdisjoint(keys)


def programs_for_partner(
    session: Session,
    partner_id: str,
    *,
    limit: int,
    categories: Collection[str] | None = None,
    now: datetime | None = None,
) -> rules.Recommendations:
    """Active programs the partner has no enrollment in, in any status (`categories`: only
    programs of one of these categories)."""
    now = now or utcnow()
    wanted = _wanted(categories)
    performance = performance_by(session, "program", now)
    partner = profiles(session, performance_by(session, "partner", now), [partner_id])[partner_id]
    joined = set(
        session.scalars(select(Enrollment.program_id).where(Enrollment.partner_id == partner_id))
    )
    programs = [
        p
        for p in session.scalars(select(Program).where(Program.status == "active"))
        if p.id not in joined and _matches(wanted, {rules.category_key(p.category or "")})
    ]
    # Every program's count in one GROUP BY: cheaper than an IN list of every active program.
    approved = _approved_counts(session, Enrollment.program_id, None)
    offers = [offer_of(p, approved.get(p.id, 0), performance) for p in programs]
    found = neighbours(session, partner_id, default_window_days())
    overlaps = None
    if found is not None:
        members = _members(session, [n.partner_id for n in found])
        overlaps = rules.overlaps_through_members(found, members)
    net = rules.Network(load_co_purchases(session), performance.network_rate)
    return rules.recommend_programs(partner, offers, net, overlaps, joined=joined, limit=limit)


def partners_for_program(
    session: Session,
    program: Program,
    *,
    limit: int,
    categories: Collection[str] | None = None,
    now: datetime | None = None,
) -> rules.Recommendations:
    """Partners with no enrollment in the program, in any status (`categories`: only
    partners stating one of these categories)."""
    now = now or utcnow()
    wanted = _wanted(categories)
    by_partner = performance_by(session, "partner", now)
    by_program = performance_by(session, "program", now)
    enrolled = set(
        session.scalars(select(Enrollment.partner_id).where(Enrollment.program_id == program.id))
    )
    approved_here = set(
        session.scalars(
            select(Enrollment.partner_id).where(
                Enrollment.program_id == program.id,
                Enrollment.status == EnrollmentStatus.approved.value,
            )
        )
    )
    everyone = profiles(session, by_partner)
    candidates = [
        p for p in everyone.values() if p.id not in enrolled and _matches(wanted, p.stated)
    ]
    offer = offer_of(program, len(approved_here), by_program)
    overlaps = _overlaps_with_members(session, program.id, approved_here, now)
    net = rules.Network(load_co_purchases(session), by_partner.network_rate)
    return rules.recommend_partners(offer, candidates, net, overlaps, joined=enrolled, limit=limit)


def _overlaps_with_members(
    session: Session, program_id: str, members: Collection[str], now: datetime
) -> dict[str, rules.OverlapHit] | None:
    """Each candidate's overlap with the program's MAX_ANCHORS busiest approved partners
    (most valid clicks in it); None when none of them has a sketch."""
    if not members:
        return None
    today = now.date()
    query = ReportQuery(
        start=today - timedelta(days=PERFORMANCE_DAYS - 1),
        end=today,
        scope=Scope((program_id,), None),
    )
    busy = valid_clicks_by(session, query, "partner")
    anchors = sorted(members, key=lambda pid: (-busy.get(pid, 0), pid))[:MAX_ANCHORS]
    # A subquery, not the ids: a program may have more partners than a statement has
    # parameters (SQLite: 32,766).
    outside = AudienceSketch.partner_id.not_in(
        select(Enrollment.partner_id).where(Enrollment.program_id == program_id)
    )
    window = default_window_days()
    per_anchor = [neighbours(session, anchor, window, outside) for anchor in anchors]
    measured = [found for found in per_anchor if found is not None]
    return rules.strongest_overlaps(measured) if measured else None


def co_promotion_for_partner(
    session: Session,
    partner_id: str,
    *,
    limit: int,
    categories: Collection[str] | None = None,
    now: datetime | None = None,
) -> rules.Recommendations:
    """Other partners to promote with (`categories`: only partners stating one of them)."""
    now = now or utcnow()
    wanted = _wanted(categories)
    by_partner = performance_by(session, "partner", now)
    everyone = profiles(session, by_partner)
    partner = everyone[partner_id]
    candidates = [p for p in everyone.values() if _matches(wanted, p.stated)]
    found = neighbours(session, partner_id, default_window_days())
    overlaps = (
        {n.partner_id: rules.OverlapHit(n.jaccard_low, 1, n.shared) for n in found}
        if found is not None
        else None
    )
    net = rules.Network(load_co_purchases(session), by_partner.network_rate)
    return rules.recommend_co_promotion(partner, candidates, net, overlaps, limit=limit)
