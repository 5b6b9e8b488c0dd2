"""/api/v1/links/{id}/variants: who may do what, and refusals that name the field."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.factories import API, auth, expect, make_advertiser, make_partner

from .variant_factories import Shop, add_variant, make_creative, make_shop

pytestmark = pytest.mark.xdist_group("link-variants-api")


def variants_url(shop: Shop) -> str:
    return f"{API}/links/{shop.link_id}/variants"


def refused(answer: httpx.Response, status: int, field: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field, answer.json()


def test_the_partner_keeps_its_links_variants(http: httpx.Client, operator_key: str) -> None:
    shop = make_shop(http, operator_key)
    mine = auth(shop.partner_key)
    created = expect(
        http.post(
            variants_url(shop),
            json={
                "name": "Mobile DE",
                "landing_url": "https://shop.example/m",
                "countries": ["de", "AT", "DE"],
                "devices": ["tablet", "mobile"],
                "visitor": "new",
                "weight": 250,
            },
            headers=mine,
        ),
        201,
    )
    assert created["id"].startswith("var_") and created["link_id"] == shop.link_id
    # Stored canonical: upper-case, de-duplicated, sorted.
    assert (created["countries"], created["devices"]) == (["AT", "DE"], ["mobile", "tablet"])
    assert (created["visitor"], created["weight"], created["creative_id"]) == ("new", 250, None)
    second = add_variant(http, shop, landing_url="https://offers.example/x")

    listed = expect(http.get(variants_url(shop), headers=mine), 200)["data"]
    assert [v["id"] for v in listed] == [created["id"], second]
    one = expect(http.get(f"{variants_url(shop)}/{second}", headers=mine), 200)
    assert one["landing_url"] == "https://offers.example/x"

    # PATCH changes what is sent; an offer replaces the URL; visitor null clears it.
    offer = make_creative(http, shop, "https://offers.example/deal")
    patched = expect(
        http.patch(
            f"{variants_url(shop)}/{created['id']}",
            json={"creative_id": offer, "visitor": None, "weight": 1},
            headers=mine,
        ),
        200,
    )
    assert (patched["creative_id"], patched["landing_url"]) == (offer, None)
    assert (patched["visitor"], patched["weight"], patched["name"]) == (None, 1, "Mobile DE")
    assert patched["countries"] == ["AT", "DE"]
    back = expect(
        http.patch(
            f"{variants_url(shop)}/{created['id']}",
            json={"landing_url": "https://shop.example/m2"},
            headers=mine,
        ),
        200,
    )
    assert (back["creative_id"], back["landing_url"]) == (None, "https://shop.example/m2")

    assert http.delete(f"{variants_url(shop)}/{second}", headers=mine).status_code == 204
    listed = expect(http.get(variants_url(shop), headers=mine), 200)["data"]
    assert [v["id"] for v in listed] == [created["id"]]
    assert http.get(f"{variants_url(shop)}/{second}", headers=mine).status_code == 404
    assert http.delete(f"{variants_url(shop)}/{second}", headers=mine).status_code == 404


def test_others_see_a_foreign_link_as_missing(http: httpx.Client, operator_key: str) -> None:
    shop = make_shop(http, operator_key)
    variant = add_variant(http, shop, landing_url="https://shop.example/a")
    _, rival_key = make_partner(http, operator_key)
    _, other_adv_key = make_advertiser(http, operator_key)
    one = f"{variants_url(shop)}/{variant}"
    body = {"landing_url": "https://shop.example/b"}
    for key in (rival_key, other_adv_key):
        who = auth(key)
        assert http.get(variants_url(shop), headers=who).status_code == 404
        assert http.get(one, headers=who).status_code == 404
        assert http.get(f"{variants_url(shop)}/report", headers=who).status_code == 404
    rival = auth(rival_key)
    assert http.post(variants_url(shop), json=body, headers=rival).status_code == 404
    assert http.patch(one, json=body, headers=rival).status_code == 404
    assert http.delete(one, headers=rival).status_code == 404

    # The program's advertiser and the operator read; only the partner writes.
    for key in (shop.advertiser_key, operator_key):
        listed = expect(http.get(variants_url(shop), headers=auth(key)), 200)["data"]
        assert [v["id"] for v in listed] == [variant]
        expect(http.get(f"{variants_url(shop)}/report", headers=auth(key)), 200)
        assert http.post(variants_url(shop), json=body, headers=auth(key)).status_code == 403
        assert http.delete(one, headers=auth(key)).status_code == 403
    # Unchanged by all of that.
    mine = expect(http.get(one, headers=auth(shop.partner_key)), 200)
    assert mine["landing_url"] == "https://shop.example/a"
    assert http.get(f"{API}/links/lnk_nope/variants", headers=auth(operator_key)).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"landing_url": "https://evil.example/"}, "landing_url"),
        ({"landing_url": "javascript:alert(1)"}, "landing_url"),
        ({"landing_url": "https://shop.example/a b"}, "landing_url"),
        ({"landing_url": "https://user@shop.example/"}, "landing_url"),
        ({}, "landing_url"),
        ({"landing_url": "https://shop.example/", "weight": 0}, "weight"),
        ({"landing_url": "https://shop.example/", "weight": -5}, "weight"),
        ({"landing_url": "https://shop.example/", "weight": 10_001}, "weight"),
        ({"landing_url": "https://shop.example/", "weight": "heavy"}, "weight"),
        ({"landing_url": "https://shop.example/", "countries": ["XX"]}, "countries.0"),
        ({"landing_url": "https://shop.example/", "countries": ["DE", "Germany"]}, "countries.1"),
        ({"landing_url": "https://shop.example/", "countries": "DE"}, "countries"),
        ({"landing_url": "https://shop.example/", "devices": ["watch"]}, "devices.0"),
        ({"landing_url": "https://shop.example/", "devices": ["bot"]}, "devices.0"),
        ({"landing_url": "https://shop.example/", "visitor": "sometimes"}, "visitor"),
        ({"landing_url": "https://shop.example/", "name": "a\u0000b"}, "name"),
        ({"landing_url": "https://shop.example/", "colour": "red"}, "colour"),
        ({"creative_id": "crv_01JD0000000000000000000000"}, "creative_id"),
        ({"creative_id": "not-an-id"}, "creative_id"),
        ({"creative_id": "crv_\u0000"}, "creative_id"),
    ],
)
def test_bad_variants_are_refused_naming_the_field(
    http: httpx.Client, operator_key: str, shop_for_refusals: Shop, body: dict[str, Any], field: str
) -> None:
    answer = http.post(
        variants_url(shop_for_refusals), json=body, headers=auth(shop_for_refusals.partner_key)
    )
    refused(answer, 422, field)


@pytest.fixture(scope="module")
def shop_for_refusals(server: Any, operator_key: str) -> Shop:
    with httpx.Client(base_url=server.url, timeout=10) as client:
        return make_shop(client, operator_key)


def test_offers_must_be_active_creatives_of_the_links_program(
    http: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(http, operator_key)
    other = make_shop(http, operator_key)
    mine = auth(shop.partner_key)
    foreign = make_creative(http, other, "https://offers.example/theirs")
    refused(
        http.post(variants_url(shop), json={"creative_id": foreign}, headers=mine),
        422,
        "creative_id",
    )
    own = make_creative(http, shop, "https://offers.example/ours")
    both = {"creative_id": own, "landing_url": "https://shop.example/"}
    refused(http.post(variants_url(shop), json=both, headers=mine), 422, "creative_id")
    expect(http.post(f"{API}/creatives/{own}/deactivate", headers=auth(shop.advertiser_key)), 200)
    refused(
        http.post(variants_url(shop), json={"creative_id": own}, headers=mine), 422, "creative_id"
    )


def test_patch_refusals_name_the_field(http: httpx.Client, operator_key: str) -> None:
    shop = make_shop(http, operator_key)
    variant = add_variant(http, shop, landing_url="https://shop.example/a")
    one = f"{variants_url(shop)}/{variant}"
    mine = auth(shop.partner_key)
    for body, field in (
        ({"name": None}, "name"),
        ({"weight": None}, "weight"),
        ({"weight": 0}, "weight"),
        ({"countries": None}, "countries"),
        ({"countries": ["ZZ"]}, "countries.0"),
        ({"devices": ["fridge"]}, "devices.0"),
        ({"landing_url": None}, "landing_url"),
        ({"landing_url": "https://evil.example/"}, "landing_url"),
        ({"creative_id": None}, "creative_id"),
        ({"creative_id": "crv_01JD0000000000000000000000"}, "creative_id"),
    ):
        refused(http.patch(one, json=body, headers=mine), 422, field)
    assert expect(http.get(one, headers=mine), 200)["landing_url"] == "https://shop.example/a"
    assert http.patch(f"{variants_url(shop)}/var_nope", json={}, headers=mine).status_code == 404


def test_a_link_has_at_most_twenty_variants(http: httpx.Client, operator_key: str) -> None:
    shop = make_shop(http, operator_key)
    made = [add_variant(http, shop, landing_url=f"https://shop.example/{i}") for i in range(20)]
    one_more = {"landing_url": "https://shop.example/21"}
    mine = auth(shop.partner_key)
    refused(http.post(variants_url(shop), json=one_more, headers=mine), 422, "variants")
    # Deleting one makes room again.
    assert http.delete(f"{variants_url(shop)}/{made[0]}", headers=mine).status_code == 204
    expect(http.post(variants_url(shop), json=one_more, headers=mine), 201)


def test_a_partner_no_longer_approved_cannot_add_variants(
    http: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(http, operator_key)
    enrollments = expect(
        http.get(
            f"{API}/programs/{shop.program_id}/enrollments", headers=auth(shop.advertiser_key)
        ),
        200,
    )["data"]
    (enrollment,) = [e for e in enrollments if e["partner_id"] == shop.partner_id]
    expect(
        http.post(
            f"{API}/enrollments/{enrollment['id']}/suspend",
            json={"reason": "test"},
            headers=auth(shop.advertiser_key),
        ),
        200,
    )
    answer = http.post(
        variants_url(shop),
        json={"landing_url": "https://shop.example/"},
        headers=auth(shop.partner_key),
    )
    refused(answer, 403, "link_id")


def test_junk_in_paths_is_a_404_problem(http: httpx.Client, operator_key: str) -> None:
    shop = make_shop(http, operator_key)
    variant = add_variant(http, shop, landing_url="https://shop.example/a")
    mine = auth(shop.partner_key)
    for junk in ("%FF", "%00", "var_%00", "x" * 300):
        for path in (f"{API}/links/{junk}/variants", f"{variants_url(shop)}/{junk}"):
            answer = http.get(path, headers=mine)
            assert answer.status_code == 404, (path, answer.text)
            assert answer.headers["content-type"].startswith("application/problem+json")
        answer = http.patch(f"{variants_url(shop)}/{junk}", json={"weight": 2}, headers=mine)
        assert answer.status_code == 404
    assert expect(http.get(f"{variants_url(shop)}/{variant}", headers=mine), 200)["weight"] == 1
