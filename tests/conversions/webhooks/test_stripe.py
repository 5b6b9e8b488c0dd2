"""Stripe webhooks against dj-stripe's and Stripe's fixtures, signed like stripe-python does."""

from __future__ import annotations

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
from alliance.conversions.webhooks import stripe
from alliance.conversions.webhooks.common import OrderFact, SignatureError
from tests.conversions.webhooks.mutations import json_values, paths, replaced
from tests.fixtures import PLATFORM_SAMPLES

SAMPLES = PLATFORM_SAMPLES
SECRET = "whsec_test_secret"  # stripe-python's DUMMY_WEBHOOK_SECRET
CLICK = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R1T"
NOW = datetime(2024, 5, 31, 12, 0, tzinfo=UTC)
D = Decimal


def sample(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((SAMPLES / name).read_text())
    return data


SESSION_EVENT = sample("stripe_event_checkout_session_completed_djstripe.json")
REFUNDED_EVENT = sample("stripe_event_charge_refunded_ASSEMBLED.json")
OFFICIAL_SESSION = sample("stripe_fixture_checkout_session_object_official.json")
OFFICIAL_ENVELOPE = sample("stripe_fixture_event_envelope_official.json")
OFFICIAL_REFUND = sample("stripe_fixture_refund_object_official.json")


def signature(body: bytes, secret: str, timestamp: int) -> str:
    """stripe-python's scheme: hex HMAC-SHA256(secret, "%d.%s" % (timestamp, payload))."""
    payload = f"{timestamp}.{body.decode()}"
    return hmac.new(secret.encode(), payload.encode(), sha256).hexdigest()


def stripe_header(body: bytes, secret: str = SECRET, timestamp: int | None = None) -> str:
    """Like stripe-python's test helper generate_header: `t=<ts>,v1=<signature>`."""
    t = int(NOW.timestamp()) if timestamp is None else timestamp
    return f"t={t},v1={signature(body, secret, t)}"


def encode(data: dict[str, Any]) -> bytes:
    return json.dumps(data, indent=2).encode()


def parse_one(event: dict[str, Any]) -> OrderFact:
    facts = stripe.parse(encode(event), {})
    assert len(facts) == 1
    return facts[0]


def session_event(event_type: str = "checkout.session.completed", **changes: Any) -> dict[str, Any]:
    """The dj-stripe session event, paid as real deliveries are, with `changes` on the session."""
    event = copy.deepcopy(SESSION_EVENT)
    event["type"] = event_type
    event["data"]["object"].update(status="complete", payment_status="paid")
    event["data"]["object"].update(changes)
    return event


def refunded_event(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(REFUNDED_EVENT)
    event["data"]["object"].update(changes)
    return event


# --- signature -------------------------------------------------------------------------------


def test_good_signature() -> None:
    body = (SAMPLES / "stripe_event_checkout_session_completed_djstripe.json").read_bytes()
    stripe.verify(body, {"stripe-signature": stripe_header(body)}, [SECRET], now=NOW)


def test_wrong_secret() -> None:
    body = encode(SESSION_EVENT)
    with pytest.raises(SignatureError) as refused:
        stripe.verify(
            body, {"stripe-signature": stripe_header(body, "whsec_other")}, [SECRET], now=NOW
        )
    assert refused.value.reason == "bad_signature"


def test_tampered_body() -> None:
    body = encode(SESSION_EVENT)
    head = {"stripe-signature": stripe_header(body)}
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body.replace(b"1500", b"15000", 1), head, [SECRET], now=NOW)
    assert refused.value.reason == "bad_signature"


def test_tampered_timestamp() -> None:
    body = encode(SESSION_EVENT)
    t = int(NOW.timestamp())
    head = {"stripe-signature": f"t={t + 1},v1={signature(body, SECRET, t)}"}
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, head, [SECRET], now=NOW)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("head", [{}, {"stripe-signature": ""}, {"stripe-signature": "  "}])
def test_missing_signature(head: dict[str, str]) -> None:
    with pytest.raises(SignatureError) as refused:
        stripe.verify(b"{}", head, [SECRET], now=NOW)
    assert refused.value.reason == "missing_signature"


def test_second_secret_of_a_rotation() -> None:
    body = encode(SESSION_EVENT)
    head = {"stripe-signature": stripe_header(body, "whsec_new")}
    stripe.verify(body, head, ["whsec_old", "whsec_new"], now=NOW)


