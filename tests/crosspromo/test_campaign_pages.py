"""The partner's campaign pages on a real server with signed-in users: starting a draft,
proposing, answering (accept with the version read, decline with a reason), the schedule with
its tracking links, progress bars, the calendar file, handing in and reviewing deliverables,
marking a slot as run, cancelling; refusals re-render the page naming the field, and a
campaign of others is a 404."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator

import httpx
import icalendar
import pytest

from tests.api.factories import API, auth, expect, insert_click
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

from .campaign_factories import World, add_slot, at, get, make_world, party

pytestmark = pytest.mark.xdist_group("campaign-pages")


def text_of(markup: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", markup)).split())


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


def block(body: str, element_id: str) -> str:
    start = body.index(f'id="{element_id}"')
    end = body.find("</li>", start)
    return body[start : end if end > 0 else len(body)]


def test_a_campaign_from_draft_to_review_on_the_pages(
    http: httpx.Client, world: World, a: Browser, b: Browser, server: Server
) -> None:
    # A refusal names the field and keeps what was typed.
    refused = a.post(
        "/partner/campaigns",
        {
            "title": "Summer swap",
            "kind": "social",
            "time_zone": "Mars/Olympus",
            "partners": world.b.id,
        },
        token_from="/partner/campaigns",
    )
    assert refused.status_code == 422
    assert 'id="f-time_zone"' in refused.text and 'aria-invalid="true"' in refused.text
    assert 'value="Summer swap"' in refused.text

    created = a.post(
        "/partner/campaigns",
        {
            "title": "Summer swap",
            "kind": "social",
            "time_zone": "Europe/Berlin",
            "starts_at": "2026-01-01T00:00",
            "ends_at": "2030-01-01T00:00",
            "partners": world.b.id,
        },
        token_from="/partner/campaigns",
    )
    assert created.status_code == 303, created.text
    campaign_url = created.headers["location"]
    campaign_id = campaign_url.rsplit("/", 1)[1]
    campaign = get(http, world.a.key, campaign_id)
    assert campaign["status"] == "draft" and campaign["time_zone"] == "Europe/Berlin"
    assert campaign["starts_at"].startswith("2025-12-31T23:00")  # midnight in Berlin
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    slot = expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pb,
            beneficiary_party_id=pa,
            program_id=world.program_id,
            starts_at=at(-0.1),
            ends_at=at(1),
        ),
        201,
    )
    deliverable = expect(
        http.post(
            f"{API}/campaigns/{campaign_id}/deliverables",
            json={"party_id": pb, "title": "Story draft", "due_at": at(-0.05)},
            headers=auth(world.a.key),
        ),
        201,
    )
    assert a.post(f"{campaign_url}/propose", token_from=campaign_url).status_code == 303

    # B's list asks for an answer; B's page shows the slot's link and the terms version.
    listed = b.get("/partner/campaigns")
    assert listed.status_code == 200
    row = listed.text[listed.text.index(f'id="{campaign_id}"') :]
    assert "Read and answer" in row[: row.index("</tr>")]
    page = b.get(campaign_url)
    assert slot["link"]["url"] in page.text and "Terms version 1" in text_of(page.text)
    assert 'name="version" value="1"' in page.text
    # The terms change meanwhile: accepting version 1 is refused and says why.
    expect(
        http.patch(
            f"{API}/campaigns/{campaign_id}",
            json={"goals": {"clicks": 10}},
            headers=auth(world.a.key),
        ),
        200,
    )
    stale = b.post(f"{campaign_url}/accept", {"version": "1"}, token_from=campaign_url)
    assert stale.status_code == 409 and "version 2 is current" in text_of(stale.text)
    accepted = b.post(f"{campaign_url}/accept", {"version": "2"}, token_from=campaign_url)
    assert accepted.status_code == 303
    assert get(http, world.b.key, campaign_id)["status"] == "live"  # the slot had started

    # Progress: a valid click through the slot's link fills a tenth of the clicks goal.
    insert_click(world.program_id, world.a.id, slot["link"]["id"])
    page = b.get(campaign_url)
    assert '<progress id="bar-clicks" max="100" value="10.0"' in page.text
    assert "1 of 10" in text_of(page.text)

    # The calendar for the signed-in partner, as the API gives it.
    ics = b.get(f"{campaign_url}/calendar.ics")
    assert ics.status_code == 200 and ics.headers["content-type"].startswith("text/calendar")
    uids = {
        str(e["UID"]).split("@")[0]
        for e in icalendar.Calendar.from_ical(ics.content).walk("VEVENT")
    }
    assert uids == {slot["id"], deliverable["id"]}

    # B hands in; A asks for changes (a note is needed), then approves.
    handed = b.post(
        f"{campaign_url}/deliverables/{deliverable['id']}/submit",
        {"url": "https://b.example/story"},
        token_from=campaign_url,
    )
    assert handed.status_code == 303
    no_note = a.post(
        f"{campaign_url}/deliverables/{deliverable['id']}/review",
        {"decision": "changes", "note": ""},
        token_from=campaign_url,
    )
    assert no_note.status_code == 422 and "say what should change" in no_note.text
    approved = a.post(
        f"{campaign_url}/deliverables/{deliverable['id']}/review",
        {"decision": "approve"},
        token_from=campaign_url,
    )
    assert approved.status_code == 303
    page = a.get(campaign_url)
    assert "approved" in text_of(block(page.text, deliverable["id"]))

    # B marks its slot as run; only then does the page show it done, with where.
    assert 'action="/partner/campaigns/' in block(b.get(campaign_url).text, slot["id"])
    assert "Mark as run" not in block(a.get(campaign_url).text, slot["id"])  # not A's slot
    ran = b.post(
        f"{campaign_url}/slots/{slot['id']}/done",
        {"url": "https://b.example/post"},
        token_from=campaign_url,
    )
    assert ran.status_code == 303
    assert "https://b.example/post" in block(b.get(campaign_url).text, slot["id"])

    # Outsiders get a 404, on the page and on the calendar.
    c = signed_in(server, world.c.id)
    try:
        assert c.get(campaign_url).status_code == 404
        assert c.get(f"{campaign_url}/calendar.ics").status_code == 404
        assert campaign_id not in c.get("/partner/campaigns").text
    finally:
        c.close()

    # Cancelling needs a reason; the page then says why it was cancelled.
    no_reason = b.post(f"{campaign_url}/cancel", {"reason": ""}, token_from=campaign_url)
    assert no_reason.status_code == 422
    cancelled = b.post(
        f"{campaign_url}/cancel", {"reason": "Out of stock"}, token_from=campaign_url
    )
    assert cancelled.status_code == 303
    page = a.get(campaign_url)
    assert "Cancelled: Out of stock" in text_of(page.text)


def test_declining_keeps_the_reason_and_the_nav_has_campaigns(
    http: httpx.Client, world: World, a: Browser, b: Browser
) -> None:
    created = a.post(
        "/partner/campaigns",
        {
            "title": "Autumn",
            "kind": "email",
            "time_zone": "America/New_York",
            "starts_at": "2026-01-01T00:00",
            "ends_at": "2030-01-01T00:00",
            "partners": world.b.id,
        },
        token_from="/partner/campaigns",
    )
    campaign_url = created.headers["location"]
    campaign = get(http, world.a.key, campaign_url.rsplit("/", 1)[1])
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pa,
            beneficiary_party_id=pb,
            program_id=world.b_offer_id,
        ),
        201,
    )
    # Proposing twice: the second is an illegal move, shown on the page.
    assert a.post(f"{campaign_url}/propose", token_from=campaign_url).status_code == 303
    again = a.post(f"{campaign_url}/propose", token_from=campaign_url)
    assert again.status_code == 409
    empty = b.post(f"{campaign_url}/decline", {"decline_reason": ""}, token_from=campaign_url)
    assert empty.status_code == 422 and 'id="f-decline_reason"' in empty.text
    declined = b.post(
        f"{campaign_url}/decline", {"decline_reason": "Not our audience"}, token_from=campaign_url
    )
    assert declined.status_code == 303
    page = a.get(campaign_url)
    assert "Not our audience" in text_of(block(page.text, pb))
    assert 'href="/partner/campaigns"' in a.get("/partner").text


def test_the_organiser_writes_the_schedule_on_the_page(
    http: httpx.Client, world: World, a: Browser
) -> None:
    created = a.post(
        "/partner/campaigns",
        {
            "title": "Winter swap",
            "kind": "content",
            "time_zone": "America/New_York",
            "starts_at": "2027-01-01T00:00",
            "ends_at": "2027-12-31T00:00",
        },
        token_from="/partner/campaigns",
    )
    campaign_url = created.headers["location"]
    campaign_id = campaign_url.rsplit("/", 1)[1]
    # Parties by id: junk is refused on the field, partners and advertisers are added.
    junk = a.post(f"{campaign_url}/parties", {"account_id": "someone"}, token_from=campaign_url)
    assert junk.status_code == 422 and 'id="party-account_id"' in junk.text
    assert 'aria-describedby="party-account_id-error"' in junk.text
    for account in (world.b.id, world.d.id, world.shop.id):
        added = a.post(f"{campaign_url}/parties", {"account_id": account}, token_from=campaign_url)
        assert added.status_code == 303, added.text
    campaign = get(http, world.a.key, campaign_id)
    pa, pb, pd = (party(campaign, p) for p in (world.a.id, world.b.id, world.d.id))
    page = a.get(campaign_url)
    assert f'<option value="{world.b_offer_id}"' in page.text  # B's offer is offered

    # D is not approved in the shop's program: the slot is refused, saying so; the form
    # stays open with what was typed.
    slot_form = {
        "promoter_party_id": pd,
        "beneficiary_party_id": "",
        "program_id": world.program_id,
        "channel": "instagram",
        "title": "Story",
        "starts_at": "2027-03-09T09:00",
        "ends_at": "2027-03-09T21:00",
    }
    refused = a.post(f"{campaign_url}/slots", slot_form, token_from=campaign_url)
    assert refused.status_code == 422
    assert "is not approved in program" in text_of(refused.text)
    assert 'id="add-slot" open' in refused.text and 'value="Story"' in refused.text
    # A promotes B's offer: B's link, 09:00 New York time (EDT after 14 March, EST before).
    slot_form |= {
        "promoter_party_id": pa,
        "beneficiary_party_id": pb,
        "program_id": world.b_offer_id,
    }
    scheduled = a.post(f"{campaign_url}/slots", slot_form, token_from=campaign_url)
    assert scheduled.status_code == 303, scheduled.text
    [slot] = get(http, world.a.key, campaign_id)["slots"]
    assert (
        slot["starts_at"].startswith("2027-03-09T14:00")
        and slot["link"]["partner_id"] == world.b.id
    )
    assert slot["link"]["url"] in a.get(campaign_url).text

    due = a.post(
        f"{campaign_url}/deliverables",
        {
            "party_id": pa,
            "reviewer_party_id": pb,
            "slot_id": slot["id"],
            "title": "Story draft",
            "due_at": "2027-03-20T17:00",
        },
        token_from=campaign_url,
    )
    assert due.status_code == 303, due.text
    [item] = get(http, world.a.key, campaign_id)["deliverables"]
    assert item["due_at"].startswith("2027-03-20T21:00") and item["reviewer_party_id"] == pb
    # The slot has a deliverable: removing it is refused until the deliverable goes.
    blocked = a.post(f"{campaign_url}/slots/{slot['id']}/delete", token_from=campaign_url)
    assert blocked.status_code == 409
