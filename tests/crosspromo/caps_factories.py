"""A co-promotion to cap: A promotes B's own offer on two slots of one campaign."""

from __future__ import annotations

from typing import Any

import httpx

from tests.api.factories import API, auth, expect

from .campaign_factories import World, act, add_slot, at, create, party

CO_PROMOTION_LANDING = "https://brand.example/spring-swap"
PLAIN_LANDING = "https://brand.example/"  # the brand program's landing (campaign_factories)


def swap_campaign(http: httpx.Client, world: World) -> tuple[dict[str, Any], list[str]]:
    """A organises with B; two slots where A promotes B's own offer on its own landing
    page; proposed and accepted. Returns the campaign and the two slots' link codes."""
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}])
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    for title in ("Guest post", "Newsletter"):
        expect(
            add_slot(
                http,
                world.a.key,
                campaign,
                promoter_party_id=pa,
                beneficiary_party_id=pb,
                program_id=world.b_offer_id,
                title=title,
                landing_url=CO_PROMOTION_LANDING,
                starts_at=at(-0.5),
                ends_at=at(2),
            ),
            201,
        )
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    agreed: dict[str, Any] = expect(act(http, world.b.key, campaign["id"], "accept"), 200)
    codes = [slot["link"]["code"] for slot in agreed["slots"]]
    return agreed, codes


def add_rule(http: httpx.Client, key: str, **body: Any) -> httpx.Response:
    return http.post(f"{API}/fatigue-caps", json=body, headers=auth(key))
