"""The last two acceptances, interleaved on purpose: B has accepted but not committed when C
reads the parties. Under the campaign's row lock C waits for B's commit, sees its acceptance,
and makes the campaign active. Without the lock (`for_update=False` below) C would not see
B's acceptance, B did not see C's, and the campaign would stay proposed with every party
accepted: this test fails that way on PostgreSQL (SQLite serialises writers anyway)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.crosspromo import campaigns
from alliance.db.engine import reading, transaction
from tests.api.factories import expect, make_partner
from tests.conftest import Server

from .campaign_factories import World, act, add_slot, create, make_world, party

pytestmark = pytest.mark.xdist_group("campaign-concurrency")

LOCKED = True  # set False to watch the race the lock prevents


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> World:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


def test_interleaved_last_acceptances_agree_the_campaign(
    http: httpx.Client, world: World, operator_key: str
) -> None:
    c_id, _ = make_partner(http, operator_key)
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}, {"partner_id": c_id}])
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=party(campaign, world.a.id),
            beneficiary_party_id=party(campaign, world.b.id),
            program_id=world.b_offer_id,
        ),
        201,
    )
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    b_flushed, c_read = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def as_party(partner_id: str, first: bool) -> None:
        who = Principal(AccountKind.partner, partner_id)
        try:
            if not first:
                b_flushed.wait(10)
            with transaction() as session:
                found: Any = campaigns.get_campaign(session, campaign["id"], who, for_update=LOCKED)
                campaigns.accept(session, found, who)
                if first:
                    b_flushed.set()
                    # Hold the transaction open until C has read the parties (it cannot,
                    # under the lock: then give up waiting and commit).
                    c_read.wait(1.5)
                else:
                    c_read.set()
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [
        threading.Thread(target=as_party, args=(world.b.id, True)),
        threading.Thread(target=as_party, args=(c_id, False)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert not errors, errors
    with reading() as session:
        found = campaigns.get_campaign(
            session, campaign["id"], Principal(AccountKind.operator, "opr_x")
        )
        rows = campaigns.parties(session, found.id)
        assert all(campaigns.has_accepted(p, found) for p in rows)
        assert found.status == "active"
