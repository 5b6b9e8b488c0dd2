"""Stripe webhooks: Checkout Sessions become orders, `charge.refunded` their refunds.

Signature (`Stripe-Signature: t=<unix>,v1=<hex>[,v1=<hex>...][,v0=...]`): hex
HMAC-SHA256(endpoint secret, "<t>." + raw body). Stripe sends several `v1` values while an
endpoint secret is being rolled; any one of them matching any configured secret passes. The
timestamp is signed, so unlike Shopify and WooCommerce a replay is refused by age: more than
300 s old (Stripe's default tolerance) or, which stripe-python does not check, more than
300 s in the future.

The order key is the PaymentIntent id (`pi_…`): it is on the session and on every charge and
refund of it, so the refund of a charge finds the order its session created. Sessions without
a PaymentIntent (subscription mode) fall back to the session id.

Amounts are integers in the currency's minor unit *as Stripe defines it* (see
`stripe_exponent`) and are converted to Decimal major units exactly.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import sha256
from typing import Any

from alliance.money import MoneyError, minor_units, parse_amount

from .common import (
    FactStatus,
    OrderFact,
    SignatureError,
    as_id,
    at,
    bad,
    clean_text,
    country,
    find_click_id,
    from_unix,
    get_currency,
    get_id,
    get_object,
    header,
    load_object,
    require_id,
    try_load_object,
    unique,
    usable_keys,
    zero,
)

SIGNATURE_HEADER = "stripe-signature"
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"\d{1,12}")

# Where Stripe's API minor unit differs from ISO 4217 (money.minor_units):
# ISK is zero-decimal in ISO but stays two-decimal in Stripe's API ("100" = 1 króna);
# MGA is two-decimal in ISO but zero-decimal at Stripe. Stripe's other zero-decimal (JPY,
# KRW, ...) and three-decimal (BHD, JOD, KWD, OMR, TND) currencies agree with ISO.
_STRIPE_MINOR_UNITS = {"ISK": 2, "MGA": 0}

_SESSION_STATUS: dict[str, FactStatus] = {
    "checkout.session.async_payment_succeeded": "completed",
    "checkout.session.async_payment_failed": "declined",
    "checkout.session.expired": "declined",
}
_CLICK_METADATA = ("alclid", "click_id", "alliance_click_id")


def stripe_exponent(currency: str) -> int:
    """Decimal places of Stripe's integer amounts in `currency`."""
    return _STRIPE_MINOR_UNITS.get(currency, minor_units(currency))


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime | None = None,
) -> None:
    """Raise SignatureError unless a `v1` signature by one of `secrets` is fresh and matches.

    The signature is checked before the age, so a forged header is reported as
    bad_signature, and only a genuine but old (or future) one as stale_signature.
    """
    raw = header(headers, SIGNATURE_HEADER)
    if raw is None:
        raise SignatureError("missing_signature", "the Stripe-Signature header is missing")
    timestamp, candidates = _parse_header(raw)
    keys = usable_keys(secrets)
    if not keys:
        raise SignatureError("bad_signature", "no webhook secret is configured")
    # stripe-python signs "%d.%s": the timestamp as a plain integer, then the raw body.
    signed = f"{timestamp}.".encode("ascii") + body
    matched = False
    for key in keys:  # no early exit: every key and candidate costs the same
        expected = hmac.new(key, signed, sha256).hexdigest().encode("ascii")
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise SignatureError("bad_signature", "no v1 signature in Stripe-Signature matches")
    moment = now or datetime.now(UTC)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    age = moment.timestamp() - timestamp
    if age > TOLERANCE_SECONDS:
        raise SignatureError(
            "stale_signature", f"the signature is {int(age)} s old (limit {TOLERANCE_SECONDS} s)"
        )
    if age < -TOLERANCE_SECONDS:
        raise SignatureError(
            "stale_signature",
            f"the signature is dated {int(-age)} s in the future (limit {TOLERANCE_SECONDS} s)",
        )


