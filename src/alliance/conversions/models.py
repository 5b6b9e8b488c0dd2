"""Inbound events (raw inbox), conversions and their status history, customer bindings."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class InboundStatus(enum.StrEnum):
    received = "received"  # stored, not processed yet (a crash here is retried by `jobs run`)
    accepted = "accepted"  # applied: created or moved a conversion
    duplicate = "duplicate"  # a replay of something already applied; changed nothing
    rejected = "rejected"  # refused, with `reason` and `field`


class InboundEvent(Base):
    """A raw inbound request (postback, pixel, webhook), committed before it is answered."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        Index(None, "program_id", "status", "received_at"),
        Index(None, "status", "received_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(32))  # postback | pixel | shopify | ...
    # The program named by the request, when it names a real one (rejected events too).
    program_id: Mapped[str | None] = mapped_column(String(32))
    method: Mapped[str] = mapped_column(String(8))
    query: Mapped[str] = mapped_column(String(8192), default="")
    headers: Mapped[dict[str, Any]] = mapped_column(default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary, default=b"")
    remote_ip_hash: Mapped[str | None] = mapped_column(String(32))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(String(16), default=InboundStatus.received)
    reason: Mapped[str | None] = mapped_column(String(64))  # machine code: unknown_click, ...
    detail: Mapped[str | None] = mapped_column(String(1000))  # human sentence
    field: Mapped[str | None] = mapped_column(String(64))
    conversion_id: Mapped[str | None] = mapped_column(String(32))
    processed_at: Mapped[datetime | None] = mapped_column()


class ConversionKind(enum.StrEnum):
    sale = "sale"  # an order with an amount
    lead = "lead"  # a sign-up or form; fixed commission


class ConversionStatus(enum.StrEnum):
    pending = "pending"  # tracked; the advertiser has not confirmed it yet
    completed = "completed"  # confirmed by the advertiser: a valid alliance order
    declined = "declined"  # refused by the advertiser (fraud, test, cancelled); earns nothing
    refunded = "refunded"  # fully refunded; its commission is reversed


CONVERSION_TRANSITIONS: dict[ConversionStatus, frozenset[ConversionStatus]] = {
    ConversionStatus.pending: frozenset(
        {ConversionStatus.completed, ConversionStatus.declined, ConversionStatus.refunded}
    ),
    ConversionStatus.completed: frozenset({ConversionStatus.refunded}),
    ConversionStatus.declined: frozenset(),
    ConversionStatus.refunded: frozenset(),
}


class Conversion(Base):
    """An order or lead attributed to a partner.

    `status` and `refunded_amount` are the current state; every change is also a
    ConversionEvent row, and every money effect a ledger entry.
    """

    __tablename__ = "conversions"
    __table_args__ = (
        UniqueConstraint("program_id", "order_id", "kind"),
        Index(None, "program_id", "occurred_at"),
        Index(None, "partner_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    order_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # ConversionKind
    status: Mapped[str] = mapped_column(String(16), default=ConversionStatus.pending)
    currency: Mapped[str] = mapped_column(String(3))  # the order's original currency
    amount: Mapped[Decimal] = mapped_column()  # order total as reported, original currency
    # The amount commission is computed on (net of tax/shipping unless the program says).
    net_amount: Mapped[Decimal] = mapped_column()
    tax_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))  # cumulative, gross
    items: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    click_id: Mapped[str | None] = mapped_column(String(32), index=True)
    coupon: Mapped[str | None] = mapped_column(String(64))
    customer_id: Mapped[str | None] = mapped_column(String(128))
    new_customer: Mapped[bool | None] = mapped_column()
    buyer_country: Mapped[str | None] = mapped_column(String(2))
    # How the partner was found: click_id | cookie | coupon | customer.
    attributed_by: Mapped[str] = mapped_column(String(16))
    # The clicks considered, newest first, with why each won or lost (transaction report).
    click_path: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    terms_id: Mapped[str | None] = mapped_column(ForeignKey("commission_terms.id"))
    occurred_at: Mapped[datetime] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    decline_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ConversionEvent(Base):
    """The status history of a conversion: one row per accepted change, never updated."""

    __tablename__ = "conversion_events"
    # (kind, occurred_at) serves the refunds report: refund events of a period.
    __table_args__ = (
        Index(None, "conversion_id", "occurred_at"),
        Index(None, "kind", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    conversion_id: Mapped[str] = mapped_column(ForeignKey("conversions.id"))
    kind: Mapped[str] = mapped_column(String(16))  # created|completed|declined|refund
    status: Mapped[str] = mapped_column(String(16))  # the status after this event
    # For refunds: the cumulative refunded amount after this event.
    refunded_amount: Mapped[Decimal | None] = mapped_column()
    inbound_event_id: Mapped[str | None] = mapped_column(String(32))
    note: Mapped[str | None] = mapped_column(String(500))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)


class CustomerBinding(Base):
    """A customer id that belongs to a partner in a program (recurring-order attribution)."""

    __tablename__ = "customer_bindings"
    __table_args__ = (UniqueConstraint("program_id", "customer_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    customer_id: Mapped[str] = mapped_column(String(128))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    first_conversion_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
