"""Delivery end to end in-process: events routed to endpoints and postbacks, sent to a stub
receiver on 127.0.0.1, signed, retried with backoff under the same id, timed out, redirects
refused, dead letters retried by hand."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.errors import Conflict
from alliance.notifications import service
from alliance.notifications.delivery import Outcome, claim
from alliance.notifications.delivery import record as record_outcomes
from alliance.notifications.models import WebhookDelivery, WebhookEndpoint
from alliance.settings import get_settings
from tests.conversions.factories import new_click, world

from .conftest import Stub
from .helpers import (
    advertiser,
    body,
    deliveries,
    endpoint,
    later,
    partner,
    postback,
    record,
    run,
)
from .standard_webhooks import verify

pytestmark = pytest.mark.usefixtures("db_url")


def test_a_conversion_reaches_its_advertiser_and_partner_signed(stub: Stub) -> None:
    w, other = world(currency="EUR"), world()
    adv = endpoint(advertiser(w), stub.url("/ok/advertiser"))
    ptn = endpoint(partner(w), stub.url("/ok/partner"))
    endpoint(advertiser(other), stub.url("/ok/other-advertiser"))
    cid = record(w, "D-1", amount=Decimal("80.00"))
    totals = run()
    assert totals["delivered"] >= 2
    [to_adv] = stub.to("/ok/advertiser")
    [to_ptn] = stub.to("/ok/partner")
    assert stub.to("/ok/other-advertiser") == []
    verify(adv.secret, to_adv.headers, to_adv.body)
    verify(ptn.secret, to_ptn.headers, to_ptn.body)
    assert to_adv.method == "POST" and to_adv.headers["Content-Type"] == "application/json"
    assert to_adv.headers["webhook-id"] == to_ptn.headers["webhook-id"]  # one event
    assert to_adv.headers["webhook-id"].startswith("msg_")
    assert to_adv.body == to_ptn.body
    event = body(to_adv.body)
    assert event["type"] == "conversion.created" and event["timestamp"].endswith("Z")
    assert event["data"]["id"] == cid and event["data"]["amount"] == "80.00"
    assert event["data"]["commission"]["value"] == "8.00"
    [log] = deliveries(endpoint_id=adv.id)
    assert (log["state"], log["attempts"], log["last_status_code"]) == ("delivered", 1, 200)
    assert log["next_attempt_at"] is None and log["delivered_at"] is not None


def test_endpoints_receive_only_the_types_they_chose(stub: Stub) -> None:
    w = world(lock_days=0)
    endpoint(advertiser(w), stub.url("/ok/approved"), ["commission.approved"])
    endpoint(partner(w), stub.url("/ok/all"))
    record(w, "D-2")
    record(w, "D-2", status="completed")
    from alliance.commissions import service as ledger

    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(seconds=1))
    run()
    assert [body(r.body)["type"] for r in stub.to("/ok/approved")] == ["commission.approved"]
    assert sorted(body(r.body)["type"] for r in stub.to("/ok/all")) == [
        "commission.approved",
        "conversion.completed",
        "conversion.created",
    ]


def test_an_endpoint_gets_no_event_from_before_it_existed(stub: Stub) -> None:
    w = world()
    record(w, "D-3")
    endpoint(advertiser(w), stub.url("/ok/late"))
    record(w, "D-4")
    run()
    assert [body(r.body)["data"]["order_id"] for r in stub.to("/ok/late")] == ["D-4"]


def test_a_failure_is_retried_later_with_the_same_id_and_body(stub: Stub) -> None:
    w = world()
    ep = endpoint(advertiser(w), stub.url("/flaky/retry"))
    record(w, "D-5")
    run()
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["attempts"], log["last_status_code"]) == ("failed", 1, 500)
    assert log["last_error"] == "HTTP 500" and log["next_attempt_at"] > utcnow()
    run()  # not due yet: nothing is sent
    assert len(stub.to("/flaky/retry")) == 1
    run(later())
    first, second = stub.to("/flaky/retry")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body
    verify(ep.secret, first.headers, first.body)
    verify(ep.secret, second.headers, second.body)
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["attempts"], log["last_status_code"]) == ("delivered", 2, 200)


def test_a_redirect_is_a_failure_and_is_not_followed(stub: Stub) -> None:
    w = world()
    ep = endpoint(advertiser(w), stub.url("/redirect/x"))
    record(w, "D-6")
    run()
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["last_status_code"]) == ("failed", 302)
    assert "not followed" in log["last_error"]
    assert len(stub.to("/redirect/x")) == 1 and stub.to("/ok/after-redirect") == []


def test_an_attempt_times_out(stub: Stub) -> None:
    w = world()
    ep = endpoint(advertiser(w), stub.url("/slow/x"))
    record(w, "D-7")
    began = time.monotonic()
    run()
    assert time.monotonic() - began < 2.5  # ALLIANCE_WEBHOOK_TIMEOUT_S=1 in these tests
    [log] = deliveries(endpoint_id=ep.id)
    assert log["state"] == "failed" and log["last_status_code"] is None
    assert log["last_error"] == "timed out after 1 s"


def test_a_trickling_receiver_cannot_stretch_an_attempt_past_its_deadline(stub: Stub) -> None:
    """Each byte arrives well within the timeout, the whole answer would take 3.4 s: the
    attempt's one deadline still ends it after 1 s."""
    w = world()
    ep = endpoint(advertiser(w), stub.url("/trickle/x"))
    record(w, "D-8")
    began = time.monotonic()
    run()
    assert time.monotonic() - began < 2.5
    [log] = deliveries(endpoint_id=ep.id)
    assert log["state"] == "failed" and "timed out" in log["last_error"]


