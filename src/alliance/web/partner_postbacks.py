"""Partner postbacks: the tracker URL Alliance calls on the partner's conversion events.

Saving goes through the notifications service the REST API uses (PUT /api/v1/partner-postbacks):
the macros are checked, and the URL passes the SSRF rules (public addresses only) before it is
stored. The delivery log is the partner's own (`visible_deliveries`); a failed or dead call can
be queued again. The service has no "send a test now" call, so the page shows instead what a
call would look like for a sample conversion (the template expanded by the sender's own code).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from alliance.api.scoping import get_visible, visible_programs
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError
from alliance.notifications import macros, service
from alliance.notifications.events import CONVERSION_EVENTS, EVENT_TYPES
from alliance.notifications.models import (
    DELIVERY_PREFIX,
    POSTBACK_PREFIX,
    PartnerPostback,
    WebhookDelivery,
)
from alliance.notifications.schemas import PostbackPut
from alliance.programs.models import Enrollment, Program
from alliance.web.i18n import _
from alliance.web.partner_common import invalid_from, redirect
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

LOG_SIZE = 50
SAMPLE: dict[str, str | None] = {
    "click_id": "clk_01J0000000000000000EXAMPLE",
    "sub1": "newsletter",
    "sub2": None,
    "sub3": None,
    "sub4": None,
    "sub5": None,
    "order_id": "ORDER-1001",
    "amount": "120.00",
    "currency": "EUR",
    "commission": "9.60",
    "commission_currency": "EUR",
    "status": "completed",
    "refunded_amount": "0.00",
    "conversion_id": "cnv_01J0000000000000000EXAMPLE",
    "program_id": "prg_01J0000000000000000EXAMPLE",
    "event": "conversion.completed",
}


def example_call(template: str) -> str:
    return macros.expand(template, SAMPLE)


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: object) -> Response:
    with reading() as session:
        postbacks = session.scalars(
            select(PartnerPostback)
            .where(service.visible_postbacks(viewer.principal))
            .order_by(PartnerPostback.scope)
        ).all()
        # Programs the partner has an enrollment in: a template can be set for each.
        programs = session.execute(
            select(Program.id, Program.name)
            .join(Enrollment, Enrollment.program_id == Program.id)
            .where(Enrollment.partner_id == viewer.account_id)
            .order_by(Program.name)
        ).all()
        log = session.scalars(
            select(WebhookDelivery)
            .where(
                service.visible_deliveries(viewer.principal),
                WebhookDelivery.postback_id.is_not(None),
            )
            .order_by(WebhookDelivery.id.desc())
            .limit(LOG_SIZE)
        ).all()
    names: dict[str, str] = dict(programs)
    shown = [
        (p, names.get(p.program_id or "", p.program_id), example_call(p.url_template))
        for p in postbacks
    ]
    blank = {"program_id": "", "url": "", "event_types": [], "active": True}
    form = extra.pop("form", None) or blank
    return render(
        request,
        "partner/postbacks.html",
        {
            "postbacks": shown,
            "programs": [(pid, name) for pid, name in programs],
            "log": log,
            "macros": macros.MACROS,
            "events": [(e, EVENT_TYPES[e]) for e in CONVERSION_EVENTS],
            "form": form,
            "log_size": LOG_SIZE,
            **extra,
        },
        status=status,
    )


@router.get("/partner/postbacks", response_class=HTMLResponse)
def postbacks_page(request: Request, viewer: PartnerPage) -> Response:
    return _page(request, viewer)


@router.post("/partner/postbacks")
def save_postback(
    request: Request,
    viewer: PartnerAction,
    program_id: Annotated[str, Form(max_length=40)] = "",
    url: Annotated[str, Form(max_length=4096)] = "",
    event_types: Annotated[list[str] | None, Form()] = None,
    active: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    chosen = [str(v)[:64] for v in (event_types or [])][:20]
    enabled = active in ("1", "on", "true")
    form = {"program_id": program_id, "url": url, "event_types": chosen, "active": enabled}
    try:
        try:
            body = PostbackPut.model_validate(
                {
                    "program_id": program_id or None,
                    "url": url.strip(),
                    "event_types": chosen,
                    "active": enabled,
                }
            )
        except ValidationError as exc:
            raise invalid_from(exc) from None
        with transaction() as session:
            scope_id = None
            if body.program_id is not None:
                scope_id = get_visible(
                    session,
                    Program,
                    body.program_id,
                    visible_programs(viewer.principal),
                    prefix="prg",
                    what="program",
                ).id
            service.put_postback(
                session,
                viewer.account_id,
                program_id=scope_id,
                url_template=body.url,
                event_types=body.event_types,
                active=body.active,
                now=utcnow(),
            )
    except AllianceError as exc:
        field = exc.field or ("program_id" if exc.status == 404 else None)
        return _page(
            request, viewer, status=exc.status, error=exc.detail, error_field=field, form=form
        )
    return redirect("/partner/postbacks", _("Postback saved."))


@router.post("/partner/postbacks/{postback_id}/active")
def set_active(
    viewer: PartnerAction,
    postback_id: str,
    active: Annotated[bool, Form()],
) -> Response:
    with transaction() as session:
        postback = get_visible(
            session,
            PartnerPostback,
            postback_id,
            service.visible_postbacks(viewer.principal),
            prefix=POSTBACK_PREFIX,
            what="partner postback",
            for_update=True,
        )
        service.put_postback(
            session,
            viewer.account_id,
            program_id=postback.program_id,
            url_template=postback.url_template,
            event_types=list(postback.event_types or []),
            active=active,
            now=utcnow(),
        )
    return redirect(
        "/partner/postbacks", _("Postback enabled.") if active else _("Postback disabled.")
    )


@router.post("/partner/postbacks/{postback_id}/delete")
def delete(viewer: PartnerAction, postback_id: str) -> Response:
    with transaction() as session:
        postback = get_visible(
            session,
            PartnerPostback,
            postback_id,
            service.visible_postbacks(viewer.principal),
            prefix=POSTBACK_PREFIX,
            what="partner postback",
            for_update=True,
        )
        service.delete_postback(session, postback)
    return redirect("/partner/postbacks", "Postback deleted, with its delivery log.")


@router.post("/partner/postbacks/deliveries/{delivery_id}/retry")
def retry(viewer: PartnerAction, delivery_id: str) -> Response:
    with transaction() as session:
        delivery = get_visible(
            session,
            WebhookDelivery,
            delivery_id,
            service.visible_deliveries(viewer.principal),
            prefix=DELIVERY_PREFIX,
            what="delivery",
            for_update=True,
        )
        service.retry_delivery(session, delivery, utcnow())
    return redirect("/partner/postbacks", _("The call is queued again."))