def _parse_header(raw: str) -> tuple[int, list[bytes]]:
    """`t` and the `v1` values; anything else (v0, unknown schemes) is ignored like Stripe does."""
    timestamps: list[str] = []
    candidates: list[bytes] = []
    for item in raw.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep:
            continue
        if name == "t":
            timestamps.append(value.strip())
        elif name == "v1":
            candidates.append(value.strip().lower().encode("utf-8", "replace"))
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]):
        raise SignatureError("bad_signature", "Stripe-Signature has no single valid t=<unix time>")
    if not candidates:
        raise SignatureError("bad_signature", "Stripe-Signature has no v1 signature")
    return int(timestamps[0]), candidates


def dedup_key(body: bytes, headers: Mapping[str, str]) -> str | None:
    """The event id (`evt_…`): Stripe retries an event with the same id."""
    del headers
    data = try_load_object(body)
    return as_id(data.get("id")) if data is not None else None


def parse(body: bytes, headers: Mapping[str, str]) -> list[OrderFact]:
    """The facts of one event; an `ignore` fact for event types that change no order."""
    del headers
    data = load_object(body)
    event_id = require_id(data, "id", "")
    event_type = require_id(data, "type", "")
    envelope = get_object(data, "data", "")
    obj = get_object(envelope, "object", "data") if envelope else None
    if obj is None:
        raise bad("data.object is required", "data.object")
    created = from_unix(data.get("created"), "created")
    test_note = "" if data.get("livemode") is not False else " (test mode)"

    if event_type == "checkout.session.completed":
        payment_status = obj.get("payment_status")
        if payment_status == "paid":
            return [_session(obj, "completed", event_type, created, test_note)]
        if payment_status == "no_payment_required":
            return [
                _ignore(obj, event_id, "ignored: checkout session needs no payment" + test_note)
            ]
        # Delayed payment methods (SEPA debit, bank transfer): the money is not there yet.
        # async_payment_succeeded or _failed follows and carries the outcome.
        shown = clean_text(payment_status) or "missing"
        return [
            _ignore(
                obj,
                event_id,
                f"ignored: unpaid checkout session (payment_status {shown[:40]}){test_note}",
            )
        ]
    if event_type in _SESSION_STATUS:
        # Failed and expired sessions usually name an order Alliance never saw; they are
        # still passed on so an order created from another source can be declined.
        return [_session(obj, _SESSION_STATUS[event_type], event_type, created, test_note)]
    if event_type == "charge.refunded":
        return [_charge_refunded(obj, event_id, created, test_note)]
    return [_ignore(obj, event_id, f"ignored: {event_type}{test_note}")]


def _minor(obj: Mapping[str, Any], key: str, currency: str | None, path: str) -> Decimal | None:
    """An integer amount in Stripe minor units as Decimal major units; None when null."""
    where = at(path, key)
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad(f"{where} must be an integer amount in minor units", where)
    if currency is None:
        raise bad(f"{where} is an amount but the payload names no currency", where)
    major = Decimal(value).scaleb(-stripe_exponent(currency))
    try:
        # Not exact: only a legacy fractional ISK amount (no minor unit in ISO) needs rounding.
        return parse_amount(major, currency, where, exact=False)
    except MoneyError as exc:
        raise bad(f"{where}: {exc}", where) from None


def _or_zero(amount: Decimal | None, currency: str | None) -> Decimal:
    return zero(currency) if amount is None else amount


