"""Keeping the rollup tables (reports/models.py) equal to what the raw tables say.

Two entry points:

- `refresh()`: the `refresh_rollups` job, run on every `alliance jobs run`. Traffic: it
  moves the watermark up to a little before now and adds what the clicks written meanwhile
  change. Orders: it recomputes the (program, day) buckets the triggers logged in
  `report_changes`, and the customers of those buckets.
- `rebuild()`: `alliance rollups rebuild` and the demo: recomputes every bucket of a period
  from the raw tables, in one short transaction per program and week, so that writers (the
  click writer on SQLite) are never held up for long.

How a change reaches every table: the finest rows of the changed buckets are rewritten (or,
for a few new clicks, computed one by one), their difference from before goes to a
temporary "delta" table, and the delta is added (upsert on the grain's key) to the row of
every coarser grain and every block of days it falls in. The cost follows the change, not
the size of the blocks. Every step is one transaction: readers see a change everywhere or
nowhere.

Refresh and rebuild take the same lock (PostgreSQL: an advisory lock; SQLite: the write
lock every writing transaction takes), so two workers never add the same change twice.

Clicks are counted in SQL (window functions give each click's uniqueness). Orders are
summed in Python with `Decimal` (SQLite keeps amounts as text) and stored in micro-units.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from functools import partial
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Date,
    Integer,
    MetaData,
    SmallInteger,
    String,
    Table,
    and_,
    case,
    cast,
    delete,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session
from sqlalchemy.schema import CreateTable

from alliance.clock import as_utc, utcnow
from alliance.commissions.models import Commission, CommissionStatus, EntryType, LedgerEntry
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    ConversionKind,
    ConversionStatus,
)
from alliance.programs.models import Program
from alliance.reports.models import (
    ANY_PARTNER,
    DIM_LENGTHS,
    NONE,
    ORDER_MEASURES,
    ORDERS_FULL,
    ORDERS_GRAINS,
    SPANS,
    TRAFFIC_FULL,
    TRAFFIC_GRAINS,
    TRAFFIC_MEASURES,
    CustomerCohort,
    CustomerRollup,
    Grain,
    RefundRollup,
    ReportChange,
    RollupState,
)
from alliance.tracking.models import Click, is_valid_click, valid_click

# A click is committed within this long of the time in its id (the click writer commits a
# batch within milliseconds; a SQLite writer may wait up to its 10 s busy timeout). The
# watermark stays this far behind now, so no click can commit behind it (ADR 0009).
WATERMARK_LAG = timedelta(seconds=30)
# One traffic step covers at most this much click-id time: after a long pause (or on a
# database that never had rollups) the job catches up in transactions of bounded size.
STEP = timedelta(days=7)
# Up to this many new clicks in a step are added one by one (their uniqueness checked
# against the visitor's earlier clicks); above, their buckets are recounted in SQL.
INCREMENTAL_CLICKS = 20_000
# A job run stops starting new steps after this long; the next run goes on.
REFRESH_BUDGET_SECONDS = 60.0
# Change-log rows handled per orders step.
CHANGES_PER_STEP = 20_000
TRAFFIC = "traffic"
ORDER_KINDS = (ConversionKind.sale.value, ConversionKind.lead.value)
MICRO = Decimal(1_000_000)
BATCH = 500
# pg_advisory_xact_lock key: "alliance rollups".
LOCK_KEY = 0x616C6C6961726F6C
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

Progress = Callable[[str, int, int], None]


# --- shared helpers -----------------------------------------------------------------------


def to_micros(value: Decimal) -> int:
    """An amount in integer millionths (the precision of `Amount` on PostgreSQL)."""
    return int((value * MICRO).to_integral_value(ROUND_HALF_EVEN))


def from_micros(value: int | Decimal | None) -> Decimal:
    return Decimal(int(value or 0)).scaleb(-6)


def id_floor(prefix: str, at: datetime) -> str:
    """The smallest id `ids.new_id(prefix)` can make at or after `at`: ids sort by time."""
    millis = int(as_utc(at).timestamp() * 1000) & ((1 << 48) - 1)
    value = millis << 80
    body = "".join(_ALPHABET[(value >> shift) & 31] for shift in range(125, -1, -5))
    return f"{prefix}_{body}"


def id_time(identifier: str) -> datetime:
    """The time part of a time-ordered id (`clk_01J...`)."""
    body = identifier.split("_", 1)[1]
    value = 0
    for char in body:
        value = value * 32 + _ALPHABET.index(char)
    return datetime.fromtimestamp((value >> 80) / 1000, UTC)


def dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def day_expr(session: Session, column: Any) -> ColumnElement[Any]:
    """The UTC day of a datetime column, as the `Date` columns of the rollups store it."""
    if dialect(session) == "sqlite":
        # 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC, db.base.UTCDateTime): the date is the
        # first ten characters, which is also how SQLAlchemy's Date is stored on SQLite.
        return func.substr(column, 1, 10)
    return cast(func.timezone("UTC", column), Date)


def day_start(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def chunks(items: Sequence[Any], size: int = BATCH) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def lock(session: Session, *, wait: bool = True) -> bool:
    """Take the rollups lock for this transaction. SQLite: the write lock, which the writing
    session's BEGIN IMMEDIATE already holds. False if `wait` is off and someone has it."""
    if dialect(session) != "postgresql":
        return True
    if wait:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
        return True
    return bool(session.scalar(text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LOCK_KEY}))


def stored(value: str | None) -> str:
    """A dimension as the rollups store it: NONE for none (and for an empty string, which
    the writers never store: "empty = absent")."""
    return value or NONE


# --- blocks of days -----------------------------------------------------------------------

EPOCH = date(1970, 1, 1)


def block_of(day: date, span: int) -> date:
    """The first day of the aligned `span`-day block that holds `day`."""
    n = (day - EPOCH).days
    return EPOCH + timedelta(days=n - n % span)


