"""The reports pages: /reports (KPIs and charts) and one tab per report, for all three roles.

Thin, like the REST API (reports/api.py): parse the filters, fold the viewer's account into
the scope with `queries.resolve_scope` (an advertiser naming another's program gets 404),
run the same query functions, render. Charts are SVG drawn here on the server
(web/charts.py); tables sort and page on the server; CSV and XLSX exports take the same
filters and scope, and are defused against formula injection (reports/export.py, xlsx.py).

The filter form is a GET form, so every view is a shareable URL. With htmx, submitting it
swaps only the report region (`hx-select`); without JavaScript it is an ordinary GET.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from decimal import Decimal
from functools import partial
from typing import IO, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind, Partner
from alliance.api.scoping import visible_partners, visible_programs
from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.errors import InvalidInput, NotFound
from alliance.payouts import fx
from alliance.programs.models import Enrollment, Program
from alliance.reports import convert, export, kpis, queries, xlsx
from alliance.reports.schemas import (
    Device,
    OrdersGroup,
    OrdersReport,
    OrdersRow,
    RefundsGroup,
    RoiGroup,
    RoiReport,
    TrafficGroup,
    TrafficRow,
    parse_day,
    resolve_period,
)
from alliance.web import charts
from alliance.web.i18n import N_, _, ngettext
from alliance.web.partner_common import country_name
from alliance.web.sessions import SignedIn, Viewer
from alliance.web.templating import day, money, number, percent, render

router = APIRouter()

PAGE_SIZE = 50
OPTIONS_LIMIT = 200  # more programs or partners than this: a text field for the id
TOP = 10  # bars in a breakdown chart
REPORTS = ("traffic", "orders", "refunds", "transactions")
EXPORTS = (*REPORTS, "roi")  # ROI: the overview's tables, by buyer country or order currency
# Page titles (translated when shown; the XLSX sheet names keep the English: exports are
# machine-readable and the same for every reader).
TITLES = {
    "overview": N_("Overview"),
    "traffic": N_("Traffic"),
    "orders": N_("Orders"),
    "refunds": N_("Refunds"),
    "transactions": N_("Transactions"),
    "roi": N_("ROI"),
}
GROUPS: dict[str, type[TrafficGroup] | type[OrdersGroup] | type[RefundsGroup] | type[RoiGroup]] = {
    "traffic": TrafficGroup,
    "orders": OrdersGroup,
    "refunds": RefundsGroup,
    "roi": RoiGroup,
}
BREAKDOWNS = ("partner", "program", "country", "device", "sub1")
FILTER_KEYS = ("from", "to", "program_id", "partner_id", "sub1", "country", "device", "currency")
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


# --- the filters ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Params:
    """The query string, checked. `raw` keeps the non-empty values as typed, for URLs."""

    start: date
    end: date
    program_id: str | None
    partner_id: str | None
    filters: queries.Filters
    group_by: str | None = None
    currency: str | None = None  # every amount in it, each day at its ECB rate
    breakdown: str = "partner"
    sort: str | None = None
    direction: str = "asc"
    page: int = 1
    cursor: str | None = None
    raw: dict[str, str] = field(default_factory=dict)


def _raw(request: Request) -> dict[str, str]:
    keep = (*FILTER_KEYS, "group_by", "breakdown", "sort", "dir", "page", "cursor")
    return {k: v.strip() for k, v in request.query_params.items() if k in keep and v.strip()}


def _text(raw: dict[str, str], key: str, limit: int) -> str | None:
    value = raw.get(key)
    if value is not None and len(value) > limit:
        raise InvalidInput(f"{key} is at most {limit} characters", field=key)
    return value


def parse_params(raw: dict[str, str], report: str, viewer: Viewer, today: date) -> Params:
    """Check every filter; an InvalidInput names the field that is wrong."""
    start, end = resolve_period(
        parse_day(raw.get("from"), "from"), parse_day(raw.get("to"), "to"), today
    )
    country = raw.get("country")
    if country is not None:
        if len(country) != 2 or not country.isascii() or not country.isalpha():
            raise InvalidInput("country must be a two-letter code such as DE", field="country")
        country = country.upper()
    device = raw.get("device")
    if device is not None and device not in {d.value for d in Device}:
        raise InvalidInput(
            "device must be one of " + ", ".join(d.value for d in Device), field="device"
        )
    group_by = None
    if report in GROUPS:
        allowed = [g.value for g in GROUPS[report]]
        group_by = raw.get("group_by", allowed[0])
        if group_by not in allowed:
            raise InvalidInput("group_by must be one of " + ", ".join(allowed), field="group_by")
    breakdowns = _breakdowns(viewer)
    breakdown = raw.get("breakdown", breakdowns[0])
    if breakdown not in breakdowns:
        raise InvalidInput("breakdown must be one of " + ", ".join(breakdowns), field="breakdown")
    direction = raw.get("dir", "asc")
    if direction not in ("asc", "desc"):
        raise InvalidInput("dir must be asc or desc", field="dir")
    page_text = raw.get("page", "1")
    if not page_text.isdigit() or not 1 <= int(page_text) <= 1_000_000:
        raise InvalidInput("page must be a whole number from 1", field="page")
    return Params(
        start=start,
        end=end,
        program_id=_text(raw, "program_id", 32),
        partner_id=_text(raw, "partner_id", 32),
        filters=queries.Filters(sub1=_text(raw, "sub1", 255), country=country, device=device),
        group_by=group_by,
        currency=_text(raw, "currency", 3),
        breakdown=breakdown,
        sort=_text(raw, "sort", 40),
        direction=direction,
        page=int(page_text),
        cursor=_text(raw, "cursor", 500),
        raw=raw,
    )


def _breakdowns(viewer: Viewer) -> tuple[str, ...]:
    if viewer.kind is AccountKind.partner:
        return tuple(b for b in BREAKDOWNS if b != "partner")
    return BREAKDOWNS


def _query(session: Session, viewer: Viewer, params: Params) -> queries.ReportQuery:
    scope = queries.resolve_scope(session, viewer.principal, params.program_id, params.partner_id)
    fx = convert.converter(session, params.currency, params.start, params.end)
    return queries.ReportQuery(params.start, params.end, scope, params.filters, fx)


def url(path: str, raw: dict[str, str], **changes: object) -> str:
    """`path` with the current query string, some values changed (None or "" drops one)."""
    values = {**raw, **{k: str(v) for k, v in changes.items() if v is not None}}
    for k, v in changes.items():
        if v is None or v == "":
            values.pop(k, None)
    query = urlencode({k: v for k, v in values.items() if v != ""})
    return f"{path}?{query}" if query else path


def _filters_only(raw: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in raw.items() if k in FILTER_KEYS}


# --- the select options -----------------------------------------------------------------


def _program_options(session: Session, viewer: Viewer) -> list[tuple[str, str]] | None:
    """The programs the viewer can report on (None: too many for a select)."""
    who = viewer.principal
    stmt = select(Program.id, Program.name)
    if who.is_partner:
        stmt = stmt.where(
            Program.id.in_(select(Enrollment.program_id).where(Enrollment.partner_id == who.id))
        )
    else:
        stmt = stmt.where(visible_programs(who))
    rows = session.execute(stmt.order_by(Program.name, Program.id).limit(OPTIONS_LIMIT + 1))
    found = [(r[0], r[1]) for r in rows]
    return None if len(found) > OPTIONS_LIMIT else found


def _partner_options(session: Session, viewer: Viewer) -> list[tuple[str, str]] | None:
    stmt = select(Partner.id, Partner.name).where(visible_partners(viewer.principal))
    rows = session.execute(stmt.order_by(Partner.name, Partner.id).limit(OPTIONS_LIMIT + 1))
    found = [(r[0], r[1]) for r in rows]
    return None if len(found) > OPTIONS_LIMIT else found


# --- table columns ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: how to read its value from a row, and how to show it (`kind`)."""

    key: str
    label: str
    kind: str  # group | text | int | money | money4 | ratio
    get: Callable[[Any], Any]

    @property
    def numeric(self) -> bool:
        return self.kind not in ("group", "text")


