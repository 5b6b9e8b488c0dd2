"""Bad input, one test per class: every refusal is a 4xx problem+json naming the input.

Never a 500, never a bare HTML page. Each case goes through the real server.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.api.factories import (
    API,
    auth,
    expect,
    make_advertiser,
    make_network,
    make_partner,
    unique,
)
from tests.conftest import Server


@dataclass(frozen=True)
class Keys:
    operator: str
    advertiser: str
    partner: str
    partner_id: str
    program_id: str
    jpy_advertiser: str


@pytest.fixture(scope="module")
def keys(server: Server, operator_key: str) -> Iterator[Keys]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        net = make_network(http, operator_key)
        _, jpy_key = make_advertiser(http, operator_key, currency="JPY", country="JP")
        yield Keys(
            operator_key,
            net.advertiser_key,
            net.partner_key,
            net.partner_id,
            net.program_id,
            jpy_key,
        )


def problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    assert 400 <= response.status_code < 500, f"{response.status_code}: {response.text}"
    if status is not None:
        assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json", response.text
    body: dict[str, Any] = response.json()
    assert body["status"] == response.status_code and body["title"] and body["detail"]
    return body


def advertiser_body(**fields: Any) -> dict[str, Any]:
    return {"name": unique("Shop"), "country": "SE", "currency": "SEK", **fields}


def partner_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique("Partner"),
        "type": "content",
        "country": "DE",
        "payout_currency": "EUR",
        **fields,
    }


def program_body(**fields: Any) -> dict[str, Any]:
    return {
        "name": unique("Program"),
        "landing_url": "https://shop.example/",
        "commission": {"type": "cps", "percent": "10"},
        **fields,
    }


# --- missing fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("advertisers", {"country": "SE", "currency": "SEK"}, "name"),
        ("advertisers", {"name": "X", "currency": "SEK"}, "country"),
        ("advertisers", {"name": "X", "country": "SE"}, "currency"),
        ("partners", {"name": "X", "country": "SE", "payout_currency": "SEK"}, "type"),
    ],
)
def test_missing_fields(
    http: httpx.Client, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    answer = problem(http.post(f"{API}/{path}", json=body, headers=auth(keys.operator)), 422)
    assert answer["field"] == field


@pytest.mark.parametrize("field", ["landing_url", "commission", "name"])
def test_missing_program_fields(http: httpx.Client, keys: Keys, field: str) -> None:
    body = program_body()
    del body[field]
    answer = problem(http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 422)
    assert answer["field"] == field


def test_missing_body(http: httpx.Client, keys: Keys) -> None:
    answer = problem(http.post(f"{API}/links", headers=auth(keys.partner)), 422)
    assert answer["field"] == "body"


# --- wrong types -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("name", 123),
        ("name", ["a"]),
        ("cookie_window_days", "many"),
        ("cookie_window_days", 1.5),
        ("store_wide", {"yes": True}),
        ("allowed_countries", "SE"),
        ("deeplink_domains", [1, 2]),
        ("commission", "10%"),
        ("commission", ["cps"]),
    ],
)
def test_wrong_types(http: httpx.Client, keys: Keys, field: str, value: Any) -> None:
    body = program_body(**{field: value})
    answer = problem(http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 422)
    assert answer["field"].split(".")[0] == field


def test_body_that_is_not_an_object(http: httpx.Client, keys: Keys) -> None:
    for body in ([1, 2], "text", 42, None):
        answer = problem(
            http.post(f"{API}/advertisers", json=body, headers=auth(keys.operator)), 422
        )
        assert answer["field"]


# --- unknown enum values and unknown fields ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("advertisers", advertiser_body(service_level="vip"), "service_level"),
        ("partners", partner_body(type="spammer"), "type"),
        ("programs", program_body(attribution_priority="random"), "attribution_priority"),
        ("programs", program_body(commission={"type": "cpm", "amount": "1"}), "commission.type"),
        ("programs", program_body(colour="blue"), "colour"),
        (
            "programs",
            program_body(commission={"type": "cps", "percent": "5", "bonus": "1"}),
            "commission.bonus",
        ),
    ],
)
def test_unknown_enum_values_and_fields(
    http: httpx.Client, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    key = keys.advertiser if path == "programs" else keys.operator
    answer = problem(http.post(f"{API}/{path}", json=body, headers=auth(key)), 422)
    assert answer["field"] == field


def test_unknown_enum_in_query(http: httpx.Client, keys: Keys) -> None:
    for path, field in (
        ("conversions?status=lost", "status"),
        ("commissions?status=owed", "status"),
        ("enrollments?status=maybe", "status"),
        ("clicks?is_bot=perhaps", "is_bot"),
    ):
        answer = problem(http.get(f"{API}/{path}", headers=auth(keys.advertiser)), 422)
        assert answer["field"] == field


# --- oversized strings -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("advertisers", advertiser_body(name="x" * 10_240), "name"),
        ("partners", partner_body(audience="y" * 10_240), "audience"),
        ("partners", partner_body(categories=["z" * 65]), "categories.0"),
        ("partners", partner_body(categories=[f"c{i}" for i in range(21)]), "categories"),
        ("partners", partner_body(website="https://x.example/" + "p" * 3000), "website"),
    ],
)
def test_oversized_strings(
    http: httpx.Client, keys: Keys, path: str, body: dict[str, Any], field: str
) -> None:
    answer = problem(http.post(f"{API}/{path}", json=body, headers=auth(keys.operator)), 422)
    assert answer["field"] == field


def test_oversized_program_texts(http: httpx.Client, keys: Keys) -> None:
    for field, value in (
        ("description", "d" * 10_240),
        ("category", "c" * 65),
        ("name", "n" * 10_240),
    ):
        body = program_body(**{field: value})
        answer = problem(
            http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 422
        )
        assert answer["field"] == field


# --- control characters ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["Evil\r\nSet-Cookie: x=1", "nul\x00byte", "bell\x07", "bidi\u202etxt", "tab\tname"]
)
def test_control_characters_in_names(http: httpx.Client, keys: Keys, name: str) -> None:
    answer = problem(
        http.post(
            f"{API}/advertisers", json=advertiser_body(name=name), headers=auth(keys.operator)
        ),
        422,
    )
    assert answer["field"] == "name"


def test_control_characters_in_codes_labels_and_sub_ids(http: httpx.Client, keys: Keys) -> None:
    coupon = {"program_id": keys.program_id, "partner_id": keys.partner_id, "code": "A\r\nB"}
    answer = problem(http.post(f"{API}/coupons", json=coupon, headers=auth(keys.advertiser)), 422)
    assert answer["field"] == "code"
    for body, field in (
        ({"program_id": keys.program_id, "label": "a\nb"}, "label"),
        ({"program_id": keys.program_id, "default_subs": {"sub1": "x\x00"}}, "default_subs.sub1"),
        (
            {"program_id": keys.program_id, "landing_url": "https://shop.example/\r\nx"},
            "landing_url",
        ),
    ):
        answer = problem(http.post(f"{API}/links", json=body, headers=auth(keys.partner)), 422)
        assert answer["field"] == field


def test_multiline_text_is_allowed_where_it_belongs(http: httpx.Client, keys: Keys) -> None:
    body = program_body(description="Line one.\nLine two.\r\n\tIndented.")
    created = expect(http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 201)
    assert created["description"].startswith("Line one.\n")


# --- invalid UTF-8 and invalid JSON ------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("program_id=%FF", "program_id"),
        ("sub1=%FF%FE", "sub1"),
        ("country=%FF", "country"),
        ("limit=%FF", "limit"),
        ("from=%FF", "from"),
        ("cursor=%FF", "cursor"),
        ("link_id=%00", "link_id"),
        ("sub1=a%00b", "sub1"),
    ],
)
def test_invalid_utf8_and_nul_in_query_strings(
    http: httpx.Client, keys: Keys, query: str, field: str
) -> None:
    answer = problem(http.get(f"{API}/clicks?{query}", headers=auth(keys.advertiser)), 422)
    assert answer["field"] == field


def test_invalid_utf8_and_nul_in_ids_of_paths(http: httpx.Client, keys: Keys) -> None:
    for resource in (
        "programs",
        "links",
        "conversions",
        "commissions",
        "clicks",
        "coupons",
        "enrollments",
        "partners",
        "advertisers",
    ):
        for junk in ("%FF", "%00", "prg_%00", "x" * 300):
            problem(http.get(f"{API}/{resource}/{junk}", headers=auth(keys.operator)), 404)


def test_conversions_order_id_filter_refuses_junk(http: httpx.Client, keys: Keys) -> None:
    for query in ("order_id=%FF", "order_id=a%0Db", "order_id=" + "9" * 200):
        answer = problem(http.get(f"{API}/conversions?{query}", headers=auth(keys.advertiser)), 422)
        assert answer["field"] == "order_id"


@pytest.mark.parametrize(
    "raw", [b"{", b'{"name": "x",}', b"\xff\xfe{}", b'{"name": "\xff"}', b"NaN", b""]
)
def test_invalid_json_bodies(http: httpx.Client, keys: Keys, raw: bytes) -> None:
    response = http.post(
        f"{API}/advertisers",
        content=raw,
        headers={**auth(keys.operator), "content-type": "application/json"},
    )
    problem(response)


@pytest.mark.parametrize("raw", [b"{", b'{"name": "\xff"}'])
def test_invalid_json_bodies_name_the_body(http: httpx.Client, keys: Keys, raw: bytes) -> None:
    response = http.post(
        f"{API}/advertisers",
        content=raw,
        headers={**auth(keys.operator), "content-type": "application/json"},
    )
    assert problem(response)["field"] == "body"


# --- money: currencies, countries, amounts -----------------------------------------------------


@pytest.mark.parametrize("currency", ["XYZ", "euro", "", "EU", "XAU", "€"])
def test_unknown_currency(http: httpx.Client, keys: Keys, currency: str) -> None:
    answer = problem(
        http.post(
            f"{API}/advertisers",
            json=advertiser_body(currency=currency),
            headers=auth(keys.operator),
        ),
        422,
    )
    assert answer["field"] == "currency"
    answer = problem(
        http.post(
            f"{API}/programs", json=program_body(currency=currency), headers=auth(keys.advertiser)
        ),
        422,
    )
    assert answer["field"] == "currency"


@pytest.mark.parametrize("country", ["XX", "SWE", "", "1", "Sweden", "S\u0415"])
def test_bad_country(http: httpx.Client, keys: Keys, country: str) -> None:
    answer = problem(
        http.post(
            f"{API}/partners", json=partner_body(country=country), headers=auth(keys.operator)
        ),
        422,
    )
    assert answer["field"] == "country"
    body = program_body(allowed_countries=["SE", country])
    answer = problem(http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 422)
    assert answer["field"] == "allowed_countries.1"


@pytest.mark.parametrize(
    ("commission", "field"),
    [
        ({"type": "cpo", "amount": "100.5"}, "commission.amount"),  # JPY has no decimals
        ({"type": "cpo", "amount": "NaN"}, "commission.amount"),
        ({"type": "cpo", "amount": "Infinity"}, "commission.amount"),
        ({"type": "cpo", "amount": "1e999"}, "commission.amount"),
        ({"type": "cpo", "amount": "-100"}, "commission.amount"),
        ({"type": "cpo", "amount": 100.0}, "commission.amount"),  # a float, not a decimal
        ({"type": "cps", "percent": "-1"}, "commission.percent"),
        ({"type": "cps", "percent": "101"}, "commission.percent"),
        ({"type": "cps", "percent": "5", "cap_per_order": "0.5"}, "commission.cap_per_order"),
        ({"type": "cps"}, "commission.percent"),
    ],
)
def test_bad_commission_amounts(
    http: httpx.Client, keys: Keys, commission: dict[str, Any], field: str
) -> None:
    body = program_body(commission=commission)
    answer = problem(
        http.post(f"{API}/programs", json=body, headers=auth(keys.jpy_advertiser)), 422
    )
    assert answer["field"] == field


@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_json_numbers_in_terms(http: httpx.Client, keys: Keys, literal: bytes) -> None:
    raw = (
        b'{"name": "P", "landing_url": "https://shop.example/", '
        b'"commission": {"type": "cpo", "amount": ' + literal + b"}}"
    )
    response = http.post(
        f"{API}/programs",
        content=raw,
        headers={**auth(keys.jpy_advertiser), "content-type": "application/json"},
    )
    assert problem(response, 422)["field"] == "commission.amount"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("landing_url", "ftp://shop.example/"),
        ("landing_url", "shop.example"),
        ("landing_url", "https://"),
        ("landing_url", "https://shop.example:99999/"),
        ("deeplink_domains", ["not a host"]),
        ("deeplink_domains", ["https://blog.example"]),
        ("cookie_window_days", 0),
        ("cookie_window_days", 366),
        ("lock_period_days", -1),
    ],
)
def test_bad_program_settings(http: httpx.Client, keys: Keys, field: str, value: Any) -> None:
    body = program_body(**{field: value})
    answer = problem(http.post(f"{API}/programs", json=body, headers=auth(keys.advertiser)), 422)
    assert answer["field"].split(".")[0] == field


def test_bad_email_and_website(http: httpx.Client, keys: Keys) -> None:
    for field, value in (("email", "not-an-email"), ("website", "javascript:alert(1)")):
        answer = problem(
            http.post(
                f"{API}/partners", json=partner_body(**{field: value}), headers=auth(keys.operator)
            ),
            422,
        )
        assert answer["field"] == field


# --- pagination and time ranges ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("limit=-5", "limit"),
        ("limit=ten", "limit"),
        ("limit=1e999", "limit"),
        ("cursor=not-a-cursor", "cursor"),
        ("cursor=" + "A" * 201, "cursor"),
        ("cursor=djE6eHh4", "cursor"),  # base64 of "v1:xxx": right form, not an id
        ("from=yesterday", "from"),
        ("to=2024-13-01", "to"),
        ("from=2024-05-02&to=2024-05-01", "from"),
    ],
)
@pytest.mark.parametrize("resource", ["clicks", "conversions", "commissions"])
def test_bad_pagination_and_range_params(
    http: httpx.Client, keys: Keys, resource: str, query: str, field: str
) -> None:
    answer = problem(http.get(f"{API}/{resource}?{query}", headers=auth(keys.advertiser)), 422)
    assert answer["field"] == field


@pytest.mark.parametrize(
    "resource", ["advertisers", "partners", "programs", "enrollments", "links", "coupons"]
)
def test_every_list_validates_its_page_params(
    http: httpx.Client, keys: Keys, resource: str
) -> None:
    answer = problem(http.get(f"{API}/{resource}?limit=0", headers=auth(keys.operator)), 422)
    assert answer["field"] == "limit"
    answer = problem(http.get(f"{API}/{resource}?cursor=%FF", headers=auth(keys.operator)), 422)
    assert answer["field"] == "cursor"


# --- authentication and roles ------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer " + "k" * 500},
    ],
)
@pytest.mark.parametrize(
    "path",
    [
        "advertisers",
        "partners",
        "programs",
        "enrollments",
        "links",
        "coupons",
        "clicks",
        "conversions",
        "commissions",
    ],
)
def test_missing_or_bad_key_is_401(http: httpx.Client, headers: dict[str, str], path: str) -> None:
    answer = problem(http.get(f"{API}/{path}", headers=headers), 401)
    assert answer["type"].endswith("not-authenticated")


@pytest.mark.parametrize(
    ("method", "path", "role"),
    [
        ("POST", "advertisers", "advertiser"),
        ("POST", "partners", "partner"),
        ("POST", "programs", "partner"),
        ("POST", "coupons", "partner"),
        ("POST", "links", "advertiser"),
        ("POST", "links", "operator"),
        ("GET", "advertisers", "partner"),
    ],
)
def test_wrong_role_is_403(
    http: httpx.Client, keys: Keys, method: str, path: str, role: str
) -> None:
    key = {"operator": keys.operator, "advertiser": keys.advertiser, "partner": keys.partner}[role]
    answer = problem(http.request(method, f"{API}/{path}", json={}, headers=auth(key)), 403)
    assert answer["type"].endswith("forbidden")


def test_partner_cannot_apply_twice_through_another_role(
    http: httpx.Client, keys: Keys, operator_key: str
) -> None:
    _, other_partner = make_partner(http, operator_key)
    url = f"{API}/programs/{keys.program_id}/enrollments"
    problem(http.post(url, json={}, headers=auth(keys.advertiser)), 403)
    problem(http.post(url, json={"message": "x" * 2001}, headers=auth(other_partner)), 422)
