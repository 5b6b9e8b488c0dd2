"""The emission hooks: every conversion and commission change writes its event into the
outbox in the same transaction — through the one-by-one path and the bulk insert path."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.models import Commission
from alliance.conversions import service as conversions
from alliance.conversions.batch import CreateBuffer, insert_new
from alliance.conversions.models import Conversion
from alliance.db.engine import reading, transaction
from alliance.notifications import outbox
from alliance.notifications.models import WebhookEvent
from alliance.notifications.payloads import payout_data
from alliance.programs.models import Program
from tests.conversions.factories import World, report, world

pytestmark = pytest.mark.usefixtures("db_url")
D = Decimal


def events(program_id: str) -> list[tuple[str, dict[str, Any]]]:
    with reading() as session:
        rows = session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.program_id == program_id)
            .order_by(WebhookEvent.id)
        ).all()
        return [(row.type, row.data) for row in rows]


def record(w: World, order_id: str, **fields: Any) -> str:
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        return conversions.record(
            session, program, report(w, order_id, **fields), None, utcnow()
        ).conversion_id


def test_a_new_conversion_emits_conversion_created_with_its_commission() -> None:
    w = world(currency="EUR", lock_days=0)
    cid = record(w, "E-1", amount=D("120.50"))
    [(kind, data)] = events(w.program_id)
    assert kind == "conversion.created"
    assert data["id"] == cid and data["order_id"] == "E-1" and data["status"] == "pending"
    assert data["partner_id"] == w.partner_id and data["program_id"] == w.program_id
    assert (data["amount"], data["currency"], data["refunded_amount"]) == ("120.50", "EUR", "0.00")
    assert data["commission"]["amount"] == "12.05" and data["commission"]["value"] == "12.05"
    assert data["commission"]["status"] == "pending" and data["coupon"] == w.coupon
    assert "customer_id" not in data  # partners receive this body too
    json.dumps(data)  # plain JSON: strings, no Decimal or datetime


def test_the_lifecycle_emits_one_event_per_change_and_replays_emit_nothing() -> None:
    w = world(lock_days=0)
    cid = record(w, "E-2", amount=D("100.00"))
    record(w, "E-2", status="completed")
    record(w, "E-2", status="completed")  # a replay
    with transaction() as session:
        assert ledger.approve_due(session, utcnow() + timedelta(seconds=1)) >= 1
    record(w, "E-2", status="refunded", refund_amount=D("40.00"))
    record(w, "E-2", status="refunded", refund_amount=D("40.00"))  # a replay
    record(w, "E-2", status="refunded")
    kinds = [kind for kind, _ in events(w.program_id)]
    assert kinds == [
        "conversion.created",
        "conversion.completed",
        "commission.approved",
        "commission.adjusted",
        "conversion.refunded",
        "commission.reversed",
        "conversion.refunded",
    ]
    found = dict(events(w.program_id)[4:6])
    assert found["conversion.refunded"]["refunded_amount"] == "40.00"
    assert found["conversion.refunded"]["status"] == "completed"
    assert found["conversion.refunded"]["commission"]["value"] == "6.00"
    assert found["commission.reversed"]["value"] == "0.00"
    assert found["commission.reversed"]["conversion_id"] == cid


def test_decline_emits_for_the_conversion_and_its_commission() -> None:
    w = world()
    record(w, "E-3")
    record(w, "E-3", status="declined")
    kinds = [kind for kind, _ in events(w.program_id)]
    assert kinds == ["conversion.created", "commission.declined", "conversion.declined"]
    assert events(w.program_id)[2][1]["status"] == "declined"


def test_paying_a_commission_emits_commission_paid_with_the_payout() -> None:
    w = world(lock_days=0)
    cid = record(w, "E-4")
    record(w, "E-4", status="completed")
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(seconds=1))
        commission = session.scalars(select(Commission).where(Commission.source_key == cid)).one()
        ledger.mark_paid(session, commission.id, "pay_2026_05")
    kind, data = events(w.program_id)[-1]
    assert kind == "commission.paid"
    assert data["status"] == "paid" and data["payout_reference"] == "pay_2026_05"


def test_a_rolled_back_change_leaves_no_event() -> None:
    w = world()
    with pytest.raises(RuntimeError), transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        conversions.record(session, program, report(w, "E-5"), None, utcnow())
        raise RuntimeError("the request failed after the change")
    assert events(w.program_id) == []
    with reading() as session:
        assert (
            session.scalars(select(Conversion).where(Conversion.order_id == "E-5")).first() is None
        )


def test_the_bulk_path_emits_one_event_per_conversion_in_one_statement() -> None:
    w = world()
    buffer = CreateBuffer()
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        for n in range(5):
            conversions.record(session, program, report(w, f"B-{n}"), None, utcnow(), buffer=buffer)
        plans = buffer.take()
        assert len(plans) == 5
        insert_new(session, plans)
    found = events(w.program_id)
    assert [kind for kind, _ in found] == ["conversion.created"] * 5
    assert sorted(data["order_id"] for _, data in found) == [f"B-{n}" for n in range(5)]
    assert {data["id"] for _, data in found} == {plan.id for plan in plans}


def test_payout_paid_is_emitted_for_the_partner() -> None:
    w = world()
    with transaction() as session:
        outbox.emit(
            session,
            "payout.paid",
            payout_data("pay_1", w.partner_id, "EUR", D("42.5"), ["com_1"], utcnow()),
        )
    with reading() as session:
        row = session.scalars(
            select(WebhookEvent).where(
                WebhookEvent.type == "payout.paid", WebhookEvent.partner_id == w.partner_id
            )
        ).one()
        assert row.program_id is None and row.data["amount"] == "42.50"
