"""Shopify webhooks against Shopify's own sample payloads, signed the way Shopify signs them."""

from __future__ import annotations

import base64
import copy
import dataclasses
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import sha256
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from alliance.conversions.postback import Rejected
from alliance.conversions.webhooks import shopify
from alliance.conversions.webhooks.common import OrderFact, SignatureError
from tests.conversions.webhooks.mutations import json_values, paths, replaced
from tests.fixtures import PLATFORM_SAMPLES

SAMPLES = PLATFORM_SAMPLES
SECRET = "shpss_0123456789abcdef0123456789abcdef"
CLICK = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R1T"
D = Decimal


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


ORDER = sample("shopify_orders_create_test_notification.json")
LINE_REFUND = sample("shopify_refunds_create_line_item_refund.json")
SHIPPING_REFUND = sample("shopify_refunds_create_shipping_only_refund.json")


def sign(body: bytes, secret: str) -> str:
    """Shopify: base64(HMAC-SHA256(app client secret, raw body))."""
    return base64.b64encode(hmac.new(secret.encode(), body, sha256).digest()).decode()


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data).encode()


def parse_one(data: dict[str, Any], topic: str = "orders/create") -> OrderFact:
    facts = shopify.parse(encode(data), {"x-shopify-topic": topic})
    assert len(facts) == 1
    return facts[0]


def open_order(**changes: Any) -> dict[str, Any]:
    """The sample order, not cancelled and paid, with `changes` applied."""
    data = copy.deepcopy(ORDER)
    data.update(cancelled_at=None, cancel_reason=None, financial_status="paid")
    data.update(fulfillment_status=None)
    data.update(changes)
    return data


# --- signature -------------------------------------------------------------------------------


def test_the_raw_sample_bytes_verify() -> None:
    body = (SAMPLES / "shopify_orders_create_test_notification.json").read_bytes()
    shopify.verify(body, {"x-shopify-hmac-sha256": sign(body, SECRET)}, [SECRET])


def test_wrong_secret_is_refused() -> None:
    body = encode(ORDER)
    with pytest.raises(SignatureError) as refused:
        shopify.verify(body, {"x-shopify-hmac-sha256": sign(body, "other")}, [SECRET])
    assert refused.value.reason == "bad_signature"


