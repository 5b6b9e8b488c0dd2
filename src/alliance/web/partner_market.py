"""The partner's marketplace: every program open to partners, its terms in words, how it
performs across the network, and the "Join" button (an application the advertiser decides).

Network numbers are aggregates of the program over the last 90 days (valid clicks, orders,
commission per click), computed by the orders report with an operator scope limited to the
programs on the page: no other partner's name, link or amount ever reaches this page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser
from alliance.api.fields import Message, is_public_id
from alliance.api.scoping import get_visible, visible_programs
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError
from alliance.programs import service
from alliance.programs.models import Enrollment, Program
from alliance.reports.queries import ReportQuery, Scope, orders_report, valid_clicks_by
from alliance.reports.schemas import OrdersGroup
from alliance.web.i18n import _
from alliance.web.partner_common import (
    countries_text,
    document_of,
    query_url,
    redirect,
    terms_details,
    terms_summary,
)
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

NETWORK_DAYS = 90
PAGE_SIZE = 24
_BATCH = 200
RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Performance:
    """A program's network-wide numbers over NETWORK_DAYS (aggregates only)."""

    valid_clicks: int
    orders: int
    conversion_rate: Decimal | None
    epc: Decimal | None
    currency: str


@dataclass(frozen=True, slots=True)
class Offer:
    program: Program
    advertiser: str
    summary: str
    countries: str
    enrollment: Enrollment | None
    performance: Performance | None


def performance_of(session: Session, programs: list[Program]) -> dict[str, Performance]:
    """Valid clicks, orders, conversion rate and EPC per program, network-wide, from the
    orders report (one report for the whole page, never one per program).

    The EPC is the commission per valid click in the program currency; the conversion rate
    counts the program's orders in every currency against its valid clicks.
    """
    if not programs:
        return {}
    today = utcnow().date()
    query = ReportQuery(
        start=today - timedelta(days=NETWORK_DAYS - 1),
        end=today,
        scope=Scope(tuple(p.id for p in programs), None),
    )
    report = orders_report(session, query, OrdersGroup.program)
    clicks = valid_clicks_by(session, query, "program")
    found: dict[str, Performance] = {}
    for program in programs:
        rows = [row for row in report.rows if row.group == program.id]
        own = next((row for row in rows if row.currency == program.currency), None)
        valid = clicks.get(program.id, 0)
        orders = sum(row.orders for row in rows)
        epc = own.kpis.epc if own is not None else None
        found[program.id] = Performance(
            valid_clicks=valid,
            orders=orders,
            conversion_rate=(Decimal(orders) / valid).quantize(RATIO) if valid else None,
            epc=epc if epc is not None or not valid else Decimal(0),
            currency=program.currency,
        )
    return found


def _open_programs(viewer: Viewer) -> list[ColumnElement[bool]]:
    return [visible_programs(viewer.principal), Program.status == "active"]


def _matches_country(program: Program, country: str | None) -> bool:
    return not country or not program.allowed_countries or country in program.allowed_countries


def _page_of_programs(
    session: Session,
    viewer: Viewer,
    *,
    q: str,
    category: str,
    country: str,
    after: str | None,
) -> tuple[list[Program], str | None]:
    """Newest programs first, keyset-paged by id; the country filter (a JSON list) is applied
    here, batch by batch, so a page is always full when enough programs match."""
    conditions = _open_programs(viewer)
    if category:
        conditions.append(Program.category == category)
    if q:
        needle = q.lower()
        conditions.append(
            or_(
                func.lower(Program.name).contains(needle, autoescape=True),
                func.lower(Program.description).contains(needle, autoescape=True),
                func.lower(Program.category).contains(needle, autoescape=True),
            )
        )
    found: list[Program] = []
    cursor = after
    while len(found) <= PAGE_SIZE:
        statement = select(Program).where(*conditions)
        if cursor is not None:
            statement = statement.where(Program.id < cursor)
        batch = session.scalars(statement.order_by(Program.id.desc()).limit(_BATCH)).all()
        found += [p for p in batch if _matches_country(p, country)]
        if len(batch) < _BATCH:
            break
        cursor = batch[-1].id
    if len(found) > PAGE_SIZE:
        return found[:PAGE_SIZE], found[PAGE_SIZE - 1].id
    return found, None


