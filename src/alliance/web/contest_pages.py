"""The public side of a contest, for people without an account: the page with the rules, the
commitment and the entry form; `POST /contests/{id}/entries` (the form, or JSON from an
app or a server); the verification link; and after the draw, the published values anyone
needs to re-run it (`draw.json`, `entries.csv`).

The entry endpoint speaks two languages: a form post from the page (CSRF-checked like every
form: another site must not make its visitors enter, and mail strangers, from their own IP)
gets a page back; a JSON post gets JSON, with refusals as problem+json naming the field and
the reason. Browsers cannot send cross-site JSON without a CORS preflight, which nothing here
answers, so JSON needs no CSRF token. Either way a refused entry is kept with its reason.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from alliance.api.fields import is_public_id
from alliance.api.problems import problem_response
from alliance.clock import utcnow
from alliance.crosspromo import contests
from alliance.crosspromo.contest_models import Contest, EntryStatus
from alliance.crosspromo.contest_schemas import EntryAnswer, EntryForm, ResultsOut
from alliance.crosspromo.entrants import RejectReason
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, NotFound
from alliance.ids import PREFIXES
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.tracking.visitor import client_ip, hash_ip
from alliance.web import i18n, sessions
from alliance.web.templating import render

router = APIRouter()

RefQuery = Annotated[str | None, Query(max_length=64)]


@dataclass(frozen=True, slots=True)
class Refusal:
    status: int
    field: str | None
    message: str


# How each refusal is answered: HTTP status, the field at fault, the entrant's explanation.
REFUSALS: dict[RejectReason, Refusal] = {
    RejectReason.bad_email: Refusal(422, "email", "This is not a valid e-mail address."),
    RejectReason.disposable_domain: Refusal(
        422,
        "email",
        "Addresses at throwaway-mailbox providers cannot enter. Please use your usual address.",
    ),
    RejectReason.duplicate: Refusal(
        409, "email", "This e-mail address has already entered this contest."
    ),
    RejectReason.not_open: Refusal(409, None, "Entries are not open yet."),
    RejectReason.closed: Refusal(409, None, "Entries are closed."),
    RejectReason.ip_limit: Refusal(
        429, None, "Too many entries have come from your network address for this contest."
    ),
    RejectReason.self_referral: Refusal(
        422, "ref", "You cannot enter through your own referral link."
    ),
}
ACCEPTED = "Check your mailbox: your entry counts once you open the link we sent you."


def _contest_or_404(session: Session, contest_id: str) -> Contest:
    contest = (
        session.get(Contest, contest_id) if is_public_id(contest_id, PREFIXES["contest"]) else None
    )
    if contest is None:
        raise NotFound(f"no contest {contest_id[:40]!r}")
    return contest


def _ip_hash(request: Request) -> str:
    settings = get_settings()
    peer = request.client.host if request.client else None
    forwarded = [v.encode("latin-1") for v in request.headers.getlist("x-forwarded-for")]
    ip = client_ip(peer, forwarded, trust_forwarded_for=settings.trust_forwarded_for)
    return hash_ip(settings.secret_key, ip)


def _page_context(contest_id: str, ref: str | None) -> dict[str, Any]:
    with reading() as session:
        contest = _contest_or_404(session, contest_id)
        program = session.get(Program, contest.program_id)
        record = contests.draw_of(session, contest.id)
        status = contest.status_at(utcnow(), record is not None)
        winners = contests.winners_of(session, record) if record is not None else []
        command = contests.verify_command(contest, record) if record is not None else None
        return {
            "contest": contest,
            "program_name": program.name if program is not None else "",
            "status": status.value,
            "record": record,
            "winners": winners,
            "verify_command": command,
            "ref": (ref or "").strip(),
            "rules_paragraphs": [
                p.strip("\n")
                for p in contest.rules.replace("\r\n", "\n").split("\n\n")
                if p.strip()
            ],
        }


@router.get("/contests/{contest_id}", response_class=HTMLResponse)
def contest_page(request: Request, contest_id: str, ref: RefQuery = None) -> Response:
    context = _page_context(contest_id, ref)
    context["form"] = {"email": "", "name": "", "ref": context["ref"]}
    return render(request, "contests/page.html", context)


def _submit(contest_id: str, form: EntryForm, ip_hash: str, locale: str) -> contests.EntryOutcome:
    with transaction() as session:
        _contest_or_404(session, contest_id)
        return contests.submit_entry(
            session,
            contest_id,
            contests.Submission(form.email, form.name, form.ref, form.consent),
            ip_hash=ip_hash,
            locale=locale,
        )


def _problem(status: int, detail: str, field: str | None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "https://alliance.dev/problems/entry-refused"
        if "reason" in extra
        else "https://alliance.dev/problems/invalid-input",
        "title": "Entry refused" if "reason" in extra else "Invalid input",
        "status": status,
        "detail": detail,
    }
    if field:
        body["field"] = field
    body.update(extra)
    return problem_response(status, body)


def _validation_field(error: ValidationError) -> tuple[str, str]:
    first = error.errors()[0]
    field = ".".join(str(p) for p in first.get("loc", ())) or "body"
    return field, f"{field}: {first.get('msg', 'invalid')}"


async def _enter_json(request: Request, contest_id: str) -> Response:
    raw = await request.body()
    if len(raw) > get_settings().max_body_bytes:
        return _problem(413, "the body is too large", "body")
    try:
        data = json.loads(raw)
        form = EntryForm.model_validate(data)
    except ValueError as exc:
        if isinstance(exc, ValidationError):
            field, detail = _validation_field(exc)
            return _problem(422, detail, field)
        return _problem(422, "body: not valid JSON", "body")
    try:
        outcome = await run_in_threadpool(
            _submit, contest_id, form, _ip_hash(request), i18n.current()
        )
    except AllianceError as exc:
        return problem_response(exc.status, exc.problem(request.url.path))
    entry = outcome.entry
    if outcome.reason is not None:
        refusal = REFUSALS[outcome.reason]
        return _problem(
            refusal.status,
            refusal.message,
            refusal.field,
            reason=outcome.reason.value,
            entry_id=entry.id,
            instance=request.url.path,
        )
    answer = EntryAnswer(entry_id=entry.id, status=EntryStatus(entry.status), message=ACCEPTED)
    return JSONResponse(answer.model_dump(mode="json"), status_code=201)


async def _enter_form(request: Request, contest_id: str) -> Response:
    await sessions.verify_csrf(request)
    fields = await request.form()
    values = {key: str(fields.get(key, "")) for key in ("email", "name", "ref")}
    context = await run_in_threadpool(_page_context, contest_id, values["ref"])
    context["form"] = values
    try:
        form = EntryForm(
            email=values["email"],
            name=values["name"],
            ref=values["ref"] or None,
            consent=fields.get("consent") in ("1", "on", "true", "yes"),
        )
    except ValidationError as exc:
        field, detail = _validation_field(exc)
        context.update(error=detail, error_field=field)
        return render(request, "contests/page.html", context, status=422)
    if not form.consent:
        context.update(error="Please accept the rules to enter.", error_field="consent")
        return render(request, "contests/page.html", context, status=422)
    outcome = await run_in_threadpool(_submit, contest_id, form, _ip_hash(request), i18n.current())
    if outcome.reason is not None:
        refusal = REFUSALS[outcome.reason]
        context.update(error=refusal.message, error_field=refusal.field, refused=outcome.entry.id)
        return render(request, "contests/page.html", context, status=refusal.status)
    return render(
        request,
        "contests/entered.html",
        {**context, "entry_id": outcome.entry.id, "message": ACCEPTED},
        status=201,
    )


@router.post("/contests/{contest_id}/entries")
async def enter(request: Request, contest_id: str) -> Response:
    """An entry: JSON in, JSON out; a form post from the page, a page back."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        return await _enter_json(request, contest_id)
    if content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return await _enter_form(request, contest_id)
    return _problem(415, "send the entry as application/json (or the page's form)", "Content-Type")


