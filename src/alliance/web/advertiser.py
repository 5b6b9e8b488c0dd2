"""The advertiser pages: the overview here, the rest in `advertiser_*.py`, all under this one
router (web/pages.py includes it).

The overview shows the last 30 days through the report queries every report uses
(`resolve_scope`, `traffic_report`, `orders_report`), so its figures are the reports' figures,
plus what is waiting for the advertiser: applications and orders to validate.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from alliance.api.scoping import visible_conversions, visible_enrollments
from alliance.clock import utcnow
from alliance.conversions.models import Conversion, ConversionStatus
from alliance.db.engine import reading
from alliance.programs.models import Enrollment, EnrollmentStatus
from alliance.reports.queries import ReportQuery, orders_report, resolve_scope, traffic_report
from alliance.reports.schemas import OrdersGroup, OrdersRow, TrafficGroup
from alliance.web import (
    advertiser_assets,
    advertiser_bundles,
    advertiser_contests,
    advertiser_orders,
    advertiser_partners,
    advertiser_programs,
    advertiser_recommendations,
    advertiser_setup,
)
from alliance.web.advertiser_common import own_programs
from alliance.web.sessions import AdvertiserPage
from alliance.web.templating import render

router = APIRouter()
for _module in (
    advertiser_programs,
    advertiser_partners,
    advertiser_orders,
    advertiser_assets,
    advertiser_setup,
    advertiser_bundles,
    advertiser_contests,
    advertiser_recommendations,
):
    router.include_router(_module.router)

OVERVIEW_DAYS = 30
RATIO = Decimal("0.0001")


@dataclass(frozen=True, slots=True)
class Overview:
    clicks: int
    valid_clicks: int
    orders: int
    conversion_rate: Decimal | None
    money: list[OrdersRow]  # one row per currency: sales, commission, EPC
    by_program: list[OrdersRow]


@router.get("/advertiser", response_class=HTMLResponse)
def overview(request: Request, viewer: AdvertiserPage) -> Response:
    today = utcnow().date()
    start = today - timedelta(days=OVERVIEW_DAYS - 1)
    with reading() as session:
        programs = own_programs(session, viewer)
        scope = resolve_scope(session, viewer.principal, None, None)
        query = ReportQuery(start=start, end=today, scope=scope)
        traffic = traffic_report(session, query, TrafficGroup.program)
        orders = orders_report(session, query, OrdersGroup.program)
        pending_applications = session.scalar(
            select(func.count())
            .select_from(Enrollment)
            .where(
                visible_enrollments(viewer.principal),
                Enrollment.status == EnrollmentStatus.applied.value,
            )
        )
        pending_orders = session.scalar(
            select(func.count())
            .select_from(Conversion)
            .where(
                visible_conversions(viewer.principal),
                Conversion.status == ConversionStatus.pending.value,
            )
        )
    total_orders = sum(row.orders for row in orders.totals)
    valid = traffic.totals.valid_clicks
    figures = Overview(
        clicks=traffic.totals.clicks,
        valid_clicks=valid,
        orders=total_orders,
        conversion_rate=(Decimal(total_orders) / valid).quantize(RATIO) if valid else None,
        money=orders.totals,
        by_program=orders.rows,
    )
    context = {
        "programs": programs,
        "figures": figures,
        "start": start,
        "end": today,
        "days": OVERVIEW_DAYS,
        "pending_applications": pending_applications or 0,
        "pending_orders": pending_orders or 0,
    }
    return render(request, "advertiser/overview.html", context)
