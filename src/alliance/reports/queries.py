"""The four reports. Traffic and orders answer from the rollups (reports/cube.py, ADR 0009);
refunds and transactions read the raw tables.

`traffic_report_raw`, `orders_report_raw` and `valid_clicks_by_raw` are the reference
implementation on the raw tables: the rollup answers must equal them exactly (the tests
check it on random networks, `bench/reports.py` on ten million clicks). Counting happens in
SQL on the indexes that carry `program_id` and the event time first. Money is never summed
in SQL there: `Amount` is TEXT on SQLite, where SUM() goes through floats, so the queries
fetch narrow rows and add `Decimal`s in Python, grouped by currency. Days are UTC calendar
days: on SQLite, where datetimes are naive UTC text, the day is the text's first 10
characters; on PostgreSQL it is the timestamptz seen in UTC.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import (
    ColumnElement,
    String,
    and_,
    any_,
    bindparam,
    case,
    exists,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Session, aliased

from alliance.accounts.models import AccountKind, Partner
from alliance.accounts.service import Principal
from alliance.clock import as_utc
from alliance.commissions.models import Commission, CommissionStatus, EntryType, LedgerEntry
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    ConversionKind,
    ConversionStatus,
)
from alliance.errors import InvalidInput, NotFound
from alliance.money import quantum
from alliance.programs.models import Enrollment, Program
from alliance.reports import convert, cube, rollups
from alliance.reports.models import ORDER_MEASURES
from alliance.reports.schemas import (
    ConvertedAmounts,
    Kpis,
    Named,
    OrdersGroup,
    OrdersReport,
    OrdersRow,
    RefundsGroup,
    RefundsReport,
    RefundsRow,
    StatusChange,
    TrafficGroup,
    TrafficReport,
    TrafficRow,
    Transaction,
    TransactionCommission,
    TransactionsPage,
)
from alliance.tracking.models import Click, Link, valid_click

ORDER_KINDS = (ConversionKind.sale.value, ConversionKind.lead.value)
# Ledger movements that give commission back because the order was refunded.
REFUND_ENTRY_TYPES = (
    EntryType.reduction.value,
    EntryType.reversal.value,
    EntryType.adjustment.value,
)
RATIO = Decimal("0.0001")
# IN lists are cut to this size so no engine meets its bound-parameter limit.
BATCH = 500
# Network-wide, foreign orders of at most this many programs are read program by program.
FEW_PROGRAMS = 5
Counts = list[int]
# A row of measures as the reports read it: counts and micro-units (int), or, converted to one
# currency, exact micro-units of it with a fraction (Decimal; convert.py).
Measures = Sequence[int | Decimal]


# --- what is asked, by whom -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Scope:
    """What the caller may see, with its own filters already folded in."""

    program_ids: tuple[str, ...] | None  # None: every program (the operator, unfiltered)
    partner_id: str | None  # only this partner's rows
    viewer: AccountKind = AccountKind.operator
    viewer_id: str | None = None

    @property
    def sees_roi(self) -> bool:
        # ROI is the advertiser's question (what the channel returns on what it costs).
        return self.viewer is not AccountKind.partner


@dataclass(frozen=True, slots=True)
class Filters:
    sub1: str | None = None
    country: str | None = None  # ISO 3166 alpha-2, upper case
    device: str | None = None

    def echo(self) -> dict[str, str]:
        return {
            k: v
            for k, v in (("sub1", self.sub1), ("country", self.country), ("device", self.device))
            if v is not None
        }


@dataclass(frozen=True, slots=True)
class ReportQuery:
    start: date  # first UTC day, inclusive
    end: date  # last UTC day, inclusive
    scope: Scope
    filters: Filters = field(default_factory=Filters)
    # Money converted to one currency at each day's ECB rate (convert.converter); None: every
    # amount in its own currency (orders' in the order's, commissions' in the program's).
    fx: convert.Converter | None = None

    @property
    def currency(self) -> str | None:
        return self.fx.currency if self.fx is not None else None

    @property
    def start_at(self) -> datetime:
        return datetime.combine(self.start, time.min, UTC)

    @property
    def end_at(self) -> datetime:
        """Exclusive upper bound: midnight after the last day."""
        return datetime.combine(self.end + timedelta(days=1), time.min, UTC)

    def echo_filters(self) -> dict[str, str]:
        echo = self.filters.echo()
        if self.scope.program_ids is not None and len(self.scope.program_ids) == 1:
            echo["program_id"] = self.scope.program_ids[0]
        if self.scope.partner_id is not None:
            echo["partner_id"] = self.scope.partner_id
        if self.fx is not None:
            echo["currency"] = self.fx.currency
        return echo


def resolve_scope(
    session: Session, who: Principal, program_id: str | None, partner_id: str | None
) -> Scope:
    """Fold the caller's account into its filters.

    An advertiser sees its programs only: naming another's program answers 404, as if it did
    not exist. A partner sees its own rows only; it may narrow them to one program.
    """
    if program_id is not None and session.get(Program, program_id) is None:
        raise NotFound("no such program", field="program_id")
    if who.is_operator:
        if partner_id is not None and session.get(Partner, partner_id) is None:
            raise NotFound("no such partner", field="partner_id")
        return Scope((program_id,) if program_id else None, partner_id, who.kind, who.id)
    if who.is_advertiser:
        own = tuple(
            session.scalars(
                select(Program.id).where(Program.advertiser_id == who.id).order_by(Program.id)
            )
        )
        if program_id is not None and program_id not in own:
            raise NotFound("no such program", field="program_id")
        if partner_id is not None:
            enrolled = session.scalar(
                select(Enrollment.id)
                .where(Enrollment.partner_id == partner_id, Enrollment.program_id.in_(own))
                .limit(1)
            )
            if enrolled is None:
                raise NotFound("no such partner in your programs", field="partner_id")
        return Scope((program_id,) if program_id else own, partner_id, who.kind, who.id)
    if partner_id is not None and partner_id != who.id:
        raise NotFound("no such partner", field="partner_id")
    return Scope((program_id,) if program_id else None, who.id, who.kind, who.id)


def operator_scope(program_id: str | None = None, partner_id: str | None = None) -> Scope:
    """The CLI's scope: the operator, with optional filters (not checked against the DB)."""
    return Scope((program_id,) if program_id else None, partner_id)


