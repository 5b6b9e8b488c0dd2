"""WooCommerce webhooks against the REST API v3 documentation's orders, signed like WC_Webhook."""

from __future__ import annotations

import base64
import copy
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
from alliance.conversions.webhooks import woocommerce
from alliance.conversions.webhooks.common import OrderFact, SignatureError
from tests.conversions.webhooks.mutations import json_values, paths, replaced
from tests.fixtures import PLATFORM_SAMPLES

SAMPLES = PLATFORM_SAMPLES
CLICK = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R1T"
D = Decimal


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


CREATED = sample("woocommerce_order_created_v3.json")
UPDATED = sample("woocommerce_order_updated_v3.json")
REFUND = sample("woocommerce_order_refund_v3.json")


def wp_json_encode(data: Any) -> bytes:
    """What WooCommerce sends: `trim(wp_json_encode($payload))`, compact, `/` escaped."""
    return json.dumps(data, separators=(",", ":")).replace("/", "\\/").encode()


def sign(body: bytes, key: str) -> str:
    """WC_Webhook::generate_signature with the key as PHP has it after wp_specialchars_decode:
    base64_encode(hash_hmac('sha256', $payload, $key, true))."""
    return base64.b64encode(hmac.new(key.encode(), body, sha256).digest()).decode()


def headers(topic: str = "order.updated", **extra: str) -> dict[str, str]:
    resource, _, event = topic.partition(".")
    return {
        "content-type": "application/json",
        "x-wc-webhook-topic": topic,
        "x-wc-webhook-resource": resource,
        "x-wc-webhook-event": event,
        **extra,
    }


def parse_one(data: dict[str, Any], topic: str = "order.updated") -> OrderFact:
    facts = woocommerce.parse(wp_json_encode(data), headers(topic))
    assert len(facts) == 1
    return facts[0]


