"""The partner pages against a real server: overview, marketplace and joining, links with QR
codes, coupons, creatives — each showing the signed-in partner's data and never another's.

The world: one advertiser with three programs (a CPS program both partners are approved in,
a CPO program nobody joined, a paused one), our partner and another partner, each with a
labelled link, a coupon and clicks. Every filter the tests use names something unique to this
module, since other modules add programs to the same database.
"""

from __future__ import annotations

import base64
import html
import io
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pytest
import segno
from sqlalchemy import select

from alliance.accounts.users import Role
from alliance.db.engine import reading
from alliance.programs.models import Enrollment
from alliance.tracking.models import Link
from alliance.web.partner_common import QR_BORDER, QR_SCALE, qr_svg
from alliance.web.templating import money
from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    insert_click,
    make_advertiser,
    make_coupon,
    make_link,
    make_partner,
    make_program,
)
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("partner-pages")

XSS = "<img src=x onerror=alert(1)>"


@dataclass(frozen=True)
class World:
    tag: str
    advertiser_key: str
    cps: dict[str, Any]  # both partners approved
    cpo: dict[str, Any]  # nobody enrolled
    paused: dict[str, Any]
    partner_id: str
    partner_key: str
    link: dict[str, Any]
    coupon: dict[str, Any]
    other_id: str
    other_key: str
    other_link: dict[str, Any]
    other_coupon: dict[str, Any]


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> Iterator[World]:
    tag = uuid.uuid4().hex[:8]
    with httpx.Client(base_url=server.url, timeout=15) as http:
        _, adv_key = make_advertiser(http, operator_key, currency="SEK")
        cps = make_program(
            http,
            adv_key,
            name=f"Fashion {tag}",
            category=f"fashion-{tag}",
            allowed_countries=["SE", "DE"],
            cookie_window_days=45,
            commission={
                "type": "cps",
                "percent": "8",
                "overrides": [{"when": {"customer": "new"}, "percent": "12"}],
                "tiers": [{"min_orders": 50, "percent": "10"}],
            },
        )
        cpo = make_program(
            http,
            adv_key,
            name=f"Travel {tag}",
            category=f"travel-{tag}",
            commission={"type": "cpo", "amount": "50"},
        )
        paused = make_program(http, adv_key, name=f"Paused {tag}", category=f"fashion-{tag}")
        expect(
            http.patch(
                f"{API}/programs/{paused['id']}", json={"status": "paused"}, headers=auth(adv_key)
            ),
            200,
        )
        partner_id, partner_key = make_partner(http, operator_key, name=f"Ours {tag}")
        other_id, other_key = make_partner(http, operator_key, name=f"Rival {tag}")
        for key in (partner_key, other_key):
            enroll_and_approve(http, cps["id"], key, adv_key)
        link = make_link(
            http, partner_key, cps["id"], label=f"our-label-{tag}", default_subs={"sub1": "nl"}
        )
        other_link = make_link(http, other_key, cps["id"], label=f"rival-label-{tag}")
        coupon = make_coupon(http, adv_key, cps["id"], partner_id, f"OURS{tag.upper()}")
        other_coupon = make_coupon(http, adv_key, cps["id"], other_id, f"RIVAL{tag.upper()}")
    for _ in range(3):
        insert_click(cps["id"], partner_id, link["id"])
    for _ in range(5):
        insert_click(cps["id"], other_id, other_link["id"])
    yield World(
        tag,
        adv_key,
        cps,
        cpo,
        paused,
        partner_id,
        partner_key,
        link,
        coupon,
        other_id,
        other_key,
        other_link,
        other_coupon,
    )


@pytest.fixture(scope="module")
def me(server: Server, world: World) -> Iterator[Browser]:
    b = signed_in(server, world.partner_id)
    yield b
    b.close()


@pytest.fixture(scope="module")
def viewer_only(server: Server, world: World) -> Iterator[Browser]:
    b = signed_in(server, world.partner_id, Role.read_only)
    yield b
    b.close()


