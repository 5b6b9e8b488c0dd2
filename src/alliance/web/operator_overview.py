"""/operator: the network at a glance, read through the same report queries as the API.

Totals for the period (clicks, valid clicks, orders; sales and commission per currency, by
status) and the top 10 programs and partners. Amounts in different currencies are never
added together: the top lists rank within one currency, chosen on the page (by default the
one with the most orders).
"""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from alliance.db.engine import reading
from alliance.reports import queries
from alliance.reports.schemas import OrdersGroup, OrdersRow, TrafficGroup
from alliance.web.i18n import N_, options
from alliance.web.operator_common import period
from alliance.web.sessions import OperatorPage
from alliance.web.templating import render

router = APIRouter()

TOP = 10
RANKS = {"sales": N_("Sales"), "commission": N_("Commission")}


def _top(rows: list[OrdersRow], currency: str, rank: str) -> list[OrdersRow]:
    def score(row: OrdersRow) -> tuple[object, ...]:
        value = row.sales if rank == "sales" else row.commission.value
        return (-value, -row.orders, row.label or row.group or "")

    return sorted((r for r in rows if r.currency == currency), key=score)[:TOP]


@router.get("/operator", response_class=HTMLResponse)
def overview(
    request: Request,
    viewer: OperatorPage,
    from_: Annotated[str | None, Query(alias="from", max_length=10)] = None,
    to: Annotated[str | None, Query(max_length=10)] = None,
    currency: Annotated[str | None, Query(max_length=3)] = None,
    rank: Literal["sales", "commission"] = "sales",
) -> Response:
    start, end = period(from_, to)
    with reading() as session:
        scope = queries.resolve_scope(session, viewer.principal, None, None)
        q = queries.ReportQuery(start, end, scope)
        traffic = queries.traffic_report(session, q, TrafficGroup.program).totals
        by_program = queries.orders_report(session, q, OrdersGroup.program)
        by_partner = queries.orders_report(session, q, OrdersGroup.partner)
    totals = by_program.totals
    currencies = [t.currency for t in totals]
    if currency not in currencies:
        # The currency with the most orders ranks by default; ties go to the first code.
        busiest = sorted(totals, key=lambda t: (-t.orders, t.currency))
        currency = busiest[0].currency if busiest else None
    context = {
        "start": start,
        "end": end,
        "traffic": traffic,
        "bot_share": (traffic.bot_clicks / traffic.clicks) if traffic.clicks else None,
        "orders": sum(t.orders for t in totals),
        "totals": totals,
        "currencies": currencies,
        "currency_options": [(c, c) for c in currencies],
        "currency": currency,
        "rank": rank,
        "ranks": options(RANKS.items()),
        "top_programs": _top(by_program.rows, currency, rank) if currency else [],
        "top_partners": _top(by_partner.rows, currency, rank) if currency else [],
    }
    return render(request, "operator/overview.html", context)
