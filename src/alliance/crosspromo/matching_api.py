"""GET /api/v1/recommendations/{programs,partners,co-promotion}: ranked candidates, each score
broken into its components (docs/matching.md).

Who may ask (anything else about someone else's account answers 404, like an id that does
not exist):

| list | operator | advertiser | partner |
| --- | --- | --- | --- |
| programs?partner_id= | any partner | 403 | itself |
| partners?program_id= | any program | its own programs | 403 |
| co-promotion?partner_id= | any partner | 403 | itself |
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind, Partner
from alliance.accounts.service import Principal
from alliance.api.deps import Manager, ReadDB, require
from alliance.api.fields import PartnerId, ProgramId, ShortText
from alliance.api.scoping import visible_programs
from alliance.crosspromo import matching
from alliance.crosspromo import matching_rules as rules
from alliance.errors import NotFound
from alliance.programs.models import Program

router = APIRouter(prefix="/api/v1/recommendations", tags=["cross-promotion"])

OperatorOrPartner = Annotated[Principal, require(AccountKind.operator, AccountKind.partner)]
Limit = Annotated[int, Query(ge=1, le=50, description="How many candidates, best first")]
Categories = Annotated[
    list[ShortText] | None,
    Query(
        alias="category",
        max_length=20,
        description="Only candidates of one of these categories (repeatable; case-insensitive)",
    ),
]
DIGITS = 4  # values, weights, contributions and scores are rounded to this many places


class ComponentOut(BaseModel):
    name: rules.Component
    value: float = Field(description="0 to 1: how strongly this component favours the candidate")
    weight: float = Field(description="Its share of the score (the weights sum to 1)")
    contribution: float = Field(description="value x weight; the score is their sum")
    explanation: str


class RecommendationOut(BaseModel):
    id: str
    name: str
    score: float = Field(description="0 to 1: Σ contributions")
    components: list[ComponentOut]


class Unavailable(BaseModel):
    name: rules.Component
    reason: str


class RecommendationsOut(BaseModel):
    kind: rules.Kind
    for_id: str = Field(description="The partner or program the list is for")
    basis: rules.Basis = Field(
        description="personal, or cold_start: no history yet, so category popularity "
        "(stated fit and popularity only)"
    )
    weights: dict[str, float] = Field(description="The weights used, by component")
    unavailable: list[Unavailable] = Field(
        description="Components left out of this list (the others are reweighted to sum to 1)"
    )
    items: list[RecommendationOut]


def _out(for_id: str, found: rules.Recommendations) -> RecommendationsOut:
    return RecommendationsOut(
        kind=found.kind,
        for_id=for_id,
        basis=found.basis,
        weights={c.value: round(w, DIGITS) for c, w in found.weights.items()},
        unavailable=[Unavailable(name=c, reason=r) for c, r in found.unavailable.items()],
        items=[
            RecommendationOut(
                id=item.id,
                name=item.name,
                score=round(item.score, DIGITS),
                components=[
                    ComponentOut(
                        name=part.name,
                        value=round(part.value, DIGITS),
                        weight=round(part.weight, DIGITS),
                        contribution=round(part.contribution, DIGITS),
                        explanation=part.explanation,
                    )
                    for part in item.parts
                ],
            )
            for item in found.items
        ],
    )


def _partner(session: Session, who: Principal, partner_id: str) -> str:
    """The partner the caller may ask about: itself, or any for the operator."""
    if (who.is_partner and partner_id != who.id) or session.get(Partner, partner_id) is None:
        raise NotFound(f"no partner {partner_id!r}", field="partner_id")
    return partner_id


def _program(session: Session, who: Principal, program_id: str) -> Program:
    program = session.scalars(
        select(Program).where(Program.id == program_id, visible_programs(who))
    ).first()
    if program is None:
        raise NotFound(f"no program {program_id!r}", field="program_id")
    return program


@router.get("/programs", response_model=RecommendationsOut)
def programs_for_partner(
    session: ReadDB,
    who: OperatorOrPartner,
    partner_id: Annotated[PartnerId, Query(description="The partner (ptn_...)")],
    limit: Limit = 10,
    categories: Categories = None,
) -> RecommendationsOut:
    """Active programs the partner could join, best first; never one it already has an
    enrollment in (applied, approved, suspended, banned or rejected)."""
    _partner(session, who, partner_id)
    found = matching.programs_for_partner(session, partner_id, limit=limit, categories=categories)
    return _out(partner_id, found)


@router.get("/partners", response_model=RecommendationsOut)
def partners_for_program(
    session: ReadDB,
    who: Manager,
    program_id: Annotated[ProgramId, Query(description="The program (prg_...)")],
    limit: Limit = 10,
    categories: Categories = None,
) -> RecommendationsOut:
    """Partners to invite into the program, best first; never one with an enrollment in it
    (in any status)."""
    program = _program(session, who, program_id)
    found = matching.partners_for_program(session, program, limit=limit, categories=categories)
    return _out(program_id, found)


@router.get("/co-promotion", response_model=RecommendationsOut)
def co_promotion_for_partner(
    session: ReadDB,
    who: OperatorOrPartner,
    partner_id: Annotated[PartnerId, Query(description="The partner (ptn_...)")],
    limit: Limit = 10,
    categories: Categories = None,
) -> RecommendationsOut:
    """Other partners to run co-promotions with, best first; never the partner itself."""
    _partner(session, who, partner_id)
    found = matching.co_promotion_for_partner(
        session, partner_id, limit=limit, categories=categories
    )
    return _out(partner_id, found)