def page(b: Browser, path: str) -> str:
    answer = b.get(path)
    assert answer.status_code == 200, answer.text[:2000]
    assert answer.text.count("<h1") == 1
    return answer.text


def text_of(markup: str) -> str:
    """The page's text with tags removed and entities decoded, spaces collapsed."""
    # Collapse ASCII whitespace only: the no-break space inside amounts ("SEK\xa050.00") stays.
    text = html.unescape(re.sub(r"<[^>]+>", " ", markup))
    return " ".join(re.split(r"[ \t\r\n]+", text)).strip()


# --- every page --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "/partner",
        "/partner/marketplace",
        "/partner/links",
        "/partner/creatives",
        "/partner/earnings",
        "/partner/statement",
        "/partner/postbacks",
    ],
)
def test_each_page_renders_for_the_partner_only(
    server: Server, world: World, me: Browser, path: str
) -> None:
    body = page(me, path)
    assert 'aria-current="page"' in body  # the menu marks where we are
    assert "style=" not in body and "<style" not in body and "<script>" not in body
    assert f"Rival {world.tag}" not in body and world.other_link["code"] not in body
    # Not signed in: to the login page. Another kind of account: 403.
    anonymous = httpx.get(server.url + path, follow_redirects=False)
    assert anonymous.status_code == 303 and anonymous.headers["location"].startswith("/login")


def test_advertiser_users_get_403(server: Server, world: World) -> None:
    with httpx.Client(base_url=server.url) as http:
        adv = expect(http.get(f"{API}/advertisers", headers=auth(world.advertiser_key)), 200)
    advertiser = signed_in(server, adv["data"][0]["id"])
    try:
        assert advertiser.get("/partner/links").status_code == 403
        assert advertiser.get("/partner/statement.csv").status_code == 403
    finally:
        advertiser.close()


# --- overview ----------------------------------------------------------------------------


def kpi(body: str, label: str) -> str:
    found = re.search(
        rf'<p class="kpi-label">{re.escape(label)}</p>\s*<p class="kpi-value">([^<]*)</p>', body
    )
    assert found, f"no KPI {label!r}"
    return html.unescape(found.group(1)).strip()


def test_overview_counts_our_clicks_and_programs(world: World, me: Browser) -> None:
    body = page(me, "/partner")
    assert kpi(body, "Clicks") == "3"  # the rival's 5 clicks are not ours
    assert kpi(body, "Programs joined") == "1"
    assert f"Fashion {world.tag}" in body  # the per-program table
    for href in ("/partner/marketplace", "/partner/links", "/partner/statement"):
        assert f'href="{href}"' in body


# --- marketplace -------------------------------------------------------------------------


def test_marketplace_tells_terms_in_words_and_our_state(world: World, me: Browser) -> None:
    body = page(me, f"/partner/marketplace?q={world.tag}")
    text = text_of(body)
    assert f"Fashion {world.tag}" in text and f"Travel {world.tag}" in text
    assert f"Paused {world.tag}" not in text  # not open to partners
    assert "8 % of the order; 12 % for new customers; 10 % from 50 orders a month" in text
    assert f"{money(Decimal(50), 'SEK')} per order" in text
    assert "45 days" in text and "Sweden (SE), Germany (DE)" in text
    assert "not applied" in text and "approved" in text
    assert f"Rival {world.tag}" not in text  # aggregates only

    only_travel = text_of(page(me, f"/partner/marketplace?category=travel-{world.tag}"))
    assert f"Travel {world.tag}" in only_travel and f"Fashion {world.tag}" not in only_travel
    # France: the fashion program is for Sweden and Germany only; travel is for everyone.
    in_france = text_of(page(me, f"/partner/marketplace?q={world.tag}&country=fr"))
    assert f"Travel {world.tag}" in in_france and f"Fashion {world.tag}" not in in_france
    nothing = text_of(page(me, "/partner/marketplace?q=no-such-program-" + world.tag))
    assert "No program matches" in nothing


