"""Splitting bundle lines as orders move: called by conversions/service.py inside the order's
own transaction, right after the ledger (docs/adr/0022-bundles.md).

- `allocate_sale` when an order is completed: each active bundle of the order's program
  whose SKU is on a line gets one `sale` row per party;
- `follow_refund` after a refund: one `refund` row per party, the cumulative parts now minus
  the rows before (crosspromo/bundle_rules.py);
- `follow_decline` when a completed order is declined in its lock period: each party's net
  so far, reversed.

Running in the order's transaction is what keeps an allocation from being lost: it commits
with the status change it follows, or neither commits. Nothing is doubled because every row
is unique per (conversion, event key, party) and each function first looks for its event's
rows: a replayed postback, a re-run validation or a second call finds them and writes
nothing. The order's row is locked by the caller (PostgreSQL), so two events of one order are
never split at once. Orders without SKUs in their lines cost nothing here; orders with SKUs
one indexed query; refunds and declines one query on the order's allocations.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from alliance.commissions import service as ledger
from alliance.conversions.models import Conversion
from alliance.crosspromo import bundle_rules as rules
from alliance.crosspromo.bundle_models import (
    AllocationKind,
    Bundle,
    BundleAllocation,
    BundleParty,
    BundleStatus,
)
from alliance.crosspromo.split import from_minor, to_minor
from alliance.ids import PREFIXES, new_id
from alliance.money import round_money
from alliance.programs.models import Program

SALE_KEY = "sale"
DECLINE_KEY = "decline"

# Built once: most orders with SKUs belong to programs without bundles, and compiling the
# statement per completion cost more than running it (served by bundles (program_id, status)).
_ACTIVE_BY_SKU = (
    select(Bundle.id, Bundle.sku)
    .where(
        Bundle.program_id == bindparam("program_id"),
        Bundle.status == BundleStatus.active.value,
        Bundle.sku.in_(bindparam("skus", expanding=True)),
    )
    .order_by(Bundle.id)
)


def _units(amount: Decimal | None, currency: str) -> int:
    """Stored amounts are exact in their currency already; rounding first only drops the
    zeros PostgreSQL's NUMERIC(20, 6) adds."""
    return to_minor(round_money(amount or Decimal(0), currency), currency)


def refund_key(conversion: Conversion) -> str:
    """A refund event is named by the order's cumulative refunded amount: the same amount
    reported again is the same event."""
    return f"refund:{_units(conversion.refunded_amount, conversion.currency)}"


def _row(
    conversion: Conversion,
    party: BundleParty | BundleAllocation,
    kind: AllocationKind,
    event_key: str,
    revenue: int,
    commission: int,
    commission_currency: str,
    line: tuple[int, int],
    now: datetime,
) -> BundleAllocation:
    bundle_id = party.bundle_id
    party_id = party.id if isinstance(party, BundleParty) else party.party_id
    party_program = party.program_id if isinstance(party, BundleParty) else party.party_program_id
    return BundleAllocation(
        id=new_id(PREFIXES["bundle_allocation"]),
        bundle_id=bundle_id,
        party_id=party_id,
        program_id=conversion.program_id,
        party_program_id=party_program,
        conversion_id=conversion.id,
        kind=kind.value,
        event_key=event_key,
        revenue=from_minor(revenue, conversion.currency),
        revenue_units=revenue,
        currency=conversion.currency,
        commission=from_minor(commission, commission_currency),
        commission_units=commission,
        commission_currency=commission_currency,
        line_revenue=from_minor(line[0], conversion.currency),
        line_commission=from_minor(line[1], commission_currency),
        occurred_at=now,
        created_at=now,
    )


# --- sale ------------------------------------------------------------------------------------