def test_any_of_several_v1_values() -> None:
    # While a secret is being rolled Stripe signs with both and sends two v1 values.
    body = encode(SESSION_EVENT)
    t = int(NOW.timestamp())
    old, new = signature(body, "whsec_old", t), signature(body, "whsec_new", t)
    head = {"stripe-signature": f"t={t},v1={old},v1={new},v0=6ffbb59b2300aae63f272406069a9788"}
    stripe.verify(body, head, ["whsec_new"], now=NOW)
    stripe.verify(body, head, ["whsec_old"], now=NOW)
    with pytest.raises(SignatureError):
        stripe.verify(body, head, ["whsec_third"], now=NOW)


def test_v0_does_not_count() -> None:
    body = encode(SESSION_EVENT)
    t = int(NOW.timestamp())
    head = {"stripe-signature": f"t={t},v0={signature(body, SECRET, t)}"}
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, head, [SECRET], now=NOW)
    assert refused.value.reason == "bad_signature"


@pytest.mark.parametrize("offset", [-300, -1, 0, 1, 300])
def test_within_tolerance(offset: int) -> None:
    body = encode(SESSION_EVENT)
    head = {"stripe-signature": stripe_header(body, timestamp=int(NOW.timestamp()) + offset)}
    stripe.verify(body, head, [SECRET], now=NOW)


@pytest.mark.parametrize("offset", [-301, -86_400, 301, 86_400])
def test_stale_and_future_timestamps(offset: int) -> None:
    body = encode(SESSION_EVENT)
    head = {"stripe-signature": stripe_header(body, timestamp=int(NOW.timestamp()) + offset)}
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, head, [SECRET], now=NOW)
    assert refused.value.reason == "stale_signature"
    assert ("future" in refused.value.detail) == (offset > 0)


def test_a_forged_old_header_is_bad_not_stale() -> None:
    body = encode(SESSION_EVENT)
    head = {"stripe-signature": stripe_header(body, "whsec_x", int(NOW.timestamp()) - 10_000)}
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, head, [SECRET], now=NOW)
    assert refused.value.reason == "bad_signature"


def test_default_now_is_the_clock() -> None:
    body = encode(SESSION_EVENT)
    fresh = int(datetime.now(UTC).timestamp())
    stripe.verify(body, {"stripe-signature": stripe_header(body, timestamp=fresh)}, [SECRET])
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, {"stripe-signature": stripe_header(body)}, [SECRET])  # NOW, 2024
    assert refused.value.reason == "stale_signature"


def test_naive_now_is_utc() -> None:
    body = encode(SESSION_EVENT)
    stripe.verify(
        body, {"stripe-signature": stripe_header(body)}, [SECRET], now=NOW.replace(tzinfo=None)
    )


@pytest.mark.parametrize(
    "value",
    [
        "garbage",
        "t=,v1=abc",
        "t=abc,v1=abc",
        "t=-5,v1=abc",
        "v1=abc",  # no timestamp
        "t=1717156800",  # no v1
        "t=1717156800,t=1717156801,v1=abc",  # two timestamps
        "t=1717156800,v1=zz\u00e9",
        "t=99999999999999999999,v1=abc",
    ],
)
def test_malformed_headers(value: str) -> None:
    with pytest.raises(SignatureError) as refused:
        stripe.verify(b"{}", {"stripe-signature": value}, [SECRET], now=NOW)
    assert refused.value.reason == "bad_signature"


def test_no_configured_secret() -> None:
    body = encode(SESSION_EVENT)
    with pytest.raises(SignatureError) as refused:
        stripe.verify(body, {"stripe-signature": stripe_header(body)}, ["", ""], now=NOW)
    assert refused.value.reason == "bad_signature"


def test_dedup_key_is_the_event_id() -> None:
    assert stripe.dedup_key(encode(SESSION_EVENT), {}) == "evt_1JAyTxJSZQVUcJYgNk1Jqu8o"
    assert stripe.dedup_key(encode(REFUNDED_EVENT), {}) == "evt_16YKQi2eZvKYlo2CT2oe5ff3"
    for body in (b"", b"[]", b'{"id": 5.5}', b'{"object": "event"}'):
        assert stripe.dedup_key(body, {}) is None


# --- checkout sessions -----------------------------------------------------------------------


