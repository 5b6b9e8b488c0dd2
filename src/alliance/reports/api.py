"""GET /api/v1/reports/{traffic|orders|refunds|transactions}: JSON or CSV (`format=csv`);
GET /api/v1/reports/{kpis|timeseries}: the dashboards' headline numbers and chart (JSON).

Thin: parse and check the parameters, fold the caller's account into the scope, run one
query function, serialise. Every account sees only its own data (see queries.resolve_scope).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response, StreamingResponse
from pydantic import BaseModel

from alliance.api.deps import Caller, ReadDB
from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.errors import InvalidInput
from alliance.reports import convert, export, kpis, queries
from alliance.reports.schemas import (
    Device,
    KpiSummary,
    OrdersGroup,
    OrdersReport,
    RefundsGroup,
    RefundsReport,
    ReportFormat,
    RoiGroup,
    RoiReport,
    TimeSeries,
    TrafficGroup,
    TrafficReport,
    TransactionsPage,
    resolve_period,
)

router = APIRouter(prefix="/api/v1/reports", tags=["reports"])

_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}
}


@dataclass(frozen=True, slots=True)
class ReportParams:
    start: date | None
    end: date | None
    program_id: str | None
    partner_id: str | None
    filters: queries.Filters
    format: ReportFormat
    currency: str | None = None


def report_params(
    from_: Annotated[
        date | None, Query(alias="from", description="First UTC day (YYYY-MM-DD), inclusive")
    ] = None,
    to: Annotated[date | None, Query(description="Last UTC day, inclusive; default today")] = None,
    program_id: Annotated[str | None, Query(max_length=32)] = None,
    partner_id: Annotated[str | None, Query(max_length=32)] = None,
    sub1: Annotated[str | None, Query(max_length=255)] = None,
    country: Annotated[
        str | None, Query(pattern="^[A-Za-z]{2}$", description="ISO 3166 alpha-2")
    ] = None,
    device: Device | None = None,
    format_: Annotated[ReportFormat, Query(alias="format")] = ReportFormat.json,
    currency: Annotated[
        str | None,
        Query(
            max_length=3,
            description="ISO 4217 code the ECB quotes (EUR, USD, SEK, ...): every amount "
            "converted to it at the ECB rate of its own UTC day. Absent: each amount in its "
            "own currency (orders' in the order's, commissions' in the program's)",
        ),
    ] = None,
) -> ReportParams:
    filters = queries.Filters(
        sub1=sub1 or None,  # an empty sub-id is no sub-id (the redirect never stores one)
        country=country.upper() if country else None,
        device=device.value if device else None,
    )
    return ReportParams(from_, to, program_id, partner_id, filters, format_, currency or None)


Params = Annotated[ReportParams, Depends(report_params)]


def _query(session: ReadDB, who: Caller, params: ReportParams) -> queries.ReportQuery:
    start, end = resolve_period(params.start, params.end, utcnow().date())
    scope = queries.resolve_scope(session, who, params.program_id, params.partner_id)
    fx = convert.converter(session, params.currency, start, end)
    return queries.ReportQuery(start, end, scope, params.filters, fx)


def _json(model: BaseModel) -> Response:
    # Serialised once by Pydantic: decimals as strings, `from_` under its public name.
    return Response(model.model_dump_json(by_alias=True), media_type="application/json")


def _csv(name: str, q: queries.ReportQuery, body: str | Iterator[str]) -> Response:
    filename = f"{name}-{q.start.isoformat()}-{q.end.isoformat()}.csv"
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if isinstance(body, str):
        return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
    return StreamingResponse(body, media_type="text/csv; charset=utf-8", headers=headers)


@router.get("/traffic", response_model=TrafficReport, responses=_CSV)
def traffic(
    session: ReadDB, who: Caller, params: Params, group_by: TrafficGroup = TrafficGroup.day
) -> Response:
    """Clicks, unique visitors, valid and bot clicks per group."""
    q = _query(session, who, params)
    report = queries.traffic_report(session, q, group_by)
    if params.format is ReportFormat.csv:
        rows = (export.traffic_record(r) for r in report.rows)
        return _csv("traffic", q, export.to_csv(export.TRAFFIC_COLUMNS, rows))
    return _json(report)


@router.get("/orders", response_model=OrdersReport, responses=_CSV)
def orders(
    session: ReadDB, who: Caller, params: Params, group_by: OrdersGroup = OrdersGroup.day
) -> Response:
    """Orders, sales and commission by status per group and currency, with KPIs."""
    q = _query(session, who, params)
    report = queries.orders_report(session, q, group_by)
    if params.format is ReportFormat.csv:
        rows = (export.orders_record(r) for r in report.rows)
        return _csv("orders", q, export.to_csv(export.ORDERS_COLUMNS, rows))
    return _json(report)


@router.get("/refunds", response_model=RefundsReport, responses=_CSV)
def refunds(
    session: ReadDB, who: Caller, params: Params, group_by: RefundsGroup = RefundsGroup.day
) -> Response:
    """Refunds, refunded amount and commission taken back per group and currency."""
    q = _query(session, who, params)
    report = queries.refunds_report(session, q, group_by)
    if params.format is ReportFormat.csv:
        rows = (export.refunds_record(r) for r in report.rows)
        return _csv("refunds", q, export.to_csv(export.REFUNDS_COLUMNS, rows))
    return _json(report)


def _json_only(params: ReportParams) -> None:
    if params.format is not ReportFormat.json:
        raise InvalidInput("this report is JSON only", field="format")


@router.get("/kpis", response_model=KpiSummary)
def kpi_summary(session: ReadDB, who: Caller, params: Params) -> Response:
    """Clicks, partner retention against the previous period of equal length, and per
    currency orders, sales, commission, conversion rate, EPC, AOV, refund rate, ROI (not for
    partners) and customer lifetime value."""
    _json_only(params)
    return _json(kpis.kpi_summary(session, _query(session, who, params)))


@router.get("/roi", response_model=RoiReport, responses=_CSV)
def roi(
    session: ReadDB, who: Caller, params: Params, group_by: RoiGroup = RoiGroup.country
) -> Response:
    """ROI for the advertiser, (net sales - commission value) / commission value, with
    orders, revenue and cost, per buyer country or per order currency. In one `currency`
    (converted at each day's ECB rate), required when some orders earn commission in another
    currency than their own (422 naming `currency`); otherwise per currency. Not for
    partners (403)."""
    q = _query(session, who, params)
    report = kpis.roi_report(session, q, group_by)
    if params.format is ReportFormat.csv:
        rows = (export.roi_record(r) for r in report.rows)
        return _csv(f"roi-{group_by.value}", q, export.to_csv(export.ROI_COLUMNS, rows))
    return _json(report)


@router.get("/timeseries", response_model=TimeSeries)
def time_series(session: ReadDB, who: Caller, params: Params) -> Response:
    """One point per UTC day of the period: clicks, valid clicks, orders, sales and
    commission per currency (for charts; days without data are zeros)."""
    _json_only(params)
    return _json(kpis.time_series(session, _query(session, who, params)))


@router.get("/transactions", response_model=TransactionsPage, responses=_CSV)
def transactions(
    session: ReadDB,
    who: Caller,
    params: Params,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> Response:
    """Every order with its commission, rule, arithmetic, click path and status history.

    JSON is one page (`next_cursor` for the next); CSV is every order of the period.
    """
    q = _query(session, who, params)
    if params.format is ReportFormat.csv:
        return _csv("transactions", q, _stream_transactions(q))
    return _json(queries.transactions_page(session, q, cursor=cursor, limit=limit))


def _stream_transactions(q: queries.ReportQuery) -> Iterator[str]:
    # Its own session: the request's session is closed once the endpoint returns, while the
    # body is still being streamed page by page.
    with reading() as session:
        records: Iterator[dict[str, Any]] = (
            export.transaction_record(tx) for tx in queries.iter_transactions(session, q)
        )
        yield from export.csv_lines(export.transactions_columns(q.currency), records)
