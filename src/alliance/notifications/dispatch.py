"""Routing: from outbox events to deliveries, one per endpoint or postback that receives them.

Who receives an event:
* the endpoints of the advertiser that owns the event's program (not payout events);
* the endpoints of the event's partner;
* the partner's postback for conversion events: its template for that program if it has one
  (an inactive one silences the program), else its template for every program;
each only if it was active, subscribed to the type, and created before the event happened.

Routing also writes the event's final body: the emitted data plus the click's sub-ids (clicks
are never updated, so reading them now gives what the emitter would have read, without a
query on the ingest hot path). Events nobody receives are deleted here.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from alliance.db.engine import transaction
from alliance.ids import new_id
from alliance.notifications.events import CONVERSION_EVENTS, PARTNER_ONLY_EVENTS
from alliance.notifications.models import (
    DELIVERY_PREFIX,
    DeliveryState,
    OwnerKind,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from alliance.notifications.payloads import iso
from alliance.programs.models import Program
from alliance.tracking.models import Click

ROUTE_BATCH = 500
_SUBS = ("sub1", "sub2", "sub3", "sub4", "sub5")


@dataclass(frozen=True, slots=True)
class Routed:
    events: int = 0
    deliveries: int = 0
    dropped: int = 0  # events nobody receives


def body_of(event: WebhookEvent, data: dict[str, Any]) -> str:
    """The exact JSON sent: Standard Webhooks' {type, timestamp, data}, compact, ASCII."""
    document = {"type": event.type, "timestamp": iso(event.occurred_at), "data": data}
    return json.dumps(document, separators=(",", ":"), sort_keys=True)


def route_events(now: datetime) -> Routed:
    """Route every event not routed yet, in batches (each its own transaction)."""
    total = Routed()
    while True:
        with transaction() as session:
            done = _route_batch(session, now)
        total = Routed(
            total.events + done.events,
            total.deliveries + done.deliveries,
            total.dropped + done.dropped,
        )
        if done.events < ROUTE_BATCH:
            return total


def _route_batch(session: Session, now: datetime) -> Routed:
    # SKIP LOCKED: two job workers route different events (SQLite has one writer anyway).
    events = session.scalars(
        select(WebhookEvent)
        .where(WebhookEvent.routed_at.is_(None))
        .order_by(WebhookEvent.id)
        .limit(ROUTE_BATCH)
        .with_for_update(skip_locked=True)
    ).all()
    if not events:
        return Routed()
    program_ids = {e.program_id for e in events if e.program_id}
    partner_ids = {e.partner_id for e in events if e.partner_id}
    advertiser_of: dict[str, str] = {}
    if program_ids:
        advertiser_of = {
            row.id: row.advertiser_id
            for row in session.execute(
                select(Program.id, Program.advertiser_id).where(Program.id.in_(program_ids))
            )
        }
    endpoints = _endpoints(session, set(advertiser_of.values()), partner_ids)
    postbacks = _postbacks(session, partner_ids)
    subs = _click_subs(session, events)

    deliveries: list[dict[str, Any]] = []
    dropped: list[str] = []
    for event in events:
        data = dict(event.data or {})
        if event.type in CONVERSION_EVENTS:
            data["sub_ids"] = subs.get(data.get("click_id") or "", dict.fromkeys(_SUBS))
        targets: list[tuple[str | None, str | None, OwnerKind, str]] = []
        advertiser_id = advertiser_of.get(event.program_id or "")
        # A network-funded referral override is the network's cost, not the advertiser's.
        if (
            advertiser_id
            and event.type not in PARTNER_ONLY_EVENTS
            and data.get("funded_by") != "network"
        ):
            for endpoint in endpoints.get((OwnerKind.advertiser, advertiser_id), []):
                if _receives(endpoint.event_types, endpoint.created_at, event):
                    targets.append((endpoint.id, None, OwnerKind.advertiser, advertiser_id))
        if event.partner_id:
            for endpoint in endpoints.get((OwnerKind.partner, event.partner_id), []):
                if _receives(endpoint.event_types, endpoint.created_at, event):
                    targets.append((endpoint.id, None, OwnerKind.partner, event.partner_id))
            postback = _postback_for(postbacks.get(event.partner_id, []), event.program_id)
            if (
                postback is not None
                and postback.active
                and event.type in CONVERSION_EVENTS
                and _receives(postback.event_types, postback.created_at, event)
            ):
                targets.append((None, postback.id, OwnerKind.partner, event.partner_id))
        if not targets:
            dropped.append(event.id)
            continue
        event.body = body_of(event, data)
        event.routed_at = now
        for endpoint_id, postback_id, owner_kind, owner_id in targets:
            deliveries.append(
                {
                    "id": new_id(DELIVERY_PREFIX),
                    "event_id": event.id,
                    "endpoint_id": endpoint_id,
                    "postback_id": postback_id,
                    "owner_kind": owner_kind.value,
                    "owner_id": owner_id,
                    "event_type": event.type,
                    "state": DeliveryState.pending.value,
                    "attempts": 0,
                    "next_attempt_at": now,
                    "created_at": now,
                }
            )
    session.flush()  # the events' bodies first: deliveries reference them
    if deliveries:
        session.execute(WebhookDelivery.__table__.insert(), deliveries)  # type: ignore[attr-defined]
    if dropped:
        session.execute(delete(WebhookEvent).where(WebhookEvent.id.in_(dropped)))
    return Routed(len(events), len(deliveries), len(dropped))