def _group_value(row: Any) -> Any:
    return row.label or row.group


TRAFFIC_COLUMNS = (
    Column("group", N_("Group"), "group", _group_value),
    Column("clicks", N_("Clicks"), "int", lambda r: r.clicks),
    Column("unique_visitors", N_("Unique clicks"), "int", lambda r: r.unique_visitors),
    Column("valid_clicks", N_("Valid clicks"), "int", lambda r: r.valid_clicks),
    # Bots and visitors from countries the program does not allow (geo-targeting).
    Column("invalid_clicks", N_("Invalid clicks"), "int", lambda r: r.invalid_clicks),
    Column(
        "unique_valid_visitors", N_("Unique valid clicks"), "int", lambda r: r.unique_valid_visitors
    ),
)
ORDERS_COLUMNS = (
    Column("group", N_("Group"), "group", _group_value),
    Column("currency", N_("Currency"), "text", lambda r: r.currency),
    Column("orders", N_("Orders"), "int", lambda r: r.orders),
    Column("refunded_orders", N_("Refunded orders"), "int", lambda r: r.refunded_orders),
    Column("declined_orders", N_("Declined orders"), "int", lambda r: r.declined_orders),
    Column("sales", N_("Sales"), "money", lambda r: r.sales),
    Column("refunded", N_("Refunded"), "money", lambda r: r.refunded),
    Column("net_sales", N_("Net sales"), "money", lambda r: r.net_sales),
    Column("commission_value", N_("Commission"), "money", lambda r: r.commission.value),
    Column("commission_pending", N_("Pending"), "money", lambda r: r.commission.pending),
    Column("commission_approved", N_("Approved"), "money", lambda r: r.commission.approved),
    Column("commission_paid", N_("Paid"), "money", lambda r: r.commission.paid),
    Column("valid_clicks", N_("Valid clicks"), "int", lambda r: r.valid_clicks),
    Column("conversion_rate", N_("Conversion rate"), "ratio", lambda r: r.kpis.conversion_rate),
    Column("epc", N_("EPC"), "money4", lambda r: r.kpis.epc),
    Column("aov", N_("AOV"), "money", lambda r: r.kpis.aov),
    Column("refund_rate", N_("Refund rate"), "ratio", lambda r: r.kpis.refund_rate),
    Column("roi", N_("ROI"), "ratio", lambda r: r.kpis.roi),
)
REFUNDS_COLUMNS = (
    Column("group", N_("Group"), "group", _group_value),
    Column("currency", N_("Currency"), "text", lambda r: r.currency),
    Column("refunds", N_("Refunds"), "int", lambda r: r.refunds),
    Column("refunded_orders", N_("Refunded orders"), "int", lambda r: r.refunded_orders),
    Column("refunded_amount", N_("Refunded amount"), "money", lambda r: r.refunded_amount),
    Column(
        "reversed_commission", N_("Commission taken back"), "money", lambda r: r.reversed_commission
    ),
)