def blocks(start: date, end: date, spans: Sequence[int] = SPANS) -> list[tuple[int, date]]:
    """[start, end] as the fewest aligned blocks, greedily: (span, first day) pairs."""
    found: list[tuple[int, date]] = []
    day = start
    largest = sorted(spans, reverse=True)
    while day <= end:
        n = (day - EPOCH).days
        for span in largest:
            if n % span == 0 and day + timedelta(days=span - 1) <= end:
                found.append((span, day))
                day += timedelta(days=span)
                break
    return found


def _block_expr(session: Session, day: Any, span: int) -> ColumnElement[Any]:
    """In SQL: the first day of the `span`-day block that holds the date column `day`."""
    if span == 1:
        return day  # type: ignore[no-any-return]
    if dialect(session) == "sqlite":
        offset = cast(func.julianday(day) - 2440587.5, Integer) % span
        return func.date(day, func.printf("-%d days", offset))
    return cast(day - (day - literal(EPOCH, Date())) % span, Date)


# --- spreading a change into every grain --------------------------------------------------


@dataclass(frozen=True)
class Family:
    """A finest grain, the coarser grains summed from it, and its temporary delta table."""

    full: Grain
    grains: tuple[Grain, ...]
    delta: Table
    # Orders rows can fall to zero (an order moves to another status): they are removed.
    exists: tuple[str, ...]

    @property
    def measures(self) -> tuple[str, ...]:
        return self.full.measures


def _delta_table(full: Grain) -> Table:
    return Table(
        f"rollup_delta_{full.name}",
        MetaData(),
        Column("day", Date, nullable=False),
        *(Column(d, String(DIM_LENGTHS[d]), nullable=False) for d in full.dims),
        *(Column(m, BigInteger, nullable=False) for m in full.measures),
        prefixes=["TEMPORARY"],
    )


TRAFFIC_FAMILY = Family(TRAFFIC_FULL, TRAFFIC_GRAINS, _delta_table(TRAFFIC_FULL), ())
ORDERS_FAMILY = Family(
    ORDERS_FULL, ORDERS_GRAINS, _delta_table(ORDERS_FULL), ("orders", "commissions")
)


def _fresh_delta(session: Session, family: Family) -> Table:
    """The family's delta table, empty (a temporary table: one per connection)."""
    session.execute(CreateTable(family.delta, if_not_exists=True))
    session.execute(delete(family.delta))
    return family.delta


def _upsert(session: Session, grain: Grain) -> Any:
    maker = postgresql.insert if dialect(session) == "postgresql" else sqlite.insert
    return maker(grain.table)


def _spread(session: Session, family: Family, grains: Sequence[Grain]) -> None:
    """Add the delta table's rows to these grains: each row to the row of its key in every
    block of days it falls in (created at zero when missing)."""
    d = family.delta
    changed = or_(*(func.sum(d.c[m]) != 0 for m in family.measures))
    for grain in grains:
        for span in SPANS if grain.spanned else (1,):
            first = _block_expr(session, d.c.day, span)
            dims = [d.c[x] for x in grain.dims]
            rows = (
                select(
                    first,
                    literal(span, SmallInteger()),
                    *dims,
                    *(func.sum(d.c[m]) for m in grain.measures),
                )
                .where(true())  # SQLite: tells the upsert's ON from a join's
                .group_by(first, *dims)
                .having(changed)
            )
            statement = _upsert(session, grain).from_select(
                ["day", "span", *grain.dims, *grain.measures], rows
            )
            statement = statement.on_conflict_do_update(
                index_elements=["span", "day", *grain.dims],
                set_={m: grain.table.c[m] + statement.excluded[m] for m in grain.measures},
            )
            session.execute(statement)


Buckets = Mapping[date, Sequence[str]]  # the programs of each day


def bucket_rows(table: Any, buckets: Buckets) -> Any:
    """The single-day rows of these (program, day) buckets."""
    c = table.c
    return and_(
        c.span == 1,
        or_(*(and_(c.day == day, c.program_id.in_(ids)) for day, ids in buckets.items())),
    )


def _drop_empty(session: Session, family: Family, buckets: Buckets) -> None:
    """Rows of the blocks that hold these buckets and hold nothing any more (an order moved
    to another status: the old key's rows fall to zero)."""
    programs = sorted({p for ids in buckets.values() for p in ids})
    for grain in family.grains:
        t = grain.table
        for span in SPANS:
            firsts = sorted({block_of(day, span) for day in buckets})
            empty = [t.c.span == span, t.c.day.in_(firsts), *(t.c[m] == 0 for m in family.exists)]
            if "program_id" not in grain.dims:  # network-wide: the blocks' rows, every partner
                session.execute(delete(t).where(*empty))
                continue
            for chunk in chunks(programs):
                session.execute(delete(t).where(t.c.program_id.in_(chunk), *empty))


def _rewrite(session: Session, family: Family, buckets: Buckets, write: Callable[[], None]) -> None:
    """Rewrite the finest rows of these buckets with `write`, and add the difference from
    before to every coarser grain, in every block of days."""
    if not buckets:
        return
    full, d = family.full.table, _fresh_delta(session, family)
    columns = ["day", *family.full.dims, *family.measures]
    dims = [full.c[x] for x in family.full.dims]
    where = bucket_rows(full, buckets)
    old = session.execute(
        insert(d).from_select(
            columns,
            select(full.c.day, *dims, *(-full.c[m] for m in family.measures)).where(where),
        )
    )
    session.execute(delete(full).where(where))
    write()
    session.execute(
        insert(d).from_select(
            columns, select(full.c.day, *dims, *(full.c[m] for m in family.measures)).where(where)
        )
    )
    _spread(session, family, family.grains)
    if family.exists and getattr(old, "rowcount", 1) != 0:
        _drop_empty(session, family, buckets)


def _day_runs(buckets: Buckets, days_per_run: int) -> Iterator[Buckets]:
    """Buckets in groups of at most `days_per_run` consecutive days."""
    items = sorted(buckets.items())
    for i in range(0, len(items), days_per_run):
        yield dict(items[i : i + days_per_run])


# Days per part: each day is one OR term of `bucket_rows`, and SQLite parses an OR of n terms
# as a tree n deep, refused beyond 1,000 ("Expression tree is too large"). Seen when changes
# spread over years of days, one program each.
MAX_DAYS_PER_PART = 250