def _receives(types: list[str] | None, created_at: datetime, event: WebhookEvent) -> bool:
    return (not types or event.type in types) and created_at <= event.occurred_at


def _endpoints(
    session: Session, advertiser_ids: set[str], partner_ids: set[str]
) -> dict[tuple[OwnerKind, str], list[WebhookEndpoint]]:
    """Active endpoints of these owners (served by the index (owner_kind, owner_id))."""
    owners = []
    if advertiser_ids:
        owners.append(
            (WebhookEndpoint.owner_kind == OwnerKind.advertiser.value)
            & WebhookEndpoint.owner_id.in_(advertiser_ids)
        )
    if partner_ids:
        owners.append(
            (WebhookEndpoint.owner_kind == OwnerKind.partner.value)
            & WebhookEndpoint.owner_id.in_(partner_ids)
        )
    found: dict[tuple[OwnerKind, str], list[WebhookEndpoint]] = defaultdict(list)
    if owners:
        rows = session.scalars(
            select(WebhookEndpoint).where(WebhookEndpoint.active.is_(True), or_(*owners))
        )
        for row in rows:
            found[(OwnerKind(row.owner_kind), row.owner_id)].append(row)
    return found


def _postbacks(session: Session, partner_ids: set[str]) -> dict[str, list[PartnerPostback]]:
    """Every postback template of these partners, active or not: an inactive program template
    still decides for its program (it silences it)."""
    found: dict[str, list[PartnerPostback]] = defaultdict(list)
    if partner_ids:
        rows = session.scalars(
            select(PartnerPostback).where(PartnerPostback.partner_id.in_(partner_ids))
        )
        for row in rows:
            found[row.partner_id].append(row)
    return found


def _postback_for(
    templates: list[PartnerPostback], program_id: str | None
) -> PartnerPostback | None:
    by_scope = {t.scope: t for t in templates}
    return by_scope.get(program_id or "") or by_scope.get("*")


def _click_subs(
    session: Session, events: Sequence[WebhookEvent]
) -> dict[str, dict[str, str | None]]:
    click_ids = {
        str(e.data["click_id"])
        for e in events
        if e.type in CONVERSION_EVENTS and (e.data or {}).get("click_id")
    }
    if not click_ids:
        return {}
    rows = session.execute(
        select(Click.id, Click.sub1, Click.sub2, Click.sub3, Click.sub4, Click.sub5).where(
            Click.id.in_(click_ids)
        )
    )
    return {row[0]: dict(zip(_SUBS, row[1:], strict=True)) for row in rows}
