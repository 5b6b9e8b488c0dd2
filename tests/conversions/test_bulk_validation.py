"""Bulk order validation through the real server: every row result, the ledger effects read
back through the API, CSV and JSON uploads, whole-upload idempotency (also under a race and
after a crash), scoping, malformed files, the CSV report and the CLI."""

from __future__ import annotations

import csv
import io
import json
import threading
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from typer.testing import CliRunner

from alliance.accounts.models import AccountKind
from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.models import Commission
from alliance.conversions import validation
from alliance.conversions.models import (
    Conversion,
    ConversionEvent,
    OrderValidation,
    OrderValidationRow,
)
from alliance.conversions.service import record
from alliance.db.engine import reading, transaction
from alliance.programs.models import Program

from .factories import World, report, world
from .test_inbound_api import key_for

D = Decimal
HEADER = "order_id,status,refund_amount,reason\n"
RESULTS = (
    "applied",
    "unchanged",
    "unknown_order",
    "illegal_transition",
    "bad_amount",
    "bad_status",
    "duplicate_row",
)


def orders(w: World, *specs: tuple[str, str, str]) -> dict[str, str]:
    """Orders through the real pipeline (attribution by coupon, pricing, accrual, lifecycle):
    (order_id, amount, status) → {order_id: conversion_id}."""
    found: dict[str, str] = {}
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        for order_id, amount, status in specs:
            outcome = record(
                session,
                program,
                report(w, order_id, amount=D(amount), status=status),
                None,
                utcnow(),
            )
            found[order_id] = outcome.conversion_id
    return found


def upload_csv(
    http: httpx.Client, w: World, key: dict[str, str], text: str | bytes, **headers: str
) -> httpx.Response:
    body = text.encode() if isinstance(text, str) else text
    return http.post(
        f"/api/v1/programs/{w.program_id}/validations",
        content=body,
        headers={"content-type": "text/csv", **key, **headers},
    )


def upload_json(
    http: httpx.Client, w: World, key: dict[str, str], rows: list[dict[str, Any]]
) -> httpx.Response:
    return http.post(
        f"/api/v1/programs/{w.program_id}/validations", json={"rows": rows}, headers=key
    )


def all_rows(http: httpx.Client, key: dict[str, str], validation_id: str) -> list[dict[str, Any]]:
    r = http.get(f"/api/v1/validations/{validation_id}/rows", params={"limit": 1000}, headers=key)
    assert r.status_code == 200, r.text
    rows: list[dict[str, Any]] = r.json()["data"]
    return rows


def detail(http: httpx.Client, key: dict[str, str], conversion_id: str) -> dict[str, Any]:
    r = http.get(f"/api/v1/conversions/{conversion_id}", headers=key)
    assert r.status_code == 200, r.text
    data: dict[str, Any] = r.json()
    return data


def events_of(program_id: str) -> int:
    with reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(ConversionEvent)
                .join(Conversion, Conversion.id == ConversionEvent.conversion_id)
                .where(Conversion.program_id == program_id)
            )
            or 0
        )


def validations_of(program_id: str) -> int:
    with reading() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(OrderValidation)
                .where(OrderValidation.program_id == program_id)
            )
            or 0
        )


def approve_everything_due() -> None:
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))


# --- every result kind, with its ledger effect -----------------------------------------------