def test_after_the_last_attempt_it_is_dead_and_a_retry_sends_it_again(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ALLIANCE_WEBHOOK_MAX_ATTEMPTS", "2")
    get_settings.cache_clear()
    w = world()
    ep = endpoint(advertiser(w), stub.url("/fail/dead"))
    record(w, "D-9")
    run()
    run(later())
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["attempts"], log["next_attempt_at"]) == ("dead", 2, None)
    run(later(96))
    assert len(stub.to("/fail/dead")) == 2  # dead letters are not retried on their own

    with transaction() as session:
        row = session.get(WebhookEndpoint, ep.id)
        assert row is not None
        service.update_endpoint(session, row, now=utcnow(), url=stub.url("/ok/fixed"))
        delivery = session.get(WebhookDelivery, log["id"])
        assert delivery is not None
        service.retry_delivery(session, delivery, utcnow())
    run()
    [fixed] = stub.to("/ok/fixed")
    assert fixed.headers["webhook-id"] == stub.to("/fail/dead")[0].headers["webhook-id"]
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["attempts"]) == ("delivered", 3)


def test_deactivating_an_endpoint_turns_its_queue_into_dead_letters(stub: Stub) -> None:
    w = world()
    ep = endpoint(advertiser(w), stub.url("/fail/off"))
    record(w, "D-10")
    run()
    with transaction() as session:
        row = session.get(WebhookEndpoint, ep.id)
        assert row is not None
        service.update_endpoint(session, row, now=utcnow(), active=False)
    [log] = deliveries(endpoint_id=ep.id)
    assert log["state"] == "dead" and "deactivated" in log["last_error"]
    with pytest.raises(Conflict), transaction() as session:
        delivery = session.get(WebhookDelivery, log["id"])
        assert delivery is not None
        service.retry_delivery(session, delivery, utcnow())
    record(w, "D-11")
    run(later())
    assert len(stub.to("/fail/off")) == 1


