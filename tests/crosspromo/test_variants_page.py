"""The partner's Links page: a table of each link's variants with their figures, a form to add
one (refusals name the field) and a button to delete one. A real server, a signed-in user."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import pytest

from tests.api.factories import API, auth, expect
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

from .variant_factories import Shop, add_variant, make_creative, make_shop, stored_click, visit

pytestmark = pytest.mark.xdist_group("link-variants-page")


def text_of(markup: str) -> str:
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(re.split(r"[ \t\r\n]+", text)).strip()


@pytest.fixture()
def shop(http: httpx.Client, operator_key: str) -> Shop:
    return make_shop(http, operator_key)


@pytest.fixture()
def me(server: Server, shop: Shop) -> Iterator[Browser]:
    browser = signed_in(server, shop.partner_id)
    yield browser
    browser.close()


def block_of(body: str, link_id: str) -> str:
    start = body.index(f'id="{link_id}"')
    end = body.find('<li class="link-item"', start + 1)
    return body[start : end if end > 0 else len(body)]


def test_a_variant_added_on_the_page_is_listed_with_its_figures(
    http: httpx.Client, shop: Shop, me: Browser
) -> None:
    links_url = f"/partner/links?program_id={shop.program_id}"
    answer = me.post(
        f"/partner/links/{shop.link_id}/variants",
        {
            "name": "Mobile test",
            "landing_url": "https://shop.example/m",
            "countries": "de, at",
            "devices": ["mobile", "tablet"],
            "visitor": "new",
            "weight": "3",
        },
        token_from=links_url,
    )
    assert answer.status_code == 303, answer.text[:2000]
    assert answer.headers["location"] == f"{links_url}#{shop.link_id}"
    listed = expect(
        http.get(f"{API}/links/{shop.link_id}/variants", headers=auth(shop.partner_key)), 200
    )
    (variant,) = listed["data"]
    assert (variant["countries"], variant["devices"]) == (["AT", "DE"], ["mobile", "tablet"])
    assert (variant["visitor"], variant["weight"]) == ("new", 3)

    offer = add_variant(
        http, shop, creative_id=make_creative(http, shop, "https://offers.example/w"), weight=2
    )
    # Two visits on a desktop, no country (loopback): both on the offer, the only match.
    for _ in range(2):
        assert stored_click(visit(http, shop.code).click_id).variant_id == offer

    body = me.get(links_url).text
    block = text_of(block_of(body, shop.link_id))
    assert "Mobile test" in block and "https://shop.example/m" in block
    assert "AT, DE · mobile, tablet · new visitors" in block
    assert "Offer: Winter offer" in block and "everyone" in block
    assert "control" in block
    # The offer's row: 2 clicks, 2 valid, 0 orders, 0.00 %.
    offer_row = block[block.index("Offer: Winter offer") :]
    assert re.match(r"Offer: Winter offer everyone 2 2 2 0 0(\.00)?\s?%", offer_row), offer_row[:80]


def test_refusals_name_the_field_and_keep_the_form(shop: Shop, me: Browser) -> None:
    links_url = f"/partner/links?program_id={shop.program_id}"
    for data, field in (
        ({"landing_url": "https://evil.example/"}, "landing_url"),
        ({"landing_url": "https://shop.example/", "countries": "DE, XX"}, "countries"),
        ({"landing_url": "https://shop.example/", "weight": "0"}, "weight"),
        ({"landing_url": "https://shop.example/", "devices": ["toaster"]}, "devices"),
    ):
        answer = me.post(f"/partner/links/{shop.link_id}/variants", data, token_from=links_url)
        assert answer.status_code == 422, answer.text[:2000]
        assert f"(field: {field})" in text_of(answer.text)
        block = block_of(answer.text, shop.link_id)
        assert "field-invalid" in block
        assert 'value="https://' in block  # what was typed is still there

    missing = me.post(
        "/partner/links/lnk_01JD0000000000000000000000/variants",
        {"landing_url": "https://shop.example/"},
        token_from=links_url,
    )
    assert missing.status_code == 404


def test_deleting_a_variant_on_the_page(
    http: httpx.Client, operator_key: str, shop: Shop, me: Browser
) -> None:
    variant = add_variant(http, shop, landing_url="https://shop.example/a")
    links_url = f"/partner/links?program_id={shop.program_id}"
    body = me.get(links_url).text
    assert f"/partner/links/{shop.link_id}/variants/{variant}/delete" in body
    answer = me.post(
        f"/partner/links/{shop.link_id}/variants/{variant}/delete", {}, token_from=links_url
    )
    assert answer.status_code == 303, answer.text[:2000]
    mine = auth(shop.partner_key)
    assert expect(http.get(f"{API}/links/{shop.link_id}/variants", headers=mine), 200)["data"] == []

    # Another partner's link and variant: 404, and the variant stays.
    other = make_shop(http, operator_key)
    theirs = add_variant(http, other, landing_url="https://shop.example/b")
    refused = me.post(
        f"/partner/links/{other.link_id}/variants/{theirs}/delete", {}, token_from=links_url
    )
    assert refused.status_code == 404
    listed = expect(
        http.get(f"{API}/links/{other.link_id}/variants", headers=auth(other.partner_key)), 200
    )
    assert [v["id"] for v in listed["data"]] == [theirs]
