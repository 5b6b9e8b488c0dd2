"""Referral overrides through the real ledger: earned at approval, one per level, replays
change nothing, refunds follow, the term ends, self-referrals earn nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from alliance.commissions import service as ledger
from alliance.commissions.models import Commission, CommissionStatus
from alliance.conversions import service as conversions
from alliance.crosspromo import referral_rules as rules
from alliance.crosspromo import referrals
from alliance.crosspromo.referral_models import PartnerReferral
from alliance.db.engine import transaction
from alliance.errors import Conflict, InvalidInput
from alliance.ids import new_token
from alliance.payouts import profiles
from alliance.programs.models import Program
from tests.conversions.factories import partner, report
from tests.crosspromo.referral_factories import Chain, recruited

pytestmark = pytest.mark.usefixtures("db_url")

D = Decimal
RECRUITED = datetime(2031, 1, 10, 9, 0, tzinfo=UTC)


def _order(c: Chain, amount: str, at: datetime, order_id: str | None = None) -> str:
    """A completed order (commission 10% of it), then the approval job at `at`."""
    with transaction() as session:
        program = session.get(Program, c.w.program_id)
        assert program is not None
        outcome = conversions.record(
            session,
            program,
            report(c.w, order_id or f"R-{new_token(9)}", amount=D(amount), status="completed"),
            None,
            at,
        )
    with transaction() as session:
        ledger.approve_due(session, at)
    assert outcome.conversion_id is not None
    return outcome.conversion_id


def _refund(c: Chain, order_id: str, amount: str, refunded: str, at: datetime) -> None:
    with transaction() as session:
        program = session.get(Program, c.w.program_id)
        assert program is not None
        conversions.record(
            session,
            program,
            report(
                c.w,
                order_id,
                amount=D(amount),
                status="refunded",
                refund_amount=D(refunded),
            ),
            None,
            at,
        )


def _overrides(partner_id: str) -> list[tuple[Commission, Decimal]]:
    with transaction() as session:
        rows = session.scalars(
            select(Commission).where(
                Commission.partner_id == partner_id, Commission.kind == "referral"
            )
        ).all()
        found = [(row, ledger.commission_value(session, row.id)) for row in rows]
        for row, _ in found:
            session.expunge(row)
        return found


def test_an_approved_commission_earns_each_level_its_share_once() -> None:
    c = recruited(percents=("10", "2.5"), at=RECRUITED)
    at = RECRUITED + timedelta(days=3)
    conversion_id = _order(c, "1000.00", at)  # the recruit's commission: 100.00 EUR
    [(first, value)] = _overrides(c.recruiter)
    assert value == D("10.00")
    assert first.status == CommissionStatus.approved
    assert first.conversion_id == conversion_id  # advertiser-funded: on the order
    assert first.funded_by == "advertiser"
    assert first.rule["level"] == 1 and first.rule["recruit_id"] == c.recruit
    assert first.arithmetic == (
        f"10% of 100.00 EUR (your recruit {c.recruit}'s approved commission) = 10.00 EUR"
    )
    [(second, top_value)] = _overrides(c.top)
    assert top_value == D("2.50") and second.rule["level"] == 2
    # The approval job again (a replay, or a second worker): nothing new.
    with transaction() as session:
        ledger.approve_due(session, at + timedelta(hours=1))
        underlying = session.scalars(
            select(Commission).where(Commission.source_key == conversion_id)
        ).one()
        assert ledger.accrue_overrides(session, underlying, D("100.00"), at) == []
    assert len(_overrides(c.recruiter)) == 1 and len(_overrides(c.top)) == 1


def test_a_network_funded_override_carries_no_order() -> None:
    c = recruited(funded_by="network", at=RECRUITED)
    _order(c, "200.00", RECRUITED + timedelta(days=1))
    [(row, value)] = _overrides(c.recruiter)
    assert value == D("2.00") and row.conversion_id is None and row.funded_by == "network"


def test_refunds_of_the_recruits_order_take_the_override_down_in_proportion() -> None:
    c = recruited(at=RECRUITED)
    at = RECRUITED + timedelta(days=5)
    order = f"R-{new_token(9)}"
    _order(c, "1000.00", at, order)
    _refund(c, order, "1000.00", "250.00", at + timedelta(days=1))
    [(row, value)] = _overrides(c.recruiter)
    assert value == D("7.50")  # 10% of the recruit's 75.00
    _refund(c, order, "1000.00", "250.00", at + timedelta(days=2))  # a replay
    assert _overrides(c.recruiter)[0][1] == D("7.50")
    _refund(c, order, "1000.00", "1000.00", at + timedelta(days=3))
    [(row, value)] = _overrides(c.recruiter)
    assert value == D("0.00") and row.status == CommissionStatus.reversed


def test_a_refund_after_the_override_was_paid_is_taken_from_the_next_payout() -> None:
    c = recruited(at=RECRUITED)
    at = RECRUITED + timedelta(days=5)
    order = f"R-{new_token(9)}"
    _order(c, "500.00", at, order)
    [(row, _)] = _overrides(c.recruiter)
    with transaction() as session:
        ledger.mark_paid(session, row.id, "pay_TEST")
    _refund(c, order, "500.00", "100.00", at + timedelta(days=9))
    [(row, value)] = _overrides(c.recruiter)
    assert value == D("4.00")
    with transaction() as session:
        buckets = ledger.bucket_values(session, row.id)
    assert buckets[ledger.Bucket.paid] == D("5.00")
    assert buckets[ledger.Bucket.approved] == D("-1.00")  # netted on the next payout


def test_the_term_starts_at_recruitment_and_ends_after_its_months() -> None:
    c = recruited(months=2, at=RECRUITED)
    _order(c, "100.00", RECRUITED - timedelta(minutes=1))  # before: nothing
    _order(c, "100.00", rules.add_months(RECRUITED, 2))  # the end is excluded: nothing
    assert _overrides(c.recruiter) == []
    _order(c, "100.00", rules.add_months(RECRUITED, 2) - timedelta(seconds=1))
    assert [value for _, value in _overrides(c.recruiter)] == [D("1.00")]


def test_a_self_referral_by_email_is_recorded_with_its_reason_and_earns_nothing() -> None:
    c = recruited(at=RECRUITED)
    with transaction() as session:
        me = partner(session, "Me")
        me.email = "Erika.Muster+blog@gmail.com"
        again = partner(session, "Me again")
        again.email = "erikamuster@googlemail.com"
        session.flush()
        row = referrals.record(session, again.id, referrals.recruit_code(session, me.id))
        assert (row.status, row.reason) == ("refused", "same_email")
        assert row.evidence["same_email"] is True
        own = partner(session, "Own")
        with pytest.raises(InvalidInput):
            referrals.record(session, own.id, "NOPE1234")
        row = referrals.record(session, own.id, referrals.recruit_code(session, own.id))
        assert (row.status, row.reason) == ("refused", "own_code")
    assert c.recruit  # the chain of the fixture is unaffected


def test_a_shared_payout_account_found_later_refuses_the_referral() -> None:
    c = recruited(at=RECRUITED)
    iban = "DE89 3704 0044 0532 0130 00"
    with transaction() as session:
        for who in (c.recruit, c.recruiter):
            profiles.save_payout_settings(
                session,
                who,
                payout_currency="EUR",
                schedule="monthly",
                threshold="50.00",
                method="bank_transfer",
                account_holder="Erika Mustermann",
                iban=iban,
                bic="COBADEFFXXX",
                paypal_email=None,
            )
    _order(c, "100.00", RECRUITED + timedelta(days=1))
    assert _overrides(c.recruiter) == []
    with transaction() as session:
        row = session.scalars(
            select(PartnerReferral).where(PartnerReferral.recruit_id == c.recruit)
        ).one()
        assert (row.status, row.reason) == ("refused", "same_payout_account")


def test_signing_up_from_the_recruiters_device_is_a_self_referral() -> None:
    seen = rules.Fingerprint(ip_hash="a" * 32, device_hash="b" * 32)
    with transaction() as session:
        recruiter = partner(session, "Recruiter")
        referrals.note_sign_in(session, recruiter.id, seen)
        referrals.note_sign_in(session, recruiter.id, seen)  # once per pair
        code = referrals.recruit_code(session, recruiter.id)
        assert referrals.recruit_code(session, recruiter.id) == code  # stable
        other = partner(session, "Elsewhere")
        fine = referrals.record(
            session, other.id, code, fingerprint=rules.Fingerprint("c" * 32, "b" * 32)
        )
        assert fine.status == "active" and fine.evidence["device_checked"] is True
        same = partner(session, "Same laptop")
        row = referrals.record(session, same.id, code.lower(), fingerprint=seen)
        assert (row.status, row.reason) == ("refused", "same_device")


def test_one_recruiter_per_partner_and_no_loops() -> None:
    c = recruited(at=RECRUITED)
    with transaction() as session:
        # The same code again is the same referral; another recruiter is a conflict.
        again = referrals.record(session, c.recruit, referrals.recruit_code(session, c.recruiter))
        assert again.recruiter_id == c.recruiter
        with pytest.raises(Conflict):
            referrals.record(session, c.recruit, referrals.recruit_code(session, c.top))
        with pytest.raises(Conflict):  # the recruit recruiting the top of its own chain
            referrals.record(session, c.top, referrals.recruit_code(session, c.recruit))
        assert referrals.chain(session, c.recruit, 5) == [c.recruiter, c.top]


def test_a_program_can_switch_overrides_off_while_the_network_pays_them() -> None:
    c = recruited(at=RECRUITED)
    with transaction() as session:
        referrals.set_terms(
            session,
            c.w.program_id,
            referrals.TermsInput([D("10")], 12, referrals.Funding.advertiser, active=False),
        )
    _order(c, "100.00", RECRUITED + timedelta(days=1))
    assert _overrides(c.recruiter) == []


def test_the_cli_shows_and_sets_a_programs_terms() -> None:
    from typer.testing import CliRunner

    from alliance.cli import app

    c = recruited(at=RECRUITED)
    runner = CliRunner()
    shown = runner.invoke(app, ["crosspromo", "referral-terms", "--program", c.w.program_id])
    assert shown.exit_code == 0 and "10% for 12 months, funded by advertiser" in shown.output
    options = ["--percents", "7.5,1", "--months", "6", "--funded-by", "network"]
    changed = runner.invoke(
        app, ["crosspromo", "referral-terms", "--program", c.w.program_id, *options]
    )
    assert changed.exit_code == 0 and "7.5% / 1% for 6 months, funded by network" in changed.output
    bad = runner.invoke(
        app, ["crosspromo", "referral-terms", "--program", c.w.program_id, "--percents", "0"]
    )
    assert bad.exit_code == 2 and "percents" in bad.output
