"""/operator/payouts: preview a payout run, start it, and follow each run to paid.

- /operator/payouts                  what a run through a day would do (payouts/service.py
                                     `preview`), the button that starts it, the past runs
- /operator/payouts/runs/{id}        the run's payouts, its payment files, mark sent / paid /
                                     failed (`mark`, `mark_run_sent`)
- /operator/payouts/network          the network's legal details and the account it pays from
                                     (payouts/profiles.py `save_network_profile`)

Runs are exactly once per partner and period (the service locks each partner and payouts are
unique per partner, period and currency), so a second click on *Run payouts* pays nobody
twice: its run finds every period paid.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.api.fields import is_public_id
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput, NotFound
from alliance.ids import PREFIXES
from alliance.payouts import paperwork, profiles
from alliance.payouts import service as payouts
from alliance.payouts.models import NetworkProfile, Payout, PayoutRun, PayoutStatus
from alliance.web import sessions
from alliance.web.i18n import _, ngettext
from alliance.web.operator_common import PAGE_SIZE, page_url
from alliance.web.partner_common import parse_day
from alliance.web.payouts_common import (
    METHODS,
    OUTCOMES,
    RUN_COUNTS,
    document_response,
    label,
    reasons_in_words,
)
from alliance.web.sessions import OperatorAction, OperatorPage, Viewer
from alliance.web.templating import render

router = APIRouter()

RUNS_SHOWN = 20
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
FILE_TYPES = {".xml": "application/xml", ".csv": "text/csv; charset=utf-8"}


def _through(raw: str) -> date:
    """The run's day: periods closed by its end are paid. Only a past day: today's periods
    are still open."""
    return payouts.closed_through(parse_day(raw, "through"))


def _back(to: str, message: str, kind: str = "ok") -> Response:
    response = RedirectResponse(sessions.local_path(to, "/operator/payouts"), status_code=303)
    sessions.flash(response, message, kind)
    return response


# --- preview and runs ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunRow:
    run: PayoutRun
    statuses: dict[str, int]  # payouts of the run by their status now


def _runs(session: Session, page: int) -> tuple[list[RunRow], bool]:
    found = list(
        session.scalars(
            select(PayoutRun)
            .order_by(PayoutRun.started_at.desc(), PayoutRun.id.desc())
            .offset((page - 1) * RUNS_SHOWN)
            .limit(RUNS_SHOWN + 1)
        )
    )
    more = len(found) > RUNS_SHOWN
    found = found[:RUNS_SHOWN]
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    if found:
        for run_id, status, count in session.execute(
            select(Payout.run_id, Payout.status, func.count())
            .where(Payout.run_id.in_([r.id for r in found]))
            .group_by(Payout.run_id, Payout.status)
        ):
            counts[run_id][status] = int(count)
    return [RunRow(r, counts.get(r.id, {})) for r in found], more


_PRIORITY = {"hold": 0, "create": 1, "below_threshold": 2, "already_made": 3}


def _preview_page(
    request: Request,
    viewer: Viewer,
    through_raw: str,
    page: int,
    runs_page: int,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    try:
        through = _through(through_raw)
    except InvalidInput as exc:
        through = payouts.default_through()
        extra.setdefault("error", exc.detail)
        extra.setdefault("error_field", exc.field)
        status = exc.status
    with reading() as session:
        # What needs the operator first: held payouts, then payouts to make (largest first),
        # then balances waiting below their threshold (largest first), then the periods
        # already made. Partners owed nothing are left out.
        decisions = sorted(
            (d for d in payouts.preview(session, through) if d.outcome != "nothing_owed"),
            key=lambda d: (_PRIORITY.get(d.outcome, 9), -d.amount, d.partner_name, d.currency),
        )
        runs, more_runs = _runs(session, runs_page)
        network = session.get(NetworkProfile, "network")
    outcomes = Counter(d.outcome for d in decisions)
    to_pay: dict[str, Decimal] = defaultdict(Decimal)
    for d in decisions:
        if d.outcome == "create":
            to_pay[d.currency] += d.amount
    shown = decisions[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
    params: dict[str, str | int | None] = {"through": through.isoformat()}
    context = {
        "through": through,
        "decisions": [(d, reasons_in_words(d.reasons)) for d in shown],
        "outcomes": [
            (key, label(OUTCOMES, key), outcomes.get(key, 0))
            for key in OUTCOMES
            if key != "nothing_owed"
        ],
        "outcome_label": lambda key: label(OUTCOMES, key),
        "to_pay": sorted(to_pay.items()),
        "runs": runs,
        "network": network,
        "prev_url": page_url("/operator/payouts", {**params, "page": page - 1})
        if page > 1
        else None,
        "next_url": page_url("/operator/payouts", {**params, "page": page + 1})
        if len(decisions) > page * PAGE_SIZE
        else None,
        "runs_prev_url": page_url("/operator/payouts", {**params, "runs_page": runs_page - 1})
        if runs_page > 1
        else None,
        "runs_next_url": page_url("/operator/payouts", {**params, "runs_page": runs_page + 1})
        if more_runs
        else None,
        **extra,
    }
    return render(request, "operator/payouts.html", context, status=status)


@router.get("/operator/payouts", response_class=HTMLResponse)
def payouts_page(
    request: Request,
    viewer: OperatorPage,
    through: Annotated[str, Query(max_length=10)] = "",
    page: PageNumber = 1,
    runs_page: PageNumber = 1,
) -> Response:
    return _preview_page(request, viewer, through, page, runs_page)


@router.post("/operator/payouts/run")
def start_run(
    request: Request,
    viewer: OperatorAction,
    through: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    try:
        day = _through(through)
    except InvalidInput as exc:
        return _preview_page(
            request,
            viewer,
            through,
            1,
            1,
            status=exc.status,
            error=exc.detail,
            error_field="through",
        )
    # The service opens its own transactions, one per partner: no session is held here.
    record = payouts.run(day, viewer.email)
    made = int(record.outcome.get("create", 0))
    held = int(record.outcome.get("hold", 0))
    message = _(
        "Payout run through %(through)s finished: %(made)s payouts made, %(held)s held.",
        through=day.isoformat(),
        made=made,
        held=held,
    )
    return _back(f"/operator/payouts/runs/{record.id}", message)


# --- one run ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PayoutRow:
    payout: Payout
    partner_name: str
    reasons: list[Any]


def _run_or_404(session: Session, run_id: str) -> PayoutRun:
    known = is_public_id(run_id, PREFIXES["payout_run"])
    run = session.get(PayoutRun, run_id) if known else None
    if run is None:
        raise NotFound(f"no payout run {run_id[:40]!r}", field="run_id")
    return run


def _files(session: Session, run_id: str) -> tuple[dict[str, bytes], list[str]]:
    """The run's payment files, and why an expected one is not there (a file is all or
    nothing: docs/payouts-files.md)."""
    made = paperwork.run_files(session, run_id)
    return made.files, made.notes


@router.get("/operator/payouts/runs/{run_id}", response_class=HTMLResponse)
def run_page(request: Request, viewer: OperatorPage, run_id: str, page: PageNumber = 1) -> Response:
    with reading() as session:
        run = _run_or_404(session, run_id)
        rows = session.execute(
            select(Payout, Partner.name)
            .join(Partner, Partner.id == Payout.partner_id)
            .where(Payout.run_id == run.id)
            .order_by(Partner.name, Payout.id)
            .offset((page - 1) * PAGE_SIZE)
            .limit(PAGE_SIZE + 1)
        ).all()
        statuses = dict(
            session.execute(
                select(Payout.status, func.count())
                .where(Payout.run_id == run.id)
                .group_by(Payout.status)
            )
            .tuples()
            .all()
        )
        totals: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        for status, currency, amount in session.execute(
            select(Payout.status, Payout.currency, Payout.amount).where(Payout.run_id == run.id)
        ):
            totals[(status, currency)] += amount
        files, notes = _files(session, run.id)
    more = len(rows) > PAGE_SIZE
    shown = [PayoutRow(p, name, reasons_in_words(p.hold_reason)) for p, name in rows[:PAGE_SIZE]]
    path = f"/operator/payouts/runs/{run.id}"
    here = page_url(path, {"page": page if page > 1 else None})
    context = {
        "run": run,
        "rows": shown,
        "statuses": statuses,
        "totals": sorted(totals.items()),
        "files": sorted((name, len(content)) for name, content in files.items()),
        "notes": notes,
        "method_label": lambda value: label(METHODS, value),
        "outcome_counts": [
            (label(RUN_COUNTS, key), int(run.outcome.get(key, 0)))
            for key in RUN_COUNTS
            if run.outcome.get(key)
        ],
        "problems": [str(p) for p in run.outcome.get("problems", [])],
        "here": here,
        "prev_url": page_url(path, {"page": page - 1}) if page > 1 else None,
        "next_url": page_url(path, {"page": page + 1}) if more else None,
    }
    return render(request, "operator/payout_run.html", context)


@router.get("/operator/payouts/runs/{run_id}/files/{name}")
def run_file(viewer: OperatorPage, run_id: str, name: str) -> Response:
    with reading() as session:
        run = _run_or_404(session, run_id)
        content = paperwork.run_files(session, run.id).files.get(name)
    if content is None:
        raise NotFound(f"run {run.id} has no file {name[:80]!r}", field="name")
    media = next((t for ext, t in FILE_TYPES.items() if name.endswith(ext)), "text/plain")
    return Response(
        content,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/operator/payouts/runs/{run_id}/sent")
def mark_run_sent(viewer: OperatorAction, run_id: str) -> Response:
    with transaction() as session:
        run = _run_or_404(session, run_id)
        count = payouts.mark_run_sent(session, run.id)
    message = ngettext(
        "%(num)s payout marked sent.", "%(num)s payouts marked sent.", count, num=count
    )
    return _back(f"/operator/payouts/runs/{run_id}", message)


_MARKS = (PayoutStatus.sent.value, PayoutStatus.paid.value, PayoutStatus.failed.value)


@router.post("/operator/payouts/{payout_id}/mark")
def mark_payout(
    viewer: OperatorAction,
    payout_id: str,
    status: Annotated[str, Form(max_length=16)],
    reason: Annotated[str, Form(max_length=500)] = "",
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not is_public_id(payout_id, PREFIXES["payout"]):
        raise NotFound(f"no payout {payout_id[:40]!r}", field="payout_id")
    if status not in _MARKS:
        raise InvalidInput("status must be sent, paid or failed", field="status")
    try:
        with transaction() as session:
            payout = payouts.mark(session, payout_id, status, reason=reason or None)
            run_id = payout.run_id
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _back(back, _("Payout %(id)s: %(error)s", id=payout_id, error=exc.detail), "error")
    messages = {
        "sent": _("Payout %(id)s marked sent.", id=payout_id),
        "paid": _("Payout %(id)s marked paid.", id=payout_id),
        "failed": _(
            "Payout %(id)s marked failed: its money is back in the partner's balance.",
            id=payout_id,
        ),
    }
    return _back(back or f"/operator/payouts/runs/{run_id}", messages[status])


def _document(payout_id: str, kind: str) -> Response:
    with reading() as session:
        known = is_public_id(payout_id, PREFIXES["payout"])
        payout = session.get(Payout, payout_id) if known else None
        if payout is None:
            raise NotFound(f"no payout {payout_id[:40]!r}", field="payout_id")
        return document_response(session, payout, kind)


@router.get("/operator/payouts/{payout_id}/statement.pdf")
def statement_pdf(viewer: OperatorPage, payout_id: str) -> Response:
    return _document(payout_id, "statement")


@router.get("/operator/payouts/{payout_id}/invoice.pdf")
def invoice_pdf(viewer: OperatorPage, payout_id: str) -> Response:
    return _document(payout_id, "invoice")


# --- the network's own details ---------------------------------------------------------------

NETWORK_FIELDS = ("legal_name", "address", "country", "vat_id", "payer_iban", "payer_bic")


def _network_page(
    request: Request, form: dict[str, str] | None = None, *, status: int = 200, **extra: Any
) -> Response:
    with reading() as session:
        row = session.get(NetworkProfile, "network")
    if form is None:
        form = {name: (getattr(row, name, None) or "") if row else "" for name in NETWORK_FIELDS}
    return render(
        request,
        "operator/payout_network.html",
        {"form": form, "saved": row, **extra},
        status=status,
    )


@router.get("/operator/payouts/network", response_class=HTMLResponse)
def network_page(request: Request, viewer: OperatorPage) -> Response:
    return _network_page(request)


@router.post("/operator/payouts/network")
def save_network(
    request: Request,
    viewer: OperatorAction,
    legal_name: Annotated[str, Form(max_length=400)] = "",
    address: Annotated[str, Form(max_length=2000)] = "",
    country: Annotated[str, Form(max_length=10)] = "",
    vat_id: Annotated[str, Form(max_length=60)] = "",
    payer_iban: Annotated[str, Form(max_length=80)] = "",
    payer_bic: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    form = {
        "legal_name": legal_name,
        "address": address,
        "country": country,
        "vat_id": vat_id,
        "payer_iban": payer_iban,
        "payer_bic": payer_bic,
    }
    try:
        with transaction() as session:
            profiles.save_network_profile(
                session,
                legal_name=legal_name,
                address=address.replace("\r\n", "\n"),
                country=country,
                vat_id=vat_id,
                payer_iban=payer_iban,
                payer_bic=payer_bic,
            )
    except AllianceError as exc:
        return _network_page(
            request, form, status=exc.status, error=exc.detail, error_field=exc.field
        )
    return _back("/operator/payouts/network", _("The network's details are saved."))
