"""The report endpoints through a real server: JSON, CSV, scoping, refusals."""

from __future__ import annotations

import csv
import io
from typing import Any

import httpx
import pytest

from .conftest import EVIL, PERIOD, Net


def get(http: httpx.Client, key: str, report: str, **params: Any) -> httpx.Response:
    return http.get(
        f"/api/v1/reports/{report}",
        params={**PERIOD, **params},
        headers={"Authorization": f"Bearer {key}"},
    )


def rows_of(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


def test_traffic_json(http: httpx.Client, operator_key: str, net: Net) -> None:
    response = get(http, operator_key, "traffic", program_id=net.shoes)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["report"], body["from"], body["to"], body["group_by"]) == (
        "traffic",
        "2024-03-01",
        "2024-03-10",
        "day",
    )
    assert [
        (
            r["group"],
            r["clicks"],
            r["unique_visitors"],
            r["valid_clicks"],
            r["bot_clicks"],
            r["unique_valid_visitors"],
        )
        for r in body["rows"]
    ] == [("2024-03-01", 5, 3, 3, 2, 2), ("2024-03-02", 3, 3, 3, 0, 3)]
    assert body["totals"]["clicks"] == 8


def test_orders_json_has_money_as_strings(http: httpx.Client, operator_key: str, net: Net) -> None:
    body = get(http, operator_key, "orders", program_id=net.shoes).json()
    [total] = body["totals"]
    assert total["currency"] == "EUR"
    assert total["sales"] == "440.00"
    assert total["commission"] == {
        "pending": "16.00",
        "approved": "9.50",
        "paid": "0.00",
        "declined": "2.50",
        "reversed": "5.00",
        "value": "25.50",
    }
    assert total["kpis"] == {
        "conversion_rate": "1.0000",
        "epc": "4.2500",
        "aov": "73.33",
        "refund_rate": "0.3333",
        "roi": "10.7647",
    }


def test_kpis_and_timeseries_json(http: httpx.Client, operator_key: str, net: Net) -> None:
    body = get(http, operator_key, "kpis", program_id=net.shoes).json()
    assert (body["report"], body["previous_from"], body["previous_to"]) == (
        "kpis",
        "2024-02-20",
        "2024-02-29",
    )
    assert (body["clicks"], body["valid_clicks"], body["unique_clicks"]) == (8, 6, 6)
    # X had a click on 02-29 and an order on 02-20; this period X and Y: X is retained.
    assert (
        body["previous_active_partners"],
        body["active_partners"],
        body["retained_partners"],
        body["partner_retention"],
    ) == (1, 2, 1, "1.0000")
    [eur] = body["currencies"]
    assert (eur["currency"], eur["orders"], eur["sales"], eur["net_sales"], eur["commission"]) == (
        "EUR",
        6,
        "440.00",
        "300.00",
        "25.50",
    )
    assert eur["kpis"]["roi"] == "10.7647" and eur["kpis"]["conversion_rate"] == "1.0000"
    # The known network's orders carry no customer id.
    assert (eur["new_customers"], eur["customer_lifetime_value"]) == (0, None)

    series = get(http, operator_key, "timeseries", program_id=net.shoes).json()
    assert len(series["points"]) == 10 and series["currencies"] == ["EUR"]
    first, second, third = series["points"][:3]
    assert first == {
        "day": "2024-03-01",
        "clicks": 5,
        "valid_clicks": 3,
        "orders": 3,
        "sales": {"EUR": "160.00"},
        "commission": {"EUR": "9.50"},
    }
    assert (second["clicks"], second["orders"]) == (3, 3)
    assert third == {
        "day": "2024-03-03",
        "clicks": 0,
        "valid_clicks": 0,
        "orders": 0,
        "sales": {},
        "commission": {},
    }
    partner = get(http, net.x_key, "kpis", program_id=net.shoes).json()
    assert all(c["kpis"]["roi"] is None for c in partner["currencies"])
    refused = get(http, operator_key, "kpis", format="csv")
    assert refused.status_code == 422 and refused.json()["field"] == "format"


