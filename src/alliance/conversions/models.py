"""Inbound events (raw inbox), conversions and their status history, customer bindings."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base, Rate


class InboundStatus(enum.StrEnum):
    received = "received"  # stored, not processed yet (a crash here is retried by `jobs run`)
    accepted = "accepted"  # applied: created or moved a conversion
    duplicate = "duplicate"  # a replay of something already applied; changed nothing
    rejected = "rejected"  # refused, with `reason` and `field`
    # Order webhooks only: a refund for an order not seen yet, applied when the order arrives.
    parked = "parked"
    # Order webhooks only: authentic, but about nothing we track (an unpaid checkout, a ping).
    ignored = "ignored"


class InboundEvent(Base):
    """A raw inbound request (postback, pixel, webhook), committed before it is answered."""

    __tablename__ = "inbound_events"
    __table_args__ = (
        Index(None, "program_id", "status", "received_at"),
        Index(None, "status", "received_at"),
        Index(
            "uq_inbound_events_program_id_source_dedup_key",
            "program_id",
            "source",
            "dedup_key",
            unique=True,
        ),
        Index(None, "program_id", "order_id", "status"),
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
    # Order webhooks: the platform's delivery identity (Shopify event id, Stripe event id, ...),
    # set only once the signature checked out, so a forged request cannot claim a real id.
    # Unique per program and source: a redelivery, even a concurrent one, is a duplicate.
    dedup_key: Mapped[str | None] = mapped_column(String(255))
    # Order webhooks: the platform's order the event is about (parked refunds are found by it).
    order_id: Mapped[str | None] = mapped_column(String(128))


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
        # A customer's orders: the customer lifetime value rollup (reports/rollups.py).
        Index(None, "program_id", "customer_id"),
        # The transactions report network-wide: a page in (occurred_at, id) order.
        Index(None, "occurred_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    order_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(8))  # ConversionKind
    status: Mapped[str] = mapped_column(String(16), default=ConversionStatus.pending)
    currency: Mapped[str] = mapped_column(String(3))  # the order's original currency
    amount: Mapped[Decimal] = mapped_column()  # order total as reported, original currency
    # The amount commission is computed on (net of tax/shipping unless the program says),
    # in the order's currency like `amount`.
    net_amount: Mapped[Decimal] = mapped_column()
    tax_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    shipping_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))
    refunded_amount: Mapped[Decimal] = mapped_column(default=Decimal(0))  # cumulative, gross
    # An order in another currency than its program's was priced at this ECB rate (program
    # currency per unit of `currency`) of this ECB day (docs/exchange-rates.md); both None
    # for an order in the program's currency.
    fx_rate: Mapped[Decimal | None] = mapped_column(Rate())
    fx_day: Mapped[date | None] = mapped_column()
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


class WebhookPlatform(enum.StrEnum):
    shopify = "shopify"
    woocommerce = "woocommerce"
    stripe = "stripe"


class WebhookIntegration(Base):
    """A program's order-webhook connection to one platform: the secret that signs deliveries.

    The secret is the platform's (Shopify app client secret, WooCommerce webhook secret, Stripe
    endpoint `whsec_...`), so it is kept as given: it must be usable to verify HMACs.
    `previous_secret` keeps the one before a rotation valid until `previous_valid_until`.
    """

    __tablename__ = "webhook_integrations"
    __table_args__ = (UniqueConstraint("program_id", "platform"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    platform: Mapped[str] = mapped_column(String(16))  # WebhookPlatform
    secret: Mapped[str] = mapped_column(String(255))
    previous_secret: Mapped[str | None] = mapped_column(String(255))
    previous_valid_until: Mapped[datetime | None] = mapped_column()
    # WooCommerce only: its REST API, for `alliance reconcile woocommerce` (WooCommerce never
    # retries a failed delivery, so missed orders are pulled). Read-only keys suffice.
    store_url: Mapped[str | None] = mapped_column(String(500))
    api_key: Mapped[str | None] = mapped_column(String(255))
    api_secret: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderRefund(Base):
    """One platform refund of an order (Shopify sends each refund alone, never the running
    total): counted once by its platform id, summed into the cumulative refunded amount."""

    __tablename__ = "order_refunds"
    __table_args__ = (UniqueConstraint("program_id", "order_id", "refund_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    order_id: Mapped[str] = mapped_column(String(128))
    refund_key: Mapped[str] = mapped_column(String(128))
    amount: Mapped[Decimal] = mapped_column()  # gross-equivalent, order currency
    inbound_event_id: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- bulk order validation (conversions/validation.py) --------------------------------------


class ValidationStatus(enum.StrEnum):
    # A large upload, stored with its rows and answered 202: `alliance jobs run` applies it.
    queued = "queued"
    running = "running"  # claimed by one process, its rows being applied chunk by chunk
    done = "done"  # every row has its result; a re-upload of the same content replays it
    failed = "failed"  # stopped by an unexpected error; a re-upload resumes where it stopped


# A stale `running` claim (its process died) is taken over exactly like a failed one.
VALIDATION_TRANSITIONS: dict[ValidationStatus, frozenset[ValidationStatus]] = {
    ValidationStatus.queued: frozenset({ValidationStatus.running}),
    ValidationStatus.running: frozenset(
        {ValidationStatus.running, ValidationStatus.done, ValidationStatus.failed}
    ),
    ValidationStatus.failed: frozenset({ValidationStatus.running}),
    ValidationStatus.done: frozenset(),
}


class ValidationResult(enum.StrEnum):
    """What one row of a bulk validation did; the order of the values is the report's."""

    applied = "applied"  # the order moved (completed, declined, refunded more)
    unchanged = "unchanged"  # the order was in that state already (a replayed verdict)
    unknown_order = "unknown_order"  # no order with this id (and kind) in the program
    illegal_transition = "illegal_transition"  # the order's state forbids it (declined→completed)
    bad_amount = "bad_amount"  # refund_amount unreadable, above the order, or on another status
    bad_status = "bad_status"  # not completed, declined or refunded
    duplicate_row = "duplicate_row"  # the same order again later in the upload: that row won


