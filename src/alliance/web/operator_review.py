"""/operator/review: the things that need a person, each with its reason and an action.

Only what the database can answer is listed:
- applications waiting longer than STALE_APPLICATION_AFTER (approve or reject on the
  advertiser's behalf, through the programs service);
- dead webhook and postback deliveries (send again, through the notifications service);
- inbound events rejected in the last REJECTED_WINDOW, grouped by program and reason, with
  a page listing them (and a retry, as the inbound-events API does);
- partners whose bot-click share or refund rate over the last SIGNAL_DAYS is above the
  limits below, read from the traffic and orders reports.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.accounts import applications as partner_applications
from alliance.accounts.models import Advertiser, Partner
from alliance.accounts.people import account_name
from alliance.clock import as_utc, utcnow
from alliance.conversions import api as inbound_api
from alliance.conversions.models import InboundEvent, InboundStatus
from alliance.crosspromo import referrals
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput, NotFound
from alliance.notifications import service as notifications
from alliance.notifications.models import (
    DeliveryState,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
)
from alliance.programs import service as programs
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.reports import queries
from alliance.reports.schemas import OrdersGroup, TrafficGroup
from alliance.web import sessions
from alliance.web.i18n import _
from alliance.web.sessions import OperatorAction, OperatorPage
from alliance.web.templating import render
from alliance.web.terms import status_label

router = APIRouter()

# An application nobody decided on for this long: the advertiser may have missed it.
STALE_APPLICATION_AFTER = timedelta(days=3)
# Rejected inbound events are grouped over this window (older ones are history, not work).
REJECTED_WINDOW = timedelta(hours=24)
# Partner signals look at this many days of traffic and orders.
SIGNAL_DAYS = 30
# Bot clicks above this share of a partner's clicks (with at least the minimum of clicks, so
# a handful of crawler hits on a new partner is no signal).
BOT_SHARE_LIMIT = Decimal("0.30")
BOT_SHARE_MIN_CLICKS = 100
# Orders refunded (fully or partly) above this share of a partner's orders, from a minimum
# number of orders: incentivised or fraudulent traffic tends to buy and return.
REFUND_RATE_LIMIT = Decimal("0.25")
REFUND_RATE_MIN_ORDERS = 10
LISTED = 100  # rows per section; the count says how many there are in all
UNKNOWN_PROGRAM = "none"  # the details link's program_id for events naming no known program


@dataclass(frozen=True, slots=True)
class StaleApplication:
    enrollment: Enrollment
    program_name: str
    advertiser_name: str
    partner_name: str
    waiting_days: int


@dataclass(frozen=True, slots=True)
class DeadDelivery:
    delivery: WebhookDelivery
    owner_name: str | None
    target: str


@dataclass(frozen=True, slots=True)
class RejectedGroup:
    program_id: str | None
    program_name: str | None
    reason: str
    count: int
    last_at: datetime
    example: str | None


@dataclass(frozen=True, slots=True)
class PartnerSignal:
    partner_id: str
    partner_name: str
    reason: str  # what is high, in words
    clicks: int
    bot_clicks: int
    bot_share: Decimal | None
    orders: int
    refunded_orders: int
    refund_rate: Decimal | None


def _ratio(numerator: int, denominator: int) -> Decimal | None:
    if not denominator:
        return None
    return (Decimal(numerator) / Decimal(denominator)).quantize(queries.RATIO)


def stale_applications(session: Session, now: datetime) -> tuple[list[StaleApplication], int]:
    where = (
        Enrollment.status == EnrollmentStatus.applied.value,
        Enrollment.created_at <= now - STALE_APPLICATION_AFTER,
    )
    total = int(session.scalar(select(func.count()).select_from(Enrollment).where(*where)) or 0)
    rows = session.execute(
        select(Enrollment, Program.name, Advertiser.name, Partner.name)
        .join(Program, Program.id == Enrollment.program_id)
        .join(Advertiser, Advertiser.id == Program.advertiser_id)
        .join(Partner, Partner.id == Enrollment.partner_id)
        .where(*where)
        .order_by(Enrollment.created_at, Enrollment.id)
        .limit(LISTED)
    ).all()
    return [
        StaleApplication(e, prg, adv, ptn, (now - as_utc(e.created_at)).days)
        for e, prg, adv, ptn in rows
    ], total


def dead_deliveries(session: Session) -> tuple[list[DeadDelivery], int]:
    dead = WebhookDelivery.state == DeliveryState.dead.value
    total = int(session.scalar(select(func.count()).select_from(WebhookDelivery).where(dead)) or 0)
    deliveries = list(
        session.scalars(
            select(WebhookDelivery)
            .where(dead)
            .order_by(WebhookDelivery.last_attempt_at.desc(), WebhookDelivery.id.desc())
            .limit(LISTED)
        )
    )
    endpoint_ids = {d.endpoint_id for d in deliveries if d.endpoint_id}
    postback_ids = {d.postback_id for d in deliveries if d.postback_id}
    urls: dict[str, str] = {}
    if endpoint_ids:
        urls.update(
            session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.url).where(
                    WebhookEndpoint.id.in_(endpoint_ids)
                )
            )
            .tuples()
            .all()
        )
    if postback_ids:
        urls.update(
            session.execute(
                select(PartnerPostback.id, PartnerPostback.url_template).where(
                    PartnerPostback.id.in_(postback_ids)
                )
            )
            .tuples()
            .all()
        )
    names: dict[tuple[str, str], str | None] = {}
    out = []
    for d in deliveries:
        key = (d.owner_kind, d.owner_id)
        if key not in names:
            names[key] = account_name(session, d.owner_kind, d.owner_id)
        target_id = d.endpoint_id or d.postback_id or ""
        out.append(DeadDelivery(d, names[key], d.last_url or urls.get(target_id, "")))
    return out, total


def rejected_groups(session: Session, now: datetime) -> list[RejectedGroup]:
    where = (
        InboundEvent.status == InboundStatus.rejected.value,
        InboundEvent.received_at >= now - REJECTED_WINDOW,
    )
    rows = session.execute(
        select(
            InboundEvent.program_id,
            InboundEvent.reason,
            func.count(),
            func.max(InboundEvent.received_at),
            func.max(InboundEvent.detail),
        )
        .where(*where)
        .group_by(InboundEvent.program_id, InboundEvent.reason)
    ).all()
    program_ids = {r[0] for r in rows if r[0]}
    names: dict[str, str] = {}
    if program_ids:
        names = dict(
            session.execute(select(Program.id, Program.name).where(Program.id.in_(program_ids)))
            .tuples()
            .all()
        )
    groups = [
        RejectedGroup(
            program_id=r[0],
            program_name=names.get(r[0]) if r[0] else None,
            reason=r[1] or "unknown",
            count=int(r[2]),
            last_at=as_utc(r[3]),
            example=r[4],
        )
        for r in rows
    ]
    groups.sort(key=lambda g: (-g.count, g.program_id or "", g.reason))
    return groups


def partner_signals(session: Session, now: datetime) -> list[PartnerSignal]:
    today = now.date()
    q = queries.ReportQuery(
        today - timedelta(days=SIGNAL_DAYS - 1), today, queries.operator_scope()
    )
    traffic = queries.traffic_report(session, q, TrafficGroup.partner)
    orders = queries.orders_report(session, q, OrdersGroup.partner)
    clicks = {r.group: (r.clicks, r.bot_clicks) for r in traffic.rows if r.group}
    counted: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for row in orders.rows:
        if row.group:
            counted[row.group][0] += row.orders
            counted[row.group][1] += row.refunded_orders
    names = {r.group: r.label for r in traffic.rows if r.group}
    names.update({r.group: r.label for r in orders.rows if r.group})
    signals = []
    for partner_id in sorted(set(clicks) | set(counted)):
        n_clicks, n_bots = clicks.get(partner_id, (0, 0))
        n_orders, n_refunded = counted.get(partner_id, [0, 0])
        bot_share = _ratio(n_bots, n_clicks)
        refund_rate = _ratio(n_refunded, n_orders)
        reasons = []
        if (
            n_clicks >= BOT_SHARE_MIN_CLICKS
            and bot_share is not None
            and bot_share > BOT_SHARE_LIMIT
        ):
            reasons.append(_("bot-click share above the limit"))
        if (
            n_orders >= REFUND_RATE_MIN_ORDERS
            and refund_rate is not None
            and refund_rate > REFUND_RATE_LIMIT
        ):
            reasons.append(_("refund rate above the limit"))
        if reasons:
            signals.append(
                PartnerSignal(
                    partner_id=partner_id,
                    partner_name=names.get(partner_id) or partner_id,
                    reason="; ".join(reasons),
                    clicks=n_clicks,
                    bot_clicks=n_bots,
                    bot_share=bot_share,
                    orders=n_orders,
                    refunded_orders=n_refunded,
                    refund_rate=refund_rate,
                )
            )
    signals.sort(key=lambda s: (-(s.bot_share or 0) - (s.refund_rate or 0), s.partner_id))
    return signals


@router.get("/operator/review", response_class=HTMLResponse)
def review(request: Request, viewer: OperatorPage) -> Response:
    now = utcnow()
    with reading() as session:
        applications, applications_total = stale_applications(session, now)
        deliveries, deliveries_total = dead_deliveries(session)
        rejected = rejected_groups(session, now)
        signals = partner_signals(session, now)
        signups = [
            (a, _recruiter_of(session, a.recruit_code))
            for a in partner_applications.pending(session)
        ]
    context: dict[str, Any] = {
        "signups": signups,
        "applications": applications,
        "applications_total": applications_total,
        "deliveries": deliveries,
        "deliveries_total": deliveries_total,
        "rejected": rejected,
        "signals": signals,
        "unknown_program": UNKNOWN_PROGRAM,
        "limits": {
            "stale_days": STALE_APPLICATION_AFTER.days,
            "rejected_hours": int(REJECTED_WINDOW.total_seconds() // 3600),
            "signal_days": SIGNAL_DAYS,
            "bot_share": BOT_SHARE_LIMIT,
            "bot_min_clicks": BOT_SHARE_MIN_CLICKS,
            "refund_rate": REFUND_RATE_LIMIT,
            "refund_min_orders": REFUND_RATE_MIN_ORDERS,
        },
        "queue_size": applications_total
        + deliveries_total
        + len(rejected)
        + len(signals)
        + len(signups),
    }
    return render(request, "operator/review.html", context)


def _back(message: str, kind: str = "ok", to: str = "/operator/review") -> Response:
    response = RedirectResponse(to, status_code=303)
    sessions.flash(response, message, kind)
    return response


_DECISIONS = {"approve": EnrollmentStatus.approved, "reject": EnrollmentStatus.rejected}


@router.post("/operator/review/enrollments/{enrollment_id}/{action}")
def decide(
    viewer: OperatorAction,
    enrollment_id: str,
    action: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    target = _DECISIONS.get(action)
    if target is None:
        raise NotFound("no such action", field="action")
    with transaction() as session:
        enrollment = session.get(Enrollment, enrollment_id, with_for_update=True)
        if enrollment is None:
            raise NotFound("no such enrollment", field="enrollment")
        # The same transition rules as POST /api/v1/enrollments/{id}/approve|reject.
        programs.decide_enrollment(
            session, enrollment, target, reason=reason.strip() or None, group=None
        )
        partner = session.get(Partner, enrollment.partner_id)
        program = session.get(Program, enrollment.program_id)
        who = partner.name if partner else enrollment.partner_id
        where = program.name if program else enrollment.program_id
    return _back(f"{who} {target.value} in {where}.")


def _recruiter_of(session: Session, code: str | None) -> str | None:
    if not code:
        return None
    recruiter = referrals.recruiter_of_code(session, code)
    partner = session.get(Partner, recruiter) if recruiter else None
    return partner.name if partner else None


@router.post("/operator/review/signups/{application_id}/{action}")
def decide_signup(
    viewer: OperatorAction,
    application_id: str,
    action: str,
    reason: Annotated[str, Form(max_length=500)] = "",
) -> Response:
    """A partner sign-up from /join: approve (the account, the owner's invitation, the
    referral) or reject with a reason."""
    if action not in ("approve", "reject"):
        raise NotFound("no such action", field="action")
    try:
        with transaction() as session:
            if action == "approve":
                done = partner_applications.approve(session, application_id, viewer.user_id)
                message = _(
                    "Partner %(id)s created; the invitation was mailed.", id=done.partner_id
                )
                if done.referral_status == "refused":
                    message += " " + _("Its recruit code was a self-referral: it earns nothing.")
            else:
                partner_applications.reject(session, application_id, viewer.user_id, reason)
                message = _("Application rejected.")
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _back(exc.detail, "error")
    return _back(message)


@router.post("/operator/review/deliveries/{delivery_id}/retry")
def retry_delivery(viewer: OperatorAction, delivery_id: str) -> Response:
    with transaction() as session:
        delivery = session.get(WebhookDelivery, delivery_id, with_for_update=True)
        if delivery is None:
            raise NotFound("no such delivery", field="delivery")
        notifications.retry_delivery(session, delivery, utcnow())
    return _back(_("Queued again: it is sent at the next run of the delivery job."))


@router.get("/operator/review/rejected", response_class=HTMLResponse)
def rejected_events(
    request: Request,
    viewer: OperatorPage,
    program_id: Annotated[str, Query(max_length=32)] = "",
    reason: Annotated[str, Query(max_length=64)] = "",
    hours: Annotated[int, Query(ge=1, le=24 * 30)] = 24,
) -> Response:
    now = utcnow()
    where = [
        InboundEvent.status == InboundStatus.rejected.value,
        InboundEvent.received_at >= now - timedelta(hours=hours),
    ]
    if program_id == UNKNOWN_PROGRAM:
        where.append(InboundEvent.program_id.is_(None))
    elif program_id:
        where.append(InboundEvent.program_id == program_id)
    if reason:
        where.append(InboundEvent.reason == reason)
    with reading() as session:
        program = session.get(Program, program_id) if program_id else None
        rows = list(
            session.scalars(
                select(InboundEvent)
                .where(*where)
                .order_by(InboundEvent.received_at.desc(), InboundEvent.id.desc())
                .limit(LISTED * 2)
            )
        )
    # The API's shape: postback tokens and signatures masked, the body cut to a preview.
    events = [inbound_api.InboundEventOut.of(row) for row in rows]
    context = {
        "events": events,
        "program_id": program_id,
        "program": program,
        "reason": reason,
        "hours": hours,
        "unknown_program": UNKNOWN_PROGRAM,
        "here": request.url.path + ("?" + request.url.query if request.url.query else ""),
    }
    return render(request, "operator/rejected.html", context)


@router.post("/operator/review/inbound/{event_id}/retry")
def retry_inbound(
    viewer: OperatorAction,
    event_id: str,
    back: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    if not event_id.startswith("evt_"):
        raise InvalidInput("not an inbound event id", field="event")
    # What POST /api/v1/inbound-events/{id}/retry does: process the stored request again.
    result = inbound_api.retry_inbound_event(event_id, viewer.principal)
    to = sessions.local_path(back, "/operator/review")
    message = _(
        "Event %(id)s processed again: %(status)s",
        id=event_id,
        status=status_label(result.status),
    )
    if result.reason:
        message += f" ({result.reason})"
    return _back(message + ".", "ok" if result.status != "rejected" else "warn", to)