def test_refunds_and_transactions_json(http: httpx.Client, operator_key: str, net: Net) -> None:
    refunds = get(http, operator_key, "refunds", program_id=net.shoes).json()
    assert [
        (t["refunds"], t["refunded_amount"], t["reversed_commission"]) for t in refunds["totals"]
    ] == [(3, "140.00", "12.00")]
    first = get(http, operator_key, "transactions", program_id=net.shoes, limit=5).json()
    assert len(first["data"]) == 5 and first["next_cursor"]
    rest = get(
        http,
        operator_key,
        "transactions",
        program_id=net.shoes,
        limit=5,
        cursor=first["next_cursor"],
    ).json()
    assert [t["order_id"] for t in rest["data"]] == ["o-4"] and rest["next_cursor"] is None
    o1 = first["data"][0]
    assert (
        o1["order_id"],
        o1["amount"],
        o1["currency"],
        o1["commission"]["value"],
        o1["commission"]["status"],
        o1["program"]["name"],
    ) == ("o-1", "100.00", "EUR", "8.00", "approved", "Shoes")
    assert [h["status"] for h in o1["history"]] == ["pending", "completed"]


def test_traffic_csv_defuses_formulas(http: httpx.Client, operator_key: str, net: Net) -> None:
    response = get(
        http, operator_key, "traffic", program_id=net.shoes, group_by="sub1", format="csv"
    )
    assert (
        'filename="traffic-2024-03-01-2024-03-10.csv"' in (response.headers["content-disposition"])
    )
    rows = rows_of(response)
    assert list(rows[0]) == [
        "group",
        "label",
        "clicks",
        "unique_visitors",
        "valid_clicks",
        "invalid_clicks",
        "bot_clicks",
        "unique_valid_visitors",
    ]
    groups = {r["group"]: r for r in rows}
    assert set(groups) == {"", "news", "'" + EVIL, "'@promo"}
    assert groups["'" + EVIL]["clicks"] == "1"
    assert groups["news"]["valid_clicks"] == "3"


def test_orders_and_refunds_csv(http: httpx.Client, operator_key: str, net: Net) -> None:
    orders = rows_of(get(http, operator_key, "orders", program_id=net.shoes, format="csv"))
    assert [
        (
            r["group"],
            r["currency"],
            r["orders"],
            r["sales"],
            r["commission_value"],
            r["epc"],
            r["roi"],
        )
        for r in orders
    ] == [
        ("2024-03-01", "EUR", "3", "160.00", "9.50", "3.1667", "9.5263"),
        ("2024-03-02", "EUR", "3", "280.00", "16.00", "5.3333", "11.5000"),
    ]
    refunds = rows_of(
        get(http, operator_key, "refunds", program_id=net.shoes, group_by="program", format="csv")
    )
    assert [
        (r["group"], r["label"], r["refunded_amount"], r["reversed_commission"]) for r in refunds
    ] == [(net.shoes, "Shoes", "140.00", "12.00")]


def test_transactions_csv_flattens_path_and_history(
    http: httpx.Client, operator_key: str, net: Net
) -> None:
    rows = rows_of(get(http, operator_key, "transactions", program_id=net.shoes, format="csv"))
    assert [r["order_id"] for r in rows] == ["o-1", "o-5", "lead-1", "o-2", "o-3", "o-4"]
    o3 = next(r for r in rows if r["order_id"] == "o-3")
    assert o3["commission_value"] == "12.00" and o3["commission_status"] == "pending"
    assert '"verdict":"won"' in o3["click_path"]
    assert o3["history"].endswith("refund->completed refunded=50.00 (one pair back)")
    assert o3["rule"] == '{"percent":"10","type":"cps"}'


