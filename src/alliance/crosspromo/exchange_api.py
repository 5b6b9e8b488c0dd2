"""/api/v1/campaigns/{id}/exchange: the fair-exchange ledger of a co-promotion campaign
(docs/fair-exchange.md): each pair of partners' balance, its entries, its alerts, and
settlement by capped carry-over.

Only the pair's two partners and the operator read a pair; an advertiser party, or anyone
not in the campaign, gets 404 as for a missing campaign.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, status
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from alliance.api.deps import Anyone, PartnerOnly, ReadDB
from alliance.api.fields import Name, PartnerId, ProgramId
from alliance.clock import utcnow
from alliance.crosspromo import exchange as service
from alliance.crosspromo.campaign_rules import Channel
from alliance.crosspromo.exchange_models import (
    EntryKind,
    ExchangeAlert,
    ExchangeEntry,
    ExchangeSettlement,
    SettlementMethod,
)
from alliance.crosspromo.exchange_rules import balance_of
from alliance.db.engine import transaction

router = APIRouter(prefix="/api/v1", tags=["fair exchange"])


class ToleranceOut(BaseModel):
    percent: str | None = Field(description="Of everything the pair exchanged, both ways")
    clicks: int | None


class BalanceOut(BaseModel):
    """One pair, from `partner_id`'s side (the caller's, for a partner)."""

    campaign_id: str
    partner_id: str
    counterpart_id: str
    delivered_clicks: int = Field(description="Unique people partner_id sent to the counterpart")
    received_clicks: int = Field(description="Unique people the counterpart sent to partner_id")
    adjusted_clicks: int = Field(description="Settlements (forgiven by carry-over), signed")
    balance: int = Field(
        description="delivered - received + adjusted: > 0, the counterpart owes partner_id"
    )
    tolerance: ToleranceOut
    exceeded: bool

    @classmethod
    def of(cls, row: service.PairBalance) -> BalanceOut:
        percent = row.tolerance.percent
        return cls(
            campaign_id=row.campaign_id,
            partner_id=row.partner_id,
            counterpart_id=row.counterpart_id,
            delivered_clicks=row.delivered,
            received_clicks=row.received,
            adjusted_clicks=row.adjusted,
            balance=row.balance,
            tolerance=ToleranceOut(
                percent=None if percent is None else f"{percent.normalize():f}",
                clicks=row.tolerance.units,
            ),
            exceeded=row.exceeded,
        )


class EntryOut(BaseModel):
    id: str
    kind: EntryKind
    units: int = Field(description="Signed from partner_id's side: + it delivered, - received")
    click_id: str | None
    settlement_id: str | None
    occurred_at: datetime

    @classmethod
    def of(cls, row: ExchangeEntry, partner_id: str) -> EntryOut:
        other = row.partner_high if partner_id == row.partner_low else row.partner_low
        return cls(
            id=row.id,
            kind=EntryKind(row.kind),
            units=balance_of(partner_id, other, row.units),
            click_id=row.click_id,
            settlement_id=row.settlement_id,
            occurred_at=row.occurred_at,
        )


class AlertOut(BaseModel):
    partner_ids: list[str] = Field(description="The pair")
    owed_partner_id: str
    crossing: int = Field(description="1 for the pair's first crossing of the tolerance, ...")
    balance: int = Field(description="What was owed when it crossed, unique clicks")
    exchanged: int
    raised_at: datetime
    resolved_at: datetime | None = Field(description="Back within the tolerance")

    @classmethod
    def of(cls, row: ExchangeAlert) -> AlertOut:
        return cls(
            partner_ids=[row.partner_low, row.partner_high],
            owed_partner_id=row.owed_partner_id,
            crossing=row.crossing,
            balance=row.balance,
            exchanged=row.exchanged,
            raised_at=row.raised_at,
            resolved_at=row.resolved_at,
        )


class SettleIn(BaseModel):
    """The partner owed keeps at most `cap` unique clicks owed into the next period and
    forgives the rest."""

    model_config = ConfigDict(extra="forbid")

    counterpart_id: PartnerId
    method: Literal["carry_over"] = "carry_over"
    cap: int = Field(ge=0, le=10**9, description="Unique clicks still owed after settling")


class MakeGoodIn(BaseModel):
    """The organiser asks the partner owing for a slot promoting the partner owed's offer."""

    model_config = ConfigDict(extra="forbid")

    owing_partner_id: PartnerId
    owed_partner_id: PartnerId
    program_id: ProgramId = Field(description="The owed partner's offer (its link is used)")
    channel: Channel
    title: Name
    starts_at: AwareDatetime
    ends_at: AwareDatetime


