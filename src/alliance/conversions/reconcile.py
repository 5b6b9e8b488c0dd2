"""`alliance reconcile woocommerce`: pull a period's orders from the store and import the missing.

WooCommerce delivers each webhook once and never retries: an order created while Alliance was
unreachable is simply not told. Reconciling asks the store's REST API (`GET
/wp-json/wc/v3/orders`, the same order shape the webhooks carry) for the orders modified in a
period and feeds each one through the webhook pipeline as if it had been delivered:

* each order becomes an inbound event of source `woocommerce` (header `x-alliance-reconciled`),
  so the inbox shows what reconciling found and why anything was refused;
* its dedup key is the one a webhook of the same order state has (resource, id, status,
  modification time), so an order state already delivered is a duplicate, a state the store
  reached while we were away is applied, and running the same reconciliation twice imports
  nothing the second time.

The store is fetched with the advertiser's read-only REST keys (HTTP Basic over https), from
the URL saved with the program's WooCommerce integration; the URL passed the same SSRF check as
outbound webhooks when it was saved and is checked again before connecting.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpcore

from alliance.clock import utcnow
from alliance.conversions import webhook_service
from alliance.conversions.models import (
    WebhookIntegration,
    WebhookPlatform,
)
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.notifications.sender import exchange
from alliance.notifications.ssrf import Policy, Target, UnsafeUrl, check_url

PER_PAGE = 100
MAX_PAGES = 1000  # 100k orders a run: a runaway pagination header cannot loop forever
TIMEOUT_S = 30.0
MAX_PAGE_BYTES = 64 * 1024 * 1024  # 100 orders; a store answering more is not WooCommerce
RECONCILED = "x-alliance-reconciled"


@dataclass
class ReconcileReport:
    program_id: str
    since: datetime
    until: datetime
    fetched: int = 0
    pages: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    conversions: list[str] = field(default_factory=list)  # created or moved by this run

    @property
    def imported(self) -> int:
        return self.outcomes["accepted"]


class StoreError(Exception):
    """The store could not be read (unreachable, refused the keys, answered garbage)."""


def _integration(program_id: str) -> WebhookIntegration:
    with transaction() as session:
        row = webhook_service.integration_of(session, program_id, WebhookPlatform.woocommerce.value)
        if row is None:
            raise InvalidInput(
                f"program {program_id} has no WooCommerce integration", field="program"
            )
        if not (row.store_url and row.api_key and row.api_secret):
            raise InvalidInput(
                "the WooCommerce integration has no store_url, consumer_key and consumer_secret",
                field="store_url",
            )
        session.expunge(row)
        return row


def _wc_time(at: datetime) -> str:
    # WooCommerce reads ISO 8601 without an offset as the site's time; `Z` pins it to UTC.
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def reconcile_woocommerce(
    program_id: str,
    since: datetime,
    until: datetime | None = None,
    *,
    policy: Policy | None = None,
    progress: Callable[[int], None] | None = None,
) -> ReconcileReport:
    """Import the orders of `program_id`'s store modified in [since, until).

    The store's URL is checked and resolved once (SSRF rules of outbound webhooks, `policy`
    defaults to the settings) and every page is fetched from that checked address."""
    until = until or utcnow()
    if since >= until:
        raise InvalidInput("since must be before until", field="since")
    integration = _integration(program_id)
    store = (integration.store_url or "").rstrip("/")
    try:
        target = check_url(f"{store}/wp-json/wc/v3/orders", policy=policy)
    except UnsafeUrl as exc:
        raise StoreError(f"the store URL is refused: {exc}") from None
    report = ReconcileReport(program_id, since, until)
    for page in range(1, MAX_PAGES + 1):
        orders, total_pages = _page(target, integration, since, until, page)
        report.pages = page
        for order in orders:
            report.fetched += 1
            _import(program_id, order, report)
        if progress:
            progress(report.fetched)
        if page >= total_pages or not orders:
            break
    return report


def _get(target: Target, query: dict[str, Any], auth: str) -> tuple[int, dict[str, str], bytes]:
    """GET the checked target with `query` from the checked address, redirects not followed
    (notifications/sender.exchange, as for outbound webhooks)."""
    headers = [("Accept", "application/json"), ("Authorization", auth)]
    with exchange(
        target,
        "GET",
        headers,
        timeout=TIMEOUT_S,
        query=urlencode(query),
        user_agent="Alliance-Reconcile/1",
    ) as response:
        body = bytearray()
        for chunk in response.iter_stream():
            body += chunk
            if len(body) > MAX_PAGE_BYTES:
                raise StoreError(f"a page of the store's orders is over {MAX_PAGE_BYTES} bytes")
        answer_headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers
        }
        return response.status, answer_headers, bytes(body)


def _page(
    target: Target,
    integration: WebhookIntegration,
    since: datetime,
    until: datetime,
    page: int,
) -> tuple[list[dict[str, Any]], int]:
    query = {
        "modified_after": _wc_time(since),
        "modified_before": _wc_time(until),
        "dates_are_gmt": "true",
        "orderby": "modified",
        "order": "asc",
        "per_page": PER_PAGE,
        "page": page,
    }
    credentials = f"{integration.api_key or ''}:{integration.api_secret or ''}".encode()
    auth = "Basic " + base64.b64encode(credentials).decode("ascii")
    try:
        status, headers, body = _get(target, query, auth)
    except httpcore.TimeoutException as exc:
        raise StoreError(f"the store at {target.url} timed out on page {page}") from exc
    except (httpcore.ConnectError, httpcore.NetworkError, httpcore.ProtocolError) as exc:
        raise StoreError(f"cannot reach the store at {target.url}: {exc}") from exc
    if status != 200:
        raise StoreError(f"the store answered {status} for page {page}")
    try:
        orders = json.loads(body)
    except ValueError as exc:
        raise StoreError(f"page {page} of the store's orders is not JSON") from exc
    if not isinstance(orders, list) or not all(isinstance(o, dict) for o in orders):
        raise StoreError(f"page {page} of the store's orders is not a list of orders")
    try:
        total_pages = int(headers.get("x-wp-totalpages", "1"))
    except ValueError:
        total_pages = 1
    return orders, total_pages


def _import(program_id: str, order: dict[str, Any], report: ReconcileReport) -> None:
    """One fetched order, through the webhook pipeline as an authenticated delivery."""
    now = utcnow()
    body = json.dumps(order, separators=(",", ":")).encode()
    headers = {
        "content-type": "application/json",
        "x-wc-webhook-topic": "order.updated",
        "x-wc-webhook-resource": "order",
        RECONCILED: "1",
    }
    with transaction() as session:
        event_id = webhook_service.store_raw(
            session, WebhookPlatform.woocommerce.value, program_id, headers, body, now, method="GET"
        )
    delivery = webhook_service.apply_trusted(
        event_id, program_id, WebhookPlatform.woocommerce.value, headers, body, now
    )
    report.outcomes[delivery.verdict] += 1
    if delivery.verdict == "accepted" and delivery.conversion_id:
        report.conversions.append(delivery.conversion_id)