def test_program_detail_shows_the_full_terms(world: World, me: Browser) -> None:
    text = text_of(page(me, f"/partner/marketplace/{world.cps['id']}"))
    assert "Percentage of sales (CPS)" in text
    assert "the order amount excluding tax and shipping" in text
    assert "new customers 12 %" in text and "from 50 orders a month 10 %" in text
    assert "Your enrollment" in text and "Get your links and coupons" in text
    missing = me.get("/partner/marketplace/prg_01J00000000000000000000000")
    assert missing.status_code == 404


def test_joining_creates_a_pending_enrollment(
    server: Server, world: World, operator_key: str
) -> None:
    # A fresh partner, so the test does not depend on the order the others run in.
    with httpx.Client(base_url=server.url, timeout=15) as http:
        newcomer_id, _ = make_partner(http, operator_key)
    b = signed_in(server, newcomer_id)
    try:
        detail = f"/partner/marketplace/{world.cpo['id']}"
        answer = b.post(f"{detail}/apply", {"message": "We write about travel."}, token_from=detail)
        assert answer.status_code == 303 and answer.headers["location"] == detail
        with reading() as session:
            enrollment = session.scalar(
                select(Enrollment).where(
                    Enrollment.partner_id == newcomer_id,
                    Enrollment.program_id == world.cpo["id"],
                )
            )
        assert enrollment is not None and enrollment.status == "applied"
        assert enrollment.message == "We write about travel."
        shown = text_of(page(b, detail))
        assert "pending review" in shown and "Application sent" in shown
        again = b.post(f"{detail}/apply", {}, token_from=detail)
        assert again.status_code == 409 and "already enrolled" in again.text
        # A paused program takes no application.
        paused = f"/partner/marketplace/{world.paused['id']}"
        refused = b.post(f"{paused}/apply", {}, token_from="/partner/marketplace")
        assert refused.status_code == 404  # not visible: paused and never joined
    finally:
        b.close()


# --- links and coupons -------------------------------------------------------------------


def qr_payload(body: str, url: str) -> bytes:
    found = re.search(
        r'<img class="qr-code" src="data:image/svg\+xml;base64,([A-Za-z0-9+/=]+)" '
        rf'alt="QR code for {re.escape(url)}"',
        body,
    )
    assert found, f"no QR code for {url}"
    return base64.b64decode(found.group(1))


def test_links_page_shows_our_links_with_qr_codes_and_coupons(world: World, me: Browser) -> None:
    body = page(me, "/partner/links")
    url = world.link["url"]
    assert f'value="{url}"' in body and 'data-copy="url-' in body
    svg = qr_payload(body, url)
    expected = io.BytesIO()
    segno.make(url, error="m", micro=False).save(
        expected,
        kind="svg",
        xmldecl=False,
        svgns=True,
        scale=QR_SCALE,
        border=QR_BORDER,
        title=f"QR code for {url}",
    )
    assert svg == expected.getvalue() == qr_svg(url)
    assert segno.make(url, error="m", micro=False).designator  # a real QR symbol was made
    assert f"our-label-{world.tag}" in body and "nl" in body
    assert f'value="{world.coupon["code"]}"' in body
    # Nothing of the rival's.
    assert world.other_link["code"] not in body and f"rival-label-{world.tag}" not in body
    assert world.other_coupon["code"] not in body


def test_creating_a_link_shows_its_url_and_qr(world: World, me: Browser) -> None:
    label = f"new-{world.tag}"
    answer = me.post(
        "/partner/links",
        {
            "program_id": world.cps["id"],
            "label": label,
            "landing_url": "https://shop.example/sale",
            "sub2": "summer",
        },
        token_from="/partner/links",
    )
    assert answer.status_code == 303, answer.text[:2000]
    location = answer.headers["location"]
    link_id = location.rsplit("#", 1)[1]
    body = page(me, location.split("#")[0])
    block = body[body.index(f'id="{link_id}"') :]
    url = re.search(r'value="(http[^"]+/c/[^"]+)"', block)
    assert url and label in block and "https://shop.example/sale" in block
    assert qr_payload(block, url.group(1)) == qr_svg(url.group(1))
    assert "Link created: " + url.group(1) in text_of(body)


