"""GET /api/v1/campaigns/{id}/calendar.ics: a valid iCalendar file, parsed back with
`icalendar`: one VEVENT per slot and per deliverable, stable UIDs, times with the campaign's
TZID (and its VTIMEZONE) that stay right across the daylight-saving switch, a SEQUENCE that
follows the terms version, cancelled events once the campaign is cancelled."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import icalendar
import pytest

from tests.api.factories import API, auth, expect
from tests.conftest import Server

from .campaign_factories import World, act, add_slot, create, make_world, party

pytestmark = pytest.mark.xdist_group("campaign-ical")

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> World:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


def calendar_of(http: httpx.Client, key: str, campaign_id: str) -> icalendar.Calendar:
    answer = http.get(f"{API}/campaigns/{campaign_id}/calendar.ics", headers=auth(key))
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/calendar")
    assert f'filename="{campaign_id}.ics"' in answer.headers["content-disposition"]
    return icalendar.Calendar.from_ical(answer.content)


def test_the_schedule_exports_as_icalendar(http: httpx.Client, world: World) -> None:
    campaign = create(
        http,
        world.a.key,
        title="Easter swap",
        starts_at="2027-03-20T00:00:00Z",
        ends_at="2027-04-20T00:00:00Z",
        parties=[{"partner_id": world.b.id}],
    )
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    # Before and after the EU switch (28 March 2027): both at 09:00 Berlin time.
    before = datetime(2027, 3, 26, 9, 0, tzinfo=BERLIN)
    after = datetime(2027, 3, 30, 9, 0, tzinfo=BERLIN)
    slots = [
        expect(
            add_slot(
                http,
                world.a.key,
                campaign,
                promoter_party_id=promoter,
                beneficiary_party_id=beneficiary,
                program_id=program,
                title=title,
                starts_at=start.isoformat(),
                ends_at=(start + timedelta(hours=2)).isoformat(),
            ),
            201,
        )
        for promoter, beneficiary, program, title, start in (
            (pa, pb, world.b_offer_id, "Guest post", before),
            (pb, pa, world.program_id, "Newsletter", after),
        )
    ]
    due = datetime(2027, 3, 24, 18, 0, tzinfo=BERLIN)
    draft = expect(
        http.post(
            f"{API}/campaigns/{campaign['id']}/deliverables",
            json={"party_id": pb, "title": "Draft", "due_at": due.isoformat()},
            headers=auth(world.a.key),
        ),
        201,
    )
    cal = calendar_of(http, world.b.key, campaign["id"])
    assert str(cal["PRODID"]).startswith("-//Alliance")
    assert [tz["TZID"] for tz in cal.walk("VTIMEZONE")] == ["Europe/Berlin"]
    events = {str(e["UID"]).split("@")[0]: e for e in cal.walk("VEVENT")}
    assert set(events) == {slots[0]["id"], slots[1]["id"], draft["id"]}
    for slot, start in zip(slots, (before, after), strict=True):
        event = events[slot["id"]]
        assert event["DTSTART"].params["TZID"] == "Europe/Berlin"
        assert event.start == start and event.start.utcoffset() == start.utcoffset()
        assert event.end - event.start == timedelta(hours=2)
        assert slot["link"]["url"] in str(event["DESCRIPTION"])
        assert int(event["SEQUENCE"]) == 0
    assert events[slots[0]["id"]].start.utcoffset() == timedelta(hours=1)  # CET
    assert events[slots[1]["id"]].start.utcoffset() == timedelta(hours=2)  # CEST
    assert events[draft["id"]].start == due and "Draft" in str(events[draft["id"]]["SUMMARY"])
    # The raw text names the zone on each time (no floating or UTC-shifted times).
    raw = http.get(f"{API}/campaigns/{campaign['id']}/calendar.ics", headers=auth(world.a.key)).text
    assert "DTSTART;TZID=Europe/Berlin:20270326T090000" in raw
    assert "DTSTART;TZID=Europe/Berlin:20270330T090000" in raw

    # Proposed, then edited: same UIDs, a higher SEQUENCE, so calendars update in place.
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    expect(
        http.patch(
            f"{API}/campaigns/{campaign['id']}",
            json={"goals": {"clicks": 10}},
            headers=auth(world.a.key),
        ),
        200,
    )
    again = {
        str(e["UID"]): e for e in calendar_of(http, world.a.key, campaign["id"]).walk("VEVENT")
    }
    assert {uid.split("@")[0] for uid in again} == set(events)
    assert {int(e["SEQUENCE"]) for e in again.values()} == {2}

    expect(act(http, world.b.key, campaign["id"], "cancel", {"reason": "Postponed"}), 200)
    cancelled = calendar_of(http, world.a.key, campaign["id"]).walk("VEVENT")
    assert {str(e["STATUS"]) for e in cancelled} == {"CANCELLED"}

    # Only parties get the file.
    assert (
        http.get(
            f"{API}/campaigns/{campaign['id']}/calendar.ics", headers=auth(world.c.key)
        ).status_code
        == 404
    )
