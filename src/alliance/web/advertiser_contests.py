"""The advertiser's contests (docs/contests.md): the list, the form that creates one, and a
contest's page with its commitment, public link, partners' referral links, entries (with the
refused ones and their reasons), the draw and the values that re-run it.

Everything goes through the contests service with the REST API's own rules: the form is
validated by `ContestCreate`, written by `contests.create_contest`; the draw is
`contests.draw_contest` with the input checked by `DrawRequest`; contests are looked up with
`contests.visible_contests`, so another advertiser's contest is a 404, as in the API.

Times: the form takes wall-clock times in a time zone it names (the advertiser's country's by
default, any on request; web/local_times.py refuses times that daylight saving skips or
repeats). Stored moments are UTC and every page shows them in UTC, like the other dashboards.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.api.pagination import fetch_page, given
from alliance.api.scoping import get_visible, visible_programs
from alliance.clock import utcnow
from alliance.crosspromo import contest_summaries, contests, entrants
from alliance.crosspromo.contest_models import (
    Contest,
    ContestEntry,
    ContestStatus,
    EntryStatus,
)
from alliance.crosspromo.contest_schemas import ContestCreate, DrawRequest
from alliance.crosspromo.entrants import RejectReason
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.ids import PREFIXES
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.web import contest_labels, local_times
from alliance.web.advertiser_common import (
    form_error,
    invalid_from,
    optional,
    own_programs,
    page_params,
    program_filter,
    query_url,
    redirect,
    text,
)
from alliance.web.i18n import _
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer
from alliance.web.templating import render

router = APIRouter()

FORM_FIELDS = (
    "program_id",
    "title",
    "rules",
    "time_zone",
    "opens_at",
    "closes_at",
    "winners",
    "bonus_per_referral",
    "bonus_cap",
    "per_ip_limit",
    "external_source",
)
DEFAULT_DAYS_OPEN = 14
PARTNER_ROWS = 500  # a program's partners on the contest page; more is for the API


def _contest(session: Session, viewer: Viewer, contest_id: str) -> Contest:
    return get_visible(
        session,
        Contest,
        contest_id,
        contests.visible_contests(viewer.principal),
        prefix=PREFIXES["contest"],
        what="contest",
    )


def _country(session: Session, viewer: Viewer) -> str | None:
    advertiser = session.get(Advertiser, viewer.account_id)
    return advertiser.country if advertiser is not None else None


# --- the list --------------------------------------------------------------------------------


@router.get("/advertiser/contests", response_class=HTMLResponse)
def contests_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    params = page_params(cursor)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id)
        conditions: list[ColumnElement[bool]] = [contests.visible_contests(viewer.principal)]
        conditions += given((Contest.program_id, chosen))
        rows, next_cursor = fetch_page(
            session, select(Contest).where(*conditions), Contest.id, params
        )
        statuses = contest_summaries.statuses(session, rows)
        counts = contest_summaries.counts_by_contest(session, [row.id for row in rows])
    context = {
        "contests": rows,
        "statuses": statuses,
        "counts": counts,
        "names": {p.id: p.name for p in programs},
        "programs": programs,
        "program_id": chosen,
        "next_url": query_url("/advertiser/contests", program_id=chosen, cursor=next_cursor)
        if next_cursor
        else None,
        "first_url": query_url("/advertiser/contests", program_id=chosen) if cursor else None,
        **contest_labels.template_helpers(),
    }
    return render(request, "advertiser/contests.html", context)


# --- creating one ----------------------------------------------------------------------------


def _default(name: str) -> Any:
    return ContestCreate.model_fields[name].default


def new_values(zone_name: str, now: datetime) -> dict[str, Any]:
    """The empty form: the API's defaults; opens now (empty), closes in two weeks on the hour."""
    zone = local_times.zone_named(zone_name, "time_zone")
    closes = (now + timedelta(days=DEFAULT_DAYS_OPEN)).astimezone(zone)
    return {
        "program_id": "",
        "title": "",
        "rules": "",
        "time_zone": zone_name,
        "opens_at": "",
        "closes_at": local_times.local_input(
            closes.replace(minute=0, second=0, microsecond=0), zone
        ),
        "winners": _default("winners"),
        "bonus_per_referral": _default("bonus_per_referral"),
        "bonus_cap": _default("bonus_cap"),
        "per_ip_limit": _default("per_ip_limit"),
        "external_source": "",
    }


def posted_values(form: Mapping[str, Any]) -> dict[str, Any]:
    return {name: text(form, name) for name in FORM_FIELDS}


