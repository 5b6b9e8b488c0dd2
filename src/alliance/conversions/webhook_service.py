"""Order webhooks from Shopify, WooCommerce and Stripe: store, verify, deduplicate, apply.

The path of one delivery (docs/adr/0007):

1. The raw request (body and the platform's headers) is committed to the inbox first,
   whatever it holds: nothing authentic is ever lost, nothing forged goes unrecorded.
2. The signature is checked against the program's secret for that platform (and the previous
   secret during a rotation). A bad one is recorded as rejected and answered 401.
3. Only then is the platform's delivery id written to the event (`dedup_key`, unique per
   program and platform): a redelivery, even one racing the first, hits the unique index and
   is answered "duplicate" without touching anything. A forged request never claims an id.
4. The payload becomes `OrderFact`s (conversions/webhooks/*) and each is applied through the
   same `record()` as postbacks: creation and attribution, completion, decline, refunds as a
   cumulative amount. A refund for an order not seen yet is *parked* and applied, once, in
   the transaction that creates the order.

Answers: 2xx for every authentic delivery, including ones we refuse to apply (unattributable
order, wrong currency): the platform cannot fix those by retrying, and Shopify disables
webhooks that keep failing. The refusal is kept in the inbox with its reason. Malformed
payloads are 400, bad signatures 401, unknown programs or platforms 404.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from types import ModuleType
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.conversions.models import (
    Conversion,
    ConversionKind,
    InboundEvent,
    InboundStatus,
    OrderRefund,
    WebhookIntegration,
    WebhookPlatform,
)
from alliance.conversions.postback import ConversionInput, LineInput, Rejected
from alliance.conversions.service import Outcome, record
from alliance.db.engine import transaction
from alliance.ids import PREFIXES, new_id
from alliance.money import round_money
from alliance.programs.models import Program

log = logging.getLogger("alliance.webhooks")

PLATFORMS = tuple(p.value for p in WebhookPlatform)
_HEADER_PREFIXES = ("x-shopify-", "x-wc-webhook-")
_HEADERS_KEPT = frozenset({"content-type", "user-agent", "stripe-signature"})
_HEADER_VALUE_MAX = 1024

Verdict = Literal["accepted", "duplicate", "rejected", "parked", "ignored"]


def platform_module(platform: str) -> ModuleType:
    """The parser and verifier of one platform (imported on first use)."""
    if platform == WebhookPlatform.shopify:
        from alliance.conversions.webhooks import shopify

        return shopify
    if platform == WebhookPlatform.woocommerce:
        from alliance.conversions.webhooks import woocommerce

        return woocommerce
    if platform == WebhookPlatform.stripe:
        from alliance.conversions.webhooks import stripe

        return stripe
    raise ValueError(f"unknown platform {platform!r}")


def keep_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The platform's own headers (topic, signature, delivery ids) and the content type: what
    re-verifying and reprocessing a stored delivery needs. Cookies and auth never."""
    kept: dict[str, str] = {}
    for raw_name, raw_value in raw_headers:
        name = raw_name.decode("latin-1").lower()
        if name in _HEADERS_KEPT or name.startswith(_HEADER_PREFIXES):
            kept[name] = raw_value.decode("latin-1")[:_HEADER_VALUE_MAX]
    return kept


@dataclass(frozen=True, slots=True)
class Delivery:
    """What happened to one delivery, and what to answer."""

    event_id: str
    verdict: Verdict
    http_status: int
    conversion_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    field: str | None = None

    def body(self) -> dict[str, Any]:
        answer: dict[str, Any] = {"status": self.verdict, "event_id": self.event_id}
        if self.conversion_id:
            answer["conversion_id"] = self.conversion_id
        if self.reason:
            answer["reason"] = self.reason
        if self.detail:
            answer["detail"] = self.detail
        return answer


def active_secrets(integration: WebhookIntegration, now: datetime) -> list[str]:
    secrets = [integration.secret]
    valid_until = integration.previous_valid_until
    if integration.previous_secret and (valid_until is None or now <= valid_until):
        secrets.append(integration.previous_secret)
    return secrets


def integration_of(session: Session, program_id: str, platform: str) -> WebhookIntegration | None:
    """The program's connection to one platform, if it has one."""
    return session.scalars(
        select(WebhookIntegration).where(
            WebhookIntegration.program_id == program_id,
            WebhookIntegration.platform == platform,
        )
    ).first()


