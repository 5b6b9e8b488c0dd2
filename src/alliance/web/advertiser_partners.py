"""Applications to the advertiser's programs, and its partners with their results.

Applications show the partner's profile and its network-wide track record over the last
90 days: orders, sales, refund rate and approved commission, as aggregates from the orders
report run with an operator scope limited to that one partner. No order, program or
advertiser behind those figures reaches the page: only sums and ratios.

Decisions go through `programs.service.decide_enrollment`, the REST API's call, on an
enrollment looked up through the API's scoping (another advertiser's is a 404).

The partners page also shows the shared audience of the approved partners (each one's best
match, and a compare form): advertiser_audience.py, with the REST API's visibility rules.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.api.pagination import fetch_page
from alliance.api.scoping import get_visible, visible_enrollments
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.errors import InvalidInput
from alliance.programs import service
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.programs.schemas import EnrollmentDecision
from alliance.reports.queries import (
    ReportQuery,
    Scope,
    orders_report,
    resolve_scope,
    traffic_report,
)
from alliance.reports.schemas import OrdersGroup, TrafficGroup
from alliance.web.advertiser_audience import shared_audience
from alliance.web.advertiser_common import (
    invalid_from,
    own_programs,
    page_params,
    program_filter,
    query_url,
    redirect,
)
from alliance.web.audience_common import share_text
from alliance.web.i18n import _
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, local_path
from alliance.web.templating import render
from alliance.web.terms import status_label

router = APIRouter()

TRACK_RECORD_DAYS = 90
KPI_DAYS = 30
APPLICATIONS_PAGE = 20
RATIO = Decimal("0.0001")
ACTIONS = {
    "approve": EnrollmentStatus.approved,
    "reject": EnrollmentStatus.rejected,
    "suspend": EnrollmentStatus.suspended,
    "ban": EnrollmentStatus.banned,
}


# --- track record ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MoneyLine:
    currency: str
    sales: Decimal
    approved_commission: Decimal  # approved + paid: what the network confirmed


@dataclass(frozen=True, slots=True)
class TrackRecord:
    orders: int
    refunded_orders: int
    refund_rate: Decimal | None
    valid_clicks: int
    money: list[MoneyLine]


def track_record(session: Session, partner_id: str) -> TrackRecord:
    """The partner's network-wide figures over TRACK_RECORD_DAYS (aggregates only)."""
    today = utcnow().date()
    query = ReportQuery(
        start=today - timedelta(days=TRACK_RECORD_DAYS - 1),
        end=today,
        scope=Scope(None, partner_id),  # the operator's view of this one partner
    )
    report = orders_report(session, query, OrdersGroup.partner)
    orders = sum(row.orders for row in report.totals)
    refunded = sum(row.refunded_orders for row in report.totals)
    clicks = report.totals[0].valid_clicks if report.totals else None
    return TrackRecord(
        orders=orders,
        refunded_orders=refunded,
        refund_rate=(Decimal(refunded) / orders).quantize(RATIO) if orders else None,
        valid_clicks=clicks or 0,
        money=[
            MoneyLine(
                row.currency,
                row.sales,
                row.commission.approved + row.commission.paid,
            )
            for row in report.totals
        ],
    )


# --- applications ----------------------------------------------------------------------------


@router.get("/advertiser/applications", response_class=HTMLResponse)
def applications_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    params = page_params(cursor, APPLICATIONS_PAGE)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id)
        statement = select(Enrollment).where(
            visible_enrollments(viewer.principal),
            Enrollment.status == EnrollmentStatus.applied.value,
        )
        if chosen is not None:
            statement = statement.where(Enrollment.program_id == chosen)
        rows, next_cursor = fetch_page(session, statement, Enrollment.id, params)
        partner_ids = sorted({row.partner_id for row in rows})
        partners = {
            p.id: p for p in session.scalars(select(Partner).where(Partner.id.in_(partner_ids)))
        }
        records = {pid: track_record(session, pid) for pid in partner_ids}
    names = {p.id: p.name for p in programs}
    applications = [
        (
            row,
            partners[row.partner_id],
            names.get(row.program_id, row.program_id),
            records[row.partner_id],
        )
        for row in rows
    ]
    context = {
        "applications": applications,
        "programs": programs,
        "program_id": chosen,
        "days": TRACK_RECORD_DAYS,
        "next_url": query_url("/advertiser/applications", program_id=chosen, cursor=next_cursor)
        if next_cursor
        else None,
        "first_url": query_url("/advertiser/applications", program_id=chosen) if cursor else None,
    }
    return render(request, "advertiser/applications.html", context)


@router.post("/advertiser/enrollments/{enrollment_id}/{action}")
def decide(
    request: Request,
    viewer: AdvertiserAction,
    enrollment_id: str,
    action: str,
    reason: Annotated[str, Form(max_length=2000)] = "",
    group: Annotated[str, Form(max_length=64)] = "",
    next_path: Annotated[str, Form(alias="next", max_length=500)] = "",
) -> Response:
    """Approve, reject, suspend or ban an enrollment in one of the viewer's programs."""
    target = ACTIONS.get(action)
    if target is None:
        raise InvalidInput(f"unknown action {action[:20]!r}", field="action")
    try:
        decision = EnrollmentDecision(
            reason=reason.strip() or None,
            group=(group.strip() or None) if target is EnrollmentStatus.approved else None,
        )
    except ValidationError as exc:
        raise invalid_from(exc) from None
    with transaction() as session:
        enrollment = get_visible(
            session,
            Enrollment,
            enrollment_id,
            visible_enrollments(viewer.principal),
            prefix="enr",
            what="enrollment",
            for_update=True,
        )
        service.decide_enrollment(
            session, enrollment, target, reason=decision.reason, group=decision.group
        )
        partner = session.get_one(Partner, enrollment.partner_id)
        program = session.get_one(Program, enrollment.program_id)
        message = _(
            "%(partner)s is now %(status)s in %(program)s.",
            partner=partner.name,
            status=status_label(target),
            program=program.name,
        )
    return redirect(local_path(next_path, "/advertiser/applications"), message)


