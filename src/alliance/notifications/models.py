"""Webhook endpoints, partner postbacks, the outbox of events and the delivery log."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base

# Public id prefixes of this package. `msg_` is what Standard Webhooks senders use for the
# message id a receiver deduplicates on (the `webhook-id` header).
ENDPOINT_PREFIX = "wep"
POSTBACK_PREFIX = "pbk"
EVENT_PREFIX = "msg"
DELIVERY_PREFIX = "wdl"


class OwnerKind(enum.StrEnum):
    advertiser = "advertiser"  # receives the events of its programs
    partner = "partner"  # receives the events of its own conversions, commissions, payouts


class WebhookEndpoint(Base):
    """A URL an advertiser or a partner registered to receive signed events.

    `secret` is the Standard Webhooks `whsec_...` key; it is kept readable because signing
    needs it, and shown to the owner only when created or rotated. After a rotation the
    previous secret keeps signing too (a second `v1,` signature) until `previous_valid_until`,
    so the receiver can switch without losing a delivery.
    """

    __tablename__ = "webhook_endpoints"
    # (owner_kind, owner_id): the owner's list, and the router's "endpoints of these owners".
    __table_args__ = (Index(None, "owner_kind", "owner_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # OwnerKind
    owner_id: Mapped[str] = mapped_column(String(32))
    url: Mapped[str] = mapped_column(String(2048))
    description: Mapped[str] = mapped_column(String(500), default="")
    # Event types to receive; empty = every type the owner can receive.
    event_types: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    secret: Mapped[str] = mapped_column(String(100))
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_valid_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartnerPostback(Base):
    """A partner's own tracker URL with macros, called (GET) on its conversion events.

    `scope` is the program id, or "*" for every program without a template of its own: a
    unique key, so one template per (partner, program) is the database's rule, not a check
    (a nullable program_id would not do: NULLs are never equal in a unique index).
    """

    __tablename__ = "partner_postbacks"
    __table_args__ = (UniqueConstraint("partner_id", "scope"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    program_id: Mapped[str | None] = mapped_column(ForeignKey("programs.id"))
    scope: Mapped[str] = mapped_column(String(32))
    url_template: Mapped[str] = mapped_column(String(2048))
    # Conversion event types to call on; empty = all of them.
    event_types: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class WebhookEvent(Base):
    """One business event, written in the transaction of the change (the outbox).

    `data` is what the emitter knew; the router completes it (a click's sub-ids), writes the
    exact JSON `body` every delivery sends — the same bytes on every attempt, so the signature
    of a retry covers what the first attempt sent — and stamps `routed_at`. Events nobody
    subscribed to are deleted when routed: the outbox is a queue, not an archive.
    """

    __tablename__ = "webhook_events"
    # (routed_at, id): the router's "not routed yet, oldest first" (NULLs sort together).
    __table_args__ = (Index(None, "routed_at", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    type: Mapped[str] = mapped_column(String(64))
    program_id: Mapped[str | None] = mapped_column(String(32))  # None: payout events
    partner_id: Mapped[str | None] = mapped_column(String(32))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[str | None] = mapped_column(Text)
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    routed_at: Mapped[datetime | None] = mapped_column()


class DeliveryState(enum.StrEnum):
    pending = "pending"  # not attempted yet (or queued again by hand)
    delivered = "delivered"  # the receiver answered 2xx
    failed = "failed"  # the last attempt failed; another is scheduled at next_attempt_at
    dead = "dead"  # attempts exhausted or the target is gone: the dead-letter list


DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    DeliveryState.pending: frozenset(
        {DeliveryState.delivered, DeliveryState.failed, DeliveryState.dead}
    ),
    DeliveryState.failed: frozenset(
        {DeliveryState.delivered, DeliveryState.failed, DeliveryState.dead, DeliveryState.pending}
    ),
    # A dead letter or a delivered event can be sent again by hand (the retry action).
    DeliveryState.dead: frozenset({DeliveryState.pending}),
    DeliveryState.delivered: frozenset({DeliveryState.pending}),
}


class WebhookDelivery(Base):
    """One event to one endpoint or postback: the delivery log row, updated per attempt.

    A claimed delivery's `next_attempt_at` is pushed past the attempt's deadline (a lease):
    another worker does not take it meanwhile, and if the worker dies it becomes due again.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        # The guards against routing an event twice to one target (NULLs never collide, so
        # each constraint binds only the rows of its own kind); they also serve "by event".
        UniqueConstraint("event_id", "endpoint_id"),
        UniqueConstraint("event_id", "postback_id"),
        # The claim: due deliveries, soonest first.
        Index(None, "state", "next_attempt_at"),
        # An endpoint's or a postback's log, newest first.
        Index(None, "endpoint_id", "id"),
        Index(None, "postback_id", "id"),
        # An owner's dead-letter list.
        Index(None, "owner_kind", "owner_id", "state"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("webhook_events.id"))
    endpoint_id: Mapped[str | None] = mapped_column(ForeignKey("webhook_endpoints.id"))
    postback_id: Mapped[str | None] = mapped_column(ForeignKey("partner_postbacks.id"))
    owner_kind: Mapped[str] = mapped_column(String(16))  # OwnerKind
    owner_id: Mapped[str] = mapped_column(String(32))
    event_type: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=DeliveryState.pending)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    last_attempt_at: Mapped[datetime | None] = mapped_column()
    last_status_code: Mapped[int | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))
    # Where the last attempt went (a postback's expanded URL).
    last_url: Mapped[str | None] = mapped_column(String(2048))
    delivered_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