@router.get("/contests/{contest_id}/verify", response_class=HTMLResponse)
def verify(
    request: Request, contest_id: str, token: Annotated[str, Query(max_length=200)] = ""
) -> Response:
    """The link in the verification mail: the entry joins the draw and gets its own link."""
    if not token:
        raise NotFound("this confirmation link is incomplete", field="token")
    with transaction() as session:
        _contest_or_404(session, contest_id)
        done = contests.verify_entry(session, contest_id, token)
        context = {
            "contest": done.contest,
            "entry_id": done.entry.id,
            "already": done.already,
            "referral_link": contests.contest_url(contest_id, done.entry.referral_code),
            "bonus_per_referral": done.contest.bonus_per_referral,
            "bonus_cap": done.contest.bonus_cap,
        }
    return render(request, "contests/verified.html", context)


@router.get("/contests/{contest_id}/entries.csv")
def entries_csv(contest_id: str) -> Response:
    """The entry list exactly as hashed at the draw (no names, no addresses)."""
    with reading() as session:
        _contest_or_404(session, contest_id)
        record = contests.draw_of(session, contest_id)
        if record is None:
            raise NotFound("the entry list is published with the draw, after the close")
        body = record.entries_csv
    return Response(
        body.encode(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{contest_id}-entries.csv"'},
    )


@router.get("/contests/{contest_id}/draw.json")
def draw_json(contest_id: str) -> Response:
    """The published values: the commitment from the start; after the draw, everything needed
    to re-run it (docs/contests.md)."""
    with reading() as session:
        contest = _contest_or_404(session, contest_id)
        record = contests.draw_of(session, contest.id)
        results = ResultsOut.of(
            contest,
            contest.status_at(utcnow(), record is not None),
            record,
            contests.winners_of(session, record) if record is not None else [],
            contests.contest_url(contest.id) + "/entries.csv",
            contests.verify_command(contest, record) if record is not None else None,
        )
    return JSONResponse(results.model_dump(mode="json"))
