"""The reminder job and the clock's moves on a real database: every reminder of a schedule
across the 2027 US and EU daylight-saving switches goes exactly once, at the owing party's
local time, however often the job runs; a slot marked as run and a submitted deliverable stop
theirs; an agreed campaign goes live at its first slot and completes at its end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from alliance.crosspromo.campaign_models import CampaignReminder
from alliance.crosspromo.campaign_reminders import advance_campaigns, send_due_reminders
from alliance.db.engine import reading
from alliance.mail.models import OutgoingMail
from tests.api.factories import API, auth, expect
from tests.conftest import Server

from .campaign_factories import World, act, add_slot, create, get, make_world, party

pytestmark = pytest.mark.xdist_group("campaign-reminders")

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> World:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


@pytest.fixture(scope="module")
def campaign(server: Server, world: World) -> dict[str, Any]:
    """Organised by A in Berlin; B reads its reminders in New York. A's blog post of B's
    offer is due Monday 29 March 2027 09:00 Berlin (the EU switches on the 28th); B's mailing
    for A is due Monday 15 March 09:00 New York (the US switches on the 14th); B owes a draft
    by Saturday 13 March 09:00 New York, and it will be late."""
    with httpx.Client(base_url=server.url, timeout=15) as http:
        created = create(
            http,
            world.a.key,
            starts_at="2027-03-01T00:00:00Z",
            ends_at="2027-04-30T00:00:00Z",
            parties=[{"partner_id": world.b.id, "time_zone": "America/New_York"}],
        )
        pa, pb = party(created, world.a.id), party(created, world.b.id)
        post = expect(
            add_slot(
                http,
                world.a.key,
                created,
                promoter_party_id=pa,
                beneficiary_party_id=pb,
                program_id=world.b_offer_id,
                starts_at=local("2027-03-29T09:00", BERLIN).isoformat(),
                ends_at=local("2027-03-29T18:00", BERLIN).isoformat(),
            ),
            201,
        )
        mailing = expect(
            add_slot(
                http,
                world.a.key,
                created,
                promoter_party_id=pb,
                beneficiary_party_id=pa,
                program_id=world.program_id,
                channel="newsletter",
                title="Mailing",
                starts_at=local("2027-03-15T09:00", NEW_YORK).isoformat(),
                ends_at=local("2027-03-15T10:00", NEW_YORK).isoformat(),
            ),
            201,
        )
        draft = expect(
            http.post(
                f"{API}/campaigns/{created['id']}/deliverables",
                json={
                    "party_id": pb,
                    "title": "Draft of the mailing",
                    "due_at": local("2027-03-13T09:00", NEW_YORK).isoformat(),
                },
                headers=auth(world.a.key),
            ),
            201,
        )
        expect(act(http, world.a.key, created["id"], "propose"), 200)
        agreed = expect(act(http, world.b.key, created["id"], "accept"), 200)
        assert agreed["status"] == "active"
    return {"id": created["id"], "post": post, "mailing": mailing, "draft": draft}


# What each item's reminders are, in UTC: computed by hand from the local times.
EXPECTED = {
    "post": {  # Berlin: CET until Sunday 28 March 2027 01:00 UTC, CEST after
        "before-3d": utc("2027-03-26T08:00"),  # Friday 09:00 CET
        "before-1d": utc("2027-03-28T07:00"),  # Sunday 09:00 CEST (23 h before)
        "before-2h": utc("2027-03-29T05:00"),
        "overdue-1": utc("2027-03-30T07:00"),
    },
    "mailing": {  # New York: EST until Sunday 14 March 2027 07:00 UTC, EDT after
        "before-3d": utc("2027-03-12T14:00"),  # Friday 09:00 EST
        "before-1d": utc("2027-03-14T13:00"),  # Sunday 09:00 EDT
        "before-2h": utc("2027-03-15T11:00"),
    },
    "draft": {
        "before-3d": utc("2027-03-10T14:00"),
        "before-1d": utc("2027-03-12T14:00"),
        "before-2h": utc("2027-03-13T12:00"),
        "overdue-1": utc("2027-03-14T13:00"),  # Sunday 09:00 EDT: 23 h after the due
        "overdue-2": utc("2027-03-15T13:00"),
    },
}


def reminders_of(campaign_id: str) -> dict[tuple[str, str], CampaignReminder]:
    with reading() as session:
        rows = session.scalars(
            select(CampaignReminder).where(CampaignReminder.campaign_id == campaign_id)
        ).all()
    return {(row.item_id, row.offset_key): row for row in rows}


def reminder_mails(campaign_id: str) -> list[OutgoingMail]:
    with reading() as session:
        return list(
            session.scalars(
                select(OutgoingMail).where(
                    OutgoingMail.about == campaign_id, OutgoingMail.kind == "campaign_reminder"
                )
            ).all()
        )


def test_each_reminder_goes_once_at_the_local_time_across_dst(
    http: httpx.Client, world: World, campaign: dict[str, Any]
) -> None:
    ids = {name: campaign[name]["id"] for name in ("post", "mailing", "draft")}
    moments = sorted({at for plan in EXPECTED.values() for at in plan.values()})
    # A minute early, right on time, and twice more: only the on-time runs send, once.
    for at in moments:
        # Nothing goes before its time.
        assert all(
            (ids[name], key) not in reminders_of(campaign["id"])
            for name, plan in EXPECTED.items()
            for key, when in plan.items()
            if when > at - timedelta(minutes=1)
        )
        for offset in (-1, 0, 1, 4):
            send_due_reminders(at + timedelta(minutes=offset), None)
        if at == EXPECTED["draft"]["overdue-2"]:
            # B hands in its draft and its mailing goes out: their reminders stop.
            base = f"{API}/campaigns/{campaign['id']}"
            expect(
                http.post(
                    f"{base}/deliverables/{ids['draft']}/submit",
                    json={"url": "https://b.example/draft"},
                    headers=auth(world.b.key),
                ),
                200,
            )
            expect(
                http.post(
                    f"{base}/slots/{ids['mailing']}/done", json={}, headers=auth(world.b.key)
                ),
                200,
            )
    sent = reminders_of(campaign["id"])
    expected = {
        (ids[name], key): when for name, plan in EXPECTED.items() for key, when in plan.items()
    }
    assert {key: row.scheduled_at for key, row in sent.items()} == expected
    for (item_id, _key), row in sent.items():
        assert row.sent_at - row.scheduled_at < timedelta(minutes=1)
        owner = world.a.id if item_id == ids["post"] else world.b.id
        assert row.party_id == party(get(http, world.a.key, campaign["id"]), owner)
    mails = reminder_mails(campaign["id"])
    assert len(mails) == len(expected)  # one contact address per party: one mail each
    # A (in Germany) reads German, B (in the US) English; times in each one's zone.
    subjects = sorted(mail.subject for mail in mails)
    assert sum(s.startswith("Overdue: Draft") for s in subjects) == 2
    assert "Überfällig: Guest post" in subjects
    assert "Fällig 2027-03-29 09:00 (Europe/Berlin): Guest post" in subjects
    assert "Due 2027-03-15 09:00 (America/New_York): Mailing" in subjects
    post_mail = next(m for m in mails if m.subject.startswith("Fällig"))
    assert post_mail.locale == "de" and "Tracking-Link" in post_mail.text_body
    assert "/c/" in post_mail.text_body and "blog" in post_mail.text_body  # link and channel


def test_rescheduling_an_item_reminds_again_for_the_new_date(
    http: httpx.Client, world: World, campaign: dict[str, Any]
) -> None:
    post = campaign["post"]["id"]
    new_start = local("2027-04-05T09:00", BERLIN)
    answer = http.patch(
        f"{API}/campaigns/{campaign['id']}/slots/{post}",
        json={
            "starts_at": new_start.isoformat(),
            "ends_at": (new_start + timedelta(hours=8)).isoformat(),
        },
        headers=auth(world.a.key),
    )
    expect(answer, 200)
    # The move is a change of terms: re-accepted, the campaign is agreed again.
    expect(act(http, world.b.key, campaign["id"], "accept"), 200)
    send_due_reminders(utc("2027-04-04T07:00"), None)  # Sunday 09:00 CEST, a day before
    keys = {
        (row.item_id, row.offset_key, row.due_at) for row in reminders_of(campaign["id"]).values()
    }
    assert (post, "before-1d", new_start.astimezone(UTC)) in keys


def test_the_clock_moves_campaigns_live_then_completed(http: httpx.Client, world: World) -> None:
    campaign = create(
        http,
        world.a.key,
        starts_at="2027-06-01T00:00:00Z",
        ends_at="2027-06-30T00:00:00Z",
        parties=[{"partner_id": world.b.id}],
    )
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pa,
            beneficiary_party_id=pb,
            program_id=world.b_offer_id,
            starts_at="2027-06-10T08:00:00Z",
            ends_at="2027-06-10T20:00:00Z",
        ),
        201,
    )
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    expect(act(http, world.b.key, campaign["id"], "accept"), 200)
    advance_campaigns(utc("2027-06-10T07:59"), None)
    assert get(http, world.a.key, campaign["id"])["status"] == "active"
    advance_campaigns(utc("2027-06-10T08:00"), None)
    assert get(http, world.a.key, campaign["id"])["status"] == "live"
    advance_campaigns(utc("2027-06-29T23:59"), None)
    assert get(http, world.a.key, campaign["id"])["status"] == "live"
    advance_campaigns(utc("2027-06-30T00:00"), None)
    done = get(http, world.a.key, campaign["id"])
    assert done["status"] == "completed" and done["next_due"] is None


def test_the_jobs_are_registered_and_the_cli_writes_the_calendar(
    db_url: str, campaign: dict[str, Any]
) -> None:
    import os
    import subprocess
    import sys

    import icalendar

    from alliance.jobs.runner import TASKS, run_task

    for name in ("advance_campaigns", "campaign_reminders"):
        result = run_task(TASKS[name])
        assert result.ran and result.ok, result.result
    env = {**os.environ, "ALLIANCE_DATABASE_URL": db_url}
    out = subprocess.run(
        [sys.executable, "-m", "alliance.cli", "campaigns", "calendar", campaign["id"]],
        env=env,
        capture_output=True,
        check=True,
        timeout=120,
    )
    events = icalendar.Calendar.from_ical(out.stdout).walk("VEVENT")
    assert {str(e["UID"]).split("@")[0] for e in events} == {
        campaign[name]["id"] for name in ("post", "mailing", "draft")
    }
    missing = subprocess.run(
        [sys.executable, "-m", "alliance.cli", "campaigns", "calendar", "cmp_nope"],
        env=env,
        capture_output=True,
        timeout=120,
    )
    assert missing.returncode == 2