def bucket_parts(buckets: Buckets, size: int = 2000) -> Iterator[Buckets]:
    """Buckets in parts of about `size` (program, day) pairs and at most MAX_DAYS_PER_PART
    days: bounded statements."""
    part: dict[date, Sequence[str]] = {}
    count = 0
    for day, program_ids in sorted(buckets.items()):
        for chunk in chunks(program_ids):
            if part and (
                count + len(chunk) > size or day in part or len(part) >= MAX_DAYS_PER_PART
            ):
                yield part
                part, count = {}, 0
            part[day] = chunk
            count += len(chunk)
    if part:
        yield part


# --- traffic ------------------------------------------------------------------------------


def traffic_state(session: Session) -> RollupState | None:
    return session.scalars(select(RollupState).where(RollupState.name == TRAFFIC)).one_or_none()


def click_facts(session: Session, where: Sequence[ColumnElement[bool]]) -> Any:
    """Per click: its dimensions and whether it is a unique (valid) click, in SQL.

    A click is unique when it is the first (by time, then id) of its (program, partner,
    visitor, UTC day); unique valid when it is the first valid one (neither a bot nor
    marked with an invalid reason such as a country the program does not allow). Both engines have
    ROW_NUMBER(). `where` must select whole partitions (whole days, whole programs or
    partners), or the first click of a partition could be left out.
    """
    day = day_expr(session, Click.occurred_at)
    order = (Click.occurred_at, Click.id)
    group = (Click.program_id, Click.partner_id, Click.visitor_id, day)
    valid = valid_click(Click.is_bot, Click.invalid_reason)
    return (
        select(
            day.label("day"),
            Click.program_id,
            Click.partner_id,
            Click.link_id,
            Click.sub1,
            Click.country,
            Click.device,
            Click.is_bot,
            valid.label("valid"),
            func.row_number().over(partition_by=group, order_by=order).label("rn"),
            func.row_number().over(partition_by=(*group, valid), order_by=order).label("rn_valid"),
        )
        .where(*where)
        .subquery()
    )


def _count_clicks(
    session: Session, program_ids: Sequence[str], start: date, end: date, watermark: str
) -> None:
    """The finest traffic rows of these programs and days, counted from the clicks before
    the watermark, in SQL."""
    if dialect(session) == "postgresql":
        # The window sorts a week of clicks: in memory rather than in temporary files.
        session.execute(text("SET LOCAL work_mem = '64MB'"))
    facts = click_facts(
        session,
        [
            Click.program_id.in_(program_ids),
            Click.occurred_at >= day_start(start),
            Click.occurred_at < day_start(end + timedelta(days=1)),
            Click.id < watermark,
        ],
    )
    dims = {
        "program_id": facts.c.program_id,
        "partner_id": facts.c.partner_id,
        "link_id": facts.c.link_id,
        "sub1": func.coalesce(facts.c.sub1, NONE),
        "country": func.coalesce(facts.c.country, NONE),
        "device": func.coalesce(facts.c.device, NONE),
    }
    keys = [facts.c.day, *(dims[d] for d in TRAFFIC_FULL.dims)]
    valid = facts.c.valid.is_(True)
    counted = select(
        keys[0],
        literal(1, SmallInteger()),
        *keys[1:],
        func.count(),
        func.sum(case((valid, 1), else_=0)),
        func.sum(case((facts.c.rn == 1, 1), else_=0)),
        func.sum(case((and_(valid, facts.c.rn_valid == 1), 1), else_=0)),
    ).group_by(*keys)
    session.execute(
        insert(TRAFFIC_FULL.table).from_select(
            ["day", "span", *TRAFFIC_FULL.dims, *TRAFFIC_MEASURES], counted
        )
    )


def _recount_traffic(
    session: Session, program_ids: Sequence[str], start: date, end: date, watermark: str
) -> None:
    """Recount the traffic of these programs and days (the clicks before the watermark)."""
    for chunk in chunks(program_ids):
        _rewrite(
            session,
            TRAFFIC_FAMILY,
            dict.fromkeys(days(start, end), chunk),
            partial(_count_clicks, session, chunk, start, end, watermark),
        )


_CLICK_COLUMNS = (
    Click.id,
    Click.occurred_at,
    Click.program_id,
    Click.partner_id,
    Click.link_id,
    Click.visitor_id,
    Click.sub1,
    Click.country,
    Click.device,
    Click.is_bot,
    Click.invalid_reason,
)
ClickKey = tuple[date, str, str, str, str | None, str | None, str]  # day .. device


