"""/api/v1/bundles: offers of several programs at one price, their parties' answers, and the
split of every bundle line (docs/bundles.md).

An advertiser proposes a bundle its store sells; the other parties' advertisers accept or
decline; the seller or the operator deactivates it. Advertisers read their bundles'
allocations and totals; partners see active bundles of programs they are approved in.
A bundle the caller may not see answers 404, as a missing one does.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.functional_validators import AfterValidator
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, Manager, ReadDB
from alliance.api.fields import Currency, Name, ProgramId, amount_text, plain_text
from alliance.api.pagination import Page, PageQuery, TimeRangeQuery, fetch_page, given
from alliance.clock import utcnow
from alliance.conversions.models import Conversion
from alliance.crosspromo import bundles as service
from alliance.crosspromo.bundle_models import (
    AllocationKind,
    Bundle,
    BundleAllocation,
    BundleParty,
    BundleStatus,
    PartyStatus,
)
from alliance.db.engine import transaction

router = APIRouter(prefix="/api/v1", tags=["bundles"])

Sku = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=128),
    AfterValidator(plain_text),
]
PartyId = Annotated[str, StringConstraints(pattern=r"^bdp_[0-9A-Z]{26}$")]


class PartyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId
    weight: Any = Field(
        description='Its share relative to the others: an integer or a decimal string ("2.5"),'
        " above 0, at most 1000000, at most 6 decimals",
        examples=[3, "1.5"],
    )


class BundleIn(BaseModel):
    """A bundle the store of `program_id` sells under `sku`. The parties are programs (the
    seller's own and other advertisers'); each line's revenue and commission split by their
    weights. Other advertisers' parties must accept before the bundle is active."""

    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId = Field(description="The seller's program: its orders carry the SKU")
    name: Name
    sku: Sku = Field(description="Exactly as the store sends it in order lines (case matters)")
    price: Any = Field(description="The advertised price, a decimal string", examples=["99.90"])
    currency: Currency | None = Field(default=None, description="Default: the program's")
    parties: list[PartyIn] = Field(min_length=1, max_length=service.MAX_PARTIES)

    def terms(self) -> service.BundleTerms:
        return service.BundleTerms(
            program_id=self.program_id,
            name=self.name,
            sku=self.sku,
            price=self.price,
            currency=self.currency,
            parties=tuple(
                service.PartyTerms(
                    p.program_id, service.parse_weight(p.weight, f"parties.{i}.weight")
                )
                for i, p in enumerate(self.parties)
            ),
        )


class PartyOut(BaseModel):
    id: str
    program_id: str
    advertiser_id: str
    weight: str | None = Field(description="null for partners: the weights are the advertisers'")
    status: PartyStatus
    decided_at: datetime | None


class BundleOut(BaseModel):
    id: str
    program_id: str = Field(description="The seller's program")
    advertiser_id: str = Field(description="The seller")
    name: str
    sku: str
    price: str
    currency: str
    status: BundleStatus
    created_at: datetime
    activated_at: datetime | None
    closed_at: datetime | None
    parties: list[PartyOut] = Field(description="In the order the seller listed them")

    @classmethod
    def of(cls, row: Bundle, parties: list[BundleParty], caller: Principal) -> BundleOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            advertiser_id=row.advertiser_id,
            name=row.name,
            sku=row.sku,
            price=amount_text(row.price, row.currency),
            currency=row.currency,
            status=BundleStatus(row.status),
            created_at=row.created_at,
            activated_at=row.activated_at,
            closed_at=row.closed_at,
            parties=[
                PartyOut(
                    id=p.id,
                    program_id=p.program_id,
                    advertiser_id=p.advertiser_id,
                    weight=None if caller.is_partner else _weight_text(p),
                    status=PartyStatus(p.status),
                    decided_at=p.decided_at,
                )
                for p in parties
            ],
        )


def _weight_text(party: BundleParty) -> str:
    # PostgreSQL gives NUMERIC(20, 6) back as 2.000000: show the weight as it was agreed.
    return f"{party.weight.normalize():f}"


class AllocationOut(BaseModel):
    id: str
    bundle_id: str
    party_id: str
    party_program_id: str
    conversion_id: str
    order_id: str
    kind: AllocationKind
    event_key: str = Field(
        description='"sale", "refund:<cumulative refunded, minor units>", "decline"'
    )
    revenue: str = Field(description="Signed: refunds and declines are negative")
    currency: str = Field(description="The order's")
    commission: str = Field(description="Signed, in the commission's currency")
    commission_currency: str
    line_revenue: str = Field(
        description="Sale: the bundle line's revenue; refund: its cumulative refunded revenue"
    )
    line_commission: str = Field(
        description="Sale: the line's commission; refund: its cumulative commission taken back"
    )
    occurred_at: datetime

    @classmethod
    def of(cls, row: BundleAllocation, order_id: str) -> AllocationOut:
        return cls(
            id=row.id,
            bundle_id=row.bundle_id,
            party_id=row.party_id,
            party_program_id=row.party_program_id,
            conversion_id=row.conversion_id,
            order_id=order_id,
            kind=AllocationKind(row.kind),
            event_key=row.event_key,
            revenue=amount_text(row.revenue, row.currency),
            currency=row.currency,
            commission=amount_text(row.commission, row.commission_currency),
            commission_currency=row.commission_currency,
            line_revenue=amount_text(row.line_revenue, row.currency),
            line_commission=amount_text(row.line_commission, row.commission_currency),
            occurred_at=row.occurred_at,
        )


class PartyTotalsOut(BaseModel):
    party_id: str
    program_id: str
    currency: str
    commission_currency: str
    orders: int = Field(description="Orders whose bundle line was split")
    revenue: str
    refunded_revenue: str = Field(description="Given back by refunds and declines")
    net_revenue: str
    commission: str
    reversed_commission: str = Field(description="Taken back by refunds and declines")
    net_commission: str


