"""Creatives through the real server: advertisers publish, approved partners take them with
their own tracking link, everyone else gets 404."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from alliance.programs.creatives import AUTO_LINK_LABEL
from tests.api.factories import (
    API,
    Network,
    apply,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_network,
    make_partner,
    make_program,
)

BANNER: dict[str, Any] = {
    "kind": "banner",
    "name": "Leaderboard",
    "image_url": "https://cdn.example.net/banners/728x90.png",
    "width": 728,
    "height": 90,
    "alt_text": 'Tents "50%" <off> & more',
}


@pytest.fixture()
def net(http: httpx.Client, operator_key: str) -> Network:
    return make_network(
        http,
        operator_key,
        landing_url="https://shop.example/",
        deeplink_domains=["blog.shop.example"],
    )


def create(http: httpx.Client, key: str, program_id: str, body: dict[str, Any]) -> dict[str, Any]:
    url = f"{API}/programs/{program_id}/creatives"
    data: dict[str, Any] = expect(http.post(url, json=body, headers=auth(key)), 201)
    return data


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    data: dict[str, Any] = response.json()
    return data


def follow(http: httpx.Client, tracking_url: str) -> str:
    """Where the real redirect sends a visitor of this tracking URL."""
    parts = urlsplit(tracking_url)
    response = http.get(f"{parts.path}?{parts.query}" if parts.query else parts.path)
    assert response.status_code == 302, response.text
    return response.headers["location"]


def test_partner_gets_each_kind_with_its_own_link_and_snippet(
    http: httpx.Client, net: Network
) -> None:
    banner = create(http, net.advertiser_key, net.program_id, BANNER)
    text = create(
        http,
        net.advertiser_key,
        net.program_id,
        {
            "kind": "text_link",
            "name": "Guide",
            "anchor_text": "Our <best> trail guide",
            "landing_url": "https://blog.shop.example/guides/trails?lang=en&x=1",
        },
    )
    product = create(
        http,
        net.advertiser_key,
        net.program_id,
        {
            "kind": "product",
            "name": "Tent teaser",
            "title": "Trail tent 2P",
            "description": "Light & strong",
            "image_url": "https://cdn.example.net/tent.jpg",
            "landing_url": "https://shop.example/p/tent-2p",
        },
    )
    # The advertiser sees its creatives without partner fields.
    assert banner["tracking_url"] is None and banner["html"] is None
    assert banner["landing_url"] == "https://shop.example/"  # defaulted to the program's

    page = expect(
        http.get(f"{API}/programs/{net.program_id}/creatives", headers=auth(net.partner_key)),
        200,
    )
    by_id = {item["id"]: item for item in page["data"]}
    assert set(by_id) == {banner["id"], text["id"], product["id"]}
    code = net.link["code"]

    # Same landing as the link: the bare tracking URL.
    got = by_id[banner["id"]]
    assert got["tracking_url"].endswith(f"/c/{code}")
    assert got["html"] == (
        f'<a href="{got["tracking_url"]}" rel="sponsored">'
        '<img src="https://cdn.example.net/banners/728x90.png" width="728" height="90" '
        'alt="Tents &quot;50%&quot; &lt;off&gt; &amp; more"></a>'
    )
    assert follow(http, got["tracking_url"]).startswith("https://shop.example/?alclid=clk_")

    # Another landing: deep-linked through the same link, and the redirect follows it.
    got = by_id[text["id"]]
    query = parse_qs(urlsplit(got["tracking_url"]).query)
    assert query == {"url": ["https://blog.shop.example/guides/trails?lang=en&x=1"]}
    assert urlsplit(got["tracking_url"]).path == f"/c/{code}"
    assert got["html"].endswith('rel="sponsored">Our &lt;best&gt; trail guide</a>')
    assert "&amp;" not in got["tracking_url"] and "%26" in got["tracking_url"]
    assert follow(http, got["tracking_url"]).startswith(
        "https://blog.shop.example/guides/trails?lang=en&x=1&alclid=clk_"
    )

    got = by_id[product["id"]]
    assert got["html"] == (
        '<div class="alliance-product">'
        f'<a href="{got["tracking_url"]}" rel="sponsored">'
        '<img src="https://cdn.example.net/tent.jpg" alt="Trail tent 2P"></a>'
        f'<a href="{got["tracking_url"]}" rel="sponsored">Trail tent 2P</a>'
        "<p>Light &amp; strong</p></div>"
    )
    detail = expect(
        http.get(f"{API}/creatives/{product['id']}", headers=auth(net.partner_key)), 200
    )
    assert detail == got


def test_a_partner_without_a_link_gets_one_once(
    http: httpx.Client, operator_key: str, net: Network
) -> None:
    create(http, net.advertiser_key, net.program_id, BANNER)
    _, partner_key = make_partner(http, operator_key)
    enroll_and_approve(http, net.program_id, partner_key, net.advertiser_key)
    links_url = f"{API}/links?program_id={net.program_id}"
    assert expect(http.get(links_url, headers=auth(partner_key)), 200)["data"] == []

    first = expect(http.get(f"{API}/creatives", headers=auth(partner_key)), 200)["data"]
    links = expect(http.get(links_url, headers=auth(partner_key)), 200)["data"]
    assert len(links) == 1 and links[0]["label"] == AUTO_LINK_LABEL
    assert first[0]["tracking_url"] == links[0]["url"]

    again = expect(http.get(f"{API}/creatives", headers=auth(partner_key)), 200)["data"]
    assert again == first
    assert len(expect(http.get(links_url, headers=auth(partner_key)), 200)["data"]) == 1


def test_update_deactivate_and_activate(http: httpx.Client, net: Network) -> None:
    creative = create(http, net.advertiser_key, net.program_id, BANNER)
    url = f"{API}/creatives/{creative['id']}"
    changed = expect(
        http.patch(
            url,
            json={"width": 300, "height": 250, "alt_text": None, "name": "Rectangle"},
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    assert (changed["width"], changed["height"], changed["alt_text"]) == (300, 250, "")
    assert changed["updated_at"] >= creative["updated_at"]
    partner_view = expect(http.get(url, headers=auth(net.partner_key)), 200)
    assert 'alt="Rectangle"' in partner_view["html"]  # no alt text: the name stands in

    expect(http.post(f"{url}/deactivate", headers=auth(net.advertiser_key)), 200)
    problem(http.get(url, headers=auth(net.partner_key)), 404)
    listed = expect(
        http.get(f"{API}/programs/{net.program_id}/creatives", headers=auth(net.partner_key)),
        200,
    )
    assert listed["data"] == []
    inactive = expect(
        http.get(
            f"{API}/creatives?program_id={net.program_id}&active=false",
            headers=auth(net.advertiser_key),
        ),
        200,
    )
    assert [c["id"] for c in inactive["data"]] == [creative["id"]]

    expect(http.post(f"{url}/activate", headers=auth(net.advertiser_key)), 200)
    assert expect(http.get(url, headers=auth(net.partner_key)), 200)["active"] is True


def test_the_operator_manages_any_program(
    http: httpx.Client, operator_key: str, net: Network
) -> None:
    creative = create(
        http,
        operator_key,
        net.program_id,
        {"kind": "text_link", "name": "Sale", "anchor_text": "Sale"},
    )
    listed = expect(
        http.get(f"{API}/creatives?program_id={net.program_id}", headers=auth(operator_key)), 200
    )
    assert creative["id"] in {c["id"] for c in listed["data"]}
    expect(
        http.post(f"{API}/creatives/{creative['id']}/deactivate", headers=auth(operator_key)), 200
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({**BANNER, "width": 0}, "width"),
        ({**BANNER, "height": 4001}, "height"),
        ({**BANNER, "image_url": "http://cdn.example.net/a.png"}, "image_url"),
        ({**BANNER, "image_url": "javascript:alert(1)"}, "image_url"),
        ({k: v for k, v in BANNER.items() if k != "image_url"}, "image_url"),
        ({k: v for k, v in BANNER.items() if k != "width"}, "width"),
        ({**BANNER, "landing_url": "https://evil.example/"}, "landing_url"),
        ({**BANNER, "landing_url": "https://shop.example.evil.example/"}, "landing_url"),
        ({**BANNER, "landing_url": "https://shop.example@evil.example/"}, "landing_url"),
        ({**BANNER, "anchor_text": "hi"}, "anchor_text"),
        ({"kind": "text_link", "name": "x"}, "anchor_text"),
        ({"kind": "text_link", "name": "x", "anchor_text": "x", "width": 10}, "width"),
        ({"kind": "product", "name": "x"}, "title"),
        ({"kind": "video", "name": "x"}, "kind"),
        ({**BANNER, "colour": "red"}, "colour"),
        ({**BANNER, "alt_text": "a\nb"}, "alt_text"),
    ],
)
def test_bad_creatives_are_refused_naming_the_field(
    http: httpx.Client, net: Network, body: dict[str, Any], field: str
) -> None:
    url = f"{API}/programs/{net.program_id}/creatives"
    data = problem(http.post(url, json=body, headers=auth(net.advertiser_key)), 422)
    assert data["field"] == field, data


def test_bad_updates_are_refused(http: httpx.Client, net: Network) -> None:
    creative = create(http, net.advertiser_key, net.program_id, BANNER)
    url = f"{API}/creatives/{creative['id']}"
    for body, field in (
        ({"name": None}, "name"),
        ({"image_url": None}, "image_url"),
        ({"landing_url": "https://evil.example/"}, "landing_url"),
        ({"kind": "text_link"}, "kind"),
        ({"title": "Not for banners"}, "title"),
    ):
        data = problem(http.patch(url, json=body, headers=auth(net.advertiser_key)), 422)
        assert data["field"] == field, data
    unchanged = expect(http.get(url, headers=auth(net.advertiser_key)), 200)
    assert unchanged == creative


def test_only_approved_partners_and_the_owner_see_creatives(
    http: httpx.Client, operator_key: str, net: Network
) -> None:
    creative = create(http, net.advertiser_key, net.program_id, BANNER)
    program_url = f"{API}/programs/{net.program_id}/creatives"
    creative_url = f"{API}/creatives/{creative['id']}"

    _, stranger = make_partner(http, operator_key)  # never applied
    _, applicant = make_partner(http, operator_key)
    apply(http, net.program_id, applicant)  # applied, not approved
    _, other_adv = make_advertiser(http, operator_key)
    other_program = make_program(http, other_adv)
    for key in (stranger, applicant, other_adv):
        problem(http.get(program_url, headers=auth(key)), 404)
        problem(http.get(creative_url, headers=auth(key)), 404)
        problem(http.get(f"{API}/creatives?program_id={net.program_id}", headers=auth(key)), 404)
        everything = expect(http.get(f"{API}/creatives", headers=auth(key)), 200)
        assert creative["id"] not in {c["id"] for c in everything["data"]}
    # Writing is the owner's (or the operator's): a foreign program or creative is 404.
    problem(http.patch(creative_url, json={"name": "x"}, headers=auth(other_adv)), 404)
    problem(http.post(f"{creative_url}/deactivate", headers=auth(other_adv)), 404)
    problem(http.post(program_url, json=BANNER, headers=auth(other_adv)), 404)
    # Partners never write.
    problem(http.post(program_url, json=BANNER, headers=auth(net.partner_key)), 403)
    problem(http.patch(creative_url, json={"name": "x"}, headers=auth(net.partner_key)), 403)
    # The other advertiser's own program has none of these.
    theirs = expect(
        http.get(f"{API}/programs/{other_program['id']}/creatives", headers=auth(other_adv)), 200
    )
    assert theirs["data"] == []
    # A suspended partner loses access too.
    enrollment_id = net.enrollment["id"]
    expect(
        http.post(f"{API}/enrollments/{enrollment_id}/suspend", headers=auth(net.advertiser_key)),
        200,
    )
    problem(http.get(creative_url, headers=auth(net.partner_key)), 404)
    problem(http.get(program_url, headers=auth(net.partner_key)), 404)


@pytest.mark.parametrize("bad_id", ["crv_nope", "prg_01JD0000000000000000000000", "x" * 300])
def test_malformed_or_unknown_ids_are_404(http: httpx.Client, net: Network, bad_id: str) -> None:
    problem(http.get(f"{API}/creatives/{bad_id}", headers=auth(net.advertiser_key)), 404)