def order(**changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(CREATED)
    data.update(changes)
    return data


# --- signature -------------------------------------------------------------------------------


def test_good_signature() -> None:
    body = wp_json_encode(CREATED)
    woocommerce.verify(
        body, headers(**{"x-wc-webhook-signature": sign(body, "ck_s3cret")}), ["ck_s3cret"]
    )


def test_the_raw_sample_bytes_verify() -> None:
    body = (SAMPLES / "woocommerce_order_created_v3.json").read_bytes()
    woocommerce.verify(body, {"x-wc-webhook-signature": sign(body, "k")}, ["k"])


def test_wrong_secret_and_tampered_body() -> None:
    body = wp_json_encode(CREATED)
    good = sign(body, "ck_s3cret")
    for test_body, signature in (
        (body, sign(body, "wrong")),
        (body.replace(b"29.35", b"2.35"), good),
    ):
        with pytest.raises(SignatureError) as refused:
            woocommerce.verify(test_body, {"x-wc-webhook-signature": signature}, ["ck_s3cret"])
        assert refused.value.reason == "bad_signature"


def test_missing_signature() -> None:
    with pytest.raises(SignatureError) as refused:
        woocommerce.verify(wp_json_encode(CREATED), headers(), ["ck_s3cret"])
    assert refused.value.reason == "missing_signature"


def test_second_secret_of_a_rotation() -> None:
    body = wp_json_encode(CREATED)
    woocommerce.verify(body, {"x-wc-webhook-signature": sign(body, "new")}, ["old", "new"])


@pytest.mark.parametrize(
    ("stored", "php_key"),
    [
        # The admin typed p&ss'word<>"; WordPress keeps it escaped and decodes it to sign.
        ("p&amp;ss&#039;word&lt;&gt;&quot;", "p&ss'word<>\""),
        ("p&amp;ss&#39;word", "p&ss'word"),
        ("a&#x27;b&#0038;c", "a'b&c"),
        # Pasted unescaped into Alliance: used as it is.
        ("p&ss'word", "p&ss'word"),
        # One strtr() pass: a double-escaped entity comes out single-escaped.
        ("x&amp;lt;y", "x&lt;y"),
    ],
)
def test_secret_with_html_entities(stored: str, php_key: str) -> None:
    body = wp_json_encode(CREATED)
    woocommerce.verify(body, {"x-wc-webhook-signature": sign(body, php_key)}, [stored])


def test_an_escaped_secret_is_also_tried_as_given() -> None:
    # The advertiser's real secret is literally "a&amp;b" (WordPress stores a&amp;amp;b).
    body = wp_json_encode(CREATED)
    woocommerce.verify(body, {"x-wc-webhook-signature": sign(body, "a&amp;b")}, ["a&amp;b"])


@pytest.mark.parametrize(
    ("text", "decoded"),
    [
        ("plain", "plain"),
        ("&amp; &lt; &gt; &quot; &#039; &#39;", "& < > \" ' '"),
        ("&#0000039;&#x0027;&#X27;&#034;&#x22;&#060;&#62;&#38;&#x26;", "'''\"\"<>&&"),
        ("&nbsp;&eacute;&#65;", "&nbsp;&eacute;&#65;"),  # only the special characters
        ("&amp;amp;", "&amp;"),
        ("&", "&"),
    ],
)
def test_wp_specialchars_decode(text: str, decoded: str) -> None:
    assert woocommerce.wp_specialchars_decode(text) == decoded


# --- ping and dedup --------------------------------------------------------------------------


def test_ping_is_recognised() -> None:
    form = {"content-type": "application/x-www-form-urlencoded"}
    assert woocommerce.is_ping(b"webhook_id=17", form)
    charset = {"content-type": "application/x-www-form-urlencoded; charset=UTF-8"}
    assert woocommerce.is_ping(b"webhook_id=17", charset)


@pytest.mark.parametrize(
    ("body", "head"),
    [
        (b"webhook_id=17", {"content-type": "application/json"}),
        (b"webhook_id=17", {}),
        (
            b"webhook_id=17",
            {"content-type": "application/x-www-form-urlencoded", "x-wc-webhook-signature": "abc"},
        ),
        (b"webhook_id=abc", {"content-type": "application/x-www-form-urlencoded"}),
        (b"webhook_id=17&x=1", {"content-type": "application/x-www-form-urlencoded"}),
        (b'{"webhook_id": 17}', {"content-type": "application/x-www-form-urlencoded"}),
        (b"", {"content-type": "application/x-www-form-urlencoded"}),
    ],
)
def test_not_a_ping(body: bytes, head: dict[str, str]) -> None:
    assert not woocommerce.is_ping(body, head)


def test_dedup_key_is_the_orders_state() -> None:
    assert woocommerce.dedup_key(wp_json_encode(CREATED), headers()) == (
        "order:727:processing:2017-03-22T19:28:08"
    )
    assert woocommerce.dedup_key(wp_json_encode(UPDATED), headers()) == (
        "order:727:completed:2017-03-22T19:30:35"
    )
    assert woocommerce.dedup_key(wp_json_encode(CREATED), {}) == (
        "order:727:processing:2017-03-22T19:28:08"
    )


def test_dedup_key_of_a_delete_and_of_garbage() -> None:
    assert woocommerce.dedup_key(b'{"id":727}', headers("order.deleted")) == "order:727:deleted:"
    for body in (b"", b"[]", b'{"id": null}', b'{"id": true}', b"webhook_id=3"):
        assert woocommerce.dedup_key(body, headers()) is None


# --- orders ----------------------------------------------------------------------------------


def test_created_sample() -> None:
    body = (SAMPLES / "woocommerce_order_created_v3.json").read_bytes()
    [fact] = woocommerce.parse(body, headers("order.created"))
    assert (fact.order_id, fact.action, fact.status) == ("727", "upsert", "pending")
    assert (fact.currency, fact.amount, fact.tax, fact.shipping) == (
        "USD",
        D("29.35"),
        D("1.35"),
        D("10.00"),
    )
    assert fact.customer_id is None  # customer_id 0: a guest
    assert fact.buyer_country == "US"
    assert fact.occurred_at == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert fact.items == ((None, None, D("6.00"), 2), ("Bar3", None, D("12.00"), 1))
    assert (fact.coupons, fact.click_id, fact.cumulative_refund) == ((), None, None)
    assert fact.note == "order.created: processing"


def test_updated_sample_is_completed() -> None:
    body = (SAMPLES / "woocommerce_order_updated_v3.json").read_bytes()
    [fact] = woocommerce.parse(body, headers("order.updated"))
    assert (fact.order_id, fact.status, fact.amount) == ("727", "completed", D("29.35"))


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("pending", "pending"),
        ("on-hold", "pending"),
        ("processing", "pending"),
        ("completed", "completed"),
        ("cancelled", "declined"),
        ("failed", "declined"),
        ("trash", "declined"),
        ("refunded", "completed"),
        ("Completed", "completed"),
    ],
)
def test_status_map(status: str, expected: str) -> None:
    assert parse_one(order(status=status)).status == expected


