"""The partner pages. `router` is what web/pages.py includes: the overview is here, the other
pages live in partner_*.py and are included below.

- /partner                  the last 30 days: clicks, orders, earnings by status, EPC, CR
- /partner/marketplace      programs to browse and join           (partner_market.py)
- /partner/recommendations  programs, co-promotion partners  (partner_recommendations.py)
- /partner/links            links with QR codes, coupons            (partner_links.py)
- /partner/creatives        creatives with the partner's own link   (partner_links.py)
- /partner/earnings         money by status, from the ledger        (partner_money.py)
- /partner/statement        every commission with its arithmetic    (partner_money.py)
- /partner/postbacks        postback URL templates and their log    (partner_postbacks.py)
- /partner/referrals        recruit link, recruits and what they earned (partner_referrals.py)
- /partner/contests         contests, the partner's referral links  (partner_contests.py)
- /partner/audience         audience size, partners sharing visitors  (partner_audience.py)
- /partner/payouts          balances, held payouts, history, PDFs   (partner_payouts.py)
- /partner/payouts/settings payout details and tax profile          (partner_payout_settings.py)
- /partner/campaigns        co-promotion campaigns, slots, review   (partner_campaigns.py)
- /partner/campaigns/{id}/exchange  the fair-exchange ledger     (partner_exchange.py)

Every page reads through the same scoping as the REST API (api/scoping.py, the report
scope), so a partner only ever sees its own links, commissions and money.
"""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.programs.models import Enrollment
from alliance.reports.queries import ReportQuery, orders_report, resolve_scope, traffic_report
from alliance.reports.schemas import OrdersGroup, TrafficGroup
from alliance.web import (
    partner_audience,
    partner_campaigns,
    partner_caps,
    partner_contests,
    partner_exchange,
    partner_links,
    partner_market,
    partner_money,
    partner_payout_settings,
    partner_payouts,
    partner_postbacks,
    partner_recommendations,
    partner_referrals,
)
from alliance.web.sessions import PartnerPage
from alliance.web.templating import render

router = APIRouter()
# The settings before the payouts: /partner/payouts/settings must not be taken for a payout id.
for _module in (
    partner_market,
    partner_recommendations,
    partner_links,
    partner_money,
    partner_postbacks,
    partner_referrals,
    partner_contests,
    partner_audience,
    partner_payout_settings,
    partner_payouts,
    partner_campaigns,
    partner_exchange,
    partner_caps,
):
    router.include_router(_module.router)

OVERVIEW_DAYS = 30


@router.get("/partner", response_class=HTMLResponse)
def overview(request: Request, viewer: PartnerPage) -> Response:
    today = utcnow().date()
    start = today - timedelta(days=OVERVIEW_DAYS - 1)
    with reading() as session:
        scope = resolve_scope(session, viewer.principal, None, None)
        query = ReportQuery(start=start, end=today, scope=scope)
        traffic = traffic_report(session, query, TrafficGroup.program)
        orders = orders_report(session, query, OrdersGroup.program)
        enrollments = dict(
            session.execute(
                select(Enrollment.status, func.count())
                .where(Enrollment.partner_id == viewer.account_id)
                .group_by(Enrollment.status)
            ).all()
        )
    return render(
        request,
        "partner/overview.html",
        {
            "days": OVERVIEW_DAYS,
            "start": start,
            "end": today,
            "traffic": traffic,
            "orders": orders,
            "enrollments": enrollments,
        },
    )
