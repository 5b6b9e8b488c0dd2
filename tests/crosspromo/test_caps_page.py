"""The partner's audience-fatigue page of a campaign, on a real server with signed-in
users: its rules and the conversion rate by exposure; a campaign of others is a 404."""

from __future__ import annotations

import httpx
import pytest

from tests.api.factories import expect
from tests.conftest import Server
from tests.web.conftest import signed_in

from .campaign_factories import make_world
from .caps_factories import add_rule, swap_campaign

pytestmark = pytest.mark.xdist_group("fatigue-caps-page")


def test_parties_see_the_rules_and_the_report_others_a_404(
    http: httpx.Client, operator_key: str, server: Server
) -> None:
    world = make_world(http, operator_key)
    campaign, _ = swap_campaign(http, world)
    slot = campaign["slots"][0]
    rule = expect(
        add_rule(
            http,
            world.a.key,
            scope="slot",
            campaign_id=campaign["id"],
            slot_id=slot["id"],
            maximum=4,
            window="calendar_day",
            time_zone="Europe/Berlin",
        ),
        201,
    )
    b = signed_in(server, world.b.id)
    try:
        page = b.get(f"/partner/campaigns/{campaign['id']}/fatigue?depth=2")
        assert page.status_code == 200
        body = page.text
        assert f'id="{rule["id"]}"' in body and slot["title"] in body
        assert "per calendar day (Europe/Berlin)" in body
        assert 'id="exposure-1"' in body and 'id="exposure-2"' in body
        assert "<script>" not in body and "style=" not in body  # no inline code or styles
        # The campaign page links to it.
        assert (
            f"/partner/campaigns/{campaign['id']}/fatigue"
            in b.get(f"/partner/campaigns/{campaign['id']}").text
        )
    finally:
        b.close()
    c = signed_in(server, world.c.id)
    try:
        assert c.get(f"/partner/campaigns/{campaign['id']}/fatigue").status_code == 404
    finally:
        c.close()


def test_the_organiser_adds_and_removes_rules_on_the_page(
    http: httpx.Client, operator_key: str, server: Server
) -> None:
    world = make_world(http, operator_key)
    campaign, _ = swap_campaign(http, world)
    path = f"/partner/campaigns/{campaign['id']}/fatigue"
    a = signed_in(server, world.a.id)
    try:
        form = {"scope": "pair", "maximum": "2", "window": "rolling", "window_hours": ""}
        refused = a.post(path, {**form, "partner_id": world.b.id})
        assert refused.status_code == 422 and "window_hours" in refused.text
        added = a.post(path, {**form, "window_hours": "48", "partner_id": world.b.id})
        assert added.status_code == 303
        (rule,) = expect(
            http.get(
                "/api/v1/fatigue-caps",
                params={"campaign_id": campaign["id"]},
                headers={"Authorization": f"Bearer {world.b.key}"},
            ),
            200,
        )
        assert (rule["scope"], rule["window_hours"]) == ("pair", 48)
        assert sorted(rule["partner_ids"]) == sorted([world.a.id, world.b.id])
        assert "last 48 hours" in a.get(path).text
        removed = a.post(f"{path}/{rule['id']}/delete", {})
        assert removed.status_code == 303
        assert f'id="{rule["id"]}"' not in a.get(path).text
    finally:
        a.close()
    b = signed_in(server, world.b.id)
    try:
        # B is a party, not the organiser: no form, and a post is refused.
        assert 'id="add-rule"' not in b.get(path).text
        form = {"scope": "campaign", "maximum": "2", "window": "lifetime"}
        assert b.post(path, form).status_code == 403
    finally:
        b.close()