def slice_of(q: ReportQuery) -> cube.Slice:
    """What the rollups are asked: the period, the scope, the filters."""
    return cube.Slice(
        q.start,
        q.end,
        q.scope.program_ids,
        q.scope.partner_id,
        q.filters.sub1,
        q.filters.country,
        q.filters.device,
    )


def _scoped(scope: Scope, program_col: Any, partner_col: Any) -> list[ColumnElement[bool]]:
    conds: list[ColumnElement[bool]] = []
    if scope.program_ids is not None:
        conds.append(program_col.in_(scope.program_ids))
    if scope.partner_id is not None:
        conds.append(partner_col == scope.partner_id)
    return conds


def _dialect(session: Session) -> str:
    return session.get_bind().dialect.name


def _day(session: Session, column: Any) -> ColumnElement[str]:
    """'YYYY-MM-DD' of a UTC datetime column, in SQL, on either engine."""
    if _dialect(session) == "sqlite":
        # SQLAlchemy stores 'YYYY-MM-DD HH:MM:SS.ffffff' (naive UTC, see db.base.UTCDateTime).
        return func.substr(column, 1, 10)
    return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")


def _day_of(value: datetime) -> str:
    return as_utc(value).date().isoformat()


@functools.cache
def _quantum(currency: str) -> Decimal:
    return quantum(currency)


def round_money(amount: Decimal, currency: str) -> Decimal:
    """money.round_money with the currency's quantum looked up once (reports round tens of
    thousands of amounts)."""
    return amount.quantize(_quantum(currency), rounding=ROUND_HALF_EVEN)


def _ratio(numerator: int | Decimal, denominator: int | Decimal) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(RATIO)


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), BATCH):
        yield items[i : i + BATCH]


def _id_in(session: Session, column: Any, ids: Sequence[str]) -> ColumnElement[bool]:
    """`column IN ids`: on PostgreSQL one array parameter (`= ANY(%s)`), so a report with
    thousands of partners sends one short statement instead of IN lists of 500 placeholders
    each rendered anew; elsewhere a plain IN (the caller keeps it under BATCH)."""
    condition: ColumnElement[bool]
    if _dialect(session) == "postgresql":
        condition = column == any_(bindparam("ids", list(ids), type_=ARRAY(String)))
    else:
        condition = column.in_(ids)
    return condition


def _labels(session: Session, group: str, keys: Iterable[str | None]) -> dict[str, str]:
    """Readable names for id groups, in one IN query per batch (never one per row)."""
    ids = sorted({k for k in keys if k is not None})
    found: dict[str, str] = {}
    if group not in ("partner", "program", "link") or not ids:
        return found
    chunks = [ids] if _dialect(session) == "postgresql" else list(_chunks(ids))
    for chunk in chunks:
        if group == "partner":
            rows = session.execute(
                select(Partner.id, Partner.name).where(_id_in(session, Partner.id, chunk))
            )
            found.update({r[0]: r[1] for r in rows})
        elif group == "program":
            rows = session.execute(
                select(Program.id, Program.name).where(_id_in(session, Program.id, chunk))
            )
            found.update({r[0]: r[1] for r in rows})
        else:
            links = session.execute(
                select(Link.id, Link.code, Link.label).where(_id_in(session, Link.id, chunk))
            )
            found.update({r[0]: f"{r[1]} {r[2]}".strip() for r in links})
    return found


def _sort_key(key: str | None) -> tuple[bool, str]:
    return (key is not None, key or "")


# --- traffic ----------------------------------------------------------------------------


def _click_where(q: ReportQuery) -> list[ColumnElement[bool]]:
    # (program_id, occurred_at) and (partner_id, occurred_at) indexes serve these.
    conds = [Click.occurred_at >= q.start_at, Click.occurred_at < q.end_at]
    conds += _scoped(q.scope, Click.program_id, Click.partner_id)
    if q.filters.sub1 is not None:
        conds.append(Click.sub1 == q.filters.sub1)
    if q.filters.country is not None:
        conds.append(Click.country == q.filters.country)
    if q.filters.device is not None:
        conds.append(Click.device == q.filters.device)
    return conds


def _traffic_key(session: Session, group: TrafficGroup) -> Any:
    return {
        TrafficGroup.day: _day(session, Click.occurred_at),
        TrafficGroup.partner: Click.partner_id,
        TrafficGroup.program: Click.program_id,
        TrafficGroup.link: Click.link_id,
        TrafficGroup.sub1: Click.sub1,
        TrafficGroup.country: Click.country,
        TrafficGroup.device: Click.device,
    }[group]


def _traffic_row(key: str | None, label: str | None, counts: Sequence[Any]) -> TrafficRow:
    """A row from (clicks, valid clicks, unique clicks, unique valid clicks)."""
    clicks, valid, uniques, unique_valid = (int(c or 0) for c in counts)
    return TrafficRow(
        group=key,
        label=label,
        clicks=clicks,
        unique_visitors=uniques,
        valid_clicks=valid,
        invalid_clicks=clicks - valid,
        bot_clicks=clicks - valid,
        unique_valid_visitors=unique_valid,
    )


def _traffic_report(
    session: Session, q: ReportQuery, group: TrafficGroup, counts: dict[Any, list[int]]
) -> TrafficReport:
    labels = _labels(session, group.value, counts)
    rows = sorted(
        (_traffic_row(k, labels.get(k) if k else None, v) for k, v in counts.items()),
        key=lambda r: _sort_key(r.group),
    )
    # Unique clicks are counted per (program, partner, visitor, day): they add up.
    total = [sum(v[i] for v in counts.values()) for i in range(4)]
    return TrafficReport(
        report="traffic",
        from_=q.start,
        to=q.end,
        group_by=group.value,
        filters=q.echo_filters(),
        rows=rows,
        totals=_traffic_row(None, None, total),
    )