def test_csv_upload_reports_every_result_and_moves_the_ledger(http: httpx.Client) -> None:
    w = world(lock_days=14)
    ids = orders(
        w,
        ("A-1", "100.00", "pending"),  # → completed
        ("A-2", "100.00", "pending"),  # → declined with a reason
        ("A-3", "100.00", "completed"),  # → refunded 40 of 100: commission 10 → 6
        ("A-4", "100.00", "completed"),  # → refunded in full: reversed
        ("A-5", "100.00", "completed"),  # completed again: unchanged
        ("A-6", "100.00", "pending"),  # declined, then "completed" in the file: illegal
        ("A-7", "100.00", "pending"),  # bad amounts
        ("A-8", "100.00", "pending"),  # twice in the file: the later row wins
    )
    orders(w, ("A-6", "100.00", "declined"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = (
        HEADER + "A-1,completed,,\n"
        'A-2,declined,,"fraud, stolen card"\n'
        "A-3,refunded,40.00,one item returned\n"
        "A-4,refunded,,\n"
        "A-5,completed,,\n"
        "NOPE-1,completed,,\n"
        "A-6,completed,,\n"
        "A-7,refunded,500.00,\n"
        "A-7,refunded,abc,\n"
        "A-7,completed,10.00,\n"
        "A-7,refunded,10.001,\n"
        "A-1,pending,,\n"
        "A-2,shipped,,\n"
        "A-8,declined,,first thought\n"
        "A-8,completed,,on second thought\n"
    )
    # appear twice too: the later rows win, so make each last row the one
    # under test and let the report show the earlier ones as duplicates.
    r = upload_csv(http, w, adv, text)
    assert r.status_code == 201, r.text
    body = r.json()
    assert r.headers["location"] == f"/api/v1/validations/{body['id']}"
    assert body["status"] == "done" and body["replayed"] is False
    assert body["source"] == "csv" and body["row_count"] == body["rows_done"] == 15
    rows = all_rows(http, adv, body["id"])
    results = [(row["line"], row["order_id"], row["result"]) for row in rows]
    assert results == [
        (2, "A-1", "duplicate_row"),
        (3, "A-2", "duplicate_row"),
        (4, "A-3", "applied"),
        (5, "A-4", "applied"),
        (6, "A-5", "unchanged"),
        (7, "NOPE-1", "unknown_order"),
        (8, "A-6", "illegal_transition"),
        (9, "A-7", "duplicate_row"),
        (10, "A-7", "duplicate_row"),
        (11, "A-7", "duplicate_row"),
        (12, "A-7", "bad_amount"),
        (13, "A-1", "bad_status"),
        (14, "A-2", "bad_status"),
        (15, "A-8", "duplicate_row"),
        (16, "A-8", "applied"),
    ]
    assert body["counts"] == {
        "applied": 3,
        "unchanged": 1,
        "unknown_order": 1,
        "illegal_transition": 1,
        "bad_amount": 1,
        "bad_status": 2,
        "duplicate_row": 6,
    }
    assert rows[0]["detail"].startswith("the same order is in line 13")
    assert "decimals" in rows[10]["detail"]
    assert "pending is not a verdict" in rows[11]["detail"]
    assert "'shipped' is not completed" in rows[12]["detail"]
    assert rows[2]["conversion_id"] == ids["A-3"] and rows[5]["conversion_id"] is None

    # Ledger, read through the API: A-3 reduced in proportion, A-4 reversed, A-8 completed
    # with its lock period started; untouched (their verdicts were superseded).
    a3 = detail(http, adv, ids["A-3"])
    assert a3["refunded_amount"] == "40.00" and a3["status"] == "completed"
    assert a3["commission"]["value"] == "6.00"
    assert a3["commission"]["entries"][-1]["entry_type"] == "reduction"
    a4 = detail(http, adv, ids["A-4"])
    assert a4["status"] == "refunded"
    assert (a4["commission"]["status"], a4["commission"]["value"]) == ("reversed", "0.00")
    a8 = detail(http, adv, ids["A-8"])
    assert a8["status"] == "completed" and a8["commission"]["approvable_at"] is not None
    assert detail(http, adv, ids["A-1"])["status"] == "pending"
    assert detail(http, adv, ids["A-7"])["refunded_amount"] == "0.00"
    listed = http.get(
        "/api/v1/commissions",
        params={"program_id": w.program_id, "status": "reversed"},
        headers=adv,
    ).json()["data"]
    assert [c["conversion_id"] for c in listed] == [ids["A-4"]]

    # Every status change names the upload as its source.
    with reading() as session:
        sources = session.execute(
            select(ConversionEvent.conversion_id, ConversionEvent.inbound_event_id).where(
                ConversionEvent.inbound_event_id == body["id"]
            )
        ).all()
    assert sorted(c for c, _ in sources) == sorted([ids["A-3"], ids["A-4"], ids["A-8"]])


def test_decline_reason_and_refusals_after_approval(http: httpx.Client) -> None:
    w = world()
    ids = orders(
        w,
        ("B-1", "80.00", "completed"),  # declined while its commission is pending: allowed
        ("B-2", "200.00", "completed"),  # approved, then declined: illegal
        ("B-3", "200.00", "completed"),  # approved, then partly refunded: from approved
    )
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    r = upload_csv(http, w, adv, HEADER + "B-1,declined,,test order\n")
    assert r.status_code == 201 and r.json()["counts"]["applied"] == 1
    b1 = detail(http, adv, ids["B-1"])
    assert (b1["status"], b1["decline_reason"]) == ("declined", "test order")
    assert (b1["commission"]["status"], b1["commission"]["value"]) == ("declined", "0.00")

    approve_everything_due()
    r = upload_csv(http, w, adv, HEADER + "B-2,declined,,\nB-3,refunded,50.00,\n")
    assert r.json()["counts"]["illegal_transition"] == 1, r.text
    assert r.json()["counts"]["applied"] == 1
    b2 = detail(http, adv, ids["B-2"])
    assert (b2["commission"]["status"], b2["commission"]["value"]) == ("approved", "20.00")
    b3 = detail(http, adv, ids["B-3"])
    assert b3["commission"]["balances"]["approved"] == "15.00"
    assert b3["commission"]["entries"][-1]["bucket"] == "approved"


# --- JSON, and idempotency of the whole upload -----------------------------------------------


def test_json_upload_and_its_replays_as_json_and_as_csv(http: httpx.Client) -> None:
    w = world()
    ids = orders(w, ("J-1", "100.00", "pending"), ("J-2", "100.00", "completed"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    ids.update(orders(w, ("1003", "100.00", "pending")))
    rows = [
        {"order_id": "J-1", "status": "completed"},
        {"order_id": 1003, "status": "declined"},  # stores' numeric order ids
        {"order_id": "J-2", "status": "refunded", "refund_amount": 25.5, "reason": None},
    ]
    first = upload_json(http, w, adv, rows)
    assert first.status_code == 201, first.text
    assert first.json()["source"] == "json"
    assert first.json()["counts"]["applied"] == 3
    report_rows = all_rows(http, adv, first.json()["id"])
    assert [(r["index"], r["line"], r["refund_amount"]) for r in report_rows] == [
        (0, None, None),
        (1, None, None),
        (2, None, "25.5"),  # as uploaded
    ]
    assert detail(http, adv, ids["1003"])["status"] == "declined"
    assert detail(http, adv, ids["J-2"])["refunded_amount"] == "25.50"
    events = events_of(w.program_id)

    again = upload_json(http, w, adv, rows)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["counts"] == first.json()["counts"]
    # The same verdicts as a CSV file (CRLF, amount written differently) are the same upload.
    same = upload_csv(
        http,
        w,
        adv,
        "order_id,status,refund_amount\r\nJ-1,completed,\r\n1003,declined,\r\n"
        "J-2,refunded,25.50\r\n",
    )
    assert (same.status_code, same.json()["id"]) == (200, first.json()["id"])
    assert events_of(w.program_id) == events
    assert validations_of(w.program_id) == 1

    # Different content is a new upload; what it says again is "unchanged".
    other = upload_json(http, w, adv, [{"order_id": "J-1", "status": "completed"}])
    assert other.status_code == 201
    assert other.json()["counts"]["unchanged"] == 1
    history = http.get(f"/api/v1/programs/{w.program_id}/validations", headers=adv).json()
    assert [v["id"] for v in history["data"]] == [other.json()["id"], first.json()["id"]]


def test_concurrent_identical_uploads_apply_once(server: Any) -> None:
    w = world()
    count = 250
    orders(w, *[(f"R-{i}", "10.00", "pending") for i in range(count)])
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = HEADER + "".join(f"R-{i},completed,,\n" for i in range(count))
    answers: list[tuple[int, str | None]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def fire() -> None:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            barrier.wait()
            r = upload_csv(client, w, adv, text)
            body = r.json()
            with lock:
                answers.append((r.status_code, body.get("id") or body.get("validation_id")))

    threads = [threading.Thread(target=fire) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(201) == 1, answers
    assert set(statuses) <= {200, 201, 409}
    assert len({validation_id for _, validation_id in answers}) == 1
    with reading() as session:
        completed = session.scalar(
            select(func.count())
            .select_from(ConversionEvent)
            .join(Conversion, Conversion.id == ConversionEvent.conversion_id)
            .where(Conversion.program_id == w.program_id, ConversionEvent.kind == "completed")
        )
    assert completed == count
    assert validations_of(w.program_id) == 1


def test_running_upload_is_409_and_a_dead_one_resumes_after_its_last_chunk(
    http: httpx.Client,
) -> None:
    w = world()
    ids = orders(w, ("S-1", "10.00", "pending"), ("S-2", "10.00", "pending"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = HEADER + "S-1,completed,,\nS-2,declined,,\n"
    # A process claims the upload and dies after committing its first row's chunk (simulated:
    # the claim and one row result, without the row's effect, so a re-apply would show).
    claimed = validation.claim(w.program_id, validation.read_csv(text.encode()), "test")
    assert isinstance(claimed, validation.Claimed)
    with transaction() as session:
        session.add(
            OrderValidationRow(
                validation_id=claimed.validation_id,
                position=0,
                line=2,
                order_id="S-1",
                status="completed",
                result="applied",
                detail="applied before the crash",
            )
        )
        session.execute(
            update(OrderValidation)
            .where(OrderValidation.id == claimed.validation_id)
            .values(rows_done=1, counts={"applied": 1})
        )
    busy = upload_csv(http, w, adv, text)
    assert busy.status_code == 409, busy.text
    assert busy.headers["content-type"].startswith("application/problem+json")
    assert busy.json()["validation_id"] == claimed.validation_id
    assert busy.headers["retry-after"]

    with transaction() as session:
        session.execute(
            update(OrderValidation)
            .where(OrderValidation.id == claimed.validation_id)
            .values(heartbeat_at=utcnow() - validation.STALE_AFTER - timedelta(seconds=1))
        )
    resumed = upload_csv(http, w, adv, text)
    assert resumed.status_code == 200, resumed.text
    body = resumed.json()
    assert (body["id"], body["status"], body["replayed"]) == (claimed.validation_id, "done", False)
    assert body["counts"]["applied"] == 2
    # Row 0 was not applied again; row 1 was.
    assert detail(http, adv, ids["S-1"])["status"] == "pending"
    assert detail(http, adv, ids["S-2"])["status"] == "declined"
    assert upload_csv(http, w, adv, text).json()["replayed"] is True


def test_a_failed_upload_resumes_at_once(http: httpx.Client) -> None:
    w = world()
    ids = orders(w, ("F-1", "10.00", "pending"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = HEADER + "F-1,completed,,\n"
    claimed = validation.claim(w.program_id, validation.read_csv(text.encode()), "test")
    assert isinstance(claimed, validation.Claimed)
    with transaction() as session:
        session.execute(
            update(OrderValidation)
            .where(OrderValidation.id == claimed.validation_id)
            .values(status="failed", error="OperationalError: the disk was full")
        )
    resumed = upload_csv(http, w, adv, text)
    assert (resumed.status_code, resumed.json()["status"]) == (200, "done"), resumed.text
    assert detail(http, adv, ids["F-1"])["status"] == "completed"


def test_kind_tells_a_sale_from_a_lead_with_the_same_id(http: httpx.Client) -> None:
    w = world()
    sale = orders(w, ("K-1", "50.00", "pending"))["K-1"]
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        lead = record(
            session, program, report(w, "K-1", kind="lead", amount=D(0)), None, utcnow()
        ).conversion_id
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    r = upload_csv(
        http, w, adv, "order_id,status,kind\nK-1,completed,\nK-1,declined,lead\nK-2,declined,lead\n"
    )
    assert r.status_code == 201, r.text
    rows = all_rows(http, adv, r.json()["id"])
    assert [(row["conversion_id"], row["result"]) for row in rows] == [
        (sale, "applied"),
        (lead, "applied"),
        (None, "unknown_order"),
    ]
    assert "no lead order 'K-2'" in rows[2]["detail"]
    assert detail(http, adv, sale)["status"] == "completed"
    assert detail(http, adv, lead)["status"] == "declined"


# --- CSV dialects ------------------------------------------------------------------------------


def test_csv_tolerates_bom_crlf_semicolons_quotes_and_short_rows(http: httpx.Client) -> None:
    w = world()
    ids = orders(
        w,
        ("T-1", "100.00", "completed"),
        ("T-2", "100.00", "pending"),
        ("T-3", "100.00", "pending"),
    )
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = (
        "\ufeff\r\nReason;Order ID;STATUS;Refund Amount\r\n"
        '"returned; ""damaged""\r\nsecond line";T-1;refunded;12,50\r\n'
        "\r\n"
        ";T-2;Completed\r\n"
        ";;;\r\n"
    )
    r = upload_csv(http, w, adv, text.encode("utf-8"))
    assert r.status_code == 201, r.text
    rows = all_rows(http, adv, r.json()["id"])
    assert [(row["line"], row["order_id"], row["result"]) for row in rows] == [
        (3, "T-1", "applied"),
        (6, "T-2", "applied"),
    ]
    assert rows[0]["reason"] == 'returned; "damaged"\r\nsecond line'
    assert detail(http, adv, ids["T-1"])["refunded_amount"] == "12.50"
    # A declared charset is honoured (Excel on Windows saves windows-1252).
    latin = upload_csv(
        http,
        w,
        adv,
        "order_id\tstatus\treason\nT-3\tdeclined\tdéjà vu\n".encode("cp1252"),
        **{"content-type": "text/csv; charset=windows-1252"},
    )
    assert latin.status_code == 201, latin.text
    assert detail(http, adv, ids["T-3"])["decline_reason"] == "déjà vu"


# --- refusals of the whole upload --------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "content_type", "status", "field"),
    [
        (b"order,state\nX,completed\n", "text/csv", 422, "header"),
        (
            b"order_id,status,refund_amount,reason,notes\nX,completed,,,\n",
            "text/csv",
            422,
            "header",
        ),
        (b"order_id,refund_amount\nX,\n", "text/csv", 422, "header"),
        (b"order_id,status,status\nX,completed,completed\n", "text/csv", 422, "header"),
        (b"order_id,status\nX,completed\nY,\xff\xfe\n", "text/csv", 422, "line 3"),
        (b"order_id,status\nX,completed\nY,completed,extra\n", "text/csv", 422, "line 3"),
        (b'order_id,status\nX,"completed\n', "text/csv", 422, "line 2"),
        (b'order_id,status\n"X"y,completed\n', "text/csv", 422, "line 2"),
        (b"order_id,status\nX,completed\n,declined\n", "text/csv", 422, "line 3: order_id"),
        (b"order_id,status,kind\nX,completed,click\n", "text/csv", 422, "line 2: kind"),
        (b"order_id,status\nX\x01,completed\n", "text/csv", 422, "line 2: order_id"),
        (b"", "text/csv", 422, "header"),
        (b"order_id,status\n\n", "text/csv", 422, "rows"),
        (b"order_id,status\nX,completed\n", "text/csv; charset=koi8-r", 415, "content-type"),
        (b"order_id,status\nX,completed\n", "application/xml", 415, "content-type"),
        (b'{"rows": [{"order_id": "X", "status": 3}]}', "application/json", 422, "rows[0].status"),
        (
            b'{"rows": [{"order_id": "X", "status": "completed"}, {"order_id": "Y", '
            b'"status": "refunded", "refund_amount": true}]}',
            "application/json",
            422,
            "rows[1].refund_amount",
        ),
        (b'{"rows": [{"order_id": "X", "state": "x"}]}', "application/json", 422, "rows[0].state"),
        (
            b'{"rows": [{"order_id": "", "status": "x"}]}',
            "application/json",
            422,
            "rows[0].order_id",
        ),
        (b'{"rows": ["X"]}', "application/json", 422, "rows[0]"),
        (b'{"rows": []}', "application/json", 422, "rows"),
        (b'[{"order_id": "X"}]', "application/json", 422, "rows"),
        (b'{"rows": [', "application/json", 422, "body"),
        (
            b'{"rows": [{"order_id": "X", "status": "completed"}], "x": 1}',
            "application/json",
            422,
            "x",
        ),
    ],
)
def test_a_broken_upload_is_refused_whole_naming_the_field(
    http: httpx.Client, body: bytes, content_type: str, status: int, field: str
) -> None:
    w = world()
    orders(w, ("X", "10.00", "pending"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    r = http.post(
        f"/api/v1/programs/{w.program_id}/validations",
        content=body,
        headers={"content-type": content_type, **adv},
    )
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["field"] == field
    assert validations_of(w.program_id) == 0
    assert events_of(w.program_id) == 1  # only the order's creation


def test_reason_limit_and_size_limits(http: httpx.Client) -> None:
    w = world()
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    long_reason = upload_csv(http, w, adv, HEADER + "X,declined,," + "r" * 501 + "\n")
    assert long_reason.status_code == 422
    assert long_reason.json()["field"] == "line 2: reason"
    rows = "order_id,status\n" + "X,completed\n" * (validation.MAX_ROWS + 1)
    too_many = upload_csv(http, w, adv, rows)
    assert too_many.status_code == 413, too_many.text
    assert too_many.json()["field"] == "rows"
    huge = upload_csv(http, w, adv, b"order_id,status\n" + b"x" * validation.MAX_UPLOAD_BYTES)
    assert huge.status_code == 413
    assert validations_of(w.program_id) == 0


# --- who may ---------------------------------------------------------------------------------


def test_only_the_programs_advertiser_and_the_operator_validate(
    http: httpx.Client, operator_key: str
) -> None:
    w = world()
    other = world()
    ids = orders(w, ("Z-1", "10.00", "pending"), ("Z-2", "10.00", "pending"))
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    stranger = key_for(AccountKind.advertiser, other.advertiser_id)
    partner = key_for(AccountKind.partner, w.partner_id)
    operator = {"authorization": f"Bearer {operator_key}"}
    text = HEADER + "Z-1,completed,,\n"

    assert upload_csv(http, w, partner, text).status_code == 403
    assert upload_csv(http, w, stranger, text).status_code == 404
    assert upload_csv(http, w, {}, text).status_code == 401
    bad_id = http.post(
        "/api/v1/programs/prg_nope/validations",
        content=text,
        headers={"content-type": "text/csv", **adv},
    )
    assert bad_id.status_code == 404
    assert detail(http, adv, ids["Z-1"])["status"] == "pending"

    mine = upload_csv(http, w, adv, text)
    assert mine.status_code == 201
    by_operator = upload_csv(http, w, operator, HEADER + "Z-2,completed,,\n")
    assert by_operator.status_code == 201
    validation_id = mine.json()["id"]
    for path in (
        f"/api/v1/validations/{validation_id}",
        f"/api/v1/validations/{validation_id}/rows",
    ):
        assert http.get(path, headers=adv).status_code == 200
        assert http.get(path, headers=operator).status_code == 200
        assert http.get(path, headers=stranger).status_code == 404
        assert http.get(path, headers=partner).status_code == 403
    assert http.get("/api/v1/validations/val_x", headers=adv).status_code == 404
    listing = f"/api/v1/programs/{w.program_id}/validations"
    assert http.get(listing, headers=stranger).status_code == 404
    assert http.get(listing, headers=partner).status_code == 403
    assert len(http.get(listing, headers=operator).json()["data"]) == 2


# --- the report --------------------------------------------------------------------------------


def test_rows_are_paged_filtered_and_exported_as_safe_csv(http: httpx.Client) -> None:
    w = world()
    orders(w, *[(f"P-{i}", "10.00", "pending") for i in range(5)])
    adv = key_for(AccountKind.advertiser, w.advertiser_id)
    text = HEADER + "".join(f"P-{i},completed,,\n" for i in range(5))
    text += '"=HYPERLINK(""http://evil.example"",""x"")",completed,,\n'
    text += "P-0,refunded,-5.00,@SUM(A1)\n"
    validation_id = upload_csv(http, w, adv, text).json()["id"]
    rows_url = f"/api/v1/validations/{validation_id}/rows"

    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = http.get(rows_url, params=params, headers=adv).json()
        seen += [row["index"] for row in page["data"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(range(7))
    failed = http.get(rows_url, params={"result": "unknown_order"}, headers=adv).json()["data"]
    assert [row["index"] for row in failed] == [5]
    bad = http.get(rows_url, params={"cursor": "junk"}, headers=adv)
    assert (bad.status_code, bad.json()["field"]) == (422, "cursor")

    exported = http.get(rows_url, params={"format": "csv"}, headers=adv)
    assert exported.status_code == 200
    assert exported.headers["content-type"].startswith("text/csv")
    lines = list(csv.reader(io.StringIO(exported.text)))
    assert lines[0] == list(validation.ROW_COLUMNS)
    assert len(lines) == 8
    assert lines[6][2] == '\'=HYPERLINK("http://evil.example","x")'
    assert lines[6][7] == "unknown_order"
    # P-0 appears twice: its first row lost to the later refund, which has a bad amount.
    assert (lines[1][7], lines[7][7]) == ("duplicate_row", "bad_amount")
    assert lines[7][5] == "-5.00" and lines[7][6] == "'@SUM(A1)"


# --- the CLI -----------------------------------------------------------------------------------


def test_cli_validates_a_file_and_replays_it(tmp_path: Path) -> None:
    from alliance.cli import app

    w = world()
    ids = orders(w, ("CLI-1", "10.00", "pending"), ("CLI-2", "10.00", "pending"))
    path = tmp_path / "verdicts.csv"
    path.write_text(HEADER + "CLI-1,completed,,\nCLI-2,declined,,fraud\nCLI-3,completed,,\n")
    runner = CliRunner()
    shown = runner.invoke(app, ["validate-orders", "--program", w.program_id, str(path)])
    assert shown.exit_code == 0, shown.output
    assert "applied" in shown.output and "unknown_order" in shown.output
    with reading() as session:
        statuses = dict(
            session.execute(
                select(Conversion.id, Conversion.status).where(
                    Conversion.id.in_(list(ids.values()))
                )
            ).all()
        )
        declined = session.scalars(
            select(Commission.status).where(Commission.conversion_id == ids["CLI-2"])
        ).one()
    assert statuses == {ids["CLI-1"]: "completed", ids["CLI-2"]: "declined"}
    assert declined == "declined"

    again = runner.invoke(app, ["validate-orders", "--program", w.program_id, "--csv", str(path)])
    assert again.exit_code == 0, again.output
    machine = list(csv.DictReader(io.StringIO(again.stdout)))
    assert [row["result"] for row in machine] == ["applied", "applied", "unknown_order"]
    assert "replay" in again.stderr

    broken = tmp_path / "broken.csv"
    broken.write_text("order,state\n")
    refused = runner.invoke(app, ["validate-orders", "--program", w.program_id, str(broken)])
    assert refused.exit_code == 1
    assert "header" in refused.output
    unknown = runner.invoke(app, ["validate-orders", "--program", "prg_nope", str(path)])
    assert unknown.exit_code == 1


def test_json_report_shape_is_documented_in_openapi(http: httpx.Client) -> None:
    spec = http.get("/api/v1/openapi.json").json()
    post = spec["paths"]["/api/v1/programs/{program_id}/validations"]["post"]
    assert set(post["requestBody"]["content"]) == {"text/csv", "application/json"}
    counts = spec["components"]["schemas"]["ValidationCounts"]["properties"]
    assert tuple(counts) == RESULTS
    assert json.dumps(post["responses"]["200"])  # the replay answer is documented


# --- large uploads are queued for the jobs worker --------------------------------------------


def test_a_large_upload_is_queued_then_applied_by_the_job(http: httpx.Client) -> None:
    from alliance.conversions import validation
    from alliance.jobs.runner import run_due

    w = world()
    made = orders(w, ("Q-1", "100.00", "pending"), ("Q-2", "50.00", "pending"))
    upload = validation.read_csv(
        (HEADER + "Q-1,completed,,\nQ-2,declined,,test order\nQ-404,completed,,\n").encode()
    )
    queued = validation.validate(w.program_id, upload, "test", inline_rows=2)
    assert queued.verdict == "queued"
    with reading() as session:
        row = session.get(OrderValidation, queued.validation_id)
        assert row is not None
        assert (row.status, row.rows_done, row.rows_input is not None) == ("queued", 0, True)
    # The same content again while it waits: 409 like any upload being applied.
    with pytest.raises(validation.ValidationInProgress):
        validation.validate(w.program_id, upload, "test", inline_rows=2)

    [result] = [r for r in run_due(only=["apply_queued_validations"]) if r.ran]
    assert result.ok and result.result["applied"] >= 1
    with reading() as session:
        row = session.get(OrderValidation, queued.validation_id)
        assert row is not None
        assert (row.status, row.rows_done, row.rows_input) == ("done", 3, None)
        assert row.counts["applied"] == 2 and row.counts["unknown_order"] == 1
    key = key_for(AccountKind.advertiser, w.advertiser_id)
    assert detail(http, key, made["Q-1"])["status"] == "completed"
    assert detail(http, key, made["Q-2"])["status"] == "declined"
    # Done: the same content is now a replay.
    assert validation.validate(w.program_id, upload, "test", inline_rows=2).verdict == "replayed"


def test_a_queued_upload_whose_worker_died_is_resumed_by_the_job() -> None:
    from alliance.conversions import validation

    w = world()
    orders(w, ("R-1", "10.00", "pending"), ("R-2", "10.00", "pending"))
    upload = validation.read_csv((HEADER + "R-1,completed,,\nR-2,completed,,\n").encode())
    queued = validation.validate(w.program_id, upload, "test", inline_rows=1)
    with transaction() as session:  # a worker took it, applied nothing, and died
        row = session.get(OrderValidation, queued.validation_id)
        assert row is not None
        row.status, row.claim = "running", "dead-worker"
        row.heartbeat_at = utcnow() - validation.STALE_AFTER - timedelta(seconds=1)
    assert validation.apply_queued()["applied"] >= 1
    with reading() as session:
        row = session.get(OrderValidation, queued.validation_id)
        assert row is not None and row.status == "done" and row.counts["applied"] == 2


def test_the_api_answers_202_for_an_upload_over_the_inline_limit(db_url: str) -> None:
    from tests.conftest import Server

    w = world()
    orders(w, ("A-1", "10.00", "pending"), ("A-2", "10.00", "pending"))
    server = Server(db_url, env={"ALLIANCE_VALIDATION_INLINE_ROWS": "1"}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            answer = upload_csv(
                client,
                w,
                key_for(AccountKind.advertiser, w.advertiser_id),
                HEADER + "A-1,completed,,\nA-2,completed,,\n",
            )
            assert answer.status_code == 202, answer.text
            assert answer.json()["status"] == "queued"
            assert answer.headers["location"] == f"/api/v1/validations/{answer.json()['id']}"
    finally:
        server.stop()