def test_tampered_body_is_refused() -> None:
    body = encode(ORDER)
    header = sign(body, SECRET)
    tampered = body.replace(b'"403.00"', b'"4030.00"', 1)
    assert tampered != body
    with pytest.raises(SignatureError) as refused:
        shopify.verify(tampered, {"x-shopify-hmac-sha256": header}, [SECRET])
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("headers", [{}, {"x-shopify-hmac-sha256": ""}, {"x-other": "x"}])
def test_missing_signature(headers: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as refused:
        shopify.verify(b"{}", headers, [SECRET])
    assert refused.value.reason == "missing_signature"


@pytest.mark.parametrize("value", ["not base64!", "AAAA", "\u00e9t\u00e9", "==="])
def test_garbage_signature(value: str) -> None:
    with pytest.raises(SignatureError) as refused:
        shopify.verify(b"{}", {"x-shopify-hmac-sha256": value}, [SECRET])
    assert refused.value.reason == "bad_signature"


def test_any_secret_of_a_rotation_verifies() -> None:
    body = encode(ORDER)
    header = {"x-shopify-hmac-sha256": sign(body, "new-secret")}
    shopify.verify(body, header, ["old-secret", "new-secret"])
    shopify.verify(body, header, ["new-secret", "old-secret"])
    with pytest.raises(SignatureError):
        shopify.verify(body, header, ["old-secret"])


def test_no_configured_secret_verifies_nothing() -> None:
    body = encode(ORDER)
    with pytest.raises(SignatureError) as refused:
        shopify.verify(body, {"x-shopify-hmac-sha256": sign(body, SECRET)}, [])
    assert refused.value.reason == "bad_signature"


def test_header_whitespace_is_tolerated() -> None:
    body = encode(ORDER)
    shopify.verify(body, {"x-shopify-hmac-sha256": f" {sign(body, SECRET)}\n"}, [SECRET])


def test_dedup_key_is_the_event_id() -> None:
    headers = {"x-shopify-event-id": "98880550-7158-44d4-b7cd-2c97c8a091b5"}
    assert shopify.dedup_key(b"{}", headers) == "98880550-7158-44d4-b7cd-2c97c8a091b5"
    both = {**headers, "x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
    assert shopify.dedup_key(b"{}", both) == "98880550-7158-44d4-b7cd-2c97c8a091b5"
    only_webhook = {"x-shopify-webhook-id": "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"}
    assert shopify.dedup_key(b"{}", only_webhook) == "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043"
    assert shopify.dedup_key(b"{}", {}) is None
    long = shopify.dedup_key(b"{}", {"x-shopify-event-id": "e" * 1000})
    assert long is not None and len(long) <= 255


# --- orders ----------------------------------------------------------------------------------


def test_test_notification_sample() -> None:
    body = (SAMPLES / "shopify_orders_create_test_notification.json").read_bytes()
    [fact] = shopify.parse(body, {"x-shopify-topic": "orders/create"})
    # Beyond 2**53: a float-based parser would say 820982911946154500.
    assert fact.order_id == "820982911946154508"
    assert fact.customer_id == "115310627314723954"
    assert fact.action == "upsert"
    assert fact.status == "declined"  # cancelled_at is set (and voided)
    assert (fact.currency, fact.amount, fact.tax, fact.shipping) == (
        "USD",
        D("403.00"),
        D("0.00"),
        D("10.00"),
    )
    assert str(fact.amount) == "403.00"
    assert fact.buyer_country == "US"
    assert fact.occurred_at == datetime(2019, 6, 4, 17, 53, 6, tzinfo=UTC)
    assert fact.items == (
        ("IPOD2008PINK", None, D("199.00"), 1),
        ("IPOD2008PINK", None, D("194.00"), 1),
    )
    assert fact.coupons == ()
    assert fact.click_id is None
    assert fact.cumulative_refund is None
    assert (fact.refund_key, fact.refund_amount) == (None, None)
    assert fact.note == "orders/create (test order)"


@pytest.mark.parametrize(
    ("topic", "changes", "status"),
    [
        ("orders/create", {}, "pending"),
        ("orders/paid", {}, "pending"),
        ("orders/updated", {"fulfillment_status": "partial"}, "pending"),
        ("orders/updated", {"fulfillment_status": "fulfilled"}, "completed"),
        ("orders/partially_fulfilled", {"fulfillment_status": "partial"}, "pending"),
        ("orders/updated", {"cancelled_at": "2019-06-05T10:00:00-04:00"}, "declined"),
        ("orders/updated", {"financial_status": "voided"}, "declined"),
        # cancelled after fulfilment: the cancellation wins
        (
            "orders/updated",
            {"fulfillment_status": "fulfilled", "cancelled_at": "2019-06-05T10:00:00Z"},
            "declined",
        ),
        ("orders/fulfilled", {"fulfillment_status": "fulfilled"}, "completed"),
        ("orders/fulfilled", {}, "completed"),
        ("orders/cancelled", {"cancelled_at": "2019-06-05T10:00:00-04:00"}, "declined"),
        ("orders/cancelled", {}, "declined"),
    ],
)
def test_status_per_topic(topic: str, changes: dict[str, Any], status: str) -> None:
    fact = parse_one(open_order(**changes), topic)
    assert (fact.action, fact.status, fact.note) == ("upsert", status, f"{topic} (test order)")


def test_topic_header_is_case_insensitive() -> None:
    assert parse_one(open_order(), "Orders/Fulfilled").status == "completed"


def test_click_id_in_the_landing_site_query() -> None:
    data = open_order(landing_site=f"/products/ipod-nano?utm_source=blog&alclid={CLICK}")
    assert parse_one(data).click_id == CLICK


def test_click_id_in_landing_site_ref() -> None:
    assert parse_one(open_order(landing_site="/", landing_site_ref=CLICK)).click_id == CLICK


def test_click_id_in_a_cart_attribute() -> None:
    attributes = [{"name": "gift_note", "value": "hi"}, {"name": "alclid", "value": CLICK}]
    assert parse_one(open_order(note_attributes=attributes)).click_id == CLICK
    renamed = [{"name": "Click_ID", "value": f" {CLICK} "}]
    assert parse_one(open_order(note_attributes=renamed)).click_id == CLICK


def test_click_id_in_the_referrer() -> None:
    data = open_order(referring_site=f"https://partner.example/go?alclid={CLICK}")
    assert parse_one(data).click_id == CLICK


def test_landing_site_beats_attributes_and_named_attributes_beat_others() -> None:
    other = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R2V"
    data = open_order(
        landing_site=f"/?alclid={CLICK}", note_attributes=[{"name": "alclid", "value": other}]
    )
    assert parse_one(data).click_id == CLICK
    data = open_order(
        note_attributes=[
            {"name": "landing_page", "value": f"/?alclid={other}"},
            {"name": "_alclid", "value": CLICK},
        ]
    )
    assert parse_one(data).click_id == CLICK


def test_malformed_click_ids_are_not_taken() -> None:
    data = open_order(
        landing_site=f"/?alclid={CLICK.lower()}",
        note_attributes=[{"name": "alclid", "value": 12345}, {"name": "alclid", "value": None}],
    )
    assert parse_one(data).click_id is None


def test_coupons_customer_country() -> None:
    data = open_order(
        discount_codes=[
            {"code": "SPRING10", "amount": "5.00", "type": "fixed_amount"},
            {"code": "FREESHIP", "amount": "10.00", "type": "shipping"},
            {"code": "SPRING10", "amount": "0.00", "type": "fixed_amount"},
        ],
        billing_address=None,
    )
    fact = parse_one(data)
    assert fact.coupons == ("SPRING10", "FREESHIP")
    assert fact.buyer_country == "US"  # from the shipping address
    assert parse_one(open_order(customer=None, shipping_address=None, billing_address=None)) == (
        dataclasses.replace(parse_one(open_order()), customer_id=None, buyer_country=None)
    )


def test_shipping_from_shipping_lines_when_no_price_set() -> None:
    data = open_order()
    del data["total_shipping_price_set"]
    data["shipping_lines"].append(dict(data["shipping_lines"][0], price="4.50"))
    assert parse_one(data).shipping == D("14.50")
    data["shipping_lines"] = []
    assert parse_one(data).shipping == D("0.00")


def test_line_net_with_taxes_included_and_edited_quantities() -> None:
    data = open_order(taxes_included=True)
    line = data["line_items"][0]
    line.update(quantity=3, price="10.00", total_discount="0.00", discount_allocations=[])
    line["tax_lines"] = [{"title": "VAT", "price": "5.00", "rate": 0.2}]
    second = data["line_items"][1]
    second.update(current_quantity=0)  # removed by an order edit
    fact = parse_one(data)
    assert fact.items == (("IPOD2008PINK", None, D("25.00"), 3),)
    line["current_quantity"] = 1  # two of three removed: a third of the net is left
    assert parse_one(data).items == (("IPOD2008PINK", None, D("8.33"), 1),)


def test_product_type_is_the_category_when_present() -> None:
    data = open_order()
    data["line_items"][0]["product_type"] = "Music players"
    assert parse_one(data).items[0][1] == "Music players"


def test_cumulative_refund_from_the_orders_refunds() -> None:
    first = copy.deepcopy(LINE_REFUND)
    line = first["refund_line_items"][0]
    line["subtotal_set"]["shop_money"]["amount"] = "199.00"
    line["total_tax_set"]["shop_money"]["amount"] = "3.98"
    second = copy.deepcopy(first)
    second["id"] = 929361466
    second["refund_line_items"][0]["subtotal_set"]["shop_money"]["amount"] = "20.00"
    second["refund_line_items"][0]["total_tax_set"]["shop_money"]["amount"] = "1.20"
    fact = parse_one(open_order(refunds=[first, copy.deepcopy(SHIPPING_REFUND), second]))
    # 199.00 + 3.98 + 20.00 + 1.20; the shipping refund is not goods
    assert fact.cumulative_refund == D("224.18")
    assert parse_one(open_order(refunds=[SHIPPING_REFUND])).cumulative_refund == D("0.00")
    assert parse_one(open_order(refunds=[])).cumulative_refund is None


def test_orders_delete_is_ignored() -> None:
    [fact] = shopify.parse(b'{"id": 820982911946154508}', {"x-shopify-topic": "orders/delete"})
    assert (fact.order_id, fact.action, fact.status) == ("820982911946154508", "ignore", None)
    assert fact.note == "ignored: orders/delete"


@pytest.mark.parametrize("topic", ["products/update", "customers/create", "app/uninstalled"])
def test_topics_not_about_orders_give_nothing(topic: str) -> None:
    assert shopify.parse(b"not even json", {"x-shopify-topic": topic}) == []


def test_missing_topic_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        shopify.parse(encode(ORDER), {})
    assert (refused.value.reason, refused.value.field) == ("bad_payload", "x-shopify-topic")


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"id": True}, "id"),
        ({"id": 1.5}, "id"),
        ({"total_price": "lots"}, "total_price"),
        ({"total_price": "403.001"}, "total_price"),
        ({"total_tax": -1}, "total_tax"),
        ({"currency": "XYZ"}, "currency"),
        ({"currency": None}, "total_price"),  # an amount needs a currency
        ({"line_items": {"a": 1}}, "line_items"),
        ({"line_items": ["x"]}, "line_items.0"),
        ({"discount_codes": [None]}, "discount_codes.0"),
        ({"customer": "x"}, "customer"),
        ({"customer": {"id": [1]}}, "customer.id"),
        ({"created_at": "soon"}, "created_at"),
        (
            {"refunds": [{"refund_line_items": [{"subtotal": "x"}]}]},
            "refunds.0.refund_line_items.0.subtotal",
        ),
    ],
)
def test_malformed_orders_are_refused_with_a_path(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_one(open_order(**changes))
    assert refused.value.reason == "bad_payload"
    assert refused.value.field == field


def test_a_missing_id_is_refused() -> None:
    data = open_order()
    del data["id"]
    with pytest.raises(Rejected) as refused:
        parse_one(data)
    assert refused.value.field == "id"


def test_a_body_that_is_not_an_object_is_refused() -> None:
    for body in (b"[]", b"", b"null", b"{"):
        with pytest.raises(Rejected) as refused:
            shopify.parse(body, {"x-shopify-topic": "orders/create"})
        assert (refused.value.reason, refused.value.field) == ("bad_payload", "body")


# --- refunds ---------------------------------------------------------------------------------


def test_line_item_refund_sample() -> None:
    body = (SAMPLES / "shopify_refunds_create_line_item_refund.json").read_bytes()
    [fact] = shopify.parse(body, {"x-shopify-topic": "refunds/create"})
    assert (fact.order_id, fact.action, fact.status) == ("450789469", "refund", None)
    assert fact.refund_key == "929361464"
    # The sample's refunded line has subtotal 0.00 and tax 0.00 (a restock-only refund line);
    # the 41.94 transaction is not line-item goods.
    assert fact.refund_amount == D("0.00")
    assert fact.currency == "USD"
    assert fact.cumulative_refund is None
    assert fact.occurred_at == datetime(2023, 10, 3, 17, 21, 33, tzinfo=UTC)
    assert fact.note == "refunds/create 0.00 USD: 1 line item(s)"


def test_line_item_refund_counts_subtotal_plus_tax() -> None:
    data = copy.deepcopy(LINE_REFUND)
    line = data["refund_line_items"][0]
    line["subtotal_set"]["shop_money"]["amount"] = "199.00"
    line["total_tax_set"]["shop_money"]["amount"] = "3.98"
    extra = copy.deepcopy(line)
    extra["subtotal_set"]["shop_money"]["amount"] = "10.50"
    extra["total_tax_set"]["shop_money"]["amount"] = "0.63"
    data["refund_line_items"].append(extra)
    fact = parse_one(data, "refunds/create")
    assert fact.refund_amount == D("214.11")
    assert fact.note == "refunds/create 214.11 USD: 2 line item(s)"


def test_line_item_refund_from_plain_float_fields() -> None:
    # Older payloads have only `subtotal`/`total_tax`, serialized by Shopify as JSON floats.
    data = copy.deepcopy(LINE_REFUND)
    line = data["refund_line_items"][0]
    del line["subtotal_set"], line["total_tax_set"]
    body = encode(data).replace(b'"subtotal": 0.0', b'"subtotal": 39.56')
    body = body.replace(b'"total_tax": 0.0', b'"total_tax": 2.38')
    [fact] = shopify.parse(body, {"x-shopify-topic": "refunds/create"})
    assert fact.refund_amount == D("41.94")
    assert fact.currency == "USD"  # from the transaction, as no money set is left


def test_shipping_only_refund_counts_zero() -> None:
    body = (SAMPLES / "shopify_refunds_create_shipping_only_refund.json").read_bytes()
    [fact] = shopify.parse(body, {"x-shopify-topic": "refunds/create"})
    assert (fact.order_id, fact.action, fact.refund_key) == ("450789469", "refund", "929361465")
    assert fact.refund_amount == D("0")
    assert "shipping only" in fact.note


def test_amount_only_refund_counts_zero() -> None:
    data = copy.deepcopy(SHIPPING_REFUND)
    data["order_adjustments"] = []
    fact = parse_one(data, "refunds/create")
    assert fact.refund_amount == D("0.00")
    assert "no line items" in fact.note


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"order_id": None}, "order_id"),
        ({"id": None}, "id"),
        ({"refund_line_items": "x"}, "refund_line_items"),
        (
            {"transactions": [{"currency": "ABC"}], "order_adjustments": []},
            "transactions.0.currency",
        ),
    ],
)
def test_malformed_refunds_are_refused(changes: dict[str, Any], field: str) -> None:
    data = copy.deepcopy(SHIPPING_REFUND)
    data.update(changes)
    with pytest.raises(Rejected) as refused:
        parse_one(data, "refunds/create")
    assert (refused.value.reason, refused.value.field) == ("bad_payload", field)


