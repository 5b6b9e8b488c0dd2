"""Orders to validate, one by one or in bulk, and the inbound events that were refused.

One order: `complete_conversion` / `decline_conversion` (conversions/service.py), the calls the
postback and the bulk validation make, on an order looked up through the API's scoping.

Many orders: the ticked orders, or a CSV file, go through `conversions.validation.validate`,
the code behind `POST /api/v1/programs/{id}/validations` (docs/validation.md): each row in
its own savepoint, the upload idempotent as a whole, a per-row report kept. Ticked orders of
several programs make one upload per program.

Rejected events: the raw inbox of the viewer's programs (the query of
`GET /api/v1/inbound-events?status=rejected`), with the retry of
`POST /api/v1/inbound-events/{id}/retry`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Annotated

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from alliance.accounts.models import Partner
from alliance.api.fields import is_public_id
from alliance.api.pagination import fetch_page
from alliance.api.scoping import get_visible, programs_of, visible_conversions
from alliance.clock import utcnow
from alliance.commissions.models import Commission
from alliance.conversions import api as inbound_api
from alliance.conversions import validation
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    ConversionStatus,
    InboundEvent,
    InboundStatus,
    OrderValidation,
    OrderValidationRow,
    ValidationResult,
)
from alliance.conversions.service import complete_conversion, decline_conversion
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput, NotFound, PayloadTooLarge
from alliance.programs.models import Program
from alliance.web.advertiser_common import (
    own_program,
    own_programs,
    page_params,
    program_filter,
    query_url,
    redirect,
)
from alliance.web.i18n import _, ngettext
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer, local_path
from alliance.web.templating import render
from alliance.web.terms import status_label

router = APIRouter()

REPORT_ROWS = 500
RECENT_UPLOADS = 10
SOURCES = ("postback", "pixel", "shopify", "woocommerce", "stripe")
Reason = Annotated[str, Form(max_length=validation.MAX_REASON)]


# --- the list --------------------------------------------------------------------------------


@router.get("/advertiser/orders", response_class=HTMLResponse)
def orders_page(
    request: Request,
    viewer: AdvertiserPage,
    status: Annotated[ConversionStatus | None, Query()] = None,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    params = page_params(cursor)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id)
        statement = select(Conversion).where(visible_conversions(viewer.principal))
        if chosen is not None:
            statement = statement.where(Conversion.program_id == chosen)
        if status is not None:
            statement = statement.where(Conversion.status == status.value)
        rows, next_cursor = fetch_page(session, statement, Conversion.id, params)
        ids = [row.id for row in rows]
        commissions = {
            c.conversion_id: c
            for c in session.scalars(select(Commission).where(Commission.conversion_id.in_(ids)))
        }
        partner_ids = sorted({row.partner_id for row in rows})
        partners = dict(
            session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids)))
            .tuples()
            .all()
        )
        uploads = list(
            session.scalars(
                select(OrderValidation)
                .where(OrderValidation.program_id.in_(programs_of(viewer.account_id)))
                .order_by(OrderValidation.id.desc())
                .limit(RECENT_UPLOADS)
            )
        )
    names = {p.id: p.name for p in programs}
    filters = {"status": status.value if status else None, "program_id": chosen}
    context = {
        "orders": rows,
        "commissions": commissions,
        "partners": partners,
        "names": names,
        "programs": programs,
        "program_id": chosen,
        "status": status.value if status else "",
        "statuses": [s.value for s in ConversionStatus],
        "uploads": uploads,
        "here": query_url("/advertiser/orders", **filters, cursor=cursor),
        "next_url": query_url("/advertiser/orders", **filters, cursor=next_cursor)
        if next_cursor
        else None,
        "first_url": query_url("/advertiser/orders", **filters) if cursor else None,
        "max_reason": validation.MAX_REASON,
    }
    return render(request, "advertiser/orders.html", context)


# --- one order -------------------------------------------------------------------------------


def _order_page(
    request: Request, viewer: Viewer, conversion_id: str, *, status: int = 200, **extra: object
) -> HTMLResponse:
    with reading() as session:
        conversion = get_visible(
            session,
            Conversion,
            conversion_id,
            visible_conversions(viewer.principal),
            prefix="cnv",
            what="order",
        )
        program = session.get_one(Program, conversion.program_id)
        partner = session.get(Partner, conversion.partner_id)
        history = list(
            session.scalars(
                select(ConversionEvent)
                .where(ConversionEvent.conversion_id == conversion.id)
                .order_by(ConversionEvent.occurred_at, ConversionEvent.id)
            )
        )
        commission = session.scalars(
            select(Commission)
            .where(Commission.conversion_id == conversion.id)
            .order_by(Commission.id)
        ).first()
    context = {
        "order": conversion,
        "program": program,
        "partner": partner,
        "history": history,
        "commission": commission,
        "max_reason": validation.MAX_REASON,
        **extra,
    }
    return render(request, "advertiser/order.html", context, status=status)


@router.get("/advertiser/orders/{conversion_id}", response_class=HTMLResponse)
def order_page(request: Request, viewer: AdvertiserPage, conversion_id: str) -> Response:
    return _order_page(request, viewer, conversion_id)


def _move(viewer: Viewer, conversion_id: str, target: str, reason: str | None) -> bool:
    with transaction() as session:
        conversion = get_visible(
            session,
            Conversion,
            conversion_id,
            visible_conversions(viewer.principal),
            prefix="cnv",
            what="order",
            for_update=True,
        )
        now = utcnow()
        if target == "completed":
            program = session.get_one(Program, conversion.program_id)
            return complete_conversion(session, program, conversion, None, now)
        return decline_conversion(session, conversion, reason or "", None, now)


@router.post("/advertiser/orders/{conversion_id}/complete")
def complete(request: Request, viewer: AdvertiserAction, conversion_id: str) -> Response:
    try:
        changed = _move(viewer, conversion_id, "completed", None)
    except NotFound:
        raise
    except AllianceError as exc:
        return _order_page(
            request,
            viewer,
            conversion_id,
            status=exc.status,
            error=exc.detail,
            error_field=exc.field,
        )
    message = (
        _("Order completed: its lock period starts now.") if changed else _("Already completed.")
    )
    return redirect(f"/advertiser/orders/{conversion_id}", message)


@router.post("/advertiser/orders/{conversion_id}/decline")
def decline(
    request: Request, viewer: AdvertiserAction, conversion_id: str, reason: Reason = ""
) -> Response:
    reason = reason.strip()
    try:
        if not reason:
            raise InvalidInput(
                "reason: say why the order is declined (the partner sees it)", field="reason"
            )
        changed = _move(viewer, conversion_id, "declined", reason)
    except NotFound:
        raise
    except AllianceError as exc:
        return _order_page(
            request,
            viewer,
            conversion_id,
            status=exc.status,
            error=exc.detail,
            error_field=exc.field,
        )
    message = _("Order declined: it earns nothing.") if changed else _("Already declined.")
    return redirect(f"/advertiser/orders/{conversion_id}", message)


# --- many orders -----------------------------------------------------------------------------


def _report_message(outcome: validation.Outcome) -> tuple[str, str]:
    with reading() as session:
        row = session.get_one(OrderValidation, outcome.validation_id)
        counts = {k: int(v) for k, v in (row.counts or {}).items()}
    if outcome.verdict == "queued":
        return ngettext(
            "%(num)s row queued: it is applied by the jobs worker.",
            "%(num)s rows queued: they are applied by the jobs worker.",
            row.row_count,
        ), "ok"
    if outcome.verdict == "replayed":
        return (
            _("The same verdicts were applied before: nothing changed, here is that report."),
            "warn",
        )
    refused = row.row_count - counts.get("applied", 0) - counts.get("unchanged", 0)
    applied, unchanged = counts.get("applied", 0), counts.get("unchanged", 0)
    if refused:
        return _(
            "%(applied)s applied, %(unchanged)s unchanged, %(refused)s refused: see the report.",
            applied=applied,
            unchanged=unchanged,
            refused=refused,
        ), "warn"
    return _(
        "%(applied)s applied, %(unchanged)s unchanged.", applied=applied, unchanged=unchanged
    ), "ok"


@router.post("/advertiser/orders/bulk")
def bulk(
    request: Request,
    viewer: AdvertiserAction,
    action: Annotated[str, Form(pattern="^(complete|decline)$")],
    conversion_id: Annotated[list[str] | None, Form(max_length=500)] = None,
    reason: Reason = "",
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    """The ticked orders, completed or declined through the bulk validation."""
    back = local_path(next_path, "/advertiser/orders")
    chosen = [c for c in dict.fromkeys(conversion_id or []) if is_public_id(c, "cnv")]
    if not chosen:
        raise InvalidInput("tick at least one order", field="conversion_id")
    reason = reason.strip()
    if action == "decline" and not reason:
        raise InvalidInput(
            "reason: say why the orders are declined (partners see it)", field="reason"
        )
    with reading() as session:
        found = session.execute(
            select(Conversion.program_id, Conversion.order_id, Conversion.kind).where(
                Conversion.id.in_(chosen), visible_conversions(viewer.principal)
            )
        ).all()
    if len(found) != len(chosen):
        raise NotFound("some of the ticked orders do not exist", field="conversion_id")
    by_program: dict[str, list[validation.RowInput]] = defaultdict(list)
    status = "completed" if action == "complete" else "declined"
    for program_id, order_id, kind in found:
        rows = by_program[program_id]
        rows.append(
            validation.RowInput(
                index=len(rows),
                line=None,
                order_id=order_id,
                status=status,
                refund_amount=None,
                reason=reason or None,
                kind=kind,
            )
        )
    messages = []
    last = None
    worst = "ok"
    for program_id, rows in sorted(by_program.items()):
        outcome = validation.validate(
            program_id, validation.Upload("json", tuple(rows)), viewer.account_id
        )
        text, kind = _report_message(outcome)
        messages.append(text)
        worst = "warn" if kind == "warn" else worst
        last = outcome.validation_id
    target = f"/advertiser/orders/validations/{last}" if len(by_program) == 1 else back
    return redirect(target, " ".join(messages), worst)


@router.post("/advertiser/orders/upload")
async def upload(
    request: Request,
    viewer: AdvertiserAction,
    program_id: Annotated[str, Form(max_length=64)],
    file: Annotated[UploadFile, File()],
) -> Response:
    """A CSV of verdicts (order_id,status,refund_amount,reason), as docs/validation.md says."""
    with reading() as session:
        own_program(session, viewer, program_id)
    body = await file.read(validation.MAX_UPLOAD_BYTES + 1)
    if len(body) > validation.MAX_UPLOAD_BYTES:
        raise PayloadTooLarge(
            f"the file is larger than {validation.MAX_UPLOAD_BYTES} bytes", field="file"
        )
    try:
        parsed = validation.read_csv(body)
    except InvalidInput as exc:
        raise InvalidInput(f"file: {exc.detail}", field="file") from None
    outcome = validation.validate(program_id, parsed, viewer.account_id)
    text, kind = _report_message(outcome)
    return redirect(f"/advertiser/orders/validations/{outcome.validation_id}", text, kind)


@router.get("/advertiser/orders/validations/{validation_id}", response_class=HTMLResponse)
def validation_page(
    request: Request,
    viewer: AdvertiserPage,
    validation_id: str,
    result: Annotated[ValidationResult | None, Query()] = None,
) -> Response:
    with reading() as session:
        found = None
        if is_public_id(validation_id, validation.PREFIX):
            found = session.scalars(
                select(OrderValidation).where(
                    OrderValidation.id == validation_id,
                    OrderValidation.program_id.in_(programs_of(viewer.account_id)),
                )
            ).first()
        if found is None:
            raise NotFound(f"no validation {validation_id[:40]!r}")
        program = session.get_one(Program, found.program_id)
        statement = select(OrderValidationRow).where(OrderValidationRow.validation_id == found.id)
        if result is not None:
            statement = statement.where(OrderValidationRow.result == result.value)
        rows = list(
            session.scalars(statement.order_by(OrderValidationRow.position).limit(REPORT_ROWS))
        )
    counts = [(r.value, int((found.counts or {}).get(r.value, 0))) for r in ValidationResult]
    context = {
        "upload": found,
        "program": program,
        "rows": rows,
        "counts": counts,
        "result": result.value if result else "",
        "limit": REPORT_ROWS,
    }
    return render(request, "advertiser/validation.html", context)


# --- rejected inbound events -----------------------------------------------------------------


@router.get("/advertiser/rejected", response_class=HTMLResponse)
def rejected_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    source: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    if source and source not in SOURCES:
        raise InvalidInput(f"source must be one of {', '.join(SOURCES)}", field="source")
    params = page_params(cursor)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id)
        statement = select(InboundEvent).where(
            InboundEvent.program_id.in_(programs_of(viewer.account_id)),
            InboundEvent.status == InboundStatus.rejected.value,
        )
        if chosen is not None:
            statement = statement.where(InboundEvent.program_id == chosen)
        if source:
            statement = statement.where(InboundEvent.source == source)
        rows, next_cursor = fetch_page(session, statement, InboundEvent.id, params)
    events = [(row, inbound_api.InboundEventOut.of(row)) for row in rows]
    filters = {"program_id": chosen, "source": source}
    context = {
        "events": events,
        "programs": programs,
        "names": {p.id: p.name for p in programs},
        "program_id": chosen,
        "source": source or "",
        "sources": SOURCES,
        "here": query_url("/advertiser/rejected", **filters, cursor=cursor),
        "next_url": query_url("/advertiser/rejected", **filters, cursor=next_cursor)
        if next_cursor
        else None,
        "first_url": query_url("/advertiser/rejected", **filters) if cursor else None,
    }
    return render(request, "advertiser/rejected.html", context)


@router.post("/advertiser/rejected/{event_id}/retry")
def retry(
    request: Request,
    viewer: AdvertiserAction,
    event_id: str,
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    """Process a rejected event again once its cause is fixed (the API's retry)."""
    answer = inbound_api.retry_inbound_event(event_id, viewer.principal)
    back = local_path(next_path, "/advertiser/rejected")
    if answer.status == InboundStatus.rejected.value:
        return redirect(
            back, _("Still rejected: %(why)s", why=answer.detail or answer.reason), "warn"
        )
    return redirect(
        back, _("The event was processed again: %(status)s.", status=status_label(answer.status))
    )