def test_the_unpaid_sample_is_ignored() -> None:
    # dj-stripe's fixture still says payment_status "unpaid": no money yet, no order yet.
    body = (SAMPLES / "stripe_event_checkout_session_completed_djstripe.json").read_bytes()
    [fact] = stripe.parse(body, {})
    assert (fact.action, fact.status, fact.order_id) == (
        "ignore",
        None,
        "pi_fakefakefakefakefake0001",
    )
    assert fact.note.startswith("ignored: unpaid checkout session")


def test_paid_session_is_a_completed_order() -> None:
    fact = parse_one(session_event(customer_details={"address": {"country": "fr"}}))
    assert (fact.action, fact.status) == ("upsert", "completed")
    assert fact.order_id == "pi_fakefakefakefakefake0001"  # the PaymentIntent, as refunds name it
    assert (fact.currency, fact.amount, fact.tax, fact.shipping) == (
        "USD",
        D("15.00"),
        D("0.00"),
        D("0.00"),
    )
    assert fact.customer_id == "cus_6lsBvm5rJ0zyHc"
    assert fact.buyer_country == "FR"
    assert fact.occurred_at == datetime(2015, 8, 10, 17, 51, 24, tzinfo=UTC)  # event.created
    assert fact.items == ()
    assert fact.note == "checkout.session.completed 15.00 USD (test mode)"


def test_live_mode_note() -> None:
    event = session_event()
    event["livemode"] = True
    assert parse_one(event).note == "checkout.session.completed 15.00 USD"


def test_session_without_payment_intent_is_keyed_by_its_id() -> None:
    fact = parse_one(session_event(payment_intent=None, mode="subscription"))
    assert fact.order_id == "cs_test_OAgNmy75Td25OeREvKUs8XZ7SjMPO9qAplqHO1sBaEjOg9fYbaeMh2nA"


def test_expanded_payment_intent_and_customer() -> None:
    fact = parse_one(
        session_event(
            payment_intent={"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent"},
            customer={"id": "cus_NffrFeUfNV2Hib", "object": "customer"},
        )
    )
    assert (fact.order_id, fact.customer_id) == (
        "pi_3MtwBwLkdIwHu7ix28a3tqPa",
        "cus_NffrFeUfNV2Hib",
    )


def test_no_payment_required_is_ignored() -> None:
    fact = parse_one(session_event(payment_status="no_payment_required", mode="setup"))
    assert (fact.action, fact.note) == (
        "ignore",
        "ignored: checkout session needs no payment (test mode)",
    )


@pytest.mark.parametrize(
    ("event_type", "status"),
    [
        ("checkout.session.async_payment_succeeded", "completed"),
        ("checkout.session.async_payment_failed", "declined"),
        ("checkout.session.expired", "declined"),
    ],
)
def test_async_outcomes_and_expiry(event_type: str, status: str) -> None:
    event = session_event(event_type, payment_status="unpaid" if status == "declined" else "paid")
    fact = parse_one(event)
    assert (fact.action, fact.status, fact.order_id) == (
        "upsert",
        status,
        "pi_fakefakefakefakefake0001",
    )
    assert fact.note.startswith(event_type)


def test_tax_and_shipping() -> None:
    details = {"amount_discount": 500, "amount_shipping": 490, "amount_tax": 210}
    fact = parse_one(session_event(amount_total=4200, total_details=details))
    assert (fact.amount, fact.tax, fact.shipping) == (D("42.00"), D("2.10"), D("4.90"))


def test_shipping_from_shipping_cost() -> None:
    # Stripe's own fixture: amount_shipping is null, the shipping cost is on shipping_cost.
    event = session_event()
    session = copy.deepcopy(OFFICIAL_SESSION)
    session.update(currency="usd", amount_total=2_000_000_000, payment_status="paid")
    event["data"]["object"] = session
    fact = parse_one(event)
    assert fact.order_id == "pi_1PgafyB7WZ01zgkWSjxsAJo3"
    assert (fact.amount, fact.tax, fact.shipping) == (
        D("20000000.00"),
        D("14245347.16"),
        D("11171216.93"),
    )


