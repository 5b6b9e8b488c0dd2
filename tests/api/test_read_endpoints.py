"""Clicks, conversions and commissions: filters, cursor pages, history and the ledger."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.api.factories import (
    API,
    auth,
    expect,
    insert_click,
    insert_commission,
    insert_conversion,
    make_network,
)


def test_clicks_filters_and_pages(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key)
    link_id = net.link["id"]
    day1 = datetime(2024, 3, 1, 12, tzinfo=UTC)
    day2 = datetime(2024, 3, 2, 12, tzinfo=UTC)
    human = [
        insert_click(
            net.program_id, net.partner_id, link_id, occurred_at=day1, country="SE", sub1="spring"
        )
        for _ in range(3)
    ]
    bot = insert_click(
        net.program_id, net.partner_id, link_id, occurred_at=day2, is_bot=True, device="bot"
    )
    key = auth(net.advertiser_key)

    def ids(**params: str) -> list[str]:
        page = expect(http.get(f"{API}/clicks", params=params, headers=key), 200)
        return [c["id"] for c in page["data"]]

    assert ids(program_id=net.program_id) == sorted([*human, bot], reverse=True)
    assert ids(program_id=net.program_id, is_bot="true") == [bot]
    assert set(ids(program_id=net.program_id, is_bot="false")) == set(human)
    assert set(ids(program_id=net.program_id, country="se")) == set(human)
    assert set(ids(program_id=net.program_id, sub1="spring")) == set(human)
    assert ids(program_id=net.program_id, **{"from": "2024-03-02"}) == [bot]
    assert set(ids(program_id=net.program_id, to="2024-03-01")) == set(human)
    assert ids(program_id=net.program_id, to="2024-03-01T11:59:59Z") == []
    assert ids(
        link_id=link_id,
        partner_id=net.partner_id,
        **{"from": "2024-03-01T12:00:00+00:00", "to": "2024-03-02T12:00:00"},
    ) == sorted([*human, bot], reverse=True)

    first = expect(
        http.get(f"{API}/clicks", params={"program_id": net.program_id, "limit": 3}, headers=key),
        200,
    )
    assert len(first["data"]) == 3 and first["next_cursor"]
    rest = expect(
        http.get(
            f"{API}/clicks",
            params={"program_id": net.program_id, "limit": 3, "cursor": first["next_cursor"]},
            headers=key,
        ),
        200,
    )
    assert len(rest["data"]) == 1 and rest["next_cursor"] is None
    click = expect(http.get(f"{API}/clicks/{bot}", headers=auth(net.partner_key)), 200)
    assert click["is_bot"] is True and "ip_hash" not in click and "visitor_id" not in click


def test_conversion_detail_has_history_and_commission(
    http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key, currency="SEK")
    conversion_id = insert_conversion(
        net.program_id,
        net.partner_id,
        status="completed",
        amount="1250.00",
        customer_id="cust-9",
        click_path=[{"click_id": "clk_x", "won": True}],
    )
    commission_id = insert_commission(
        net.program_id,
        net.partner_id,
        conversion_id,
        entries=(("accrual", "pending", "125.00"), ("reduction", "pending", "-25.00")),
    )
    detail = expect(
        http.get(f"{API}/conversions/{conversion_id}", headers=auth(net.advertiser_key)), 200
    )
    assert (detail["amount"], detail["currency"], detail["status"]) == (
        "1250.00",
        "SEK",
        "completed",
    )
    assert [h["status"] for h in detail["history"]] == ["pending", "completed"]
    assert detail["customer_id"] == "cust-9" and detail["click_path"]
    assert detail["commission"]["id"] == commission_id
    assert detail["commission"]["value"] == "100.00"

    as_partner = expect(
        http.get(f"{API}/conversions/{conversion_id}", headers=auth(net.partner_key)), 200
    )
    assert as_partner["customer_id"] is None and as_partner["click_path"] is None
    listed = expect(
        http.get(
            f"{API}/conversions",
            params={
                "program_id": net.program_id,
                "status": "completed",
                "order_id": detail["order_id"],
            },
            headers=auth(net.partner_key),
        ),
        200,
    )
    assert [c["id"] for c in listed["data"]] == [conversion_id]
    none = expect(
        http.get(
            f"{API}/conversions",
            params={"program_id": net.program_id, "status": "declined"},
            headers=auth(net.partner_key),
        ),
        200,
    )
    assert none["data"] == []


def test_commission_value_is_the_sum_of_its_ledger(http: httpx.Client, operator_key: str) -> None:
    net = make_network(
        http, operator_key, currency="JPY", commission={"type": "cps", "percent": "5"}
    )
    conversion_id = insert_conversion(
        net.program_id, net.partner_id, currency="JPY", amount="20000"
    )
    commission_id = insert_commission(
        net.program_id,
        net.partner_id,
        conversion_id,
        currency="JPY",
        status="approved",
        entries=(
            ("accrual", "pending", "1000"),
            ("approval", "pending", "-1000"),
            ("approval", "approved", "1000"),
            ("reduction", "approved", "-250"),
        ),
    )
    detail = expect(
        http.get(f"{API}/commissions/{commission_id}", headers=auth(net.partner_key)), 200
    )
    assert (detail["amount"], detail["value"], detail["currency"]) == ("1000", "750", "JPY")
    assert detail["balances"] == {"pending": "0", "approved": "750", "paid": "0"}
    assert [e["entry_type"] for e in detail["entries"]] == [
        "accrual",
        "approval",
        "approval",
        "reduction",
    ]
    assert detail["rule"]["type"] == "cps" and "10%" in detail["arithmetic"]
    listed = expect(
        http.get(
            f"{API}/commissions",
            params={"status": "approved", "program_id": net.program_id},
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    assert [(c["id"], c["value"]) for c in listed["data"]] == [(commission_id, "750")]
