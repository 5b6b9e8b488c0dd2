"""The shared pieces of the webhook parsers: click id search, strict JSON readers, HMAC check."""

from __future__ import annotations

import base64
import dataclasses
import hmac
from datetime import UTC, datetime
from decimal import Decimal
from hashlib import sha256

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.conversions.postback import Rejected
from alliance.conversions.webhooks.common import (
    CLICK_ID,
    OrderFact,
    SignatureError,
    as_id,
    bounded_key,
    check_base64_hmac,
    clean_text,
    country,
    find_click_id,
    from_unix,
    get_currency,
    get_id,
    get_money,
    get_objects,
    load_object,
    to_instant,
    unique,
    usable_keys,
)
from alliance.ids import new_id

CLICK = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R1T"
OTHER_CLICK = "clk_01JD3Q8Z5X7W9V2K4M6N8P0R2V"


# --- find_click_id ---------------------------------------------------------------------------


def test_click_ids_minted_by_alliance_have_the_shape() -> None:
    for _ in range(50):
        assert CLICK_ID.fullmatch(new_id("clk"))


@pytest.mark.parametrize(
    "text",
    [
        CLICK,
        f"  {CLICK}\n",
        f"/?alclid={CLICK}",
        f"/products/ipod-nano?utm_source=partner&alclid={CLICK}&utm_medium=cpc",
        f"https://shop.example/landing?alclid={CLICK}",
        f"https://shop.example/landing#alclid={CLICK}",
        f"alclid={CLICK}",
        f"/?a=1&amp;alclid={CLICK}",  # HTML-escaped URL copied from a page
        f"/?alclid={CLICK.replace('_', '%5F')}",  # percent-encoded
        f"/?ALCLID={CLICK}",
    ],
)
def test_click_id_is_found(text: str) -> None:
    assert find_click_id(text) == CLICK


@pytest.mark.parametrize(
    "text",
    [
        "",
        "clk_",
        CLICK.lower(),  # ids are minted upper-case
        CLICK[:-1],  # 25 characters
        CLICK + "X",  # 27 characters
        "clk_01JD3Q8Z5X7W9V2K4M6N8P0RIL",  # I and L are not Crockford digits
        "clk_01JD3Q8Z5X7W9V2K4M6N8P0ROU",  # nor O and U
        "clk_01JD3Q8Z5X7W9V2K4M6N8P0R1\u0422",  # Cyrillic Te looks like T
        f"see {CLICK} here",  # inside prose: neither bare nor a parameter
        f"/?xalclid={CLICK}",  # another parameter whose name ends in alclid
        f"/?alclid={CLICK}X",
        f"/?click={CLICK[4:]}",
    ],
)
def test_look_alikes_are_not_click_ids(text: str) -> None:
    assert find_click_id(text) is None


def test_first_text_with_a_click_id_wins() -> None:
    assert find_click_id(None, "", "/?utm=1", f"/?alclid={CLICK}", OTHER_CLICK) == CLICK
    assert find_click_id(None, OTHER_CLICK, f"/?alclid={CLICK}") == OTHER_CLICK
    assert find_click_id() is None
    assert find_click_id(None, None) is None


def test_first_valid_parameter_in_one_text_wins() -> None:
    assert find_click_id(f"/?alclid=bogus&alclid={CLICK}") == CLICK


def test_non_text_values_are_skipped() -> None:
    # Payload values are passed through unchecked; a number or list must not break the search.
    assert find_click_id(42, ["x"], CLICK) == CLICK  # type: ignore[arg-type]


# --- JSON readers ----------------------------------------------------------------------------


def test_big_ints_stay_exact_and_fractions_become_decimal() -> None:
    data = load_object(b'{"id": 820982911946154508, "subtotal": 41.94, "n": 1e2}')
    assert get_id(data, "id", "") == "820982911946154508"
    assert data["subtotal"] == Decimal("41.94")
    assert isinstance(data["n"], Decimal)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"[]",
        b'"text"',
        b"42",
        b"null",
        b"{",
        b'{"a": NaN}',
        b'{"a": Infinity}',
        b"\xff\xfe{}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a": ' + b"9" * 5000 + b"}",  # longer than Python's int digit limit
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(body: bytes) -> None:
    with pytest.raises(Rejected) as refused:
        load_object(body)
    assert refused.value.reason == "bad_payload"
    assert refused.value.field == "body"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (123, "123"),
        (2**70, str(2**70)),
        ("  ord-1 ", "ord-1"),
        ("", None),
        (None, None),
    ],
)
def test_ids(value: object, expected: str | None) -> None:
    assert get_id({"id": value}, "id", "") == expected


@pytest.mark.parametrize("value", [True, -1, 1.5, Decimal("1.5"), [], {}, "a\x00b", "x" * 129])
def test_bad_ids_are_refused_with_their_path(value: object) -> None:
    with pytest.raises(Rejected) as refused:
        get_id({"id": value}, "id", "customer")
    assert refused.value.reason == "bad_payload"
    assert refused.value.field == "customer.id"


def test_required_id() -> None:
    with pytest.raises(Rejected) as refused:
        get_id({}, "order_id", "", required=True)
    assert refused.value.field == "order_id"


def test_as_id_never_refuses() -> None:
    assert as_id(5) == "5"
    assert as_id(" evt_1 ") == "evt_1"
    unusable: tuple[object, ...] = (None, True, "", "x" * 200, "a\nb", 1.0, {})
    for value in unusable:
        assert as_id(value) is None


