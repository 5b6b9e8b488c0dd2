"""Enrollment: a partner applies; the advertiser (or operator) decides, per the transitions."""

from __future__ import annotations

import httpx

from tests.api.factories import (
    API,
    apply,
    auth,
    decide,
    expect,
    make_advertiser,
    make_partner,
    make_program,
)


def test_apply_then_approve_with_a_group(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    partner_id, partner_key = make_partner(http, operator_key)
    applied = apply(http, program["id"], partner_key, message="We review shoes.")
    assert applied["status"] == "applied" and applied["partner_id"] == partner_id
    assert applied["message"] == "We review shoes."
    approved = expect(decide(http, applied["id"], "approve", adv_key, group="vip"), 200)
    assert approved["status"] == "approved" and approved["group"] == "vip"
    assert approved["decided_at"] is not None


def test_reapplying_is_a_conflict(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    apply(http, program["id"], partner_key)
    again = http.post(
        f"{API}/programs/{program['id']}/enrollments", json={}, headers=auth(partner_key)
    )
    assert again.status_code == 409
    assert again.headers["content-type"] == "application/problem+json"


def test_apply_needs_no_body(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    response = http.post(f"{API}/programs/{program['id']}/enrollments", headers=auth(partner_key))
    assert expect(response, 201)["message"] == ""


def test_transitions_follow_the_table(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    enrollment_id = apply(http, program["id"], partner_key)["id"]

    illegal = expect(decide(http, enrollment_id, "suspend", adv_key), 409)
    assert "applied" in illegal["detail"]
    assert (
        expect(decide(http, enrollment_id, "reject", adv_key, reason="off-topic"), 200)["reason"]
        == "off-topic"
    )
    assert expect(decide(http, enrollment_id, "approve", adv_key), 200)["status"] == "approved"
    assert expect(decide(http, enrollment_id, "suspend", adv_key), 200)["status"] == "suspended"
    assert expect(decide(http, enrollment_id, "approve", operator_key), 200)["status"] == "approved"
    assert expect(decide(http, enrollment_id, "ban", adv_key), 200)["status"] == "banned"
    for action in ("approve", "reject", "suspend", "ban"):
        expect(decide(http, enrollment_id, action, adv_key), 409)


def test_group_only_when_approving(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    enrollment_id = apply(http, program["id"], partner_key)["id"]
    problem = expect(decide(http, enrollment_id, "reject", adv_key, group="vip"), 422)
    assert problem["field"] == "group"


def test_partner_cannot_decide_its_own_enrollment(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    enrollment_id = apply(http, program["id"], partner_key)["id"]
    assert decide(http, enrollment_id, "approve", partner_key).status_code == 403


def test_paused_program_takes_no_applications(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    expect(
        http.patch(
            f"{API}/programs/{program['id']}", json={"status": "paused"}, headers=auth(adv_key)
        ),
        200,
    )
    _, partner_key = make_partner(http, operator_key)
    response = http.post(
        f"{API}/programs/{program['id']}/enrollments", json={}, headers=auth(partner_key)
    )
    assert response.status_code == 404  # a paused program leaves the marketplace


def test_enrollment_lists(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    p1, k1 = make_partner(http, operator_key)
    p2, k2 = make_partner(http, operator_key)
    e1 = apply(http, program["id"], k1)
    e2 = apply(http, program["id"], k2)
    expect(decide(http, e2["id"], "approve", adv_key), 200)
    url = f"{API}/programs/{program['id']}/enrollments"
    everyone = expect(http.get(url, headers=auth(adv_key)), 200)["data"]
    assert {e["id"] for e in everyone} == {e1["id"], e2["id"]}
    approved = expect(http.get(url, params={"status": "approved"}, headers=auth(adv_key)), 200)
    assert [e["partner_id"] for e in approved["data"]] == [p2]
    assert http.get(url, headers=auth(k1)).status_code == 403
    mine = expect(http.get(f"{API}/enrollments", headers=auth(k1)), 200)["data"]
    assert [e["partner_id"] for e in mine] == [p1]
    detail = expect(http.get(f"{API}/enrollments/{e1['id']}", headers=auth(k1)), 200)
    assert detail["status"] == "applied"
