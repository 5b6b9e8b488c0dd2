"""A small network for co-promotion campaigns, built through the REST API.

Two advertisers: the shop (its program `program_id`, where partners A, B and C are approved)
and a second one whose program only B is approved in (`b_offer_id`: B's own offer, which
others promote with B's link). Partner D is approved nowhere.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from alliance.clock import utcnow
from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_partner,
    make_program,
)


@dataclass(frozen=True)
class Account:
    id: str
    key: str


@dataclass(frozen=True)
class World:
    shop: Account
    program_id: str
    brand: Account
    b_offer_id: str
    a: Account  # in Germany
    b: Account  # in the US
    c: Account
    d: Account  # approved in nothing


def make_world(http: httpx.Client, operator_key: str) -> World:
    shop_id, shop_key = make_advertiser(http, operator_key, currency="EUR", country="DE")
    program = make_program(http, shop_key, currency="EUR")
    brand_id, brand_key = make_advertiser(http, operator_key, currency="EUR", country="DE")
    offer = make_program(http, brand_key, currency="EUR", landing_url="https://brand.example/")
    # With contact addresses: the campaign's mails go to them (no team users here).
    # Mails are in the language of a partner's country: A reads German, B English.
    partners = [
        Account(
            *make_partner(
                http, operator_key, country=country, email=f"p{uuid.uuid4().hex[:10]}@example.com"
            )
        )
        for country in ("DE", "US", "SE", "ES")
    ]
    a, b, c, d = partners
    for partner in (a, b, c):
        enroll_and_approve(http, program["id"], partner.key, shop_key)
    enroll_and_approve(http, offer["id"], b.key, brand_key)
    return World(
        Account(shop_id, shop_key),
        program["id"],
        Account(brand_id, brand_key),
        offer["id"],
        a,
        b,
        c,
        d,
    )


def at(days: float = 0, hours: float = 0) -> str:
    return (utcnow() + timedelta(days=days, hours=hours)).isoformat()


def create(http: httpx.Client, key: str, **body: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "title": "Spring swap",
        "kind": "content",
        "time_zone": "Europe/Berlin",
        "starts_at": at(-1),
        "ends_at": at(30),
        **body,
    }
    data: dict[str, Any] = expect(
        http.post(f"{API}/campaigns", json=payload, headers=auth(key)), 201
    )
    return data


def party(campaign: dict[str, Any], account_id: str) -> str:
    for row in campaign["parties"]:
        if account_id in (row["partner_id"], row["advertiser_id"]):
            return str(row["id"])
    raise AssertionError(f"{account_id} is not a party")


def add_slot(http: httpx.Client, key: str, campaign: dict[str, Any], **body: Any) -> httpx.Response:
    payload = {
        "channel": "blog",
        "title": "Guest post",
        "starts_at": at(3),
        "ends_at": at(4),
        **body,
    }
    return http.post(f"{API}/campaigns/{campaign['id']}/slots", json=payload, headers=auth(key))


def act(
    http: httpx.Client, key: str, campaign_id: str, action: str, body: dict[str, Any] | None = None
) -> httpx.Response:
    return http.post(f"{API}/campaigns/{campaign_id}/{action}", json=body, headers=auth(key))


def get(http: httpx.Client, key: str, campaign_id: str) -> dict[str, Any]:
    data: dict[str, Any] = expect(
        http.get(f"{API}/campaigns/{campaign_id}", headers=auth(key)), 200
    )
    return data


def agreed_campaign(
    http: httpx.Client, world: World, *, slot_start: float = 3, **body: Any
) -> dict[str, Any]:
    """A campaign organised by A with B: A promotes B's own offer (with B's link), B promotes
    the shop's program for A (with A's link); proposed and accepted by both, so active (or
    live when `slot_start` is in the past)."""
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}], **body)
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pa,
            beneficiary_party_id=pb,
            program_id=world.b_offer_id,
            starts_at=at(slot_start),
            ends_at=at(slot_start + 1),
        ),
        201,
    )
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pb,
            beneficiary_party_id=pa,
            program_id=world.program_id,
            channel="newsletter",
            title="Mailing",
            starts_at=at(slot_start + 2),
            ends_at=at(slot_start + 3),
        ),
        201,
    )
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    return dict(expect(act(http, world.b.key, campaign["id"], "accept"), 200))


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)