class SettlementOut(BaseModel):
    id: str
    campaign_id: str
    method: SettlementMethod
    partner_id: str
    counterpart_id: str
    balance_before: int = Field(description="From partner_id's side")
    cap: int | None = Field(description="Carry-over only")
    carried: int | None = Field(description="Carry-over only, from partner_id's side")
    forgiven: int | None = Field(description="Carry-over only, from partner_id's side")
    slot_id: str | None = Field(description="Make-good only: the slot added to the campaign")
    created_at: datetime

    @classmethod
    def of(cls, row: ExchangeSettlement, partner_id: str) -> SettlementOut:
        other = row.partner_high if partner_id == row.partner_low else row.partner_low

        def side(value: int | None) -> int | None:
            return None if value is None else balance_of(partner_id, other, value)

        return cls(
            id=row.id,
            campaign_id=row.campaign_id,
            method=row.method,
            partner_id=partner_id,
            counterpart_id=other,
            balance_before=balance_of(partner_id, other, row.balance_before),
            cap=row.cap,
            carried=side(row.carried),
            forgiven=side(row.forgiven),
            slot_id=row.slot_id,
            created_at=row.created_at,
        )


@router.get("/campaigns/{campaign_id}/exchange", response_model=list[BalanceOut])
def get_balances(campaign_id: str, db: ReadDB, caller: Anyone) -> list[BalanceOut]:
    """The caller's pairs (the operator: every pair, from its lower partner id's side)."""
    return [BalanceOut.of(row) for row in service.balances(db, campaign_id, caller)]


@router.get("/campaigns/{campaign_id}/exchange/entries", response_model=list[EntryOut])
def get_entries(
    campaign_id: str,
    db: ReadDB,
    caller: Anyone,
    counterpart_id: Annotated[PartnerId, Query(description="The other partner of the pair")],
    partner_id: Annotated[
        PartnerId | None, Query(description="Operator only: the pair's first partner")
    ] = None,
) -> list[EntryOut]:
    rows = service.entries(db, campaign_id, caller, counterpart_id, partner_id)
    me = caller.id if caller.is_partner else partner_id
    assert me is not None  # the service refuses an operator without partner_id
    return [EntryOut.of(row, me) for row in rows]


@router.get("/campaigns/{campaign_id}/exchange/alerts", response_model=list[AlertOut])
def get_alerts(campaign_id: str, db: ReadDB, caller: Anyone) -> list[AlertOut]:
    return [AlertOut.of(row) for row in service.alerts(db, campaign_id, caller)]


@router.post(
    "/campaigns/{campaign_id}/exchange/settle",
    status_code=status.HTTP_201_CREATED,
    response_model=SettlementOut,
)
def settle(campaign_id: str, body: SettleIn, caller: PartnerOnly) -> SettlementOut:
    with transaction() as session:
        row = service.settle_carry_over(
            session, campaign_id, caller, body.counterpart_id, body.cap, utcnow()
        )
        return SettlementOut.of(row, caller.id)


@router.post(
    "/campaigns/{campaign_id}/exchange/make-good",
    status_code=status.HTTP_201_CREATED,
    response_model=SettlementOut,
)
def make_good(campaign_id: str, body: MakeGoodIn, caller: PartnerOnly) -> SettlementOut:
    """A make-good slot: added through the campaigns service, so only the organiser may, and
    every party accepts the changed terms again."""
    terms = service.MakeGood(
        owing_partner_id=body.owing_partner_id,
        owed_partner_id=body.owed_partner_id,
        program_id=body.program_id,
        channel=body.channel,
        title=body.title,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
    )
    with transaction() as session:
        row = service.settle_make_good(session, campaign_id, caller, terms, utcnow())
        return SettlementOut.of(row, body.owed_partner_id)
