"""CSV exports of the reports, safe to open in a spreadsheet.

Sub-ids, order ids and notes come from partners, advertisers and their visitors: a cell such
as `=HYPERLINK("http://evil", "x")` would run as a formula in Excel, LibreOffice or Sheets
(CSV injection, OWASP). Every text cell that starts with = + - @ TAB or CR is therefore
prefixed with a single quote, which spreadsheets show as text. Plain numbers ("-5.00") are
left alone: they cannot be formulas, and quoting them would break sums.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal
from typing import Any

from alliance.reports.schemas import (
    OrdersRow,
    RefundsRow,
    RoiRow,
    TrafficRow,
    Transaction,
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")

TRAFFIC_COLUMNS = (
    "group",
    "label",
    "clicks",
    "unique_visitors",
    "valid_clicks",
    "invalid_clicks",
    "bot_clicks",
    "unique_valid_visitors",
)
ORDERS_COLUMNS = (
    "group",
    "label",
    "currency",
    "orders",
    "refunded_orders",
    "declined_orders",
    "sales",
    "refunded",
    "declined_sales",
    "net_sales",
    "commission_pending",
    "commission_approved",
    "commission_paid",
    "commission_declined",
    "commission_reversed",
    "commission_value",
    "valid_clicks",
    "conversion_rate",
    "epc",
    "aov",
    "refund_rate",
    "roi",
)
REFUNDS_COLUMNS = (
    "group",
    "label",
    "currency",
    "refunds",
    "refunded_orders",
    "refunded_amount",
    "reversed_commission",
)
ROI_COLUMNS = ("group", "label", "currency", "orders", "revenue", "cost", "roi")
TRANSACTIONS_COLUMNS = (
    "id",
    "order_id",
    "kind",
    "program_id",
    "program_name",
    "partner_id",
    "partner_name",
    "occurred_at",
    "status",
    "currency",
    "amount",
    "net_amount",
    "refunded_amount",
    "attributed_by",
    "commission_id",
    "commission_status",
    "commission_currency",
    "commission_amount",
    "commission_value",
    "rule",
    "arithmetic",
    "click_path",
    "history",
)
# Added after TRANSACTIONS_COLUMNS when the report is asked in one currency.
CONVERTED_COLUMNS = (
    "converted_currency",
    "converted_rate",
    "converted_rate_day",
    "converted_amount",
    "converted_net_amount",
    "converted_refunded_amount",
    "converted_commission_rate",
    "converted_commission_amount",
    "converted_commission_value",
)


def transactions_columns(currency: str | None) -> tuple[str, ...]:
    """The transactions export's columns: the converted amounts too when asked in one
    currency (the same file as before otherwise)."""
    return TRANSACTIONS_COLUMNS + (CONVERTED_COLUMNS if currency else ())


def safe_cell(value: object) -> str:
    """One cell as text, defused against formula injection."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = f"{value:f}" if isinstance(value, Decimal) else str(value)
    if text.startswith(_FORMULA_START) and not _NUMBER.fullmatch(text):
        return "'" + text
    return text


def _line(cells: Iterable[object]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerow([safe_cell(c) for c in cells])
    return buffer.getvalue()


def csv_lines(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The header, then one line per row (RFC 4180 quoting, CRLF line ends)."""
    yield _line(columns)
    for row in rows:
        yield _line(row.get(c) for c in columns)


def to_csv(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    return "".join(csv_lines(columns, rows))


def traffic_record(row: TrafficRow) -> dict[str, Any]:
    return row.model_dump()


def orders_record(row: OrdersRow) -> dict[str, Any]:
    record = row.model_dump(exclude={"commission", "kpis"})
    record.update({f"commission_{k}": v for k, v in row.commission.model_dump().items()})
    record.update(row.kpis.model_dump())
    return record


def refunds_record(row: RefundsRow) -> dict[str, Any]:
    return row.model_dump()


def roi_record(row: RoiRow) -> dict[str, Any]:
    return row.model_dump()


def _compact(value: object) -> str:
    # Compact, key-sorted JSON: one cell, still machine-readable, stable across runs.
    return json.dumps(value, separators=(",", ":"), sort_keys=True, default=str)


def transaction_record(tx: Transaction) -> dict[str, Any]:
    """A transaction flattened to one line; the path and the history as compact text."""
    com = tx.commission
    history = "; ".join(
        f"{h.occurred_at.isoformat()} {h.kind}->{h.status}"
        + (f" refunded={h.refunded_amount}" if h.refunded_amount is not None else "")
        + (f" ({h.note})" if h.note else "")
        for h in tx.history
    )
    record: dict[str, Any] = {
        "id": tx.id,
        "order_id": tx.order_id,
        "kind": tx.kind,
        "program_id": tx.program.id,
        "program_name": tx.program.name,
        "partner_id": tx.partner.id,
        "partner_name": tx.partner.name,
        "occurred_at": tx.occurred_at.isoformat(),
        "status": tx.status,
        "currency": tx.currency,
        "amount": tx.amount,
        "net_amount": tx.net_amount,
        "refunded_amount": tx.refunded_amount,
        "attributed_by": tx.attributed_by,
        "commission_id": com.id if com else None,
        "commission_status": com.status if com else None,
        "commission_currency": com.currency if com else None,
        "commission_amount": com.amount if com else None,
        "commission_value": com.value if com else None,
        "rule": _compact(com.rule) if com else None,
        "arithmetic": com.arithmetic if com else None,
        "click_path": _compact(tx.click_path) if tx.click_path else "",
        "history": history,
    }
    if tx.converted is not None:
        record.update(
            {f"converted_{k}": v for k, v in tx.converted.model_dump().items()},
        )
        record["converted_rate_day"] = tx.converted.rate_day.isoformat()
    return record
