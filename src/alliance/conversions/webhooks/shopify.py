"""Shopify order webhooks: `orders/*` (body = the Order resource) and `refunds/create`.

Signature: `X-Shopify-Hmac-Sha256` = base64(HMAC-SHA256(app secret, raw body)). It covers no
timestamp, so a replay is only caught by its identity: `X-Shopify-Event-Id` (the same for
every retry of one event), else `X-Shopify-Webhook-Id`.

Amounts are read in the *shop* currency (`currency`, `total_price`, `*_set.shop_money`), not
the buyer's presentment currency, so an order and its refunds are always in one currency.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from alliance.conversions.postback import Rejected
from alliance.money import round_money

from .common import (
    FactStatus,
    Item,
    OrderFact,
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
    unique,
    usable_keys,
    zero,
)

HMAC_HEADER = "x-shopify-hmac-sha256"
TOPIC_HEADER = "x-shopify-topic"

# Topics whose body is an Order and whose status is read from the order's own fields.
_DERIVED_STATUS = frozenset(
    {"orders/create", "orders/paid", "orders/updated", "orders/partially_fulfilled"}
)
# Topics whose name alone says the state.
_FIXED_STATUS: dict[str, FactStatus] = {
    "orders/fulfilled": "completed",
    "orders/cancelled": "declined",
}
# Cart attributes (`note_attributes`) a storefront script may use for the click id.
_CLICK_ATTRIBUTES = frozenset(
    {"alclid", "_alclid", "click_id", "_click_id", "alliance_click_id", "_alliance_click_id"}
)


def verify(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    now: datetime | None = None,
) -> None:
    """Raise SignatureError unless one of `secrets` signed exactly these bytes.

    `now` is unused: Shopify signs no timestamp (kept for one signature across platforms).
    """
    del now
    check_base64_hmac(body, headers.get(HMAC_HEADER), usable_keys(secrets), "X-Shopify-Hmac-Sha256")


def dedup_key(body: bytes, headers: Mapping[str, str]) -> str | None:
    """The event identity: retries of one event carry the same `X-Shopify-Event-Id`."""
    del body
    return bounded_key(
        header(headers, "x-shopify-event-id") or header(headers, "x-shopify-webhook-id")
    )


def parse(body: bytes, headers: Mapping[str, str]) -> list[OrderFact]:
    """The facts of one delivery; [] for topics that are not about orders."""
    topic = (header(headers, TOPIC_HEADER) or "").lower()
    if not topic:
        raise Rejected("bad_payload", "the X-Shopify-Topic header is missing", field=TOPIC_HEADER)
    if topic in _DERIVED_STATUS or topic in _FIXED_STATUS:
        return [_order(load_object(body), topic)]
    if topic == "refunds/create":
        return [_refund(load_object(body))]
    if topic == "orders/delete":
        # The body is only {"id": ...}. A deletion is not a cancellation (cancelling sends
        # orders/cancelled first), so it must not undo a commission by itself.
        order_id = require_id(load_object(body), "id", "")
        return [OrderFact(order_id, "ignore", note="ignored: orders/delete")]
    return []


# --- orders ----------------------------------------------------------------------------------


def _order(data: dict[str, Any], topic: str) -> OrderFact:
    order_id = require_id(data, "id", "")
    currency = get_currency(data, "currency", "")
    refunds = list(get_objects(data, "refunds", ""))
    cumulative = None
    if refunds:
        cumulative = sum(
            (_line_refund_total(refund, where, currency) for where, refund in refunds),
            zero(currency),
        )
    customer = get_object(data, "customer", "")
    billing = get_object(data, "billing_address", "") or {}
    shipping_address = get_object(data, "shipping_address", "") or {}
    note = topic + (" (test order)" if data.get("test") is True else "")
    return OrderFact(
        order_id=order_id,
        action="upsert",
        status=_FIXED_STATUS.get(topic) or _status(data),
        currency=currency,
        amount=get_money(data, "total_price", currency, ""),
        tax=money_or_zero(data, "total_tax", currency, ""),
        shipping=_shipping(data, currency),
        click_id=_click_id(data),
        coupons=unique(
            clean_text(code.get("code")) for _, code in get_objects(data, "discount_codes", "")
        ),
        customer_id=get_id(customer, "id", "customer") if customer else None,
        buyer_country=country(billing.get("country_code"))
        or country(shipping_address.get("country_code")),
        occurred_at=to_instant(data.get("created_at"), "created_at"),
        cumulative_refund=cumulative,
        items=_items(data, currency),
        note=note,
    )


def _status(data: Mapping[str, Any]) -> FactStatus:
    """The state of an order from its fields (orders/create, /paid, /updated)."""
    if data.get("cancelled_at"):
        return "declined"
    # `voided`: the payment authorization was cancelled, no money will be captured.
    if data.get("financial_status") == "voided":
        return "declined"
    if data.get("fulfillment_status") == "fulfilled":
        return "completed"
    return "pending"


def _shop_money(obj: Mapping[str, Any], key: str, currency: str | None, path: str) -> Decimal:
    """`obj[key + "_set"].shop_money.amount`, else `obj[key]`, else 0.

    The `_set` form is a decimal string in the shop currency; the bare one is in some
    resources (refund line items) a JSON float such as 41.94, read as the decimal it prints
    and rounded to the currency only because a float may carry binary noise.
    """
    money_set = get_object(obj, f"{key}_set", path)
    if money_set is not None:
        shop = get_object(money_set, "shop_money", at(path, f"{key}_set"))
        if shop is not None:
            amount = get_money(shop, "amount", currency, at(at(path, f"{key}_set"), "shop_money"))
            if amount is not None:
                return amount
    return money_or_zero(obj, key, currency, path, exact=False)


def _shipping(data: Mapping[str, Any], currency: str | None) -> Decimal:
    money_set = get_object(data, "total_shipping_price_set", "")
    shop = get_object(money_set, "shop_money", "total_shipping_price_set") if money_set else None
    if shop is not None:
        amount = get_money(shop, "amount", currency, "total_shipping_price_set.shop_money")
        if amount is not None:
            return amount
    # Older payloads: only the shipping lines.
    total = zero(currency)
    for where, line in get_objects(data, "shipping_lines", ""):
        total += money_or_zero(line, "price", currency, where)
    return total


def _click_id(data: Mapping[str, Any]) -> str | None:
    """The click id from the landing page URL, the storefront's cart attributes, the referrer.

    `landing_site` is the path and query of the first page of the visit ("/?alclid=clk_…"),
    `landing_site_ref` the value of its `ref` parameter. Named cart attributes are looked at
    before the referrer; any other attribute holding a click id only after it.
    """
    named: list[str] = []
    others: list[str] = []
    for _, attribute in get_objects(data, "note_attributes", ""):
        name, value = attribute.get("name"), attribute.get("value")
        if not isinstance(value, str):
            continue
        if isinstance(name, str) and name.strip().lower() in _CLICK_ATTRIBUTES:
            named.append(value)
        else:
            others.append(value)
    return find_click_id(
        data.get("landing_site"),
        data.get("landing_site_ref"),
        *named,
        data.get("referring_site"),
        *others,
    )


def _quantity(line: Mapping[str, Any], key: str, where: str) -> int | None:
    value = line.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 10**6:
        raise bad(f"{at(where, key)} must be a whole number from 0", at(where, key))
    return value


def _items(data: Mapping[str, Any], currency: str | None) -> tuple[Item, ...]:
    """(sku, product_type, net amount, quantity) per line still on the order.

    Net = price * quantity - the line's discounts (- its taxes when prices include tax). An
    order edit keeps `quantity` and lowers `current_quantity`; the net is scaled to it and
    removed lines are left out.
    """
    taxes_included = data.get("taxes_included") is True
    items: list[Item] = []
    for where, line in get_objects(data, "line_items", ""):
        ordered = _quantity(line, "quantity", where) or 0
        current = _quantity(line, "current_quantity", where)
        quantity = ordered if current is None else current
        if quantity == 0 or ordered == 0:
            continue
        price = money_or_zero(line, "price", currency, where)
        allocations = list(get_objects(line, "discount_allocations", where))
        if allocations:
            discount = sum(
                (money_or_zero(a, "amount", currency, w) for w, a in allocations),
                Decimal(0),
            )
        else:  # payloads from before discount allocations existed
            discount = money_or_zero(line, "total_discount", currency, where)
        included_tax = Decimal(0)
        if taxes_included:
            for tax_where, tax in get_objects(line, "tax_lines", where):
                included_tax += money_or_zero(tax, "price", currency, tax_where)
        net = max(price * ordered - discount - included_tax, Decimal(0))
        if quantity != ordered:
            net = net * quantity / ordered
        if currency is not None:
            net = round_money(net, currency)
        items.append(
            (clean_text(line.get("sku")), clean_text(line.get("product_type")), net, quantity)
        )
    return tuple(items)


# --- refunds ---------------------------------------------------------------------------------


def _line_refund_total(refund: Mapping[str, Any], path: str, currency: str | None) -> Decimal:
    """Goods refunded: Σ refund line items' subtotal + total_tax (no shipping, no adjustments).

    Shipping refunds live in `order_adjustments` and amount-only refunds only in
    `transactions`; neither changes what the partner sold, so neither is counted.
    """
    total = zero(currency)
    for where, line in get_objects(refund, "refund_line_items", path):
        total += _shop_money(line, "subtotal", currency, where)
        total += _shop_money(line, "total_tax", currency, where)
    return total


def _refund_currency(data: Mapping[str, Any]) -> str | None:
    """A Refund has no `currency` field: take the shop currency of its own money sets."""
    for where, line in get_objects(data, "refund_line_items", ""):
        for key in ("subtotal_set", "total_tax_set"):
            money_set = get_object(line, key, where)
            shop = get_object(money_set, "shop_money", at(where, key)) if money_set else None
            if shop is not None:
                code = get_currency(shop, "currency_code", at(at(where, key), "shop_money"))
                if code is not None:
                    return code
    for where, adjustment in get_objects(data, "order_adjustments", ""):
        money_set = get_object(adjustment, "amount_set", where)
        shop = get_object(money_set, "shop_money", at(where, "amount_set")) if money_set else None
        if shop is not None:
            code = get_currency(shop, "currency_code", at(at(where, "amount_set"), "shop_money"))
            if code is not None:
                return code
    for where, transaction in get_objects(data, "transactions", ""):
        code = get_currency(transaction, "currency", where)
        if code is not None:
            return code
    return None


def _refund(data: dict[str, Any]) -> OrderFact:
    refund_id = require_id(data, "id", "")
    order_id = require_id(data, "order_id", "")
    currency = _refund_currency(data)
    lines = list(get_objects(data, "refund_line_items", ""))
    if lines:
        amount = _line_refund_total(data, "", currency)
        note = f"refunds/create {amount} {currency}: {len(lines)} line item(s)"
    else:
        amount = zero(currency)
        kinds = [adj.get("kind") for _, adj in get_objects(data, "order_adjustments", "")]
        if "shipping_refund" in kinds:
            note = "refunds/create: shipping only, not counted"
        else:
            note = "refunds/create: no line items (amount-only refund), not counted"
    return OrderFact(
        order_id=order_id,
        action="refund",
        currency=currency,
        occurred_at=to_instant(data.get("created_at"), "created_at"),
        refund_key=refund_id,
        refund_amount=amount,
        note=note,
    )