def offers(session: Session, viewer: Viewer, programs: list[Program]) -> list[Offer]:
    ids = [p.id for p in programs]
    if not ids:
        return []
    terms = service.current_terms(session, ids)
    enrollments = {
        e.program_id: e
        for e in session.scalars(
            select(Enrollment).where(
                Enrollment.partner_id == viewer.account_id, Enrollment.program_id.in_(ids)
            )
        )
    }
    advertisers = dict(
        session.execute(
            select(Advertiser.id, Advertiser.name).where(
                Advertiser.id.in_({p.advertiser_id for p in programs})
            )
        ).all()
    )
    performance = performance_of(session, programs)
    answer = []
    for program in programs:
        answer.append(
            Offer(
                program=program,
                advertiser=advertisers.get(program.advertiser_id, ""),
                summary=terms_summary(
                    document_of(terms.get(program.id), program.currency), program.currency
                ),
                countries=countries_text(program.allowed_countries),
                enrollment=enrollments.get(program.id),
                performance=performance[program.id],
            )
        )
    return answer


@router.get("/partner/marketplace", response_class=HTMLResponse)
def marketplace(
    request: Request,
    viewer: PartnerPage,
    q: Annotated[str, Query(max_length=100)] = "",
    category: Annotated[str, Query(max_length=64)] = "",
    country: Annotated[str, Query(max_length=2)] = "",
    after: Annotated[str, Query(max_length=40)] = "",
) -> Response:
    q, category, country = q.strip(), category.strip(), country.strip().upper()
    cursor = after if is_public_id(after, "prg") else None
    with reading() as session:
        programs, next_id = _page_of_programs(
            session, viewer, q=q, category=category, country=country, after=cursor
        )
        listed = offers(session, viewer, programs)
        categories = sorted(
            c
            for c in session.scalars(
                select(Program.category).where(*_open_programs(viewer)).distinct()
            )
            if c
        )
    filters = {"q": q, "category": category, "country": country}
    return render(
        request,
        "partner/marketplace.html",
        {
            "offers": listed,
            "filters": filters,
            "categories": categories,
            "network_days": NETWORK_DAYS,
            "first_url": query_url("/partner/marketplace", **filters) if cursor else None,
            "next_url": query_url("/partner/marketplace", **filters, after=next_id)
            if next_id
            else None,
        },
    )


def _detail(
    request: Request, viewer: Viewer, program_id: str, status: int = 200, **extra: object
) -> Response:
    with reading() as session:
        program = get_visible(
            session,
            Program,
            program_id,
            visible_programs(viewer.principal),
            prefix="prg",
            what="program",
        )
        offer = offers(session, viewer, [program])[0]
        terms = service.current_terms(session, [program.id]).get(program.id)
    doc = document_of(terms, program.currency)
    return render(
        request,
        "partner/program.html",
        {
            "offer": offer,
            "program": program,
            "terms": terms,
            "details": terms_details(doc, program.currency) if doc is not None else None,
            "network_days": NETWORK_DAYS,
            **extra,
        },
        status=status,
    )


@router.get("/partner/marketplace/{program_id}", response_class=HTMLResponse)
def program_page(request: Request, viewer: PartnerPage, program_id: str) -> Response:
    return _detail(request, viewer, program_id)


@router.post("/partner/marketplace/{program_id}/apply")
def apply(
    request: Request,
    viewer: PartnerAction,
    program_id: str,
    message: Annotated[Message, Form()] = "",
) -> Response:
    try:
        with transaction() as session:
            program = get_visible(
                session,
                Program,
                program_id,
                visible_programs(viewer.principal),
                prefix="prg",
                what="program",
            )
            enrollment = service.apply_to_program(session, program, viewer.account_id, message)
            name, state = program.name, enrollment.status
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _detail(
            request,
            viewer,
            program_id,
            status=exc.status,
            error=exc.detail,
            error_field=exc.field or "message",
            message=message,
        )
    text = (
        _("You joined %(name)s.", name=name)
        if state == "approved"
        else _("Application sent to %(name)s: the advertiser will review it.", name=name)
    )
    return redirect(f"/partner/marketplace/{program_id}", text)
