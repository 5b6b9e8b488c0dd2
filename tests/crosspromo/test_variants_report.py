"""The variants report, end to end: clicks through the real redirect, orders through the real
/postback, the report read back through the API and checked against what was sent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from alliance.clock import utcnow
from alliance.crosspromo.variants import difference_interval, wilson_interval
from tests.api.factories import API, auth, expect, make_partner

from .variant_factories import (
    US_IP,
    Shop,
    Visit,
    add_variant,
    make_shop,
    proxied_server,
    stored_click,
    visit,
)

pytestmark = pytest.mark.xdist_group("link-variants-report")

BOT = "Googlebot/2.1 (+http://www.google.com/bot.html)"


@pytest.fixture(scope="module")
def proxied(db_url: str) -> Iterator[httpx.Client]:
    with proxied_server(db_url) as client:
        yield client


def order(client: httpx.Client, shop: Shop, click_id: str, order_id: str, **params: Any) -> None:
    query = {
        "program": shop.program_id,
        "token": shop.program["postback_token"],
        "click_id": click_id,
        "order_id": order_id,
        "amount": "100.00",
        "currency": "EUR",
        "status": "pending",
        **params,
    }
    answer = client.get("/postback", params=query)
    assert answer.status_code == 200, answer.text


def report(client: httpx.Client, shop: Shop, key: str, **params: str) -> dict[str, Any]:
    url = f"{API}/links/{shop.link_id}/variants/report"
    data: dict[str, Any] = expect(client.get(url, params=params, headers=auth(key)), 200)
    return data


def test_the_report_counts_clicks_orders_and_rates_per_variant(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    a = add_variant(proxied, shop, name="Control", landing_url="https://shop.example/a")
    b = add_variant(proxied, shop, landing_url="https://shop.example/b")

    by_variant: dict[str | None, list[Visit]] = {a: [], b: []}
    while (
        min(len(by_variant[a]), len(by_variant[b])) < 4
        or len(by_variant[a]) + len(by_variant[b]) < 16
    ):
        seen = visit(proxied, shop.code, ip=US_IP)
        by_variant[stored_click(seen.click_id).variant_id].append(seen)
    bot = visit(proxied, shop.code, ip=US_IP, user_agent=BOT)
    bot_variant = stored_click(bot.click_id).variant_id
    assert stored_click(bot.click_id).is_bot
    deep = visit(proxied, shop.code, query="?url=https%3A%2F%2Fshop.example%2Fdeep")
    assert stored_click(deep.click_id).variant_id is None

    # A: three converting clicks, one of them with two orders (one of 50.00); B: two orders,
    # one of them declined; the deep-link click one order.
    clicks_a, clicks_b = by_variant[a], by_variant[b]
    order(proxied, shop, clicks_a[0].click_id, "A-1")
    order(proxied, shop, clicks_a[0].click_id, "A-1b", amount="50.00")
    order(proxied, shop, clicks_a[1].click_id, "A-2", status="completed")
    order(proxied, shop, clicks_a[2].click_id, "A-3")
    order(proxied, shop, clicks_b[0].click_id, "B-1", amount="20.50")
    order(proxied, shop, clicks_b[1].click_id, "B-2", status="declined")
    order(proxied, shop, deep.click_id, "D-1")

    # Deleted later: still reported, marked deleted, its clicks kept.
    assert (
        proxied.delete(
            f"{API}/links/{shop.link_id}/variants/{b}", headers=auth(shop.partner_key)
        ).status_code
        == 204
    )

    data = report(proxied, shop, shop.partner_key)
    rows = {row["variant_id"]: row for row in data["variants"]}
    assert list(rows) == [a, b]
    n_a = len(clicks_a) + (bot_variant == a)
    n_b = len(clicks_b) + (bot_variant == b)
    assert (rows[a]["clicks"], rows[a]["valid_clicks"]) == (n_a, len(clicks_a))
    assert (rows[b]["clicks"], rows[b]["valid_clicks"]) == (n_b, len(clicks_b))
    assert (rows[a]["orders"], rows[a]["converting_clicks"]) == (4, 3)
    assert (rows[b]["orders"], rows[b]["converting_clicks"]) == (1, 1)
    assert rows[a]["sales"] == [{"currency": "EUR", "amount": "350.00"}]
    assert rows[b]["sales"] == [{"currency": "EUR", "amount": "20.50"}]
    assert (rows[a]["name"], rows[a]["deleted"]) == ("Control", False)
    assert (rows[b]["name"], rows[b]["deleted"]) == ("https://shop.example/b", True)

    rate_a = 3 / len(clicks_a)
    assert rows[a]["conversion_rate"] == pytest.approx(rate_a, abs=1e-6)
    interval = wilson_interval(3, len(clicks_a))
    assert rows[a]["conversion_rate_95"] == {
        "low": pytest.approx(interval.low, abs=1e-6),
        "high": pytest.approx(interval.high, abs=1e-6),
    }
    (comparison,) = data["comparisons"]
    assert (comparison["variant_id"], comparison["control_id"]) == (b, a)
    assert comparison["difference"] == pytest.approx(1 / len(clicks_b) - rate_a, abs=1e-6)
    newcombe = difference_interval(1, len(clicks_b), 3, len(clicks_a))
    assert comparison["difference_95"]["low"] == pytest.approx(newcombe.low, abs=1e-6)
    overlap = wilson_interval(1, len(clicks_b)).overlaps(interval)
    assert comparison["intervals_overlap"] is overlap

    none = data["no_variant"]
    assert (none["variant_id"], none["clicks"], none["valid_clicks"]) == (None, 1, 1)
    assert (none["orders"], none["converting_clicks"]) == (1, 1)

    # The program's advertiser and the operator read the same report.
    for key in (shop.advertiser_key, operator_key):
        assert report(proxied, shop, key)["variants"] == data["variants"]
    _, rival = make_partner(proxied, operator_key)
    url = f"{API}/links/{shop.link_id}/variants/report"
    assert proxied.get(url, headers=auth(rival)).status_code == 404

    # A period after the clicks: nothing.
    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    later = report(proxied, shop, shop.partner_key, **{"from": tomorrow, "to": tomorrow})
    assert [row["clicks"] for row in later["variants"]] == [0]  # b deleted and without clicks
    assert later["variants"][0]["conversion_rate"] is None
    assert later["comparisons"] == []


def test_report_periods_are_checked(proxied: httpx.Client, operator_key: str) -> None:
    shop = make_shop(proxied, operator_key)
    url = f"{API}/links/{shop.link_id}/variants/report"
    key = auth(shop.partner_key)
    for params, field in (
        ({"from": "2026-02-30"}, "from"),
        ({"to": "yesterday"}, "to"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "from"),
        ({"from": (utcnow() + timedelta(days=2)).date().isoformat()}, "from"),  # `to`: now
    ):
        answer = proxied.get(url, params=params, headers=key)
        assert answer.status_code == 422, answer.text
        assert answer.json()["field"] == field
    empty = expect(proxied.get(url, params={"from": "2026-01-01"}, headers=key), 200)
    assert empty["variants"] == [] and empty["comparisons"] == []
    assert empty["no_variant"]["clicks"] == 0
    assert Decimal(0) == sum(Decimal(s["amount"]) for s in empty["no_variant"]["sales"])
