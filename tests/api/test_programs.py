"""Programs and their versioned commission terms."""

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


def test_advertiser_creates_a_program_with_defaults_and_terms_version_1(
    http: httpx.Client, operator_key: str
) -> None:
    adv_id, adv_key = make_advertiser(http, operator_key, currency="SEK")
    program = make_program(
        http,
        adv_key,
        commission={"type": "cps", "percent": "8.5"},
        deeplink_domains=["Blog.Shop.example"],
        allowed_countries=["se", "NO"],
    )
    assert program["advertiser_id"] == adv_id
    assert program["currency"] == "SEK"  # the advertiser's default
    assert (program["cookie_window_days"], program["lock_period_days"]) == (30, 30)
    assert program["store_wide"] is True and program["attribution_priority"] == "coupon"
    assert program["deeplink_domains"] == ["blog.shop.example"]
    assert program["allowed_countries"] == ["SE", "NO"]
    assert len(program["postback_token"]) >= 24
    assert program["terms"]["version"] == 1
    assert program["terms"]["commission"]["type"] == "cps"
    assert program["terms"]["commission"]["percent"] == "8.5"


def test_operator_creates_a_program_for_a_named_advertiser(
    http: httpx.Client, operator_key: str
) -> None:
    adv_id, _ = make_advertiser(http, operator_key, currency="JPY", country="JP")
    body = {
        "name": unique("Prog"),
        "landing_url": "https://shop.example/jp",
        "commission": {"type": "cpo", "amount": "1500"},
    }
    missing = expect(http.post(f"{API}/programs", json=body, headers=auth(operator_key)), 422)
    assert missing["field"] == "advertiser_id"
    body["advertiser_id"] = adv_id
    program = expect(http.post(f"{API}/programs", json=body, headers=auth(operator_key)), 201)
    assert program["currency"] == "JPY"
    assert program["terms"]["commission"]["amount"] == "1500"


def test_partner_cannot_create_a_program(http: httpx.Client, operator_key: str) -> None:
    _, partner_key = make_partner(http, operator_key)
    body = {
        "name": "P",
        "landing_url": "https://x.example",
        "commission": {"type": "cps", "percent": "5"},
    }
    assert http.post(f"{API}/programs", json=body, headers=auth(partner_key)).status_code == 403


def test_patch_changes_only_sent_fields_and_never_the_currency(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key, description="old")
    url = f"{API}/programs/{program['id']}"
    changed = expect(
        http.patch(url, json={"cookie_window_days": 45, "status": "paused"}, headers=auth(adv_key)),
        200,
    )
    assert changed["cookie_window_days"] == 45 and changed["status"] == "paused"
    assert changed["description"] == "old" and changed["name"] == program["name"]
    currency = expect(http.patch(url, json={"currency": "EUR"}, headers=auth(adv_key)), 422)
    assert currency["field"] == "currency"
    null = expect(http.patch(url, json={"name": None}, headers=auth(adv_key)), 422)
    assert null["field"] == "name"