def contest_input(values: Mapping[str, Any], now: datetime) -> ContestCreate:
    """The form as the API's `ContestCreate`: the times turned into UTC moments in the chosen
    zone (an empty opening means now), the rest validated by the schema, naming the field."""
    zone_name = str(values.get("time_zone") or "").strip()
    zone = local_times.zone_named(zone_name, "time_zone")
    opens_raw = str(values.get("opens_at") or "").strip()
    opens_at = local_times.parse_local(opens_raw, zone, zone_name, "opens_at") if opens_raw else now
    closes_raw = str(values.get("closes_at") or "").strip()
    if not closes_raw:
        raise InvalidInput("closes_at: when entries close is needed", field="closes_at")
    closes_at = local_times.parse_local(closes_raw, zone, zone_name, "closes_at")
    data = {
        "program_id": str(values.get("program_id") or "").strip(),
        "title": values.get("title", ""),
        # Browsers send a textarea's line breaks as CRLF; the API's clients send LF.
        "rules": str(values.get("rules") or "").replace("\r\n", "\n"),
        "opens_at": opens_at,
        "closes_at": closes_at,
        "winners": str(values.get("winners") or "").strip(),
        "bonus_per_referral": str(values.get("bonus_per_referral") or "").strip(),
        "bonus_cap": str(values.get("bonus_cap") or "").strip(),
        "per_ip_limit": str(values.get("per_ip_limit") or "").strip(),
        "external_source": optional(values, "external_source"),
    }
    try:
        return ContestCreate.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc) from None


def _form_page(
    request: Request, viewer: Viewer, values: dict[str, Any], *, status: int = 200, **extra: Any
) -> HTMLResponse:
    with reading() as session:
        programs = own_programs(session, viewer)
        country = _country(session, viewer)
    home = local_times.zones_of(country)
    context = {
        "values": values,
        "programs": programs,
        "home_zones": home,
        "other_zones": [z for z in local_times.all_zones() if z not in set(home)],
        "utc_zone": local_times.UTC_NAME,
        **extra,
    }
    return render(request, "advertiser/contest_form.html", context, status=status)


@router.get("/advertiser/contests/new", response_class=HTMLResponse)
def new_contest_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    with reading() as session:
        zone_name = local_times.default_zone(_country(session, viewer))
    values = new_values(zone_name, utcnow())
    values["program_id"] = program_id or ""
    return _form_page(request, viewer, values)


@router.post("/advertiser/contests/new")
async def create_contest(request: Request, viewer: AdvertiserAction) -> Response:
    values = posted_values(await request.form())
    try:
        body = contest_input(values, utcnow())
        with transaction() as session:
            # As POST /api/v1/contests: a program the viewer cannot see is a refused field.
            program = session.scalars(
                select(Program).where(
                    Program.id == body.program_id, visible_programs(viewer.principal)
                )
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
            contest_id = contests.create_contest(session, program, spec, viewer.account_id).id
    except AllianceError as exc:
        return _form_page(request, viewer, values, status=exc.status, **form_error(exc))
    return redirect(
        f"/advertiser/contests/{contest_id}",
        _("Contest created. Its commitment is public from now on."),
    )


# --- one contest -----------------------------------------------------------------------------


def _partner_rows(
    session: Session, contest: Contest, status: ContestStatus
) -> list[dict[str, Any]]:
    """Each partner approved in the program, and any other that already has a code, with its
    link and the entries it brought. Approved partners without a code get one now (as the API
    makes it on the partner's first request) while the contest can still take entries."""
    approved = dict(
        session.execute(
            select(Enrollment.partner_id, Enrollment.status)
            .where(
                Enrollment.program_id == contest.program_id,
                Enrollment.status == EnrollmentStatus.approved.value,
            )
            .order_by(Enrollment.partner_id)
            .limit(PARTNER_ROWS)
        )
        .tuples()
        .all()
    )
    codes = contest_summaries.partner_codes(session, contest.id)
    if status in (ContestStatus.scheduled, ContestStatus.open):
        missing = [(contest.id, partner_id) for partner_id in approved if partner_id not in codes]
        if missing:
            with transaction() as writing:
                made = contest_summaries.ensure_partner_codes(writing, missing)
            codes.update({partner_id: code for (_cid, partner_id), code in made.items()})
    others = [partner_id for partner_id in codes if partner_id not in approved]
    enrollment_of = dict(approved)
    if others:
        enrollment_of.update(
            session.execute(
                select(Enrollment.partner_id, Enrollment.status).where(
                    Enrollment.program_id == contest.program_id,
                    Enrollment.partner_id.in_(others),
                )
            )
            .tuples()
            .all()
        )
    partner_ids = sorted(set(approved) | set(codes))
    names = dict(
        session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids)))
        .tuples()
        .all()
    )
    counts = contest_summaries.counts_by_partner(session, contest.id)
    rows = [
        {
            "partner_id": partner_id,
            "name": names.get(partner_id, partner_id),
            "enrollment": enrollment_of.get(partner_id),
            "link": contests.contest_url(contest.id, codes[partner_id])
            if partner_id in codes
            else None,
            "counts": counts.get(partner_id, contests.EntryCounts()),
        }
        for partner_id in partner_ids
    ]
    return sorted(rows, key=lambda row: (-row["counts"].total, str(row["name"]).lower()))