# --- robustness ------------------------------------------------------------------------------

JSON_VALUES = json_values(["403.00", "-1", "USD", "usd", "fulfilled", CLICK, f"/?alclid={CLICK}"])
TOPICS = st.sampled_from(
    ["orders/create", "orders/updated", "orders/fulfilled", "orders/delete", "refunds/create"]
)


def only_facts_or_refusals(body: bytes, topic: str) -> None:
    try:
        facts = shopify.parse(body, {"x-shopify-topic": topic})
    except Rejected as refused:
        assert refused.reason == "bad_payload"
        return
    for fact in facts:
        assert isinstance(fact, OrderFact)
        assert fact.amount is None or fact.currency is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES, TOPICS)
def test_random_json_never_escapes_as_another_error(value: Any, topic: str) -> None:
    only_facts_or_refusals(json.dumps(value).encode(), topic)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_never_escape_as_another_error(data: st.DataObject) -> None:
    original, topic = data.draw(
        st.sampled_from(
            [
                (ORDER, "orders/updated"),
                (LINE_REFUND, "refunds/create"),
                (SHIPPING_REFUND, "refunds/create"),
            ]
        )
    )
    path = data.draw(st.sampled_from(paths(original)))
    mutated = replaced(original, path, data.draw(JSON_VALUES))
    only_facts_or_refusals(json.dumps(mutated).encode(), topic)