def traffic_counts_raw(
    session: Session, q: ReportQuery, group: TrafficGroup | None
) -> dict[Any, list[int]]:
    """(clicks, valid, unique, unique valid) per group key, from the raw clicks.

    Uniqueness is decided over every click of the (program, partner, visitor, day), so the
    window runs on the period and scope only (whole days, whole partitions) and the sub1,
    country and device filters apply after it.
    """
    where = [Click.occurred_at >= q.start_at, Click.occurred_at < q.end_at]
    where += _scoped(q.scope, Click.program_id, Click.partner_id)
    facts = rollups.click_facts(session, where)
    conds = []
    if q.filters.sub1 is not None:
        conds.append(facts.c.sub1 == q.filters.sub1)
    if q.filters.country is not None:
        conds.append(facts.c.country == q.filters.country)
    if q.filters.device is not None:
        conds.append(facts.c.device == q.filters.device)
    valid = facts.c.valid.is_(True)
    columns = [
        func.count(),
        func.coalesce(func.sum(case((valid, 1), else_=0)), 0),
        func.coalesce(func.sum(case((facts.c.rn == 1, 1), else_=0)), 0),
        func.coalesce(func.sum(case((and_(valid, facts.c.rn_valid == 1), 1), else_=0)), 0),
    ]
    if group is None:
        total = session.execute(select(*columns).where(*conds)).one()
        return {None: [int(v) for v in total]} if total[0] else {}
    key = facts.c[cube.TRAFFIC_GROUP_DIMS[group.value]]
    rows = session.execute(select(key, *columns).where(*conds).group_by(key))
    return {cube._key(r[0]): [int(v) for v in r[1:]] for r in rows}


def traffic_report_raw(session: Session, q: ReportQuery, group: TrafficGroup) -> TrafficReport:
    """The traffic report from the raw clicks: the reference for the rollups."""
    return _traffic_report(session, q, group, traffic_counts_raw(session, q, group))


def traffic_counts(
    session: Session, q: ReportQuery, group: TrafficGroup | None
) -> dict[Any, list[int]]:
    """(clicks, valid, unique, unique valid) per group key, from the rollups."""
    try:
        return cube.traffic(session, slice_of(q), group.value if group else None)
    except cube.TrafficNotBuilt:
        return traffic_counts_raw(session, q, group)


def traffic_report(session: Session, q: ReportQuery, group: TrafficGroup) -> TrafficReport:
    """Clicks, unique clicks, valid and bot clicks per group (from the rollups)."""
    return _traffic_report(session, q, group, traffic_counts(session, q, group))


def valid_clicks_by_raw(
    session: Session, q: ReportQuery, group: str | None
) -> dict[str | None, int]:
    """Valid clicks per group key (day, partner, program, ...) or in total (key None)."""
    where = [*_click_where(q), valid_click(Click.is_bot, Click.invalid_reason)]
    if group is None:
        return {None: int(session.scalar(select(func.count()).where(*where)) or 0)}
    key = _traffic_key(session, TrafficGroup(group)).label("k")
    rows = session.execute(select(key, func.count()).where(*where).group_by(key))
    return {r[0]: int(r[1]) for r in rows}


def valid_clicks_by(session: Session, q: ReportQuery, group: str | None) -> dict[str | None, int]:
    """Valid clicks per group key (day, partner, program, ...) or in total (key None)."""
    counts = traffic_counts(session, q, TrafficGroup(group) if group else None)
    if group is None:
        return {None: counts[None][1] if None in counts else 0}
    return {k: v[1] for k, v in counts.items() if v[1]}


# --- orders -----------------------------------------------------------------------------


def _conversion_filters(q: ReportQuery) -> list[ColumnElement[bool]]:
    """Who and what, without the period (orders use occurred_at, refunds the refund time).

    country is the buyer's country; sub1 and device are those of the attributed click, so an
    order found by coupon alone has neither and drops out when they are asked for.
    """
    conds: list[ColumnElement[bool]] = [Conversion.kind.in_(ORDER_KINDS)]
    conds += _scoped(q.scope, Conversion.program_id, Conversion.partner_id)
    if q.filters.country is not None:
        conds.append(Conversion.buyer_country == q.filters.country)
    if q.filters.sub1 is not None or q.filters.device is not None:
        # Its own alias: the orders query joins the attributed click too (for its groups).
        attributed = aliased(Click)
        click: list[ColumnElement[bool]] = [attributed.id == Conversion.click_id]
        if q.filters.sub1 is not None:
            click.append(attributed.sub1 == q.filters.sub1)
        if q.filters.device is not None:
            click.append(attributed.device == q.filters.device)
        conds.append(exists().where(*click))  # a primary-key probe per order
    return conds


def _orders_where(q: ReportQuery) -> list[ColumnElement[bool]]:
    # (program_id, occurred_at) index on conversions.
    return [
        Conversion.occurred_at >= q.start_at,
        Conversion.occurred_at < q.end_at,
        *_conversion_filters(q),
    ]


@dataclass(slots=True)
class _OrdersAcc:
    """The raw reference's accumulator of one (group, currency): exact Decimals, turned into
    the rollups' integer measures (`counts`) so both answers share one row builder."""

    orders: int = 0
    refunded_orders: int = 0
    declined_orders: int = 0
    sales: Decimal = Decimal(0)
    refunded: Decimal = Decimal(0)
    declined_sales: Decimal = Decimal(0)
    net_sales: Decimal = Decimal(0)
    commission: dict[str, Decimal] = field(default_factory=lambda: defaultdict(Decimal))
    value: Decimal = Decimal(0)
    commissions: int = 0

    def add_order(self, status: str, amount: Decimal, refunded: Decimal) -> None:
        self.orders += 1
        self.sales += amount
        self.refunded += refunded
        if refunded > 0 or status == ConversionStatus.refunded:
            self.refunded_orders += 1
        if status == ConversionStatus.declined:
            self.declined_orders += 1
            self.declined_sales += amount
        else:
            self.net_sales += amount - refunded

    def add_commission(self, status: str, original: Decimal, value: Decimal) -> None:
        self.commissions += 1
        self.value += value
        if status in (CommissionStatus.declined, CommissionStatus.reversed):
            # Their ledger value is zero; what a reader wants is how much was lost.
            self.commission[status] += original
        else:
            self.commission[status] += value

    def counts(self) -> Counts:
        """The rollups' ORDER_MEASURES (money in micro-units)."""
        micros = rollups.to_micros
        c = self.commission
        return [
            self.orders,
            self.refunded_orders,
            self.declined_orders,
            micros(self.sales),
            micros(self.refunded),
            micros(self.declined_sales),
            micros(self.net_sales),
            micros(c[CommissionStatus.pending]),
            micros(c[CommissionStatus.approved]),
            micros(c[CommissionStatus.paid]),
            micros(c[CommissionStatus.declined]),
            micros(c[CommissionStatus.reversed]),
            micros(self.value),
            self.commissions,
        ]


