"""Sending due deliveries: claim, attempt, record — the `deliver_webhooks` job.

No transaction is held open while a receiver is called (on SQLite that would hold the one write
lock — and stop every postback — for as long as the slowest receiver takes). Instead:

1. **claim** (one short transaction): due deliveries are locked with `FOR UPDATE SKIP LOCKED`
   (PostgreSQL: each of several workers takes different rows; SQLite: BEGIN IMMEDIATE makes
   the claim exclusive anyway), their attempt counter is raised and `next_attempt_at` is pushed
   past the attempt's deadline — a lease: nobody else takes them meanwhile, and if this worker
   dies they are due again once it expires (at-least-once; receivers deduplicate by
   `webhook-id`, the event id, which is the same on every attempt);
2. **attempt** (no transaction): check the URL again and resolve it once (ssrf.py), sign
   (signing.py), send to the checked address (sender.py), several deliveries in parallel;
3. **record** (one short transaction): delivered, failed with the next attempt after a
   jittered exponential backoff (rules.py), or dead when the attempts are used up. The update
   names the attempt number it claimed, so a worker whose lease ran out cannot overwrite the
   result of the worker that took over.
"""

from __future__ import annotations

import json
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, exists, select, update

from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.notifications import rules
from alliance.notifications.dispatch import route_events
from alliance.notifications.macros import expand, macro_values
from alliance.notifications.models import (
    DeliveryState,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from alliance.notifications.sender import send
from alliance.notifications.signing import signed_headers
from alliance.notifications.ssrf import Policy, Resolver, UnsafeUrl, check_url
from alliance.settings import Settings, get_settings

log = logging.getLogger(__name__)

# A run stops claiming new work after this many seconds, so a run started by cron every
# minute is over before the next one (which would only find nothing due, but still).
RUN_BUDGET_S = 50.0
# Added to the attempt timeout for the lease: time to record the outcome after the attempt.
LEASE_MARGIN = timedelta(seconds=60)
_DUE = (DeliveryState.pending.value, DeliveryState.failed.value)


@dataclass(frozen=True, slots=True)
class Attempt:
    delivery_id: str
    number: int  # 1 for the first attempt
    event_id: str
    method: str  # POST for webhooks, GET for partner postbacks
    url: str
    body: bytes
    secrets: tuple[str, ...]  # signing secrets; none for postbacks


@dataclass(frozen=True, slots=True)
class Outcome:
    attempt: Attempt
    status_code: int | None
    error: str | None


def claim(now: datetime, limit: int, lease: timedelta) -> list[Attempt]:
    """Take up to `limit` due deliveries for one attempt each (see the module docstring)."""
    with transaction() as session:
        rows = session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.state.in_(_DUE), WebhookDelivery.next_attempt_at <= now)
            .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not rows:
            return []
        events = _by_id(session, WebhookEvent, {r.event_id for r in rows})
        endpoints = _by_id(session, WebhookEndpoint, {r.endpoint_id for r in rows if r.endpoint_id})
        postbacks = _by_id(session, PartnerPostback, {r.postback_id for r in rows if r.postback_id})
        attempts: list[Attempt] = []
        for row in rows:
            event = events[row.event_id]
            found = _request_of(row, event, endpoints, postbacks, now)
            if isinstance(found, str):
                # The target was deleted or switched off after routing: nothing to call.
                row.state = DeliveryState.dead.value
                row.next_attempt_at = None
                row.last_error = found
                continue
            method, url, body, secrets = found
            row.attempts += 1
            row.last_attempt_at = now
            row.next_attempt_at = now + lease
            row.last_url = url[:2048]
            attempts.append(Attempt(row.id, row.attempts, event.id, method, url, body, secrets))
        return attempts


def _by_id(session: Any, model: Any, ids: set[str]) -> dict[str, Any]:
    if not ids:
        return {}
    return {row.id: row for row in session.scalars(select(model).where(model.id.in_(ids)))}


def _request_of(
    row: WebhookDelivery,
    event: WebhookEvent,
    endpoints: dict[str, WebhookEndpoint],
    postbacks: dict[str, PartnerPostback],
    now: datetime,
) -> tuple[str, str, bytes, tuple[str, ...]] | str:
    """(method, url, body, secrets) of the delivery's next attempt, or why there is none."""
    if row.endpoint_id is not None:
        endpoint = endpoints.get(row.endpoint_id)
        if endpoint is None or not endpoint.active:
            return "the endpoint was deactivated"
        secrets = [endpoint.secret]
        if endpoint.previous_secret and (endpoint.previous_valid_until or now) > now:
            secrets.append(endpoint.previous_secret)
        return "POST", endpoint.url, (event.body or "").encode(), tuple(secrets)
    postback = postbacks.get(row.postback_id or "")
    if postback is None or not postback.active:
        return "the postback was deactivated"
    data = json.loads(event.body or "{}").get("data", {})
    # Expanded from the template as it is now: a partner who fixes a broken template and
    # retries its dead postbacks gets the fixed URL.
    return "GET", expand(postback.url_template, macro_values(event.type, data)), b"", ()


