"""Fatigue caps end to end: rules made through the API, visits through the real redirect of
a server of its own, and the click rows it stored (ADR 0024)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from tests.api.factories import API, auth, expect

from .campaign_factories import make_world
from .caps_factories import CO_PROMOTION_LANDING, PLAIN_LANDING, add_rule, swap_campaign
from .variant_factories import proxied_server, stored_click, visit

pytestmark = pytest.mark.xdist_group("fatigue-caps-redirect")


@pytest.fixture(scope="module")
def proxied(db_url: str) -> Iterator[httpx.Client]:
    with proxied_server(db_url) as client:
        yield client


def test_a_visitor_over_a_slot_cap_lands_on_the_plain_page_and_the_click_is_capped(
    proxied: httpx.Client, operator_key: str
) -> None:
    world = make_world(proxied, operator_key)
    campaign, (first, second) = swap_campaign(proxied, world)
    slot_id = campaign["slots"][0]["id"]
    rule = expect(
        add_rule(
            proxied,
            world.a.key,
            scope="slot",
            campaign_id=campaign["id"],
            slot_id=slot_id,
            maximum=2,
            window="lifetime",
        ),
        201,
    )
    assert (rule["scope"], rule["slot_id"], rule["maximum"]) == ("slot", slot_id, 2)

    one = visit(proxied, first)
    assert one.landing == CO_PROMOTION_LANDING
    two = visit(proxied, first, cookie=one.visitor_cookie)
    assert two.landing == CO_PROMOTION_LANDING
    three = visit(proxied, first, cookie=one.visitor_cookie)
    assert three.landing == PLAIN_LANDING
    capped = stored_click(three.click_id)
    assert capped.invalid_reason == "capped" and capped.landing_url == PLAIN_LANDING
    # Capped clicks are no exposure, but the visitor stays over the cap.
    four = visit(proxied, first, cookie=one.visitor_cookie)
    assert stored_click(four.click_id).invalid_reason == "capped"
    assert stored_click(two.click_id).invalid_reason is None
    # The other slot has no rule; another visitor has no exposure.
    other_slot = visit(proxied, second, cookie=one.visitor_cookie)
    assert other_slot.landing == CO_PROMOTION_LANDING
    assert stored_click(other_slot.click_id).invalid_reason is None
    stranger = visit(proxied, first)
    assert stranger.landing == CO_PROMOTION_LANDING


def test_a_pair_cap_counts_every_slot_of_the_two_partners_together(
    proxied: httpx.Client, operator_key: str
) -> None:
    world = make_world(proxied, operator_key)
    campaign, (first, second) = swap_campaign(proxied, world)
    expect(
        add_rule(
            proxied,
            world.a.key,
            scope="pair",
            campaign_id=campaign["id"],
            partner_ids=[world.b.id, world.a.id],
            maximum=1,
            window="rolling",
            window_hours=24,
        ),
        201,
    )
    seen = visit(proxied, first)
    assert seen.landing == CO_PROMOTION_LANDING
    again = visit(proxied, second, cookie=seen.visitor_cookie)
    assert again.landing == PLAIN_LANDING
    assert stored_click(again.click_id).invalid_reason == "capped"


def test_links_that_are_no_co_promotion_ignore_network_caps(
    proxied: httpx.Client, operator_key: str
) -> None:
    world = make_world(proxied, operator_key)
    own = expect(
        proxied.post(
            f"{API}/links", json={"program_id": world.b_offer_id}, headers=auth(world.b.key)
        ),
        201,
    )
    # A network rule that would cap anyone's second co-promotion click today.
    rule = expect(
        add_rule(
            proxied,
            operator_key,
            scope="network",
            maximum=1,
            window="calendar_day",
            time_zone="Europe/Stockholm",
        ),
        201,
    )
    try:
        one = visit(proxied, own["code"])
        two = visit(proxied, own["code"], cookie=one.visitor_cookie)
        assert stored_click(two.click_id).invalid_reason is None
        # The same rule does hold a co-promotion link back: its second click is capped.
        _, (slot_code, _) = swap_campaign(proxied, world)
        seen = visit(proxied, slot_code)
        again = visit(proxied, slot_code, cookie=seen.visitor_cookie)
        assert again.landing == PLAIN_LANDING
        assert stored_click(again.click_id).invalid_reason == "capped"
    finally:
        # The suite shares the database: a network cap must not outlive this test.
        expect_deleted = proxied.delete(
            f"{API}/fatigue-caps/{rule['id']}", headers=auth(operator_key)
        )
        assert expect_deleted.status_code == 204


def test_refusals_name_the_field_and_foreign_campaigns_are_404(
    proxied: httpx.Client, operator_key: str
) -> None:
    world = make_world(proxied, operator_key)
    campaign, _ = swap_campaign(proxied, world)
    cid = campaign["id"]
    base = {"scope": "campaign", "campaign_id": cid, "maximum": 3, "window": "lifetime"}

    hours = add_rule(proxied, world.a.key, **{**base, "window": "rolling"})
    assert hours.status_code == 422 and hours.json()["field"] == "window_hours"
    zone = add_rule(proxied, world.a.key, **{**base, "window": "calendar_day", "time_zone": "X/Y"})
    assert zone.status_code == 422 and zone.json()["field"] == "time_zone"
    too_many = add_rule(proxied, world.a.key, **{**base, "maximum": 0})
    assert too_many.status_code == 422
    no_campaign = add_rule(proxied, world.a.key, **{**base, "campaign_id": None})
    assert no_campaign.status_code == 422 and no_campaign.json()["field"] == "campaign_id"
    stranger = add_rule(
        proxied, world.a.key, **{**base, "scope": "pair", "partner_ids": [world.a.id, world.d.id]}
    )
    assert stranger.status_code == 422 and stranger.json()["field"] == "partner_ids"
    bad_slot = add_rule(proxied, world.a.key, **{**base, "scope": "slot", "slot_id": "slt_nope"})
    assert bad_slot.status_code == 422 and bad_slot.json()["field"] == "slot_id"

    # B is a party but not the organiser; only the operator sets network caps; C is no party.
    assert add_rule(proxied, world.b.key, **base).status_code == 403
    network = {"scope": "network", "maximum": 3, "window": "lifetime"}
    assert add_rule(proxied, world.a.key, **network).status_code == 403
    assert add_rule(proxied, world.c.key, **base).status_code == 404

    made = expect(add_rule(proxied, world.a.key, **base), 201)
    listed = expect(
        proxied.get(f"{API}/fatigue-caps", params={"campaign_id": cid}, headers=auth(world.b.key)),
        200,
    )
    assert made["id"] in {row["id"] for row in listed}
    rule_url = f"{API}/fatigue-caps/{made['id']}"
    assert proxied.get(rule_url, headers=auth(world.c.key)).status_code == 404
    assert proxied.delete(rule_url, headers=auth(world.b.key)).status_code == 403
    assert proxied.delete(rule_url, headers=auth(world.a.key)).status_code == 204
    assert proxied.get(rule_url, headers=auth(world.a.key)).status_code == 404