def columns_of(report: str, sees_roi: bool) -> tuple[Column, ...]:
    if report == "traffic":
        return TRAFFIC_COLUMNS
    if report == "orders":
        return tuple(c for c in ORDERS_COLUMNS if sees_roi or c.key != "roi")
    return REFUNDS_COLUMNS


def sort_rows(
    rows: Sequence[Any], columns: Sequence[Column], key: str | None, direction: str
) -> list[Any]:
    """Rows ordered by one column; empty values always last. No key: the report's order."""
    if key is None:
        return list(rows)
    column = next((c for c in columns if c.key == key), None)
    if column is None:
        raise InvalidInput("sort must be one of " + ", ".join(c.key for c in columns), field="sort")
    present = [r for r in rows if column.get(r) is not None]
    missing = [r for r in rows if column.get(r) is None]

    def value(row: Any) -> Any:
        v = column.get(row)
        return str(v).casefold() if not column.numeric else v

    return sorted(present, key=value, reverse=direction == "desc") + missing


@dataclass(frozen=True, slots=True)
class Paged:
    rows: list[Any]
    page: int
    pages: int
    total: int
    first: int  # 1-based number of the first row shown


def page_of(rows: Sequence[Any], page: int) -> Paged:
    pages = max(1, -(-len(rows) // PAGE_SIZE))
    page = min(page, pages)
    begin = (page - 1) * PAGE_SIZE
    return Paged(list(rows[begin : begin + PAGE_SIZE]), page, pages, len(rows), begin + 1)


# --- charts -----------------------------------------------------------------------------


def _days(start: date, end: date) -> list[date]:
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def _day_label(value: str | None) -> str:
    return day(date.fromisoformat(value)) if value else _("(none)")


def traffic_chart(chart_id: str, rows: Sequence[TrafficRow], start: date, end: date) -> Markup:
    by_day = {r.group: r for r in rows}
    labels = [d.isoformat() for d in _days(start, end)]
    return charts.line_chart(
        chart_id,
        _("Clicks per day"),
        _(
            "Clicks and valid clicks per UTC day from %(start)s to %(end)s; the table lists them.",
            start=day(start),
            end=day(end),
        ),
        [_day_label(d) for d in labels],
        [
            charts.Series(_("Clicks"), [by_day[d].clicks if d in by_day else 0 for d in labels]),
            charts.Series(
                _("Valid clicks"), [by_day[d].valid_clicks if d in by_day else 0 for d in labels]
            ),
        ],
        y_label=_("Clicks"),
        x_label=_("Day"),
    )


@dataclass(frozen=True, slots=True)
class Figure:
    """A chart with its legend and the same numbers as a small table."""

    svg: Markup
    legend: Markup | None
    head: tuple[str, ...]
    rows: list[tuple[str, ...]]
    caption: str = ""


def _day_series_figures(
    report: OrdersReport, start: date, end: date
) -> tuple[Figure, list[Figure]]:
    """Orders per day (all currencies), then sales and commission per day in each currency."""
    labels = [d.isoformat() for d in _days(start, end)]
    orders = dict.fromkeys(labels, 0)
    money_rows: dict[str, dict[str, OrdersRow]] = {}
    for row in report.rows:
        if row.group in orders:
            orders[row.group] += row.orders
        money_rows.setdefault(row.currency, {})[row.group or ""] = row
    orders_fig = Figure(
        charts.line_chart(
            "chart-orders",
            _("Orders per day"),
            _(
                "Orders and leads per UTC day from %(start)s to %(end)s, all currencies.",
                start=day(start),
                end=day(end),
            ),
            [_day_label(d) for d in labels],
            [charts.Series(_("Orders"), [orders[d] for d in labels])],
            y_label=_("Orders"),
            x_label=_("Day"),
        ),
        charts.legend([_("Orders")]),
        (_("Day"), _("Orders")),
        [(_day_label(d), number(orders[d])) for d in labels],
        caption=_("Orders per day"),
    )
    money_figs = []
    for cur, rows in sorted(money_rows.items()):
        sales = [rows[d].sales if d in rows else Decimal(0) for d in labels]
        commission = [rows[d].commission.value if d in rows else Decimal(0) for d in labels]
        money_figs.append(
            Figure(
                charts.line_chart(
                    f"chart-money-{cur.lower()}",
                    _("Sales and commission per day (%(currency)s)", currency=cur),
                    _(
                        "Sales and commission value in %(currency)s per UTC day"
                        " from %(start)s to %(end)s.",
                        currency=cur,
                        start=day(start),
                        end=day(end),
                    ),
                    [_day_label(d) for d in labels],
                    [
                        charts.Series(_("Sales"), sales),
                        charts.Series(_("Commission"), commission),
                    ],
                    y_label=cur,
                    x_label=_("Day"),
                    fmt=partial(money, currency=cur),
                ),
                charts.legend([_("Sales"), _("Commission")]),
                (
                    _("Day"),
                    _("Sales (%(currency)s)", currency=cur),
                    _("Commission (%(currency)s)", currency=cur),
                ),
                [
                    (_day_label(d), money(s, cur), money(c, cur))
                    for d, s, c in zip(labels, sales, commission, strict=True)
                ],
                caption=_("Sales and commission per day (%(currency)s)", currency=cur),
            )
        )
    return orders_fig, money_figs


def bar_figure(
    chart_id: str,
    title: str,
    bars: list[tuple[str, Decimal | int]],
    value_label: str,
    fmt: Callable[[Any], str] = charts.plain,
) -> Figure:
    top = sorted(bars, key=lambda b: b[1], reverse=True)[:TOP]
    return Figure(
        charts.bar_chart(
            chart_id,
            title,
            _(
                "The %(shown)s largest of %(total)s, largest first; the table lists them.",
                shown=number(len(top)),
                total=number(len(bars)),
            ),
            top,
            value_label=value_label,
            fmt=fmt,
        ),
        None,
        (_("Group"), value_label),
        [(label, fmt(value)) for label, value in top],
        caption=title,
    )


def _row_name(row: Any) -> str:
    return str(row.label or row.group or _("(none)"))


# --- loading each view ------------------------------------------------------------------


def _kpi_blocks(report: OrdersReport) -> list[OrdersRow]:
    """The KPIs strip: one block per currency, from the orders report totals."""
    return list(report.totals)


def _extra_kpis(session: Session, q: queries.ReportQuery) -> list[tuple[str, str, str | None]]:
    """Partner retention and customer lifetime value, from the rollups (reports/kpis.py)."""
    summary = kpis.kpi_summary(session, q)
    found: list[tuple[str, str, str | None]] = []
    if q.scope.viewer is not AccountKind.partner:  # a partner is the only partner it sees
        found.append(
            (
                _("Partner retention"),
                percent(summary.partner_retention),
                _(
                    "%(retained)s of %(previous)s partners active %(start)s to %(end)s"
                    " still active",
                    retained=number(summary.retained_partners),
                    previous=number(summary.previous_active_partners),
                    start=day(summary.previous_from),
                    end=day(summary.previous_to),
                ),
            )
        )
    for entry in summary.currencies:
        if entry.new_customers:
            found.append(
                (
                    _("Customer lifetime value (%(currency)s)", currency=entry.currency),
                    money(entry.customer_lifetime_value, entry.currency),
                    ngettext(
                        "net sales to date of %(count)s new customer",
                        "net sales to date of %(count)s new customers",
                        entry.new_customers,
                        count=number(entry.new_customers),
                    ),
                )
            )
    return found


@dataclass(frozen=True, slots=True)
class RoiTables:
    """ROI by buyer country and by order currency, with a readable name per group."""

    by_country: RoiReport
    by_currency: RoiReport
    names: dict[str, str]  # country code -> the country's name in the reader's language
    # Set when no currency was chosen but one was needed: the one the tables are in.
    defaulted: str | None = None
    exports: dict[str, tuple[str, str]] = field(default_factory=dict)  # group -> CSV, XLSX

    def with_exports(self, raw: dict[str, str]) -> RoiTables:
        """The tables' CSV and XLSX links: the page's filters, in the tables' currency."""
        filters = _filters_only(raw) | ({"currency": self.defaulted} if self.defaulted else {})
        links = {
            g.value: (
                url("/reports/roi.csv", filters, group_by=g.value),
                url("/reports/roi.xlsx", filters, group_by=g.value),
            )
            for g in RoiGroup
        }
        return replace(self, exports=links)


def load_roi(session: Session, q: queries.ReportQuery, busiest: str | None) -> RoiTables | None:
    """The ROI tables for the advertiser and the operator (None for a partner).

    In the chosen currency; without one, per currency, unless some orders earn commission in
    another currency than their own: revenue and cost are then compared in `busiest` (the
    currency with the most orders), converted at each day's ECB rate, and the page says so.
    """
    if not q.scope.sees_roi:
        return None
    defaulted = None
    try:
        by_country = kpis.roi_report(session, q, RoiGroup.country)
    except InvalidInput as exc:
        if exc.field != "currency" or q.fx is not None or busiest is None:
            raise
        defaulted = busiest
        q = replace(q, fx=convert.Converter(busiest, q.start, q.end))
        by_country = kpis.roi_report(session, q, RoiGroup.country)
    by_currency = kpis.roi_report(session, q, RoiGroup.currency)
    names = {r.group: country_name(r.group) for r in by_country.rows if r.group}
    return RoiTables(by_country, by_currency, names, defaulted)


def load_overview(session: Session, q: queries.ReportQuery, params: Params) -> dict[str, Any]:
    traffic = queries.traffic_report(session, q, TrafficGroup.day)
    orders = queries.orders_report(session, q, OrdersGroup.day)
    breakdown = queries.traffic_report(session, q, TrafficGroup(params.breakdown))
    orders_fig, money_figs = _day_series_figures(orders, q.start, q.end)
    by_day = {r.group: r for r in traffic.rows}
    days = [d.isoformat() for d in _days(q.start, q.end)]
    traffic_fig = Figure(
        traffic_chart("chart-clicks", traffic.rows, q.start, q.end),
        charts.legend([_("Clicks"), _("Valid clicks")]),
        (_("Day"), _("Clicks"), _("Valid clicks")),
        [
            (
                _day_label(d),
                number(by_day[d].clicks if d in by_day else 0),
                number(by_day[d].valid_clicks if d in by_day else 0),
            )
            for d in days
        ],
        caption=_("Clicks per day"),
    )
    label = _(dict(BREAKDOWN_LABELS)[params.breakdown])
    figures = [
        bar_figure(
            "chart-breakdown",
            _("Valid clicks by %(group)s", group=label),
            [(_row_name(r), r.valid_clicks) for r in breakdown.rows],
            _("Valid clicks"),
        )
    ]
    if params.breakdown in ("partner", "program"):
        by_group = queries.orders_report(session, q, OrdersGroup(params.breakdown))
        for cur in sorted({r.currency for r in by_group.rows}):
            figures.append(
                bar_figure(
                    f"chart-sales-{cur.lower()}",
                    _("Sales by %(group)s (%(currency)s)", group=label, currency=cur),
                    [(_row_name(r), r.sales) for r in by_group.rows if r.currency == cur],
                    _("Sales (%(currency)s)", currency=cur),
                    fmt=partial(money, currency=cur),
                )
            )
    busiest = min(orders.totals, key=lambda t: (-t.orders, t.currency), default=None)
    roi = load_roi(session, q, busiest.currency if busiest else None)
    return {
        "traffic": traffic,
        "kpi_blocks": _kpi_blocks(orders),
        "extra_kpis": _extra_kpis(session, q),
        "roi": roi.with_exports(params.raw) if roi else None,
        "line_figures": [traffic_fig, orders_fig, *money_figs],
        "bar_figures": figures,
    }


def load_table(
    session: Session, q: queries.ReportQuery, params: Params, report: str
) -> dict[str, Any]:
    group = params.group_by or "day"
    rows: Sequence[Any]
    totals: list[Any]
    extra: dict[str, Any] = {}
    if report == "traffic":
        traffic = queries.traffic_report(session, q, TrafficGroup(group))
        rows, totals = traffic.rows, [traffic.totals]
        if group == "day":
            extra["figure"] = Figure(
                traffic_chart("chart-clicks", traffic.rows, q.start, q.end),
                charts.legend([_("Clicks"), _("Valid clicks")]),
                (),
                [],
                caption=_("Clicks per day"),
            )
        else:
            extra["figure"] = bar_figure(
                "chart-breakdown",
                _("Valid clicks by %(group)s", group=group),
                [(_row_name(r), r.valid_clicks) for r in traffic.rows],
                _("Valid clicks"),
            )
    elif report == "orders":
        orders = queries.orders_report(session, q, OrdersGroup(group))
        rows, totals = orders.rows, list(orders.totals)
        extra["kpi_blocks"] = _kpi_blocks(orders)
        extra["extra_kpis"] = _extra_kpis(session, q)
    else:
        refunds = queries.refunds_report(session, q, RefundsGroup(group))
        rows, totals = refunds.rows, list(refunds.totals)
    columns = columns_of(report, q.scope.sees_roi)
    ordered = sort_rows(rows, columns, params.sort, params.direction)
    return {"columns": columns, "paged": page_of(ordered, params.page), "totals": totals, **extra}


def load_transactions(session: Session, q: queries.ReportQuery, params: Params) -> dict[str, Any]:
    page = queries.transactions_page(session, q, cursor=params.cursor, limit=PAGE_SIZE)
    return {"transactions": page}


# --- the pages --------------------------------------------------------------------------


BREAKDOWN_LABELS = (
    ("partner", N_("Partner")),
    ("program", N_("Program")),
    ("country", N_("Country")),
    ("device", N_("Device")),
    ("sub1", N_("Sub-id")),
)


def _page(request: Request, viewer: Viewer, view: str) -> Response:
    raw = _raw(request)
    htmx = bool(request.headers.get("hx-request")) and not request.headers.get("hx-boosted")
    base = f"/reports/{view}" if view != "overview" else "/reports"
    context: dict[str, Any] = {
        "view": view,
        "title": _("Reports · %(title)s", title=_(TITLES[view])),
        "titles": {key: _(title) for key, title in TITLES.items()},
        "raw": raw,
        "base": base,
        "url": url,
        "filters_only": _filters_only(raw),
        "export_raw": {k: v for k, v in raw.items() if k not in ("page", "cursor")},
        "is_partner": viewer.kind is AccountKind.partner,
        "devices": [(d.value, d.value) for d in Device],
        "groups": [(g.value, g.value) for g in GROUPS[view]] if view in GROUPS else None,
        "breakdowns": [(k, _(v)) for k, v in BREAKDOWN_LABELS if k in _breakdowns(viewer)],
        "page_size": PAGE_SIZE,
    }
    with reading() as session:
        context["programs"] = _program_options(session, viewer)
        context["currencies"] = [(c, c) for c in fx.quoted_currencies(session, utcnow().date())]
        context["partners"] = (
            None if viewer.kind is AccountKind.partner else _partner_options(session, viewer)
        )
        try:
            params = parse_params(raw, view, viewer, utcnow().date())
            q = _query(session, viewer, params)
            context.update(params=params, q=q, sees_roi=q.scope.sees_roi)
            context["sort_url"] = lambda key, direction: url(
                base, raw, sort=key, dir=direction, page=""
            )
            if view == "overview":
                context.update(load_overview(session, q, params))
            elif view == "transactions":
                context.update(load_transactions(session, q, params))
            else:
                context.update(load_table(session, q, params, view))
        except InvalidInput as exc:
            # Without JS: a 422 page naming the field, the form kept as typed. With htmx the
            # region is swapped in (htmx swaps no 4xx answer), the error shown in it.
            context.update(error=exc.detail, error_field=exc.field)
            return render(request, "reports/page.html", context, status=200 if htmx else 422)
    return render(request, "reports/page.html", context)


@router.get("/reports", response_class=HTMLResponse)
def overview(request: Request, viewer: SignedIn) -> Response:
    return _page(request, viewer, "overview")


# --- exports (declared before /reports/{name} so "orders.csv" is not taken for a name) -----


def _export_rows(
    session: Session, viewer: Viewer, params: Params, name: str
) -> tuple[queries.ReportQuery, list[dict[str, Any]], list[dict[str, Any]]]:
    q = _query(session, viewer, params)
    if name == "roi":
        roi = kpis.roi_report(session, q, RoiGroup(params.group_by or "country"))
        return (
            q,
            [export.roi_record(r) for r in roi.rows],
            [export.roi_record(t) for t in roi.totals],
        )
    columns = columns_of(name, q.scope.sees_roi)
    group = params.group_by or "day"
    if name == "traffic":
        traffic = queries.traffic_report(session, q, TrafficGroup(group))
        rows = sort_rows(traffic.rows, columns, params.sort, params.direction)
        return q, [export.traffic_record(r) for r in rows], [export.traffic_record(traffic.totals)]
    if name == "orders":
        orders = queries.orders_report(session, q, OrdersGroup(group))
        rows = sort_rows(orders.rows, columns, params.sort, params.direction)
        return (
            q,
            [export.orders_record(r) for r in rows],
            [export.orders_record(t) for t in orders.totals],
        )
    refunds = queries.refunds_report(session, q, RefundsGroup(group))
    rows = sort_rows(refunds.rows, columns, params.sort, params.direction)
    return (
        q,
        [export.refunds_record(r) for r in rows],
        [export.refunds_record(t) for t in refunds.totals],
    )


def _export_params(request: Request, viewer: Viewer, name: str) -> Params:
    if name not in EXPORTS:
        raise NotFound("no such report", field="name")
    return parse_params(_raw(request), name, viewer, utcnow().date())


def _attachment(name: str, q: queries.ReportQuery, ext: str) -> dict[str, str]:
    filename = f"{name}-{q.start.isoformat()}-{q.end.isoformat()}.{ext}"
    return {"Content-Disposition": f'attachment; filename="{filename}"'}


_COLUMNS = {
    "traffic": export.TRAFFIC_COLUMNS,
    "orders": export.ORDERS_COLUMNS,
    "refunds": export.REFUNDS_COLUMNS,
    "roi": export.ROI_COLUMNS,
}
_SHEETS = {
    "traffic": xlsx.traffic_sheet,
    "orders": xlsx.orders_sheet,
    "refunds": xlsx.refunds_sheet,
    "roi": xlsx.roi_sheet,
}


@router.get("/reports/{name}.csv")
def export_csv(request: Request, viewer: SignedIn, name: str) -> Response:
    """The report as CSV, exactly as the REST API writes it (`format=csv`), table order."""
    params = _export_params(request, viewer, name)
    if name == "transactions":
        with reading() as session:
            q = _query(session, viewer, params)
        return StreamingResponse(
            _stream_transactions(q),
            media_type="text/csv; charset=utf-8",
            headers=_attachment(name, q, "csv"),
        )
    with reading() as session:
        q, rows, _columns = _export_rows(session, viewer, params, name)
    return Response(
        export.to_csv(_COLUMNS[name], rows),
        media_type="text/csv; charset=utf-8",
        headers=_attachment(name, q, "csv"),
    )


def _stream_transactions(q: queries.ReportQuery) -> Iterator[str]:
    # Its own session, as in the REST API: the body is streamed after the handler returns.
    with reading() as session:
        records = (export.transaction_record(tx) for tx in queries.iter_transactions(session, q))
        yield from export.csv_lines(export.transactions_columns(q.currency), records)


def _file_chunks(handle: IO[bytes]) -> Iterator[bytes]:
    try:
        handle.seek(0)
        while chunk := handle.read(64 * 1024):
            yield chunk
    finally:
        handle.close()


@router.get("/reports/{name}.xlsx")
def export_xlsx(request: Request, viewer: SignedIn, name: str) -> Response:
    """The report as an XLSX workbook: the rows, then (grouped reports) a Totals sheet."""
    params = _export_params(request, viewer, name)
    handle: IO[bytes] = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115
    try:
        with reading() as session:
            if name == "transactions":
                q = _query(session, viewer, params)
                records = (
                    export.transaction_record(tx) for tx in queries.iter_transactions(session, q)
                )
                sheet = xlsx.transactions_sheet("Transactions", records, q.currency)
                xlsx.write_workbook(handle, [sheet])
            else:
                q, rows, totals = _export_rows(session, viewer, params, name)
                make = _SHEETS[name]
                xlsx.write_workbook(handle, [make(TITLES[name], rows), make("Totals", totals)])
    except BaseException:
        handle.close()
        raise
    return StreamingResponse(
        _file_chunks(handle), media_type=XLSX_TYPE, headers=_attachment(name, q, "xlsx")
    )


@router.get("/reports/{name}", response_class=HTMLResponse)
def report(request: Request, viewer: SignedIn, name: str) -> Response:
    if name not in REPORTS:
        raise NotFound("no such report", field="name")
    return _page(request, viewer, name)
