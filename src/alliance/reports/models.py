"""Rollup tables: the reports' pre-counted answers, kept exact as clicks and orders arrive.

Every table is derived from the raw tables (clicks, conversions, commissions, ledger entries)
and can be rebuilt from them at any time (`alliance rollups rebuild`); nothing here is a
source of truth. ADR 0009 explains the design; docs/reports.md the definitions.

- Traffic: one row per (UTC day, program, partner, link, sub1, country, device) with the
  click counters, plus coarser grains of the same counters over blocks of days, so that a
  report reads the smallest table that has the dimensions it groups and filters by, and
  few rows whatever its period. Clicks are insert-only:
  the rollups hold every click whose id sorts before the traffic watermark (`RollupState`),
  and a report adds the clicks after it from the raw table.
- Orders: one row per (order UTC day, program, order partner, commission partner, currency,
  order status, buyer country, click sub1, click device) with counts and money, plus coarser
  grains over blocks of days. Orders change for weeks (completion, refunds, approvals), so
  database triggers log every change of a conversion, commission or ledger entry as a
  (program, day) bucket in `ReportChange`; the refresher recomputes those buckets, and until
  it has, a report answers them from the raw tables.
- Customers: per customer, the first order day and net sales to date (customer lifetime
  value), and the same summed per first day (cohorts).

Money is stored in integer micro-units (millionths of the currency unit, the precision of
`Amount`) so that SQL can sum it exactly on both engines: SQLite keeps `Amount` as text and
would sum it through floats.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Index,
    Integer,
    SmallInteger,
    String,
    Table,
)
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.schema import SchemaItem

from alliance.clock import utcnow
from alliance.db.base import Base

# An autoincrementing 64-bit key that is SQLite's rowid there (INTEGER PRIMARY KEY).
BigId = BigInteger().with_variant(Integer(), "sqlite")

# CustomerRollup.partner_id of the rows that look at every partner of the program.
ANY_PARTNER = ""


class RollupState(Base):
    """Where a rollup stands. `traffic`: every click whose id sorts before `watermark` is in
    the traffic rollups; clicks from it on are counted from the raw table."""

    __tablename__ = "rollup_states"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    watermark: Mapped[str] = mapped_column(String(32))  # a click id boundary (clk_...)
    # The time the watermark stands for (its id's time part): clicks written before it.
    through_at: Mapped[datetime] = mapped_column()
    # +1 on every refresh: a reader that sees it change while it reads starts over.
    version: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReportChange(Base):
    """An orders bucket (program, order day) that changed since the refresher last looked.

    Written by triggers on conversions, commissions and ledger_entries (migration 0009), in
    the transaction that made the change, whatever code made it. The refresher deletes the
    rows it has read once their buckets are recomputed; rows committed meanwhile stay.
    (day, program_id) serves the reports' look-up of stale buckets in their period.
    """

    __tablename__ = "report_changes"
    __table_args__ = (Index(None, "day", "program_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(32))
    day: Mapped[date] = mapped_column()


# --- the grains -------------------------------------------------------------------------------

# Rows cover aligned blocks of days: `span` days from `day`, where `day` counted from
# 1970-01-01 is a multiple of `span`. Any period is at most ~19 such blocks (greedy from its
# first day, largest block that fits), so a report over 90 or 400 days reads about as many
# rows as one over a week. Only the finest grains keep single days (span 1) alone.
SPANS = (1, 4, 16, 64, 256)

# Dimensions are never NULL here: "none" (no sub1, no country, an order without a click) is
# stored as NONE, so that a block's key is unique and can be added to (upserts). The
# redirect never stores an empty sub-id or country ("empty = absent", tracking.visitor).
NONE = ""
DIM_LENGTHS: dict[str, int] = {
    "program_id": 32,
    "partner_id": 32,  # traffic: the click's; orders: the order's
    "earner_id": 32,  # orders: the commission's partner
    "link_id": 32,
    "sub1": 255,
    "country": 2,  # traffic: the visitor's (IP); orders: the buyer's
    "device": 16,  # orders: the attributed click's
    "currency": 3,
    "status": 16,  # the order's current status
}
TRAFFIC_MEASURES = ("clicks", "valid_clicks", "unique_clicks", "unique_valid_clicks")
# Order measures (orders .. net_sales) sit on rows whose earner is the order's partner;
# commission measures on the row of the commission's partner (earner) and currency.
# Money in micro-units of the row's currency; declined and reversed commission as first
# computed (their ledger value is zero), the others at their ledger value; `commissions`
# counts them (a row holds at least one order or one commission).
ORDER_MEASURES = (
    "orders",
    "refunded_orders",
    "declined_orders",
    "sales",
    "refunded",
    "declined_sales",
    "net_sales",
    "commission_pending",
    "commission_approved",
    "commission_paid",
    "commission_declined",
    "commission_reversed",
    "commission_value",
    "commissions",
)


@dataclass(frozen=True)
class Grain:
    """One rollup table: the counters of `measures` per day block and `dims`."""

    table: Table
    dims: tuple[str, ...]
    measures: tuple[str, ...]
    spanned: bool  # False: single days only (the finest grain)
    # Relative size: thousands of single-day rows on the benchmark's network (90 days of 10
    # million clicks, 200,000 orders). reports/cube.py weighs grains with it.
    size: int

    @property
    def name(self) -> str:
        return self.table.name


def _grain(
    name: str, dims: tuple[str, ...], measures: tuple[str, ...], spanned: bool, size: int
) -> Grain:
    # The key is the primary key: changes are added to a block's row (upsert), and a
    # period's blocks are read in key order. SQLite keeps the rows in that order (WITHOUT
    # ROWID), so a block is read contiguously, measures included.
    columns: list[SchemaItem] = [
        Column("span", SmallInteger, primary_key=True),  # the block's length in days
        Column("day", Date, primary_key=True),  # the block's first UTC day
        *(Column(d, String(DIM_LENGTHS[d]), primary_key=True) for d in dims),
        *(Column(m, BigInteger, nullable=False) for m in measures),
    ]
    # A program's blocks (advertisers, the refresher): day before span, as a program's
    # report reads the blocks' first days through it (reports/cube.py). A partner's blocks
    # are a key range: partner_id comes first in the dimensions of the grains that have it.
    indexes: list[SchemaItem] = (
        [Index(None, "program_id", "day", "span")] if "program_id" in dims else []
    )
    table = Table(name, Base.metadata, *columns, *indexes, sqlite_with_rowid=False)
    return Grain(table, dims, measures, spanned, size)


_T = TRAFFIC_MEASURES
# Finest first; then the coarser ones, smallest first: a report reads the first that has
# every dimension it groups and filters by.
# The dimensions' order is the key's (after span and day): partner_id first where there is
# one (a partner's dashboard reads a key range), then a dimension the reports filter on
# network-wide (country, device), so such a filter reads a key range too.
TRAFFIC_FULL = _grain(
    "traffic_rollups",
    ("partner_id", "program_id", "link_id", "sub1", "country", "device"),
    _T,
    spanned=False,
    size=2856,
)
TRAFFIC_GRAINS = (
    _grain("traffic_by_program", ("program_id",), _T, True, 3),
    _grain("traffic_by_device", ("device", "program_id"), _T, True, 14),
    _grain("traffic_by_country", ("country", "program_id"), _T, True, 72),
    # Network-wide (no program): the operator's and the partners' questions read one row per
    # partner (and country or device) per block, not one per program too.
    _grain("traffic_partners", ("partner_id",), _T, True, 126),
    _grain("traffic_partners_by_device", ("device", "partner_id"), _T, True, 300),
    _grain("traffic_partners_by_country", ("country", "partner_id"), _T, True, 500),
    _grain("traffic_by_audience", ("country", "device", "program_id"), _T, True, 229),
    _grain("traffic_by_partner", ("partner_id", "program_id"), _T, True, 279),
    _grain("traffic_by_partner_device", ("partner_id", "device", "program_id"), _T, True, 706),
    _grain("traffic_by_partner_country", ("partner_id", "country", "program_id"), _T, True, 1239),
    _grain("traffic_by_link", ("partner_id", "program_id", "link_id", "sub1"), _T, True, 892),
)
_O = ORDER_MEASURES
_OP = ("partner_id", "earner_id", "program_id", "currency")
ORDERS_FULL = _grain(
    "orders_rollups", (*_OP, "status", "country", "sub1", "device"), _O, False, 157
)
# The partner grains leave the status out (a breakdown by status for one partner reads the
# finest grain): whole-network reports by partner read half as many rows.
ORDERS_GRAINS = (
    _grain("orders_by_program", ("program_id", "currency", "status"), _O, True, 10),
    _grain("orders_partners", ("partner_id", "earner_id", "currency"), _O, True, 45),
    _grain(
        "orders_partners_by_device", ("device", "partner_id", "earner_id", "currency"), _O, True, 70
    ),
    _grain(
        "orders_partners_by_country",
        ("country", "partner_id", "earner_id", "currency"),
        _O,
        True,
        90,
    ),
    _grain(
        "orders_by_audience",
        ("country", "device", "program_id", "currency", "status"),
        _O,
        True,
        70,
    ),
    _grain("orders_by_partner", _OP, _O, True, 55),
    _grain(
        "orders_by_partner_device",
        ("partner_id", "earner_id", "device", "program_id", "currency"),
        _O,
        True,
        90,
    ),
    _grain(
        "orders_by_partner_country",
        ("partner_id", "earner_id", "country", "program_id", "currency"),
        _O,
        True,
        110,
    ),
)


# --- refunds ----------------------------------------------------------------------------------


class RefundRollup(Base):
    """One refund event (kind `refund`) or one ledger entry that gave commission back (kind
    `commission`: reduction, reversal, adjustment) of an order, with what the refunds report
    groups and filters by and the amount already worked out: the step refunded by the event
    (events store the cumulative amount), or the commission taken back (positive). Rows are
    per event, not summed, because `refunded_orders` counts distinct orders over a period;
    refunds are a few percent of orders. Rewritten with the order's (program, day) bucket.
    """

    __tablename__ = "refund_rollups"
    __table_args__ = (
        Index(None, "program_id", "order_day"),  # the refresher rewrites an order bucket
        Index(None, "day"),  # the network's refunds of a period
        Index(None, "program_id", "day"),
        Index(None, "partner_id", "day"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(32))
    order_day: Mapped[date] = mapped_column()  # the order's UTC day
    conversion_id: Mapped[str] = mapped_column(String(32))
    kind: Mapped[str] = mapped_column(String(16))  # refund | commission
    day: Mapped[date] = mapped_column()  # the event's or the entry's UTC day
    partner_id: Mapped[str] = mapped_column(String(32))  # the order's
    earner_id: Mapped[str] = mapped_column(String(32))  # the entry's (the order's for refunds)
    currency: Mapped[str] = mapped_column(String(3))  # the order's; the entry's for commission
    country: Mapped[str] = mapped_column(String(2))  # NONE for none
    sub1: Mapped[str] = mapped_column(String(255))
    device: Mapped[str] = mapped_column(String(16))
    amount: Mapped[int] = mapped_column(BigInteger)  # micro-units, positive


# --- customers --------------------------------------------------------------------------------


class CustomerRollup(Base):
    """A customer's sales to date in one scope: the program's (partner_id '') or one
    partner's. Counted: sales not declined; net = amount - refunded, in micro-units.

    first_day is the day of the customer's first such order in the scope (any currency).
    (program_id, customer_id) serves the refresher's look-up of a changed customer.
    """

    __tablename__ = "customer_rollups"
    __table_args__ = (Index(None, "program_id", "customer_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(String(32))
    customer_id: Mapped[str] = mapped_column(String(128))
    partner_id: Mapped[str] = mapped_column(String(32))  # ANY_PARTNER: the whole program
    currency: Mapped[str] = mapped_column(String(3))
    first_day: Mapped[date] = mapped_column()
    orders: Mapped[int] = mapped_column(BigInteger)
    net_sales: Mapped[int] = mapped_column(BigInteger)


class CustomerCohort(Base):
    """Customers summed by the day of their first order: the lifetime-value question
    ("customers acquired in the period: what have they bought so far?") reads a few rows.
    (program_id, partner_id, first_day) serves it."""

    __tablename__ = "customer_cohorts"
    __table_args__ = (Index(None, "program_id", "partner_id", "first_day"),)

    first_day: Mapped[date] = mapped_column(primary_key=True)
    program_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    customers: Mapped[int] = mapped_column(BigInteger)
    orders: Mapped[int] = mapped_column(BigInteger)
    net_sales: Mapped[int] = mapped_column(BigInteger)