def allocate_sale(session: Session, conversion: Conversion, now: datetime) -> int:
    """Split the bundle lines of a just-completed order among their parties. Returns the
    number of rows written (0 for an order without bundle lines, or a replay)."""
    if conversion.kind != "sale":
        return 0
    items = list(conversion.items or ())
    skus = sorted({str(item["sku"]) for item in items if item.get("sku")})
    if not skus:
        return 0
    # Core, on the session's connection: the ORM's per-statement work cost more than the
    # indexed probe itself (the flush keeps what autoflush would have guaranteed).
    session.flush()
    bundles = (
        session.connection()
        .execute(_ACTIVE_BY_SKU, {"program_id": conversion.program_id, "skus": skus})
        .all()
    )
    if not bundles:
        return 0
    done = set(
        session.scalars(
            select(BundleAllocation.bundle_id).where(
                BundleAllocation.conversion_id == conversion.id,
                BundleAllocation.event_key == SALE_KEY,
            )
        )
    )
    commission = ledger.commission_for(session, conversion.id, lock=False)
    if commission is not None:
        commission_currency = commission.currency
        commission_units = _units(commission.amount, commission_currency)
        weights = rules.line_weights(items, commission.rule or {})
    else:  # a sale always has one; without it, the line carries no commission
        commission_currency = session.get_one(Program, conversion.program_id).currency
        commission_units = 0
        weights = [Decimal(0)] * len(items)
    parties = _parties(session, [b.id for b in bundles if b.id not in done])
    written = 0
    for bundle in bundles:
        if bundle.id in done or not parties.get(bundle.id):
            continue
        in_line = [item.get("sku") == bundle.sku for item in items]
        revenue = sum(
            _units(Decimal(str(item.get("amount") or 0)), conversion.currency)
            for item, flagged in zip(items, in_line, strict=True)
            if flagged
        )
        line_commission = rules.line_commission(commission_units, weights, in_line)
        members = parties[bundle.id]
        parts = rules.sale_parts(
            revenue, line_commission, [p.weight for p in members], [p.id for p in members]
        )
        for party, rev, com in zip(members, parts.revenue, parts.commission, strict=True):
            session.add(
                _row(
                    conversion,
                    party,
                    AllocationKind.sale,
                    SALE_KEY,
                    rev,
                    com,
                    commission_currency,
                    (revenue, line_commission),
                    now,
                )
            )
            written += 1
    if written and conversion.refunded_amount:
        # Refunded while still pending, completed afterwards: the refund follows at once.
        session.flush()
        written += follow_refund(session, conversion, now)
    return written


def _parties(session: Session, bundle_ids: Sequence[str]) -> dict[str, list[BundleParty]]:
    found: dict[str, list[BundleParty]] = defaultdict(list)
    if not bundle_ids:
        return found
    for party in session.scalars(
        select(BundleParty)
        .where(BundleParty.bundle_id.in_(bundle_ids))
        .order_by(BundleParty.bundle_id, BundleParty.position)
    ):
        found[party.bundle_id].append(party)
    return found


# --- refunds and declines ------------------------------------------------------------------


def _sales(session: Session, conversion_id: str) -> dict[str, list[BundleAllocation]]:
    """The order's sale rows per bundle, parties in id order (the split's tie-break keys)."""
    found: dict[str, list[BundleAllocation]] = defaultdict(list)
    for row in session.scalars(
        select(BundleAllocation)
        .where(
            BundleAllocation.conversion_id == conversion_id,
            BundleAllocation.kind == AllocationKind.sale.value,
        )
        .order_by(BundleAllocation.bundle_id, BundleAllocation.party_id)
    ):
        found[row.bundle_id].append(row)
    return found


def _given_back(session: Session, conversion_id: str) -> dict[str, tuple[int, int]]:
    """Per party: the revenue and commission units the order's refund rows gave back so far
    (positive)."""
    rows = session.execute(
        select(
            BundleAllocation.party_id,
            func.sum(BundleAllocation.revenue_units),
            func.sum(BundleAllocation.commission_units),
        )
        .where(
            BundleAllocation.conversion_id == conversion_id,
            BundleAllocation.kind == AllocationKind.refund.value,
        )
        .group_by(BundleAllocation.party_id)
    )
    return {party: (-int(rev or 0), -int(com or 0)) for party, rev, com in rows}