# Positions in ORDER_MEASURES (reports/models.py).
(
    _ORDERS,
    _REFUNDED_ORDERS,
    _DECLINED_ORDERS,
    _SALES,
    _REFUNDED,
    _DECLINED_SALES,
    _NET_SALES,
    _PENDING,
    _APPROVED,
    _PAID,
    _DECLINED,
    _REVERSED,
    _VALUE,
    _COMMISSIONS,
) = range(len(ORDER_MEASURES))


def add_counts(target: list[int | Decimal], values: Measures) -> None:
    for i, v in enumerate(values):
        target[i] += v


def totals_by_currency(
    found: Iterable[tuple[tuple[Any, str], Measures]],
) -> dict[str, list[int | Decimal]]:
    """Σ measures per currency over grouped rows (every measure adds up across groups).
    Converted money is added exactly under convert.exact()."""
    totals: dict[str, list[int | Decimal]] = {}
    for (_, cur), values in found:
        row = totals.get(cur)
        if row is None:
            totals[cur] = list(values)
        else:
            add_counts(row, values)
    return totals


@dataclass(frozen=True, slots=True)
class OrderDims:
    """What an order is grouped by besides its money."""

    occurred_at: datetime
    program_id: str
    partner_id: str
    status: str
    country: str | None  # the buyer's
    sub1: str | None  # the attributed click's
    device: str | None  # the attributed click's


def _orders_group_key(group: OrdersGroup, o: OrderDims) -> str | None:
    if group is OrdersGroup.day:
        return _day_of(o.occurred_at)
    return {
        OrdersGroup.partner: o.partner_id,
        OrdersGroup.program: o.program_id,
        OrdersGroup.status: o.status,
        OrdersGroup.country: o.country,
        OrdersGroup.device: o.device,
        OrdersGroup.sub1: o.sub1,
    }[group]


@functools.cache
def _minor(currency: str) -> tuple[int, int]:
    """(micro-units per minor unit, minor digits) of a currency: 10,000 and 2 for EUR."""
    digits = -int(_quantum(currency).as_tuple().exponent)
    return 10 ** (6 - digits), digits


def money_of(micros: int | Decimal, currency: str) -> Decimal:
    """Micro-units as the currency's amount, rounded half-even to its minor unit: the same
    as `round_money(from_micros(micros))`, in integer arithmetic (reports build tens of
    thousands of these). A Decimal is converted money (convert.py): exact micro-units with a
    fraction, rounded here, once."""
    if isinstance(micros, Decimal):
        return micros.scaleb(-6, convert.WIDE).quantize(
            _quantum(currency), rounding=ROUND_HALF_EVEN, context=convert.WIDE
        )
    factor, digits = _minor(currency)
    whole, rest = divmod(micros, factor)
    if rest * 2 > factor or (rest * 2 == factor and whole % 2):
        whole += 1
    return Decimal(whole).scaleb(-digits)


def _units(micros: int | Decimal) -> Decimal:
    """Micro-units as an exact amount (converted money keeps its fraction)."""
    if isinstance(micros, Decimal):
        return micros.scaleb(-6, convert.WIDE)
    return rollups.from_micros(micros)


def _kpi_values(
    values: Sequence[int | Decimal], currency: str, valid_clicks: int | None, roi: bool
) -> dict[str, Decimal | None]:
    orders, value = int(values[_ORDERS]), values[_VALUE]
    return {
        "conversion_rate": _ratio(orders, valid_clicks or 0),
        "epc": _ratio(_units(value), valid_clicks or 0),
        "aov": round_money(_units(values[_SALES]) / orders, currency) if orders else None,
        "refund_rate": _ratio(values[_REFUNDED_ORDERS], orders),
        # Both in micro-units: the scale cancels out.
        "roi": _ratio(values[_NET_SALES] - value, value) if roi else None,
    }


def _kpis(
    values: Sequence[int | Decimal], currency: str, valid_clicks: int | None, roi: bool
) -> Kpis:
    return Kpis.model_validate(_kpi_values(values, currency, valid_clicks, roi))


_validate_orders_row = OrdersRow.model_validate


def _orders_row(
    key: str | None,
    label: str | None,
    currency: str,
    values: Sequence[int | Decimal],
    valid_clicks: int | None,
    roi: bool,
) -> OrdersRow:
    # One validation of plain values, nested blocks included: a whole-network report has
    # thousands of rows, and Pydantic's validation (in Rust) of a dict is cheaper than three
    # model constructions, or even than model_construct (a Python loop over the fields).
    return _validate_orders_row(
        {
            "group": key,
            "label": label,
            "currency": currency,
            "orders": values[_ORDERS],
            "refunded_orders": values[_REFUNDED_ORDERS],
            "declined_orders": values[_DECLINED_ORDERS],
            "sales": money_of(values[_SALES], currency),
            "refunded": money_of(values[_REFUNDED], currency),
            "declined_sales": money_of(values[_DECLINED_SALES], currency),
            "net_sales": money_of(values[_NET_SALES], currency),
            "commission": {
                "pending": money_of(values[_PENDING], currency),
                "approved": money_of(values[_APPROVED], currency),
                "paid": money_of(values[_PAID], currency),
                "declined": money_of(values[_DECLINED], currency),
                "reversed": money_of(values[_REVERSED], currency),
                "value": money_of(values[_VALUE], currency),
            },
            "valid_clicks": valid_clicks,
            "kpis": _kpi_values(values, currency, valid_clicks, roi),
        }
    )