def test_link_form_refusals_name_the_field(world: World, me: Browser) -> None:
    off_site = me.post(
        "/partner/links",
        {"program_id": world.cps["id"], "landing_url": "https://evil.example/"},
        token_from="/partner/links",
    )
    assert off_site.status_code == 422 and "(field: landing_url)" in text_of(off_site.text)
    not_url = me.post(
        "/partner/links",
        {"program_id": world.cps["id"], "landing_url": "javascript:alert(1)"},
        token_from="/partner/links",
    )
    assert not_url.status_code == 422 and "(field: landing_url)" in text_of(not_url.text)
    control = me.post(
        "/partner/links",
        {"program_id": world.cps["id"], "sub3": "a\u0000b"},
        token_from="/partner/links",
    )
    assert control.status_code == 422 and "(field: sub3)" in text_of(control.text)
    not_approved = me.post(
        "/partner/links", {"program_id": world.cpo["id"]}, token_from="/partner/links"
    )
    assert not_approved.status_code == 403 and "(field: program_id)" in text_of(not_approved.text)


def test_xss_in_a_label_and_a_sub_id_is_text(world: World, me: Browser) -> None:
    answer = me.post(
        "/partner/links",
        {"program_id": world.cps["id"], "label": XSS, "sub1": XSS},
        token_from="/partner/links",
    )
    assert answer.status_code == 303
    body = page(me, "/partner/links")
    assert XSS not in body
    assert "&lt;img src=x onerror=alert(1)&gt;" in body


# --- creatives ---------------------------------------------------------------------------


def test_creatives_carry_our_own_link(world: World, me: Browser) -> None:
    with httpx.Client(base_url=me.client.base_url) as http:
        expect(
            http.post(
                f"{API}/programs/{world.cps['id']}/creatives",
                json={
                    "kind": "banner",
                    "name": f"Banner {world.tag}",
                    "image_url": "https://cdn.example/b.png",
                    "width": 300,
                    "height": 250,
                    "alt_text": XSS,
                },
                headers=auth(world.advertiser_key),
            ),
            201,
        )
        expect(
            http.post(
                f"{API}/programs/{world.cps['id']}/creatives",
                json={"kind": "text_link", "name": f"Text {world.tag}", "anchor_text": "Shop now"},
                headers=auth(world.advertiser_key),
            ),
            201,
        )
    body = page(me, f"/partner/creatives?program_id={world.cps['id']}")
    assert f"Banner {world.tag}" in body and f"Text {world.tag}" in body
    snippets = [html.unescape(s) for s in re.findall(r'id="html-[^"]+"[^>]*value="([^"]*)"', body)]
    assert len(snippets) == 2
    assert all(world.link["code"] in s or "/c/" in s for s in snippets)
    assert all(world.other_link["code"] not in s for s in snippets)
    assert any('rel="sponsored">Shop now</a>' in s for s in snippets)
    # The image is on another host: the CSP would block it, so it is shown as text.
    assert '<img class="creative-preview"' not in body and "https://cdn.example/b.png" in body
    assert XSS not in body
    banners = page(me, f"/partner/creatives?program_id={world.cps['id']}&kind=banner")
    assert f"Banner {world.tag}" in banners and f"Text {world.tag}" not in banners


# --- who may change things ---------------------------------------------------------------