@pytest.mark.parametrize(
    ("currency", "minor", "major"),
    [
        ("jpy", 1500, D("1500")),
        ("krw", 25000, D("25000")),
        ("kwd", 12340, D("12.340")),
        ("bhd", 5, D("0.005")),
        ("usd", 1, D("0.01")),
        ("eur", 1999, D("19.99")),
        ("isk", 50000, D("500")),  # two-decimal at Stripe, zero-decimal in ISO 4217
        ("mga", 5000, D("5000.00")),  # zero-decimal at Stripe, two-decimal in ISO 4217
    ],
)
def test_minor_units_per_currency(currency: str, minor: int, major: Decimal) -> None:
    details = {"amount_discount": 0, "amount_shipping": 0, "amount_tax": minor}
    fact = parse_one(session_event(currency=currency, amount_total=minor, total_details=details))
    assert fact.currency == currency.upper()
    assert fact.amount == major
    assert str(fact.amount) == str(major)
    assert fact.tax == major


def test_click_id_from_client_reference_id() -> None:
    assert parse_one(session_event(client_reference_id=CLICK)).click_id == CLICK


@pytest.mark.parametrize("key", ["alclid", "click_id"])
def test_click_id_from_metadata(key: str) -> None:
    fact = parse_one(session_event(client_reference_id="user-1234", metadata={key: CLICK}))
    assert fact.click_id == CLICK


def test_client_reference_id_that_is_not_a_click() -> None:
    assert parse_one(session_event(client_reference_id="user-1234")).click_id is None


def test_coupon_from_metadata() -> None:
    fact = parse_one(session_event(metadata={"coupon": " SPRING10 "}))
    assert fact.coupons == ("SPRING10",)
    assert parse_one(session_event(metadata={"coupon": 10})).coupons == ()


def test_session_time_when_the_event_has_none() -> None:
    event = session_event(created=1717156800)
    del event["created"]
    assert parse_one(event).occurred_at == datetime(2024, 5, 31, 12, 0, tzinfo=UTC)


# --- refunds ---------------------------------------------------------------------------------


def test_charge_refunded_sample() -> None:
    body = (SAMPLES / "stripe_event_charge_refunded_ASSEMBLED.json").read_bytes()
    [fact] = stripe.parse(body, {})
    assert (fact.action, fact.status) == ("refund", None)
    assert fact.order_id == "pi_fakefakefakefakefake0001"
    assert fact.refund_key == "evt_16YKQi2eZvKYlo2CT2oe5ff3"
    assert (fact.cumulative_refund, fact.refund_amount) == (D("20.00"), None)
    assert (fact.currency, fact.amount) == ("USD", D("20.00"))
    assert fact.customer_id == "cus_6lsBvm5rJ0zyHc"
    assert fact.note == "charge.refunded 20.00 of 20.00 USD (test mode)"


def test_partial_refund_in_jpy_and_kwd() -> None:
    fact = parse_one(refunded_event(currency="jpy", amount=5000, amount_refunded=1200))
    assert (fact.amount, fact.cumulative_refund) == (D("5000"), D("1200"))
    assert fact.note.startswith("charge.refunded 1200 of 5000 JPY")
    fact = parse_one(refunded_event(currency="kwd", amount=25_000, amount_refunded=7_130))
    assert (fact.amount, fact.cumulative_refund) == (D("25.000"), D("7.130"))


def test_charge_without_payment_intent_is_keyed_by_its_id() -> None:
    fact = parse_one(refunded_event(payment_intent=None))
    assert fact.order_id == "ch_fakefakefakefakefake0001"


def test_click_id_and_country_on_a_charge() -> None:
    event = refunded_event(metadata={"alclid": CLICK})
    event["data"]["object"]["billing_details"]["address"]["country"] = "SE"
    fact = parse_one(event)
    assert (fact.click_id, fact.buyer_country) == (CLICK, "SE")


@pytest.mark.parametrize(
    "event_type", ["charge.refund.updated", "charge.succeeded", "plan.created"]
)
def test_other_types_are_ignored(event_type: str) -> None:
    event = copy.deepcopy(REFUNDED_EVENT)
    event["type"] = event_type
    fact = parse_one(event)
    assert (fact.action, fact.order_id, fact.note) == (
        "ignore",
        "pi_fakefakefakefakefake0001",
        f"ignored: {event_type} (test mode)",
    )


def test_official_envelope_and_refund_fixtures_are_ignored() -> None:
    [fact] = stripe.parse(encode(OFFICIAL_ENVELOPE), {})
    assert (fact.action, fact.note) == ("ignore", "ignored: plan.created (test mode)")
    envelope = copy.deepcopy(OFFICIAL_ENVELOPE)
    envelope.update(type="charge.refund.updated", data={"object": OFFICIAL_REFUND})
    [fact] = stripe.parse(encode(envelope), {})
    # The refund names no PaymentIntent (payment_intent: null): keyed by its own id.
    assert (fact.action, fact.order_id) == ("ignore", "re_1Pgc72B7WZ01zgkWqPvrRrPE")