@dataclass(frozen=True, slots=True)
class CommissionValue:
    """A commission on one of the period's orders, with its current ledger value."""

    id: str
    status: str
    currency: str
    original: Decimal  # the amount first computed
    value: Decimal  # Σ of its ledger entries
    order: OrderDims  # the order's, with the commission's partner as partner_id


def commission_values(session: Session, q: ReportQuery) -> list[CommissionValue]:
    """Every commission on the period's orders with its ledger value.

    One joined query (no N+1): each commission once per ledger entry, summed here exactly.
    """
    stmt = (
        select(
            Commission.id,
            Commission.status,
            Commission.currency,
            Commission.amount,
            Conversion.occurred_at,
            Commission.program_id,
            Commission.partner_id,
            Conversion.status,
            Conversion.buyer_country,
            Click.sub1,
            Click.device,
            LedgerEntry.amount,
        )
        .join(Conversion, Conversion.id == Commission.conversion_id)
        .outerjoin(Click, Click.id == Conversion.click_id)
        .outerjoin(LedgerEntry, LedgerEntry.commission_id == Commission.id)
        .where(*_orders_where(q))
    )
    if q.scope.partner_id is not None:
        # A partner sees its own commissions, not an override paid to someone else.
        stmt = stmt.where(Commission.partner_id == q.scope.partner_id)
    found: dict[str, tuple[str, str, Decimal, OrderDims]] = {}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    for (
        cid,
        status,
        cur,
        original,
        at,
        prg,
        ptn,
        o_status,
        country,
        sub1,
        device,
        entry,
    ) in session.execute(stmt):
        if cid not in found:
            dims = OrderDims(at, prg, ptn, o_status, country, sub1, device)
            found[cid] = (status, cur, original, dims)
        if entry is not None:
            sums[cid] += entry
    return [
        CommissionValue(cid, status, cur, original, sums[cid], dims)
        for cid, (status, cur, original, dims) in found.items()
    ]


@dataclass(frozen=True, slots=True)
class ForeignCommission:
    """A commission in another currency than its order (an order in USD on a EUR program)."""

    day: str  # the order's UTC day, ISO
    order_currency: str
    currency: str  # the commission's
    value: int  # Σ ledger entries, micro-units of `currency`


def foreign_commissions(session: Session, q: ReportQuery) -> list[ForeignCommission]:
    """The commissions on the period's orders (scope and filters as the orders report) that
    are in another currency than their order, with their ledger value.

    The rollups hold a commission under its own currency, not its order's; this is what a
    breakdown by order currency needs to move. Read from the raw tables, in three steps that
    each touch as little as they can: the programs whose rollup rows hold more than one
    currency on a day of the period (cube.foreign_buckets; none: nothing more is read), their
    orders in another currency than the program's (the period's index, the program's
    currency compared per row; the attributed click looked up for those orders only, when
    sub1 or device is asked), then those orders' commissions and ledger entries (batched IN).
    """
    buckets = cube.foreign_buckets(session, slice_of(q))
    programs = sorted({p for ids in buckets.values() for p in ids})
    if not programs:
        return []
    by_click = q.filters.sub1 is not None or q.filters.device is not None
    unfiltered = replace(q, filters=replace(q.filters, sub1=None, device=None))
    where = [*_orders_where(unfiltered), Conversion.currency != Program.currency]
    if q.scope.program_ids is not None or len(programs) <= FEW_PROGRAMS:
        # Else the period's index reads the network's orders in time order: faster than one
        # range per program (SQLite: 160 ms against 370 ms for 200,000 orders).
        where.append(Conversion.program_id.in_(programs))
    stmt = select(Conversion.id, Conversion.occurred_at, Conversion.currency).join(
        Program, Program.id == Conversion.program_id
    )
    if by_click:
        stmt = stmt.add_columns(Click.sub1, Click.device).outerjoin(
            Click, Click.id == Conversion.click_id
        )
    orders: dict[str, tuple[str, str]] = {}
    row: Any
    for row in session.execute(stmt.where(*where)):
        if by_click and not (
            (q.filters.sub1 is None or row[3] == q.filters.sub1)
            and (q.filters.device is None or row[4] == q.filters.device)
        ):
            continue  # an order without a click has neither: it drops out, as in the report
        orders[row[0]] = (_day_of(row[1]), row[2])
    found: dict[str, tuple[str, str, str]] = {}
    sums: dict[str, Decimal] = defaultdict(Decimal)
    ids = sorted(orders)
    for chunk in [ids] if _dialect(session) == "postgresql" else list(_chunks(ids)):
        coms = (
            select(
                Commission.id,
                Commission.conversion_id,
                Commission.partner_id,
                Commission.currency,
                LedgerEntry.amount,
            )
            .outerjoin(LedgerEntry, LedgerEntry.commission_id == Commission.id)
            .where(_id_in(session, Commission.conversion_id, chunk))
        )
        for cid, conversion_id, earner, cur, entry in session.execute(coms):
            day, order_cur = orders[str(conversion_id)]
            # A partner sees its own commissions (checked here: in SQL, SQLite would read the
            # partner's every commission through its index for each batch of orders).
            if cur == order_cur or q.scope.partner_id not in (None, earner):
                continue
            if cid not in found:
                found[cid] = (day, order_cur, cur)
            if entry is not None:
                sums[cid] += entry
    return [
        ForeignCommission(day, order_cur, cur, rollups.to_micros(sums[cid]))
        for cid, (day, order_cur, cur) in found.items()
    ]


def _orders_report(
    session: Session,
    q: ReportQuery,
    group: OrdersGroup,
    found: Mapping[tuple[str | None, str], Measures],
    clicks: Callable[[str | None], dict[str | None, int]],
) -> OrdersReport:
    with convert.exact(q.fx):
        return _orders_report_rows(session, q, group, found, clicks)


