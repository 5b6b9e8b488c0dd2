"""WooCommerce order webhooks (`order.created`, `order.updated`, `order.deleted`, `order.restored`).

The body is the order exactly as the REST API v3 returns it (`GET /wp-json/wc/v3/orders/<id>`).
WooCommerce has no refund topic: a refund arrives as `order.updated` whose `refunds[]` grew
(partial) or whose status became `refunded` (full).

Signature: `X-WC-Webhook-Signature` = base64(HMAC-SHA256(secret, raw body)), where the key is
the secret after `wp_specialchars_decode($secret, ENT_QUOTES)`: WordPress stores the secret
HTML-escaped, so a secret typed as `a&b` is kept as `a&amp;b` and decoded back before signing.

Amounts are rounded half-even to the currency instead of refused when they carry more
decimals: the number of decimals is a store setting (`woocommerce_price_num_decimals`), not
a sender bug, and refusing would lose every order of such a store.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from alliance.conversions.postback import Rejected

from .common import (
    FactStatus,
    Item,
    OrderFact,
    as_id,
    at,
    bad,
    bounded_key,
    check_base64_hmac,
    clean_text,
    country,
    find_click_id,
    get_currency,
    get_id,
    get_money,
    get_object,
    get_objects,
    header,
    load_object,
    money_or_zero,
    require_id,
    to_instant,
    try_load_object,
    unique,
    usable_keys,
    zero,
)

SIGNATURE_HEADER = "x-wc-webhook-signature"
TOPIC_HEADER = "x-wc-webhook-topic"

_TOPICS = frozenset({"order.created", "order.updated", "order.deleted", "order.restored"})
_STATUS: dict[str, FactStatus] = {
    "pending": "pending",  # awaiting payment
    "on-hold": "pending",  # awaiting a manual payment (bank transfer, cheque)
    "processing": "pending",  # paid, not shipped yet
    "completed": "completed",
    "cancelled": "declined",
    "failed": "declined",
    "trash": "declined",
    # Fully refunded: the sale happened and was paid back. It stays a completed sale with
    # cumulative_refund = total, so the ledger books a refund rather than a decline.
    "refunded": "completed",
}
# Order meta keys a storefront plugin may store the click id under.
_CLICK_META = frozenset({"alclid", "_alclid", "click_id", "_alliance_click_id"})
# The ping WooCommerce sends when a webhook is saved (WC_Webhook::deliver_ping): a form post
# of the webhook's id, with no X-WC-Webhook-* headers at all.
_PING = re.compile(rb"webhook_id=\d{1,20}")

# wp_specialchars_decode(ENT_QUOTES), ported exactly: first numeric entities lose their zero
# padding (`&#0039;` -> `&#039;`), then one strtr() pass replaces the table below. strtr
# replaces each position once and never rescans, so `&amp;lt;` becomes `&lt;`, not `<`.
_ENTITY_PADDING = (
    (re.compile(r"&#0*39;"), "&#039;"),
    (re.compile(r"&#x0*27;", re.IGNORECASE), "&#x27;"),
    (re.compile(r"&#0*34;"), "&#034;"),
    (re.compile(r"&#x0*22;", re.IGNORECASE), "&#x22;"),
    (re.compile(r"&#0*60;"), "&#060;"),
    (re.compile(r"&#0*62;"), "&#062;"),
    (re.compile(r"&#0*38;"), "&#038;"),
    (re.compile(r"&#x0*26;", re.IGNORECASE), "&#x26;"),
)
_ENTITIES = {
    "&#039;": "'",
    "&#x27;": "'",
    "&quot;": '"',
    "&#034;": '"',
    "&#x22;": '"',
    "&lt;": "<",
    "&#060;": "<",
    "&gt;": ">",
    "&#062;": ">",
    "&amp;": "&",
    "&#038;": "&",
    "&#x26;": "&",
}
_ENTITY = re.compile("|".join(re.escape(k) for k in sorted(_ENTITIES, key=len, reverse=True)))


def wp_specialchars_decode(text: str) -> str:
    """WordPress's `wp_specialchars_decode($text, ENT_QUOTES)`."""
    if "&" not in text:
        return text
    for pattern, replacement in _ENTITY_PADDING:
        text = pattern.sub(replacement, text)
    return _ENTITY.sub(lambda match: _ENTITIES[match.group(0)], text)


def is_ping(body: bytes, headers: Mapping[str, str]) -> bool:
    """The unsigned `webhook_id=<n>` form post WooCommerce sends when a webhook is saved.

    It must get a plain 200 or WooCommerce keeps the webhook disabled; it carries no order
    and no signature, so it is answered without verifying and without storing an order.
    """
    if header(headers, SIGNATURE_HEADER) is not None:
        return False
    content_type = (headers.get("content-type") or "").split(";")[0].strip().lower()
    if content_type != "application/x-www-form-urlencoded":
        return False
    return _PING.fullmatch(body) is not None


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime | None = None,
) -> None:
    """Raise SignatureError unless one of `secrets` signed exactly these bytes.

    Each secret is tried as WooCommerce decodes it and as given: whether the advertiser
    copied the escaped form (`a&amp;b`) or typed the plain one, one of them is the real key.
    `now` is unused: WooCommerce signs no timestamp.
    """
    del now
    keys: list[str] = []
    for secret in secrets:
        decoded = wp_specialchars_decode(secret)
        keys.append(decoded)
        if decoded != secret:
            keys.append(secret)
    check_base64_hmac(
        body, headers.get(SIGNATURE_HEADER), usable_keys(keys), "X-WC-Webhook-Signature"
    )