def click_changes(
    session: Session, low: str, high: str | None, keep: Callable[[Any], bool] | None = None
) -> dict[ClickKey, list[int]]:
    """What the clicks with ids in [low, high) add to counts made of the clicks before
    `low`, per finest key (day, program, partner, link, sub1, country, device).

    Each click adds itself (clicks, valid clicks). Uniqueness is per (program, partner,
    visitor, day) and the first click wins, so the visitors' earlier clicks that day are read
    (index (program_id, visitor_id, occurred_at)): a new click is unique only if none came
    before it, and a new click with an earlier time (written late) takes the uniqueness from
    the click that had it. `keep` skips new clicks (a report's period and scope).
    """
    where = [Click.id >= low] if high is None else [Click.id >= low, Click.id < high]
    groups: dict[tuple[str, str, str, date], list[Any]] = defaultdict(list)
    for row in session.execute(select(*_CLICK_COLUMNS).where(*where)):  # the primary key
        if keep is None or keep(row):
            day = as_utc(row.occurred_at).date()
            groups[(row.program_id, row.partner_id, row.visitor_id, day)].append(row)
    if not groups:
        return {}
    visitors: dict[tuple[str, date], set[str]] = defaultdict(set)
    for program_id, _, visitor_id, day in groups:
        visitors[(program_id, day)].add(visitor_id)
    before: dict[tuple[str, str, str, date], list[Any]] = defaultdict(list)
    for (program_id, day), ids in visitors.items():
        for chunk in chunks(sorted(ids)):
            rows = session.execute(
                select(*_CLICK_COLUMNS).where(
                    Click.program_id == program_id,
                    Click.visitor_id.in_(chunk),
                    Click.occurred_at >= day_start(day),
                    Click.occurred_at < day_start(day + timedelta(days=1)),
                    Click.id < low,
                )
            )
            for row in rows:
                key = (program_id, row.partner_id, row.visitor_id, day)
                if key in groups:
                    before[key].append(row)
    changes: dict[ClickKey, list[int]] = {}

    def add(row: Any, index: int, value: int) -> None:
        key = (
            as_utc(row.occurred_at).date(),
            row.program_id,
            row.partner_id,
            row.link_id,
            row.sub1,
            row.country,
            row.device,
        )
        counts = changes.get(key)
        if counts is None:
            counts = changes[key] = [0, 0, 0, 0]
        counts[index] += value

    def first(rows: Iterable[Any], valid_only: bool) -> Any:
        eligible = [r for r in rows if not valid_only or is_valid_click(r.is_bot, r.invalid_reason)]
        return min(eligible, key=lambda r: (as_utc(r.occurred_at), r.id)) if eligible else None

    for key, added in groups.items():
        earlier = before.get(key, [])
        for row in added:
            add(row, 0, 1)
            if is_valid_click(row.is_bot, row.invalid_reason):
                add(row, 1, 1)
        for index, valid_only in ((2, False), (3, True)):
            was, now = first(earlier, valid_only), first([*earlier, *added], valid_only)
            if was is not None and (now is None or was.id != now.id):
                add(was, index, -1)
            if now is not None and (was is None or was.id != now.id):
                add(now, index, 1)
    return {k: v for k, v in changes.items() if any(v)}


def _add_clicks(session: Session, low: str, high: str) -> int:
    """Add the clicks with ids in [low, high) to every traffic grain, one by one."""
    changes = click_changes(session, low, high)
    if not changes:
        return 0
    d = _fresh_delta(session, TRAFFIC_FAMILY)
    rows = [
        {
            "day": key[0],
            "program_id": key[1],
            "partner_id": key[2],
            "link_id": key[3],
            "sub1": stored(key[4]),
            "country": stored(key[5]),
            "device": stored(key[6]),
        }
        | dict(zip(TRAFFIC_MEASURES, counts, strict=True))
        for key, counts in changes.items()
    ]
    for chunk in chunks(rows, 5000):
        session.execute(insert(d), list(chunk))
    _spread(session, TRAFFIC_FAMILY, (TRAFFIC_FULL, *TRAFFIC_GRAINS))
    return len({(k[1], k[0]) for k in changes})


def _programs_by_day(pairs: Iterable[tuple[str, Any]]) -> dict[date, list[str]]:
    found: dict[date, set[str]] = defaultdict(set)
    for program_id, day in pairs:
        found[day if isinstance(day, date) else date.fromisoformat(str(day))].add(program_id)
    return {day: sorted(ids) for day, ids in sorted(found.items())}


def _traffic_step(
    session: Session, now: datetime, done: set[tuple[str, date]] | None = None
) -> tuple[bool, int]:
    """Move the traffic watermark forward by at most one STEP. (more to do, buckets)."""
    target = as_utc(now) - WATERMARK_LAG
    state = traffic_state(session)
    if state is None:
        first = session.scalar(select(func.min(Click.id)))
        start = id_time(first) if first else target
        state = RollupState(
            name=TRAFFIC,
            watermark=id_floor("clk", start),
            through_at=start,
            version=0,
            updated_at=utcnow(),
        )
        session.add(state)
        session.flush()
    through = as_utc(state.through_at)
    if through >= target:
        return False, 0
    upto = min(target, through + STEP)
    mark = id_floor("clk", upto)
    window = (Click.id >= state.watermark, Click.id < mark)
    count = session.scalar(select(func.count()).where(*window)) or 0
    buckets = 0
    if 0 < count <= INCREMENTAL_CLICKS:
        buckets = _add_clicks(session, state.watermark, mark)
    elif count:
        # Many clicks (a pause, a backfill): recount their days in SQL, all at once.
        day = day_expr(session, Click.occurred_at)
        touched = _programs_by_day(
            (r[0], r[1])
            for r in session.execute(
                select(Click.program_id, day).where(*window).group_by(Click.program_id, day)
            )
        )
        for run in _day_runs(touched, 7):
            programs = sorted({p for ids in run.values() for p in ids})
            _recount_traffic(session, programs, min(run), max(run), mark)
            buckets += len(programs) * len(run)
            if done is not None:
                done.update((p, d) for d in days(min(run), max(run)) for p in programs)
    state.watermark = mark
    state.through_at = upto
    state.version = (state.version or 0) + 1
    state.updated_at = utcnow()
    return upto < target, buckets


# --- orders -------------------------------------------------------------------------------

ORDER_DIMS = ("day", *ORDERS_FULL.dims)
_COMMISSION_MEASURE = {
    CommissionStatus.pending.value: ORDER_MEASURES.index("commission_pending"),
    CommissionStatus.approved.value: ORDER_MEASURES.index("commission_approved"),
    CommissionStatus.paid.value: ORDER_MEASURES.index("commission_paid"),
    CommissionStatus.declined.value: ORDER_MEASURES.index("commission_declined"),
    CommissionStatus.reversed.value: ORDER_MEASURES.index("commission_reversed"),
}
_VALUE = ORDER_MEASURES.index("commission_value")
_COMMISSIONS = ORDER_MEASURES.index("commissions")
OrderKey = tuple[Any, ...]  # values of ORDER_DIMS (None for none)


@dataclass
class OrderFacts:
    """The finest orders grain computed from the raw tables, with the customers seen."""

    rows: dict[OrderKey, list[int]] = field(default_factory=dict)
    customers: set[tuple[str, str]] = field(default_factory=set)

    def add(self, key: OrderKey, index: int, value: int) -> None:
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = [0] * len(ORDER_MEASURES)
        row[index] += value