def _entries(
    session: Session,
    contest: Contest,
    entry_status: EntryStatus | None,
    reason: RejectReason | None,
    cursor: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of entries, newest first, filtered as GET /api/v1/contests/{id}/entries is."""
    conditions: list[ColumnElement[bool]] = [ContestEntry.contest_id == contest.id]
    conditions += given((ContestEntry.status, entry_status), (ContestEntry.reason, reason))
    rows, next_cursor = fetch_page(
        session, select(ContestEntry).where(*conditions), ContestEntry.id, page_params(cursor)
    )
    partner_ids = {row.referrer_partner_id for row in rows if row.referrer_partner_id}
    names = dict(
        session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids)))
        .tuples()
        .all()
    )
    entries = [
        {
            "entry": row,
            # As the public page shows a name: first name and the last name's initial.
            "public_name": entrants.public_name(row.name),
            "partner_name": names.get(row.referrer_partner_id, row.referrer_partner_id)
            if row.referrer_partner_id
            else None,
        }
        for row in rows
    ]
    return entries, next_cursor


def _contest_page(
    request: Request,
    viewer: Viewer,
    contest_id: str,
    *,
    entry_status: EntryStatus | None = None,
    reason: RejectReason | None = None,
    cursor: str | None = None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    with reading() as session:
        contest = _contest(session, viewer, contest_id)
        program = session.get(Program, contest.program_id)
        record = contests.draw_of(session, contest.id)
        state = contest.status_at(utcnow(), record is not None)
        counts = contests.entry_counts(session, contest.id)
        partners = _partner_rows(session, contest, state)
        entries, next_cursor = _entries(session, contest, entry_status, reason, cursor)
        winners = contests.winners_of(session, record) if record is not None else []
        winner_emails = dict(
            session.execute(
                select(ContestEntry.id, ContestEntry.email).where(
                    ContestEntry.id.in_([w.entry_id for w in winners])
                )
            )
            .tuples()
            .all()
        )
    here = f"/advertiser/contests/{contest.id}"
    filters = {
        "status": entry_status.value if entry_status else None,
        "reason": reason.value if reason else None,
    }
    context = {
        "contest": contest,
        "program": program,
        "status": state.value,
        "counts": counts,
        "public_url": contests.contest_url(contest.id),
        "partners": partners,
        "entries": entries,
        "chosen_status": filters["status"] or "",
        "chosen_reason": filters["reason"] or "",
        "entry_statuses": [s.value for s in EntryStatus],
        "reasons": [r.value for r in RejectReason],
        "next_url": query_url(here, **filters, cursor=next_cursor) + "#entries"
        if next_cursor
        else None,
        "first_url": query_url(here, **filters) + "#entries" if cursor else None,
        "record": record,
        "winners": winners,
        "winner_emails": winner_emails,
        "verify_command": contests.verify_command(contest, record) if record else None,
        "external_value": "",
        **contest_labels.template_helpers(),
        **extra,
    }
    return render(request, "advertiser/contest.html", context, status=status)


@router.get("/advertiser/contests/{contest_id}", response_class=HTMLResponse)
def contest_page(
    request: Request,
    viewer: AdvertiserPage,
    contest_id: str,
    status: Annotated[EntryStatus | None, Query()] = None,
    reason: Annotated[RejectReason | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _contest_page(
        request, viewer, contest_id, entry_status=status, reason=reason, cursor=cursor
    )


@router.post("/advertiser/contests/{contest_id}/draw")
async def draw(request: Request, viewer: AdvertiserAction, contest_id: str) -> Response:
    """Draw the winners after the close, as POST /api/v1/contests/{id}/draw does."""
    value = text(await request.form(), "external_value")
    try:
        try:
            body = DrawRequest.model_validate({"external_value": value.strip() or None})
        except ValidationError as exc:
            raise invalid_from(exc) from None
        with transaction() as session:
            contest = _contest(session, viewer, contest_id)
            contests.draw_contest(
                session,
                contest.id,
                external_value=body.external_value,
                drawn_by=viewer.account_id,
            )
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _contest_page(
            request,
            viewer,
            contest_id,
            status=exc.status,
            external_value=value,
            **form_error(exc),
        )
    return redirect(
        f"/advertiser/contests/{contest_id}",
        _("Winners drawn. The seed and the entry list are public now: anyone can re-run the draw."),
    )