def test_read_only_members_cannot_post(world: World, viewer_only: Browser) -> None:
    page(viewer_only, "/partner/links")  # they see everything
    posts = {
        f"/partner/marketplace/{world.cpo['id']}/apply": {},
        "/partner/links": {"program_id": world.cps["id"], "label": "nope"},
        "/partner/postbacks": {"url": "https://1.1.1.1/pb?c={click_id}"},
    }
    for path, data in posts.items():
        answer = viewer_only.post(path, data, token_from="/partner/links")
        assert answer.status_code == 403, path
    with reading() as session:
        assert (
            session.scalar(
                select(Enrollment.id).where(
                    Enrollment.partner_id == world.partner_id,
                    Enrollment.program_id == world.cpo["id"],
                )
            )
            is None
        )


def test_a_post_without_the_csrf_token_is_refused(world: World, me: Browser) -> None:
    answer = me.client.post("/partner/links", data={"program_id": world.cps["id"]})
    assert answer.status_code == 403
    forged = me.client.post(
        "/partner/links",
        data={"program_id": world.cps["id"], "csrf_token": "forged"},
    )
    assert forged.status_code == 403


def test_the_rival_sees_only_its_own(server: Server, world: World) -> None:
    rival = signed_in(server, world.other_id)
    try:
        body = page(rival, "/partner/links")
        assert f"rival-label-{world.tag}" in body and world.other_coupon["code"] in body
        assert f"our-label-{world.tag}" not in body and world.coupon["code"] not in body
        assert kpi(page(rival, "/partner"), "Clicks") == "5"
    finally:
        rival.close()


def test_creatives_make_a_link_only_for_members_who_may_write(
    server: Server, world: World, operator_key: str
) -> None:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        newcomer_id, newcomer_key = make_partner(http, operator_key)
        enroll_and_approve(http, world.cps["id"], newcomer_key, world.advertiser_key)
        expect(
            http.post(
                f"{API}/programs/{world.cps['id']}/creatives",
                json={"kind": "text_link", "name": f"Fresh {world.tag}", "anchor_text": "Go"},
                headers=auth(world.advertiser_key),
            ),
            201,
        )

    def links_of_newcomer() -> list[str]:
        with reading() as session:
            return list(session.scalars(select(Link.code).where(Link.partner_id == newcomer_id)))

    path = f"/partner/creatives?program_id={world.cps['id']}"
    read_only = signed_in(server, newcomer_id, Role.read_only)
    owner = signed_in(server, newcomer_id)
    try:
        body = page(read_only, path)
        assert f"Fresh {world.tag}" in body and 'id="html-' not in body
        assert "You have no link in this program yet" in body
        assert links_of_newcomer() == []  # a GET by a read-only member wrote nothing
        body = page(owner, path)
        codes = links_of_newcomer()
        assert len(codes) == 1 and 'id="html-' in body and f"/c/{codes[0]}" in body
        page(owner, path)
        assert links_of_newcomer() == codes  # made once
    finally:
        read_only.close()
        owner.close()


def test_a_link_with_landing_pages_per_country(world: World, me: Browser) -> None:
    label = f"geo-{world.tag}"
    answer = me.post(
        "/partner/links",
        {
            "program_id": world.cps["id"],
            "label": label,
            "country_urls": "de https://shop.example/de\n\nAT=https://shop.example/at\n",
        },
        token_from="/partner/links",
    )
    assert answer.status_code == 303, answer.text[:2000]
    link_id = answer.headers["location"].rsplit("#", 1)[1]
    body = page(me, answer.headers["location"].split("#")[0])
    block = body[body.index(f'id="{link_id}"') :]
    block = block[: block.index("</li>")]
    shown = text_of(block)
    assert "Per country:" in shown
    assert "AT → https://shop.example/at" in shown and "DE → https://shop.example/de" in shown


def test_country_url_refusals_name_the_field(world: World, me: Browser) -> None:
    for bad in ("DE", "XX https://shop.example/x", "DE https://evil.example/", "DE javascript:x"):
        answer = me.post(
            "/partner/links",
            {"program_id": world.cps["id"], "country_urls": bad},
            token_from="/partner/links",
        )
        assert answer.status_code in (400, 422), (bad, answer.status_code)
        assert "(field: country_urls)" in text_of(answer.text), bad