def order_key(
    day: date,
    program_id: str,
    partner_id: str,
    earner_id: str,
    currency: str,
    status: str,
    country: str | None,
    sub1: str | None,
    device: str | None,
) -> OrderKey:
    """The finest orders key, in ORDER_DIMS order."""
    values = {
        "day": day,
        "program_id": program_id,
        "partner_id": partner_id,
        "earner_id": earner_id,
        "currency": currency,
        "status": status,
        "country": country,
        "sub1": sub1,
        "device": device,
    }
    return tuple(values[d] for d in ORDER_DIMS)


def conversion_where(buckets: Buckets) -> list[Any]:
    """Orders of these (program, day) buckets; the (program_id, occurred_at) index serves
    each day's range."""
    return [
        Conversion.kind.in_(ORDER_KINDS),
        or_(
            *(
                and_(
                    Conversion.program_id.in_(ids),
                    Conversion.occurred_at >= day_start(day),
                    Conversion.occurred_at < day_start(day + timedelta(days=1)),
                )
                for day, ids in buckets.items()
            )
        ),
    ]


def order_facts(session: Session, buckets: Buckets, facts: OrderFacts) -> None:
    """Add the orders of these (program, day) buckets (and their commissions) to `facts`.

    Exactly the arithmetic of queries.orders_report_raw, per finest key: an order counts in
    the row of its own partner; a commission in the row of its partner (the earner) and its
    currency; both carry the order's day, program, status, buyer country and click.
    """
    where = conversion_where(buckets)
    orders = session.execute(
        select(
            Conversion.occurred_at,
            Conversion.program_id,
            Conversion.partner_id,
            Conversion.status,
            Conversion.currency,
            Conversion.amount,
            Conversion.refunded_amount,
            Conversion.buyer_country,
            Click.sub1,
            Click.device,
            Conversion.customer_id,
        )
        .outerjoin(Click, Click.id == Conversion.click_id)
        .where(*where)
    )
    declined = ConversionStatus.declined.value
    refunded_status = ConversionStatus.refunded.value
    for at, prg, ptn, status, cur, amount, refunded, country, sub1, device, customer in orders:
        key = order_key(as_utc(at).date(), prg, ptn, ptn, cur, status, country, sub1, device)
        row = facts.rows.get(key)
        if row is None:
            row = facts.rows[key] = [0] * len(ORDER_MEASURES)
        amount_m, refunded_m = to_micros(amount), to_micros(refunded)
        row[0] += 1
        row[3] += amount_m
        row[4] += refunded_m
        if refunded > 0 or status == refunded_status:
            row[1] += 1
        if status == declined:
            row[2] += 1
            row[5] += amount_m
        else:
            row[6] += amount_m - refunded_m
        if customer:
            facts.customers.add((prg, customer))
    commissions = session.execute(
        select(
            Commission.id,
            Commission.status,
            Commission.currency,
            Commission.amount,
            Commission.partner_id,
            Conversion.occurred_at,
            Conversion.program_id,
            Conversion.partner_id,
            Conversion.status,
            Conversion.buyer_country,
            Click.sub1,
            Click.device,
            LedgerEntry.amount,
        )
        .join(Conversion, Conversion.id == Commission.conversion_id)
        .outerjoin(Click, Click.id == Conversion.click_id)
        .outerjoin(LedgerEntry, LedgerEntry.commission_id == Commission.id)
        .where(*where)
    )
    seen: dict[str, tuple[OrderKey, str, Decimal]] = {}
    values: dict[str, Decimal] = defaultdict(Decimal)
    for (
        cid,
        status,
        cur,
        original,
        earner,
        at,
        prg,
        ptn,
        o_status,
        country,
        sub1,
        device,
        entry,
    ) in commissions:
        if cid not in seen:
            key = order_key(
                as_utc(at).date(), prg, ptn, earner, cur, o_status, country, sub1, device
            )
            seen[cid] = (key, status, original)
        if entry is not None:
            values[cid] += entry
    for cid, (key, status, original) in seen.items():
        value = to_micros(values[cid])
        facts.add(key, _VALUE, value)
        facts.add(key, _COMMISSIONS, 1)
        index = _COMMISSION_MEASURE.get(status)
        if index is None:
            continue
        # Declined and reversed commissions are worth zero; the report shows what was lost.
        lost = status in (CommissionStatus.declined.value, CommissionStatus.reversed.value)
        facts.add(key, index, to_micros(original) if lost else value)


def _write_orders(session: Session, facts: OrderFacts) -> None:
    merged: dict[tuple[Any, ...], list[int]] = {}
    for key, values in facts.rows.items():
        stored_key = (key[0], *(stored(v) for v in key[1:]))
        row = merged.setdefault(stored_key, [0] * len(ORDER_MEASURES))
        for i, v in enumerate(values):
            row[i] += v
    rows = [
        {"span": 1}
        | dict(zip(ORDER_DIMS, key, strict=True))
        | dict(zip(ORDER_MEASURES, values, strict=True))
        for key, values in merged.items()
    ]
    for chunk in chunks(rows, 5000):
        session.execute(insert(ORDERS_FULL.table), list(chunk))


def _recompute_orders(session: Session, buckets: Buckets) -> set[tuple[str, str]]:
    """Rewrite the orders and refunds of these (program, day) buckets; the customers seen."""
    customers: set[tuple[str, str]] = set()
    for part in bucket_parts(buckets):
        facts = OrderFacts()
        order_facts(session, part, facts)
        _rewrite(session, ORDERS_FAMILY, part, partial(_write_orders, session, facts))
        customers |= facts.customers
        session.execute(delete(RefundRollup).where(_refund_bucket(part)))
        rows = [vars(fact) for fact in refund_facts(session, part)]
        for chunk in chunks(rows, 5000):
            session.execute(insert(RefundRollup), list(chunk))
    return customers


# --- refunds ------------------------------------------------------------------------------

REFUND_ENTRY_TYPES = (
    EntryType.reduction.value,
    EntryType.reversal.value,
    EntryType.adjustment.value,
)


@dataclass
class RefundFact:
    """A row of RefundRollup (its columns, NONE for none)."""

    program_id: str
    order_day: date
    conversion_id: str
    kind: str  # refund | commission
    day: date
    partner_id: str
    earner_id: str
    currency: str
    country: str
    sub1: str
    device: str
    amount: int