def _orders_report_rows(
    session: Session,
    q: ReportQuery,
    group: OrdersGroup,
    found: Mapping[tuple[str | None, str], Measures],
    clicks: Callable[[str | None], dict[str | None, int]],
) -> OrdersReport:
    totals = totals_by_currency(found.items())
    # Clicks have no order status: per-status rows get no click-based KPIs.
    by_group = None if group is OrdersGroup.status else clicks(group.value)
    total_clicks = clicks(None)[None]
    labels = _labels(session, group.value, (k for k, _ in found))
    roi = q.scope.sees_roi
    rows = [
        _orders_row(
            k,
            labels.get(k) if k else None,
            cur,
            values,
            None if by_group is None else by_group.get(k, 0),
            roi,
        )
        for (k, cur), values in sorted(
            found.items(), key=lambda kv: (_sort_key(kv[0][0]), kv[0][1])
        )
    ]
    return OrdersReport(
        report="orders",
        from_=q.start,
        to=q.end,
        group_by=group.value,
        filters=q.echo_filters(),
        rows=rows,
        totals=[
            _orders_row(None, None, cur, values, total_clicks, roi)
            for cur, values in sorted(totals.items())
        ],
    )


def orders_counts_raw(
    session: Session, q: ReportQuery, group: OrdersGroup
) -> dict[tuple[str | None, str], Counts]:
    """The orders report's ORDER_MEASURES per (group key, currency), from the raw tables."""
    accs: dict[tuple[str | None, str], _OrdersAcc] = defaultdict(_OrdersAcc)
    orders = session.execute(
        select(
            Conversion.occurred_at,
            Conversion.program_id,
            Conversion.partner_id,
            Conversion.status,
            Conversion.buyer_country,
            Click.sub1,
            Click.device,
            Conversion.currency,
            Conversion.amount,
            Conversion.refunded_amount,
        )
        .outerjoin(Click, Click.id == Conversion.click_id)
        .where(*_orders_where(q))
    )
    for at, prg, ptn, status, country, sub1, device, cur, amount, refunded in orders:
        key = _orders_group_key(group, OrderDims(at, prg, ptn, status, country, sub1, device))
        accs[(key, cur)].add_order(status, amount, refunded)
    for com in commission_values(session, q):
        accs[(_orders_group_key(group, com.order), com.currency)].add_commission(
            com.status, com.original, com.value
        )
    return {key: acc.counts() for key, acc in accs.items()}


def orders_report_raw(session: Session, q: ReportQuery, group: OrdersGroup) -> OrdersReport:
    """The orders report from the raw tables: the reference for the rollups (in the rows'
    own currencies: q.fx is not applied here)."""
    return _orders_report(
        session,
        q,
        group,
        orders_counts_raw(session, q, group),
        lambda g: valid_clicks_by_raw(session, q, g),
    )


def orders_counts(
    session: Session, q: ReportQuery, group: OrdersGroup | None
) -> Mapping[tuple[str | None, str], Measures]:
    """The orders report's ORDER_MEASURES per (group key, currency), from the rollups.

    Converted (q.fx): per (group key, the target currency), each day's money at that day's
    rate, read from the single-day rows."""
    dim = group.value if group else None
    blocks = cube.orders(session, slice_of(q), dim)
    if q.fx is None:
        return blocks
    # Rows already in the target currency need no rate: their blocks; the others by day.
    daily = cube.orders_by_day(session, slice_of(q), dim, other_than=q.fx.currency)
    return convert.by_day(session, q.fx, daily, convert.ORDER_MONEY, blocks)


def orders_report(session: Session, q: ReportQuery, group: OrdersGroup) -> OrdersReport:
    """Orders, sales and commission by status per group and currency, with KPIs (from the
    rollups)."""
    seen: dict[str | None, dict[str | None, int]] = {}

    def clicks(g: str | None) -> dict[str | None, int]:
        if g not in seen:
            if g is None and seen:
                # Valid clicks add up across groups: the total is the sum of a grouping.
                seen[None] = {None: sum(next(iter(seen.values())).values())}
            else:
                seen[g] = valid_clicks_by(session, q, g)
        return seen[g]

    return _orders_report(session, q, group, orders_counts(session, q, group), clicks)


# --- refunds ----------------------------------------------------------------------------


@dataclass(slots=True)
class _RefundsAcc:
    refunds: int = 0
    orders: set[str] = field(default_factory=set)
    amount: Decimal = Decimal(0)
    reversed_commission: Decimal = Decimal(0)


def _refund_group_key(group: RefundsGroup, at: datetime, program_id: str, partner_id: str) -> str:
    if group is RefundsGroup.day:
        return _day_of(at)
    return partner_id if group is RefundsGroup.partner else program_id


def _refund_amounts(
    session: Session, q: ReportQuery
) -> list[tuple[str, datetime, str, str, str, Decimal]]:
    """Refund events in the period with the amount each one refunded.

    An event stores the cumulative refunded amount after it, so its own amount is the step
    from the refund event before it, which may lie before the period: those earlier events
    are fetched for the same orders in batched IN queries.
    """
    in_period = session.execute(
        select(
            ConversionEvent.id,
            ConversionEvent.conversion_id,
            ConversionEvent.occurred_at,
            Conversion.program_id,
            Conversion.partner_id,
            Conversion.currency,
        )
        .join(Conversion, Conversion.id == ConversionEvent.conversion_id)
        .where(
            ConversionEvent.kind == "refund",
            ConversionEvent.occurred_at >= q.start_at,
            ConversionEvent.occurred_at < q.end_at,
            *_conversion_filters(q),
        )
    ).all()
    conversion_ids = sorted({r[1] for r in in_period})
    step: dict[str, Decimal] = {}
    for chunk in _chunks(conversion_ids):
        history = session.execute(
            select(
                ConversionEvent.id, ConversionEvent.conversion_id, ConversionEvent.refunded_amount
            )
            .where(
                ConversionEvent.conversion_id.in_(chunk),
                ConversionEvent.kind == "refund",
                ConversionEvent.occurred_at < q.end_at,
            )
            .order_by(
                ConversionEvent.conversion_id, ConversionEvent.occurred_at, ConversionEvent.id
            )
        )
        before: dict[str, Decimal] = {}
        for eid, cid, cumulative in history:
            now = cumulative if cumulative is not None else before.get(cid, Decimal(0))
            step[eid] = now - before.get(cid, Decimal(0))
            before[cid] = now
    return [
        (cid, at, prg, ptn, cur, step.get(eid, Decimal(0)))
        for eid, cid, at, prg, ptn, cur in in_period
    ]


