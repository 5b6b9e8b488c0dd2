"""The ledger service in-process on the test database: each named operation, idempotent."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.calculator import Quote
from alliance.commissions.models import Commission
from alliance.conversions import service as conversions
from alliance.conversions.models import Conversion
from alliance.db.engine import reading, transaction
from alliance.programs.models import Program
from tests.conversions.factories import World, ledger_rows, report, world

D = Decimal
pytestmark = pytest.mark.usefixtures("db_url")


def create(w: World, order_id: str, amount: str = "100.00") -> str:
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        out = conversions.record(
            session, program, report(w, order_id, amount=D(amount)), None, utcnow()
        )
    return out.conversion_id


def load(session: object, conversion_id: str) -> tuple[Program, Conversion]:
    from sqlalchemy.orm import Session

    assert isinstance(session, Session)
    conv = session.get(Conversion, conversion_id)
    assert conv is not None
    program = session.get(Program, conv.program_id)
    assert program is not None
    return program, conv


def commission(conversion_id: str) -> Commission:
    with reading() as session:
        row = session.scalars(
            select(Commission).where(Commission.source_key == conversion_id)
        ).one()
        session.expunge(row)
        return row


def test_accrue_is_idempotent() -> None:
    w = world()
    cid = create(w, "L-1")
    with transaction() as session:
        _, conv = load(session, cid)
        again = ledger.accrue(session, conv, Quote(D("99"), "EUR", D(0), {}, ""), None)
        assert again.amount == D("10.00")
    assert ledger_rows(commission(cid).id) == [("pending", "accrual", D("10.00"))]


def test_complete_keeps_the_first_lock_date() -> None:
    w = world(lock_days=7)
    cid = create(w, "L-2")
    first = utcnow()
    with transaction() as session:
        _, conv = load(session, cid)
        ledger.complete(session, conv, first, 7)
        ledger.complete(session, conv, first + timedelta(days=3), 7)
    assert commission(cid).approvable_at == first + timedelta(days=7)


def test_decline_after_approval_and_paying_a_pending_commission_are_illegal() -> None:
    w = world()
    cid = create(w, "L-3")
    with transaction() as session, pytest.raises(ledger.IllegalTransition):
        ledger.mark_paid(session, commission(cid).id, "pay_x")
    with transaction() as session:
        program, conv = load(session, cid)
        conversions.complete_conversion(session, program, conv, None, utcnow())
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))
    with transaction() as session:
        _, conv = load(session, cid)
        with pytest.raises(ledger.IllegalTransition) as caught:
            ledger.decline(session, conv, "fraud")
        assert caught.value.extra["reason"] == "illegal_transition"


def test_refunds_take_from_where_the_money_is_and_never_twice() -> None:
    w = world()
    cid = create(w, "L-4", "80.00")
    with transaction() as session:
        _, conv = load(session, cid)
        effect = ledger.apply_refund(session, conv, D("20.00"))
        assert (effect.moved, effect.value) == (D("-2.00"), D("6.00"))
        assert ledger.apply_refund(session, conv, D("20.00")).moved == 0
        assert ledger.apply_refund(session, conv, D("10.00")).moved == 0  # out of order
        full = ledger.apply_refund(session, conv, D("80.00"))
        assert full.reversed and full.value == 0
        assert ledger.apply_refund(session, conv, D("80.00")).moved == 0
    com = commission(cid)
    assert com.status == "reversed"
    assert [t for _, t, _ in ledger_rows(com.id)] == ["accrual", "reduction", "reversal"]


def test_refund_that_rounds_to_nothing_reverses() -> None:
    w = world(terms={"type": "cps", "percent": "1"})
    cid = create(w, "L-5", "1.00")  # commission 0.01
    with transaction() as session:
        _, conv = load(session, cid)
        effect = ledger.apply_refund(session, conv, D("0.60"))  # keeps 0.004 -> 0.00
    assert effect.value == 0 and commission(cid).status == "reversed"


def test_balances_per_bucket_and_currency() -> None:
    w = world()
    a, b = create(w, "L-6", "100.00"), create(w, "L-7", "50.00")
    with transaction() as session:
        program, conv = load(session, a)
        conversions.complete_conversion(session, program, conv, None, utcnow())
    with transaction() as session:
        ledger.approve_due(session, utcnow() + timedelta(days=31))
        ledger.mark_paid(session, commission(a).id, "pay_y")
    with reading() as session:
        got = ledger.balances(session, w.partner_id)
    assert got == {
        "pending": {"EUR": D("5.00")},
        "approved": {"EUR": D("0.00")},
        "paid": {"EUR": D("10.00")},
    }
    assert commission(b).status == "pending"


def test_cpc_on_a_day_without_clicks_creates_nothing() -> None:
    world(terms={"type": "cpc", "amount": "0.10"})
    with transaction() as session:
        assert ledger.accrue_clicks(session, date(2001, 1, 1)) == 0
