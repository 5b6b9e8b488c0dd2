"""Reading the rollups: a report's numbers from the smallest rollup table that can answer it,
plus what the rollups do not hold yet, counted from the raw tables:

- traffic: the clicks from the watermark on (the last seconds), with their effect on the
  uniqueness of earlier clicks of the same visitor that day;
- orders: the (program, day) buckets logged as changed and not yet recomputed: their rollup
  rows are taken out and their raw numbers put in.

So every answer is exact at the moment it is read (ADR 0009); the tests compare it with the
raw reference queries (queries.*_raw) on random networks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    and_,
    case,
    cast,
    distinct,
    func,
    not_,
    or_,
    select,
)
from sqlalchemy.orm import Session

from alliance.clock import as_utc
from alliance.reports import rollups
from alliance.reports.models import (
    NONE,
    ORDER_MEASURES,
    ORDERS_FULL,
    ORDERS_GRAINS,
    SPANS,
    TRAFFIC_FULL,
    TRAFFIC_GRAINS,
    Grain,
    RefundRollup,
    ReportChange,
)

# A reader that sees the traffic watermark move while it reads (a refresh committed in
# between, PostgreSQL's READ COMMITTED) reads again; a refresh is rare next to a read.
READ_ATTEMPTS = 5

TRAFFIC_GROUP_DIMS = {
    "day": "day",
    "partner": "partner_id",
    "program": "program_id",
    "link": "link_id",
    "sub1": "sub1",
    "country": "country",
    "device": "device",
}
# Orders rows grouped by partner follow the commission's partner (the earner): an order's
# own measures sit on rows where the earner is the order's partner, so both come out right.
ORDERS_GROUP_DIMS = {
    "day": "day",
    "partner": "earner_id",
    "program": "program_id",
    "status": "status",
    "country": "country",
    "device": "device",
    "sub1": "sub1",
}
Counts = list[int]


@dataclass(frozen=True, slots=True)
class Slice:
    """What a report asks of the rollups: a period, a scope, equality filters."""

    start: date
    end: date
    program_ids: tuple[str, ...] | None
    partner_id: str | None
    sub1: str | None = None
    country: str | None = None
    device: str | None = None

    def filters(self) -> dict[str, str]:
        found = {"sub1": self.sub1, "country": self.country, "device": self.device}
        return {k: v for k, v in found.items() if v is not None}

    def equal(self, partner_dims: Sequence[str]) -> set[str]:
        """The dimensions tested for equality (the partner, the filters)."""
        dims = set(self.filters())
        if self.partner_id is not None:
            dims.update(partner_dims)
        return dims

    def needed(self, group_dim: str | None, partner_dims: Sequence[str]) -> set[str]:
        dims = set(self.filters())
        if group_dim is not None and group_dim != "day":
            dims.add(group_dim)
        if self.program_ids is not None:
            dims.add("program_id")
        if self.partner_id is not None:
            dims.update(partner_dims)
        return dims


# How much an equality on a dimension narrows a grain when the dimension leads its key
# (after span and day): a rough share of the rows, enough to rank the candidates.
_NARROWS = {"partner_id": 1000, "earner_id": 1, "sub1": 20, "country": 5, "device": 3}


def choose(grains: Sequence[Grain], full: Grain, needed: set[str], equal: set[str]) -> Grain:
    """The grain that reads the fewest rows among those with every needed dimension: its
    size, narrowed by the equality filters that lead its key (those read a key range; the
    others only thin the answer)."""
    best, best_cost = full, float(full.size)
    for grain in grains:
        if not needed <= set(grain.dims):
            continue
        cost = float(grain.size)
        for dim in grain.dims:
            if dim not in equal:
                break
            cost /= _NARROWS.get(dim, 1)
        if cost < best_cost:
            best, best_cost = grain, cost
    return best


def _period(
    grain: Grain, s: Slice, by_day: bool, partner_dims: Sequence[str]
) -> ColumnElement[bool]:
    """The period as blocks of days of `grain` (single days when grouping by day), with the
    scope and filters in each block's term (SQLite plans an OR term by term).

    Network-wide, and for a partner (partner_id follows span and day in the key), the key
    reads each block. For a program alone, the span is tested as `span + 0`: the key cannot
    be used then, and the planner takes the (program_id, day, span) index, which reads the
    program's rows of the blocks' first days only, instead of every row of the blocks.
    """
    c = grain.table.c
    conds = _conditions(grain, s, partner_dims)
    program_only = s.program_ids is not None and s.partner_id is None
    span_of = c.span + 0 if program_only else c.span
    if by_day or not grain.spanned:
        return and_(span_of == 1, c.day >= s.start, c.day <= s.end, *conds)
    by_span: dict[int, list[date]] = defaultdict(list)
    for span, first in rollups.blocks(s.start, s.end, SPANS):
        by_span[span].append(first)
    return or_(
        *(and_(span_of == span, c.day.in_(firsts), *conds) for span, firsts in by_span.items())
    )


def _conditions(grain: Grain, s: Slice, partner_dims: Sequence[str]) -> list[Any]:
    c = grain.table.c
    conds: list[Any] = []
    if s.program_ids is not None:
        conds.append(c.program_id.in_(s.program_ids))
    if s.partner_id is not None:
        conds += [c[d] == s.partner_id for d in partner_dims]
    for dim, value in s.filters().items():
        conds.append(c[dim] == value)
    return conds


def _grouped(
    session: Session,
    grain: Grain,
    group_dim: str | None,
    extra_keys: Sequence[str],
    where: Sequence[Any],
) -> dict[tuple[Any, ...], Counts]:
    """Σ measures per (group key, *extra keys) over `grain`, in SQL."""
    c = grain.table.c
    keys = [c[d] for d in ([group_dim] if group_dim else []) + list(extra_keys)]
    sums: list[Any] = [func.sum(c[m]) for m in grain.measures]
    if session.get_bind().dialect.name == "postgresql":
        # PostgreSQL's SUM of a BIGINT is NUMERIC: a Decimal per value, then int() of it,
        # for thousands of rows of 4 to 14 measures. Back to BIGINT in SQL, ints come as
        # they are (micro-units: 9.2e12 currency units fit).
        sums = [cast(s, BigInteger) for s in sums]
    stmt = select(*keys, *sums).where(*where).group_by(*keys)
    found: dict[tuple[Any, ...], Counts] = {}
    width = len(keys)
    for row in session.execute(stmt):
        key = tuple(_key(v) for v in row[:width])
        found[key] = [int(v or 0) for v in row[width:]]
    return found


def _key(value: Any) -> Any:
    """A group key as the reports show it: days as ISO text, none as None."""
    if isinstance(value, date):
        return value.isoformat()
    return None if value == NONE else value


def _add(target: dict[Any, Counts], key: Any, values: Sequence[int], sign: int = 1) -> None:
    row = target.get(key)
    if row is None:
        row = target[key] = [0] * len(values)
    for i, v in enumerate(values):
        row[i] += sign * v


def _matches(s: Slice, values: dict[str, Any], partner_dims: Sequence[str]) -> bool:
    day = values["day"]
    if not s.start <= day <= s.end:
        return False
    if s.program_ids is not None and values["program_id"] not in s.program_ids:
        return False
    if s.partner_id is not None and any(values[d] != s.partner_id for d in partner_dims):
        return False
    return all(values[dim] == value for dim, value in s.filters().items())


# --- traffic ----------------------------------------------------------------------------------


class TrafficNotBuilt(Exception):
    """The traffic rollups were never refreshed: the caller answers from the raw tables."""


def traffic(session: Session, s: Slice, group: str | None) -> dict[Any, Counts]:
    """Counters (clicks, valid, unique, unique valid) per group key (key None: no group)."""
    group_dim = TRAFFIC_GROUP_DIMS[group] if group else None
    grain = choose(
        TRAFFIC_GRAINS,
        TRAFFIC_FULL,
        s.needed(group_dim, ("partner_id",)),
        s.equal(("partner_id",)),
    )
    for _ in range(READ_ATTEMPTS):
        state = rollups.traffic_state(session)
        if state is None:
            raise TrafficNotBuilt
        period = _period(grain, s, group_dim == "day", ("partner_id",))
        grouped = _grouped(session, grain, group_dim, (), [period])
        found: dict[Any, Counts] = {(k[0] if k else None): v for k, v in grouped.items()}
        for values, delta in traffic_tail(session, s, state.watermark):
            if _matches(s, values, ("partner_id",)):
                key = _key(values[group_dim]) if group_dim else None
                _add(found, key, delta)
        again = rollups.traffic_state(session)
        if again is not None and again.version == state.version:
            return {k: v for k, v in found.items() if v[0]}
        session.expire_all()
    raise RuntimeError("the traffic rollups kept changing while being read")


def traffic_tail(session: Session, s: Slice, watermark: str) -> list[tuple[dict[str, Any], Counts]]:
    """What the clicks from the watermark on (the last seconds: the primary key finds them)
    add to the rollups, per click dimensions, uniqueness of earlier clicks included."""

    def keep(row: Any) -> bool:
        day = as_utc(row.occurred_at).date()
        return (
            s.start <= day <= s.end
            and (s.program_ids is None or row.program_id in s.program_ids)
            and (s.partner_id is None or row.partner_id == s.partner_id)
        )

    changes = rollups.click_changes(session, watermark, None, keep)
    return [(dict(zip(_CLICK_DIMS, key, strict=True)), counts) for key, counts in changes.items()]


_CLICK_DIMS = ("day", "program_id", "partner_id", "link_id", "sub1", "country", "device")


# --- orders -----------------------------------------------------------------------------------

_ORDERS_PARTNER_DIMS = ("partner_id", "earner_id")


def stale_buckets(
    session: Session, start: date | None, end: date | None, program_ids: tuple[str, ...] | None
) -> dict[date, list[str]]:
    """(program, day) buckets logged as changed and not recomputed yet, by day."""
    stmt = select(ReportChange.program_id, ReportChange.day).distinct()
    if start is not None:
        stmt = stmt.where(ReportChange.day >= start)
    if end is not None:
        stmt = stmt.where(ReportChange.day <= end)
    if program_ids is not None:
        stmt = stmt.where(ReportChange.program_id.in_(program_ids))
    found: dict[date, set[str]] = defaultdict(set)
    for program_id, day in session.execute(stmt):
        found[day].add(program_id)
    return {day: sorted(ids) for day, ids in sorted(found.items())}


def orders(session: Session, s: Slice, group: str | None) -> dict[tuple[Any, str], Counts]:
    """ORDER_MEASURES (money in micro-units) per (group key, currency)."""
    return {(k[0], k[-1]): v for k, v in _orders(session, s, group, daily=False).items()}


def orders_by_day(
    session: Session, s: Slice, group: str | None, other_than: str | None = None
) -> dict[tuple[Any, str, str], Counts]:
    """ORDER_MEASURES per (group key, UTC day as ISO text, currency): what a report converted
    to one currency needs, each day's money at that day's rate. Reads single days (span 1)
    of the same grain, never the blocks, so it reads more rows than `orders`. `other_than`:
    leave that currency out (the one converted to, which needs no rate)."""
    found = _orders(session, s, group, daily=True, other_than=other_than)
    return {(k[0], k[1], k[2]): v for k, v in found.items()}


def _orders(
    session: Session, s: Slice, group: str | None, *, daily: bool, other_than: str | None = None
) -> dict[tuple[Any, ...], Counts]:
    """Per (group key, currency), or (group key, day, currency) when `daily`; every
    currency but `other_than`."""
    group_dim = ORDERS_GROUP_DIMS[group] if group else None
    grain = choose(
        ORDERS_GRAINS,
        ORDERS_FULL,
        s.needed(group_dim, _ORDERS_PARTNER_DIMS),
        s.equal(_ORDERS_PARTNER_DIMS),
    )
    by_day = daily or group_dim == "day"
    extra = ("day", "currency") if daily and group_dim != "day" else ("currency",)
    period = _period(grain, s, by_day, _ORDERS_PARTNER_DIMS)

    def key_of(k: tuple[Any, ...]) -> tuple[Any, ...]:
        group_key = k[0] if group_dim else None
        if not daily:
            return (group_key, k[-1])
        return (group_key, k[-2] if group_dim != "day" else k[0], k[-1])

    skip = [] if other_than is None else [grain.table.c.currency != other_than]
    grouped = _grouped(session, grain, group_dim, extra, [period, *skip])
    found: dict[tuple[Any, ...], Counts] = {key_of(k): v for k, v in grouped.items()}
    stale = stale_buckets(session, s.start, s.end, s.program_ids)
    if not stale:
        return found
    # Take the stale buckets' rows out: their single days in the finest grain, which every
    # coarser grain's blocks are sums of (the same change went to all) ...
    facts = rollups.OrderFacts()
    for part in rollups.bucket_parts(stale):
        where = [
            rollups.bucket_rows(ORDERS_FULL.table, part),
            *_conditions(ORDERS_FULL, s, _ORDERS_PARTNER_DIMS),
        ]
        if other_than is not None:
            where.append(ORDERS_FULL.table.c.currency != other_than)
        out = _grouped(session, ORDERS_FULL, group_dim, extra, where)
        for k, v in out.items():
            _add(found, key_of(k), v, -1)
        # ... and their raw numbers in.
        rollups.order_facts(session, part, facts)
    for key, measures in facts.rows.items():
        values = dict(zip(rollups.ORDER_DIMS, key, strict=True))
        if values["currency"] != other_than and _matches(s, values, _ORDERS_PARTNER_DIMS):
            group_key = _key(values[group_dim]) if group_dim else None
            day = (_key(values["day"]),) if daily else ()
            _add(found, (group_key, *day, values["currency"]), measures)
    # A row exists in the raw report when it has an order or a commission.
    held = (ORDER_MEASURES.index("orders"), ORDER_MEASURES.index("commissions"))
    return {k: v for k, v in found.items() if any(v[i] for i in held)}


def foreign_buckets(session: Session, s: Slice) -> dict[date, list[str]]:
    """(program, day) buckets of the period whose orders rows hold more than one currency:
    where an order may be in another currency than its commission (an order in USD on a EUR
    program). The orders-by-program grain's single days answer it; the buckets logged as
    changed are added, as their rows may not show it yet."""
    grain = next(g for g in ORDERS_GRAINS if g.name == "orders_by_program")
    c = grain.table.c
    stmt = (
        select(c.day, c.program_id)
        .where(c.span == 1, c.day >= s.start, c.day <= s.end)
        .group_by(c.day, c.program_id)
        .having(func.count(distinct(c.currency)) > 1)
    )
    if s.program_ids is not None:
        stmt = stmt.where(c.program_id.in_(s.program_ids))
    found: dict[date, set[str]] = defaultdict(set)
    for day, program_id in session.execute(stmt):
        found[day].add(program_id)
    for day, ids in stale_buckets(session, s.start, s.end, s.program_ids).items():
        found[day].update(ids)
    return {day: sorted(ids) for day, ids in sorted(found.items())}


# --- refunds --------------------------------------------------------------------------------

REFUNDS_GROUP_DIMS = {"day": "day", "partner": "earner_id", "program": "program_id"}


def refunds(session: Session, s: Slice, group: str | None) -> dict[tuple[Any, str], Counts]:
    """(refunds, refunded orders, refunded amount, commission taken back; money in
    micro-units) per (group key, currency). Refunded orders are distinct per group: the
    rows are per event, and the buckets still logged as changed (any day: an old order
    refunded now) are left out of SQL and counted from the raw tables; an order belongs to
    one bucket, so the distinct counts of the two parts add up."""
    return {(k[0], k[-1]): v for k, v in _refunds(session, s, group, daily=False).items()}


def refunds_by_day(
    session: Session, s: Slice, group: str | None, other_than: str | None = None
) -> dict[tuple[Any, str, str], Counts]:
    """The same per (group key, UTC day of the refund as ISO text, currency), for money
    converted at each day's rate, every currency but `other_than`. Refunded orders are
    distinct per day here: an order refunded on two days counts on both (use `refunds` for
    the count over the period)."""
    found = _refunds(session, s, group, daily=True, other_than=other_than)
    return {(k[0], k[1], k[2]): v for k, v in found.items()}


def _refunds(
    session: Session, s: Slice, group: str | None, *, daily: bool, other_than: str | None = None
) -> dict[tuple[Any, ...], Counts]:
    t = RefundRollup
    dim = REFUNDS_GROUP_DIMS[group] if group else None
    conds: list[Any] = [t.day >= s.start, t.day <= s.end]
    if s.program_ids is not None:
        conds.append(t.program_id.in_(s.program_ids))
    if s.partner_id is not None:
        conds += [t.partner_id == s.partner_id, t.earner_id == s.partner_id]
    for name, value in s.filters().items():
        conds.append(getattr(t, name) == value)
    if other_than is not None:
        conds.append(t.currency != other_than)
    stale = stale_buckets(session, None, None, s.program_ids)
    for part in rollups.bucket_parts(stale):
        conds.append(
            not_(
                or_(*(and_(t.order_day == day, t.program_id.in_(ids)) for day, ids in part.items()))
            )
        )
    refund = t.kind == "refund"
    keys = [getattr(t, dim)] if dim else []
    if daily and dim != "day":
        keys.append(t.day)
    stmt = (
        select(
            *keys,
            t.currency,
            func.sum(case((refund, 1), else_=0)),
            func.count(distinct(case((refund, t.conversion_id)))),
            func.sum(case((refund, t.amount), else_=0)),
            func.sum(case((refund, 0), else_=t.amount)),
        )
        .where(*conds)
        .group_by(*keys, t.currency)
    )
    found: dict[tuple[Any, ...], Counts] = {}
    for row in session.execute(stmt):
        key = _key(row[0]) if dim else None
        day = (_key(row[len(keys) - 1]),) if daily else ()
        found[(key, *day, row[-5])] = [int(v or 0) for v in row[-4:]]
    if not stale:
        return found
    orders: dict[tuple[Any, ...], set[str]] = defaultdict(set)
    for part in rollups.bucket_parts(stale):
        for fact in rollups.refund_facts(session, part):
            values = {
                "day": fact.day,
                "program_id": fact.program_id,
                "partner_id": fact.partner_id,
                "earner_id": fact.earner_id,
                "sub1": fact.sub1 or None,
                "country": fact.country or None,
                "device": fact.device or None,
            }
            if fact.currency == other_than or not _matches(s, values, ("partner_id", "earner_id")):
                continue
            day = (_key(fact.day),) if daily else ()
            key = (_key(values[dim]) if dim else None, *day, fact.currency)
            if fact.kind == "refund":
                _add(found, key, [1, 0, fact.amount, 0])
                orders[key].add(fact.conversion_id)
            else:
                _add(found, key, [0, 0, 0, fact.amount])
    for key, ids in orders.items():
        found[key][1] += len(ids)
    return found


def measures(values: Counts) -> dict[str, int]:
    return dict(zip(ORDER_MEASURES, values, strict=True))