def test_payment_intent_event_is_keyed_by_the_intent() -> None:
    envelope = copy.deepcopy(OFFICIAL_ENVELOPE)
    intent = {"id": "pi_3MtwBwLkdIwHu7ix28a3tqPa", "object": "payment_intent", "amount": 2000}
    envelope.update(type="payment_intent.succeeded", data={"object": intent})
    assert parse_one(envelope).order_id == "pi_3MtwBwLkdIwHu7ix28a3tqPa"


# --- malformed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("event", "field"),
    [
        (session_event(amount_total="15.00"), "data.object.amount_total"),
        (session_event(amount_total=15.5), "data.object.amount_total"),
        (session_event(amount_total=True), "data.object.amount_total"),
        (session_event(amount_total=-100), "data.object.amount_total"),
        (session_event(amount_total=10**20), "data.object.amount_total"),
        (session_event(currency="xyz"), "data.object.currency"),
        (session_event(currency=None), "data.object.amount_total"),
        (session_event(id=None, payment_intent=None), "data.object.id"),
        (session_event(total_details=[]), "data.object.total_details"),
        (session_event(metadata="x"), "data.object.metadata"),
        (refunded_event(amount_refunded=None), "data.object.amount_refunded"),
        (refunded_event(amount_refunded="2000"), "data.object.amount_refunded"),
        (refunded_event(currency=None), "data.object.currency"),
    ],
)
def test_malformed_objects_are_refused_with_a_path(event: dict[str, Any], field: str) -> None:
    with pytest.raises(Rejected) as refused:
        parse_one(event)
    assert (refused.value.reason, refused.value.field) == ("bad_payload", field)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"id": None}, "id"),
        ({"type": None}, "type"),
        ({"type": ["x"]}, "type"),
        ({"data": None}, "data.object"),
        ({"data": {"object": None}}, "data.object"),
        ({"data": {"object": []}}, "data.object"),
        ({"data": "x"}, "data"),
        ({"created": "yesterday"}, "created"),
    ],
)
def test_malformed_envelopes_are_refused(changes: dict[str, Any], field: str) -> None:
    event = session_event()
    event.update(changes)
    with pytest.raises(Rejected) as refused:
        parse_one(event)
    assert (refused.value.reason, refused.value.field) == ("bad_payload", field)


def test_a_body_that_is_not_an_object_is_refused() -> None:
    for body in (b"[]", b"", b'"evt"'):
        with pytest.raises(Rejected) as refused:
            stripe.parse(body, {})
        assert (refused.value.reason, refused.value.field) == ("bad_payload", "body")


# --- robustness ------------------------------------------------------------------------------

JSON_VALUES = json_values(["usd", "jpy", "kwd", "paid", "charge.refunded", CLICK])


def only_facts_or_refusals(body: bytes) -> None:
    stripe.dedup_key(body, {})  # never raises
    try:
        facts = stripe.parse(body, {})
    except Rejected as refused:
        assert refused.reason == "bad_payload"
        return
    for fact in facts:
        assert isinstance(fact, OrderFact)
        assert fact.amount is None or fact.currency is not None


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSON_VALUES)
def test_random_json_never_escapes_as_another_error(value: Any) -> None:
    only_facts_or_refusals(json.dumps(value).encode())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mutated_samples_never_escape_as_another_error(data: st.DataObject) -> None:
    original = data.draw(
        st.sampled_from(
            [
                session_event(),
                session_event("checkout.session.expired", total_details={"amount_tax": 5}),
                REFUNDED_EVENT,
            ]
        )
    )
    path = data.draw(st.sampled_from(paths(original)))
    mutated = replaced(original, path, data.draw(JSON_VALUES))
    only_facts_or_refusals(json.dumps(mutated).encode())


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=120))
def test_random_signature_headers_only_raise_signature_errors(value: str) -> None:
    try:
        stripe.verify(b"{}", {"stripe-signature": value}, [SECRET], now=NOW)
    except SignatureError:
        pass
    else:  # pragma: no cover - a random header cannot carry a valid signature
        raise AssertionError("accepted a random header")
