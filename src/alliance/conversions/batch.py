"""The ingest hot path's batch helpers: per-transaction look-up cache and deferred bulk inserts.

Profiling showed a new conversion cost ~15 ORM statements, most of the CPU in the unit of
work and in re-loading rows the session had already dropped (its identity map holds objects
weakly). Two fixes, both scoped to one writer transaction (one batch of inbound events):

* `BatchCache` keeps the program, its latest terms and enrollment statuses it has read, so a
  batch of 256 postbacks of one program reads them once. Scoped to the transaction, so a
  program edit is seen by the next batch, as before.
* `CreateBuffer` collects the rows of new conversions (conversion, its `created` event,
  customer binding, commission, accrual entry) planned by `service.record` and inserts them
  with one executemany per table. An event that would read what the buffer holds (the same
  order, the same customer, a month's tier volume) raises `DependsOnBuffered`; the pipeline
  writes the buffer first and processes that event again, so the outcome is the one of a
  one-by-one run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import Conversion, ConversionEvent, CustomerBinding
from alliance.notifications import outbox
from alliance.payouts.fx import Quote
from alliance.programs.models import CommissionTerms, Program


def _table(model: Any) -> Table:
    table: Table = model.__table__
    return table


# Parent tables first: the foreign keys are checked per statement.
_CONVERSIONS = insert(_table(Conversion))
_EVENTS = insert(_table(ConversionEvent))
_BINDINGS = insert(_table(CustomerBinding))
_COMMISSIONS = insert(_table(Commission))
_ENTRIES = insert(_table(LedgerEntry))


@dataclass(frozen=True, slots=True)
class NewConversion:
    """Every row one new conversion writes, ready for a Core insert."""

    conversion: dict[str, Any]
    event: dict[str, Any]
    binding: dict[str, Any] | None
    commission: dict[str, Any]
    entry: dict[str, Any] | None  # None: a zero commission has no accrual entry

    @property
    def id(self) -> str:
        conversion_id: str = self.conversion["id"]
        return conversion_id


def _order_key(plan: NewConversion) -> tuple[str, str, str]:
    row = plan.conversion
    return (row["program_id"], row["order_id"], row["kind"])


def insert_new(session: Session, plans: Sequence[NewConversion]) -> None:
    """Insert the rows of new conversions, one statement per table. A unique key already
    taken (a racing twin in another process) raises IntegrityError, like the ORM flush did."""
    if not plans:
        return
    # One order for every process: two batches holding the same two new orders in opposite
    # orders would each lock one unique-index entry and wait for the other's (PostgreSQL
    # deadlock, seen with two workers). In key order one waits, then gets IntegrityError.
    plans = sorted(plans, key=_order_key)
    connection = session.connection()
    connection.execute(_CONVERSIONS, [p.conversion for p in plans])
    connection.execute(_EVENTS, [p.event for p in plans])
    bindings = [p.binding for p in plans if p.binding is not None]
    if bindings:
        connection.execute(_BINDINGS, bindings)
    connection.execute(_COMMISSIONS, [p.commission for p in plans])
    entries = [p.entry for p in plans if p.entry is not None]
    if entries:
        connection.execute(_ENTRIES, entries)
    outbox.conversions_created(session, plans)


class DependsOnBuffered(Exception):
    """The event reads rows still in the buffer: write the buffer, then process it again."""


class NeedsWrites(Exception):
    """Raised when processing without writes (`writes=False`) meets an event that changes
    the database now (an existing order, a non-pending new one): run it again with writes."""


@dataclass(slots=True)
class CreateBuffer:
    """New conversions planned in this transaction and not inserted yet."""

    plans: list[NewConversion] = field(default_factory=list)
    _orders: set[tuple[str, str, str]] = field(default_factory=set)
    _customers: set[tuple[str, str]] = field(default_factory=set)
    _programs: set[str] = field(default_factory=set)

    def add(self, plan: NewConversion) -> None:
        row = plan.conversion
        self.plans.append(plan)
        self._orders.add((row["program_id"], row["order_id"], row["kind"]))
        if row["customer_id"] is not None:
            self._customers.add((row["program_id"], row["customer_id"]))
        self._programs.add(row["program_id"])

    def check_order(self, program_id: str, order_id: str, kind: str) -> None:
        if (program_id, order_id, kind) in self._orders:
            raise DependsOnBuffered

    def check_customer(self, program_id: str, customer_id: str | None) -> None:
        if customer_id is not None and (program_id, customer_id) in self._customers:
            raise DependsOnBuffered

    def check_program(self, program_id: str) -> None:
        """For queries over a program's conversions (a month's volume for tiers)."""
        if program_id in self._programs:
            raise DependsOnBuffered

    def take(self) -> list[NewConversion]:
        """Empty the buffer and return what it held."""
        plans, self.plans = self.plans, []
        self._orders.clear()
        self._customers.clear()
        self._programs.clear()
        return plans


@dataclass(slots=True)
class BatchCache:
    """Rows read once per transaction. Holding the program strongly also keeps the session
    from dropping and re-loading it for every event."""

    programs: dict[str, Program | None] = field(default_factory=dict)
    terms: dict[str, CommissionTerms | None] = field(default_factory=dict)
    enrollments: dict[tuple[str, str], tuple[str, str | None] | None] = field(default_factory=dict)
    # (order currency, program currency, day) -> the ECB rate: one look-up per batch.
    fx: dict[tuple[str, str, date], Quote] = field(default_factory=dict)
