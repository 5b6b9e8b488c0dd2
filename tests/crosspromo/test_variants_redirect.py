"""Landing variants end to end: variants made through the API, visits through the real
redirect (country from a trusted X-Forwarded-For, device from the User-Agent, returning from
the visitor cookie), and the click rows the click writer stored (ADR 0018)."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from alliance.tracking.link_cache import build_entry
from tests.api.factories import API, auth, expect

from .variant_factories import (
    CACHE_TTL_S,
    DE_IP,
    GB_IP,
    IPAD,
    IPHONE,
    US_IP,
    add_variant,
    another_link,
    make_creative,
    make_shop,
    proxied_server,
    stored_click,
    visit,
)

pytestmark = pytest.mark.xdist_group("link-variants-redirect")


@pytest.fixture(scope="module")
def proxied(db_url: str) -> Iterator[httpx.Client]:
    with proxied_server(db_url) as client:
        yield client


def test_visitors_land_on_the_most_specific_matching_variant(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    de_mobile = add_variant(
        proxied,
        shop,
        name="DE mobile",
        landing_url="https://shop.example/de-mobile",
        countries=["de"],
        devices=["mobile", "tablet"],
    )
    gb = add_variant(proxied, shop, landing_url="https://shop.example/uk", countries=["GB"])
    back = add_variant(
        proxied, shop, landing_url="https://offers.example/welcome-back", visitor="returning"
    )
    offer_page = "https://offers.example/winter?utm=partner"
    offer = add_variant(proxied, shop, creative_id=make_creative(proxied, shop, offer_page))

    phone = visit(proxied, shop.code, ip=DE_IP, user_agent=IPHONE)
    assert phone.landing == "https://shop.example/de-mobile"
    click = stored_click(phone.click_id)
    assert (click.variant_id, click.country, click.device) == (de_mobile, "DE", "mobile")
    assert click.landing_url == "https://shop.example/de-mobile"

    tablet = visit(proxied, shop.code, ip=DE_IP, user_agent=IPAD)
    assert stored_click(tablet.click_id).variant_id == de_mobile

    # DE on a desktop, first visit: only the unconditioned offer matches.
    desktop = visit(proxied, shop.code, ip=DE_IP)
    assert desktop.landing == offer_page
    assert stored_click(desktop.click_id).variant_id == offer

    from_gb = visit(proxied, shop.code, ip=GB_IP, user_agent=IPHONE)
    assert from_gb.landing == "https://shop.example/uk"
    assert stored_click(from_gb.click_id).variant_id == gb

    # The desktop visitor comes back (its cookie): the returning variant, country or not.
    again = visit(proxied, shop.code, ip=US_IP, cookie=desktop.visitor_cookie)
    assert again.landing == "https://offers.example/welcome-back"
    returning = stored_click(again.click_id)
    assert returning.variant_id == back
    assert returning.visitor_id == stored_click(desktop.click_id).visitor_id
    # A country condition still beats the visitor kind for a returning visitor.
    uk_again = visit(proxied, shop.code, ip=GB_IP, cookie=desktop.visitor_cookie)
    assert stored_click(uk_again.click_id).variant_id == gb


def test_no_matching_variant_lands_on_the_links_normal_landing(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    link_id = str(
        expect(
            proxied.post(
                f"{API}/links",
                json={
                    "program_id": shop.program_id,
                    "landing_url": "https://shop.example/home",
                    "country_urls": {"GB": "https://shop.example/gb-home"},
                },
                headers=auth(shop.partner_key),
            ),
            201,
        )["id"]
    )
    add_variant(proxied, shop, link_id, landing_url="https://shop.example/se", countries=["SE"])
    code = str(
        expect(proxied.get(f"{API}/links/{link_id}", headers=auth(shop.partner_key)), 200)["code"]
    )
    plain = visit(proxied, code, ip=US_IP)
    assert plain.landing == "https://shop.example/home"
    assert stored_click(plain.click_id).variant_id is None
    # The link's per-country pages still apply when no variant does.
    uk = visit(proxied, code, ip=GB_IP)
    assert uk.landing == "https://shop.example/gb-home"
    assert stored_click(uk.click_id).variant_id is None


def test_a_deep_link_and_the_programs_countries_keep_precedence(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(
        proxied,
        operator_key,
        allowed_countries=["DE", "GB"],
        fallback_url="https://intl.example/",
    )
    variant = add_variant(proxied, shop, landing_url="https://shop.example/variant")

    deep = visit(proxied, shop.code, ip=DE_IP, query="?url=https%3A%2F%2Foffers.example%2Fx")
    assert deep.landing == "https://offers.example/x"
    assert stored_click(deep.click_id).variant_id is None

    # A deep link off the program's hosts is ignored as always; the variant applies.
    refused = visit(proxied, shop.code, ip=DE_IP, query="?url=https%3A%2F%2Fevil.example%2F")
    assert refused.landing == "https://shop.example/variant"

    outside = visit(proxied, shop.code, ip=US_IP)
    assert outside.landing == "https://intl.example/"
    click = stored_click(outside.click_id)
    assert (click.variant_id, click.invalid_reason) == (None, "country_not_allowed")

    inside = visit(proxied, shop.code, ip=GB_IP)
    assert stored_click(inside.click_id).variant_id == variant


def test_the_split_follows_the_weights_and_sticks_to_the_visitor(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    a = add_variant(proxied, shop, landing_url="https://shop.example/a", weight=1)
    b = add_variant(proxied, shop, landing_url="https://shop.example/b", weight=3)
    first = [visit(proxied, shop.code, ip=US_IP) for _ in range(80)]
    shares = Counter(stored_click(v.click_id).variant_id for v in first)
    assert set(shares) == {a, b}
    # 80 new visitors, b with p = 3/4: 60 expected, sd ~3.9; five sd either side.
    assert 40 <= shares[b] <= 79

    for earlier in first[:10]:
        again = [visit(proxied, shop.code, cookie=earlier.visitor_cookie) for _ in range(3)]
        assert {v.landing for v in again} == {earlier.landing}


def test_changes_reach_the_redirect_when_the_link_cache_reloads(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    link_id = another_link(proxied, shop)
    code = str(
        expect(proxied.get(f"{API}/links/{link_id}", headers=auth(shop.partner_key)), 200)["code"]
    )
    variant = add_variant(proxied, shop, link_id, landing_url="https://shop.example/one")
    assert visit(proxied, code).landing == "https://shop.example/one"

    changed = proxied.patch(
        f"{API}/links/{link_id}/variants/{variant}",
        json={"landing_url": "https://shop.example/two"},
        headers=auth(shop.partner_key),
    )
    expect(changed, 200)
    time.sleep(CACHE_TTL_S * 2.5)
    moved = visit(proxied, code)
    assert moved.landing == "https://shop.example/two"
    assert stored_click(moved.click_id).variant_id == variant

    gone = proxied.delete(
        f"{API}/links/{link_id}/variants/{variant}", headers=auth(shop.partner_key)
    )
    assert gone.status_code == 204
    time.sleep(CACHE_TTL_S * 2.5)
    plain = visit(proxied, code)
    assert plain.landing == "https://shop.example/"
    assert stored_click(plain.click_id).variant_id is None


def test_an_offer_stops_when_its_creative_is_deactivated(
    proxied: httpx.Client, operator_key: str
) -> None:
    shop = make_shop(proxied, operator_key)
    creative = make_creative(proxied, shop, "https://offers.example/spring")
    add_variant(proxied, shop, creative_id=creative)
    assert visit(proxied, shop.code).landing == "https://offers.example/spring"
    expect(
        proxied.post(f"{API}/creatives/{creative}/deactivate", headers=auth(shop.advertiser_key)),
        200,
    )
    time.sleep(CACHE_TTL_S * 2.5)
    assert visit(proxied, shop.code).landing == "https://shop.example/"


def test_a_variant_off_the_programs_hosts_is_never_followed() -> None:
    """Stored when the program allowed its host, loaded after the advertiser removed it: the
    cache leaves it out instead of redirecting there."""
    from alliance.crosspromo.variants import Variant
    from alliance.programs.models import Program
    from alliance.tracking.models import Link

    program = Program(
        id="prg_01JD0000000000000000000000",
        landing_url="https://shop.example/",
        cookie_window_days=30,
        deeplink_domains=[],
        allowed_countries=[],
    )
    link = Link(
        id="lnk_01JD0000000000000000000000",
        code="abc",
        program_id=program.id,
        partner_id="ptn_01JD0000000000000000000000",
        country_urls={},
        default_subs={},
    )
    kept = Variant("var_kept", "https://shop.example/ä", 1)
    dropped = Variant("var_dropped", "https://offers.example/gone", 1)
    entry = build_entry(link, program, [kept, dropped])
    assert entry.variants is not None
    assert [v.id for v in entry.variants.variants] == ["var_kept"]
    # Made header-safe like every other landing of the cache.
    assert entry.variants.variants[0].landing_url == "https://shop.example/%C3%A4"
    assert build_entry(link, program, [dropped]).variants is None
    assert build_entry(link, program).variants is None