def _recorded(session: Session, conversion_id: str, event_key: str) -> set[str]:
    """The bundles that already have rows for this event of the order."""
    return set(
        session.scalars(
            select(BundleAllocation.bundle_id).where(
                BundleAllocation.conversion_id == conversion_id,
                BundleAllocation.event_key == event_key,
            )
        )
    )


def follow_refund(session: Session, conversion: Conversion, now: datetime) -> int:
    """After a refund of an order whose bundle lines were split: each party gives back its
    part of the line's cumulative refund, less what it gave back before."""
    sales = _sales(session, conversion.id)
    if not sales or _recorded(session, conversion.id, DECLINE_KEY):
        return 0
    key = refund_key(conversion)
    recorded = _recorded(session, conversion.id, key)
    order_units = _units(conversion.amount, conversion.currency)
    refunded_units = min(_units(conversion.refunded_amount, conversion.currency), order_units)
    commission = ledger.commission_for(session, conversion.id, lock=False)
    original = taken = 0
    if commission is not None:
        original = _units(commission.amount, commission.currency)
        value = _units(ledger.commission_value(session, commission.id), commission.currency)
        taken = max(0, original - max(value, 0))
    given_back = _given_back(session, conversion.id)
    written = 0
    for bundle_id, rows in sales.items():
        if bundle_id in recorded:
            continue
        currency = rows[0].commission_currency
        line_revenue = _units(rows[0].line_revenue, conversion.currency)
        line_commission = _units(rows[0].line_commission, currency)
        sold = rules.Parts(
            revenue=tuple(r.revenue_units for r in rows),
            commission=tuple(r.commission_units for r in rows),
        )
        cumulative_revenue = rules.proportional(line_revenue, order_units, refunded_units)
        cumulative_commission = rules.proportional(line_commission, original, taken)
        now_parts = rules.refunded_parts(
            sold,
            line_revenue,
            line_commission,
            cumulative_revenue,
            cumulative_commission,
            [r.party_id for r in rows],
        )
        steps = [
            (
                row,
                rev - given_back.get(row.party_id, (0, 0))[0],
                com - given_back.get(row.party_id, (0, 0))[1],
            )
            for row, rev, com in zip(rows, now_parts.revenue, now_parts.commission, strict=True)
        ]
        if not any(rev or com for _, rev, com in steps):
            continue  # rounding left this line untouched by this refund
        for row, rev, com in steps:
            session.add(
                _row(
                    conversion,
                    row,
                    AllocationKind.refund,
                    key,
                    -rev,
                    -com,
                    currency,
                    (cumulative_revenue, cumulative_commission),
                    now,
                )
            )
            written += 1
    return written


def follow_decline(session: Session, conversion: Conversion, now: datetime) -> int:
    """A completed order declined in its lock period: every party's net so far goes back."""
    sales = _sales(session, conversion.id)
    if not sales:
        return 0
    recorded = _recorded(session, conversion.id, DECLINE_KEY)
    given_back = _given_back(session, conversion.id)
    written = 0
    for bundle_id, rows in sales.items():
        if bundle_id in recorded:
            continue
        currency = rows[0].commission_currency
        line = (
            _units(rows[0].line_revenue, conversion.currency),
            _units(rows[0].line_commission, currency),
        )
        for row in rows:
            back = given_back.get(row.party_id, (0, 0))
            session.add(
                _row(
                    conversion,
                    row,
                    AllocationKind.decline,
                    DECLINE_KEY,
                    -(row.revenue_units - back[0]),
                    -(row.commission_units - back[1]),
                    currency,
                    line,
                    now,
                )
            )
            written += 1
    return written