def test_a_url_is_checked_again_before_every_attempt(
    stub: Stub, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Saved while 127.0.0.1 was allowed; sent after the allowlist was emptied: refused,
    nothing reaches the receiver."""
    w = world()
    ep = endpoint(advertiser(w), stub.url("/ok/recheck"))
    monkeypatch.setenv("ALLIANCE_WEBHOOK_ALLOW_HOSTS", "")
    monkeypatch.setenv("ALLIANCE_WEBHOOK_ALLOW_PORTS", str(stub.port))  # so the address decides
    get_settings.cache_clear()
    record(w, "D-12")
    run()
    [log] = deliveries(endpoint_id=ep.id)
    assert log["state"] == "failed" and log["last_status_code"] is None
    assert log["last_error"].startswith("refused:") and "loopback" in log["last_error"]
    assert stub.to("/ok/recheck") == []


def test_a_partner_postback_is_called_with_its_macros_url_encoded(stub: Stub) -> None:
    w = world(currency="SEK")
    pb = postback(
        w,
        stub.url(
            "/ok/pb?cid={click_id}&s1={sub1}&oid={order_id}&amt={amount}&com={commission}"
            "&cur={currency}&st={status}&ev={event}"
        ),
    )
    click = new_click(w)
    with transaction() as session:
        from alliance.tracking.models import Click

        row = session.get(Click, click.id)
        assert row is not None
        row.sub1 = "spring sale/2"
    record(w, "PB 1&2", click_id=click.id, coupon=None, amount=Decimal("1250.00"))
    record(w, "PB 1&2", status="completed")
    run()
    # Sent in parallel: back in event order (event ids sort by time).
    calls = sorted(stub.to("/ok/pb"), key=lambda r: r.headers["webhook-id"])
    assert [c.method for c in calls] == ["GET", "GET"]
    first = parse_qs(urlsplit(calls[0].path).query)
    assert first == {
        "cid": [click.id],
        "s1": ["spring sale/2"],
        "oid": ["PB 1&2"],
        "amt": ["1250.00"],
        "com": ["125.00"],
        "cur": ["SEK"],
        "st": ["pending"],
        "ev": ["conversion.created"],
    }
    assert "spring%20sale%2F2" in calls[0].path and "PB%201%262" in calls[0].path
    assert parse_qs(urlsplit(calls[1].path).query)["st"] == ["completed"]
    assert calls[0].headers["webhook-id"] != calls[1].headers["webhook-id"]
    assert [d["state"] for d in deliveries(postback_id=pb)] == ["delivered", "delivered"]


def test_a_program_postback_wins_over_the_partner_wide_one(stub: Stub) -> None:
    w = world()
    postback(w, stub.url("/ok/everywhere?o={order_id}"), program=False)
    postback(w, stub.url("/ok/this-program?o={order_id}"))
    record(w, "PB-2")
    run()
    assert len(stub.to("/ok/this-program")) == 1 and stub.to("/ok/everywhere") == []
    # A switched-off program template silences the program (the wide one does not step in).
    postback(w, stub.url("/ok/this-program?o={order_id}"), active=False)
    record(w, "PB-3")
    run()
    assert len(stub.to("/ok/this-program")) == 1 and stub.to("/ok/everywhere") == []


def test_a_postback_is_called_only_for_the_types_it_chose(stub: Stub) -> None:
    w = world()
    postback(w, stub.url("/ok/completed-only?s={status}"), event_types=["conversion.completed"])
    record(w, "PB-4")
    record(w, "PB-4", status="completed")
    run()
    assert [urlsplit(r.path).query for r in stub.to("/ok/completed-only")] == ["s=completed"]


def test_a_claimed_delivery_is_leased_and_a_late_result_cannot_overwrite(stub: Stub) -> None:
    w = world()
    ep = endpoint(advertiser(w), stub.url("/ok/lease"))
    record(w, "L-1")
    from alliance.notifications.dispatch import route_events

    now = utcnow()
    route_events(now)
    taken = [a for a in claim(now, 100, timedelta(minutes=5)) if a.url.endswith("/ok/lease")]
    assert len(taken) == 1 and taken[0].number == 1
    # Leased: neither a second worker now nor one just before the lease ends gets it.
    assert not [
        a for a in claim(now, 100, timedelta(minutes=5)) if a.delivery_id == taken[0].delivery_id
    ]
    # The lease ran out (the worker died): another worker takes it, as attempt 2.
    retaken = [
        a
        for a in claim(now + timedelta(minutes=6), 100, timedelta(minutes=5))
        if a.delivery_id == taken[0].delivery_id
    ]
    assert [a.number for a in retaken] == [2]
    # The first worker's late outcome names attempt 1: it changes nothing.
    record_outcomes([Outcome(taken[0], 500, "HTTP 500")], now, get_settings())
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["attempts"], log["state"], log["last_status_code"]) == (2, "pending", None)
    record_outcomes([Outcome(retaken[0], 200, None)], now, get_settings())
    [log] = deliveries(endpoint_id=ep.id)
    assert (log["state"], log["last_status_code"]) == ("delivered", 200)


def test_two_workers_claiming_at_once_never_take_the_same_delivery(stub: Stub) -> None:
    """SKIP LOCKED on PostgreSQL, the single writer on SQLite: disjoint claims."""
    import threading

    from alliance.notifications.dispatch import route_events

    w = world()
    ep = endpoint(advertiser(w), stub.url("/ok/race"))
    for n in range(8):
        record(w, f"RACE-{n}")
    now = utcnow()
    route_events(now)
    mine = {d["id"] for d in deliveries(endpoint_id=ep.id)}
    assert len(mine) == 8
    taken: list[list[str]] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        barrier.wait()
        taken.append([a.delivery_id for a in claim(now, 4, timedelta(minutes=5))])

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [d for batch in taken for d in batch if d in mine]
    assert len(claimed) == len(set(claimed))
    assert all(d["attempts"] <= 1 for d in deliveries(endpoint_id=ep.id))