def _expandable_id(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    """A reference Stripe sends as an id or, when expanded, as the object with that id."""
    value = obj.get(key)
    if isinstance(value, dict):
        return get_id(value, "id", at(path, key))
    return get_id(obj, key, path)


def _session(
    session: Mapping[str, Any],
    status: FactStatus,
    event_type: str,
    created: datetime | None,
    test_note: str,
) -> OrderFact:
    path = "data.object"
    order_id = _expandable_id(session, "payment_intent", path) or require_id(session, "id", path)
    currency = get_currency(session, "currency", path)
    amount = _minor(session, "amount_total", currency, path)
    details = get_object(session, "total_details", path) or {}
    details_path = at(path, "total_details")
    shipping = _minor(details, "amount_shipping", currency, details_path)
    if shipping is None:
        cost = get_object(session, "shipping_cost", path) or {}
        shipping = _minor(cost, "amount_total", currency, at(path, "shipping_cost"))
    metadata = get_object(session, "metadata", path) or {}
    customer_details = get_object(session, "customer_details", path) or {}
    address = get_object(customer_details, "address", at(path, "customer_details")) or {}
    shown = f" {amount} {currency}" if amount is not None else ""
    return OrderFact(
        order_id=order_id,
        action="upsert",
        status=status,
        currency=currency,
        amount=amount,
        tax=_or_zero(_minor(details, "amount_tax", currency, details_path), currency),
        shipping=_or_zero(shipping, currency),
        click_id=find_click_id(
            session.get("client_reference_id"), *(metadata.get(k) for k in _CLICK_METADATA)
        ),
        # Only a code the integration put in metadata: Stripe names promotion codes by id
        # (`discounts[].promotion_code`), and turning that into the code needs an API call.
        coupons=unique([clean_text(metadata.get("coupon"))]),
        customer_id=_expandable_id(session, "customer", path),
        buyer_country=country(address.get("country")),
        # The event's time is when the payment completed; the session's `created` is when
        # the buyer opened checkout, possibly a day earlier.
        occurred_at=created or from_unix(session.get("created"), at(path, "created")),
        # Line items are not part of the webhook (they need `expand[]=line_items`).
        items=(),
        note=f"{event_type}{shown}{test_note}",
    )


def _charge_refunded(
    charge: Mapping[str, Any], event_id: str, created: datetime | None, test_note: str
) -> OrderFact:
    """The charge as it is after the refund: `amount_refunded` is the cumulative total.

    Stripe refunds are of the whole payment (tax and shipping in proportion), so the
    refunded amount is already gross-equivalent. The event id is the refund key: every
    refund of the charge sends a new charge.refunded event.
    """
    path = "data.object"
    order_id = _expandable_id(charge, "payment_intent", path) or require_id(charge, "id", path)
    currency = get_currency(charge, "currency", path)
    if currency is None:
        raise bad("data.object.currency is required", at(path, "currency"))
    amount = _minor(charge, "amount", currency, path)
    refunded = _minor(charge, "amount_refunded", currency, path)
    if refunded is None:
        raise bad("data.object.amount_refunded is required", at(path, "amount_refunded"))
    metadata = get_object(charge, "metadata", path) or {}
    billing = get_object(charge, "billing_details", path) or {}
    address = get_object(billing, "address", at(path, "billing_details")) or {}
    return OrderFact(
        order_id=order_id,
        action="refund",
        currency=currency,
        amount=amount,
        click_id=find_click_id(*(metadata.get(k) for k in _CLICK_METADATA)),
        customer_id=_expandable_id(charge, "customer", path),
        buyer_country=country(address.get("country")),
        occurred_at=created,
        refund_key=event_id,
        cumulative_refund=refunded,
        note=f"charge.refunded {refunded} of {amount} {currency}{test_note}",
    )


def _ignore(obj: Mapping[str, Any], event_id: str, note: str) -> OrderFact:
    """A fact that changes nothing, keyed by the best order key at hand (never refused)."""
    intent: object = obj.get("payment_intent")
    if isinstance(intent, dict):
        intent = intent.get("id")
    order_id = None if obj.get("object") == "payment_intent" else as_id(intent)
    return OrderFact(
        order_id=order_id or as_id(obj.get("id")) or event_id, action="ignore", note=note
    )