def attempt(
    item: Attempt, *, policy: Policy, timeout: float, resolver: Resolver | None = None
) -> Outcome:
    """One attempt, outside any transaction. Never raises for the receiver's trouble."""
    try:
        target = check_url(item.url, policy=policy, resolver=resolver)
    except UnsafeUrl as refusal:
        return Outcome(item, None, f"refused: {refusal.detail}"[:500])
    if item.method == "POST":
        headers = {
            "Content-Type": "application/json",
            **signed_headers(item.event_id, int(time.time()), item.body, item.secrets),
        }
    else:
        # A tracker does not verify signatures (the secret is in its URL), but the id lets it
        # tell a retry from a second conversion.
        headers = {"webhook-id": item.event_id}
    try:
        answer = send(target, item.method, headers, item.body, timeout=timeout)
    except Exception as exc:  # one broken attempt must not stop the others (logged)
        log.exception("webhook delivery %s failed unexpectedly", item.delivery_id)
        return Outcome(item, None, f"internal error: {type(exc).__name__}"[:500])
    error = answer.error
    if answer.status_code is not None:
        error = rules.status_error(answer.status_code)
    return Outcome(item, answer.status_code, error[:500] if error else None)


def record(
    outcomes: Sequence[Outcome],
    now: datetime,
    settings: Settings,
    rng: Callable[[], float] = random.random,
) -> dict[str, int]:
    """Store each attempt's outcome; returns how many were delivered, failed, dead."""
    counts = dict.fromkeys(("delivered", "failed", "dead"), 0)
    if not outcomes:
        return counts
    with transaction() as session:
        for outcome in outcomes:
            verdict = rules.after_attempt(
                rules.is_delivered(outcome.status_code),
                outcome.attempt.number,
                now,
                max_attempts=settings.webhook_max_attempts,
                base=settings.webhook_backoff_base_s,
                cap=settings.webhook_backoff_cap_s,
                rng=rng,
            )
            values: dict[str, Any] = {
                "state": verdict.state.value,
                "next_attempt_at": verdict.next_attempt_at,
                "last_status_code": outcome.status_code,
                "last_error": outcome.error,
            }
            if verdict.state is DeliveryState.delivered:
                values["delivered_at"] = now
            session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == outcome.attempt.delivery_id,
                    WebhookDelivery.attempts == outcome.attempt.number,
                )
                .values(**values)
            )
            counts[verdict.state.value] += 1
    return counts


def deliver_due(
    now: datetime | None = None,
    *,
    settings: Settings | None = None,
    resolver: Resolver | None = None,
    budget_s: float = RUN_BUDGET_S,
) -> dict[str, int]:
    """Route new events, then send due deliveries in rounds until none is due (or the run's
    time budget is spent). `now` may be in the future (tests, a catch-up run): the run's clock
    starts there and advances with the wall clock."""
    settings = settings or get_settings()
    offset = (now or utcnow()) - utcnow()

    def clock() -> datetime:
        return utcnow() + offset

    routed = route_events(clock())
    policy = Policy.from_settings(settings)
    timeout = settings.webhook_timeout_s
    lease = timedelta(seconds=timeout) + LEASE_MARGIN
    totals = {"routed": routed.events, "deliveries": routed.deliveries, "attempts": 0}
    totals.update(dict.fromkeys(("delivered", "failed", "dead"), 0))
    started = time.monotonic()
    with ThreadPoolExecutor(settings.webhook_concurrency, "webhook") as pool:
        while time.monotonic() - started < budget_s:
            batch = claim(clock(), settings.webhook_concurrency, lease)
            if not batch:
                break
            outcomes = list(
                pool.map(
                    lambda item: attempt(item, policy=policy, timeout=timeout, resolver=resolver),
                    batch,
                )
            )
            totals["attempts"] += len(outcomes)
            for state, count in record(outcomes, clock(), settings).items():
                totals[state] += count
    return totals


def purge_log(now: datetime, retention_days: int) -> dict[str, int]:
    """Forget delivered and dead deliveries older than the retention, then their events."""
    cutoff = now - timedelta(days=retention_days)
    finished = (DeliveryState.delivered.value, DeliveryState.dead.value)
    with transaction() as session:
        deliveries = session.execute(
            delete(WebhookDelivery).where(
                WebhookDelivery.state.in_(finished), WebhookDelivery.created_at < cutoff
            )
        )
        events = session.execute(
            delete(WebhookEvent).where(
                WebhookEvent.routed_at < cutoff,
                ~exists().where(WebhookDelivery.event_id == WebhookEvent.id),
            )
        )
    return {
        "deliveries": int(getattr(deliveries, "rowcount", 0) or 0),
        "events": int(getattr(events, "rowcount", 0) or 0),
    }
