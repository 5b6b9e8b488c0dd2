"""Order webhooks end to end: real platform payloads, signed as the platforms sign them, sent
to a real server; the conversions, ledger and inbox are read back through the API."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from alliance.conversions.models import InboundEvent
from alliance.db.engine import reading
from alliance.ids import new_id
from tests.api.factories import Network, auth, expect, insert_click, make_network
from tests.fixtures import PLATFORM_SAMPLES

SAMPLES = PLATFORM_SAMPLES
SHOPIFY_SECRET = "shpss_0123456789abcdef"
WOO_SECRET = "woo&secret<2026>"  # WooCommerce stores it HTML-escaped; the HMAC uses it plain
STRIPE_SECRET = "whsec_test_secret_0123456789"


def sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


def connect(http: httpx.Client, net: Network, platform: str, secret: str) -> dict[str, Any]:
    answer = http.put(
        f"/api/v1/programs/{net.program_id}/webhooks/{platform}",
        json={"secret": secret},
        headers=auth(net.advertiser_key),
    )
    return expect(answer, 200)  # type: ignore[no-any-return]


def click_for(net: Network) -> str:
    return insert_click(net.program_id, net.partner_id, net.link["id"])


def conversion(http: httpx.Client, net: Network, conversion_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/v1/conversions/{conversion_id}", headers=auth(net.advertiser_key))
    return expect(answer, 200)  # type: ignore[no-any-return]


# --- Shopify ---------------------------------------------------------------------------------


def shopify_headers(body: bytes, topic: str, event_id: str, secret: str = SHOPIFY_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-Shopify-Topic": topic,
        "X-Shopify-Hmac-Sha256": base64.b64encode(digest).decode(),
        "X-Shopify-Event-Id": event_id,
        "X-Shopify-Shop-Domain": "alliance-test.myshopify.com",
    }


def shopify_order(order_id: int, click_id: str | None, **changes: Any) -> bytes:
    order = sample("shopify_orders_create_test_notification.json")
    order.update(
        id=order_id,
        financial_status="paid",
        fulfillment_status=None,
        cancelled_at=None,
        landing_site=f"/products/shoe?utm_source=alliance&alclid={click_id}" if click_id else "/",
        created_at=now_iso(),
        processed_at=now_iso(),
    )
    order.update(changes)
    return json.dumps(order).encode()


def shopify_refund(order_id: int, refund_id: int, sample_name: str) -> bytes:
    refund = sample(sample_name)
    refund.update(order_id=order_id, id=refund_id)
    for line in refund["refund_line_items"]:
        # The sample is an API mock whose line says 0.00 while its transaction refunds 41.94;
        # a real refund states the line's value: 38.00 of goods and 3.94 of tax.
        line.update(subtotal=38.0, total_tax=3.94)
        for name, amount in (("subtotal_set", "38.00"), ("total_tax_set", "3.94")):
            for money in line[name].values():
                money["amount"] = amount
    return json.dumps(refund).encode()


def post_shopify(
    http: httpx.Client, net: Network, body: bytes, topic: str, event_id: str, **kw: Any
) -> httpx.Response:
    return http.post(
        f"/webhooks/shopify/{net.program_id}",
        content=body,
        headers=shopify_headers(body, topic, event_id, **kw),
    )


@pytest.fixture
def shop(http: httpx.Client, operator_key: str) -> Network:
    net = make_network(http, operator_key, currency="USD")
    connect(http, net, "shopify", SHOPIFY_SECRET)
    return net


# Shopify order ids are beyond 2**53: a JavaScript number would round them.
BIG = 2**62 + 12345


def now_iso() -> str:
    """Orders happen now, after their click: the samples' own dates (2017, 2019) are outside
    any click window."""
    return (datetime.now(UTC) + timedelta(seconds=1)).isoformat(timespec="seconds")


def test_integration_answers_the_url_and_never_the_secret(
    http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key, currency="USD")
    integration = connect(http, net, "shopify", SHOPIFY_SECRET)
    assert integration["url"].endswith(f"/webhooks/shopify/{net.program_id}")
    assert "refunds/create" in integration["topics"]
    assert SHOPIFY_SECRET not in json.dumps(integration)
    listed = expect(
        http.get(f"/api/v1/programs/{net.program_id}/webhooks", headers=auth(net.advertiser_key)),
        200,
    )
    assert [i["platform"] for i in listed] == ["shopify"]
    # Another advertiser cannot see or change this program's integrations.
    other = make_network(http, operator_key, currency="USD")
    foreign = http.put(
        f"/api/v1/programs/{net.program_id}/webhooks/stripe",
        json={"secret": STRIPE_SECRET},
        headers=auth(other.advertiser_key),
    )
    assert foreign.status_code == 404
    short = http.put(
        f"/api/v1/programs/{net.program_id}/webhooks/stripe",
        json={"secret": "short"},
        headers=auth(net.advertiser_key),
    )
    assert short.status_code == 422
    assert short.json()["field"] == "secret"


def test_shopify_order_lifecycle(http: httpx.Client, shop: Network) -> None:
    order_id = BIG + 1
    click_id = click_for(shop)
    created = post_shopify(http, shop, shopify_order(order_id, click_id), "orders/create", "e-1")
    assert created.status_code == 200, created.text
    assert created.json()["status"] == "accepted", created.text
    conversion_id = created.json()["conversion_id"]
    row = conversion(http, shop, conversion_id)
    assert row["order_id"] == str(order_id)  # exact, beyond 2**53
    assert row["status"] == "pending"
    assert row["partner_id"] == shop.partner_id
    assert row["amount"] == "403.00"

    # The same delivery again (Shopify retries on timeouts): nothing changes.
    again = post_shopify(http, shop, shopify_order(order_id, click_id), "orders/create", "e-1")
    assert again.json()["status"] == "duplicate"
    assert again.json()["conversion_id"] == conversion_id

    paid = post_shopify(http, shop, shopify_order(order_id, click_id), "orders/paid", "e-2")
    assert paid.json()["status"] == "duplicate"  # already pending: no move

    fulfilled = shopify_order(order_id, click_id, fulfillment_status="fulfilled")
    done = post_shopify(http, shop, fulfilled, "orders/fulfilled", "e-3")
    assert done.json()["status"] == "accepted"
    assert conversion(http, shop, conversion_id)["status"] == "completed"

    # A line-item refund reduces the commission in proportion; shipping-only changes nothing.
    before = conversion(http, shop, conversion_id)
    shipping = shopify_refund(order_id, 71, "shopify_refunds_create_shipping_only_refund.json")
    only_shipping = post_shopify(http, shop, shipping, "refunds/create", "e-4")
    assert only_shipping.status_code == 200
    assert conversion(http, shop, conversion_id)["refunded_amount"] == before["refunded_amount"]
    line = shopify_refund(order_id, 72, "shopify_refunds_create_line_item_refund.json")
    refunded = post_shopify(http, shop, line, "refunds/create", "e-5")
    assert refunded.json()["status"] == "accepted"
    after = conversion(http, shop, conversion_id)
    assert after["status"] == "completed"
    # 41.94 of the 393.00 of goods (403.00 less 10.00 shipping) came back: the same share of
    # the order total counts as refunded, 403.00 * 41.94 / 393.00 = 43.01.
    assert after["refunded_amount"] == "43.01"
    # The same refund under a new delivery id (a resend from the admin) counts once.
    twice = post_shopify(http, shop, line, "refunds/create", "e-6")
    assert twice.json()["status"] == "duplicate"
    assert conversion(http, shop, conversion_id)["refunded_amount"] == after["refunded_amount"]


def test_shopify_cancelled_order_is_declined(http: httpx.Client, shop: Network) -> None:
    order_id = BIG + 2
    click_id = click_for(shop)
    created = post_shopify(http, shop, shopify_order(order_id, click_id), "orders/create", "c-1")
    conversion_id = created.json()["conversion_id"]
    body = shopify_order(order_id, click_id, cancelled_at="2026-11-20T10:00:00-05:00")
    cancelled = post_shopify(http, shop, body, "orders/cancelled", "c-2")
    assert cancelled.json()["status"] == "accepted"
    assert conversion(http, shop, conversion_id)["status"] == "declined"


def test_shopify_coupon_attribution(http: httpx.Client, shop: Network) -> None:
    code = shop.coupon["code"]
    body = shopify_order(
        BIG + 3, None, discount_codes=[{"code": code, "amount": "5.00", "type": "fixed_amount"}]
    )
    created = post_shopify(http, shop, body, "orders/create", "k-1")
    assert created.json()["status"] == "accepted", created.text
    assert conversion(http, shop, created.json()["conversion_id"])["partner_id"] == shop.partner_id


def test_bad_signatures_are_refused_and_kept(http: httpx.Client, shop: Network) -> None:
    body = shopify_order(BIG + 4, click_for(shop))
    wrong = post_shopify(http, shop, body, "orders/create", "s-1", secret="not-the-secret!")
    assert wrong.status_code == 401
    assert wrong.headers["content-type"].startswith("application/problem+json")
    problem = wrong.json()
    assert problem["reason"] == "bad_signature"
    tampered_headers = shopify_headers(body, "orders/create", "s-2")
    tampered = http.post(
        f"/webhooks/shopify/{shop.program_id}",
        content=body.replace(b"403.00", b"4030.00"),
        headers=tampered_headers,
    )
    assert tampered.status_code == 401
    missing = http.post(
        f"/webhooks/shopify/{shop.program_id}",
        content=body,
        headers={"X-Shopify-Topic": "orders/create", "Content-Type": "application/json"},
    )
    assert missing.status_code == 401
    assert missing.json()["reason"] == "missing_signature"
    # Kept in the inbox with the reason, listed for the advertiser.
    events = expect(
        http.get(
            "/api/v1/inbound-events",
            params={"source": "shopify", "status": "rejected", "program_id": shop.program_id},
            headers=auth(shop.advertiser_key),
        ),
        200,
    )
    reasons = {e["reason"] for e in events["data"]}
    assert {"bad_signature", "missing_signature"} <= reasons
    # A forged delivery does not claim its event id: the real one still goes through.
    real = post_shopify(http, shop, body, "orders/create", "s-1")
    assert real.json()["status"] == "accepted"


def test_refund_before_its_order_is_parked_then_applied_once(
    http: httpx.Client, shop: Network
) -> None:
    order_id = BIG + 5
    refund = shopify_refund(order_id, 81, "shopify_refunds_create_line_item_refund.json")
    early = post_shopify(http, shop, refund, "refunds/create", "p-1")
    assert early.status_code == 200
    assert early.json()["status"] == "parked"
    created = post_shopify(
        http, shop, shopify_order(order_id, click_for(shop)), "orders/create", "p-2"
    )
    assert created.json()["status"] == "accepted", created.text
    row = conversion(http, shop, created.json()["conversion_id"])
    assert float(row["refunded_amount"]) > 0
    parked = expect(
        http.get(
            f"/api/v1/inbound-events/{early.json()['event_id']}", headers=auth(shop.advertiser_key)
        ),
        200,
    )
    assert parked["status"] == "accepted"
    # Redelivered later: a duplicate, the refund is not applied twice.
    late = post_shopify(http, shop, refund, "refunds/create", "p-1")
    assert late.json()["status"] == "duplicate"
    assert conversion(http, shop, row["id"])["refunded_amount"] == row["refunded_amount"]


def test_concurrent_redeliveries_apply_once(http: httpx.Client, shop: Network) -> None:
    order_id = BIG + 6
    body = shopify_order(order_id, click_for(shop))
    headers = shopify_headers(body, "orders/create", "race-1")
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(6)

    def deliver() -> None:
        with httpx.Client(base_url=str(http.base_url), timeout=30) as client:
            barrier.wait()
            answers.append(
                client.post(f"/webhooks/shopify/{shop.program_id}", content=body, headers=headers)
            )

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(a.json()["status"] for a in answers)
    assert statuses == ["accepted"] + ["duplicate"] * 5, [a.text for a in answers]
    assert len({a.json()["conversion_id"] for a in answers}) == 1
    with reading() as session:
        kept = session.query(InboundEvent).filter(InboundEvent.dedup_key == "race-1").count()
    assert kept == 1


def test_unknown_targets_and_methods(http: httpx.Client, shop: Network) -> None:
    body = shopify_order(BIG + 7, None)
    assert http.post("/webhooks/shopify/prg_unknown", content=body).status_code == 404
    assert http.post(f"/webhooks/magento/{shop.program_id}", content=body).status_code == 404
    not_connected = http.post(
        f"/webhooks/stripe/{shop.program_id}",
        content=b"{}",
        headers={"Stripe-Signature": "t=1,v1=00"},
    )
    assert not_connected.status_code == 404
    assert not_connected.json()["reason"] == "not_configured"
    assert http.get(f"/webhooks/shopify/{shop.program_id}").status_code == 405
    huge = http.post(f"/webhooks/shopify/{shop.program_id}", content=b"x" * (1_048_576 + 10))
    assert huge.status_code == 413
    bad_json = b"{not json"
    broken = post_shopify(http, shop, bad_json, "orders/create", "b-1")
    assert broken.status_code == 400
    assert broken.headers["content-type"].startswith("application/problem+json")


# --- Stripe ----------------------------------------------------------------------------------


def stripe_headers(body: bytes, secret: str = STRIPE_SECRET, at: int | None = None) -> dict:
    timestamp = int(time.time()) if at is None else at
    signed = f"{timestamp}.".encode() + body
    signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"}


def stripe_session_event(
    event_id: str, payment_intent: str, click_id: str, amount: int, currency: str
) -> bytes:
    event = sample("stripe_event_checkout_session_completed_djstripe.json")
    event["id"] = event_id
    session = event["data"]["object"]
    session.update(
        payment_intent=payment_intent,
        client_reference_id=click_id,
        amount_total=amount,
        currency=currency,
        payment_status="paid",
        status="complete",
        created=int(time.time()) + 1,
    )
    event["created"] = int(time.time()) + 1
    return json.dumps(event).encode()


def stripe_refund_event(
    event_id: str, payment_intent: str, amount: int, refunded: int, currency: str
) -> bytes:
    event = sample("stripe_event_charge_refunded_ASSEMBLED.json")
    event["id"] = event_id
    charge = event["data"]["object"]
    charge.update(
        payment_intent=payment_intent, amount=amount, amount_refunded=refunded, currency=currency
    )
    return json.dumps(event).encode()


@pytest.mark.parametrize(
    ("currency", "minor", "major"), [("USD", 1500, "15.00"), ("JPY", 1500, "1500")]
)
def test_stripe_checkout_and_out_of_order_refunds(
    http: httpx.Client, operator_key: str, currency: str, minor: int, major: str
) -> None:
    net = make_network(http, operator_key, currency=currency)
    connect(http, net, "stripe", STRIPE_SECRET)
    intent = f"pi_{new_id('x')[4:]}"
    url = f"/webhooks/stripe/{net.program_id}"
    unpaid = json.loads(stripe_session_event("evt_u", intent, click_for(net), minor, currency))
    unpaid["data"]["object"]["payment_status"] = "unpaid"
    body = json.dumps(unpaid).encode()
    ignored = http.post(url, content=body, headers=stripe_headers(body))
    assert ignored.json()["status"] == "ignored"

    body = stripe_session_event(f"evt_{intent}", intent, click_for(net), minor, currency.lower())
    paid = http.post(url, content=body, headers=stripe_headers(body))
    assert paid.json()["status"] == "accepted", paid.text
    row = conversion(http, net, paid.json()["conversion_id"])
    assert row["amount"].rstrip("0").rstrip(".") == major.rstrip("0").rstrip(".")
    assert row["status"] == "completed"

    # Two refunds, delivered newest first: the cumulative amount decides, the late smaller one
    # changes nothing.
    cur = currency.lower()
    newer = stripe_refund_event(f"evt_r2_{intent}", intent, minor, minor // 2, cur)
    older = stripe_refund_event(f"evt_r1_{intent}", intent, minor, minor // 5, cur)
    assert http.post(url, content=newer, headers=stripe_headers(newer)).json()["status"] == (
        "accepted"
    )
    half = conversion(http, net, row["id"])["refunded_amount"]
    assert http.post(url, content=older, headers=stripe_headers(older)).json()["status"] == (
        "duplicate"
    )
    assert conversion(http, net, row["id"])["refunded_amount"] == half

    other = stripe_refund_event(f"evt_rx_{intent}", intent, minor, minor, "eur")
    mismatch = http.post(url, content=other, headers=stripe_headers(other))
    assert mismatch.json()["reason"] == "currency_mismatch"
    full = stripe_refund_event(f"evt_r3_{intent}", intent, minor, minor, cur)
    assert http.post(url, content=full, headers=stripe_headers(full)).json()["status"] == "accepted"
    assert conversion(http, net, row["id"])["status"] == "refunded"

    stale = http.post(url, content=full, headers=stripe_headers(full, at=int(time.time()) - 900))
    assert stale.status_code == 401
    assert stale.json()["reason"] == "stale_signature"


def test_stripe_secret_rotation(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key, currency="USD")
    connect(http, net, "stripe", STRIPE_SECRET)
    rotated = http.put(
        f"/api/v1/programs/{net.program_id}/webhooks/stripe",
        json={"secret": "whsec_the_new_one_987654", "keep_previous_hours": 24},
        headers=auth(net.advertiser_key),
    )
    assert expect(rotated, 200)["previous_secret_valid_until"] is not None
    url = f"/webhooks/stripe/{net.program_id}"
    intent = f"pi_{new_id('x')[4:]}"
    old = stripe_session_event("evt_old", intent, click_for(net), 1000, "usd")
    assert http.post(url, content=old, headers=stripe_headers(old)).status_code == 200
    intent2 = f"pi_{new_id('x')[4:]}"
    new = stripe_session_event("evt_new", intent2, click_for(net), 1000, "usd")
    headers = stripe_headers(new, secret="whsec_the_new_one_987654")
    assert http.post(url, content=new, headers=headers).status_code == 200


# --- WooCommerce -----------------------------------------------------------------------------


def woo_headers(body: bytes, topic: str, secret: str = WOO_SECRET) -> dict:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
    return {
        "Content-Type": "application/json",
        "X-WC-Webhook-Topic": topic,
        "X-WC-Webhook-Resource": "order",
        "X-WC-Webhook-Event": topic.split(".")[1],
        "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        "X-WC-Webhook-Delivery-ID": new_id("d"),
    }


def woo_order(order_id: int, click_id: str, status: str, modified: str) -> bytes:
    order = copy.deepcopy(sample("woocommerce_order_created_v3.json"))
    order.update(
        id=order_id, status=status, date_modified_gmt=modified, date_created_gmt=now_iso()[:19]
    )
    order["meta_data"] = [*order["meta_data"], {"id": 1, "key": "_alclid", "value": click_id}]
    return json.dumps(order).encode()


def test_woocommerce_ping_and_orders(http: httpx.Client, operator_key: str) -> None:
    net = make_network(http, operator_key, currency="USD")
    # WooCommerce stores the secret HTML-escaped and signs with the decoded one.
    connect(
        http,
        net,
        "woocommerce",
        WOO_SECRET.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"),
    )
    url = f"/webhooks/woocommerce/{net.program_id}"
    ping = http.post(
        url,
        content=b"webhook_id=17",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert ping.status_code == 200
    assert ping.text == ""
    # A ping to a program not connected to WooCommerce fails, so the store shows the mistake
    # when the webhook is created.
    other = make_network(http, operator_key, currency="USD")
    wrong = http.post(
        f"/webhooks/woocommerce/{other.program_id}",
        content=b"webhook_id=18",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert wrong.status_code == 404

    click_id = click_for(net)
    created = woo_order(9001, click_id, "processing", "2026-11-20T10:00:00")
    first = http.post(url, content=created, headers=woo_headers(created, "order.created"))
    assert first.json()["status"] == "accepted", first.text
    conversion_id = first.json()["conversion_id"]
    assert conversion(http, net, conversion_id)["status"] == "pending"
    # WooCommerce has no delivery id: the same order state delivered twice is one event.
    again = http.post(url, content=created, headers=woo_headers(created, "order.created"))
    assert again.json()["status"] == "duplicate"

    completed = woo_order(9001, click_id, "completed", "2026-11-21T09:00:00")
    done = http.post(url, content=completed, headers=woo_headers(completed, "order.updated"))
    assert done.json()["status"] == "accepted"
    assert conversion(http, net, conversion_id)["status"] == "completed"
