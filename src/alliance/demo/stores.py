"""Demo programs whose orders arrive as store webhooks (Shopify, Stripe) instead of postbacks.

The payloads have the platforms' real shapes and are signed with each program's secret the
way the platform signs them, then go through `webhook_service.receive` exactly as a delivery
to `/webhooks/{platform}/{program}` would: verification, dedup, parsing, attribution, ledger.
A newcomer opening the inbox sees Shopify and Stripe deliveries next to postbacks.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from alliance.conversions import webhook_service
from alliance.conversions.models import WebhookIntegration
from alliance.conversions.postback import LineInput
from alliance.ids import PREFIXES, new_id, new_token
from alliance.money import minor_units

# Shopify order ids are 13-digit numbers today (and JSON numbers beyond 2**53 in places).
SHOPIFY_ID_BASE = 5_600_000_000_000


def connect(session: Session, program_id: str, platform: str, at: datetime) -> str:
    """Store a fresh random secret for the program's platform and return it (for signing)."""
    secret = ("whsec_" if platform == "stripe" else "shpss_") + new_token(24)
    session.add(
        WebhookIntegration(
            id=new_id(PREFIXES["webhook_integration"]),
            program_id=program_id,
            platform=platform,
            secret=secret,
            created_at=at,
            updated_at=at,
        )
    )
    return secret


def _numeric_id(key: str) -> int:
    return 7_000_000_000_000 + int(hashlib.sha256(key.encode()).hexdigest()[:10], 16) % 10**12


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="seconds")


def _money(value: Decimal) -> str:
    return f"{value:.2f}"


def shopify_order(
    number: int,
    *,
    at: datetime,
    currency: str,
    items: Sequence[LineInput],
    click_id: str | None,
    coupon: str | None,
    customer_id: str,
    country: str,
    fulfilled: bool = False,
    cancelled_at: datetime | None = None,
) -> dict[str, Any]:
    total = sum((line.amount for line in items), Decimal(0))
    landing = "/collections/mattresses"
    if click_id:
        landing += f"?utm_source=alliance&alclid={click_id}"
    return {
        "id": SHOPIFY_ID_BASE + number,
        "name": f"#{1000 + number}",
        "order_number": 1000 + number,
        "created_at": _iso(at),
        "updated_at": _iso(at),
        "currency": currency,
        "presentment_currency": currency,
        "total_price": _money(total),
        "subtotal_price": _money(total),
        "total_tax": "0.00",
        "total_discounts": "0.00",
        "total_shipping_price_set": {
            "shop_money": {"amount": "0.00", "currency_code": currency},
            "presentment_money": {"amount": "0.00", "currency_code": currency},
        },
        "financial_status": "paid",
        "fulfillment_status": "fulfilled" if fulfilled else None,
        "cancelled_at": _iso(cancelled_at) if cancelled_at else None,
        "cancel_reason": "customer" if cancelled_at else None,
        "landing_site": landing,
        "referring_site": "",
        "note_attributes": [],
        "discount_codes": (
            [{"code": coupon, "amount": "0.00", "type": "percentage"}] if coupon else []
        ),
        # Shopify customer ids are numbers: the demo's customer key, hashed to one.
        "customer": {"id": _numeric_id(customer_id)},
        "billing_address": {"country_code": country},
        "line_items": [
            {
                "id": SHOPIFY_ID_BASE * 2 + number * 10 + index,
                "sku": line.sku,
                "product_type": line.category,
                "title": (line.category or "item").title(),
                "quantity": line.quantity,
                "price": _money(line.amount / line.quantity),
            }
            for index, line in enumerate(items)
        ],
        "refunds": [],
    }


def shopify_refund(
    number: int, refund_number: int, *, at: datetime, order: dict[str, Any], share: Decimal
) -> dict[str, Any]:
    """A refund of `share` of every line (1 = everything), the shape of `refunds/create`."""
    currency = order["currency"]
    lines = []
    total = Decimal(0)
    for line in order["line_items"]:
        subtotal = (Decimal(line["price"]) * line["quantity"] * share).quantize(Decimal("0.01"))
        total += subtotal
        lines.append(
            {
                "id": line["id"] + 7,
                "line_item_id": line["id"],
                "quantity": line["quantity"],
                "restock_type": "return",
                "subtotal": float(subtotal),
                "total_tax": 0.0,
                "subtotal_set": {
                    "shop_money": {"amount": _money(subtotal), "currency_code": currency},
                    "presentment_money": {"amount": _money(subtotal), "currency_code": currency},
                },
            }
        )
    return {
        "id": SHOPIFY_ID_BASE * 3 + number * 10 + refund_number,
        "order_id": order["id"],
        "created_at": _iso(at),
        "note": "customer return",
        "refund_line_items": lines,
        "transactions": [
            {
                "kind": "refund",
                "status": "success",
                "amount": _money(total),
                "currency": currency,
                "gateway": "manual",
            }
        ],
        "order_adjustments": [],
    }


def stripe_session_event(
    intent: str,
    *,
    at: datetime,
    currency: str,
    amount: Decimal,
    click_id: str | None,
    coupon: str | None,
    country: str,
) -> dict[str, Any]:
    minor = int(amount * (10 ** minor_units(currency)))
    return {
        "id": f"evt_{new_token(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(at.timestamp()),
        "type": "checkout.session.completed",
        "livemode": False,
        "data": {
            "object": {
                "id": f"cs_live_{new_token(16)}",
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": intent,
                "amount_subtotal": minor,
                "amount_total": minor,
                "currency": currency.lower(),
                "client_reference_id": click_id,
                "metadata": {"coupon": coupon} if coupon else {},
                "created": int(at.timestamp()),
                "customer": f"cus_{new_token(8)}",
                "customer_details": {"address": {"country": country}},
                "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            }
        },
    }


def stripe_refund_event(
    intent: str, *, at: datetime, currency: str, amount: Decimal, refunded: Decimal
) -> dict[str, Any]:
    scale = 10 ** minor_units(currency)
    return {
        "id": f"evt_{new_token(12)}",
        "object": "event",
        "api_version": "2024-06-20",
        "created": int(at.timestamp()),
        "type": "charge.refunded",
        "livemode": False,
        "data": {
            "object": {
                "id": f"ch_{new_token(12)}",
                "object": "charge",
                "payment_intent": intent,
                "amount": int(amount * scale),
                "amount_refunded": int(refunded * scale),
                "currency": currency.lower(),
                "refunded": refunded >= amount,
                "created": int(at.timestamp()),
            }
        },
    }


def deliver(
    platform: str,
    program_id: str,
    secret: str,
    payload: dict[str, Any],
    *,
    at: datetime,
    topic: str | None = None,
) -> webhook_service.Delivery:
    """Sign `payload` as the platform does and hand it to the webhook pipeline."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    if platform == "shopify":
        digest = hmac.new(secret.encode(), body, hashlib.sha256).digest()
        headers = {
            "content-type": "application/json",
            "x-shopify-topic": topic or "orders/create",
            "x-shopify-hmac-sha256": base64.b64encode(digest).decode(),
            "x-shopify-event-id": new_id("x")[4:].lower(),
            "x-shopify-shop-domain": "brooklyn-sleep.myshopify.com",
        }
    else:
        timestamp = int(at.timestamp())
        signed = f"{timestamp}.".encode() + body
        signature = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
        headers = {
            "content-type": "application/json",
            "stripe-signature": f"t={timestamp},v1={signature}",
        }
    return webhook_service.receive(platform, program_id, headers, body, now=at)
