"""A network for the link-variant tests, built through the REST API, and a server that trusts
X-Forwarded-For (so a test chooses the visitor's country) with a short link-cache lifetime
(so a changed variant reaches the redirect within a second)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from sqlalchemy import select

from alliance.db.engine import reading
from alliance.tracking.models import Click
from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_link,
    make_partner,
    make_program,
)
from tests.conftest import Server

DESKTOP = "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"
IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
IPAD = (
    "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
DE_IP, GB_IP, US_IP = "85.214.132.117", "81.2.69.142", "8.8.8.8"
CACHE_TTL_S = 0.5


@contextmanager
def proxied_server(db_url: str) -> Iterator[httpx.Client]:
    """A client of a server of its own that trusts X-Forwarded-For and reloads links after
    CACHE_TTL_S (a module fixture in each test file: `with proxied_server(db_url) as c`)."""
    server = Server(
        db_url,
        env={
            "ALLIANCE_TRUST_FORWARDED_FOR": "true",
            "ALLIANCE_LINK_CACHE_TTL_S": str(CACHE_TTL_S),
        },
    ).start()
    try:
        with httpx.Client(base_url=server.url, timeout=10, follow_redirects=False) as client:
            yield client
    finally:
        server.stop()


@dataclass(frozen=True)
class Shop:
    """An advertiser's program (landing https://shop.example/, deep links to offers.example)
    with one approved partner holding one link."""

    advertiser_key: str
    program: dict[str, Any]
    partner_id: str
    partner_key: str
    link: dict[str, Any]

    @property
    def program_id(self) -> str:
        return str(self.program["id"])

    @property
    def link_id(self) -> str:
        return str(self.link["id"])

    @property
    def code(self) -> str:
        return str(self.link["code"])


def make_shop(http: httpx.Client, operator_key: str, **program: Any) -> Shop:
    _, adv_key = make_advertiser(http, operator_key, currency="EUR", country="DE")
    prog = make_program(
        http,
        adv_key,
        currency="EUR",
        deeplink_domains=["offers.example"],
        commission={"type": "cps", "percent": "10"},
        **program,
    )
    partner_id, partner_key = make_partner(http, operator_key)
    enroll_and_approve(http, prog["id"], partner_key, adv_key)
    link = make_link(http, partner_key, prog["id"])
    return Shop(adv_key, prog, partner_id, partner_key, link)


def another_link(http: httpx.Client, shop: Shop) -> str:
    """A second link of the shop's partner; returns its id."""
    return str(make_link(http, shop.partner_key, shop.program_id)["id"])


def add_variant(http: httpx.Client, shop: Shop, link_id: str | None = None, **body: Any) -> str:
    answer = http.post(
        f"{API}/links/{link_id or shop.link_id}/variants",
        json=body,
        headers=auth(shop.partner_key),
    )
    return str(expect(answer, 201)["id"])


def make_creative(http: httpx.Client, shop: Shop, landing_url: str) -> str:
    body = {
        "kind": "text_link",
        "name": "Winter offer",
        "landing_url": landing_url,
        "anchor_text": "Winter sale",
    }
    answer = http.post(
        f"{API}/programs/{shop.program_id}/creatives", json=body, headers=auth(shop.advertiser_key)
    )
    return str(expect(answer, 201)["id"])


@dataclass(frozen=True)
class Visit:
    click_id: str
    landing: str  # the Location without its alclid
    visitor_cookie: str  # "alc_prg_...=vis_..." to send back as a returning visitor


def visit(
    client: httpx.Client,
    code: str,
    *,
    ip: str | None = None,
    user_agent: str = DESKTOP,
    cookie: str | None = None,
    query: str = "",
) -> Visit:
    headers = {"User-Agent": user_agent}
    if ip:
        headers["X-Forwarded-For"] = ip
    if cookie:
        headers["Cookie"] = cookie
    # Every visit is a browser of its own: only the cookie given is sent back.
    client.cookies.clear()
    answer = client.get(f"/c/{code}{query}", headers=headers)
    client.cookies.clear()
    assert answer.status_code == 302, answer.text
    location = answer.headers["location"]
    (click_id,) = parse_qs(urlsplit(location).query)["alclid"]
    landing = location.replace(f"?alclid={click_id}", "").replace(f"&alclid={click_id}", "")
    set_cookie = answer.headers["set-cookie"].split(";", 1)[0]
    return Visit(click_id, landing, set_cookie)


def stored_click(click_id: str) -> Click:
    with reading() as session:
        row = session.scalars(select(Click).where(Click.id == click_id)).one()
        session.expunge(row)
        return row
