"""/api/v1/contests: create, list, read, entries (with status and reason filters), draw and
results (docs/contests.md).

Who sees what: the operator every contest; an advertiser the contests of its programs (it
creates, lists entries and draws them); a partner the contests of programs it is approved in,
with its own referral link and the counts of entries that came through it. Entrants use the
public page and `POST /contests/{id}/entries`, which need no key (web/contest_pages.py).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body, Query, status
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, Manager, ReadDB
from alliance.api.fields import ProgramId
from alliance.api.pagination import Page, PageQuery, fetch_page, given
from alliance.api.scoping import get_visible, visible_programs
from alliance.crosspromo import contests
from alliance.crosspromo.contest_models import Contest, ContestDraw, ContestEntry, EntryStatus
from alliance.crosspromo.contest_schemas import (
    ContestCreate,
    ContestOut,
    DrawRequest,
    EntryOut,
    PartnerView,
    ResultsOut,
)
from alliance.crosspromo.entrants import RejectReason
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.ids import PREFIXES
from alliance.programs.models import Program

router = APIRouter(prefix="/api/v1", tags=["contests"])


def _contest(
    session: Session, contest_id: str, caller: Principal, *, for_update: bool = False
) -> Contest:
    return get_visible(
        session,
        Contest,
        contest_id,
        contests.visible_contests(caller),
        prefix=PREFIXES["contest"],
        what="contest",
        for_update=for_update,
    )


def _partner_view(session: Session, contest: Contest, partner_id: str) -> PartnerView:
    code = contests.partner_code(session, contest, partner_id).code
    counts = contests.entry_counts(session, contest.id, referrer_partner_id=partner_id)
    return PartnerView(
        referral_code=code,
        referral_link=contests.contest_url(contest.id, code),
        entries=counts.total,
        verified=counts.verified,
        rejected=counts.rejected,
    )


def _out(session: Session, contest: Contest, caller: Principal) -> ContestOut:
    status_now = contests.status_of(session, contest)
    if caller.is_partner:
        return ContestOut.of(
            contest,
            status_now,
            contests.contest_url(contest.id),
            partner=_partner_view(session, contest, caller.id),
        )
    counts = contests.entry_counts(session, contest.id)
    return ContestOut.of(contest, status_now, contests.contest_url(contest.id), counts=counts)


@router.post("/contests", status_code=status.HTTP_201_CREATED, response_model=ContestOut)
def post_contest(body: ContestCreate, caller: Manager) -> ContestOut:
    """A contest in one of the caller's programs. Its commitment is public at once."""
    with transaction() as session:
        program = session.scalars(
            select(Program).where(Program.id == body.program_id, visible_programs(caller))
        ).first()
        if program is None:
            raise InvalidInput(f"no program {body.program_id!r}", field="program_id")
        spec = contests.ContestSpec(
            title=body.title,
            rules=body.rules,
            opens_at=body.opens_at,
            closes_at=body.closes_at,
            winners=body.winners,
            bonus_per_referral=body.bonus_per_referral,
            bonus_cap=body.bonus_cap,
            per_ip_limit=body.per_ip_limit,
            external_source=body.external_source,
        )
        contest = contests.create_contest(session, program, spec, created_by=caller.id)
        answer = _out(session, contest, caller)
    return answer


@router.get("/contests", response_model=Page[ContestOut])
def list_contests(
    db: ReadDB, caller: Anyone, page: PageQuery, program_id: ProgramId | None = None
) -> Page[ContestOut]:
    conditions: list[ColumnElement[bool]] = [contests.visible_contests(caller)]
    conditions += given((Contest.program_id, program_id))
    rows, cursor = fetch_page(db, select(Contest).where(*conditions), Contest.id, page)
    if caller.is_partner:
        # The partner's link may need making (a partner approved after the contest began).
        with transaction() as session:
            data = [_out(session, contests.lock(session, row.id), caller) for row in rows]
    else:
        data = [_out(db, row, caller) for row in rows]
    return Page(data=data, next_cursor=cursor)


@router.get("/contests/{contest_id}", response_model=ContestOut)
def get_contest(contest_id: str, db: ReadDB, caller: Anyone) -> ContestOut:
    contest = _contest(db, contest_id, caller)
    if not caller.is_partner:
        return _out(db, contest, caller)
    with transaction() as session:
        return _out(session, contests.lock(session, contest.id), caller)


@router.get("/contests/{contest_id}/entries", response_model=Page[EntryOut])
def list_entries(
    contest_id: str,
    db: ReadDB,
    caller: Manager,
    page: PageQuery,
    entry_status: Annotated[EntryStatus | None, Query(alias="status")] = None,
    reason: Annotated[RejectReason | None, Query(description="Refused entries' reason")] = None,
) -> Page[EntryOut]:
    """Every entry, accepted or refused, newest first; filter by status or refusal reason."""
    contest = _contest(db, contest_id, caller)
    conditions: list[ColumnElement[bool]] = [ContestEntry.contest_id == contest.id]
    conditions += given((ContestEntry.status, entry_status), (ContestEntry.reason, reason))
    rows, cursor = fetch_page(db, select(ContestEntry).where(*conditions), ContestEntry.id, page)
    return Page(data=[EntryOut.of(row) for row in rows], next_cursor=cursor)


@router.post(
    "/contests/{contest_id}/draw", status_code=status.HTTP_201_CREATED, response_model=ResultsOut
)
def post_draw(
    contest_id: str,
    caller: Manager,
    body: Annotated[DrawRequest | None, Body()] = None,
) -> ResultsOut:
    """Draw the winners after the close (once). The seed is revealed with the results."""
    with transaction() as session:
        contest = _contest(session, contest_id, caller)
        record = contests.draw_contest(
            session,
            contest.id,
            external_value=body.external_value if body is not None else None,
            drawn_by=caller.id,
        )
        answer = _results(session, contest, record)
    return answer


@router.get("/contests/{contest_id}/results", response_model=ResultsOut)
def get_results(contest_id: str, db: ReadDB, caller: Anyone) -> ResultsOut:
    """The draw's published values and winners; before the draw, the commitment."""
    contest = _contest(db, contest_id, caller)
    return _results(db, contest, contests.draw_of(db, contest.id))


def _results(session: Session, contest: Contest, record: ContestDraw | None) -> ResultsOut:
    winners = contests.winners_of(session, record) if record is not None else []
    command = contests.verify_command(contest, record) if record is not None else None
    return ResultsOut.of(
        contest,
        contests.status_of(session, contest),
        record,
        winners,
        contests.contest_url(contest.id) + "/entries.csv",
        command,
    )