def store_raw(
    session: Session,
    platform: str,
    program_id: str | None,
    headers: dict[str, str],
    body: bytes,
    received_at: datetime,
    *,
    method: str = "POST",
    ip_hash: str | None = None,
    status: InboundStatus = InboundStatus.received,
    reason: str | None = None,
    detail: str | None = None,
    field: str | None = None,
) -> str:
    """Add a delivery to the inbox (the caller commits); its id. `program_id` only when it
    names a real program. Refused on arrival: give the outcome here, it is final."""
    event_id = new_id(PREFIXES["inbound"])
    refused = status is not InboundStatus.received
    session.add(
        InboundEvent(
            id=event_id,
            source=platform,
            program_id=program_id,
            method=method,
            query="",
            headers=headers,
            body=body,
            remote_ip_hash=ip_hash,
            received_at=received_at,
            status=status.value,
            reason=reason,
            detail=detail,
            field=field,
            processed_at=received_at if refused else None,
        )
    )
    return event_id


# --- receiving -------------------------------------------------------------------------------


def receive(
    platform: str,
    program_id: str,
    headers: dict[str, str],
    body: bytes,
    *,
    ip_hash: str | None = None,
    now: datetime | None = None,
) -> Delivery:
    """Store, verify and apply one delivery. Blocking: call it off the event loop."""
    now = now or utcnow()
    module = platform_module(platform)
    with transaction() as session:
        program = session.get(Program, program_id) if len(program_id) <= 32 else None
        found = integration_of(session, program.id, platform) if program is not None else None
        event_id = store_raw(
            session,
            platform,
            program.id if program is not None else None,
            headers,
            body,
            now,
            ip_hash=ip_hash,
        )
        secrets = active_secrets(found, now) if found is not None else []
    # Committed: from here on the delivery is kept whatever happens.

    if program is None or found is None:
        # Also for WooCommerce's ping: a 404 when the webhook is created tells the advertiser
        # at once that the URL or the program's set-up is wrong.
        what = "program" if program is None else f"{platform} integration of this program"
        reason = "unknown_program" if program is None else "not_configured"
        detail = f"no {what}; set it up with PUT /api/v1/programs/{{id}}/webhooks/{platform}"
        _finish(event_id, InboundStatus.rejected, now, reason=reason, detail=detail)
        return Delivery(event_id, "rejected", 404, reason=reason, detail=detail)
    if platform == WebhookPlatform.woocommerce and module.is_ping(body, headers):
        # WooCommerce pings a new webhook's URL, unsigned, and saves the webhook only on a 200.
        _finish(event_id, InboundStatus.ignored, now, detail="WooCommerce webhook ping")
        return Delivery(event_id, "ignored", 200, detail="ping")
    return verify_and_apply(event_id, program_id, platform, headers, body, secrets, now, now)


def record_too_large(
    platform: str, program_id: str, headers: dict[str, str], head: bytes, limit: int
) -> str:
    """Keep the first bytes of an oversized delivery, refused (ADR 0006: nothing goes
    unrecorded). Its signature cannot be checked on a cut body, so it is never applied."""
    now = utcnow()
    with transaction() as session:
        program = session.get(Program, program_id) if len(program_id) <= 32 else None
        return store_raw(
            session,
            platform,
            program.id if program is not None else None,
            {**headers, "x-alliance-truncated": "1"},
            head[:limit],
            now,
            status=InboundStatus.rejected,
            reason="too_large",
            detail=f"the body is larger than {limit} bytes",
            field="body",
        )


def verify_and_apply(
    event_id: str,
    program_id: str,
    platform: str,
    headers: Mapping[str, str],
    body: bytes,
    secrets: Sequence[str],
    received_at: datetime,
    now: datetime,
) -> Delivery:
    from alliance.conversions.webhooks.common import SignatureError

    module = platform_module(platform)
    try:
        # Checked against the time of arrival, so reprocessing a stored delivery later does
        # not fail Stripe's replay window.
        module.verify(body, headers, secrets, now=received_at)
    except SignatureError as exc:
        _finish(event_id, InboundStatus.rejected, now, reason=exc.reason, detail=exc.detail)
        return Delivery(event_id, "rejected", 401, reason=exc.reason, detail=exc.detail)
    return apply_trusted(event_id, program_id, platform, headers, body, now)