def test_advertiser_sees_only_its_programs(http: httpx.Client, net: Net) -> None:
    mine = get(http, net.adv_b_key, "orders", group_by="program").json()
    assert [(r["group"], r["orders"]) for r in mine["rows"]] == [(net.books, 1)]
    traffic = get(http, net.adv_b_key, "traffic").json()
    assert traffic["totals"]["clicks"] == 3
    for report in ("traffic", "orders", "refunds", "transactions"):
        refused = get(http, net.adv_b_key, report, program_id=net.shoes)
        assert refused.status_code == 404, report
        assert refused.headers["content-type"].startswith("application/problem+json")
        assert refused.json()["field"] == "program_id"
    # A partner that is not in B's programs is not B's business either.
    assert get(http, net.adv_b_key, "orders", partner_id=net.x).status_code == 404
    both = get(http, net.adv_a_key, "orders").json()
    assert [t["currency"] for t in both["totals"]] == ["EUR", "USD"]


def test_partner_sees_only_its_own_rows(http: httpx.Client, net: Net) -> None:
    orders = get(http, net.y_key, "orders").json()
    [total] = orders["totals"]
    assert (total["orders"], total["sales"], total["commission"]["value"]) == (2, "230.00", "12.00")
    assert total["kpis"]["roi"] is None  # the advertiser's number, not the partner's
    traffic = get(http, net.y_key, "traffic", group_by="partner").json()
    assert [r["group"] for r in traffic["rows"]] == [net.y]
    assert get(http, net.y_key, "orders", partner_id=net.x).status_code == 404
    # Narrowing to a program is allowed; the rows stay the partner's own.
    narrowed = get(http, net.x_key, "orders", program_id=net.shoes).json()
    assert narrowed["totals"][0]["orders"] == 4
    tx = get(http, net.y_key, "transactions").json()
    assert [t["order_id"] for t in tx["data"]] == ["o-3", "o-4"]
    path = tx["data"][0]["click_path"]
    assert path[0]["partner_id"] == net.y and "click_id" in path[0]
    # Another partner's click in the path shows only its verdict.
    assert path[1] == {"verdict": "lost", "reason": "older", "partner_id": None, "other": True}


def test_no_key_no_report(http: httpx.Client) -> None:
    response = http.get("/api/v1/reports/orders")
    assert response.status_code == 401


@pytest.mark.parametrize(
    ("report", "params", "field"),
    [
        ("traffic", {"from": "2024-03-10", "to": "2024-03-01"}, "from"),
        ("orders", {"from": "2024-13-01"}, "from"),
        ("orders", {"to": "yesterday"}, "to"),
        ("refunds", {"from": "2022-01-01", "to": "2024-03-01"}, "from"),
        ("traffic", {"group_by": "status"}, "group_by"),
        ("orders", {"group_by": "link"}, "group_by"),
        ("traffic", {"country": "DEU"}, "country"),
        ("traffic", {"device": "fridge"}, "device"),
        ("orders", {"format": "xml"}, "format"),
        ("transactions", {"limit": "0"}, "limit"),
        ("transactions", {"cursor": "not-a-cursor"}, "cursor"),
    ],
)
def test_bad_parameters_are_422_with_field(
    http: httpx.Client, operator_key: str, report: str, params: dict[str, str], field: str
) -> None:
    response = http.get(
        f"/api/v1/reports/{report}",
        params=params,
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["field"] == field


def test_unknown_program_is_404_for_the_operator(http: httpx.Client, operator_key: str) -> None:
    response = get(http, operator_key, "orders", program_id="prg_NOPE")
    assert response.status_code == 404
    assert response.json()["field"] == "program_id"


def test_default_period_is_the_last_30_days(
    http: httpx.Client, operator_key: str, net: Net
) -> None:
    response = http.get(
        "/api/v1/reports/traffic",
        params={"program_id": net.shoes},
        headers={"Authorization": f"Bearer {operator_key}"},
    )
    body = response.json()
    from datetime import date

    assert (date.fromisoformat(body["to"]) - date.fromisoformat(body["from"])).days == 29
    assert body["totals"]["clicks"] == 0  # the network lives in March 2024
