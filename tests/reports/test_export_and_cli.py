"""CSV cell defusing, and `alliance report ...` on the known network."""

from __future__ import annotations

import csv
import io
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from alliance.cli import app
from alliance.reports.export import safe_cell, to_csv

from .conftest import Net


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ('=HYPERLINK("http://evil","x")', '\'=HYPERLINK("http://evil","x")'),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tTAB", "'\tTAB"),
        ("\rCR", "'\rCR"),
        ("-5.00", "-5.00"),  # a plain number is not a formula; quoting it breaks sums
        (Decimal("12.50"), "12.50"),
        (Decimal("-1"), "-1"),
        ("news", "news"),
        (None, ""),
        (7, "7"),
    ],
)
def test_safe_cell(value: object, cell: str) -> None:
    assert safe_cell(value) == cell


def test_to_csv_quotes_and_escapes() -> None:
    text = to_csv(("a", "b"), [{"a": 'say "hi", =1', "b": "=1+1"}])
    assert text == 'a,b\r\n"say ""hi"", =1",\'=1+1\r\n'
    assert list(csv.reader(io.StringIO(text))) == [["a", "b"], ['say "hi", =1', "'=1+1"]]


def run(*args: str) -> str:
    result = CliRunner().invoke(app, ["report", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_cli_orders_csv(net: Net) -> None:
    out = run(
        "orders",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-10",
        "--program",
        net.shoes,
        "--group-by",
        "partner",
        "--csv",
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {(r["group"], r["orders"], r["commission_value"]) for r in rows} == {
        (net.x, "4", "13.50"),
        (net.y, "2", "12.00"),
    }


def test_cli_traffic_table_and_transactions(net: Net) -> None:
    out = run("traffic", "--from", "2024-03-01", "--to", "2024-03-10", "--program", net.shoes)
    assert "2024-03-01" in out and "TOTAL" in out
    tx = run(
        "transactions",
        "--from",
        "2024-03-01",
        "--to",
        "2024-03-10",
        "--program",
        net.shoes,
        "--partner",
        net.y,
        "--csv",
    )
    assert [r["order_id"] for r in csv.DictReader(io.StringIO(tx))] == ["o-3", "o-4"]
    refunds = run(
        "refunds", "--from", "2024-03-01", "--to", "2024-03-10", "--program", net.shoes, "--csv"
    )
    assert "2024-03-07" in refunds


def test_cli_refuses_a_bad_period() -> None:
    result = CliRunner().invoke(
        app, ["report", "orders", "--from", "2024-03-10", "--to", "2024-03-01"]
    )
    assert result.exit_code == 2
    assert "from" in result.output


def test_cli_rollups_rebuild_and_refresh(net: Net) -> None:
    result = CliRunner().invoke(
        app, ["rollups", "rebuild", "--from", "2024-03-01", "--to", "2024-03-10"]
    )
    assert result.exit_code == 0, result.output
    assert "rollups rebuilt (2024-03-01 .. 2024-03-10)" in result.output
    # The known network's numbers, now from the rollups.
    out = run("traffic", "--from", "2024-03-01", "--to", "2024-03-10", "--program", net.shoes)
    assert "TOTAL" in out
    result = CliRunner().invoke(app, ["rollups", "refresh"])
    assert result.exit_code == 0 and "rollups refreshed" in result.output, result.output
    bad = CliRunner().invoke(
        app, ["rollups", "rebuild", "--from", "2024-03-10", "--to", "2024-03-01"]
    )
    assert bad.exit_code == 2