def apply_trusted(
    event_id: str,
    program_id: str,
    platform: str,
    headers: Mapping[str, str],
    body: bytes,
    now: datetime,
) -> Delivery:
    """Apply a stored delivery known to be authentic: verified, or fetched by us from the
    store with its API keys (`alliance reconcile woocommerce`)."""
    module = platform_module(platform)
    dedup = module.dedup_key(body, headers)
    for _attempt in range(3):
        try:
            return _apply(event_id, program_id, platform, module, headers, body, dedup, now)
        except IntegrityError:
            # Lost a race on a unique key (the same order created by a concurrent delivery of
            # another event): the next attempt sees the winner's rows.
            continue
    raise RuntimeError(f"webhook event {event_id} kept colliding on unique keys")


def process_stored(event_id: str) -> Delivery:
    """Verify and apply a stored delivery again (the reprocessing job, the retry action)."""
    now = utcnow()
    with transaction() as session:
        event = session.get(InboundEvent, event_id)
        if event is None or event.program_id is None:
            raise LookupError(event_id)
        integration = integration_of(session, event.program_id, event.source)
        if event.dedup_key is not None:
            # Applied once already: a retry must not count the delivery as a duplicate of
            # itself, so it gives its key back for the attempt.
            event.dedup_key = None
        values = (event.program_id, event.source, dict(event.headers), event.body)
        received_at = event.received_at
        secrets = active_secrets(integration, now) if integration is not None else []
        # Fetched by `alliance reconcile` from the store itself: nothing to verify. (The
        # inbox never keeps an inbound x-alliance-* header, so a delivery cannot claim this.)
        reconciled = event.method == "GET" and "x-alliance-reconciled" in event.headers
    program_id, platform, headers, body = values
    if reconciled:
        return apply_trusted(event_id, program_id, platform, headers, body, now)
    if not secrets:
        detail = f"the program has no {platform} integration any more"
        _finish(event_id, InboundStatus.rejected, now, reason="not_configured", detail=detail)
        return Delivery(event_id, "rejected", 404, reason="not_configured", detail=detail)
    return verify_and_apply(
        event_id, program_id, platform, headers, body, secrets, received_at, now
    )


def _finish(
    event_id: str,
    status: InboundStatus,
    now: datetime,
    *,
    reason: str | None = None,
    detail: str | None = None,
    field: str | None = None,
    conversion_id: str | None = None,
    session: Session | None = None,
) -> None:
    if session is None:
        with transaction() as own:
            _finish(event_id, status, now, reason=reason, detail=detail, field=field,
                    conversion_id=conversion_id, session=own)  # fmt: skip
        return
    session.execute(
        update(InboundEvent)
        .where(InboundEvent.id == event_id)
        .values(
            status=status.value,
            reason=reason,
            detail=detail[:1000] if detail else None,
            field=field[:64] if field else None,
            conversion_id=conversion_id,
            processed_at=now,
        )
    )


# --- applying --------------------------------------------------------------------------------


def _apply(
    event_id: str,
    program_id: str,
    platform: str,
    module: ModuleType,
    headers: Mapping[str, str],
    body: bytes,
    dedup: str | None,
    now: datetime,
) -> Delivery:
    with transaction() as session:
        if dedup is not None:
            first = session.scalars(
                select(InboundEvent).where(
                    InboundEvent.program_id == program_id,
                    InboundEvent.source == platform,
                    InboundEvent.dedup_key == dedup,
                    InboundEvent.id != event_id,
                )
            ).first()
            if first is not None:
                detail = f"delivery {dedup[:200]} was received before as {first.id}"
                _finish(event_id, InboundStatus.duplicate, now, detail=detail,
                        conversion_id=first.conversion_id, session=session)  # fmt: skip
                return Delivery(event_id, "duplicate", 200, first.conversion_id, detail=detail)
            # The unique index decides a concurrent twin: the loser's flush fails here, and
            # its retry finds the winner above.
            session.execute(
                update(InboundEvent).where(InboundEvent.id == event_id).values(dedup_key=dedup)
            )
            session.flush()
        program = session.get(Program, program_id)
        assert program is not None  # checked on receipt; programs are never deleted
        savepoint = session.begin_nested()
        try:
            facts = module.parse(body, headers)
            delivery = _apply_facts(session, program, platform, facts, event_id, now)
            savepoint.commit()
        except Rejected as exc:
            savepoint.rollback()
            status = 400 if exc.reason == "bad_payload" else 200
            _finish(event_id, InboundStatus.rejected, now, reason=exc.reason,
                    detail=exc.detail, field=exc.field, session=session)  # fmt: skip
            return Delivery(event_id, "rejected", status, reason=exc.reason,
                            detail=exc.detail, field=exc.field)  # fmt: skip
        _finish(event_id, InboundStatus(delivery.verdict), now, detail=delivery.detail,
                conversion_id=delivery.conversion_id, session=session)  # fmt: skip
        return delivery


