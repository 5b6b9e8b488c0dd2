"""Commissions approved into the partner's payout currency at the ECB rate of the approval
day; refunds after approval or payout take back what was booked at that rate (issue 5)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import httpx
from sqlalchemy import select

from alliance.commissions import service as ledger
from alliance.commissions.models import LedgerEntry
from alliance.db.engine import reading, transaction
from alliance.money import round_money
from alliance.payouts import fx
from tests.conversions.factories import world
from tests.conversions.test_postback import commission_of, post

D = Decimal
APPROVAL = datetime(2031, 1, 9, 12, tzinfo=UTC)
SEK_TO_EUR = D("0.08771929825")  # 1 / 11.400, the rate of 9 January 2031 (imported below)


def _entries(commission_id: str) -> list[LedgerEntry]:
    with reading() as session:
        rows = list(
            session.scalars(
                select(LedgerEntry)
                .where(LedgerEntry.commission_id == commission_id)
                .order_by(LedgerEntry.created_at, LedgerEntry.id)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def test_approval_fixes_the_rate_and_refunds_take_back_what_was_booked(
    http: httpx.Client, operator_key: str
) -> None:
    with transaction() as session:
        # A day whose SEK rate differs from today's (the bundled 30 October 2026: 10.978).
        fx.store(session, [(APPROVAL.date(), "SEK", D("11.400"))], fx.IMPORTED, replace=True)
    w = world(currency="SEK", terms={"type": "cps", "percent": "10"}, lock_days=0)
    order = post(http, w, order_id="PX-1", amount="1000.00", coupon=w.coupon).json()
    assert post(http, w, order_id="PX-1", status="completed").status_code == 200
    with transaction() as session:
        assert ledger.approve_due(session, APPROVAL) >= 1
    commission = commission_of(order["conversion_id"])
    assert (commission.status, commission.amount) == ("approved", D("100.00"))
    assert commission.payout_currency == "EUR"  # the partner's
    assert (commission.payout_rate, commission.payout_rate_day) == (SEK_TO_EUR, date(2031, 1, 9))
    approved = [e for e in _entries(commission.id) if e.bucket == "approved"]
    assert [e.payout_amount for e in approved] == [D("8.77")]  # 100.00 SEK x 0.0877...
    assert all(e.payout_amount is None for e in _entries(commission.id) if e.bucket == "pending")

    # Refunded by a quarter after approval, today (at today's rate 25.00 SEK would be 2.28
    # EUR): the reduction takes back 25.00 SEK at the approval rate, 2.19 EUR.
    assert (
        post(http, w, order_id="PX-1", status="refunded", refund_amount="250.00").status_code == 200
    )
    reduction = _entries(commission.id)[-1]
    assert (reduction.entry_type, reduction.amount) == ("reduction", D("-25.00"))
    assert reduction.payout_amount == D("-2.19")
    with reading() as session:
        assert ledger.payout_balances(session, w.partner_id) == {"approved": {"EUR": D("6.58")}}

    # Paid: the approved bucket nets to zero in both currencies; the paid one holds 6.58 EUR.
    with transaction() as session:
        ledger.mark_paid(session, commission.id, "pay_test_1")
    with reading() as session:
        assert ledger.payout_balances(session, w.partner_id) == {
            "approved": {"EUR": D("0.00")},
            "paid": {"EUR": D("6.58")},
        }

    # Refunded further after the payout: a negative adjustment, carried to the next payout,
    # still at the approval rate: 75.00 - 50.00 = 25.00 SEK = 2.19 EUR.
    assert (
        post(http, w, order_id="PX-1", status="refunded", refund_amount="500.00").status_code == 200
    )
    adjustment = _entries(commission.id)[-1]
    assert (adjustment.entry_type, adjustment.amount) == ("adjustment", D("-25.00"))
    assert adjustment.payout_amount == round_money(D("-25.00") * SEK_TO_EUR, "EUR")
    with reading() as session:
        assert ledger.payout_balances(session, w.partner_id)["approved"] == {"EUR": D("-2.19")}

    shown = http.get(
        f"/api/v1/commissions/{commission.id}", headers={"Authorization": f"Bearer {operator_key}"}
    ).json()
    assert (shown["payout_currency"], shown["payout_rate"]) == ("EUR", "0.08771929825")
    assert shown["payout_rate_day"] == "2031-01-09"
    assert [e["payout_amount"] for e in shown["entries"] if e["bucket"] != "pending"] == [
        "8.77", "-2.19", "-6.58", "6.58", "-2.19",
    ]  # fmt: skip


def test_a_partner_paid_in_the_programs_currency_keeps_every_cent(http: httpx.Client) -> None:
    w = world(currency="EUR", terms={"type": "cps", "percent": "10"}, lock_days=0)
    order = post(http, w, order_id="PE-1", amount="123.45", coupon=w.coupon).json()
    assert post(http, w, order_id="PE-1", status="completed").status_code == 200
    with transaction() as session:
        ledger.approve_due(session, datetime.now(UTC))
    commission = commission_of(order["conversion_id"])
    assert (commission.payout_currency, commission.payout_rate) == ("EUR", D(1))
    approved = [e for e in _entries(commission.id) if e.bucket == "approved"]
    # 10% of 123.45 = 12.345, rounded half-even once, when the commission was computed.
    assert commission.amount == D("12.34")
    assert [e.payout_amount for e in approved] == [commission.amount]