def _refund_bucket(buckets: Buckets) -> Any:
    return or_(
        *(
            and_(RefundRollup.order_day == day, RefundRollup.program_id.in_(ids))
            for day, ids in buckets.items()
        )
    )


def refund_facts(session: Session, buckets: Buckets) -> list[RefundFact]:
    """The refund events and the commission given back of the orders of these buckets.

    The same arithmetic as queries.refunds_report_raw: an event stores the cumulative
    refunded amount, so it counts the step from the refund event before it (events in
    (time, id) order; an event without an amount repeats the one before).
    """
    where = conversion_where(buckets)
    order = (
        Conversion.program_id,
        Conversion.occurred_at,
        Conversion.partner_id,
        Conversion.currency,
        Conversion.buyer_country,
        Click.sub1,
        Click.device,
    )
    found: list[RefundFact] = []
    events = session.execute(
        select(
            ConversionEvent.conversion_id,
            ConversionEvent.occurred_at,
            ConversionEvent.refunded_amount,
            *order,
        )
        .join(Conversion, Conversion.id == ConversionEvent.conversion_id)
        .outerjoin(Click, Click.id == Conversion.click_id)
        .where(ConversionEvent.kind == "refund", *where)
        .order_by(ConversionEvent.conversion_id, ConversionEvent.occurred_at, ConversionEvent.id)
    )
    before: dict[str, Decimal] = {}
    for cid, at, cumulative, prg, order_at, ptn, cur, country, sub1, device in events:
        now = cumulative if cumulative is not None else before.get(cid, Decimal(0))
        step = now - before.get(cid, Decimal(0))
        before[cid] = now
        found.append(
            RefundFact(
                prg,
                as_utc(order_at).date(),
                cid,
                "refund",
                as_utc(at).date(),
                ptn,
                ptn,
                cur,
                stored(country),
                stored(sub1),
                stored(device),
                to_micros(step),
            )
        )
    entries = session.execute(
        select(
            Conversion.id,
            LedgerEntry.created_at,
            LedgerEntry.partner_id,
            LedgerEntry.currency,
            LedgerEntry.amount,
            *order,
        )
        .join(Commission, Commission.id == LedgerEntry.commission_id)
        .join(Conversion, Conversion.id == Commission.conversion_id)
        .outerjoin(Click, Click.id == Conversion.click_id)
        .where(LedgerEntry.entry_type.in_(REFUND_ENTRY_TYPES), *where)
    )
    for cid, at, earner, cur, amount, prg, order_at, ptn, _, country, sub1, device in entries:
        found.append(
            RefundFact(
                prg,
                as_utc(order_at).date(),
                cid,
                "commission",
                as_utc(at).date(),
                ptn,
                earner,
                cur,
                stored(country),
                stored(sub1),
                stored(device),
                -to_micros(amount),  # entries are negative; shown positive
            )
        )
    return found


# --- customers ----------------------------------------------------------------------------

CustomerKey = tuple[str, str, str, str]  # program, customer, partner (or ANY_PARTNER), currency


def customer_facts(
    session: Session, customers: Iterable[tuple[str, str]]
) -> dict[CustomerKey, tuple[date, int, int]]:
    """(first day, orders, net sales in micro-units) per customer, scope and currency, from
    the raw table: every sale of the customer that was not declined, to date."""
    by_program: dict[str, list[str]] = defaultdict(list)
    for program_id, customer_id in customers:
        by_program[program_id].append(customer_id)
    first: dict[tuple[str, str, str], date] = {}
    totals: dict[CustomerKey, list[int]] = defaultdict(lambda: [0, 0])
    for program_id, ids in by_program.items():
        for chunk in chunks(sorted(set(ids))):
            rows = session.execute(
                select(
                    Conversion.customer_id,
                    Conversion.partner_id,
                    Conversion.currency,
                    Conversion.occurred_at,
                    Conversion.amount,
                    Conversion.refunded_amount,
                ).where(
                    Conversion.program_id == program_id,
                    Conversion.customer_id.in_(chunk),
                    Conversion.kind == ConversionKind.sale.value,
                    Conversion.status != ConversionStatus.declined.value,
                )
            )
            for customer, partner_id, cur, at, amount, refunded in rows:
                customer_id = str(customer)
                day = as_utc(at).date()
                net = to_micros(amount) - to_micros(refunded)
                for scope in (ANY_PARTNER, partner_id):
                    who = (program_id, customer_id, scope)
                    if who not in first or day < first[who]:
                        first[who] = day
                    total = totals[(program_id, customer_id, scope, cur)]
                    total[0] += 1
                    total[1] += net
    return {key: (first[key[:3]], orders, net) for key, (orders, net) in totals.items()}


def stored_customers(
    session: Session, customers: Iterable[tuple[str, str]]
) -> dict[CustomerKey, tuple[int, date, int, int]]:
    """The customer rows as stored: (row id, first day, orders, net)."""
    by_program: dict[str, list[str]] = defaultdict(list)
    for program_id, customer_id in customers:
        by_program[program_id].append(customer_id)
    found: dict[CustomerKey, tuple[int, date, int, int]] = {}
    for program_id, ids in by_program.items():
        for chunk in chunks(sorted(set(ids))):
            rows = session.execute(
                select(
                    CustomerRollup.id,
                    CustomerRollup.customer_id,
                    CustomerRollup.partner_id,
                    CustomerRollup.currency,
                    CustomerRollup.first_day,
                    CustomerRollup.orders,
                    CustomerRollup.net_sales,
                ).where(
                    CustomerRollup.program_id == program_id,
                    CustomerRollup.customer_id.in_(chunk),
                )
            )
            for row_id, customer_id, scope, cur, first_day, orders, net in rows:
                found[(program_id, customer_id, scope, cur)] = (row_id, first_day, orders, net)
    return found