# --- partners --------------------------------------------------------------------------------


@dataclass(slots=True)
class PartnerRow:
    partner: Partner
    enrollments: list[tuple[Enrollment, str]] = field(default_factory=list)  # (row, program)
    clicks: int = 0
    valid_clicks: int = 0
    orders: int = 0
    sales: dict[str, Decimal] = field(default_factory=dict)
    commission: dict[str, Decimal] = field(default_factory=dict)
    epc: dict[str, Decimal | None] = field(default_factory=dict)

    @property
    def conversion_rate(self) -> Decimal | None:
        if not self.valid_clicks:
            return None
        return (Decimal(self.orders) / self.valid_clicks).quantize(RATIO)


SORTS: dict[str, Callable[[PartnerRow, str], Any]] = {
    "name": lambda r, _c: r.partner.name.casefold(),
    "clicks": lambda r, _c: r.clicks,
    "orders": lambda r, _c: r.orders,
    "sales": lambda r, c: r.sales.get(c, Decimal(0)),
    "commission": lambda r, c: r.commission.get(c, Decimal(0)),
    "conversion_rate": lambda r, _c: r.conversion_rate or Decimal(-1),
    "epc": lambda r, c: r.epc.get(c) or Decimal(-1),
}


def _partner_rows(
    session: Session, enrollments: Sequence[tuple[Enrollment, Partner]], names: dict[str, str]
) -> dict[str, PartnerRow]:
    found: dict[str, PartnerRow] = {}
    for enrollment, partner in enrollments:
        row = found.setdefault(partner.id, PartnerRow(partner))
        row.enrollments.append((enrollment, names.get(enrollment.program_id, "")))
    return found


@router.get("/advertiser/partners", response_class=HTMLResponse)
def partners_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
    sort: Annotated[str, Query(max_length=20)] = "sales",
    direction: Annotated[str, Query(alias="dir", pattern="^(asc|desc)$")] = "desc",
    partner_id: Annotated[str, Query(max_length=64)] = "",
    other_partner_id: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    if sort not in SORTS:
        raise InvalidInput(f"sort must be one of {', '.join(SORTS)}", field="sort")
    today = utcnow().date()
    start = today - timedelta(days=KPI_DAYS - 1)
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id)
        names = {p.id: p.name for p in programs}
        statement = (
            select(Enrollment, Partner)
            .join(Partner, Partner.id == Enrollment.partner_id)
            .where(
                visible_enrollments(viewer.principal),
                Enrollment.status.in_(
                    [
                        s.value
                        for s in (
                            EnrollmentStatus.approved,
                            EnrollmentStatus.suspended,
                            EnrollmentStatus.banned,
                        )
                    ]
                ),
            )
            .order_by(Partner.name, Enrollment.id)
        )
        if chosen is not None:
            statement = statement.where(Enrollment.program_id == chosen)
        pairs = [(e, p) for e, p in session.execute(statement).tuples()]
        rows = _partner_rows(session, pairs, names)
        query = ReportQuery(
            start=start, end=today, scope=resolve_scope(session, viewer.principal, chosen, None)
        )
        traffic = traffic_report(session, query, TrafficGroup.partner)
        orders = orders_report(session, query, OrdersGroup.partner)
        audience = shared_audience(session, viewer, partner_id, other_partner_id)
    currencies: dict[str, int] = defaultdict(int)
    for t in traffic.rows:
        if t.group in rows:
            rows[t.group].clicks = t.clicks
            rows[t.group].valid_clicks = t.valid_clicks
    for o in orders.rows:
        if o.group in rows:
            row = rows[o.group]
            row.orders += o.orders
            row.sales[o.currency] = o.sales
            row.commission[o.currency] = o.commission.value
            row.epc[o.currency] = o.kpis.epc
            currencies[o.currency] += 1
    main_currency = max(currencies, key=lambda c: currencies[c]) if currencies else ""
    ordered = sorted(
        rows.values(),
        key=lambda r: SORTS[sort](r, main_currency),
        reverse=direction == "desc",
    )

    def url_for_sort(key: str, new_direction: str) -> str:
        return query_url("/advertiser/partners", program_id=chosen, sort=key, dir=new_direction)

    def url_for_pair(first: str, second: str = "") -> str:
        """The page comparing two partners (or listing one's nearest), scrolled to the view."""
        base = query_url(
            "/advertiser/partners",
            program_id=chosen,
            sort=sort,
            dir=direction,
            partner_id=first,
            other_partner_id=second,
        )
        return f"{base}#shared-audience"

    context = {
        "rows": ordered,
        "programs": programs,
        "program_id": chosen,
        "sort": sort,
        "direction": direction,
        "url_for_sort": url_for_sort,
        "start": start,
        "end": today,
        "days": KPI_DAYS,
        "here": query_url("/advertiser/partners", program_id=chosen, sort=sort, dir=direction),
        "audience": audience,
        "share": share_text,
        "url_for_pair": url_for_pair,
    }
    return render(request, "advertiser/partners.html", context, status=audience.status)