def _refunds_report(
    session: Session,
    q: ReportQuery,
    group: RefundsGroup,
    grouped: Mapping[tuple[str, str], Sequence[int | Decimal]],
    totals: Mapping[str, Sequence[int | Decimal]],
) -> RefundsReport:
    """Rows from (refunds, refunded orders, refunded amount, commission taken back)."""

    def row(key: str | None, label: str | None, cur: str, v: Sequence[int | Decimal]) -> RefundsRow:
        return RefundsRow(
            group=key,
            label=label,
            currency=cur,
            refunds=int(v[0]),
            refunded_orders=int(v[1]),
            refunded_amount=round_money(Decimal(v[2]), cur),
            reversed_commission=round_money(Decimal(v[3]), cur),
        )

    labels = _labels(session, group.value, (k for k, _ in grouped))
    return RefundsReport(
        report="refunds",
        from_=q.start,
        to=q.end,
        group_by=group.value,
        filters=q.echo_filters(),
        rows=[row(k, labels.get(k), cur, v) for (k, cur), v in sorted(grouped.items())],
        totals=[row(None, None, cur, v) for cur, v in sorted(totals.items())],
    )


def refunds_report_raw(session: Session, q: ReportQuery, group: RefundsGroup) -> RefundsReport:
    """The refunds report from the raw tables: the reference for the rollups."""
    accs: dict[tuple[str, str], _RefundsAcc] = defaultdict(_RefundsAcc)
    totals: dict[str, _RefundsAcc] = defaultdict(_RefundsAcc)
    for cid, at, prg, ptn, cur, amount in _refund_amounts(session, q):
        for acc in (accs[(_refund_group_key(group, at, prg, ptn), cur)], totals[cur]):
            acc.refunds += 1
            acc.orders.add(cid)
            acc.amount += amount

    # Commission given back is counted when the ledger took it back (the (entry_type,
    # created_at) index), on the orders in scope, as in the orders report: a partner sees
    # its own commissions on its own orders.
    entries = (
        select(
            LedgerEntry.created_at,
            LedgerEntry.program_id,
            LedgerEntry.partner_id,
            LedgerEntry.currency,
            LedgerEntry.amount,
        )
        .join(Commission, Commission.id == LedgerEntry.commission_id)
        .join(Conversion, Conversion.id == Commission.conversion_id)
        .where(
            LedgerEntry.entry_type.in_(REFUND_ENTRY_TYPES),
            LedgerEntry.created_at >= q.start_at,
            LedgerEntry.created_at < q.end_at,
            *_conversion_filters(q),
        )
    )
    if q.scope.partner_id is not None:
        entries = entries.where(LedgerEntry.partner_id == q.scope.partner_id)
    for at, prg, ptn, cur, amount in session.execute(entries):
        for acc in (accs[(_refund_group_key(group, at, prg, ptn), cur)], totals[cur]):
            acc.reversed_commission -= amount  # entries are negative; shown positive

    def values(acc: _RefundsAcc) -> list[int | Decimal]:
        return [acc.refunds, len(acc.orders), acc.amount, acc.reversed_commission]

    return _refunds_report(
        session,
        q,
        group,
        {k: values(acc) for k, acc in accs.items()},
        {cur: values(acc) for cur, acc in totals.items()},
    )


def refunds_report(session: Session, q: ReportQuery, group: RefundsGroup) -> RefundsReport:
    """Refunds, refunded amount and commission taken back per group and currency (from the
    refunds rollup). Converted (q.fx): per group in the target currency, each refund's
    money at the rate of the day it was refunded."""
    s = slice_of(q)

    def money(found: Mapping[Any, Sequence[int | Decimal]]) -> dict[Any, list[int | Decimal]]:
        return {k: [v[0], v[1], _units(v[2]), _units(v[3])] for k, v in found.items()}

    with convert.exact(q.fx):
        if q.fx is None:
            grouped = money(cube.refunds(session, s, group.value))
            totals = money(cube.refunds(session, s, None))
        else:
            grouped = _converted_refunds(session, q, q.fx, group.value)
            totals = _converted_refunds(session, q, q.fx, None)
        return _refunds_report(
            session, q, group, grouped, {cur: v for (_, cur), v in totals.items()}
        )


def _converted_refunds(
    session: Session, q: ReportQuery, fx: convert.Converter, group: str | None
) -> dict[tuple[Any, str], list[int | Decimal]]:
    """The refunds measures per (group, target currency): the counts over the period (an
    order refunded on two days is one refunded order), the money day by day."""
    s = slice_of(q)
    found: dict[tuple[Any, str], list[int | Decimal]] = {}
    blocks = cube.refunds(session, s, group)
    for (key, _), v in blocks.items():
        row = found.setdefault((key, fx.currency), [0, 0, Decimal(0), Decimal(0)])
        row[0] += v[0]
        row[1] += v[1]  # an order has one currency: its distinct counts add up
    daily = cube.refunds_by_day(session, s, group, other_than=fx.currency)
    converted_rows = convert.by_day(session, fx, daily, convert.REFUND_MONEY, blocks)
    for key, converted in converted_rows.items():
        row = found.setdefault(key, [0, 0, Decimal(0), Decimal(0)])
        row[2], row[3] = _units(converted[2]), _units(converted[3])
    return found


# --- transactions -----------------------------------------------------------------------