def _recompute_customers(session: Session, customers: set[tuple[str, str]]) -> None:
    """Rewrite these customers' rows and move their contributions between cohorts."""
    if not customers:
        return
    old = stored_customers(session, customers)
    new = customer_facts(session, customers)
    cohorts: dict[tuple[date, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0])
    for (program_id, _, scope, cur), (_, first_day, orders, net) in old.items():
        delta = cohorts[(first_day, program_id, scope, cur)]
        delta[0] -= 1
        delta[1] -= orders
        delta[2] -= net
    for (program_id, _, scope, cur), (first_day, orders, net) in new.items():
        delta = cohorts[(first_day, program_id, scope, cur)]
        delta[0] += 1
        delta[1] += orders
        delta[2] += net
    for chunk in chunks([row_id for row_id, *_ in old.values()]):
        session.execute(delete(CustomerRollup).where(CustomerRollup.id.in_(chunk)))
    _insert_customers(session, new)
    _apply_cohort_deltas(session, {k: v for k, v in cohorts.items() if any(v)})


def _insert_customers(session: Session, facts: Mapping[CustomerKey, tuple[date, int, int]]) -> None:
    """Write customer rollup rows: (program, customer, scope, currency) -> (first day,
    orders, net sales in micro-units)."""
    rows = [
        {
            "program_id": key[0],
            "customer_id": key[1],
            "partner_id": key[2],
            "currency": key[3],
            "first_day": first_day,
            "orders": orders,
            "net_sales": net,
        }
        for key, (first_day, orders, net) in facts.items()
    ]
    for chunk in chunks(rows, 5000):
        session.execute(insert(CustomerRollup), list(chunk))


def _cohort_match(keys: Sequence[tuple[date, str, str, str]]) -> Any:
    return or_(
        *(
            and_(
                CustomerCohort.first_day == day,
                CustomerCohort.program_id == program_id,
                CustomerCohort.partner_id == scope,
                CustomerCohort.currency == cur,
            )
            for day, program_id, scope, cur in keys
        )
    )


def _apply_cohort_deltas(
    session: Session, deltas: dict[tuple[date, str, str, str], list[int]]
) -> None:
    for chunk in chunks(sorted(deltas), 200):
        current = {
            (r[0], r[1], r[2], r[3]): [r[4], r[5], r[6]]
            for r in session.execute(
                select(
                    CustomerCohort.first_day,
                    CustomerCohort.program_id,
                    CustomerCohort.partner_id,
                    CustomerCohort.currency,
                    CustomerCohort.customers,
                    CustomerCohort.orders,
                    CustomerCohort.net_sales,
                ).where(_cohort_match(chunk))
            )
        }
        if current:
            session.execute(delete(CustomerCohort).where(_cohort_match(list(current))))
        rows = []
        for key in chunk:
            merged = [a + b for a, b in zip(current.get(key, [0, 0, 0]), deltas[key], strict=True)]
            if merged[0] > 0:
                rows.append(
                    {
                        "first_day": key[0],
                        "program_id": key[1],
                        "partner_id": key[2],
                        "currency": key[3],
                        "customers": merged[0],
                        "orders": merged[1],
                        "net_sales": merged[2],
                    }
                )
        if rows:
            session.execute(insert(CustomerCohort), rows)


def _rebuild_customers(session: Session, program_id: str) -> None:
    """Every customer row and cohort of one program, from the raw table."""
    customers = {
        (program_id, c)
        for c in session.scalars(
            select(Conversion.customer_id)
            .where(
                Conversion.program_id == program_id,
                Conversion.customer_id.is_not(None),
                Conversion.kind == ConversionKind.sale.value,
            )
            .distinct()
        )
        if c
    }
    session.execute(delete(CustomerRollup).where(CustomerRollup.program_id == program_id))
    session.execute(delete(CustomerCohort).where(CustomerCohort.program_id == program_id))
    new = customer_facts(session, customers)
    _insert_customers(session, new)
    source = CustomerRollup
    keys = (source.first_day, source.program_id, source.partner_id, source.currency)
    session.execute(
        insert(CustomerCohort).from_select(
            [
                "first_day",
                "program_id",
                "partner_id",
                "currency",
                "customers",
                "orders",
                "net_sales",
            ],
            select(*keys, func.count(), func.sum(source.orders), func.sum(source.net_sales))
            .where(source.program_id == program_id)
            .group_by(*keys),
        )
    )


# --- the change log -----------------------------------------------------------------------


def _orders_step(session: Session) -> tuple[bool, int]:
    """Recompute the buckets of up to CHANGES_PER_STEP logged changes. (more, buckets)."""
    changes = session.execute(
        select(ReportChange.id, ReportChange.program_id, ReportChange.day)
        .order_by(ReportChange.id)
        .limit(CHANGES_PER_STEP)
    ).all()
    if not changes:
        return False, 0
    buckets = _programs_by_day((r[1], r[2]) for r in changes)
    _recompute_customers(session, _recompute_orders(session, buckets))
    # Only the rows read: a change committed meanwhile keeps its row for the next step.
    for chunk in chunks([r[0] for r in changes]):
        session.execute(delete(ReportChange).where(ReportChange.id.in_(chunk)))
    return len(changes) == CHANGES_PER_STEP, sum(len(p) for p in buckets.values())


# --- entry points -------------------------------------------------------------------------


@dataclass
class RefreshSummary:
    traffic_buckets: int = 0
    orders_buckets: int = 0
    steps: int = 0
    busy: bool = False  # another worker holds the lock: nothing done, nothing lost
    caught_up: bool = True
    watermark_at: datetime | None = None

    def as_result(self) -> dict[str, Any]:
        result: dict[str, Any] = {
            "traffic_buckets": self.traffic_buckets,
            "orders_buckets": self.orders_buckets,
            "steps": self.steps,
        }
        if self.busy:
            result["busy"] = True
        if not self.caught_up:
            result["caught_up"] = False
        if self.watermark_at is not None:
            result["watermark"] = self.watermark_at.isoformat()
        return result


def _writing(url: str | None) -> Any:
    from alliance.db.engine import transaction

    return transaction(url)