def _apply_facts(
    session: Session,
    program: Program,
    platform: str,
    facts: Sequence[Any],
    event_id: str,
    now: datetime,
) -> Delivery:
    verdict: Verdict = "ignored"
    conversion_id: str | None = None
    notes: list[str] = []
    for fact in facts:
        notes.append(fact.note)
        if fact.action == "ignore":
            continue
        outcome: Outcome | Literal["parked"] | None
        if fact.action == "upsert":
            outcome = _upsert(session, program, platform, fact, event_id, now)
        else:
            outcome = _refund(session, program, platform, fact, event_id, now)
        if outcome is None:
            continue
        if outcome == "parked":
            verdict = "parked"
            session.execute(
                update(InboundEvent)
                .where(InboundEvent.id == event_id)
                .values(order_id=fact.order_id[:128])
            )
            continue
        conversion_id = outcome.conversion_id
        if outcome.status == "accepted" or verdict in ("ignored", "duplicate"):
            verdict = outcome.status
    detail = "; ".join(n for n in notes if n)[:1000] or None
    return Delivery(event_id, verdict, 200, conversion_id, detail=detail)


def _order(session: Session, program_id: str, order_id: str) -> Conversion | None:
    return session.scalars(
        select(Conversion).where(
            Conversion.program_id == program_id,
            Conversion.order_id == order_id,
            Conversion.kind == ConversionKind.sale.value,
        )
    ).first()


def _report(program: Program, fact: Any, status: str, refund: Decimal | None) -> ConversionInput:
    # An order in another currency than the program's is priced at the ECB rate of its day
    # (service._plan_create); none named means the program's.
    currency = fact.currency or program.currency
    coupons: tuple[str, ...] = fact.coupons
    return ConversionInput(
        program_id=program.id,
        order_id=fact.order_id[:128],
        kind="sale",
        status=status,  # type: ignore[arg-type]  # one of the four, set by the caller
        currency=currency,
        currency_given=fact.currency is not None,
        amount=fact.amount,
        refund_amount=refund,
        tax=fact.tax,
        shipping=fact.shipping,
        items=tuple(
            LineInput(sku, category, amount, quantity)
            for sku, category, amount, quantity in fact.items
        ),
        click_id=fact.click_id,
        visitor_id=None,
        coupon=coupons[0][:64] if coupons else None,
        customer_id=fact.customer_id[:128] if fact.customer_id else None,
        buyer_country=fact.buyer_country,
        new_customer=None,
        occurred_at=fact.occurred_at,
    )


def _upsert(
    session: Session, program: Program, platform: str, fact: Any, event_id: str, now: datetime
) -> Outcome | None:
    existing = _order(session, program.id, fact.order_id)
    if existing is None:
        if fact.status == "declined":
            # Cancelled before we ever saw it (or an expired checkout): nothing to decline.
            return None
        if fact.amount is None:
            raise Rejected("missing_field", "the order carries no total", field="amount")
    outcome = record(session, program, _report(program, fact, fact.status, None), event_id, now)
    if fact.cumulative_refund is not None and fact.cumulative_refund > 0:
        conversion = _order(session, program.id, fact.order_id)
        assert conversion is not None
        refunded = _refund_to(
            session, program, platform, conversion, fact, fact.cumulative_refund, event_id, now
        )
        if refunded.status == "accepted":
            outcome = refunded
    if existing is None:
        _apply_parked(session, program, platform, fact.order_id, now)
    return outcome


