"""`alliance reconcile woocommerce` against a small fake store on 127.0.0.1.

WooCommerce never retries a webhook: the orders it failed to deliver are pulled from its REST
API and imported once; what a webhook already told is a duplicate; a second run imports
nothing."""

from __future__ import annotations

import base64
import copy
import hashlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from alliance.conversions.models import WebhookIntegration
from alliance.conversions.reconcile import StoreError, reconcile_woocommerce
from alliance.db.engine import transaction
from alliance.notifications.ssrf import Policy
from tests.api.factories import Network, auth, expect, insert_click, make_network
from tests.fixtures import PLATFORM_SAMPLES

SAMPLES = PLATFORM_SAMPLES
SECRET = "woo-reconcile-secret"
KEY, KEY_SECRET = "ck_0123456789abcdef", "cs_fedcba9876543210"


class FakeStore:
    """Serves /wp-json/wc/v3/orders like WooCommerce: Basic auth, pages, X-WP-TotalPages."""

    def __init__(self, orders: list[dict[str, Any]], per_page: int = 2) -> None:
        self.orders = orders
        self.per_page = per_page
        self.requests: list[dict[str, list[str]]] = []
        store = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                expected = base64.b64encode(f"{KEY}:{KEY_SECRET}".encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, {"code": "woocommerce_rest_cannot_view"})
                    return
                if parts.path != "/wp-json/wc/v3/orders":
                    self._send(404, {"code": "rest_no_route"})
                    return
                query = parse_qs(parts.query)
                store.requests.append(query)
                page = int(query.get("page", ["1"])[0])
                size = int(query.get("per_page", ["10"])[0])
                size = min(size, store.per_page)
                chunk = store.orders[(page - 1) * size : page * size]
                pages = max(1, -(-len(store.orders) // size))
                self._send(200, chunk, {"X-WP-Total": str(len(store.orders)),
                                        "X-WP-TotalPages": str(pages)})  # fmt: skip

            def _send(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def woo_order(order_id: int, click_id: str, status: str, modified: str) -> dict[str, Any]:
    order = copy.deepcopy(json.loads((SAMPLES / "woocommerce_order_created_v3.json").read_text()))
    # After its click, inside the window (the sample's own date is 2017).
    created = (datetime.now(UTC) + timedelta(seconds=1)).strftime("%Y-%m-%dT%H:%M:%S")
    order.update(id=order_id, status=status, date_modified_gmt=modified, date_created_gmt=created)
    order["meta_data"] = [*order["meta_data"], {"id": 1, "key": "_alclid", "value": click_id}]
    return order  # type: ignore[no-any-return]


def connect_store(http: httpx.Client, net: Network, store_url: str) -> None:
    expect(
        http.put(
            f"/api/v1/programs/{net.program_id}/webhooks/woocommerce",
            json={"secret": SECRET},
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    # The fake store is on 127.0.0.1, which the API refuses as a store URL (SSRF, tested
    # below): the test writes it directly and reconciles with a policy that allows it.
    with transaction() as session:
        session.execute(
            update(WebhookIntegration)
            .where(WebhookIntegration.program_id == net.program_id)
            .values(store_url=store_url, api_key=KEY, api_secret=KEY_SECRET)
        )


def deliver(http: httpx.Client, net: Network, order: dict[str, Any]) -> httpx.Response:
    body = json.dumps(order).encode()
    digest = hmac.new(SECRET.encode(), body, hashlib.sha256).digest()
    return http.post(
        f"/webhooks/woocommerce/{net.program_id}",
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-WC-Webhook-Topic": "order.created",
            "X-WC-Webhook-Resource": "order",
            "X-WC-Webhook-Signature": base64.b64encode(digest).decode(),
        },
    )


@pytest.fixture
def store() -> Iterator[FakeStore]:
    fake = FakeStore([])
    yield fake
    fake.close()


# The fake store is on 127.0.0.1: allowed for these tests only, as ALLIANCE_WEBHOOK_ALLOW_HOSTS
# would allow it. Without it the store URL is refused (see the last test).
LOCAL = Policy(allow_hosts=frozenset({"127.0.0.1"}))


def test_imports_missing_orders_once(
    http: httpx.Client, operator_key: str, store: FakeStore
) -> None:
    net = make_network(http, operator_key, currency="USD")
    connect_store(http, net, store.url)
    clicks = [insert_click(net.program_id, net.partner_id, net.link["id"]) for _ in range(4)]
    delivered = woo_order(5001, clicks[0], "processing", "2026-11-20T08:00:00")
    assert deliver(http, net, delivered).json()["status"] == "accepted"
    store.orders = [
        delivered,  # told by its webhook already
        woo_order(5002, clicks[1], "processing", "2026-11-20T09:00:00"),  # never told
        woo_order(5003, clicks[2], "completed", "2026-11-20T10:00:00"),  # never told
        woo_order(5004, clicks[3], "cancelled", "2026-11-20T11:00:00"),  # nothing to decline
        # KWD: the ECB quotes no rate for it, so the order cannot be priced in USD.
        {**woo_order(5005, clicks[3], "processing", "2026-11-20T12:00:00"), "currency": "KWD"},
    ]
    since = datetime(2026, 11, 20, tzinfo=UTC)
    first = reconcile_woocommerce(net.program_id, since, since + timedelta(days=1), policy=LOCAL)
    assert first.fetched == 5
    assert first.pages == 3  # the fake store pages by 2
    assert first.outcomes == {"duplicate": 1, "accepted": 2, "ignored": 1, "rejected": 1}
    # The query asked for the period by modification time, in UTC.
    assert store.requests[0]["modified_after"] == ["2026-11-20T00:00:00Z"]
    statuses = {}
    for conversion_id in first.conversions:
        row = expect(
            http.get(f"/api/v1/conversions/{conversion_id}", headers=auth(net.advertiser_key)),
            200,
        )
        statuses[row["order_id"]] = row["status"]
    assert statuses == {"5002": "pending", "5003": "completed"}
    # Refused orders are kept with their reason, like any delivery.
    rejected = expect(
        http.get(
            "/api/v1/inbound-events",
            params={"program_id": net.program_id, "source": "woocommerce", "status": "rejected"},
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    assert [e["reason"] for e in rejected["data"]] == ["no_rate"]

    again = reconcile_woocommerce(net.program_id, since, since + timedelta(days=1), policy=LOCAL)
    assert again.imported == 0
    assert again.outcomes["duplicate"] == 5  # refused ones too: retry those from the inbox


def test_a_store_that_refuses_the_keys_is_an_error(
    http: httpx.Client, operator_key: str, store: FakeStore
) -> None:
    net = make_network(http, operator_key, currency="USD")
    connect_store(http, net, store.url)
    with transaction() as session:
        session.execute(
            update(WebhookIntegration)
            .where(WebhookIntegration.program_id == net.program_id)
            .values(api_secret="cs_wrong")
        )
    since = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(StoreError, match="401"):
        reconcile_woocommerce(net.program_id, since, policy=LOCAL)


def test_the_store_url_is_checked_for_ssrf(
    http: httpx.Client, operator_key: str, store: FakeStore
) -> None:
    net = make_network(http, operator_key, currency="USD")
    refused = http.put(
        f"/api/v1/programs/{net.program_id}/webhooks/woocommerce",
        json={"secret": SECRET, "store_url": store.url, "consumer_key": KEY,
              "consumer_secret": KEY_SECRET},
        headers=auth(net.advertiser_key),
    )  # fmt: skip
    assert refused.status_code == 422
    assert refused.json()["field"] == "store_url"
    connect_store(http, net, store.url)
    since = datetime(2026, 11, 1, tzinfo=UTC)
    with pytest.raises(StoreError, match="refused"):
        reconcile_woocommerce(net.program_id, since)  # the default policy: no loopback
    assert store.requests == []


def test_the_cli_reconciles_a_period(
    http: httpx.Client, operator_key: str, store: FakeStore, db_url: str
) -> None:
    net = make_network(http, operator_key, currency="USD")
    connect_store(http, net, store.url)
    click = insert_click(net.program_id, net.partner_id, net.link["id"])
    store.orders = [woo_order(6001, click, "completed", "2026-11-20T09:00:00")]
    env = {
        **os.environ,
        "ALLIANCE_DATABASE_URL": db_url,
        # The operator's allowlist, as for outbound webhooks: this store is on loopback.
        "ALLIANCE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
        "COLUMNS": "200",
    }
    period = ["--since", "2026-11-20", "--until", "2026-11-21"]
    base = [sys.executable, "-m", "alliance.cli", "reconcile", "woocommerce", "--program"]
    command = [*base, net.program_id, *period]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "1 orders in 1 page(s): 1 accepted" in first.stdout
    again = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert "1 duplicate" in again.stdout
    unknown = subprocess.run(
        [*base, "prg_unknown", *period], env=env, capture_output=True, text=True
    )
    assert unknown.returncode == 1
    assert "no WooCommerce integration" in unknown.stdout
