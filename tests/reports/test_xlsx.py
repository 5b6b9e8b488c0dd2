"""reports/xlsx.py: numbers stay numbers, text can never be a formula."""

from __future__ import annotations

import io
from decimal import Decimal

from openpyxl import load_workbook

from alliance.reports import xlsx

EVIL = '=HYPERLINK("http://evil","x")'


def _book(sheets: list[xlsx.Sheet]) -> io.BytesIO:
    out = io.BytesIO()
    xlsx.write_workbook(out, sheets)
    out.seek(0)
    return out


def test_formula_text_is_inert_and_amounts_are_numbers() -> None:
    rows = [
        {
            "group": EVIL,
            "label": "@SUM(A1:A9)",
            "currency": "EUR",
            "orders": 3,
            "sales": Decimal("1234.50"),
            "commission_value": Decimal("-5.00"),
            "conversion_rate": Decimal("0.0525"),
            "epc": Decimal("0.0123"),
            "roi": None,
        },
        {"group": "+cmd|' /C calc'!A0", "label": "-5", "currency": "JPY", "sales": Decimal("900")},
        {"group": "\tTAB", "label": "\x01=1+1", "currency": "EUR", "sales": Decimal("0")},
    ]
    book = load_workbook(_book([xlsx.orders_sheet("Orders", rows)]))
    sheet = book["Orders"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    assert header[:3] == ["group", "label", "currency"]
    lines = [dict(zip(header, line, strict=True)) for line in sheet.iter_rows(min_row=2)]

    evil = lines[0]["group"]
    assert evil.value == "'" + EVIL and evil.data_type == "s"
    assert lines[0]["label"].value == "'@SUM(A1:A9)"
    assert lines[1]["group"].value.startswith("'+")
    assert lines[1]["label"].value == "-5" and lines[1]["label"].data_type == "s"  # text stays text
    assert lines[2]["group"].value == "'\tTAB"
    assert lines[2]["label"].value == "'=1+1"  # control character dropped, then defused
    for line in lines:
        for cell in line.values():
            assert cell.data_type != "f"

    sales = lines[0]["sales"]
    assert sales.data_type == "n" and sales.value == 1234.5
    assert sales.number_format == '#,##0.00 "EUR"'
    assert lines[1]["sales"].number_format == '#,##0 "JPY"'  # the currency's own places
    assert lines[0]["commission_value"].value == -5
    assert lines[0]["orders"].value == 3 and lines[0]["orders"].data_type == "n"
    assert lines[0]["conversion_rate"].number_format == "0.00%"
    assert abs(lines[0]["conversion_rate"].value - 0.0525) < 1e-12
    assert lines[0]["epc"].number_format == '#,##0.0000 "EUR"'
    assert lines[0]["roi"].value is None


def test_several_sheets_and_transactions_columns() -> None:
    tx = {
        "id": "cnv_1",
        "order_id": "=1+2",
        "currency": "USD",
        "amount": Decimal("10.00"),
        "commission_currency": "EUR",
        "commission_value": Decimal("0.90"),
        "occurred_at": "2024-04-01T12:00:00+00:00",
    }
    book = load_workbook(
        _book(
            [
                xlsx.transactions_sheet("Transactions", [tx]),
                xlsx.traffic_sheet("Totals", [{"group": None, "clicks": 7}]),
            ]
        )
    )
    assert book.sheetnames == ["Transactions", "Totals"]
    sheet = book["Transactions"]
    header = [c.value for c in next(sheet.iter_rows(max_row=1))]
    line = dict(zip(header, next(sheet.iter_rows(min_row=2)), strict=True))
    assert line["order_id"].value == "'=1+2"
    assert line["amount"].number_format == '#,##0.00 "USD"'
    assert line["commission_value"].number_format == '#,##0.00 "EUR"'
    assert line["occurred_at"].value == "2024-04-01T12:00:00+00:00"
    totals = list(book["Totals"].iter_rows(values_only=True))
    assert totals[1][:3] == (None, None, 7)


def test_money_format_refuses_odd_currency_codes() -> None:
    assert xlsx.money_format('EU"R') == "#,##0.00"
    assert xlsx.money_format(None) == "#,##0.00"
    assert xlsx.money_format("EUR", 4) == '#,##0.0000 "EUR"'
