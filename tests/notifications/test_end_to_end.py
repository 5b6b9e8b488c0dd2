"""From a postback to the receivers: the server records conversions (and writes their events in
the same transactions), the `deliver_webhooks` job sends them to the advertiser's and the
partner's endpoints and calls the partner's tracker."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from alliance.clock import utcnow
from alliance.jobs import tasks
from alliance.jobs.runner import Task, run_task
from tests.api.factories import API, auth, expect, insert_click, make_network

from .conftest import Stub
from .standard_webhooks import verify

pytestmark = pytest.mark.slow

DELIVER = Task("deliver_webhooks", tasks.deliver_webhooks, timedelta(0), "test")


def deliver(**kwargs: Any) -> dict[str, Any]:
    result = run_task(DELIVER, **kwargs)
    assert result.ok, result.result
    return result.result


def test_a_conversion_from_postback_to_webhooks_and_tracker(
    http: httpx.Client, operator_key: str, stub: Stub
) -> None:
    net = make_network(http, operator_key, lock_period_days=0)
    adv = expect(
        http.post(
            f"{API}/webhook-endpoints",
            json={"url": stub.url("/ok/erp")},
            headers=auth(net.advertiser_key),
        ),
        201,
    )
    ptn = expect(
        http.post(
            f"{API}/webhook-endpoints",
            json={"url": stub.url("/ok/partner-app"), "event_types": ["commission.approved"]},
            headers=auth(net.partner_key),
        ),
        201,
    )
    expect(
        http.put(
            f"{API}/partner-postbacks",
            json={
                "url": stub.url(
                    "/ok/tracker?subid={sub1}&tx={order_id}&payout={commission}&s={status}"
                )
            },
            headers=auth(net.partner_key),
        ),
        200,
    )
    click = insert_click(net.program_id, net.partner_id, net.link["id"], sub1="kw-hiking boots")
    base = {"program": net.program_id, "token": net.program["postback_token"], "order_id": "E2E-1"}
    sale = {**base, "click_id": click, "amount": "1250.00", "currency": "SEK"}
    assert expect(http.get("/postback", params=sale), 200)["status"] == "accepted"
    assert (
        expect(http.get("/postback", params={**base, "status": "completed"}), 200)["status"]
        == "accepted"
    )

    first = deliver()
    assert first["delivered"] >= 4  # 2 to the ERP, 2 postbacks

    # Deliveries go out in parallel: put them back in event order (ids sort by time).
    erp = sorted(stub.to("/ok/erp"), key=lambda r: r.headers["webhook-id"])
    for received in erp:
        verify(adv["secret"], received.headers, received.body)
    created, completed = (json.loads(r.body) for r in erp)
    assert created["type"] == "conversion.created" and completed["type"] == "conversion.completed"
    assert created["data"]["sub_ids"]["sub1"] == "kw-hiking boots"
    assert created["data"]["click_id"] == click and created["data"]["order_id"] == "E2E-1"
    assert completed["data"]["status"] == "completed"
    assert completed["data"]["commission"]["value"] == "125.00"

    calls = sorted(stub.to("/ok/tracker"), key=lambda r: r.headers["webhook-id"])
    tracker = [parse_qs(urlsplit(r.path).query) for r in calls]
    assert tracker == [
        {"subid": ["kw-hiking boots"], "tx": ["E2E-1"], "payout": ["125.00"], "s": ["pending"]},
        {"subid": ["kw-hiking boots"], "tx": ["E2E-1"], "payout": ["125.00"], "s": ["completed"]},
    ]
    assert stub.to("/ok/partner-app") == []  # it only wants approvals

    approved = run_task(
        Task("approve", tasks.approve_due_commissions, timedelta(0), "test"),
        utcnow() + timedelta(seconds=5),
    )
    assert approved.ok
    deliver()
    [approval] = stub.to("/ok/partner-app")
    verify(ptn["secret"], approval.headers, approval.body)
    event = json.loads(approval.body)
    assert event["type"] == "commission.approved"
    assert event["data"]["partner_id"] == net.partner_id and event["data"]["value"] == "125.00"
    erp_types = [json.loads(r.body)["type"] for r in stub.to("/ok/erp")]
    assert erp_types[-1] == "commission.approved"
