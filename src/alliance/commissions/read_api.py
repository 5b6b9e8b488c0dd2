"""/api/v1/commissions: what partners earn, with the ledger behind each amount.

Read-only: commissions are written by the ledger service. The current value of a commission
is always computed from its entries here, never read from a stored total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.api.deps import Anyone, ReadDB
from alliance.api.fields import PartnerId, ProgramId
from alliance.api.pagination import Page, PageQuery, TimeRangeQuery, fetch_page, given
from alliance.api.scoping import get_visible, visible_commissions
from alliance.commissions.models import Commission, CommissionStatus, LedgerEntry
from alliance.commissions.schemas import CommissionDetail, CommissionOut

router = APIRouter(prefix="/api/v1", tags=["commissions"])


def ledger_values(session: Session, commission_ids: Iterable[str]) -> dict[str, Decimal]:
    """Σ ledger entries per commission, summed in Python: SQLite stores amounts as text and
    SUM() there would go through floats."""
    ids = list(commission_ids)
    values: dict[str, Decimal] = defaultdict(lambda: Decimal(0))
    if ids:
        rows = session.execute(
            select(LedgerEntry.commission_id, LedgerEntry.amount).where(
                LedgerEntry.commission_id.in_(ids)
            )
        )
        for commission_id, amount in rows:
            values[commission_id] += amount
    return values


def commission_detail(session: Session, row: Commission) -> CommissionDetail:
    entries = session.scalars(
        select(LedgerEntry)
        .where(LedgerEntry.commission_id == row.id)
        .order_by(LedgerEntry.created_at, LedgerEntry.id)
    ).all()
    return CommissionDetail.of_entries(row, list(entries))


@router.get("/commissions", response_model=Page[CommissionOut])
def list_commissions(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    period: TimeRangeQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
    commission_status: Annotated[CommissionStatus | None, Query(alias="status")] = None,
) -> Page[CommissionOut]:
    conditions: list[ColumnElement[bool]] = [visible_commissions(caller)]
    conditions += period.conditions(Commission.occurred_at)
    conditions += given(
        (Commission.program_id, program_id),
        (Commission.partner_id, partner_id),
        (Commission.status, commission_status),
    )
    rows, cursor = fetch_page(db, select(Commission).where(*conditions), Commission.id, page)
    values = ledger_values(db, [row.id for row in rows])
    return Page(data=[CommissionOut.of(row, values[row.id]) for row in rows], next_cursor=cursor)


@router.get("/commissions/{commission_id}", response_model=CommissionDetail)
def get_commission(commission_id: str, db: ReadDB, caller: Anyone) -> CommissionDetail:
    row = get_visible(
        db,
        Commission,
        commission_id,
        visible_commissions(caller),
        prefix="com",
        what="commission",
    )
    return commission_detail(db, row)
