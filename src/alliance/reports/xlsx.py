"""XLSX exports of the reports (openpyxl, write-only: rows are streamed, never all in memory).

Numbers stay numbers: counts are integer cells, amounts are number cells (from `Decimal`)
with a number format that shows the row's currency, ratios are number cells shown as
percentages, so a spreadsheet can sum them. Text is defused exactly as the CSV export does
it (`export.safe_cell`: a text that starts with = + - @ TAB or CR gets a leading quote), and
every text cell is written as a string cell (an inline string, `data_type = "s"`), which a
spreadsheet shows and never evaluates: `=HYPERLINK("http://evil","x")` in a sub-id is inert.
Control characters that XML 1.0 cannot carry are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import IO, Any

from babel.numbers import get_currency_precision
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font

from alliance.reports import export

MAX_ROWS = 1_048_575  # Excel's limit is 1,048,576 rows, one of them the header
_CURRENCY = re.compile(r"[A-Z]{3}")
RATIO_FORMAT = "0.00%"

# Amount columns of each export, with the column that holds their currency.
ORDERS_MONEY = {
    "sales": "currency",
    "refunded": "currency",
    "declined_sales": "currency",
    "net_sales": "currency",
    "commission_pending": "currency",
    "commission_approved": "currency",
    "commission_paid": "currency",
    "commission_declined": "currency",
    "commission_reversed": "currency",
    "commission_value": "currency",
    "aov": "currency",
}
ORDERS_EPC = {"epc": "currency"}  # 4 places
ORDERS_RATIOS = frozenset({"conversion_rate", "refund_rate", "roi"})
REFUNDS_MONEY = {"refunded_amount": "currency", "reversed_commission": "currency"}
TRANSACTIONS_MONEY = {
    "amount": "currency",
    "net_amount": "currency",
    "refunded_amount": "currency",
    "commission_amount": "commission_currency",
    "commission_value": "commission_currency",
    # present when the report is asked in one currency
    "converted_amount": "converted_currency",
    "converted_net_amount": "converted_currency",
    "converted_refunded_amount": "converted_currency",
    "converted_commission_amount": "converted_currency",
    "converted_commission_value": "converted_currency",
}
ROI_MONEY = {"revenue": "currency", "cost": "currency"}
ROI_RATIOS = frozenset({"roi"})


@dataclass(frozen=True, slots=True)
class Sheet:
    """One worksheet: a header of `columns`, then one line per record (dicts by column)."""

    title: str
    columns: Sequence[str]
    rows: Iterable[Mapping[str, Any]]
    money: Mapping[str, str] = field(default_factory=dict)  # column -> its currency column
    precise_money: Mapping[str, str] = field(default_factory=dict)  # 4 places (EPC)
    ratios: frozenset[str] = frozenset()


def safe_text(value: object) -> str:
    """Text for a string cell: defused like the CSV export, without XML-illegal characters."""
    return export.safe_cell(ILLEGAL_CHARACTERS_RE.sub("", export.safe_cell(value)))


def money_format(currency: object, places: int | None = None) -> str:
    """`#,##0.00 "EUR"`: the currency's own decimal places and its code after the number."""
    code = str(currency) if isinstance(currency, str) and _CURRENCY.fullmatch(currency) else ""
    digits = places if places is not None else (get_currency_precision(code) if code else 2)
    number = "#,##0" + ("." + "0" * digits if digits else "")
    return f'{number} "{code}"' if code else number


class _Writer:
    def __init__(self, book: Workbook, sheet: Sheet) -> None:
        self.ws = book.create_sheet(title=sheet.title[:31])
        self.sheet = sheet

    def cell(self, value: object, record: Mapping[str, Any], column: str) -> WriteOnlyCell:
        sheet = self.sheet
        if value is None:
            return WriteOnlyCell(self.ws, value=None)
        if isinstance(value, bool) or not isinstance(value, int | Decimal | float):
            text = WriteOnlyCell(self.ws, value=safe_text(value))
            text.data_type = "s"  # never a formula, whatever the text says
            return text
        cell = WriteOnlyCell(self.ws, value=value)
        if column in sheet.money:
            cell.number_format = money_format(record.get(sheet.money[column]))
        elif column in sheet.precise_money:
            cell.number_format = money_format(record.get(sheet.precise_money[column]), 4)
        elif column in sheet.ratios:
            cell.number_format = RATIO_FORMAT
        return cell

    def write(self) -> int:
        header = []
        for name in self.sheet.columns:
            cell = WriteOnlyCell(self.ws, value=safe_text(name))
            cell.data_type = "s"
            cell.font = Font(bold=True)
            header.append(cell)
        self.ws.freeze_panes = "A2"
        self.ws.append(header)
        written = 0
        for record in self.sheet.rows:
            if written >= MAX_ROWS:
                break
            self.ws.append([self.cell(record.get(c), record, c) for c in self.sheet.columns])
            written += 1
        return written


def write_workbook(target: IO[bytes], sheets: Sequence[Sheet]) -> int:
    """Write the sheets to `target` (a file or BytesIO); returns the data rows written."""
    book = Workbook(write_only=True)
    written = sum(_Writer(book, sheet).write() for sheet in sheets)
    book.save(target)
    return written


# --- the four reports, as the CSV export shapes them --------------------------------------


def traffic_sheet(title: str, rows: Iterable[Mapping[str, Any]]) -> Sheet:
    return Sheet(title, export.TRAFFIC_COLUMNS, rows)


def orders_sheet(title: str, rows: Iterable[Mapping[str, Any]]) -> Sheet:
    return Sheet(
        title,
        export.ORDERS_COLUMNS,
        rows,
        money=ORDERS_MONEY,
        precise_money=ORDERS_EPC,
        ratios=ORDERS_RATIOS,
    )


def refunds_sheet(title: str, rows: Iterable[Mapping[str, Any]]) -> Sheet:
    return Sheet(title, export.REFUNDS_COLUMNS, rows, money=REFUNDS_MONEY)


def transactions_sheet(
    title: str, rows: Iterable[Mapping[str, Any]], currency: str | None = None
) -> Sheet:
    columns = export.transactions_columns(currency)
    return Sheet(title, columns, rows, money=TRANSACTIONS_MONEY)


def roi_sheet(title: str, rows: Iterable[Mapping[str, Any]]) -> Sheet:
    return Sheet(title, export.ROI_COLUMNS, rows, money=ROI_MONEY, ratios=ROI_RATIOS)
