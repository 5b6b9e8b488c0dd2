"""Payout runs (issue 5, point 2): thresholds, schedules, exactly once per period even when
two runs start at once, negative balances carried forward, held payouts, and the
created -> sent -> paid | failed lifecycle with failed money returned to the balance."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from alliance.commissions import service as ledger
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions import service as conversions
from alliance.conversions.models import Conversion
from alliance.db.engine import reading, transaction
from alliance.errors import Conflict, InvalidInput
from alliance.notifications.models import WebhookEvent
from alliance.payouts import fx, profiles
from alliance.payouts import service as payouts
from alliance.payouts.models import Payout, PayoutLine, PayoutStatus
from tests.conversions.factories import World
from tests.payouts.factories import approved, day, payee

D = Decimal
pytestmark = pytest.mark.usefixtures("db_url")


def _payouts(w: World) -> list[Payout]:
    with reading() as session:
        rows = list(
            session.scalars(
                select(Payout).where(Payout.partner_id == w.partner_id).order_by(Payout.period)
            )
        )
        for row in rows:
            session.expunge(row)
        return rows


def _balance(w: World) -> dict[str, dict[str, Decimal]]:
    with reading() as session:
        return ledger.payout_balances(session, w.partner_id)


def _status(commission_id: str) -> str:
    with reading() as session:
        found = session.get(Commission, commission_id)
        assert found is not None
        return found.status


def _run(w: World, through: str) -> dict[str, object]:
    return payouts.run(day(through), "test", partners=[w.partner_id]).outcome


@pytest.mark.parametrize(
    ("schedule", "through", "expected"),
    [
        ("monthly", "2031-03-31", ("2031-03", "2031-03-01", "2031-03-31")),
        ("monthly", "2031-03-30", ("2031-02", "2031-02-01", "2031-02-28")),
        ("monthly", "2031-01-05", ("2030-12", "2030-12-01", "2030-12-31")),
        ("twice_monthly", "2031-03-14", ("2031-02-2", "2031-02-16", "2031-02-28")),
        ("twice_monthly", "2031-03-15", ("2031-03-1", "2031-03-01", "2031-03-15")),
        ("twice_monthly", "2031-03-30", ("2031-03-1", "2031-03-01", "2031-03-15")),
        ("twice_monthly", "2031-03-31", ("2031-03-2", "2031-03-16", "2031-03-31")),
        ("twice_monthly", "2032-02-29", ("2032-02-2", "2032-02-16", "2032-02-29")),
    ],
)
def test_the_latest_closed_period_of_each_schedule(
    schedule: str, through: str, expected: tuple[str, str, str]
) -> None:
    period = payouts.latest_closed_period(schedule, day(through))
    assert (period.key, period.start.isoformat(), period.end.isoformat()) == expected


def test_a_run_pays_the_period_once_and_moves_the_ledger() -> None:
    w = payee()
    first = approved(w, "400.00", datetime(2031, 3, 3, 10, tzinfo=UTC))  # 40.00
    second = approved(w, "300.00", datetime(2031, 3, 20, 10, tzinfo=UTC))  # 30.00
    late = approved(w, "900.00", datetime(2031, 4, 1, 9, tzinfo=UTC))  # after the period

    outcome = _run(w, "2031-04-02")
    assert outcome["create"] == 1
    [payout] = _payouts(w)
    assert (payout.period, payout.status, payout.amount) == ("2031-03", "created", D("70.00"))
    assert payout.invoice_number == "SB-000001"
    assert payout.method == "bank_transfer"
    assert payout.destination["iban"] == "DE89370400440532013000"
    with reading() as session:
        lines = session.scalars(select(PayoutLine).where(PayoutLine.payout_id == payout.id))
        assert {(ln.commission_id, ln.payout_amount) for ln in lines} == {
            (first.id, D("40.00")),
            (second.id, D("30.00")),
        }
    assert (_status(first.id), _status(second.id), _status(late.id)) == ("paid",) * 2 + (
        "approved",
    )
    assert _balance(w) == {"approved": {"EUR": D("90.00")}, "paid": {"EUR": D("70.00")}}

    # Run again, and later in April: March is paid; April's money waits for April's end.
    assert _run(w, "2031-04-02")["already_made"] == 1
    assert _run(w, "2031-04-29")["already_made"] == 1
    assert len(_payouts(w)) == 1
    assert _balance(w)["approved"] == {"EUR": D("90.00")}

    # April closes: the late commission is paid with the next invoice number.
    _run(w, "2031-04-30")
    april = _payouts(w)[1]
    assert (april.period, april.amount, april.invoice_number) == (
        "2031-04",
        D("90.00"),
        "SB-000002",
    )


def _refund(commission: Commission, cumulative: str) -> None:
    with transaction() as session:
        conversion = session.get(Conversion, commission.conversion_id)
        assert conversion is not None
        conversions.refund_conversion(
            session, conversion, D(cumulative), None, conversion.created_at
        )


def test_a_full_refund_takes_back_exactly_what_was_booked_in_the_payout_currency() -> None:
    # 100.05 EUR at 11.5 SEK/EUR is 1,150.575 -> 1,150.58 SEK. Refunded to 40.02 EUR, the
    # commission is booked at round(40.02 x 11.5) = 460.23 SEK (converting the refund alone,
    # -60.03 EUR = -690.34 SEK, left 460.24). Converting each refund alone also left 0.01 SEK
    # behind after the full refund: paid, for a commission worth nothing. The full refund
    # takes back all that was booked.
    with transaction() as session:
        fx.store(session, [(day("2033-02-07"), "SEK", D("11.5"))], fx.IMPORTED, replace=True)
    w = payee(payout_currency="SEK", percent="100", threshold="0")
    before_payout = approved(w, "100.05", datetime(2033, 2, 7, 9, tzinfo=UTC))
    after_payout = approved(w, "100.05", datetime(2033, 2, 7, 10, tzinfo=UTC))
    for commission in (before_payout, after_payout):
        _refund(commission, "60.03")
    _refund(before_payout, "100.05")
    assert _balance(w) == {"approved": {"SEK": D("460.23")}}
    _run(w, "2033-02-28")
    [february] = _payouts(w)
    assert february.amount == D("460.23")  # only the commission still worth something
    _refund(after_payout, "100.05")  # after the payout: the adjustment takes it all back
    assert _balance(w) == {"approved": {"SEK": D("-460.23")}, "paid": {"SEK": D("460.23")}}
    for commission in (before_payout, after_payout):
        assert _status(commission.id) == "reversed"
        with reading() as session:
            booked = session.scalars(
                select(LedgerEntry.payout_amount).where(
                    LedgerEntry.commission_id == commission.id, LedgerEntry.bucket != "pending"
                )
            ).all()
        assert sum(booked, D(0)) == 0  # worth nothing, in either currency


def test_a_balance_below_the_threshold_waits_and_is_carried_forward() -> None:
    w = payee(threshold="100.00", schedule="twice_monthly")
    approved(w, "600.00", datetime(2031, 5, 2, tzinfo=UTC))  # 60.00
    assert _run(w, "2031-05-15")["below_threshold"] == 1
    assert _payouts(w) == []
    approved(w, "500.00", datetime(2031, 5, 20, tzinfo=UTC))  # 50.00 more
    _run(w, "2031-05-31")
    [payout] = _payouts(w)
    assert (payout.period, payout.amount) == ("2031-05-2", D("110.00"))


def test_refunds_after_a_payout_are_netted_and_a_payout_is_never_negative() -> None:
    w = payee(threshold="10.00")
    paid = approved(w, "1000.00", datetime(2031, 6, 5, tzinfo=UTC))  # 100.00
    _run(w, "2031-06-30")
    with transaction() as session:
        conversion_id = session.get(Commission, paid.id).conversion_id  # type: ignore[union-attr]
        from alliance.conversions.models import Conversion

        conversion = session.get(Conversion, conversion_id)
        assert conversion is not None
        ledger.apply_refund(session, conversion, D("1000.00"))  # all of it, after the payout
    assert _balance(w)["approved"] == {"EUR": D("-100.00")}
    # July: only 30.00 earned; the balance is -70.00: no payout, nothing moves.
    approved(w, "300.00", datetime(2031, 7, 10, tzinfo=UTC))
    assert _run(w, "2031-07-31")["below_threshold"] == 1
    assert [p.period for p in _payouts(w)] == ["2031-06"]
    # August: 120.00 earned; 120 - 70 = 50.00 is paid, the adjustment as a negative line.
    approved(w, "1200.00", datetime(2031, 8, 10, tzinfo=UTC))
    _run(w, "2031-08-31")
    august = _payouts(w)[-1]
    assert (august.period, august.amount, august.line_count) == ("2031-08", D("50.00"), 3)
    with reading() as session:
        amounts = sorted(
            session.scalars(
                select(PayoutLine.payout_amount).where(PayoutLine.payout_id == august.id)
            )
        )
    assert amounts == [D("-100.00"), D("30.00"), D("120.00")]
    assert _balance(w)["approved"] == {"EUR": D("0.00")}


def test_a_payout_is_held_while_details_are_missing_and_released_when_given() -> None:
    w = payee(entity=None)
    approved(w, "800.00", datetime(2031, 9, 9, tzinfo=UTC))
    assert _run(w, "2031-09-30")["hold"] == 1
    [held] = _payouts(w)
    assert held.status == "held" and held.amount == D("80.00") and held.invoice_number is None
    assert held.hold_reason is not None and "tax profile" in held.hold_reason
    assert _balance(w)["approved"] == {"EUR": D("80.00")}  # nothing moved

    with transaction() as session:
        profiles.save_tax_profile(
            session,
            w.partner_id,
            entity="individual",
            legal_name="Erika Mustermann",
            address="Musterstraße 1",
            country="DE",
        )
    assert _run(w, "2031-10-03")["create"] == 1  # still September's period: released
    [payout] = _payouts(w)
    assert (payout.id, payout.status, payout.hold_reason) == (held.id, "created", None)
    assert _balance(w)["approved"] == {"EUR": D("0.00")}


def test_commissions_from_us_programs_need_the_right_irs_form() -> None:
    w = payee(advertiser_country="US", entity="business")
    approved(w, "700.00", datetime(2031, 10, 2, tzinfo=UTC))
    _run(w, "2031-10-31")
    [held] = _payouts(w)
    assert held.status == "held"
    assert "W-8BEN-E" in (held.hold_reason or "")
    with transaction() as session, pytest.raises(InvalidInput) as refused:
        profiles.save_tax_profile(
            session,
            w.partner_id,
            entity="business",
            legal_name="Muster GmbH",
            address="Musterstraße 1",
            country="DE",
            vat_id="DE136695976",
            us_tax_form="W-9",
            us_tax_form_signed_on=day("2026-10-01"),
        )
    assert refused.value.field == "us_tax_form"
    with transaction() as session:
        profiles.save_tax_profile(
            session,
            w.partner_id,
            entity="business",
            legal_name="Muster GmbH",
            address="Musterstraße 1",
            country="DE",
            vat_id="DE136695976",
            us_tax_form="W-8BEN-E",
            us_tax_form_signed_on=day("2026-10-01"),
        )
    _run(w, "2031-11-01")
    assert _payouts(w)[0].status == "created"


def test_failed_payouts_return_the_money_and_follow_the_lifecycle() -> None:
    w = payee(threshold="1.00")
    commission = approved(w, "250.00", datetime(2031, 11, 4, tzinfo=UTC))
    _run(w, "2031-11-30")
    [payout] = _payouts(w)
    with transaction() as session, pytest.raises(Conflict):
        payouts.mark(session, payout.id, "paid")  # created -> paid skips sent
    with transaction() as session, pytest.raises(InvalidInput) as refused:
        payouts.mark(session, payout.id, "failed")
    assert refused.value.field == "reason"
    with transaction() as session:
        payouts.mark(session, payout.id, "sent")
    with transaction() as session:
        payouts.mark(session, payout.id, "failed", reason="IBAN closed (AC04)")
    with transaction() as session:
        payouts.mark(session, payout.id, "failed", reason="replayed")  # a replay: nothing
    assert _status(commission.id) == "approved"
    assert _balance(w) == {"approved": {"EUR": D("25.00")}, "paid": {"EUR": D("0.00")}}
    [failed] = _payouts(w)
    assert (failed.status, failed.failure_reason) == ("failed", "IBAN closed (AC04)")
    # The returned money is paid by the next period's payout.
    _run(w, "2031-12-31")
    december = _payouts(w)[-1]
    assert (december.period, december.amount) == ("2031-12", D("25.00"))
    with transaction() as session:
        payouts.mark(session, december.id, "sent")
        payouts.mark(session, december.id, "paid")
    assert _payouts(w)[-1].status == PayoutStatus.paid
    # The partner's webhooks hear of it: payout.paid with the commissions it paid.
    with reading() as session:
        [event] = session.scalars(
            select(WebhookEvent).where(
                WebhookEvent.type == "payout.paid", WebhookEvent.partner_id == w.partner_id
            )
        ).all()
        assert event.data["id"] == december.id and event.data["amount"] == "25.00"
        assert event.data["commission_ids"] == [commission.id]
        paid_events = session.scalars(
            select(WebhookEvent)
            .where(WebhookEvent.type == "commission.paid", WebhookEvent.partner_id == w.partner_id)
            .order_by(WebhookEvent.id)
        ).all()
        assert [e.data["payout_reference"] for e in paid_events] == [payout.id, december.id]
    assert _balance(w) == {"approved": {"EUR": D("0.00")}, "paid": {"EUR": D("25.00")}}


def test_two_runs_started_at_once_pay_a_period_once() -> None:
    partners = [payee(threshold="1.00") for _ in range(3)]
    for w in partners:
        for amount in ("100.00", "200.00", "300.00"):
            approved(w, amount, datetime(2032, 1, 7, tzinfo=UTC))
    ids = [w.partner_id for w in partners]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            payouts.run(day("2032-01-31"), "racing", partners=ids)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    for w in partners:
        [payout] = _payouts(w)
        assert payout.amount == D("60.00")
        assert _balance(w) == {"approved": {"EUR": D("0.00")}, "paid": {"EUR": D("60.00")}}
        assert payout.invoice_number == "SB-000001"


def test_details_are_checked_when_saved() -> None:
    w = payee()
    cases = [
        ({"iban": "DE89 3704 0044 0532 0130 01"}, "iban"),
        ({"bic": "NOTABIC"}, "bic"),
        ({"bic": "NDEASESSXXX"}, "bic"),  # a Swedish bank for a German account
        ({"method": "cheque"}, "method"),
        ({"schedule": "weekly"}, "schedule"),
        ({"threshold": "-1"}, "threshold"),
        ({"payout_currency": "KWD"}, "payout_currency"),  # the ECB does not quote it
        ({"method": "paypal", "paypal_email": "not-an-address"}, "paypal_email"),
    ]
    base = {
        "payout_currency": "EUR",
        "schedule": "monthly",
        "threshold": "50",
        "method": "bank_transfer",
        "account_holder": "Erika",
        "iban": "DE89370400440532013000",
        "bic": "COBADEFFXXX",
    }
    for change, field in cases:
        with transaction() as session, pytest.raises(InvalidInput) as refused:
            profiles.save_payout_settings(session, w.partner_id, **{**base, **change})
        assert refused.value.field == field, change
    tax = {"entity": "business", "legal_name": "X GmbH", "address": "Y", "country": "DE"}
    for change, field in [
        ({}, "vat_id"),  # an EU business without its VAT number
        ({"vat_id": "DE136695977"}, "vat_id"),  # wrong check digit
        ({"vat_id": "DE136695976", "tax_id": "12345"}, "tax_id"),
        ({"vat_id": "DE136695976", "country": "XX"}, "country"),
        ({"vat_id": "DE136695976", "vat_rate": "75"}, "vat_rate"),
    ]:
        with transaction() as session, pytest.raises(InvalidInput) as refused:
            profiles.save_tax_profile(session, w.partner_id, **{**tax, **change})
        assert refused.value.field == field, change
    with transaction() as session:
        saved = profiles.save_tax_profile(
            session, w.partner_id, **{**tax, "vat_id": "de 136 695 976"}
        )
        assert saved.vat_id == "DE136695976"
