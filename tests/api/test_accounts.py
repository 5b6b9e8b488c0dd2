"""Advertisers and partners: created by the operator, API key shown once, scoped reads."""

from __future__ import annotations

import httpx

from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_partner,
    make_program,
    unique,
)


def test_operator_creates_an_advertiser_and_the_key_works_once_shown(
    http: httpx.Client, operator_key: str
) -> None:
    body = {
        "name": "Nordic Shoes",
        "country": "se",
        "currency": "sek",
        "website": "https://shoes.example",
    }
    data = expect(http.post(f"{API}/advertisers", json=body, headers=auth(operator_key)), 201)
    assert data["country"] == "SE" and data["currency"] == "SEK"
    assert data["service_level"] == "self_service" and data["account_manager_id"] is None
    assert data["api_key"].startswith("ala_")
    me = expect(http.get(f"{API}/advertisers/{data['id']}", headers=auth(data["api_key"])), 200)
    assert me["name"] == "Nordic Shoes"
    assert "api_key" not in me  # shown once, at creation only


def test_managed_advertiser_defaults_to_the_calling_operator_as_manager(
    http: httpx.Client, operator_key: str
) -> None:
    body = {
        "name": unique("Managed"),
        "country": "DE",
        "currency": "EUR",
        "service_level": "managed",
    }
    data = expect(http.post(f"{API}/advertisers", json=body, headers=auth(operator_key)), 201)
    assert data["service_level"] == "managed"
    assert data["account_manager_id"].startswith("opr_")


def test_account_manager_must_be_an_existing_operator(
    http: httpx.Client, operator_key: str
) -> None:
    body = {
        "name": unique("Managed"),
        "country": "DE",
        "currency": "EUR",
        "service_level": "managed",
        "account_manager_id": "opr_" + "0" * 26,
    }
    problem = expect(http.post(f"{API}/advertisers", json=body, headers=auth(operator_key)), 422)
    assert problem["field"] == "account_manager_id"


def test_only_the_operator_creates_accounts(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    _, partner_key = make_partner(http, operator_key)
    body = {"name": "X", "country": "SE", "currency": "SEK"}
    for key in (adv_key, partner_key):
        response = http.post(f"{API}/advertisers", json=body, headers=auth(key))
        assert response.status_code == 403
        assert response.headers["content-type"] == "application/problem+json"
        assert http.post(f"{API}/partners", json=body, headers=auth(key)).status_code == 403


def test_advertiser_lists_only_itself_and_partners_cannot_list_advertisers(
    http: httpx.Client, operator_key: str
) -> None:
    adv_id, adv_key = make_advertiser(http, operator_key)
    other_id, _ = make_advertiser(http, operator_key)
    _, partner_key = make_partner(http, operator_key)
    page = expect(http.get(f"{API}/advertisers", headers=auth(adv_key)), 200)
    assert [a["id"] for a in page["data"]] == [adv_id]
    everyone = expect(http.get(f"{API}/advertisers?limit=200", headers=auth(operator_key)), 200)
    assert {adv_id, other_id} <= {a["id"] for a in everyone["data"]}
    assert http.get(f"{API}/advertisers/{other_id}", headers=auth(adv_key)).status_code == 404
    assert http.get(f"{API}/advertisers", headers=auth(partner_key)).status_code == 403


def test_partner_is_created_with_its_profile(http: httpx.Client, operator_key: str) -> None:
    body = {
        "name": "Deal Hunters",
        "type": "deals",
        "country": "fr",
        "payout_currency": "eur",
        "categories": ["fashion", "shoes"],
        "audience": "Bargain hunters in France,\naged 25-45",
        "website": "https://deals.example/",
        "email": "team@deals.example",
    }
    data = expect(http.post(f"{API}/partners", json=body, headers=auth(operator_key)), 201)
    assert data["api_key"].startswith("alp_")
    assert (data["country"], data["payout_currency"], data["type"]) == ("FR", "EUR", "deals")
    assert data["categories"] == ["fashion", "shoes"]
    me = expect(http.get(f"{API}/partners", headers=auth(data["api_key"])), 200)
    assert [p["id"] for p in me["data"]] == [data["id"]]
    assert me["data"][0]["email"] == "team@deals.example"


def test_advertiser_sees_only_partners_enrolled_in_its_programs_without_email(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    enrolled_id, enrolled_key = make_partner(http, operator_key, email="a@b.example")
    stranger_id, _ = make_partner(http, operator_key)
    enroll_and_approve(http, program["id"], enrolled_key, adv_key)
    page = expect(http.get(f"{API}/partners", headers=auth(adv_key)), 200)
    assert [p["id"] for p in page["data"]] == [enrolled_id]
    assert page["data"][0]["email"] is None
    assert http.get(f"{API}/partners/{enrolled_id}", headers=auth(adv_key)).status_code == 200
    assert http.get(f"{API}/partners/{stranger_id}", headers=auth(adv_key)).status_code == 404
