"""`alliance report traffic|orders|refunds|transactions`: the reports as the operator.

Reads the database directly through the same query functions as the API, so a number on the
command line is the number an advertiser sees. `--csv` writes the same CSV as `format=csv`.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.measure import Measurement
from rich.rule import Rule
from rich.table import Table

from alliance.clock import utcnow
from alliance.errors import AllianceError
from alliance.reports.schemas import (
    Device,
    OrdersGroup,
    RefundsGroup,
    RoiGroup,
    TrafficGroup,
    parse_day,
    resolve_period,
)

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from alliance.reports import queries

# The report commands' database code is imported when a report runs, not at start-up: this
# module is loaded by every `alliance` command, including the `serve` supervisor, whose
# memory every forked worker would otherwise carry (~15 MB of SQLAlchemy; docs/performance.md).

report_app = typer.Typer(
    help="Reports: traffic, orders, refunds, transactions, ROI.", no_args_is_help=True
)
console = Console()

FromOpt = typer.Option(None, "--from", help="First UTC day (YYYY-MM-DD); default 30 days ago")
ToOpt = typer.Option(None, "--to", help="Last UTC day, inclusive; default today")
ProgramOpt = typer.Option(None, "--program", help="Only this program id")
PartnerOpt = typer.Option(None, "--partner", help="Only this partner id")
Sub1Opt = typer.Option(None, "--sub1", help="Only clicks (or orders) with this sub1")
CountryOpt = typer.Option(None, "--country", help="ISO 3166 alpha-2")
DeviceOpt = typer.Option(None, "--device", help="desktop|mobile|tablet|bot|unknown")
CsvOpt = typer.Option(False, "--csv", help="Write CSV to stdout instead of a table")
CurrencyOpt = typer.Option(
    None,
    "--currency",
    help="Convert every amount to this currency (EUR, USD, ...) at the ECB rate of its day",
)


def _run(
    start: str | None,
    end: str | None,
    program: str | None,
    partner: str | None,
    sub1: str | None,
    country: str | None,
    device: Device | None,
    build: Callable[
        [Session, queries.ReportQuery], tuple[str, Sequence[str], Iterable[dict[str, Any]]]
    ],
    as_csv: bool,
    currency: str | None = None,
) -> None:
    from alliance.db.engine import reading
    from alliance.reports import convert, export, queries

    try:
        first, last = resolve_period(
            parse_day(start, "from"), parse_day(end, "to"), utcnow().date()
        )
        filters = queries.Filters(
            sub1=sub1 or None,
            country=country.upper() if country else None,
            device=device.value if device else None,
        )
        scope = queries.operator_scope(program, partner)
        with reading() as session:
            fx = convert.converter(session, currency, first, last)
            q = queries.ReportQuery(first, last, scope, filters, fx)
            title, columns, rows = build(session, q)
            if as_csv:
                for line in export.csv_lines(columns, rows):
                    sys.stdout.write(line)
                return
            in_currency = f" in {q.currency}" if q.currency else ""
            _print(f"{title} {first} .. {last}{in_currency}", columns, list(rows))
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]" + (f" ({exc.field})" if exc.field else ""))
        raise typer.Exit(2) from None


# Short headers keep the wide reports readable in a terminal; --csv has the full names.
_HEADERS = {
    "unique_visitors": "uniques",
    "unique_valid_visitors": "valid uniques",
    "refunded_orders": "refunded",
    "declined_orders": "declined",
    "refunded": "refunded amt",
    "commission_pending": "pending",
    "commission_approved": "approved",
    "commission_paid": "paid",
    "commission_declined": "declined comm.",
    "commission_reversed": "reversed comm.",
    "commission_value": "commission",
    "conversion_rate": "CR",
    "epc": "EPC",
    "aov": "AOV",
    "refund_rate": "refund rate",
    "roi": "ROI",
    "reversed_commission": "reversed comm.",
}
_TEXT = {"group", "label", "id", "order_id", "partner_name", "arithmetic"}


def _table(title: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> Table:
    # Columns empty on every row (labels of day groups, KPIs of status groups) are left out.
    shown = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)] or columns
    table = Table(title=title)
    for column in shown:
        numeric = column not in _TEXT
        table.add_column(
            _HEADERS.get(column, column),
            justify="right" if numeric else "left",
            no_wrap=numeric,
            overflow="fold",
            min_width=None if numeric else 10,
        )
    for row in rows:
        table.add_row(*(_display(c, row.get(c)) for c in shown))
    return table


def _print(title: str, columns: Sequence[str], rows: list[dict[str, Any]]) -> None:
    """A table when it fits the terminal; otherwise one card per row, so no value is cut."""
    table = _table(title, columns, rows)
    shown = [c for c in columns if any(r.get(c) not in (None, "") for r in rows)] or columns
    # Rich squeezes a wide table until its numbers are cut; a few columns wrap fine.
    natural = Measurement.get(console, console.options.update_width(100_000), table).maximum
    if len(shown) <= 8 or natural <= console.width:
        console.print(table)
        return
    console.print(f"[bold]{escape(title)}[/]")
    for row in rows:
        card = Table(show_header=False, box=None, padding=(0, 2))
        card.add_column(style="dim")
        card.add_column(justify="right")
        for column in shown:
            card.add_row(_HEADERS.get(column, column), _display(column, row.get(column)))
        console.print(Rule(style="dim"))
        console.print(card)


def _display(column: str, value: object) -> str:
    if value is None:
        return "(none)" if column == "group" else ""
    # Sub-ids and order ids come from outside: shown as text, never as Rich markup.
    return escape(f"{value:f}" if isinstance(value, Decimal) else str(value))


@report_app.command("traffic")
def traffic(
    start: str = FromOpt,
    end: str = ToOpt,
    program: str = ProgramOpt,
    partner: str = PartnerOpt,
    sub1: str = Sub1Opt,
    country: str = CountryOpt,
    device: Device = DeviceOpt,
    group_by: TrafficGroup = typer.Option(TrafficGroup.day, "--group-by"),
    as_csv: bool = CsvOpt,
) -> None:
    """Clicks, unique visitors, valid and bot clicks."""

    from alliance.reports import export, queries

    def build(
        session: Session, q: queries.ReportQuery
    ) -> tuple[str, Sequence[str], Iterable[dict[str, Any]]]:
        report = queries.traffic_report(session, q, group_by)
        rows = [export.traffic_record(r) for r in [*report.rows, report.totals]]
        rows[-1]["group"] = "TOTAL"
        if as_csv:
            return "Traffic", export.TRAFFIC_COLUMNS, rows[:-1]
        # On a terminal the older name bot_clicks (always equal to invalid_clicks) would only
        # take the width the other figures need; the CSV keeps it for existing scripts.
        shown = [c for c in export.TRAFFIC_COLUMNS if c != "bot_clicks"]
        return "Traffic", shown, rows

    _run(start, end, program, partner, sub1, country, device, build, as_csv)


@report_app.command("orders")
def orders(
    start: str = FromOpt,
    end: str = ToOpt,
    program: str = ProgramOpt,
    partner: str = PartnerOpt,
    sub1: str = Sub1Opt,
    country: str = CountryOpt,
    device: Device = DeviceOpt,
    group_by: OrdersGroup = typer.Option(OrdersGroup.day, "--group-by"),
    as_csv: bool = CsvOpt,
    currency: str = CurrencyOpt,
) -> None:
    """Orders, sales, commission by status and KPIs, per currency (or in --currency)."""

    from alliance.reports import export, queries

    def build(
        session: Session, q: queries.ReportQuery
    ) -> tuple[str, Sequence[str], Iterable[dict[str, Any]]]:
        report = queries.orders_report(session, q, group_by)
        rows = [export.orders_record(r) for r in report.rows]
        if as_csv:
            return "Orders", export.ORDERS_COLUMNS, rows
        rows += [export.orders_record(t) | {"group": "TOTAL"} for t in report.totals]
        return "Orders", _ORDERS_TABLE, rows

    _run(start, end, program, partner, sub1, country, device, build, as_csv, currency)


@report_app.command("refunds")
def refunds(
    start: str = FromOpt,
    end: str = ToOpt,
    program: str = ProgramOpt,
    partner: str = PartnerOpt,
    sub1: str = Sub1Opt,
    country: str = CountryOpt,
    device: Device = DeviceOpt,
    group_by: RefundsGroup = typer.Option(RefundsGroup.day, "--group-by"),
    as_csv: bool = CsvOpt,
    currency: str = CurrencyOpt,
) -> None:
    """Refunds, refunded amount and commission taken back, per currency (or in --currency)."""

    from alliance.reports import export, queries

    def build(
        session: Session, q: queries.ReportQuery
    ) -> tuple[str, Sequence[str], Iterable[dict[str, Any]]]:
        report = queries.refunds_report(session, q, group_by)
        rows = [export.refunds_record(r) for r in report.rows]
        if not as_csv:
            rows += [export.refunds_record(t) | {"group": "TOTAL"} for t in report.totals]
        return "Refunds", export.REFUNDS_COLUMNS, rows

    _run(start, end, program, partner, sub1, country, device, build, as_csv, currency)


@report_app.command("roi")
def roi(
    start: str = FromOpt,
    end: str = ToOpt,
    program: str = ProgramOpt,
    partner: str = PartnerOpt,
    sub1: str = Sub1Opt,
    country: str = CountryOpt,
    device: Device = DeviceOpt,
    group_by: RoiGroup = typer.Option(RoiGroup.country, "--group-by"),
    as_csv: bool = CsvOpt,
    currency: str = CurrencyOpt,
) -> None:
    """ROI for the advertiser per buyer country or order currency: orders, revenue (net
    sales), cost (commission) and (revenue - cost) / cost."""

    from alliance.reports import export, kpis

    def build(
        session: Session, q: queries.ReportQuery
    ) -> tuple[str, Sequence[str], Iterable[dict[str, Any]]]:
        report = kpis.roi_report(session, q, group_by)
        rows = [export.roi_record(r) for r in report.rows]
        if not as_csv:
            rows += [export.roi_record(t) | {"group": "TOTAL"} for t in report.totals]
        return "ROI", export.ROI_COLUMNS, rows

    _run(start, end, program, partner, sub1, country, device, build, as_csv, currency)


# The tables show what fits a terminal; --csv carries every column.
_ORDERS_TABLE = (
    "group",
    "label",
    "currency",
    "orders",
    "sales",
    "net_sales",
    "commission_pending",
    "commission_approved",
    "commission_paid",
    "commission_value",
    "conversion_rate",
    "epc",
    "aov",
    "refund_rate",
    "roi",
)
_TX_TABLE = (
    "id",
    "order_id",
    "partner_name",
    "occurred_at",
    "status",
    "currency",
    "amount",
    "refunded_amount",
    "commission_status",
    "commission_value",
    "arithmetic",
)


@report_app.command("transactions")
def transactions(
    start: str = FromOpt,
    end: str = ToOpt,
    program: str = ProgramOpt,
    partner: str = PartnerOpt,
    sub1: str = Sub1Opt,
    country: str = CountryOpt,
    device: Device = DeviceOpt,
    as_csv: bool = CsvOpt,
    currency: str = CurrencyOpt,
) -> None:
    """Every order with its commission, rule, arithmetic, click path and history (with
    --currency, its amounts converted too)."""

    from alliance.reports import export, queries

    def build(
        session: Session, q: queries.ReportQuery
    ) -> tuple[str, Sequence[str], Iterable[dict[str, Any]]]:
        # A generator: the CSV streams page by page instead of holding the period in memory.
        rows = (export.transaction_record(tx) for tx in queries.iter_transactions(session, q))
        if as_csv:
            return "Transactions", export.transactions_columns(q.currency), rows
        shown = _TX_TABLE + (
            ("converted_amount", "converted_commission_value") if q.currency else ()
        )
        return "Transactions", shown, rows

    _run(start, end, program, partner, sub1, country, device, build, as_csv, currency)
