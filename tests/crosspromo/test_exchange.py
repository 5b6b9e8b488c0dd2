"""The fair-exchange ledger on a real database and over HTTP: A promotes B's offer and B
promotes the shop for A; confirmed unique people become signed entries once (the job may run
any number of times), both partners read opposite balances that equal the sum of their
entries, the tolerance raises one alert per crossing (mailed to the partner owed), and the
partner owed settles by a capped carry-over. Only the pair and the operator see it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from alliance.clock import utcnow
from alliance.crosspromo import exchange
from alliance.crosspromo.exchange_job import confirm_exchanges
from alliance.db.engine import reading, transaction
from alliance.ids import new_id
from alliance.mail.models import OutgoingMail
from tests.api.factories import API, auth, expect, insert_click
from tests.conftest import Server

from .campaign_factories import World, agreed_campaign, at, get, make_world, party

pytestmark = pytest.mark.xdist_group("fair-exchange")


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> World:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


def slot_link(campaign: dict[str, Any], promoter_party: str) -> tuple[str, str, str]:
    """(link id, program id, link partner id) of the slot the party promotes."""
    for slot in campaign["slots"]:
        if slot["promoter_party_id"] == promoter_party:
            return slot["link"]["id"], slot["program_id"], slot["link"]["partner_id"]
    raise AssertionError("no slot")


def click(link: tuple[str, str, str], visitor: str, days: float = 0, **fields: Any) -> str:
    link_id, program_id, partner_id = link
    return insert_click(
        program_id,
        partner_id,
        link_id,
        occurred_at=utcnow() + timedelta(days=days),
        visitor_id=visitor,
        **fields,
    )


def record(campaign_id: str, days: float) -> int:
    with transaction() as session:
        return exchange.record_confirmed(session, campaign_id, utcnow() + timedelta(days=days))


def balances(http: httpx.Client, key: str, campaign_id: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = expect(
        http.get(f"{API}/campaigns/{campaign_id}/exchange", headers=auth(key)), 200
    )
    return rows


def test_deliveries_are_counted_once_confirmed_and_deduplicated_by_person(
    http: httpx.Client, world: World, operator_key: str
) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5, tolerance={"clicks": 1})
    cid = campaign["id"]
    a_for_b = slot_link(campaign, party(campaign, world.a.id))
    b_for_a = slot_link(campaign, party(campaign, world.b.id))
    assert a_for_b[2] == world.b.id and b_for_a[2] == world.a.id  # each promotes the other
    v = [new_id("vis") for _ in range(6)]
    click(a_for_b, v[0])
    click(a_for_b, v[0], days=0.01)  # the same person again: once
    click(a_for_b, v[1])
    click(a_for_b, v[2])
    click(a_for_b, v[3], is_bot=True, device="bot")  # never counts
    click(a_for_b, v[4], invalid_reason="duplicate")  # never counts
    click(a_for_b, v[5], days=5)  # still in screening at +8 days
    click(b_for_a, v[0])  # the same person the other way counts for B

    assert record(cid, days=6) == 0  # nothing screened yet
    assert record(cid, days=8) == 4
    assert record(cid, days=8) == 0  # a second run changes nothing

    [mine] = balances(http, world.a.key, cid)
    assert mine["counterpart_id"] == world.b.id
    assert (mine["delivered_clicks"], mine["received_clicks"], mine["balance"]) == (3, 1, 2)
    assert mine["exceeded"] is True and mine["tolerance"]["clicks"] == 1
    [theirs] = balances(http, world.b.key, cid)
    assert (theirs["delivered_clicks"], theirs["received_clicks"]) == (1, 3)
    assert theirs["balance"] == -mine["balance"]

    entries = expect(
        http.get(
            f"{API}/campaigns/{cid}/exchange/entries",
            params={"counterpart_id": world.b.id},
            headers=auth(world.a.key),
        ),
        200,
    )
    assert sorted(e["units"] for e in entries) == [-1, 1, 1, 1]
    assert sum(e["units"] for e in entries) == mine["balance"]

    assert record(cid, days=14) == 1  # the young click, now screened
    [mine] = balances(http, world.a.key, cid)
    assert mine["balance"] == 3

    # The operator sees the pair; the shop (not a party) and D do not see the campaign.
    [pair] = balances(http, operator_key, cid)
    assert {pair["partner_id"], pair["counterpart_id"]} == {world.a.id, world.b.id}
    for outsider in (world.shop.key, world.d.key):
        response = http.get(f"{API}/campaigns/{cid}/exchange", headers=auth(outsider))
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/problem+json")


def test_alerts_once_per_crossing_and_carry_over_settlement(
    http: httpx.Client, world: World
) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5, tolerance={"clicks": 1})
    cid = campaign["id"]
    a_for_b = slot_link(campaign, party(campaign, world.a.id))
    for _ in range(4):
        click(a_for_b, new_id("vis"))
    assert record(cid, days=8) == 4

    later = utcnow() + timedelta(days=8)
    with transaction() as session:
        assert exchange.check_alerts(session, cid, later) == 1
    with transaction() as session:
        assert exchange.check_alerts(session, cid, later) == 0  # once per crossing
    with reading() as session:
        mails = session.scalar(
            select(func.count())
            .select_from(OutgoingMail)
            .where(OutgoingMail.about == cid, OutgoingMail.kind == "exchange_alert")
        )
    assert mails == 1  # to A, the partner owed

    for key in (world.a.key, world.b.key):
        [alert] = expect(http.get(f"{API}/campaigns/{cid}/exchange/alerts", headers=auth(key)), 200)
        assert alert["owed_partner_id"] == world.a.id and alert["balance"] == 4
        assert alert["resolved_at"] is None

    settle = f"{API}/campaigns/{cid}/exchange/settle"
    # B owes: it cannot forgive its own debt.
    owing = http.post(
        settle, json={"counterpart_id": world.a.id, "cap": 0}, headers=auth(world.b.key)
    )
    assert owing.status_code == 409
    done = expect(
        http.post(settle, json={"counterpart_id": world.b.id, "cap": 1}, headers=auth(world.a.key)),
        201,
    )
    assert (done["balance_before"], done["carried"], done["forgiven"]) == (4, 1, 3)
    [mine] = balances(http, world.a.key, cid)
    assert (mine["balance"], mine["adjusted_clicks"], mine["delivered_clicks"]) == (1, -3, 4)
    [theirs] = balances(http, world.b.key, cid)
    assert theirs["balance"] == -1

    with transaction() as session:
        exchange.check_alerts(session, cid, later)  # back within the tolerance: resolved
    [alert] = expect(
        http.get(f"{API}/campaigns/{cid}/exchange/alerts", headers=auth(world.a.key)), 200
    )
    assert alert["resolved_at"] is not None


def test_bad_settlements_are_refused_naming_the_field(http: httpx.Client, world: World) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5)
    settle = f"{API}/campaigns/{campaign['id']}/exchange/settle"
    cases = [
        ({"counterpart_id": world.b.id, "cap": -1}, 422, "cap"),
        ({"counterpart_id": world.b.id, "cap": "lots"}, 422, "cap"),
        ({"counterpart_id": "nobody", "cap": 1}, 422, "counterpart_id"),
        ({"counterpart_id": world.d.id, "cap": 1}, 422, "counterpart_id"),  # not a party
        ({"counterpart_id": world.a.id, "cap": 1}, 422, "counterpart_id"),  # itself
        ({"counterpart_id": world.b.id, "cap": 1}, 409, "cap"),  # nothing to forgive
    ]
    for body, code, field in cases:
        response = http.post(settle, json=body, headers=auth(world.a.key))
        assert response.status_code == code, (body, response.text)
        assert field in response.text
    # The operator reads every pair but does not settle for a partner.
    missing = http.get(
        f"{API}/campaigns/{campaign['id']}/exchange/entries", headers=auth(world.a.key)
    )
    assert missing.status_code == 422 and "counterpart_id" in missing.text


def test_the_job_counts_and_alerts_each_agreed_campaign(http: httpx.Client, world: World) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5, tolerance={"clicks": 0})
    a_for_b = slot_link(campaign, party(campaign, world.a.id))
    click(a_for_b, new_id("vis"))
    later = utcnow() + timedelta(days=8)
    first = confirm_exchanges(later, None)
    assert first["entries"] >= 1 and first["alerts"] >= 1
    again = confirm_exchanges(later, None)
    assert again["entries"] == 0 and again["alerts"] == 0
    [mine] = balances(http, world.a.key, campaign["id"])
    assert mine["balance"] == 1 and mine["exceeded"] is True


def test_a_make_good_slot_goes_through_the_campaign_terms(http: httpx.Client, world: World) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5)
    cid = campaign["id"]
    a_for_b = slot_link(campaign, party(campaign, world.a.id))
    for _ in range(2):
        click(a_for_b, new_id("vis"))
    assert record(cid, days=8) == 2  # B owes A two people
    url = f"{API}/campaigns/{cid}/exchange/make-good"
    body = {
        "owing_partner_id": world.b.id,
        "owed_partner_id": world.a.id,
        "program_id": world.program_id,  # A's offer: A's link in the shop's program
        "channel": "instagram",
        "title": "Make-good story",
        "starts_at": at(2),
        "ends_at": at(3),
    }
    # Only the organiser (A) schedules; A owes B nothing.
    not_organiser = http.post(url, json=body, headers=auth(world.b.key))
    assert not_organiser.status_code == 403, not_organiser.text
    reversed_ = {**body, "owing_partner_id": world.a.id, "owed_partner_id": world.b.id}
    refused = http.post(url, json=reversed_, headers=auth(world.a.key))
    assert refused.status_code == 409 and "owing_partner_id" in refused.text
    junk = http.post(url, json={**body, "starts_at": "soon"}, headers=auth(world.a.key))
    assert junk.status_code == 422 and "starts_at" in junk.text

    done = expect(http.post(url, json=body, headers=auth(world.a.key)), 201)
    assert done["method"] == "make_good" and done["balance_before"] == 2
    after = get(http, world.a.key, cid)
    assert after["status"] == "proposed"  # changed terms: every party accepts again
    [slot] = [s for s in after["slots"] if s["id"] == done["slot_id"]]
    assert slot["promoter_party_id"] == party(after, world.b.id)
    assert slot["link"]["partner_id"] == world.a.id
