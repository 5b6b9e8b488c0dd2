"""/api/v1/campaigns against a real server: the lifecycle draft -> proposed -> active -> live
-> completed, acceptance reset by an edit, cancel with a reason, illegal moves as 409, slots
with real tracking links (and the approval check), deliverables under review, progress from
real click and order rows, parties-only visibility, and refusals naming the field."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.mail.models import OutgoingMail
from alliance.tracking.models import Link
from tests.api.factories import (
    API,
    auth,
    expect,
    insert_click,
    insert_conversion,
)

from .campaign_factories import (
    World,
    act,
    add_slot,
    agreed_campaign,
    at,
    create,
    get,
    make_world,
    party,
    when,
)

pytestmark = pytest.mark.xdist_group("campaigns")


@pytest.fixture(scope="module")
def world(server: object, operator_key: str) -> World:
    from tests.conftest import Server

    assert isinstance(server, Server)
    with httpx.Client(base_url=server.url, timeout=15) as http:
        return make_world(http, operator_key)


def test_the_lifecycle_from_draft_to_completed(http: httpx.Client, world: World) -> None:
    campaign = create(
        http,
        world.a.key,
        goals={"clicks": 100, "orders": 5, "revenue": {"amount": "2500.00", "currency": "EUR"}},
        tolerance={"percent": "10", "clicks": 50},
        parties=[{"partner_id": world.b.id}, {"advertiser_id": world.shop.id}],
    )
    assert campaign["status"] == "draft" and campaign["terms_version"] == 0
    assert campaign["goals"]["revenue"] == {"amount": "2500.00", "currency": "EUR"}
    assert campaign["tolerance"] == {"percent": "10", "clicks": 50}
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    assert campaign["organiser_party_id"] == pa and campaign["my_party_id"] == pa

    # A draft without slots cannot be proposed: the refusal says what is missing.
    refused = act(http, world.a.key, campaign["id"], "propose")
    assert refused.status_code == 422 and refused.json()["field"] == "slots"
    # A slot of the shop's program: the shop party benefits by default.
    slot = expect(
        add_slot(http, world.a.key, campaign, promoter_party_id=pa, program_id=world.program_id),
        201,
    )
    assert slot["beneficiary_party_id"] == party(campaign, world.shop.id)
    assert slot["link"]["partner_id"] == world.a.id and slot["link"]["url"].endswith(
        slot["link"]["code"]
    )

    proposed = expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    assert proposed["status"] == "proposed" and proposed["terms_version"] == 1
    accepted = {p["id"]: p["accepted"] for p in proposed["parties"]}
    assert accepted == {pa: True, pb: False, party(campaign, world.shop.id): False}
    assert (
        expect(act(http, world.b.key, campaign["id"], "accept", {"version": 1}), 200)["status"]
        == "proposed"
    )
    agreed = expect(act(http, world.shop.key, campaign["id"], "accept"), 200)
    assert agreed["status"] == "active" and agreed["agreed_at"]

    live = expect(act(http, world.a.key, campaign["id"], "start"), 200)
    assert live["status"] == "live" and live["live_at"]
    done = expect(act(http, world.a.key, campaign["id"], "complete"), 200)
    assert done["status"] == "completed" and done["completed_at"]
    # Final: nothing moves a completed campaign.
    for action, body in (("cancel", {"reason": "late"}), ("start", None), ("propose", None)):
        answer = act(http, world.a.key, campaign["id"], action, body)
        assert answer.status_code == 409, answer.text
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_editing_the_terms_after_acceptance_asks_everyone_again(
    http: httpx.Client, world: World
) -> None:
    campaign = agreed_campaign(http, world)
    assert campaign["status"] == "active" and campaign["terms_version"] == 1
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)

    edited = expect(
        http.patch(
            f"{API}/campaigns/{campaign['id']}",
            json={"goals": {"orders": 20}},
            headers=auth(world.a.key),
        ),
        200,
    )
    assert edited["status"] == "proposed" and edited["terms_version"] == 2
    # The editor accepted its own edit; B's acceptance of version 1 no longer counts.
    assert {p["id"]: p["accepted"] for p in edited["parties"]} == {pa: True, pb: False}
    with reading() as session:
        asked = session.scalars(
            select(OutgoingMail).where(
                OutgoingMail.about == campaign["id"], OutgoingMail.kind == "campaign_acceptance"
            )
        ).all()
    assert any("Changed terms" in mail.subject for mail in asked)

    # B read version 1: accepting it now is refused, naming the current version.
    stale = act(http, world.b.key, campaign["id"], "accept", {"version": 1})
    assert stale.status_code == 409 and stale.json()["terms_version"] == 2
    assert (
        expect(act(http, world.b.key, campaign["id"], "accept", {"version": 2}), 200)["status"]
        == "active"
    )

    # A title is not a term: no new version, nobody asked again.
    retitled = expect(
        http.patch(
            f"{API}/campaigns/{campaign['id']}",
            json={"title": "New name"},
            headers=auth(world.a.key),
        ),
        200,
    )
    assert retitled["status"] == "active" and retitled["terms_version"] == 2

    # A new slot is a change of terms too, also while live.
    expect(act(http, world.a.key, campaign["id"], "start"), 200)
    added = expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pb,
            beneficiary_party_id=pa,
            program_id=world.program_id,
        ),
        201,
    )
    again = get(http, world.a.key, campaign["id"])
    assert again["status"] == "proposed" and again["terms_version"] == 3
    # Re-accepted after the first slot started: straight back to live.
    assert expect(act(http, world.b.key, campaign["id"], "accept"), 200)["status"] in (
        "active",
        "live",
    )
    assert added["id"] in {s["id"] for s in get(http, world.b.key, campaign["id"])["slots"]}


def test_decline_and_cancel_keep_their_reasons(http: httpx.Client, world: World) -> None:
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}])
    pa = party(campaign, world.a.id)
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pa,
            beneficiary_party_id=party(campaign, world.b.id),
            program_id=world.b_offer_id,
        ),
        201,
    )
    # Accepting a draft is an illegal move.
    assert act(http, world.b.key, campaign["id"], "accept").status_code == 409
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    declined = expect(
        act(http, world.b.key, campaign["id"], "decline", {"reason": "Too early for us"}), 200
    )
    row = next(p for p in declined["parties"] if p["partner_id"] == world.b.id)
    assert (
        row["declined"]
        and row["decline_reason"] == "Too early for us"
        and declined["status"] == "proposed"
    )
    # A reason is required to cancel.
    missing = act(http, world.b.key, campaign["id"], "cancel", {"reason": ""})
    assert missing.status_code == 422 and missing.json()["field"] == "reason"
    cancelled = expect(
        act(http, world.b.key, campaign["id"], "cancel", {"reason": "We could not agree"}), 200
    )
    assert cancelled["status"] == "cancelled"
    assert (
        cancelled["cancel_reason"] == "We could not agree"
        and cancelled["cancelled_by"] == world.b.id
    )
    edit = http.patch(
        f"{API}/campaigns/{campaign['id']}", json={"title": "x"}, headers=auth(world.a.key)
    )
    assert edit.status_code == 409


def test_slots_make_real_links_and_need_an_approved_partner(
    http: httpx.Client, world: World
) -> None:
    campaign = create(
        http,
        world.a.key,
        parties=[
            {"partner_id": world.b.id},
            {"partner_id": world.d.id},
            {"advertiser_id": world.shop.id},
        ],
    )
    pa, pb, pd = (party(campaign, p.id) for p in (world.a, world.b, world.d))
    # A promotes B's own offer: the link is B's (B earns), placed on A's blog.
    slot = expect(
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
    with reading() as session:
        link = session.get_one(Link, slot["link"]["id"])
        assert (link.partner_id, link.program_id) == (world.b.id, world.b_offer_id)
        assert link.default_subs == {"sub1": campaign["id"], "sub2": slot["id"]}
    # D is not approved in the shop's program: refused, saying so and naming the field.
    refused = add_slot(
        http, world.a.key, campaign, promoter_party_id=pd, program_id=world.program_id
    )
    assert refused.status_code == 422
    problem = refused.json()
    assert problem["field"] == "program_id" and "not approved" in problem["detail"]
    assert world.d.id in problem["detail"] and problem["partner_id"] == world.d.id
    # A promoting B's offer with A's own link would need A in the brand's program: refused.
    own = add_slot(
        http,
        world.a.key,
        campaign,
        promoter_party_id=pb,
        beneficiary_party_id=pa,
        program_id=world.b_offer_id,
    )
    assert own.status_code == 422 and own.json()["field"] == "program_id"
    # Nobody cross-promotes itself; an advertiser does not place slots.
    selfish = add_slot(
        http,
        world.a.key,
        campaign,
        promoter_party_id=pa,
        beneficiary_party_id=pa,
        program_id=world.program_id,
    )
    assert selfish.status_code == 422 and selfish.json()["field"] == "beneficiary_party_id"
    shop = add_slot(
        http,
        world.a.key,
        campaign,
        promoter_party_id=party(campaign, world.shop.id),
        program_id=world.program_id,
    )
    assert shop.status_code == 422 and shop.json()["field"] == "promoter_party_id"
    # Times: the end after the start, inside the campaign's period.
    backwards = add_slot(
        http,
        world.a.key,
        campaign,
        promoter_party_id=pa,
        program_id=world.program_id,
        starts_at=at(5),
        ends_at=at(4),
    )
    assert backwards.status_code == 422 and backwards.json()["field"] == "ends_at"
    outside = add_slot(
        http,
        world.a.key,
        campaign,
        promoter_party_id=pa,
        program_id=world.program_id,
        starts_at=at(40),
        ends_at=at(41),
    )
    assert outside.status_code == 422
    # Only the organiser writes the schedule.
    theirs = add_slot(
        http, world.b.key, campaign, promoter_party_id=pb, program_id=world.program_id
    )
    assert theirs.status_code == 403
    # Moving a slot to another program gives it a new link; the old one stays.
    moved = expect(
        http.patch(
            f"{API}/campaigns/{campaign['id']}/slots/{slot['id']}",
            json={
                "beneficiary_party_id": party(campaign, world.shop.id),
                "program_id": world.program_id,
            },
            headers=auth(world.a.key),
        ),
        200,
    )
    assert moved["link"]["id"] != slot["link"]["id"] and moved["link"]["partner_id"] == world.a.id
    gone = http.delete(
        f"{API}/campaigns/{campaign['id']}/slots/{slot['id']}", headers=auth(world.a.key)
    )
    assert gone.status_code == 204
    assert slot["id"] not in {s["id"] for s in get(http, world.a.key, campaign["id"])["slots"]}


def test_deliverables_are_reviewed_until_approved(http: httpx.Client, world: World) -> None:
    campaign = agreed_campaign(http, world)
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    base = f"{API}/campaigns/{campaign['id']}/deliverables"
    item = expect(
        http.post(
            base,
            json={"party_id": pb, "title": "Draft post", "due_at": at(2)},
            headers=auth(world.a.key),
        ),
        201,
    )
    assert item["status"] == "requested" and item["reviewer_party_id"] == pa and not item["overdue"]
    url = f"{base}/{item['id']}"
    # Only B hands it in; only A reviews; reviewing before a submission is an illegal move.
    assert (
        http.post(
            f"{url}/submit", json={"url": "https://b.example/draft"}, headers=auth(world.a.key)
        ).status_code
        == 403
    )
    assert http.post(f"{url}/approve", headers=auth(world.a.key)).status_code == 409
    submitted = expect(
        http.post(
            f"{url}/submit", json={"url": "https://b.example/draft"}, headers=auth(world.b.key)
        ),
        200,
    )
    assert submitted["status"] == "submitted" and submitted["submissions"] == 1
    assert http.post(f"{url}/approve", headers=auth(world.b.key)).status_code == 403
    no_note = http.post(f"{url}/request-changes", json={"note": ""}, headers=auth(world.a.key))
    assert no_note.status_code == 422 and no_note.json()["field"] == "note"
    sent_back = expect(
        http.post(
            f"{url}/request-changes", json={"note": "Add the code"}, headers=auth(world.a.key)
        ),
        200,
    )
    assert sent_back["status"] == "changes_requested" and sent_back["review_note"] == "Add the code"
    again = expect(
        http.post(f"{url}/submit", json={"note": "Done, see v2"}, headers=auth(world.b.key)), 200
    )
    assert again["status"] == "submitted" and again["submissions"] == 2
    approved = expect(
        http.post(f"{url}/approve", json={"note": "Great"}, headers=auth(world.a.key)), 200
    )
    assert approved["status"] == "approved"
    assert (
        http.post(f"{url}/submit", json={"note": "v3"}, headers=auth(world.b.key)).status_code
        == 409
    )
    # A deliverable is not a term: the campaign stayed agreed.
    assert get(http, world.b.key, campaign["id"])["status"] == "active"


def test_progress_counts_the_campaigns_links_in_its_period(
    http: httpx.Client, world: World
) -> None:
    campaign = agreed_campaign(
        http,
        world,
        slot_start=-0.5,
        goals={"clicks": 4, "orders": 2, "revenue": {"amount": "500.00", "currency": "EUR"}},
    )
    assert campaign["status"] == "live"  # its first slot had started when B accepted
    slot = campaign["slots"][0]
    link = slot["link"]
    now = utcnow()
    clicks = [
        insert_click(
            world.b_offer_id, link["partner_id"], link["id"], occurred_at=now - timedelta(hours=1)
        )
        for _ in range(3)
    ]
    insert_click(world.b_offer_id, link["partner_id"], link["id"], occurred_at=now, is_bot=True)
    insert_click(
        world.b_offer_id, link["partner_id"], link["id"], occurred_at=now - timedelta(days=3)
    )  # before the period
    insert_conversion(
        world.b_offer_id,
        link["partner_id"],
        currency="EUR",
        amount="120.00",
        click_id=clicks[0],
        occurred_at=now - timedelta(minutes=30),
    )
    insert_conversion(
        world.b_offer_id,
        link["partner_id"],
        currency="EUR",
        amount="80.00",
        click_id=clicks[1],
        occurred_at=now - timedelta(minutes=20),
        refunded_amount=Decimal("30.00"),
    )
    insert_conversion(
        world.b_offer_id,
        link["partner_id"],
        currency="EUR",
        amount="999.00",
        click_id=clicks[2],
        status="declined",
        occurred_at=now - timedelta(minutes=10),
    )
    progress = expect(
        http.get(f"{API}/campaigns/{campaign['id']}/progress", headers=auth(world.b.key)), 200
    )
    assert (progress["clicks"], progress["valid_clicks"], progress["orders"]) == (4, 3, 2)
    assert progress["revenue"] == {"amount": "170.00", "currency": "EUR"}
    goals = {g["metric"]: g for g in progress["goals"]}
    assert goals["clicks"]["percent"] == "75" and goals["orders"]["percent"] == "100"
    assert goals["revenue"] == {
        "metric": "revenue",
        "target": "500.00",
        "value": "170.00",
        "percent": "34",
        "currency": "EUR",
    }
    by_slot = {s["slot_id"]: s for s in progress["slots"]}
    assert by_slot[slot["id"]]["orders"] == 2 and by_slot[campaign["slots"][1]["id"]]["clicks"] == 0


def test_only_parties_see_a_campaign(http: httpx.Client, world: World, operator_key: str) -> None:
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}])
    for outsider in (world.c.key, world.shop.key):
        assert (
            http.get(f"{API}/campaigns/{campaign['id']}", headers=auth(outsider)).status_code == 404
        )
        assert act(http, outsider, campaign["id"], "cancel", {"reason": "x"}).status_code == 404
        listed = expect(http.get(f"{API}/campaigns", headers=auth(outsider)), 200)
        assert campaign["id"] not in {c["id"] for c in listed["data"]}
    mine = expect(http.get(f"{API}/campaigns?status=draft", headers=auth(world.b.key)), 200)
    summary = next(c for c in mine["data"] if c["id"] == campaign["id"])
    assert summary["parties"] == 2 and summary["my_party_id"] == party(campaign, world.b.id)
    assert (
        http.get(f"{API}/campaigns/{campaign['id']}", headers=auth(operator_key)).status_code == 200
    )
    # Junk ids are 404s too, never a 500.
    for junk in ("cmp_x", "x" * 300, "cmp_" + "Z" * 26):
        assert http.get(f"{API}/campaigns/{junk}", headers=auth(world.a.key)).status_code == 404
    # The operator organises nothing: it is not a party.
    assert (
        http.post(
            f"{API}/campaigns",
            json={"title": "x", "kind": "social", "time_zone": "UTC"},
            headers=auth(operator_key),
        ).status_code
        == 403
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "carrier-pigeon"}, "kind"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"starts_at": "2026-05-01T10:00:00"}, "starts_at"),  # no time zone
        ({"goals": {"revenue": {"amount": "12.345", "currency": "EUR"}}}, "goals.revenue.amount"),
        ({"goals": {"revenue": {"amount": "100", "currency": "XYZ"}}}, "goals.revenue.currency"),
        ({"goals": {"revenue": {"amount": "1e400", "currency": "EUR"}}}, "goals.revenue.amount"),
        ({"goals": {"clicks": 0}}, "goals.clicks"),
        ({"tolerance": {"percent": "101"}}, "tolerance.percent"),
        ({"tolerance": {"percent": 10.5}}, "tolerance.percent"),
        ({"parties": [{"partner_id": "ptn_nope"}]}, "parties.0.partner_id"),
        ({"start_at": "2026-05-01T10:00:00Z"}, "start_at"),
        ({"title": "a\r\nb"}, "title"),
    ],
)
def test_bad_input_is_a_422_naming_the_field(
    http: httpx.Client, world: World, body: dict[str, object], field: str
) -> None:
    payload = {"title": "x", "kind": "social", "time_zone": "Europe/Berlin", **body}
    answer = http.post(f"{API}/campaigns", json=payload, headers=auth(world.a.key))
    assert answer.status_code == 422, answer.text
    assert answer.json()["field"] == field


def test_an_unknown_party_and_a_backwards_period_are_refused(
    http: httpx.Client, world: World
) -> None:
    ghost = "ptn_" + "0" * 26
    answer = http.post(
        f"{API}/campaigns",
        json={
            "title": "x",
            "kind": "social",
            "time_zone": "UTC",
            "parties": [{"partner_id": ghost}],
        },
        headers=auth(world.a.key),
    )
    assert answer.status_code == 422 and answer.json()["field"] == "parties.0.partner_id"
    backwards = http.post(
        f"{API}/campaigns",
        json={
            "title": "x",
            "kind": "social",
            "time_zone": "UTC",
            "starts_at": at(2),
            "ends_at": at(1),
        },
        headers=auth(world.a.key),
    )
    assert backwards.status_code == 422 and backwards.json()["field"] == "ends_at"
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}])
    twice = http.post(
        f"{API}/campaigns/{campaign['id']}/parties",
        json={"partner_id": world.b.id},
        headers=auth(world.a.key),
    )
    assert twice.status_code == 409


def test_the_exchange_terms_name_who_delivers_to_whom(http: httpx.Client, world: World) -> None:
    from alliance.crosspromo import campaign_exchange

    campaign = agreed_campaign(http, world, tolerance={"percent": "15", "clicks": 100})
    with reading() as session:
        terms = campaign_exchange.exchange_terms(session, campaign["id"])
        between = campaign_exchange.campaigns_between(session, world.a.id, world.b.id)
    assert (
        terms.agreed and terms.tolerance_percent == Decimal("15") and terms.tolerance_clicks == 100
    )
    assert campaign["id"] in between
    flows = {
        (x.promoter_partner_id, x.beneficiary_partner_id, x.link_partner_id) for x in terms.links
    }
    assert flows == {(world.a.id, world.b.id, world.b.id), (world.b.id, world.a.id, world.a.id)}
    assert {p.partner_id for p in terms.parties} == {world.a.id, world.b.id}
    assert when(campaign["starts_at"]) == terms.starts_at


def test_proposed_terms_stay_complete(http: httpx.Client, world: World) -> None:
    campaign = agreed_campaign(http, world)
    for slot in campaign["slots"][1:]:
        gone = http.delete(
            f"{API}/campaigns/{campaign['id']}/slots/{slot['id']}", headers=auth(world.a.key)
        )
        assert gone.status_code == 204
    last = campaign["slots"][0]["id"]
    refused = http.delete(
        f"{API}/campaigns/{campaign['id']}/slots/{last}", headers=auth(world.a.key)
    )
    assert refused.status_code == 422 and refused.json()["field"] == "slots"
    no_period = http.patch(
        f"{API}/campaigns/{campaign['id']}", json={"ends_at": None}, headers=auth(world.a.key)
    )
    assert no_period.status_code == 422 and no_period.json()["field"] == "ends_at"
    # Refused edits changed nothing.
    after = get(http, world.a.key, campaign["id"])
    assert after["ends_at"] is not None and [s["id"] for s in after["slots"]] == [last]


def test_junk_to_every_campaign_endpoint_is_a_4xx_problem(http: httpx.Client, world: World) -> None:
    """Every endpoint that takes a body, fed junk bodies, and junk ids: never a 500, always
    problem+json."""
    campaign = agreed_campaign(http, world)
    cid, slot = campaign["id"], campaign["slots"][0]["id"]
    deliverable = expect(
        http.post(
            f"{API}/campaigns/{cid}/deliverables",
            json={"party_id": party(campaign, world.b.id), "title": "x", "due_at": at(1)},
            headers=auth(world.a.key),
        ),
        201,
    )["id"]
    writes = [
        ("POST", "/campaigns"),
        ("PATCH", f"/campaigns/{cid}"),
        *(
            ("POST", f"/campaigns/{cid}/{a}")
            for a in ("accept", "decline", "cancel")  # propose, start, complete take no body
        ),
        ("POST", f"/campaigns/{cid}/parties"),
        ("PUT", f"/campaigns/{cid}/parties/me/time-zone"),
        ("POST", f"/campaigns/{cid}/slots"),
        ("PATCH", f"/campaigns/{cid}/slots/{slot}"),
        ("POST", f"/campaigns/{cid}/slots/{slot}/done"),
        ("POST", f"/campaigns/{cid}/deliverables"),
        ("PATCH", f"/campaigns/{cid}/deliverables/{deliverable}"),
        *(
            ("POST", f"/campaigns/{cid}/deliverables/{deliverable}/{a}")
            for a in ("submit", "approve", "request-changes")
        ),
    ]
    bodies: list[object] = [
        [],
        "x",
        17,
        {"title": None, "kind": None, "time_zone": None},
        {"starts_at": "yesterday", "ends_at": 5, "due_at": "2027-13-40T99:00Z"},
        {"version": -1, "reason": "x" * 5000, "note": "\u0000"},
        {"promoter_party_id": "cpt_" + "0" * 26, "program_id": "prg_" + "0" * 26, "channel": "fax"},
        {"party_id": "cpt_\u0000", "url": "javascript:alert(1)", "time_zone": "x" * 100},
        {
            "goals": {"revenue": {"amount": "NaN", "currency": "EUR"}},
            "tolerance": {"percent": "-1"},
        },
    ]
    for method, path in writes:
        for body in bodies:
            answer = http.request(method, f"{API}{path}", json=body, headers=auth(world.a.key))
            assert 400 <= answer.status_code < 500, f"{method} {path} {body!r}: {answer.text}"
            assert answer.headers["content-type"] == "application/problem+json"
        raw = http.request(
            method,
            f"{API}{path}",
            content=b"{not json",
            headers={**auth(world.a.key), "content-type": "application/json"},
        )
        assert 400 <= raw.status_code < 500, f"{method} {path}: {raw.text}"
    for junk in ("slt_" + "Z" * 26, "nope", "%00"):
        answer = http.patch(
            f"{API}/campaigns/{cid}/slots/{junk}", json={"title": "x"}, headers=auth(world.a.key)
        )
        assert answer.status_code == 404, answer.text
        answer = http.post(
            f"{API}/campaigns/{cid}/deliverables/{junk}/submit",
            json={"note": "x"},
            headers=auth(world.b.key),
        )
        assert answer.status_code == 404, answer.text
        answer = http.delete(f"{API}/campaigns/{cid}/parties/{junk}", headers=auth(world.a.key))
        assert answer.status_code == 422, answer.text


def test_an_advertiser_can_organise_a_campaign_of_its_partners(
    http: httpx.Client, world: World
) -> None:
    campaign = create(
        http,
        world.shop.key,
        kind="bundle",
        parties=[{"partner_id": world.a.id}, {"partner_id": world.b.id}],
    )
    shop, pa, pb = (party(campaign, x) for x in (world.shop.id, world.a.id, world.b.id))
    assert campaign["organiser_party_id"] == shop
    for promoter in (pa, pb):
        slot = expect(
            add_slot(
                http,
                world.shop.key,
                campaign,
                promoter_party_id=promoter,
                program_id=world.program_id,
            ),
            201,
        )
        assert slot["beneficiary_party_id"] == shop  # its own program
    expect(act(http, world.shop.key, campaign["id"], "propose"), 200)
    expect(act(http, world.a.key, campaign["id"], "accept"), 200)
    agreed = expect(act(http, world.b.key, campaign["id"], "accept"), 200)
    assert agreed["status"] == "active"
    # The shop sees it among its campaigns; a partner not in it does not.
    mine = expect(http.get(f"{API}/campaigns", headers=auth(world.shop.key)), 200)
    assert campaign["id"] in {c["id"] for c in mine["data"]}
    with reading() as session:
        mails = session.scalars(
            select(OutgoingMail).where(
                OutgoingMail.about == campaign["id"], OutgoingMail.kind == "campaign_acceptance"
            )
        ).all()
    # Partners are sent to their campaign page (A in German, B in English).
    assert {m.locale for m in mails} == {"de", "en"}
    assert all(f"/partner/campaigns/{campaign['id']}" in m.text_body for m in mails)
