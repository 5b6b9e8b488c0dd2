"""/api/v1/referrals and the referral terms (docs/referrals.md).

Partners read their recruit link and who they recruited (with what each earned them);
the operator records referrals and sets the network's terms; an advertiser may set its own
program's terms (it funds them when it says so)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, func, or_, select, true
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, OperatorOnly, PartnerOnly, ReadDB, require
from alliance.api.fields import PartnerId, amount_text
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.scoping import get_visible, visible_programs
from alliance.crosspromo import referrals
from alliance.crosspromo.referral_models import (
    Funding,
    PartnerReferral,
    ReferralStatus,
    ReferralTerms,
    RefusalReason,
)
from alliance.db.engine import transaction
from alliance.errors import Forbidden, NotFound
from alliance.programs.models import Program
from alliance.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["referrals"])

OperatorOrPartner = Annotated[Principal, require(AccountKind.operator, AccountKind.partner)]


class Earned(BaseModel):
    currency: str
    amount: str = Field(description="Σ the overrides' current ledger values")


class ReferralOut(BaseModel):
    id: str
    recruiter_id: str
    recruit_id: str
    recruited_at: datetime
    status: ReferralStatus
    reason: RefusalReason | None = Field(description="Why a refused referral earns nothing")
    evidence: dict[str, Any] = Field(description="What the self-referral checks compared")
    earned: list[Earned] = Field(
        description="What the recruit's commissions earned the recruiter, per currency"
    )


class TermsOut(BaseModel):
    scope: str = Field(description='"network" or the program id')
    percents: list[str] = Field(description="Level 1 (the direct recruiter) first")
    months: int
    funded_by: Funding
    active: bool
    updated_at: datetime

    @classmethod
    def of(cls, row: ReferralTerms) -> TermsOut:
        return cls(
            scope=row.scope,
            percents=list(row.percents),
            months=row.months,
            funded_by=Funding(row.funded_by),
            active=row.active,
            updated_at=row.updated_at,
        )


class TermsIn(BaseModel):
    percents: list[Any] = Field(description='Percent per level, e.g. ["10"] or ["10", "3"]')
    months: Any = Field(description="1 to 120")
    funded_by: Any = Field(default="network", description="network or advertiser")
    active: Any = True


class RecruitLink(BaseModel):
    code: str
    url: str = Field(description="Share it: a partner who signs up through it is your recruit")
    recruiter_id: str | None = Field(description="Who recruited you, if anyone")
    recruits: int
    active_recruits: int
    network_terms: TermsOut | None


class RecordIn(BaseModel):
    recruit_id: PartnerId
    recruit_code: Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")]


def _visible(caller: Principal) -> ColumnElement[bool]:
    if caller.is_operator:
        return true()
    return or_(PartnerReferral.recruiter_id == caller.id, PartnerReferral.recruit_id == caller.id)


def _earned(session: Session, rows: list[PartnerReferral]) -> dict[str, list[Earned]]:
    return {
        referral_id: [Earned(currency=c, amount=amount_text(v, c)) for c, v in sums]
        for referral_id, sums in referrals.earned(session, rows).items()
    }


def _out(row: PartnerReferral, earned: dict[str, list[Earned]]) -> ReferralOut:
    return ReferralOut(
        id=row.id,
        recruiter_id=row.recruiter_id,
        recruit_id=row.recruit_id,
        recruited_at=row.recruited_at,
        status=ReferralStatus(row.status),
        reason=RefusalReason(row.reason) if row.reason else None,
        evidence=row.evidence or {},
        earned=earned.get(row.id, []),
    )


@router.get("/referrals", response_model=Page[ReferralOut])
def list_referrals(
    db: ReadDB,
    caller: OperatorOrPartner,
    page: PageQuery,
    recruiter_id: Annotated[PartnerId | None, Query()] = None,
    status_: Annotated[ReferralStatus | None, Query(alias="status")] = None,
) -> Page[ReferralOut]:
    statement = select(PartnerReferral).where(_visible(caller))
    if recruiter_id is not None:
        statement = statement.where(PartnerReferral.recruiter_id == recruiter_id)
    if status_ is not None:
        statement = statement.where(PartnerReferral.status == status_.value)
    rows, cursor = fetch_page(db, statement, PartnerReferral.id, page)
    earned = _earned(db, list(rows))
    return Page(data=[_out(row, earned) for row in rows], next_cursor=cursor)


@router.get("/referrals/me", response_model=RecruitLink)
def my_recruit_link(caller: PartnerOnly) -> RecruitLink:
    with transaction() as session:
        code = referrals.recruit_code(session, caller.id)
        recruiter = session.scalar(
            select(PartnerReferral.recruiter_id).where(PartnerReferral.recruit_id == caller.id)
        )
        counts = dict(
            session.execute(
                select(PartnerReferral.status, func.count())
                .where(PartnerReferral.recruiter_id == caller.id)
                .group_by(PartnerReferral.status)
            ).all()
        )
        network = referrals.terms_of(session, referrals.NETWORK)
        return RecruitLink(
            code=code,
            url=f"{get_settings().public_url.rstrip('/')}/r/{code}",
            recruiter_id=recruiter,
            recruits=sum(counts.values()),
            active_recruits=counts.get(ReferralStatus.active.value, 0),
            network_terms=TermsOut.of(network) if network is not None else None,
        )


@router.get("/referrals/{referral_id}", response_model=ReferralOut)
def get_referral(referral_id: str, db: ReadDB, caller: OperatorOrPartner) -> ReferralOut:
    row = get_visible(
        db, PartnerReferral, referral_id, _visible(caller), prefix="rfl", what="referral"
    )
    return _out(row, _earned(db, [row]))


@router.post("/referrals", status_code=status.HTTP_201_CREATED, response_model=ReferralOut)
def record_referral(body: RecordIn, caller: OperatorOnly) -> ReferralOut:
    """Record that a partner was recruited with a code (a partner created before the
    referral was known). Self-referrals are recorded as refused, with the reason."""
    with transaction() as session:
        row = referrals.record(session, body.recruit_id, body.recruit_code)
        return _out(row, {})


# --- terms -------------------------------------------------------------------------------


@router.get("/referral-terms", response_model=TermsOut)
def get_network_terms(db: ReadDB, caller: Anyone) -> TermsOut:
    row = referrals.terms_of(db, referrals.NETWORK)
    if row is None:
        raise NotFound("the network has no referral terms")
    return TermsOut.of(row)


@router.put("/referral-terms", response_model=TermsOut)
def put_network_terms(body: TermsIn, caller: OperatorOnly) -> TermsOut:
    terms = referrals.parse_terms(body.model_dump())
    with transaction() as session:
        return TermsOut.of(referrals.set_terms(session, referrals.NETWORK, terms))


def _program(session: Session, program_id: str, caller: Principal) -> Program:
    return get_visible(
        session, Program, program_id, visible_programs(caller), prefix="prg", what="program"
    )


@router.get("/programs/{program_id}/referral-terms", response_model=TermsOut)
def get_program_terms(
    program_id: str,
    db: ReadDB,
    caller: Anyone,
    effective: Annotated[
        bool, Query(description="The terms that apply: the network's when the program has none")
    ] = True,
) -> TermsOut:
    program = _program(db, program_id, caller)
    row = referrals.terms_of(db, program.id)
    if row is None and effective:
        row = referrals.terms_of(db, referrals.NETWORK)
    if row is None:
        raise NotFound(f"no referral terms apply to program {program.id}")
    return TermsOut.of(row)


def _may_set(caller: Principal, program: Program) -> None:
    if caller.is_operator or (caller.is_advertiser and program.advertiser_id == caller.id):
        return
    raise Forbidden("only the operator or the program's advertiser sets its referral terms")


@router.put("/programs/{program_id}/referral-terms", response_model=TermsOut)
def put_program_terms(
    program_id: str, caller: Anyone, body: Annotated[TermsIn, Body()]
) -> TermsOut:
    with transaction() as session:
        program = _program(session, program_id, caller)
        _may_set(caller, program)
        terms = referrals.parse_terms(body.model_dump())
        return TermsOut.of(referrals.set_terms(session, program.id, terms))


@router.delete("/programs/{program_id}/referral-terms", status_code=204)
def delete_program_terms(program_id: str, caller: Anyone) -> None:
    """The program follows the network's terms again."""
    with transaction() as session:
        program = _program(session, program_id, caller)
        _may_set(caller, program)
        row = referrals.terms_of(session, program.id)
        if row is not None:
            session.delete(row)