def _refund(
    session: Session, program: Program, platform: str, fact: Any, event_id: str, now: datetime
) -> Outcome | Literal["parked"]:
    conversion = _order(session, program.id, fact.order_id)
    if conversion is None:
        return "parked"
    if fact.currency is not None and fact.currency != conversion.currency:
        raise Rejected(
            "currency_mismatch",
            f"the refund is in {fact.currency}; order {conversion.order_id} is in "
            f"{conversion.currency}",
            field="currency",
        )
    if fact.cumulative_refund is not None:
        cumulative = fact.cumulative_refund
    else:
        # Each platform refund counts once by its id; one without an id, once per delivery.
        refund_key = (fact.refund_key or f"delivery:{event_id}")[:128]
        already = session.scalars(
            select(OrderRefund.id).where(
                OrderRefund.program_id == program.id,
                OrderRefund.order_id == fact.order_id,
                OrderRefund.refund_key == refund_key,
            )
        ).first()
        if already is None:
            session.add(
                OrderRefund(
                    program_id=program.id,
                    order_id=fact.order_id,
                    refund_key=refund_key,
                    amount=fact.refund_amount or Decimal(0),
                    inbound_event_id=event_id,
                    created_at=now,
                )
            )
            session.flush()
        # Summed in Python: amounts are exact text on SQLite, where SQL SUM would use floats.
        amounts = session.scalars(
            select(OrderRefund.amount).where(
                OrderRefund.program_id == program.id, OrderRefund.order_id == fact.order_id
            )
        ).all()
        cumulative = sum(amounts, Decimal(0))
    return _refund_to(session, program, platform, conversion, fact, cumulative, event_id, now)


def gross_equivalent(platform: str, conversion: Conversion, refunded: Decimal) -> Decimal:
    """The cumulative refund as a share of the order total, the way the ledger reduces.

    Shopify states refunds per line (goods and their tax); shipping refunds are left out by
    the parser. Commission is earned on goods, so refunding every line reverses it even if
    shipping was kept: the goods share refunded is scaled onto the order total.
    WooCommerce and Stripe state the gross amount refunded, which is used as it is.
    """
    if platform == WebhookPlatform.shopify:
        goods = conversion.amount - conversion.shipping_amount
        if goods <= 0:
            return min(refunded, conversion.amount)
        share = min(Decimal(1), refunded / goods)
        return round_money(conversion.amount * share, conversion.currency)
    return min(refunded, conversion.amount)


def _refund_to(
    session: Session,
    program: Program,
    platform: str,
    conversion: Conversion,
    fact: Any,
    cumulative: Decimal,
    event_id: str,
    now: datetime,
) -> Outcome:
    equivalent = gross_equivalent(platform, conversion, cumulative)
    if equivalent <= 0:
        # A shipping-only refund: the buyer got money back, the commission base is intact.
        return Outcome("duplicate", conversion.id, program.id)
    report = ConversionInput(
        program_id=program.id,
        order_id=conversion.order_id,
        kind="sale",
        status="refunded",
        currency=conversion.currency,
        amount=None,
        refund_amount=equivalent,
        tax=Decimal(0),
        shipping=Decimal(0),
        items=(),
        click_id=None,
        visitor_id=None,
        coupon=None,
        customer_id=None,
        buyer_country=None,
        new_customer=None,
        occurred_at=fact.occurred_at,
    )
    return record(session, program, report, event_id, now)


def _apply_parked(
    session: Session, program: Program, platform: str, order_id: str, now: datetime
) -> None:
    """Refunds that arrived before their order: apply each now, once, and mark it accepted."""
    parked = session.scalars(
        select(InboundEvent)
        .where(
            InboundEvent.program_id == program.id,
            InboundEvent.order_id == order_id[:128],
            InboundEvent.status == InboundStatus.parked.value,
        )
        .order_by(InboundEvent.received_at)
        .with_for_update()
    ).all()
    for event in parked:
        module = platform_module(event.source)
        try:
            facts = module.parse(event.body, dict(event.headers))
            delivery = _apply_facts(session, program, event.source, facts, event.id, now)
        except Rejected as exc:
            _finish(event.id, InboundStatus.rejected, now, reason=exc.reason,
                    detail=exc.detail, field=exc.field, session=session)  # fmt: skip
            continue
        detail = f"applied when order {order_id[:100]} arrived; {delivery.detail or ''}"
        _finish(event.id, InboundStatus(delivery.verdict), now, detail=detail,
                conversion_id=delivery.conversion_id, session=session)  # fmt: skip


def integration_secret_hint(secret: str) -> str:
    """What the API shows of a stored secret: enough to tell two apart, never the secret."""
    return f"…{secret[-4:]}" if len(secret) >= 12 else "…"
