"""The fair-exchange page of a campaign: both partners see the same pair from their side,
the partner owed settles by a capped carry-over through a form, a bad cap is refused naming
the field, and a partner outside the campaign gets 404."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import httpx
import pytest

from alliance.clock import utcnow
from alliance.crosspromo import exchange
from alliance.db.engine import transaction
from alliance.ids import new_id
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

from .campaign_factories import World, agreed_campaign, make_world, party
from .test_exchange import click, slot_link

pytestmark = pytest.mark.xdist_group("fair-exchange-page")


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> World:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


@pytest.fixture()
def a(server: Server, world: World) -> Iterator[Browser]:
    browser = signed_in(server, world.a.id)
    yield browser
    browser.close()


@pytest.fixture()
def b(server: Server, world: World) -> Iterator[Browser]:
    browser = signed_in(server, world.b.id)
    yield browser
    browser.close()


def cell(body: str, row_id: str, field: str) -> str:
    row = body[body.index(f'id="{row_id}"') :]
    start = row.index(f'data-field="{field}">') + len(f'data-field="{field}">')
    return row[start : row.index("<", start)].strip()


def test_both_partners_read_the_pair_and_the_owed_one_settles(
    http: httpx.Client, world: World, a: Browser, b: Browser, server: Server
) -> None:
    campaign = agreed_campaign(http, world, slot_start=-0.5, tolerance={"clicks": 1})
    cid = campaign["id"]
    a_for_b = slot_link(campaign, party(campaign, world.a.id))
    for _ in range(3):
        click(a_for_b, new_id("vis"))
    later = utcnow() + timedelta(days=8)
    with transaction() as session:
        exchange.record_confirmed(session, cid, later)
        exchange.check_alerts(session, cid, later)

    url = f"/partner/campaigns/{cid}/exchange"
    mine = a.get(url)
    assert mine.status_code == 200
    assert cell(mine.text, f"pair-{world.b.id}", "delivered") == "3"
    assert cell(mine.text, f"pair-{world.b.id}", "balance") == "3"
    assert "you were owed 3 unique clicks" in mine.text
    theirs = b.get(url)
    assert cell(theirs.text, f"pair-{world.a.id}", "balance") == "-3"
    assert "you owed 3 unique clicks" in theirs.text
    assert f'action="{url}/settle"' not in theirs.text  # the one owing has no settle form

    refused = a.post(f"{url}/settle", {"counterpart_id": world.b.id, "cap": "x"}, token_from=url)
    assert refused.status_code == 422 and "field: cap" in refused.text
    done = a.post(f"{url}/settle", {"counterpart_id": world.b.id, "cap": "1"}, token_from=url)
    assert done.status_code == 303, done.text
    after = a.get(url)
    assert cell(after.text, f"pair-{world.b.id}", "balance") == "1"
    assert cell(after.text, f"pair-{world.b.id}", "adjusted") == "-2"

    outsider = signed_in(server, world.d.id)
    try:
        assert outsider.get(url).status_code == 404
    finally:
        outsider.close()
