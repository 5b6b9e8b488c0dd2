"""/api/v1/conversions: orders and leads as tracked, with their status history.

Read-only: conversions are written by the postback/webhook pipeline. The response shapes live
here because the conversions package's writers own its other modules.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, ReadDB
from alliance.api.fields import PartnerId, ProgramId, ShortText, amount_text
from alliance.api.pagination import Page, PageQuery, TimeRangeQuery, fetch_page, given
from alliance.api.scoping import get_visible, visible_commissions, visible_conversions
from alliance.commissions.models import Commission
from alliance.commissions.read_api import commission_detail
from alliance.commissions.schemas import CommissionDetail
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    ConversionKind,
    ConversionStatus,
)

router = APIRouter(prefix="/api/v1", tags=["conversions"])

_MONEY = "Decimal string in `currency` (the order's own currency)"


class ConversionOut(BaseModel):
    id: str
    program_id: str
    partner_id: str
    order_id: str
    kind: ConversionKind
    status: ConversionStatus
    currency: str
    amount: str = Field(description=f"Order total as reported. {_MONEY}")
    net_amount: str = Field(description=f"The commission base. {_MONEY}")
    tax_amount: str
    shipping_amount: str
    refunded_amount: str = Field(description=f"Cumulative, gross. {_MONEY}")
    fx_rate: str | None = Field(
        default=None,
        description="An order in another currency than its program's: the ECB rate it was "
        "priced at (program currency per unit of `currency`); null otherwise",
    )
    fx_day: date | None = Field(default=None, description="The ECB day of `fx_rate`")
    items: list[dict[str, Any]]
    click_id: str | None
    coupon: str | None
    customer_id: str | None = Field(description="Hidden from partners: the store's customer")
    new_customer: bool | None
    buyer_country: str | None
    attributed_by: str
    terms_id: str | None
    occurred_at: datetime
    completed_at: datetime | None
    decline_reason: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Conversion, *, for_partner: bool) -> ConversionOut:
        def money(value: Any) -> str:
            return amount_text(value, row.currency)

        return cls(
            id=row.id,
            program_id=row.program_id,
            partner_id=row.partner_id,
            order_id=row.order_id,
            kind=ConversionKind(row.kind),
            status=ConversionStatus(row.status),
            currency=row.currency,
            amount=money(row.amount),
            net_amount=money(row.net_amount),
            tax_amount=money(row.tax_amount),
            shipping_amount=money(row.shipping_amount),
            refunded_amount=money(row.refunded_amount),
            fx_rate=None if row.fx_rate is None else format(row.fx_rate.normalize(), "f"),
            fx_day=row.fx_day,
            items=list(row.items or []),
            click_id=row.click_id,
            coupon=row.coupon,
            customer_id=None if for_partner else row.customer_id,
            new_customer=row.new_customer,
            buyer_country=row.buyer_country,
            attributed_by=row.attributed_by,
            terms_id=row.terms_id,
            occurred_at=row.occurred_at,
            completed_at=row.completed_at,
            decline_reason=row.decline_reason,
            created_at=row.created_at,
        )


class ConversionEventOut(BaseModel):
    id: str
    kind: str
    status: ConversionStatus
    refunded_amount: str | None = Field(description="Cumulative after this event, for refunds")
    currency: str
    note: str | None
    occurred_at: datetime


class ConversionDetail(ConversionOut):
    click_path: list[dict[str, Any]] | None = Field(
        description="Clicks considered, newest first; hidden from partners (other partners' "
        "clicks appear in it)"
    )
    history: list[ConversionEventOut] = Field(description="Status changes, oldest first")
    commission: CommissionDetail | None = Field(description="The partner's commission, if any")


def _detail(db: Session, row: Conversion, caller: Principal) -> ConversionDetail:
    events = db.scalars(
        select(ConversionEvent)
        .where(ConversionEvent.conversion_id == row.id)
        .order_by(ConversionEvent.occurred_at, ConversionEvent.id)
    ).all()
    commission = db.scalars(
        select(Commission)
        .where(Commission.conversion_id == row.id, visible_commissions(caller))
        .order_by(Commission.id)
    ).first()
    base = ConversionOut.of(row, for_partner=caller.is_partner)
    return ConversionDetail(
        **base.model_dump(),
        click_path=None if caller.is_partner else list(row.click_path or []),
        history=[
            ConversionEventOut(
                id=e.id,
                kind=e.kind,
                status=ConversionStatus(e.status),
                refunded_amount=None
                if e.refunded_amount is None
                else amount_text(e.refunded_amount, row.currency),
                currency=row.currency,
                note=e.note,
                occurred_at=e.occurred_at,
            )
            for e in events
        ],
        commission=commission_detail(db, commission) if commission is not None else None,
    )


@router.get("/conversions", response_model=Page[ConversionOut])
def list_conversions(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    period: TimeRangeQuery,
    program_id: ProgramId | None = None,
    partner_id: PartnerId | None = None,
    conversion_status: Annotated[ConversionStatus | None, Query(alias="status")] = None,
    order_id: Annotated[ShortText | None, Query(max_length=128)] = None,
) -> Page[ConversionOut]:
    conditions: list[ColumnElement[bool]] = [visible_conversions(caller)]
    conditions += period.conditions(Conversion.occurred_at)
    conditions += given(
        (Conversion.program_id, program_id),
        (Conversion.partner_id, partner_id),
        (Conversion.status, conversion_status),
        (Conversion.order_id, order_id),
    )
    rows, cursor = fetch_page(db, select(Conversion).where(*conditions), Conversion.id, page)
    for_partner = caller.is_partner
    return Page(
        data=[ConversionOut.of(row, for_partner=for_partner) for row in rows], next_cursor=cursor
    )


@router.get("/conversions/{conversion_id}", response_model=ConversionDetail)
def get_conversion(conversion_id: str, db: ReadDB, caller: Anyone) -> ConversionDetail:
    row = get_visible(
        db,
        Conversion,
        conversion_id,
        visible_conversions(caller),
        prefix="cnv",
        what="conversion",
    )
    return _detail(db, row, caller)