def test_money_uses_money_rules() -> None:
    assert get_money({"t": "403.00"}, "t", "USD", "") == Decimal("403.00")
    assert get_money({"t": "1500"}, "t", "JPY", "") == Decimal("1500")
    assert get_money({"t": Decimal("12.34")}, "t", "KWD", "") == Decimal("12.340")
    assert get_money({"t": None}, "t", "USD", "") is None
    assert get_money({"t": ""}, "t", "USD", "") is None
    assert get_money({"t": "1.005"}, "t", "USD", "", exact=False) == Decimal("1.00")
    assert get_money({"t": "-10.00"}, "t", "USD", "", allow_negative=True) == Decimal("-10.00")


@pytest.mark.parametrize(
    ("value", "currency"),
    [
        ("abc", "USD"),
        ("1.005", "USD"),  # more decimals than the currency
        ("100.5", "JPY"),
        ("-1.00", "USD"),
        (True, "USD"),
        ([], "USD"),
        ("1e20", "USD"),
        ("5.00", None),  # an amount without a currency
    ],
)
def test_bad_money_is_refused_with_its_path(value: object, currency: str | None) -> None:
    with pytest.raises(Rejected) as refused:
        get_money({"total": value}, "total", currency, "order")
    assert refused.value.reason == "bad_payload"
    assert refused.value.field == "order.total"


def test_currency_is_upper_cased_and_checked() -> None:
    assert get_currency({"c": "usd"}, "c", "") == "USD"
    assert get_currency({"c": None}, "c", "") is None
    for bad in ("XYZ", "US", 840, "XAU"):
        with pytest.raises(Rejected) as refused:
            get_currency({"c": bad}, "c", "")
        assert refused.value.field == "c"


def test_instants_are_aware_utc() -> None:
    assert to_instant("2019-06-04T13:53:06-04:00", "t") == datetime(
        2019, 6, 4, 17, 53, 6, tzinfo=UTC
    )
    assert to_instant("2017-03-22T19:28:02", "t") == datetime(2017, 3, 22, 19, 28, 2, tzinfo=UTC)
    assert to_instant("2024-01-01T00:00:00Z", "t") == datetime(2024, 1, 1, tzinfo=UTC)
    assert to_instant(None, "t") is None
    assert from_unix(1439229084, "created") == datetime(2015, 8, 10, 17, 51, 24, tzinfo=UTC)
    for bad in ("yesterday", 5):
        with pytest.raises(Rejected):
            to_instant(bad, "t")
    for bad_unix in ("1439229084", True, 10**20):
        with pytest.raises(Rejected):
            from_unix(bad_unix, "created")


def test_lists_of_objects_carry_their_paths() -> None:
    data = {"lines": [{"a": 1}, {"a": 2}]}
    assert [where for where, _ in get_objects(data, "lines", "order")] == [
        "order.lines.0",
        "order.lines.1",
    ]
    with pytest.raises(Rejected) as refused:
        list(get_objects({"lines": [{}, "x"]}, "lines", ""))
    assert refused.value.field == "lines.1"
    with pytest.raises(Rejected):
        list(get_objects({"lines": {}}, "lines", ""))


def test_lenient_texts() -> None:
    assert clean_text(" SPRING10 ") == "SPRING10"
    for value in (None, "", "  ", 5, "a\tb", "x" * 300):
        assert clean_text(value) is None
    assert country("us") == "US"
    for value in ("USA", "ZZ", "", None, 1, "1A"):
        assert country(value) is None
    assert unique(["A", None, "B", "A"]) == ("A", "B")


def test_dedup_keys_fit_their_column() -> None:
    assert bounded_key("evt_1") == "evt_1"
    assert bounded_key("") is None and bounded_key(None) is None
    long_a, long_b = "x" * 300 + "a", "x" * 300 + "b"
    hashed = bounded_key(long_a)
    assert hashed is not None and hashed.startswith("sha256:") and len(hashed) == 71
    assert hashed == bounded_key(long_a) != bounded_key(long_b)
    assert (bounded_key("a\nb") or "").startswith("sha256:")


# --- signatures and the fact itself ----------------------------------------------------------


def test_an_empty_secret_never_verifies() -> None:
    # HMAC with an empty key is something anyone can compute.
    body = b'{"id": 1}'
    forged = base64.b64encode(hmac.new(b"", body, sha256).digest()).decode()
    assert usable_keys(["", "s"]) == [b"s"]
    with pytest.raises(SignatureError) as refused:
        check_base64_hmac(body, forged, usable_keys([""]), "X-Test")
    assert refused.value.reason == "bad_signature"


def test_signature_error_carries_reason_and_detail() -> None:
    error = SignatureError("stale_signature", "too old")
    assert (error.reason, error.detail, str(error)) == ("stale_signature", "too old", "too old")


def test_order_fact_is_frozen_with_neutral_defaults() -> None:
    fact = OrderFact(order_id="1", action="ignore")
    assert fact.status is None and fact.amount is None and fact.coupons == () and fact.items == ()
    assert fact.tax == 0 and fact.shipping == 0 and fact.note == ""
    with pytest.raises(dataclasses.FrozenInstanceError):
        fact.order_id = "2"  # type: ignore[misc]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_find_click_id_never_crashes_and_only_returns_valid_ids(text: str) -> None:
    found = find_click_id(text, text[::-1])
    assert found is None or CLICK_ID.fullmatch(found)
