"""/postback through the real server: every status path, refunds, replays, attribution inputs,
reject reasons kept in the inbox, bad input classes, signatures and concurrent duplicates."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    CustomerBinding,
    InboundEvent,
)
from alliance.conversions.postback import canonical_query, sign
from alliance.db.engine import reading, transaction

from .factories import World, enroll, ledger_rows, link, new_click, partner, world

D = Decimal


def post(http: httpx.Client, w: World, **params: Any) -> httpx.Response:
    query = {"program": w.program_id, "token": w.token, "currency": w.currency, **params}
    return http.get("/postback", params={k: v for k, v in query.items() if v is not None})


def conversion(conversion_id: str) -> Conversion:
    with reading() as session:
        row = session.get(Conversion, conversion_id)
        assert row is not None
        session.expunge(row)  # keep its loaded values after the read session ends
        return row


def commission_of(conversion_id: str) -> Commission:
    with reading() as session:
        row = session.scalars(
            select(Commission).where(Commission.conversion_id == conversion_id)
        ).one()
        session.expunge(row)
        return row


def value(commission_id: str) -> Decimal:
    with reading() as session:
        return ledger.commission_value(session, commission_id)


def inbound(event_id: str) -> InboundEvent:
    with reading() as session:
        row = session.get(InboundEvent, event_id)
        assert row is not None
        session.expunge(row)
        return row


def entry_count(commission_id: str) -> int:
    with reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(LedgerEntry)
                .where(LedgerEntry.commission_id == commission_id)
            )
            or 0
        )


def assert_rejected(response: httpx.Response, status: int, reason: str, field: str | None) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["reason"] == reason
    assert body.get("field") == field
    event = inbound(body["inbound_event_id"])
    assert event.status == "rejected"
    assert event.reason == reason
    assert event.field == field


# --- the happy paths --------------------------------------------------------------------------


def test_sale_is_attributed_priced_and_accrued(http: httpx.Client) -> None:
    w = world(terms={"type": "cps", "percent": "10"})
    click = new_click(w)
    r = post(
        http,
        w,
        order_id="A-1",
        amount="121.00",
        tax="21.00",
        click_id=click.id,
        customer_id="cust-1",
        country="SE",
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "accepted"
    row = conversion(body["conversion_id"])
    assert (row.partner_id, row.attributed_by, row.click_id) == (w.partner_id, "click_id", click.id)
    assert (row.amount, row.net_amount, row.tax_amount) == (D("121.00"), D("100.00"), D("21.00"))
    assert row.new_customer is True and row.buyer_country == "SE"
    assert row.click_path[0]["verdict"] == "winner"
    com = commission_of(row.id)
    assert com.amount == D("10.00") and com.status == "pending" and com.terms_version == 1
    assert "10" in com.arithmetic
    assert ledger_rows(com.id) == [("pending", "accrual", D("10.00"))]
    assert inbound(body["inbound_event_id"]).status == "accepted"
    with reading() as session:
        binding = session.scalars(
            select(CustomerBinding).where(CustomerBinding.program_id == w.program_id)
        ).one()
        assert binding.partner_id == w.partner_id


def test_replay_is_a_duplicate_and_writes_nothing(http: httpx.Client) -> None:
    w = world()
    first = post(http, w, order_id="R-1", amount="50.00", coupon=w.coupon).json()
    com = commission_of(first["conversion_id"])
    again = post(http, w, order_id="R-1", amount="50.00", coupon=w.coupon)
    assert again.status_code == 200
    assert again.json()["status"] == "duplicate"
    assert again.json()["conversion_id"] == first["conversion_id"]
    assert entry_count(com.id) == 1
    assert inbound(again.json()["inbound_event_id"]).status == "duplicate"


def test_completed_then_approved_after_lock(http: httpx.Client) -> None:
    w = world(lock_days=14)
    created = post(http, w, order_id="C-1", amount="80.00", coupon=w.coupon).json()
    done = post(http, w, order_id="C-1", status="completed")
    assert done.json()["status"] == "accepted"
    assert post(http, w, order_id="C-1", status="completed").json()["status"] == "duplicate"
    # A replay of the first "pending" report never moves the order back.
    assert post(http, w, order_id="C-1", amount="80.00", coupon=w.coupon).json()["status"] == (
        "duplicate"
    )
    row = conversion(created["conversion_id"])
    com = commission_of(row.id)
    assert row.status == "completed" and row.completed_at is not None
    assert com.approvable_at == row.completed_at + timedelta(days=14)
    with transaction() as session:
        assert ledger.approve_due(session, utcnow() + timedelta(days=13)) >= 0
    assert commission_of(row.id).status == "pending"
    with transaction() as session:
        assert ledger.approve_due(session, utcnow() + timedelta(days=15)) >= 1
    com = commission_of(row.id)
    assert com.status == "approved"
    assert ledger_rows(com.id) == [
        ("pending", "accrual", D("8.00")),
        ("pending", "approval", D("-8.00")),
        ("approved", "approval", D("8.00")),
    ]
    with reading() as session:
        kinds = session.scalars(
            select(ConversionEvent.kind)
            .where(ConversionEvent.conversion_id == row.id)
            .order_by(ConversionEvent.id)
        ).all()
    assert kinds == ["created", "completed"]


def test_first_postback_may_already_be_completed(http: httpx.Client) -> None:
    w = world()
    r = post(http, w, order_id="F-1", amount="10.00", status="completed", coupon=w.coupon).json()
    row = conversion(r["conversion_id"])
    assert row.status == "completed"
    assert commission_of(row.id).approvable_at is not None


def test_decline_before_and_after_approval(http: httpx.Client) -> None:
    w = world()
    a = post(http, w, order_id="D-1", amount="40.00", coupon=w.coupon).json()
    assert post(http, w, order_id="D-1", status="declined").json()["status"] == "accepted"
    assert post(http, w, order_id="D-1", status="declined").json()["status"] == "duplicate"
    com = commission_of(a["conversion_id"])
    assert com.status == "declined" and value(com.id) == 0
    assert_rejected(
        post(http, w, order_id="D-1", status="completed"), 409, "illegal_transition", "status"
    )

    b = post(http, w, order_id="D-2", amount="40.00", coupon=w.coupon, status="completed").json()
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))
    assert commission_of(b["conversion_id"]).status == "approved"
    assert_rejected(
        post(http, w, order_id="D-2", status="declined"), 409, "illegal_transition", "status"
    )
    assert value(commission_of(b["conversion_id"]).id) == D("4.00")


def test_partial_refunds_are_cumulative_and_order_independent(http: httpx.Client) -> None:
    w = world()
    r = post(http, w, order_id="P-1", amount="200.00", coupon=w.coupon, status="completed").json()
    com = commission_of(r["conversion_id"])
    assert value(com.id) == D("20.00")
    assert (
        post(http, w, order_id="P-1", status="refunded", refund_amount="50.00").json()["status"]
        == "accepted"
    )
    assert value(com.id) == D("15.00")
    # Replay, then an older smaller cumulative amount arriving late: nothing changes.
    assert (
        post(http, w, order_id="P-1", status="refunded", refund_amount="50.00").json()["status"]
        == "duplicate"
    )
    assert (
        post(http, w, order_id="P-1", status="refunded", refund_amount="20.00").json()["status"]
        == "duplicate"
    )
    assert value(com.id) == D("15.00")
    post(http, w, order_id="P-1", status="refunded", refund_amount="150.00")
    assert value(com.id) == D("5.00")
    assert conversion(r["conversion_id"]).refunded_amount == D("150.00")
    # Full refund (no refund_amount): reversed, exactly zero, once.
    assert post(http, w, order_id="P-1", status="refunded").json()["status"] == "accepted"
    assert post(http, w, order_id="P-1", status="refunded").json()["status"] == "duplicate"
    com = commission_of(r["conversion_id"])
    assert com.status == "reversed" and value(com.id) == D("0.00")
    assert conversion(r["conversion_id"]).status == "refunded"
    types = [t for _, t, _ in ledger_rows(com.id)]
    assert types == ["accrual", "reduction", "reduction", "reversal"]
    assert_rejected(
        post(http, w, order_id="P-1", status="completed"), 409, "illegal_transition", "status"
    )


def test_refund_after_approval_comes_from_approved(http: httpx.Client) -> None:
    w = world()
    r = post(http, w, order_id="AP-1", amount="100.00", coupon=w.coupon, status="completed").json()
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))
    post(http, w, order_id="AP-1", status="refunded", refund_amount="25.00")
    com = commission_of(r["conversion_id"])
    assert ledger_rows(com.id)[-1] == ("approved", "reduction", D("-2.50"))
    assert com.status == "approved" and value(com.id) == D("7.50")


def test_refund_after_payment_is_a_negative_adjustment(http: httpx.Client) -> None:
    w = world()
    r = post(http, w, order_id="PD-1", amount="100.00", coupon=w.coupon, status="completed").json()
    com = commission_of(r["conversion_id"])
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))
        ledger.mark_paid(session, com.id, "pay_test1")
    with transaction() as session:
        ledger.mark_paid(session, com.id, "pay_test1")  # replay
    assert entry_count(com.id) == 5
    post(http, w, order_id="PD-1", status="refunded", refund_amount="40.00")
    assert ledger_rows(com.id)[-1] == ("approved", "adjustment", D("-4.00"))
    post(http, w, order_id="PD-1", status="refunded")
    com = commission_of(r["conversion_id"])
    assert com.status == "reversed" and value(com.id) == 0
    with reading() as session:
        buckets = ledger.bucket_values(session, com.id)
    assert buckets[ledger.Bucket.paid] == D("10.00")
    assert buckets[ledger.Bucket.approved] == D("-10.00")


# --- attribution inputs -----------------------------------------------------------------------


def test_last_click_of_the_visitor_wins_over_the_click_id_sent(http: httpx.Client) -> None:
    w = world()
    with transaction() as session:
        other = partner(session, "Second")
        enroll(session, w.program_id, other.id)
        other_link = link(session, w.program_id, other.id)
    old = new_click(w, at=utcnow() - timedelta(days=3), visitor_id="vis_01M7Z40HPNEBVSDDD26QAYN1AA")
    newer = new_click(
        w, at=utcnow() - timedelta(days=1), visitor_id=old.visitor_id, link_id=other_link.id
    )
    r = post(http, w, order_id="L-1", amount="10.00", click_id=old.id).json()
    row = conversion(r["conversion_id"])
    assert row.partner_id == other.id and row.click_id == newer.id
    assert [step["verdict"] for step in row.click_path] == ["winner", "superseded"]


def test_coupon_and_customer_binding(http: httpx.Client) -> None:
    w = world()
    r = post(
        http, w, order_id="K-1", amount="10.00", coupon=w.coupon.lower(), customer_id="cust-9"
    ).json()
    assert conversion(r["conversion_id"]).attributed_by == "coupon"
    again = post(http, w, order_id="K-2", amount="10.00", customer_id="cust-9").json()
    row = conversion(again["conversion_id"])
    assert (row.attributed_by, row.partner_id, row.new_customer) == (
        "customer",
        w.partner_id,
        False,
    )


def test_lead_event_is_separate_from_sale(http: httpx.Client) -> None:
    w = world(terms={"type": "cpl", "amount": "3.00"})
    lead = post(http, w, order_id="same", event="lead", coupon=w.coupon).json()
    sale = post(http, w, order_id="same", amount="10.00", coupon=w.coupon).json()
    assert lead["conversion_id"] != sale["conversion_id"]
    assert commission_of(lead["conversion_id"]).amount == D("3.00")
    assert commission_of(sale["conversion_id"]).amount == D("0.00")


@pytest.mark.parametrize(
    "case",
    [
        "unknown_click",
        "click_other_program",
        "outside_window",
        "bot_only",
        "no_attribution",
        "partner_not_approved",
    ],
)
def test_attribution_refusals_are_kept(http: httpx.Client, case: str) -> None:
    w = world(window_days=7)
    params: dict[str, Any] = {"order_id": f"X-{case}", "amount": "10.00"}
    field: str | None = "click_id"
    if case == "unknown_click":
        params["click_id"] = "clk_01M7Z40HPNEBVSDDD26QAYN1AA"
    elif case == "click_other_program":
        params["click_id"] = new_click(world()).id
    elif case == "outside_window":
        params["click_id"] = new_click(w, at=utcnow() - timedelta(days=8)).id
    elif case == "bot_only":
        params["click_id"] = new_click(w, is_bot=True).id
    elif case == "no_attribution":
        field = None
    else:
        with transaction() as session:
            stranger = partner(session, "Applicant")
            enroll(session, w.program_id, stranger.id, status="applied")
            stranger_link = link(session, w.program_id, stranger.id)
        params["click_id"] = new_click(w, link_id=stranger_link.id).id
    assert_rejected(post(http, w, **params), 422, case, field)


# --- refusals of the request itself -----------------------------------------------------------


def test_bad_token_and_unknown_program_are_kept(http: httpx.Client) -> None:
    w = world()
    assert_rejected(
        post(http, w, order_id="T-1", amount="1.00", token="nope"), 401, "bad_token", "token"
    )
    assert_rejected(
        http.get("/postback", params={"program": w.program_id, "order_id": "x"}),
        401,
        "bad_token",
        "token",
    )
    r = http.get("/postback", params={"program": "prg_01M7Z40HPNEBVSDDD26QAYN1AA", "token": "x"})
    assert_rejected(r, 404, "unknown_program", "program")
    assert_rejected(http.get("/postback"), 422, "missing_field", "program")
    # The raw request of a bad token is kept, program known, secrets are the advertiser's.
    event = inbound(post(http, w, order_id="T-2", token="nope").json()["inbound_event_id"])
    assert event.program_id == w.program_id and "order_id=T-2" in event.query


@pytest.mark.parametrize(
    ("raw_query", "status", "reason", "field"),
    [
        ("order_id=%FF&amount=1", 422, "bad_encoding", "order_id"),
        ("order_id=a%0D%0Ab&amount=1", 422, "bad_encoding", "order_id"),
        ("order_id=a%00&amount=1", 422, "bad_encoding", "order_id"),
        ("order_id=" + "x" * 2000 + "&amount=1", 413, "oversized", "order_id"),
        ("order_id=o&amount=ten", 422, "bad_amount", "amount"),
        ("order_id=o&amount=NaN", 422, "bad_amount", "amount"),
        ("order_id=o&amount=1e999", 422, "bad_amount", "amount"),
        ("order_id=o&amount=-5", 422, "bad_amount", "amount"),
        ("order_id=o&amount=Infinity", 422, "bad_amount", "amount"),
        ("order_id=o&amount=1.234", 422, "bad_amount", "amount"),
        ("order_id=o", 422, "missing_field", "amount"),
        ("amount=1", 422, "missing_field", "order_id"),
        ("order_id=o&amount=1&currency=XYZ", 422, "unknown_currency", "currency"),
        ("order_id=o&amount=1&status=shipped", 422, "bad_status", "status"),
        ("order_id=o&amount=1&event=click", 422, "bad_value", "event"),
        ("order_id=o&amount=1&new_customer=maybe", 422, "bad_value", "new_customer"),
        ("order_id=o&amount=1&occurred_at=yesterday", 422, "bad_value", "occurred_at"),
        ("order_id=o&amount=1&country=XX", 422, "bad_value", "country"),
        ("order_id=o&amount=1&items=%5B1%5D", 422, "bad_value", "items.0"),
        ("order_id=o&amount=1&items=notjson", 422, "bad_value", "items"),
        ("order_id=o&amount=1&order_id=p", 422, "bad_value", "order_id"),
        (
            "order_id=o&amount=10&refund_amount=20&status=refunded",
            422,
            "bad_amount",
            "refund_amount",
        ),
    ],
)
def test_bad_input_is_a_4xx_with_a_field(
    http: httpx.Client, raw_query: str, status: int, reason: str, field: str
) -> None:
    w = world()
    url = f"/postback?program={w.program_id}&token={w.token}&{raw_query}"
    assert_rejected(http.get(url), status, reason, field)


def test_jpy_refuses_decimals(http: httpx.Client) -> None:
    w = world(currency="JPY", terms={"type": "cps", "percent": "5"})
    assert_rejected(
        post(http, w, order_id="J-1", amount="1000.5", coupon=w.coupon), 422, "bad_amount", "amount"
    )
    ok = post(http, w, order_id="J-2", amount="1999", coupon=w.coupon).json()
    assert commission_of(ok["conversion_id"]).amount == D("100")


def test_oversized_body_is_413_and_kept(http: httpx.Client) -> None:
    w = world()
    body = b"order_id=o&amount=1&pad=" + b"x" * (1_048_576 + 10)
    r = http.post(
        f"/postback?program={w.program_id}&token={w.token}",
        content=body,
        headers={"content-type": "application/x-www-form-urlencoded"},
    )
    assert_rejected(r, 413, "oversized", "body")


def test_items_price_per_line(http: httpx.Client) -> None:
    w = world(
        terms={
            "type": "cps",
            "percent": "10",
            "overrides": [{"when": {"category": "books"}, "percent": "20"}],
        }
    )
    items = json.dumps(
        [
            {"sku": "b1", "category": "books", "amount": "50.00"},
            {"sku": "t1", "category": "toys", "amount": "50.00", "quantity": 2},
        ]
    )
    r = post(http, w, order_id="I-1", amount="100.00", items=items, coupon=w.coupon).json()
    assert commission_of(r["conversion_id"]).amount == D("15.00")
    assert conversion(r["conversion_id"]).items[1]["quantity"] == 2


# --- signatures and bodies --------------------------------------------------------------------


def test_hmac_signature_on_query_form_and_json(http: httpx.Client) -> None:
    w = world()
    params = [
        ("program", w.program_id),
        ("order_id", "S-1 é"),
        ("amount", "12.00"),
        ("coupon", w.coupon),
    ]
    signature = sign(canonical_query(params), w.token)
    r = http.get("/postback", params=[*params, ("signature", signature)])
    assert r.json()["status"] == "accepted", r.text
    # Order and escaping of the parameters do not matter.
    r = http.post("/postback", data=dict(reversed([*params, ("signature", signature)])))
    assert r.json()["status"] == "duplicate", r.text
    bad = http.get("/postback", params=[*params, ("signature", "00" * 32)])
    assert_rejected(bad, 401, "bad_token", "signature")

    body = json.dumps(
        {"program": w.program_id, "order_id": "S-2", "amount": 12.5, "coupon": w.coupon}
    ).encode()
    r = http.post(
        "/postback",
        content=body,
        headers={"content-type": "application/json", "x-alliance-signature": sign(body, w.token)},
    )
    assert r.json()["status"] == "accepted", r.text
    assert commission_of(r.json()["conversion_id"]).amount == D("1.25")
    tampered = body.replace(b"12.5", b"99.5")
    r = http.post(
        f"/postback?signature={sign(body, w.token)}",
        content=tampered,
        headers={"content-type": "application/json"},
    )
    assert_rejected(r, 401, "bad_token", "signature")


def test_json_body_with_token(http: httpx.Client) -> None:
    w = world()
    r = http.post(
        "/postback",
        json={
            "program": w.program_id,
            "token": w.token,
            "order_id": "JS-1",
            "amount": "5.00",
            "coupon": w.coupon,
            "items": [{"sku": "a", "amount": "5.00"}],
        },
    )
    assert r.json()["status"] == "accepted", r.text
    r = http.post(
        "/postback", content=b'{"program": ', headers={"content-type": "application/json"}
    )
    assert_rejected(r, 422, "bad_encoding", "body")


# --- concurrency ------------------------------------------------------------------------------


def test_concurrent_identical_postbacks_accept_exactly_one(server: Any) -> None:
    w = world()
    answers: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)

    def fire() -> None:
        with httpx.Client(base_url=server.url, timeout=20) as client:
            barrier.wait()
            r = client.get(
                "/postback",
                params={
                    "program": w.program_id,
                    "token": w.token,
                    "order_id": "RACE-1",
                    "amount": "10.00",
                    "coupon": w.coupon,
                },
            )
            with lock:
                answers.append(r.json()["status"])

    threads = [threading.Thread(target=fire) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(answers) == ["accepted"] + ["duplicate"] * 7
    with reading() as session:
        count = session.scalar(
            select(func.count())
            .select_from(Conversion)
            .where(Conversion.program_id == w.program_id)
        )
        entries = session.scalar(
            select(func.count())
            .select_from(LedgerEntry)
            .where(LedgerEntry.program_id == w.program_id)
        )
    assert (count, entries) == (1, 1)


def test_concurrent_identical_postbacks_across_two_server_processes(db_url: str) -> None:
    """Two server processes (two pipelines) racing: the unique key decides, on both engines."""
    from tests.conftest import Server

    w = world()
    servers = [Server(db_url).start(), Server(db_url).start()]
    try:
        answers: list[str] = []
        lock = threading.Lock()
        barrier = threading.Barrier(8)

        def fire(url: str, n: int) -> None:
            with httpx.Client(base_url=url, timeout=20) as client:
                barrier.wait()
                r = client.get(
                    "/postback",
                    params={
                        "program": w.program_id,
                        "token": w.token,
                        "order_id": f"RACE2-{n % 2}",
                        "amount": "10.00",
                        "coupon": w.coupon,
                    },
                )
                with lock:
                    answers.append(r.json()["status"] if r.status_code == 200 else r.text)

        threads = [
            threading.Thread(target=fire, args=(servers[i % 2].url, i // 2)) for i in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for s in servers:
            s.stop()
    assert sorted(answers) == ["accepted"] * 2 + ["duplicate"] * 6
