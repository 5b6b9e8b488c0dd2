"""/api/v1/advertisers and /api/v1/partners: accounts created by the operator."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, status
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind, Advertiser, Operator, Partner, ServiceLevel
from alliance.accounts.schemas import (
    AdvertiserCreate,
    AdvertiserCreated,
    AdvertiserOut,
    PartnerCreate,
    PartnerCreated,
    PartnerOut,
)
from alliance.accounts.service import Principal, create_advertiser, create_partner
from alliance.api.deps import Anyone, OperatorOnly, ReadDB, require
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.scoping import get_visible, visible_advertisers, visible_partners
from alliance.crosspromo import referrals
from alliance.db.engine import transaction
from alliance.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["accounts"])

OperatorOrAdvertiser = Annotated[Principal, require(AccountKind.operator, AccountKind.advertiser)]


def _account_manager(session: Session, body: AdvertiserCreate, caller: Principal) -> str | None:
    """A managed advertiser always has a manager: the one named, or the calling operator."""
    manager = body.account_manager_id
    if manager is None and body.service_level is ServiceLevel.managed:
        return caller.id
    if manager is not None and session.get(Operator, manager) is None:
        raise InvalidInput(f"no operator {manager!r}", field="account_manager_id")
    return manager


@router.post("/advertisers", status_code=status.HTTP_201_CREATED, response_model=AdvertiserCreated)
def post_advertiser(body: AdvertiserCreate, caller: OperatorOnly) -> AdvertiserCreated:
    with transaction() as session:
        advertiser, key = create_advertiser(
            session,
            name=body.name,
            country=body.country,
            currency=body.currency,
            service_level=body.service_level.value,
            account_manager_id=_account_manager(session, body, caller),
            website=body.website,
        )
    return AdvertiserCreated(**AdvertiserOut.of(advertiser).model_dump(), api_key=key)


@router.get("/advertisers", response_model=Page[AdvertiserOut])
def list_advertisers(
    db: ReadDB, caller: OperatorOrAdvertiser, page: PageQuery
) -> Page[AdvertiserOut]:
    statement = select(Advertiser).where(visible_advertisers(caller))
    rows, cursor = fetch_page(db, statement, Advertiser.id, page)
    return Page(data=[AdvertiserOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/advertisers/{advertiser_id}", response_model=AdvertiserOut)
def get_advertiser(advertiser_id: str, db: ReadDB, caller: OperatorOrAdvertiser) -> AdvertiserOut:
    row = get_visible(
        db, Advertiser, advertiser_id, visible_advertisers(caller), prefix="adv", what="advertiser"
    )
    return AdvertiserOut.of(row)


@router.post("/partners", status_code=status.HTTP_201_CREATED, response_model=PartnerCreated)
def post_partner(body: PartnerCreate, caller: OperatorOnly) -> PartnerCreated:
    with transaction() as session:
        partner, key = create_partner(session, **body.account_fields())
        if body.recruit_code is not None:
            referrals.record(session, partner.id, body.recruit_code)
    return PartnerCreated(**PartnerOut.of(partner, show_email=True).model_dump(), api_key=key)


@router.get("/partners", response_model=Page[PartnerOut])
def list_partners(db: ReadDB, caller: Anyone, page: PageQuery) -> Page[PartnerOut]:
    statement = select(Partner).where(visible_partners(caller))
    rows, cursor = fetch_page(db, statement, Partner.id, page)
    show_email = not caller.is_advertiser
    return Page(data=[PartnerOut.of(r, show_email=show_email) for r in rows], next_cursor=cursor)


@router.get("/partners/{partner_id}", response_model=PartnerOut)
def get_partner(partner_id: str, db: ReadDB, caller: Anyone) -> PartnerOut:
    row = get_visible(
        db, Partner, partner_id, visible_partners(caller), prefix="ptn", what="partner"
    )
    # Advertisers see partners' public profile; the contact address stays with the operator.
    return PartnerOut.of(row, show_email=not caller.is_advertiser)