def encode_cursor(occurred_at: datetime, conversion_id: str) -> str:
    raw = json.dumps([as_utc(occurred_at).isoformat(), conversion_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, cid = json.loads(raw)
        when = datetime.fromisoformat(at)
        if not isinstance(cid, str) or when.tzinfo is None:
            raise ValueError(cid)
    except (ValueError, TypeError, binascii.Error, json.JSONDecodeError):
        raise InvalidInput("cursor is not one this API gave out", field="cursor") from None
    return as_utc(when), cid


def _redact_path(path: list[dict[str, Any]], scope: Scope) -> list[dict[str, Any]]:
    """A partner sees its own clicks in the path; other partners' clicks only as verdicts."""
    if scope.viewer is not AccountKind.partner:
        return path
    keep = ("occurred_at", "verdict", "reason", "won", "valid", "is_bot")
    return [
        step
        if step.get("partner_id") in (None, scope.viewer_id)
        else {k: step[k] for k in keep if k in step} | {"partner_id": None, "other": True}
        for step in path
    ]


def transactions_page(
    session: Session, q: ReportQuery, *, cursor: str | None = None, limit: int = 100
) -> TransactionsPage:
    """Orders in the period, oldest first, `limit` per page, keyset-paginated.

    One query for the page, then one batched IN query each for commissions, ledger entries,
    status history, programs and partners, whatever the page size.
    """
    stmt = select(Conversion).where(*_orders_where(q))
    if cursor is not None:
        at, cid = decode_cursor(cursor)
        # The same as "after (at, cid)", written so that the index range starts at `at`.
        stmt = stmt.where(
            Conversion.occurred_at >= at, or_(Conversion.occurred_at > at, Conversion.id > cid)
        )
    page = list(
        session.scalars(stmt.order_by(Conversion.occurred_at, Conversion.id).limit(limit + 1))
    )
    more = len(page) > limit
    page = page[:limit]
    ids = [c.id for c in page]

    by_id = {c.id: c for c in page}
    commissions: dict[str, Commission] = {}
    com_stmt = select(Commission).where(Commission.conversion_id.in_(ids))
    if q.scope.partner_id is not None:
        com_stmt = com_stmt.where(Commission.partner_id == q.scope.partner_id)
    for found in session.scalars(com_stmt.order_by(Commission.created_at, Commission.id)):
        conv_id = found.conversion_id or ""
        # The order's own commission is the one of the order's partner, not an override.
        if conv_id not in commissions or found.partner_id == by_id[conv_id].partner_id:
            commissions[conv_id] = found
    values: dict[str, Decimal] = defaultdict(Decimal)
    com_ids = [c.id for c in commissions.values()]
    for chunk in _chunks(com_ids):
        for com_id, amount in session.execute(
            select(LedgerEntry.commission_id, LedgerEntry.amount).where(
                LedgerEntry.commission_id.in_(chunk)
            )
        ):
            values[com_id] += amount
    history: dict[str, list[StatusChange]] = defaultdict(list)
    for ev in session.scalars(
        select(ConversionEvent)
        .where(ConversionEvent.conversion_id.in_(ids))
        .order_by(ConversionEvent.occurred_at, ConversionEvent.id)
    ):
        history[ev.conversion_id].append(
            StatusChange(
                kind=ev.kind,
                status=ev.status,
                note=ev.note,
                occurred_at=as_utc(ev.occurred_at),
                refunded_amount=None
                if ev.refunded_amount is None
                else round_money(ev.refunded_amount, by_id[ev.conversion_id].currency),
            )
        )
    programs = _labels(session, "program", (c.program_id for c in page))
    partners = _labels(session, "partner", (c.partner_id for c in page))
    if q.fx is not None:  # the page's rates in one query
        q.fx.prepare(
            session, {c.currency for c in page} | {c.currency for c in commissions.values()}
        )

    data = []
    for conv in page:
        com = commissions.get(conv.id)
        cur = conv.currency
        data.append(
            Transaction(
                id=conv.id,
                order_id=conv.order_id,
                kind=conv.kind,
                program=Named(id=conv.program_id, name=programs.get(conv.program_id)),
                partner=Named(id=conv.partner_id, name=partners.get(conv.partner_id)),
                occurred_at=as_utc(conv.occurred_at),
                status=conv.status,
                currency=cur,
                amount=round_money(conv.amount, cur),
                net_amount=round_money(conv.net_amount, cur),
                refunded_amount=round_money(conv.refunded_amount, cur),
                attributed_by=conv.attributed_by,
                commission=None
                if com is None
                else TransactionCommission(
                    id=com.id,
                    status=com.status,
                    currency=com.currency,
                    amount=round_money(com.amount, com.currency),
                    value=round_money(values[com.id], com.currency),
                    rule=com.rule,
                    arithmetic=com.arithmetic,
                ),
                click_path=_redact_path(conv.click_path, q.scope),
                history=history.get(conv.id, []),
                converted=None
                if q.fx is None
                else _converted_amounts(session, q.fx, conv, com, values),
            )
        )
    last = page[-1] if page else None
    return TransactionsPage(
        report="transactions",
        from_=q.start,
        to=q.end,
        filters=q.echo_filters(),
        data=data,
        next_cursor=encode_cursor(last.occurred_at, last.id) if more and last else None,
    )


def _converted_amounts(
    session: Session,
    fx: convert.Converter,
    conv: Conversion,
    com: Commission | None,
    values: Mapping[str, Decimal],
) -> ConvertedAmounts:
    """One order's money in the report's currency, at the rate of the order's UTC day (the
    day its commission is reported on too), each amount rounded once."""
    day = as_utc(conv.occurred_at).date()
    order = fx.quote(session, conv.currency, day)
    target = fx.currency

    def at(rate: Decimal, amount: Decimal) -> Decimal:
        with convert.exact(fx):
            return round_money(amount * rate, target)

    com_rate = None if com is None else fx.rate(session, com.currency, day)
    return ConvertedAmounts(
        currency=target,
        rate=_plain(order.rate),
        rate_day=order.day,
        amount=at(order.rate, conv.amount),
        net_amount=at(order.rate, conv.net_amount),
        refunded_amount=at(order.rate, conv.refunded_amount),
        commission_rate=None if com_rate is None else _plain(com_rate),
        commission_amount=None if com is None or com_rate is None else at(com_rate, com.amount),
        commission_value=None if com is None or com_rate is None else at(com_rate, values[com.id]),
    )


def _plain(rate: Decimal) -> Decimal:
    """A rate without the trailing zeros of PostgreSQL's NUMERIC(32, 20) (the same number,
    shown as the ECB publishes it on either engine)."""
    if rate == rate.to_integral_value():
        return rate.quantize(Decimal(1))
    return rate.normalize()


def iter_transactions(
    session: Session, q: ReportQuery, page_size: int = 500
) -> Iterator[Transaction]:
    """Every transaction of the period, page by page (CSV export, CLI)."""
    cursor: str | None = None
    while True:
        page = transactions_page(session, q, cursor=cursor, limit=page_size)
        yield from page.data
        if page.next_cursor is None:
            return
        cursor = page.next_cursor
