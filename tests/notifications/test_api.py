"""The REST surface through the real server: endpoints (secret shown once, rotation, SSRF
refused when saved), the delivery log, the dead-letter list and its retry action, partner
postback templates — and who may see what."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from alliance.notifications.delivery import deliver_due
from tests.api.factories import API, Network, auth, expect, make_network

from .conftest import Stub
from .standard_webhooks import verify

pytestmark = pytest.mark.slow


def create(http: httpx.Client, key: str, url: str, **fields: Any) -> httpx.Response:
    return http.post(f"{API}/webhook-endpoints", json={"url": url, **fields}, headers=auth(key))


def problem(response: httpx.Response, status: int, field: str) -> dict[str, Any]:
    data: dict[str, Any] = expect(response, status)
    assert response.headers["content-type"].startswith("application/problem+json")
    assert data["field"] == field, data
    return data


def test_the_secret_is_shown_on_create_and_rotate_only(
    http: httpx.Client, operator_key: str, stub: Stub
) -> None:
    net = make_network(http, operator_key)
    created = expect(
        create(
            http,
            net.advertiser_key,
            stub.url("/ok/a"),
            description="ERP",
            event_types=["conversion.created", "commission.approved"],
        ),
        201,
    )
    assert created["id"].startswith("wep_") and created["secret"].startswith("whsec_")
    assert created["owner_kind"] == "advertiser" and created["owner_id"] == net.advertiser_id
    assert created["secret_hint"] == created["secret"][:10] + "…"
    shown = expect(
        http.get(f"{API}/webhook-endpoints/{created['id']}", headers=auth(net.advertiser_key)), 200
    )
    assert "secret" not in shown and shown["event_types"] == created["event_types"]
    listed = expect(http.get(f"{API}/webhook-endpoints", headers=auth(net.advertiser_key)), 200)
    assert [e["id"] for e in listed["data"]] == [created["id"]]
    assert "secret" not in listed["data"][0]

    rotated = expect(
        http.post(
            f"{API}/webhook-endpoints/{created['id']}/rotate-secret",
            json={"keep_previous_hours": 2},
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["previous_secret_valid_until"] is not None


def test_during_a_rotation_both_secrets_verify(
    http: httpx.Client, operator_key: str, stub: Stub
) -> None:
    net = make_network(http, operator_key)
    old = expect(create(http, net.partner_key, stub.url("/ok/rotation")), 201)
    new = expect(
        http.post(
            f"{API}/webhook-endpoints/{old['id']}/rotate-secret",
            json={"keep_previous_hours": 1},
            headers=auth(net.partner_key),
        ),
        200,
    )
    send_conversion(http, net, "ROT-1")
    deliver_due(budget_s=30)
    [received] = stub.to("/ok/rotation")
    verify(old["secret"], received.headers, received.body)
    verify(new["secret"], received.headers, received.body)


def send_conversion(http: httpx.Client, net: Network, order_id: str, **params: str) -> None:
    query = {
        "program": net.program_id,
        "token": net.program["postback_token"],
        "order_id": order_id,
        "amount": "100.00",
        "currency": "SEK",
        "coupon": net.coupon["code"],
        **params,
    }
    assert expect(http.get("/postback", params=query), 200)["status"] == "accepted"


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://2130706433/",
        "http://[::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
        "http://localhost/",
        "https://user:pw@93.184.215.14/",
        "http://93.184.215.14:8080/",
        "http://127.0.0.2/",
    ],
)
def test_unsafe_urls_are_refused_when_saved(
    http: httpx.Client, operator_key: str, url: str
) -> None:
    net = make_network(http, operator_key)
    problem(create(http, net.advertiser_key, url), 422, "url")


def test_bad_input_is_refused_naming_the_field(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key)
    good = "http://127.0.0.1:9/x"
    problem(create(http, net.advertiser_key, "ftp://example.com/"), 422, "url")
    problem(create(http, net.advertiser_key, good, event_types=["order.made"]), 422, "event_types")
    problem(create(http, net.advertiser_key, good, event_types=["payout.paid"]), 422, "event_types")
    problem(create(http, net.advertiser_key, good, colour="red"), 422, "colour")
    assert create(http, net.partner_key, good, event_types=["payout.paid"]).status_code == 201
    assert create(http, operator_key, good).status_code == 403


def test_accounts_see_only_their_own_endpoints_and_deliveries(
    http: httpx.Client, operator_key: str, stub: Stub
) -> None:
    net = make_network(http, operator_key)
    other = make_network(http, operator_key)
    mine = expect(create(http, net.advertiser_key, stub.url("/ok/mine")), 201)
    for key in (other.advertiser_key, other.partner_key, net.partner_key):
        assert (
            http.get(f"{API}/webhook-endpoints/{mine['id']}", headers=auth(key)).status_code == 404
        )
        assert (
            http.patch(
                f"{API}/webhook-endpoints/{mine['id']}", json={"active": False}, headers=auth(key)
            ).status_code
            == 404
        )
        assert (
            http.delete(f"{API}/webhook-endpoints/{mine['id']}", headers=auth(key)).status_code
            == 404
        )
        listed = expect(http.get(f"{API}/webhook-endpoints", headers=auth(key)), 200)
        assert mine["id"] not in [e["id"] for e in listed["data"]]
    send_conversion(http, net, "VIS-1")
    deliver_due(budget_s=30)
    [delivery] = expect(
        http.get(
            f"{API}/webhook-endpoints/{mine['id']}/deliveries", headers=auth(net.advertiser_key)
        ),
        200,
    )["data"]
    for key in (other.advertiser_key, net.partner_key):
        answer = http.get(f"{API}/webhook-deliveries/{delivery['id']}", headers=auth(key))
        assert answer.status_code == 404
        retried = http.post(f"{API}/webhook-deliveries/{delivery['id']}/retry", headers=auth(key))
        assert retried.status_code == 404
    operator_view = http.get(
        f"{API}/webhook-deliveries/{delivery['id']}", headers=auth(operator_key)
    )
    assert expect(operator_view, 200)["id"] == delivery["id"]


def test_the_log_the_dead_letter_list_and_the_retry_action(
    http: httpx.Client, operator_key: str, stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alliance.settings import get_settings

    monkeypatch.setenv("ALLIANCE_WEBHOOK_MAX_ATTEMPTS", "1")
    get_settings.cache_clear()
    net = make_network(http, operator_key)
    key = auth(net.advertiser_key)
    endpoint = expect(create(http, net.advertiser_key, stub.url("/fail/api")), 201)
    send_conversion(http, net, "DL-1")
    deliver_due(budget_s=30)
    log = expect(http.get(f"{API}/webhook-endpoints/{endpoint['id']}/deliveries", headers=key), 200)
    [delivery] = log["data"]
    assert delivery["state"] == "dead" and delivery["attempts"] == 1
    assert delivery["last_status_code"] == 500 and delivery["last_error"] == "HTTP 500"
    assert delivery["event_type"] == "conversion.created"
    assert delivery["event_id"].startswith("msg_") and delivery["next_attempt_at"] is None
    dead = expect(http.get(f"{API}/webhook-deliveries", params={"state": "dead"}, headers=key), 200)
    assert [d["id"] for d in dead["data"]] == [delivery["id"]]
    assert (
        expect(
            http.get(f"{API}/webhook-deliveries", params={"state": "delivered"}, headers=key), 200
        )["data"]
        == []
    )
    assert (
        http.get(f"{API}/webhook-deliveries", params={"state": "lost"}, headers=key).status_code
        == 422
    )

    expect(
        http.patch(
            f"{API}/webhook-endpoints/{endpoint['id']}",
            json={"url": stub.url("/ok/api")},
            headers=key,
        ),
        200,
    )
    queued = expect(http.post(f"{API}/webhook-deliveries/{delivery['id']}/retry", headers=key), 202)
    assert queued["state"] == "pending"
    again = http.post(f"{API}/webhook-deliveries/{delivery['id']}/retry", headers=key)
    problem(again, 409, "state")
    deliver_due(budget_s=30)
    done = expect(http.get(f"{API}/webhook-deliveries/{delivery['id']}", headers=key), 200)
    assert (done["state"], done["attempts"], done["last_status_code"]) == ("delivered", 2, 200)
    [received] = stub.to("/ok/api")
    assert received.headers["webhook-id"] == delivery["event_id"]
    assert dead["data"][0]["id"] not in [
        d["id"]
        for d in expect(
            http.get(f"{API}/webhook-deliveries", params={"state": "dead"}, headers=key), 200
        )["data"]
    ]


def test_patch_and_delete(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key)
    key = auth(net.partner_key)
    endpoint = expect(create(http, net.partner_key, "http://127.0.0.1:9/p"), 201)
    url = f"{API}/webhook-endpoints/{endpoint['id']}"
    changed = expect(
        http.patch(
            url,
            json={"active": False, "description": "paused", "event_types": ["payout.paid"]},
            headers=key,
        ),
        200,
    )
    assert (changed["active"], changed["description"], changed["event_types"]) == (
        False,
        "paused",
        ["payout.paid"],
    )
    problem(http.patch(url, json={"url": "http://192.168.1.1/"}, headers=key), 422, "url")
    assert http.delete(url, headers=key).status_code == 204
    assert http.get(url, headers=key).status_code == 404


def test_partner_postback_templates(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key)
    key = auth(net.partner_key)
    template = "http://127.0.0.1:9/pb?cid={click_id}&sum={amount}&st={status}"
    wide = expect(http.put(f"{API}/partner-postbacks", json={"url": template}, headers=key), 200)
    assert wide["id"].startswith("pbk_") and wide["program_id"] is None
    narrow = expect(
        http.put(
            f"{API}/partner-postbacks",
            json={
                "url": template + "&p=1",
                "program_id": net.program_id,
                "event_types": ["conversion.completed"],
            },
            headers=key,
        ),
        200,
    )
    replaced = expect(
        http.put(
            f"{API}/partner-postbacks",
            json={"url": template + "&p=2", "program_id": net.program_id},
            headers=key,
        ),
        200,
    )
    assert replaced["id"] == narrow["id"] and replaced["url"].endswith("&p=2")
    assert replaced["event_types"] == []
    listed = expect(http.get(f"{API}/partner-postbacks", headers=key), 200)["data"]
    assert sorted(p["id"] for p in listed) == sorted([wide["id"], narrow["id"]])

    bad = {
        "http://127.0.0.1:9/pb?x={unknown}": "url",
        "http://{sub1}.example.com/pb": "url",
        "http://10.0.0.8/pb?c={click_id}": "url",
    }
    for url, field in bad.items():
        problem(http.put(f"{API}/partner-postbacks", json={"url": url}, headers=key), 422, field)
    problem(
        http.put(
            f"{API}/partner-postbacks",
            json={"url": template, "event_types": ["commission.approved"]},
            headers=key,
        ),
        422,
        "event_types",
    )
    other = make_network(http, operator_key)
    assert (
        http.put(
            f"{API}/partner-postbacks",
            json={"url": template},
            headers=auth(other.advertiser_key),
        ).status_code
        == 403
    )
    assert (
        http.get(
            f"{API}/partner-postbacks/{wide['id']}", headers=auth(other.partner_key)
        ).status_code
        == 404
    )
    assert http.delete(f"{API}/partner-postbacks/{wide['id']}", headers=key).status_code == 204
    macros = expect(http.get(f"{API}/partner-postbacks/macros", headers=key), 200)
    assert {"click_id", "sub1", "order_id", "amount", "commission", "currency", "status"} <= {
        m["name"] for m in macros
    }
    types = expect(http.get(f"{API}/webhook-event-types", headers=key), 200)
    assert {t["type"] for t in types} >= {
        "conversion.created",
        "commission.approved",
        "commission.reversed",
        "payout.paid",
    }


def test_an_endpoint_limit_per_account(http: httpx.Client, operator_key: str) -> None:
    from alliance.notifications.service import MAX_ENDPOINTS_PER_OWNER

    net = make_network(http, operator_key)
    for n in range(MAX_ENDPOINTS_PER_OWNER):
        expect(create(http, net.partner_key, f"http://127.0.0.1:9/{n}"), 201)
    assert create(http, net.partner_key, "http://127.0.0.1:9/one-more").status_code == 409


def test_openapi_lists_the_endpoints(http: httpx.Client) -> None:
    paths = expect(http.get(f"{API}/openapi.json"), 200)["paths"]
    for path in (
        "/api/v1/webhook-endpoints",
        "/api/v1/webhook-endpoints/{endpoint_id}",
        "/api/v1/webhook-endpoints/{endpoint_id}/rotate-secret",
        "/api/v1/webhook-endpoints/{endpoint_id}/deliveries",
        "/api/v1/webhook-deliveries",
        "/api/v1/webhook-deliveries/{delivery_id}/retry",
        "/api/v1/partner-postbacks",
    ):
        assert path in paths