def refresh(
    now: datetime | None = None,
    url: str | None = None,
    *,
    budget_seconds: float = REFRESH_BUDGET_SECONDS,
) -> RefreshSummary:
    """Bring the rollups up to date: traffic up to the watermark lag, orders through the
    change log. Each step is its own short transaction; stops early after the budget."""
    return _refresh(now, url, budget_seconds, traffic=True, orders=True)


def _refresh(
    now: datetime | None,
    url: str | None,
    budget_seconds: float,
    *,
    traffic: bool,
    orders: bool,
    done: set[tuple[str, date]] | None = None,
    progress: Progress | None = None,
) -> RefreshSummary:
    summary = RefreshSummary()
    began = time.monotonic()
    more_traffic, more_orders = traffic, orders
    while more_traffic or more_orders:
        if time.monotonic() - began > budget_seconds:
            summary.caught_up = False
            break
        with _writing(url) as session:
            if not lock(session, wait=False):
                summary.busy = True
                return summary
            if more_traffic:
                more_traffic, buckets = _traffic_step(session, now or utcnow(), done)
                summary.traffic_buckets += buckets
            if more_orders:
                more_orders, buckets = _orders_step(session)
                summary.orders_buckets += buckets
            state = traffic_state(session)
            summary.watermark_at = as_utc(state.through_at) if state else None
        summary.steps += 1
        if progress is not None and summary.watermark_at is not None:
            behind = (now or utcnow()) - summary.watermark_at
            progress("watermark", summary.steps, summary.steps + int(behind / STEP))
    return summary


@dataclass
class RebuildSummary:
    start: date | None
    end: date | None
    traffic_buckets: int = 0
    orders_buckets: int = 0
    customers_programs: int = 0
    seconds: float = 0.0


def _extent(session: Session) -> tuple[date, date] | None:
    """The first and last UTC days with clicks or orders."""
    lows, highs = [], []
    for column in (Click.occurred_at, Conversion.occurred_at):
        low, high = session.execute(select(func.min(column), func.max(column))).one()
        if low is not None:
            lows.append(as_utc(low).date())
            highs.append(as_utc(high).date())
    return (min(lows), max(highs)) if lows else None


def _runs(days_todo: Iterable[date]) -> Iterator[tuple[date, date]]:
    """Consecutive days as (first, last) runs."""
    run: list[date] = []
    for day in days_todo:
        if run and day != run[-1] + timedelta(days=1):
            yield run[0], run[-1]
            run = []
        run.append(day)
    if run:
        yield run[0], run[-1]


def rebuild(
    url: str | None = None,
    *,
    start: date | None = None,
    end: date | None = None,
    progress: Progress | None = None,
    week: int = 7,
) -> RebuildSummary:
    """Recompute every rollup bucket from `start` to `end` (UTC days, inclusive; default:
    every day with data) from the raw tables, and catch the traffic watermark up.

    Safe while the network runs: one short transaction per week (`week` days), each under
    the rollups lock, adding its difference to every coarser grain; readers see a bucket
    before or after, never half done. Use it after writing clicks or orders around
    the usual paths (an import with backdated click ids, the demo, a restore), or to check
    the rollups against the raw tables. `progress(step, done, total)` is called as it goes
    ("watermark", "traffic", "orders", "customers").
    """
    began = time.monotonic()
    report = progress or (lambda _step, _done, _total: None)
    from alliance.db.engine import reading

    with reading(url) as session:
        programs = list(session.scalars(select(Program.id).order_by(Program.id)))
        extent = _extent(session)
    summary = RebuildSummary(start, end)
    if extent is None or not programs:
        caught = _refresh(None, url, float("inf"), traffic=True, orders=True)
        summary.traffic_buckets = caught.traffic_buckets
        summary.orders_buckets = caught.orders_buckets
        summary.seconds = time.monotonic() - began
        return summary
    first = start or extent[0]
    last = end or max(extent[1], utcnow().date())
    summary.start, summary.end = first, last
    with reading(url) as session:
        # Changes logged so far are in what the steps below read: their rows go at the end.
        logged = list(
            session.scalars(
                select(ReportChange.id).where(ReportChange.day >= first, ReportChange.day <= last)
            )
        )
    # The watermark first (on a new database this counts the clicks week by week): the
    # buckets rewritten below then hold every click before it, and those it counted are
    # not counted twice.
    done: set[tuple[str, date]] = set()
    caught = _refresh(
        None, url, float("inf"), traffic=True, orders=False, done=done, progress=report
    )
    summary.traffic_buckets += caught.traffic_buckets
    weeks = [(d, min(d + timedelta(days=week - 1), last)) for d in _every(first, last, week)]
    for n, (low, high) in enumerate(weeks, 1):
        # The days of the week whose clicks the watermark did not just count, per program.
        todo = {day: [p for p in programs if (p, day) not in done] for day in days(low, high)}
        todo = {day: ids for day, ids in todo.items() if ids}
        if todo:
            ids = sorted({p for chunk in todo.values() for p in chunk})
            with _writing(url) as session:
                lock(session)
                state = traffic_state(session)
                if state is not None:
                    _recount_traffic(session, ids, min(todo), max(todo), state.watermark)
            summary.traffic_buckets += len(ids) * len(todo)
        report("traffic", n, len(weeks))
    for n, (low, high) in enumerate(weeks, 1):
        with _writing(url) as session:
            lock(session)
            _recompute_orders(session, dict.fromkeys(days(low, high), programs))
        summary.orders_buckets += len(programs) * ((high - low).days + 1)
        report("orders", n, len(weeks))
    for n, program_id in enumerate(programs, 1):
        with _writing(url) as session:
            lock(session)
            _rebuild_customers(session, program_id)
        report("customers", n, len(programs))
    summary.customers_programs = len(programs)
    for chunk in chunks(logged, 5000):
        with _writing(url) as session:
            session.execute(delete(ReportChange).where(ReportChange.id.in_(chunk)))
    caught = _refresh(None, url, float("inf"), traffic=True, orders=True)
    summary.traffic_buckets += caught.traffic_buckets
    summary.orders_buckets += caught.orders_buckets
    summary.seconds = time.monotonic() - began
    return summary


def _every(first: date, last: date, step: int) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=step)