def dedup_key(body: bytes, headers: Mapping[str, str]) -> str | None:
    """`resource:id:status:date_modified_gmt`.

    WooCommerce has no stable delivery id (`X-WC-Webhook-Delivery-ID` is new on every send),
    so the identity is the order's state: the same order, status and modification time is
    the same news. A delete body holds only the id; its status is then "deleted".
    """
    data = try_load_object(body)
    if data is None:
        return None
    order_id = as_id(data.get("id"))
    if order_id is None:
        return None
    resource = header(headers, "x-wc-webhook-resource") or "order"
    status = data.get("status")
    if not isinstance(status, str):
        topic = (header(headers, TOPIC_HEADER) or "").lower()
        status = "deleted" if topic.endswith(".deleted") else ""
    modified = data.get("date_modified_gmt")
    modified_text = modified if isinstance(modified, str) else ""
    return bounded_key(f"{resource}:{order_id}:{status}:{modified_text}")


def parse(body: bytes, headers: Mapping[str, str]) -> list[OrderFact]:
    """The facts of one delivery; [] for topics that are not about orders."""
    topic = (header(headers, TOPIC_HEADER) or "").lower()
    if not topic:
        raise Rejected(
            "bad_payload", "the X-WC-Webhook-Topic header is missing", field=TOPIC_HEADER
        )
    if topic not in _TOPICS:
        return []
    data = load_object(body)
    if "id" not in data and isinstance(data.get("order"), dict):
        # The legacy API (v1-v3 of /wc-api/) wrapped the order and named its fields differently.
        raise bad(
            "legacy WooCommerce API payload: set the webhook's API version to "
            "'WP REST API Integration v3'"
        )
    return [_order(data, topic)]


def _order(data: dict[str, Any], topic: str) -> OrderFact:
    order_id = require_id(data, "id", "")
    raw_status = data.get("status")
    status_text = raw_status.strip().lower() if isinstance(raw_status, str) else ""
    if topic == "order.deleted":
        # Trashing or deleting sends only {"id": n}; either way the order is gone.
        status: FactStatus = "declined"
        note = topic
    elif status_text in _STATUS:
        status = _STATUS[status_text]
        note = f"{topic}: {status_text}"
    elif status_text:
        # Plugins add statuses ("shipped", "partially-paid"): never approve on a guess.
        status = "pending"
        note = f"{topic}: unknown status {status_text[:40]!r} taken as pending"
    else:
        raise bad("status is required", "status")
    currency = get_currency(data, "currency", "")
    amount = get_money(data, "total", currency, "", exact=False)
    customer = get_id(data, "customer_id", "")
    billing = get_object(data, "billing", "") or {}
    shipping_address = get_object(data, "shipping", "") or {}
    return OrderFact(
        order_id=order_id,
        action="upsert",
        status=status,
        currency=currency,
        amount=amount,
        tax=money_or_zero(data, "total_tax", currency, "", exact=False),
        shipping=money_or_zero(data, "shipping_total", currency, "", exact=False),
        click_id=_click_id(data),
        coupons=unique(
            clean_text(line.get("code")) for _, line in get_objects(data, "coupon_lines", "")
        ),
        customer_id=None if customer == "0" else customer,  # 0 = guest checkout
        buyer_country=country(billing.get("country")) or country(shipping_address.get("country")),
        occurred_at=to_instant(data.get("date_created_gmt"), "date_created_gmt"),
        cumulative_refund=_cumulative_refund(data, status_text, amount, currency),
        items=_items(data, currency),
        note=note,
    )


def _cumulative_refund(
    data: Mapping[str, Any], status: str, amount: Decimal | None, currency: str | None
) -> Decimal | None:
    """Refunded so far: the whole total when the status says `refunded`, else Σ refunds[].

    `refunds[].total` is negative ("-10.00") and gross (it includes refunded tax and
    shipping). The order's `total` is not reduced by refunds, so it stays the gross sale.
    """
    if status == "refunded" and amount is not None:
        return amount
    refunds = list(get_objects(data, "refunds", ""))
    if not refunds:
        return None
    total = zero(currency)
    for where, refund in refunds:
        total += abs(
            money_or_zero(refund, "total", currency, where, allow_negative=True, exact=False)
        )
    return total


def _click_id(data: Mapping[str, Any]) -> str | None:
    values = [
        meta.get("value")
        for _, meta in get_objects(data, "meta_data", "")
        if isinstance(meta.get("key"), str) and meta["key"].strip().lower() in _CLICK_META
    ]
    return find_click_id(*(value for value in values if isinstance(value, str)))


def _items(data: Mapping[str, Any], currency: str | None) -> tuple[Item, ...]:
    """(sku, None, line total, quantity): `total` is after discounts and before tax.

    Order line items carry no product category in WooCommerce's payload (it would take a
    product lookup), so the category stays None.
    """
    items: list[Item] = []
    for where, line in get_objects(data, "line_items", ""):
        quantity = line.get("quantity")
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 0:
            raise bad(f"{at(where, 'quantity')} must be a whole number", at(where, "quantity"))
        if quantity == 0:
            continue
        net = money_or_zero(line, "total", currency, where, exact=False)
        items.append((clean_text(line.get("sku")), None, net, quantity))
    return tuple(items)