class TotalsOut(BaseModel):
    bundle_id: str
    parties: list[PartyTotalsOut] = Field(
        description="One entry per party and currency pair with allocations; in party order"
    )


def _out(session: Session, caller: Principal, rows: list[Bundle]) -> list[BundleOut]:
    parties = service.parties_of(session, [r.id for r in rows])
    return [BundleOut.of(r, parties.get(r.id, []), caller) for r in rows]


@router.post("/bundles", status_code=status.HTTP_201_CREATED, response_model=BundleOut)
def create_bundle(body: BundleIn, caller: Manager) -> BundleOut:
    terms = body.terms()
    with transaction() as session:
        row = service.create_bundle(session, caller, terms, utcnow())
        return _out(session, caller, [row])[0]


@router.get("/bundles", response_model=Page[BundleOut])
def list_bundles(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    program_id: Annotated[ProgramId | None, Query(description="The seller's program")] = None,
    status_: Annotated[BundleStatus | None, Query(alias="status")] = None,
) -> Page[BundleOut]:
    statement = select(Bundle).where(
        service.visible_bundles(caller),
        *given((Bundle.program_id, program_id), (Bundle.status, status_)),
    )
    rows, cursor = fetch_page(db, statement, Bundle.id, page)
    return Page(data=_out(db, caller, list(rows)), next_cursor=cursor)


@router.get("/bundles/{bundle_id}", response_model=BundleOut)
def get_bundle(bundle_id: str, db: ReadDB, caller: Anyone) -> BundleOut:
    return _out(db, caller, [service.get_bundle(db, caller, bundle_id)])[0]


def _decide(bundle_id: str, party_id: str, caller: Principal, accept: bool) -> BundleOut:
    with transaction() as session:
        # Locked: the last two parties accepting at once must both see the other's answer.
        bundle = service.get_bundle(session, caller, bundle_id, lock=True)
        service.decide_party(session, caller, bundle, party_id, accept, utcnow())
        return _out(session, caller, [bundle])[0]


@router.post("/bundles/{bundle_id}/parties/{party_id}/accept", response_model=BundleOut)
def accept_party(bundle_id: str, party_id: str, caller: Manager) -> BundleOut:
    """The party's advertiser agrees to the bundle's terms; the last acceptance activates it."""
    return _decide(bundle_id, party_id, caller, accept=True)


@router.post("/bundles/{bundle_id}/parties/{party_id}/decline", response_model=BundleOut)
def decline_party(bundle_id: str, party_id: str, caller: Manager) -> BundleOut:
    """The party's advertiser refuses: the bundle is declined and its SKU free again."""
    return _decide(bundle_id, party_id, caller, accept=False)


@router.post("/bundles/{bundle_id}/deactivate", response_model=BundleOut)
def deactivate_bundle(bundle_id: str, caller: Manager) -> BundleOut:
    with transaction() as session:
        bundle = service.get_bundle(session, caller, bundle_id, lock=True)
        service.deactivate(session, caller, bundle, utcnow())
        return _out(session, caller, [bundle])[0]


@router.get("/bundles/{bundle_id}/allocations", response_model=Page[AllocationOut])
def list_allocations(
    bundle_id: str,
    db: ReadDB,
    caller: Manager,
    page: PageQuery,
    period: TimeRangeQuery,
    party_id: Annotated[PartyId | None, Query()] = None,
    kind: Annotated[AllocationKind | None, Query()] = None,
) -> Page[AllocationOut]:
    """Every party's part of every event of the bundle's lines, newest first. The seller
    and the operator see all parties; another party's advertiser its own parties' rows."""
    bundle = service.get_bundle(db, caller, bundle_id)
    statement = select(BundleAllocation).where(
        BundleAllocation.bundle_id == bundle.id,
        service.visible_allocations(caller, bundle),
        *given((BundleAllocation.party_id, party_id), (BundleAllocation.kind, kind)),
        *period.conditions(BundleAllocation.occurred_at),
    )
    rows, cursor = fetch_page(db, statement, BundleAllocation.id, page)
    conversion_ids = {r.conversion_id for r in rows}
    orders = dict(
        db.execute(
            select(Conversion.id, Conversion.order_id).where(Conversion.id.in_(conversion_ids))
        ).all()
    )
    return Page(
        data=[AllocationOut.of(r, orders.get(r.conversion_id, "")) for r in rows],
        next_cursor=cursor,
    )


@router.get("/bundles/{bundle_id}/totals", response_model=TotalsOut)
def bundle_totals(bundle_id: str, db: ReadDB, caller: Manager) -> TotalsOut:
    """Per party: Σ of its allocations, exact to the minor unit (the sums of the rows)."""
    bundle = service.get_bundle(db, caller, bundle_id)
    programs = {p.id: p.program_id for p in service.parties_of(db, [bundle.id])[bundle.id]}
    sums = service.totals(db, bundle, service.visible_allocations(caller, bundle))
    return TotalsOut(
        bundle_id=bundle.id,
        parties=[
            PartyTotalsOut(
                party_id=t.party_id,
                program_id=programs.get(t.party_id, ""),
                currency=t.currency,
                commission_currency=t.commission_currency,
                orders=t.orders,
                revenue=amount_text(t.revenue, t.currency),
                refunded_revenue=amount_text(t.refunded, t.currency),
                net_revenue=amount_text(t.net_revenue, t.currency),
                commission=amount_text(t.commission, t.commission_currency),
                reversed_commission=amount_text(t.reversed, t.commission_currency),
                net_commission=amount_text(t.net_commission, t.commission_currency),
            )
            for t in sums
        ],
    )