def test_unknown_status_is_pending_and_said_so() -> None:
    fact = parse_one(order(status="shipped"))
    assert fact.status == "pending"
    assert "unknown status 'shipped'" in fact.note


def test_restored_order_is_read_like_an_update() -> None:
    assert parse_one(order(status="processing"), "order.restored").status == "pending"


def test_deleted_order_is_declined_from_its_id_alone() -> None:
    [fact] = woocommerce.parse(b'{"id":727}', headers("order.deleted"))
    assert (fact.order_id, fact.action, fact.status, fact.amount) == (
        "727",
        "upsert",
        "declined",
        None,
    )
    assert fact.note == "order.deleted"
    assert parse_one(order(status="completed"), "order.deleted").status == "declined"


def test_fully_refunded_order_states_the_total_as_refunded() -> None:
    refund = {"id": 726, "reason": "", "total": "-29.35"}
    fact = parse_one(order(status="refunded", refunds=[refund]))
    assert (fact.status, fact.cumulative_refund, fact.amount) == (
        "completed",
        D("29.35"),
        D("29.35"),
    )
    assert parse_one(order(status="refunded")).cumulative_refund == D("29.35")


def test_partial_refunds_add_up() -> None:
    # The refund object of the API docs (amount 10.00) as it appears inside the order.
    refunds = [
        {"id": REFUND["id"], "reason": REFUND["reason"], "total": "-" + REFUND["amount"]},
        {"id": 730, "reason": "scratch", "total": "-2.50"},
    ]
    fact = parse_one(order(status="completed", refunds=refunds))
    assert (fact.status, fact.cumulative_refund) == ("completed", D("12.50"))


@pytest.mark.parametrize("key", ["alclid", "_alclid", "click_id", "_alliance_click_id"])
def test_click_id_in_meta_data(key: str) -> None:
    meta = [
        {"id": 13106, "key": "_download_permissions_granted", "value": "yes"},
        {"id": 13107, "key": key, "value": CLICK},
    ]
    assert parse_one(order(meta_data=meta)).click_id == CLICK


def test_click_id_in_a_landing_url_meta_value() -> None:
    meta = [{"id": 1, "key": "_alclid", "value": f"https://shop.example/?alclid={CLICK}"}]
    assert parse_one(order(meta_data=meta)).click_id == CLICK


def test_other_meta_keys_and_values_are_not_click_ids() -> None:
    meta = [
        {"id": 1, "key": "_some_plugin", "value": CLICK},
        {"id": 2, "key": "alclid", "value": ["not", "text"]},
        {"id": 3, "key": None, "value": CLICK},
    ]
    assert parse_one(order(meta_data=meta)).click_id is None