def test_new_terms_version_keeps_the_old_ones(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    url = f"{API}/programs/{program['id']}/terms"
    v2 = expect(
        http.put(
            url,
            json={
                "commission": {
                    "type": "cps",
                    "percent": "12",
                    "tiers": [{"min_orders": 10, "percent": "15"}],
                }
            },
            headers=auth(adv_key),
        ),
        200,
    )
    assert v2["version"] == 2 and v2["commission"]["tiers"][0]["percent"] == "15"
    versions = expect(http.get(url, headers=auth(adv_key)), 200)["data"]
    assert [t["version"] for t in versions] == [2, 1]
    assert versions[1]["commission"]["percent"] == "10"
    current = expect(http.get(f"{API}/programs/{program['id']}", headers=auth(adv_key)), 200)
    assert current["terms"]["version"] == 2


def test_terms_errors_name_the_field_and_respect_the_program_currency(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key, currency="JPY", country="JP")
    program = make_program(http, adv_key, commission={"type": "cpo", "amount": "500"})
    url = f"{API}/programs/{program['id']}/terms"
    bad = expect(
        http.put(
            url, json={"commission": {"type": "cpo", "amount": "500.5"}}, headers=auth(adv_key)
        ),
        422,
    )
    assert bad["field"] == "commission.amount"
    tier = expect(
        http.put(
            url,
            json={
                "commission": {
                    "type": "cpo",
                    "amount": "500",
                    "tiers": [{"min_orders": 5, "amount": "x"}],
                }
            },
            headers=auth(adv_key),
        ),
        422,
    )
    assert tier["field"] == "commission.tiers.0.amount"


def test_partner_sees_the_marketplace_without_secrets(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    joined = make_program(http, adv_key)
    open_program = make_program(http, adv_key)
    paused = make_program(http, adv_key)
    expect(
        http.patch(
            f"{API}/programs/{paused['id']}", json={"status": "paused"}, headers=auth(adv_key)
        ),
        200,
    )
    _, partner_key = make_partner(http, operator_key)
    enroll_and_approve(http, joined["id"], partner_key, adv_key)

    market = expect(http.get(f"{API}/programs?limit=200", headers=auth(partner_key)), 200)
    ids = {p["id"] for p in market["data"]}
    assert {joined["id"], open_program["id"]} <= ids and paused["id"] not in ids
    assert all(p["postback_token"] is None for p in market["data"])
    detail = expect(
        http.get(f"{API}/programs/{open_program['id']}", headers=auth(partner_key)), 200
    )
    assert detail["postback_token"] is None and detail["terms"]["version"] == 1
    assert http.get(f"{API}/programs/{paused['id']}", headers=auth(partner_key)).status_code == 404

    enrolled = expect(http.get(f"{API}/programs?enrolled=true", headers=auth(partner_key)), 200)
    assert [p["id"] for p in enrolled["data"]] == [joined["id"]]
    not_joined = expect(
        http.get(f"{API}/programs?enrolled=false&limit=200", headers=auth(partner_key)), 200
    )
    assert joined["id"] not in {p["id"] for p in not_joined["data"]}


def test_partner_cannot_change_programs_or_terms(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    url = f"{API}/programs/{program['id']}"
    assert http.patch(url, json={"name": "Mine"}, headers=auth(partner_key)).status_code == 403
    body = {"commission": {"type": "cps", "percent": "99"}}
    assert http.put(f"{url}/terms", json=body, headers=auth(partner_key)).status_code == 403


def test_pagination_walks_every_program_once(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    created = {make_program(http, adv_key)["id"] for _ in range(5)}
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = expect(http.get(f"{API}/programs", params=params, headers=auth(adv_key)), 200)
        assert len(page["data"]) <= 2
        seen += [p["id"] for p in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert sorted(seen) == sorted(created) and seen == sorted(seen, reverse=True)


def test_openapi_documents_the_endpoints_and_the_terms_shape(http: httpx.Client) -> None:
    spec = expect(http.get(f"{API}/openapi.json"), 200)
    for path in (
        "/advertisers",
        "/partners/{partner_id}",
        "/programs/{program_id}/terms",
        "/programs/{program_id}/enrollments",
        "/enrollments/{enrollment_id}/approve",
        "/enrollments/{enrollment_id}/ban",
        "/links",
        "/coupons",
        "/clicks",
        "/conversions/{conversion_id}",
        "/commissions/{commission_id}",
    ):
        assert f"{API}{path}" in spec["paths"], path
    commission = spec["components"]["schemas"]["ProgramCreate"]["properties"]["commission"]
    assert commission["properties"]["type"]["enum"] == ["cps", "cpo", "cpl", "cpc"]
    assert "tiers" in commission["properties"] and commission["examples"]
    assert "$defs" not in str(commission)


def test_fallback_url_for_other_countries_is_set_changed_and_cleared(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    plain = make_program(http, adv_key)
    assert plain["fallback_url"] is None  # none: other countries land on the landing URL
    program = make_program(
        http, adv_key, allowed_countries=["SE"], fallback_url="https://intl.example/en"
    )
    assert program["fallback_url"] == "https://intl.example/en"  # any host: the advertiser's
    url = f"{API}/programs/{program['id']}"
    changed = expect(
        http.patch(url, json={"fallback_url": "https://intl.example/se"}, headers=auth(adv_key)),
        200,
    )
    assert changed["fallback_url"] == "https://intl.example/se"
    unchanged = expect(http.patch(url, json={"name": "Renamed"}, headers=auth(adv_key)), 200)
    assert unchanged["fallback_url"] == "https://intl.example/se"
    cleared = expect(http.patch(url, json={"fallback_url": None}, headers=auth(adv_key)), 200)
    assert cleared["fallback_url"] is None
    read = expect(http.get(url, headers=auth(adv_key)), 200)
    assert read["fallback_url"] is None and read["allowed_countries"] == ["SE"]


def test_a_bad_fallback_url_is_refused_naming_the_field(
    http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    url = f"{API}/programs/{program['id']}"
    for bad in (
        "javascript:alert(1)",
        "ftp://files.example/",
        "not a url",
        "https://" + "a" * 2050,
    ):
        problem = expect(http.patch(url, json={"fallback_url": bad}, headers=auth(adv_key)), 422)
        assert problem["field"] == "fallback_url", (bad, problem)
    created = http.post(
        f"{API}/programs",
        json={
            "name": unique("Geo"),
            "landing_url": "https://shop.example/",
            "fallback_url": "//evil.example/",
            "commission": {"type": "cps", "percent": "5"},
        },
        headers=auth(adv_key),
    )
    assert created.status_code == 422
    assert created.headers["content-type"].startswith("application/problem+json")
    assert created.json()["field"] == "fallback_url"
