"""/api/v1/bundles through the real server: propose, accept, split orders sent by postback,
read allocations and totals that reconcile to the cent with the orders, who sees what, and
bad input answered 4xx naming the field."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.api.factories import (
    API,
    Network,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_network,
    make_partner,
    make_program,
    unique,
)

D = Decimal


def _postback(http: httpx.Client, n: Network, **params: Any) -> dict[str, Any]:
    query = {
        "program": n.program_id,
        "token": n.program["postback_token"],
        "currency": n.program["currency"],
        "coupon": n.coupon["code"],
        **params,
    }
    if "items" in query:
        query["items"] = json.dumps(query["items"])
    body: dict[str, Any] = expect(http.get("/postback", params=query), 200)
    return body


def _bundle(
    http: httpx.Client, key: str, seller_program: str, parties: Any, **fields: Any
) -> httpx.Response:
    body = {
        "program_id": seller_program,
        "name": unique("Kit"),
        "sku": unique("KIT").replace(" ", "-"),
        "price": "99.90",
        "parties": parties,
        **fields,
    }
    return http.post(f"{API}/bundles", json=body, headers=auth(key))


def _all_pages(http: httpx.Client, url: str, key: str, **params: Any) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        page = expect(http.get(url, params=query, headers=auth(key)), 200)
        found += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return found


def test_a_bundle_is_agreed_split_and_reconciled(http: httpx.Client, operator_key: str) -> None:
    seller = make_network(http, operator_key, currency="EUR")
    other_id, other_key = make_advertiser(http, operator_key, currency="EUR")
    other_program = make_program(http, other_key)
    _, outsider_key = make_advertiser(http, operator_key)
    _, stranger_key = make_partner(http, operator_key)

    created = expect(
        _bundle(
            http,
            seller.advertiser_key,
            seller.program_id,
            [
                {"program_id": seller.program_id, "weight": 3},
                {"program_id": other_program["id"], "weight": "1"},
            ],
        ),
        201,
    )
    bundle_id, sku = created["id"], created["sku"]
    url = f"{API}/bundles/{bundle_id}"
    assert created["status"] == "proposed" and created["currency"] == "EUR"
    own, theirs = created["parties"]
    assert (own["status"], own["weight"]) == ("accepted", "3")
    assert (theirs["status"], theirs["advertiser_id"]) == ("invited", other_id)

    # Proposed: the partner does not see it yet; outsiders never do; the invited party does.
    for key in (seller.partner_key, outsider_key, stranger_key):
        expect(http.get(url, headers=auth(key)), 404)
    expect(http.get(url, headers=auth(other_key)), 200)
    accept = f"{url}/parties/{theirs['id']}/accept"
    expect(http.post(accept, headers=auth(seller.advertiser_key)), 403)
    expect(http.post(accept, headers=auth(outsider_key)), 404)
    active = expect(http.post(accept, headers=auth(other_key)), 200)
    assert active["status"] == "active" and active["activated_at"] is not None
    assert expect(http.post(accept, headers=auth(other_key)), 200)["status"] == "active"

    # The approved partner now sees it, without the advertisers' weights.
    seen = expect(http.get(url, headers=auth(seller.partner_key)), 200)
    assert [p["weight"] for p in seen["parties"]] == [None, None]
    listed = _all_pages(http, f"{API}/bundles", seller.partner_key, status="active")
    assert bundle_id in {b["id"] for b in listed}
    expect(http.get(url, headers=auth(stranger_key)), 404)

    # Two orders with the bundle's SKU, by postback; the first refunded in two steps.
    first = _postback(
        http,
        seller,
        order_id=unique("O").replace(" ", "-"),
        amount="100.00",
        status="completed",
        items=[{"sku": sku, "amount": "80.00"}, {"sku": "SOCKS", "amount": "20.00"}],
    )
    order_id = expect(
        http.get(
            f"{API}/conversions/{first['conversion_id']}", headers=auth(seller.advertiser_key)
        ),
        200,
    )["order_id"]
    _postback(http, seller, order_id=order_id, status="refunded", refund_amount="40.00")
    replay = _postback(http, seller, order_id=order_id, status="refunded", refund_amount="40.00")
    assert replay["status"] == "duplicate"
    _postback(http, seller, order_id=order_id, status="refunded", refund_amount="100.00")
    second = _postback(
        http,
        seller,
        order_id=unique("O").replace(" ", "-"),
        amount="50.00",
        status="completed",
        items=[{"sku": sku, "amount": "50.00"}],
    )

    rows = _all_pages(http, f"{url}/allocations", seller.advertiser_key, limit=2)
    assert len(rows) == 2 * 2 + 2 * 2  # two sales, two refund steps, two parties each
    assert {r["order_id"] for r in rows} >= {order_id}
    sale = {
        (r["conversion_id"], r["party_id"]): (r["revenue"], r["commission"])
        for r in rows
        if r["kind"] == "sale"
    }
    assert sale[(first["conversion_id"], own["id"])] == ("60.00", "6.00")
    assert sale[(first["conversion_id"], theirs["id"])] == ("20.00", "2.00")
    assert sale[(second["conversion_id"], own["id"])] == ("37.50", "3.75")
    assert sale[(second["conversion_id"], theirs["id"])] == ("12.50", "1.25")
    refunds = [r for r in rows if r["kind"] == "refund"]
    assert {r["event_key"] for r in refunds} == {"refund:4000", "refund:10000"}
    half = [r for r in refunds if r["event_key"] == "refund:4000"]
    assert {r["line_revenue"] for r in half} == {"32.00"}  # 40% of the 80.00 line

    totals = expect(http.get(f"{url}/totals", headers=auth(seller.advertiser_key)), 200)
    mine, other = totals["parties"]
    assert mine["party_id"] == own["id"] and mine["program_id"] == seller.program_id
    assert (mine["orders"], mine["revenue"], mine["refunded_revenue"], mine["net_revenue"]) == (
        2,
        "97.50",
        "60.00",
        "37.50",
    )
    assert (mine["commission"], mine["reversed_commission"], mine["net_commission"]) == (
        "9.75",
        "6.00",
        "3.75",
    )
    assert (other["revenue"], other["net_revenue"], other["net_commission"]) == (
        "32.50",
        "12.50",
        "1.25",
    )
    # The totals are the rows' sums, and the parties' parts add up to the orders' lines.
    for party in totals["parties"]:
        mine_rows = [r for r in rows if r["party_id"] == party["party_id"]]
        assert sum(D(r["revenue"]) for r in mine_rows) == D(party["net_revenue"])
        assert sum(D(r["commission"]) for r in mine_rows) == D(party["net_commission"])
    for sold in (first, second):
        order = expect(
            http.get(f"{API}/conversions/{sold['conversion_id']}", headers=auth(operator_key)), 200
        )
        line = sum(D(i["amount"]) for i in order["items"] if i["sku"] == sku)
        parts = [r for r in rows if r["conversion_id"] == order["id"]]
        assert sum(D(r["revenue"]) for r in parts if r["kind"] == "sale") == line
        refunded = -sum(D(r["revenue"]) for r in parts if r["kind"] == "refund")
        assert refunded == line * D(order["refunded_amount"]) / D(order["amount"])

    # The other party's advertiser sees only its own party's rows and totals.
    theirs_rows = _all_pages(http, f"{url}/allocations", other_key)
    assert {r["party_id"] for r in theirs_rows} == {theirs["id"]} and len(theirs_rows) == 4
    their_totals = expect(http.get(f"{url}/totals", headers=auth(other_key)), 200)
    assert [p["party_id"] for p in their_totals["parties"]] == [theirs["id"]]
    only_refunds = _all_pages(
        http, f"{url}/allocations", operator_key, kind="refund", party_id=own["id"]
    )
    assert len(only_refunds) == 2 and {r["kind"] for r in only_refunds} == {"refund"}
    # Partners never read the split; outsiders not even the bundle.
    expect(http.get(f"{url}/allocations", headers=auth(seller.partner_key)), 403)
    expect(http.get(f"{url}/totals", headers=auth(outsider_key)), 404)

    # Deactivated by the seller: gone from the partner's view, its SKU free again.
    expect(http.post(f"{url}/deactivate", headers=auth(other_key)), 403)
    closed = expect(http.post(f"{url}/deactivate", headers=auth(seller.advertiser_key)), 200)
    assert closed["status"] == "inactive" and closed["closed_at"] is not None
    expect(http.get(url, headers=auth(seller.partner_key)), 404)
    again = _bundle(
        http,
        seller.advertiser_key,
        seller.program_id,
        [{"program_id": seller.program_id, "weight": 1}],
        sku=sku,
    )
    assert expect(again, 201)["status"] == "active"


def test_three_decimal_amounts_come_back_in_fils(http: httpx.Client, operator_key: str) -> None:
    seller = make_network(http, operator_key, currency="KWD")
    _, other_key = make_advertiser(http, operator_key, currency="KWD")
    other_program = make_program(http, other_key)
    created = expect(
        _bundle(
            http,
            seller.advertiser_key,
            seller.program_id,
            [
                {"program_id": seller.program_id, "weight": "1"},
                {"program_id": other_program["id"], "weight": "2"},
            ],
            price="12.500",
        ),
        201,
    )
    assert (created["price"], created["currency"]) == ("12.500", "KWD")
    url = f"{API}/bundles/{created['id']}"
    expect(
        http.post(f"{url}/parties/{created['parties'][1]['id']}/accept", headers=auth(other_key)),
        200,
    )
    _postback(
        http,
        seller,
        order_id=unique("K").replace(" ", "-"),
        amount="10.000",
        status="completed",
        items=[{"sku": created["sku"], "amount": "10.000"}],
    )
    totals = expect(http.get(f"{url}/totals", headers=auth(seller.advertiser_key)), 200)
    assert [(p["revenue"], p["commission"]) for p in totals["parties"]] == [
        ("3.333", "0.333"),
        ("6.667", "0.667"),
    ]


def test_a_declined_party_declines_the_bundle(http: httpx.Client, operator_key: str) -> None:
    seller = make_network(http, operator_key, currency="EUR")
    _, other_key = make_advertiser(http, operator_key, currency="EUR")
    other_program = make_program(http, other_key)
    parties = [
        {"program_id": seller.program_id, "weight": 1},
        {"program_id": other_program["id"], "weight": 1},
    ]
    created = expect(_bundle(http, seller.advertiser_key, seller.program_id, parties), 201)
    url = f"{API}/bundles/{created['id']}"
    taken = _bundle(http, seller.advertiser_key, seller.program_id, parties, sku=created["sku"])
    problem = expect(taken, 409)
    assert problem["field"] == "sku"
    party = created["parties"][1]["id"]
    declined = expect(http.post(f"{url}/parties/{party}/decline", headers=auth(other_key)), 200)
    assert declined["status"] == "declined"
    late = expect(http.post(f"{url}/parties/{party}/accept", headers=auth(other_key)), 409)
    assert late["status"] == 409
    missing = f"{url}/parties/bdp_00000000000000000000000000/accept"
    expect(http.post(missing, headers=auth(operator_key)), 404)
    listed = _all_pages(http, f"{API}/bundles", seller.advertiser_key, program_id=seller.program_id)
    assert created["id"] in {b["id"] for b in listed}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"parties": []}, "parties"),
        ({"parties": None}, "parties"),
        ({"parties": [{"program_id": "nope", "weight": 1}]}, "parties.0.program_id"),
        (
            {"parties": [{"program_id": "prg_00000000000000000000000000", "weight": 1}]},
            "parties.0.program_id",
        ),
        ({"parties": [{"program_id": "SELF", "weight": 0}]}, "parties.0.weight"),
        ({"parties": [{"program_id": "SELF", "weight": "a lot"}]}, "parties.0.weight"),
        ({"parties": [{"program_id": "SELF", "weight": 1.5}]}, "parties.0.weight"),
        ({"parties": [{"program_id": "SELF", "weight": 1, "share": 2}]}, "parties.0.share"),
        (
            {"parties": [{"program_id": "SELF", "weight": 1}, {"program_id": "SELF", "weight": 1}]},
            "parties.1.program_id",
        ),
        ({"price": "12.345"}, "price"),
        ({"price": "-1"}, "price"),
        ({"price": 12.5}, "price"),
        ({"currency": "XYZ"}, "currency"),
        ({"sku": ""}, "sku"),
        ({"sku": "A\nB"}, "sku"),
        ({"sku": "x" * 129}, "sku"),
        ({"name": ""}, "name"),
        ({"program_id": "prg_bad"}, "program_id"),
        ({"program_id": "prg_00000000000000000000000000"}, "program_id"),
    ],
)
def test_bad_input_is_a_4xx_naming_the_field(
    http: httpx.Client,
    operator_key: str,
    change: dict[str, Any],
    field: str,
    bad_input_world: Network,
) -> None:
    n = bad_input_world
    parties = change.pop("parties", [{"program_id": "SELF", "weight": 1}])
    if parties is not None:
        parties = [
            {**p, "program_id": n.program_id if p["program_id"] == "SELF" else p["program_id"]}
            for p in parties
        ]
    r = _bundle(http, n.advertiser_key, n.program_id, parties, **change)
    assert 400 <= r.status_code < 500, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field


@pytest.fixture(scope="module")
def bad_input_world(http_module: httpx.Client, operator_key: str) -> Network:
    return make_network(http_module, operator_key, currency="EUR")


@pytest.fixture(scope="module")
def http_module(server: Any) -> Any:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client


def test_partners_cannot_propose_and_reads_need_a_key(
    http: httpx.Client, operator_key: str
) -> None:
    n = make_network(http, operator_key, currency="EUR")
    r = _bundle(http, n.partner_key, n.program_id, [{"program_id": n.program_id, "weight": 1}])
    assert r.status_code == 403
    assert http.get(f"{API}/bundles").status_code == 401
    expect(http.get(f"{API}/bundles/junk", headers=auth(n.advertiser_key)), 404)
    # Approved in another program only: the bundle stays invisible to this partner.
    other_id, other_partner_key = make_partner(http, operator_key)
    other = make_program(http, n.advertiser_key)
    enroll_and_approve(http, other["id"], other_partner_key, n.advertiser_key)
    created = expect(
        _bundle(http, n.advertiser_key, n.program_id, [{"program_id": n.program_id, "weight": 1}]),
        201,
    )
    expect(http.get(f"{API}/bundles/{created['id']}", headers=auth(other_partner_key)), 404)
    assert other_id