def test_coupons_and_customer() -> None:
    coupons = [
        {"id": 321, "code": "summer10", "discount": "1.00", "discount_tax": "0.00"},
        {"id": 322, "code": "VIP", "discount": "2.00", "discount_tax": "0.00"},
    ]
    fact = parse_one(order(coupon_lines=coupons, customer_id=42))
    assert fact.coupons == ("summer10", "VIP")
    assert fact.customer_id == "42"


def test_country_falls_back_to_shipping() -> None:
    data = order()
    data["billing"]["country"] = ""
    data["shipping"]["country"] = "de"
    assert parse_one(data).buyer_country == "DE"


def test_more_decimals_than_the_currency_are_rounded() -> None:
    # A store set to 3 price decimals sends them; that is a setting, not a broken sender.
    fact = parse_one(order(total="29.345", total_tax="1.355", shipping_total="10.000"))
    assert (fact.amount, fact.tax, fact.shipping) == (D("29.34"), D("1.36"), D("10.00"))


def test_topics_not_about_orders_give_nothing() -> None:
    assert woocommerce.parse(b"{}", headers("product.updated")) == []
    assert woocommerce.parse(b"garbage", headers("coupon.created")) == []


def test_legacy_api_payload_is_refused_with_advice() -> None:
    with pytest.raises(Rejected) as refused:
        woocommerce.parse(b'{"order": {"id": 727, "status": "completed"}}', headers())
    assert refused.value.reason == "bad_payload"
    assert "v3" in refused.value.detail


def test_missing_topic_is_refused() -> None:
    with pytest.raises(Rejected) as refused:
        woocommerce.parse(wp_json_encode(CREATED), {})
    assert refused.value.field == "x-wc-webhook-topic"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"id": False}, "id"),
        ({"status": None}, "status"),
        ({"total": "29,35"}, "total"),
        ({"total": "-29.35"}, "total"),
        ({"total_tax": {"a": 1}}, "total_tax"),
        ({"currency": "EURO"}, "currency"),
        ({"currency": ""}, "total"),
        ({"customer_id": -3}, "customer_id"),
        ({"refunds": [{"total": "ten"}]}, "refunds.0.total"),
        ({"line_items": [{"quantity": "2", "total": "6.00"}]}, "line_items.0.quantity"),
        ({"line_items": [{"quantity": 2, "total": "six"}]}, "line_items.0.total"),
        ({"date_created_gmt": "22/03/2017"}, "date_created_gmt"),
        ({"billing": []}, "billing"),
    ],
)
def test_malformed_orders_are_refused_with_a_path(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_one(order(**changes))
    assert (refused.value.reason, refused.value.field) == ("bad_payload", field)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    for body in (b"[]", b"webhook_id=3", b"\xff"):
        with pytest.raises(Rejected) as refused:
            woocommerce.parse(body, headers())
        assert (refused.value.reason, refused.value.field) == ("bad_payload", "body")


# --- robustness ------------------------------------------------------------------------------

JSON_VALUES = json_values(["29.35", "-10.00", "USD", "refunded", "alclid", CLICK])
TOPICS = st.sampled_from(["order.created", "order.updated", "order.deleted", "order.restored"])


def only_facts_or_refusals(body: bytes, topic: str) -> None:
    woocommerce.dedup_key(body, headers(topic))  # never raises
    try:
        facts = woocommerce.parse(body, headers(topic))
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
    with_extras = order(
        refunds=[{"id": 726, "reason": "", "total": "-10.00"}],
        coupon_lines=[{"id": 1, "code": "VIP"}],
        meta_data=[{"id": 1, "key": "alclid", "value": CLICK}],
    )
    path = data.draw(st.sampled_from(paths(with_extras)))
    mutated = replaced(with_extras, path, data.draw(JSON_VALUES))
    only_facts_or_refusals(json.dumps(mutated).encode(), data.draw(TOPICS))
