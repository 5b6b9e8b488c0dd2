"""The pure parts: signatures, backoff, delivery verdicts, postback macros."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.notifications import macros, rules, signing
from alliance.notifications.models import DELIVERY_TRANSITIONS, DeliveryState

from .standard_webhooks import VerificationError, verify

NOW = datetime(2026, 5, 1, 12, tzinfo=UTC)


# --- signing ---------------------------------------------------------------------------------


def test_secrets_are_whsec_and_32_random_bytes() -> None:
    secret = signing.new_secret()
    assert secret.startswith("whsec_") and len(signing.secret_key(secret)) == 32
    assert secret != signing.new_secret()
    assert signing.secret_hint(secret) == secret[:10] + "…"


def test_the_spec_example_signature() -> None:
    """The test vector of the Standard Webhooks reference libraries."""
    secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    got = signing.signature(secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, body)
    assert got == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_signed_headers_verify_with_an_independent_implementation() -> None:
    old, new = signing.new_secret(), signing.new_secret()
    body = b'{"data":{"amount":"12.50"},"type":"conversion.created"}'
    now = int(time.time())
    headers = signing.signed_headers("msg_1", now, body, [new, old])
    assert headers["webhook-signature"].count("v1,") == 2
    verify(new, headers, body)  # the receiver knows only one of the two secrets
    verify(old, headers, body)
    with pytest.raises(VerificationError):
        verify(signing.new_secret(), headers, body)
    with pytest.raises(VerificationError):
        verify(new, headers, body + b" ")
    with pytest.raises(VerificationError):
        verify(new, {**headers, "webhook-id": "msg_2"}, body)
    stale = signing.signed_headers("msg_1", now - 3600, body, [new])
    with pytest.raises(VerificationError):
        verify(new, stale, body)


def test_the_key_is_the_decoded_secret_not_its_text() -> None:
    key = bytes(range(32))
    secret = "whsec_" + base64.b64encode(key).decode()
    assert signing.secret_key(secret) == key


# --- backoff and verdicts --------------------------------------------------------------------


@given(
    attempts=st.integers(min_value=1, max_value=200),
    draw=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_backoff_is_full_jitter_under_the_exponential_ceiling(attempts: int, draw: float) -> None:
    wait = rules.backoff_seconds(attempts, base=30, cap=21600, rng=lambda: draw)
    ceiling = min(21600, 30 * 2 ** min(attempts, 60))
    assert 0 <= wait <= ceiling
    assert wait == pytest.approx(ceiling * draw)


def test_backoff_ceilings_double_until_the_cap() -> None:
    ceilings = [rules.backoff_seconds(n, base=30, cap=600, rng=lambda: 1.0) for n in range(1, 7)]
    assert ceilings == [60, 120, 240, 480, 600, 600]


def test_jitter_spreads_retries() -> None:
    waits = {round(rules.backoff_seconds(5, base=30, cap=21600), 3) for _ in range(50)}
    assert len(waits) > 40


@pytest.mark.parametrize(
    ("delivered", "attempts", "state", "scheduled"),
    [
        (True, 1, DeliveryState.delivered, False),
        (True, 12, DeliveryState.delivered, False),
        (False, 1, DeliveryState.failed, True),
        (False, 11, DeliveryState.failed, True),
        (False, 12, DeliveryState.dead, False),
        (False, 13, DeliveryState.dead, False),  # a hand retry of a dead letter that fails
    ],
)
def test_after_attempt(
    delivered: bool, attempts: int, state: DeliveryState, scheduled: bool
) -> None:
    verdict = rules.after_attempt(
        delivered, attempts, NOW, max_attempts=12, base=30, cap=3600, rng=lambda: 0.5
    )
    assert verdict.state is state
    assert (verdict.next_attempt_at is not None) is scheduled
    if scheduled:
        assert verdict.next_attempt_at == NOW + timedelta(seconds=min(3600, 30 * 2**attempts) * 0.5)
    assert state in DELIVERY_TRANSITIONS[DeliveryState.pending] | {DeliveryState.pending}


@pytest.mark.parametrize(
    ("status", "delivered", "error"),
    [
        (200, True, None),
        (204, True, None),
        (299, True, None),
        (301, False, "HTTP 301: redirects are not followed"),
        (302, False, "HTTP 302: redirects are not followed"),
        (308, False, "HTTP 308: redirects are not followed"),
        (404, False, "HTTP 404"),
        (500, False, "HTTP 500"),
        (100, False, "HTTP 100"),
    ],
)
def test_only_2xx_delivers(status: int, delivered: bool, error: str | None) -> None:
    assert rules.is_delivered(status) is delivered
    assert rules.status_error(status) == error


# --- postback macros -------------------------------------------------------------------------


def test_macros_are_replaced_and_url_encoded() -> None:
    template = (
        "https://tracker.example/pb?cid={click_id}&s1={sub1}&oid={order_id}&sum={amount}"
        "&cur={currency}&pay={commission}&st={status}&x={sub5}"
    )
    data = {
        "id": "cnv_1",
        "click_id": "clk_01ABC",
        "order_id": "A&B=1 #2/é",
        "amount": "1250.00",
        "currency": "SEK",
        "status": "completed",
        "commission": {"value": "125.00", "currency": "SEK"},
        "sub_ids": {"sub1": "spring sale", "sub5": None},
    }
    url = macros.expand(template, macros.macro_values("conversion.completed", data))
    assert url == (
        "https://tracker.example/pb?cid=clk_01ABC&s1=spring%20sale&oid=A%26B%3D1%20%232%2F%C3%A9"
        "&sum=1250.00&cur=SEK&pay=125.00&st=completed&x="
    )


def test_every_macro_has_a_value_source() -> None:
    values = macros.macro_values("conversion.created", {})
    assert set(values) == set(macros.MACROS)


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("https://t.example/pb?x={nope}", "unknown macro {nope}"),
        ("https://t.example/pb?x={Order_Id}", "unknown macro"),
        ("https://{sub1}.t.example/pb", "not in the host"),
        ("https://t.example:{amount}/pb", "not in the host"),
        ("https://t.example/pb?x={order_id", "braces"),
        ("https://t.example/pb?x=}", "braces"),
    ],
)
def test_bad_templates(template: str, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("{", r"\{").replace("}", r"\}")):
        macros.check_template(template)


def test_a_good_template_gives_a_sample_url_to_check() -> None:
    sample = macros.check_template("https://t.example/pb/{event}?c={click_id}&a={amount}")
    assert sample == "https://t.example/pb/0?c=0&a=0"
