"""GET /api/v1/inbound-events (scoped) and POST /api/v1/inbound-events/{id}/retry."""

from __future__ import annotations

import httpx

from alliance.accounts.models import AccountKind
from alliance.accounts.service import issue_api_key
from alliance.db.engine import transaction

from .factories import enroll, link, new_click, partner, world


def key_for(kind: AccountKind, owner_id: str) -> dict[str, str]:
    with transaction() as session:
        return {"authorization": f"Bearer {issue_api_key(session, kind, owner_id)}"}


def test_advertiser_sees_its_rejections_and_retries_after_fixing(
    http: httpx.Client, operator_key: str
) -> None:
    w = world()
    other = world()
    with transaction() as session:
        applicant = partner(session, "Applicant")
        enrollment = enroll(session, w.program_id, applicant.id, status="applied")
        applicant_link = link(session, w.program_id, applicant.id)
        enrollment_id = enrollment.id
    click = new_click(w, link_id=applicant_link.id)
    refused = http.get(
        "/postback",
        params={
            "program": w.program_id,
            "token": w.token,
            "order_id": "IB-1",
            "amount": "10.00",
            "click_id": click.id,
            "token2": "x",
        },
    ).json()
    assert refused["reason"] == "partner_not_approved"
    http.get(
        "/postback", params={"program": other.program_id, "token": "wrong", "order_id": "IB-2"}
    )

    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    page = http.get(
        "/api/v1/inbound-events",
        params={"status": "rejected", "program_id": w.program_id},
        headers=adv,
    )
    assert page.status_code == 200, page.text
    items = page.json()["data"]
    assert [i["id"] for i in items] == [refused["inbound_event_id"]]
    assert items[0]["reason"] == "partner_not_approved"
    assert w.token not in items[0]["query"] and "token=***" in items[0]["query"]
    # Everything the advertiser can see is its own; a foreign program is a 404.
    mine = http.get("/api/v1/inbound-events", headers=adv).json()["data"]
    assert {i["program_id"] for i in mine} == {w.program_id}
    foreign = http.get(
        "/api/v1/inbound-events", params={"program_id": other.program_id}, headers=adv
    )
    assert foreign.status_code == 404
    assert (
        http.get(
            f"/api/v1/inbound-events/{mine[0]['id']}",
            headers=key_for(AccountKind.advertiser, other.advertiser_id),
        ).status_code
        == 404
    )
    assert (
        http.get(
            "/api/v1/inbound-events", headers=key_for(AccountKind.partner, w.partner_id)
        ).status_code
        == 403
    )
    op = {"authorization": f"Bearer {operator_key}"}
    everything = http.get("/api/v1/inbound-events", params={"limit": 200}, headers=op).json()
    assert len(everything["data"]) >= 2

    # Pagination walks newest first.
    http.get("/postback", params={"program": w.program_id, "token": "wrong"})
    first = http.get("/api/v1/inbound-events", params={"limit": 1}, headers=adv).json()
    second = http.get(
        "/api/v1/inbound-events", params={"limit": 1, "cursor": first["next_cursor"]}, headers=adv
    ).json()
    assert first["next_cursor"] and first["data"][0]["id"] > second["data"][0]["id"]

    with transaction() as session:
        from alliance.programs.models import Enrollment

        row = session.get(Enrollment, enrollment_id)
        assert row is not None
        row.status = "approved"
    retried = http.post(f"/api/v1/inbound-events/{refused['inbound_event_id']}/retry", headers=adv)
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "accepted" and retried.json()["conversion_id"]
    again = http.post(f"/api/v1/inbound-events/{refused['inbound_event_id']}/retry", headers=adv)
    assert again.status_code == 409