class OrderValidation(Base):
    """One bulk upload of an advertiser's order verdicts, applied row by row.

    The upload is idempotent as a whole: (program_id, content_sha256) is unique, so the same
    rows uploaded again, even concurrently and from another server process, find this row
    instead of applying anything twice. `rows_done` and the row results are committed with
    the effects of each chunk, so an interrupted upload resumes exactly after its last chunk.
    """

    __tablename__ = "order_validations"
    __table_args__ = (
        UniqueConstraint("program_id", "content_sha256"),
        # The program's upload history, newest first (ids are time-ordered).
        Index(None, "program_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    # sha256 (hex) of the canonical rows, not of the bytes: the same verdicts as CSV with CRLF
    # or as JSON are the same upload.
    content_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(8))  # csv | json
    status: Mapped[str] = mapped_column(String(16), default=ValidationStatus.running)
    row_count: Mapped[int] = mapped_column()
    rows_done: Mapped[int] = mapped_column(default=0)
    # {result: number of rows}, every ValidationResult present; kept with each chunk.
    counts: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Who uploaded: an operator or advertiser id, or "cli" for `alliance validate-orders`.
    created_by: Mapped[str] = mapped_column(String(32))
    # The random token of the process applying the rows; a takeover replaces it, and the old
    # process stops at its next chunk when it no longer finds its own token here.
    claim: Mapped[str] = mapped_column(String(32))
    # Queued uploads only: the rows as uploaded (canonical JSON), until they are all applied.
    rows_input: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    heartbeat_at: Mapped[datetime] = mapped_column(default=utcnow)  # the last chunk's commit
    finished_at: Mapped[datetime | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(String(500))  # why it failed, for the operator


class OrderValidationRow(Base):
    """The result of one row of an upload, in upload order. Never updated."""

    __tablename__ = "order_validation_rows"
    # (validation_id, result, position) serves the report filtered by result.
    __table_args__ = (Index(None, "validation_id", "result", "position"),)

    validation_id: Mapped[str] = mapped_column(ForeignKey("order_validations.id"), primary_key=True)
    position: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0-based
    line: Mapped[int | None] = mapped_column()  # CSV: the line the row starts on (header = 1)
    order_id: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str | None] = mapped_column(String(8))
    # As uploaded (status lower-cased); long junk is cut, since it is refused anyway.
    status: Mapped[str] = mapped_column(String(32))
    refund_amount: Mapped[str | None] = mapped_column(String(40))
    reason: Mapped[str | None] = mapped_column(String(500))
    result: Mapped[str] = mapped_column(String(24))  # ValidationResult
    detail: Mapped[str] = mapped_column(String(500))
    conversion_id: Mapped[str | None] = mapped_column(String(32))
