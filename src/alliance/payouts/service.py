"""Payout runs: every partner whose approved balance passes its threshold is paid once per
period, in its payout currency (docs/payouts.md, ADR 0014).

A run settles, for each partner, the latest period of the partner's schedule that closed on
or before the run's `through` day. A period pays the commissions approved before its end:
each one's approved money as it stands when the run reaches it (the approved bucket, at the
commission's approval-day rate), including refunds booked since, which only ever lower it.
A commission approved after the period's end waits for the next period. A commission paid
earlier and refunded since has a negative approved balance: the next payout nets it.

Exactly once: each partner is settled in its own transaction that first locks the partner's
row, and payouts are unique per (partner, period, currency). Two runs started at the same
moment take turns per partner; the second finds the payout made and moves nothing. A crash
halfway leaves every partner either fully paid for the period or untouched.

Never negative: a balance below the threshold (negative after refunds of paid commissions,
say) is not paid; it stays in the approved bucket and is carried forward, netted against
later commissions. Payouts move held -> created -> sent -> paid, or failed, which returns
each line's money to the approved balance at the values it was paid at.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.clock import utcnow
from alliance.commissions import service as ledger
from alliance.commissions.models import Bucket, Commission, LedgerEntry
from alliance.db.engine import reading, transaction
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.money import round_money
from alliance.notifications import outbox
from alliance.notifications.payloads import payout_data
from alliance.payouts import documents, fx, mails, paperwork
from alliance.payouts.details import PayoutDetails, hold_reasons
from alliance.payouts.models import (
    PAYOUT_TRANSITIONS,
    DocumentSequence,
    NetworkProfile,
    Payout,
    PayoutLine,
    PayoutMethod,
    PayoutRun,
    PayoutSchedule,
    PayoutSettings,
    PayoutStatus,
    TaxProfile,
)
from alliance.programs.models import Program
from alliance.settings import get_settings

ZERO = Decimal(0)
INVOICE_SERIES = "invoice"


# --- periods ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Period:
    key: str  # "2026-11" (monthly) or "2026-11-1" / "2026-11-2" (twice monthly)
    start: date
    end: date  # inclusive

    @property
    def cutoff(self) -> datetime:
        """The first instant after the period: money booked before it belongs to it."""
        return datetime.combine(self.end + timedelta(days=1), time.min, tzinfo=UTC)

    def label(self) -> str:
        return f"{self.start.isoformat()} to {self.end.isoformat()}"


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def _previous_month(day: date) -> tuple[int, int]:
    return (day.year, day.month - 1) if day.month > 1 else (day.year - 1, 12)


def latest_closed_period(schedule: str, through: date) -> Period:
    """The latest period of `schedule` that ends on or before `through`."""
    month_end = _month_end(through.year, through.month)
    if schedule == PayoutSchedule.twice_monthly:
        if through == month_end:
            start = date(through.year, through.month, 16)
            return Period(f"{through:%Y-%m}-2", start, month_end)
        if through.day >= 15:
            start = date(through.year, through.month, 1)
            return Period(f"{through:%Y-%m}-1", start, date(through.year, through.month, 15))
        year, month = _previous_month(through)
        end = _month_end(year, month)
        return Period(f"{year:04d}-{month:02d}-2", date(year, month, 16), end)
    if through == month_end:
        return Period(f"{through:%Y-%m}", date(through.year, through.month, 1), month_end)
    year, month = _previous_month(through)
    return Period(f"{year:04d}-{month:02d}", date(year, month, 1), _month_end(year, month))


def default_through(now: datetime | None = None) -> date:
    """Yesterday (UTC): a run today settles the periods that ended by yesterday's end."""
    return (now or utcnow()).date() - timedelta(days=1)


def closed_through(day: date | None, now: datetime | None = None) -> date:
    """The `through` day a run or preview may use: the one asked (default yesterday), only
    a past day, as today's periods are still open and their money can still change."""
    latest = default_through(now)
    if day is not None and day > latest:
        raise InvalidInput(
            f"through must be a past day (before {latest + timedelta(days=1)}): a period is "
            "paid once it has closed",
            field="through",
        )
    return day or latest


# --- what a partner is owed ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LineDraft:
    commission_id: str
    program_id: str
    currency: str  # the program currency
    amount: Decimal
    payout_amount: Decimal
    rate: Decimal | None
    rate_day: date | None


def payable_lines(
    session: Session, partner_id: str, currency: str, cutoff: datetime
) -> tuple[list[LineDraft], int]:
    """Per commission approved before `cutoff` and fixed to payout currency `currency`, its
    approved money now; and how many such commissions wait for an ECB rate (an entry without
    a payout-currency value: they cannot be paid until a rate is imported)."""
    rows = session.execute(
        select(
            LedgerEntry.commission_id,
            LedgerEntry.program_id,
            LedgerEntry.currency,
            LedgerEntry.amount,
            LedgerEntry.payout_amount,
            Commission.payout_rate,
            Commission.payout_rate_day,
        )
        .join(Commission, Commission.id == LedgerEntry.commission_id)
        .where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.bucket == Bucket.approved.value,
            Commission.payout_currency == currency,
            Commission.approved_at < cutoff,
        )
        .order_by(LedgerEntry.commission_id)
    )
    sums: dict[str, list[Any]] = {}
    unpriced: set[str] = set()
    for cid, program_id, line_currency, amount, payout_amount, rate, rate_day in rows:
        if payout_amount is None:
            unpriced.add(cid)
            continue
        entry = sums.get(cid)
        if entry is None:
            sums[cid] = [program_id, line_currency, amount, payout_amount, rate, rate_day]
        else:
            entry[2] += amount
            entry[3] += payout_amount
    lines = [
        LineDraft(cid, p, c, a, pa, r, rd)
        for cid, (p, c, a, pa, r, rd) in sums.items()
        if cid not in unpriced and (a != ZERO or pa != ZERO)
    ]
    return lines, len(unpriced)


def payout_currencies(session: Session, partner_id: str) -> list[str]:
    """The payout currencies the partner has approved money in (more than one after it
    changed its payout currency: each is paid on its own)."""
    # From the partner's approved entries (the (partner_id, bucket) index), not from its
    # commissions with an EXISTS: PostgreSQL planned that as a scan of the partner's ledger
    # per commission (~20 ms a partner at 20 commissions).
    found = session.scalars(
        select(Commission.payout_currency)
        .join(LedgerEntry, LedgerEntry.commission_id == Commission.id)
        .where(
            LedgerEntry.partner_id == partner_id,
            LedgerEntry.bucket == Bucket.approved.value,
            Commission.payout_currency.is_not(None),
        )
        .distinct()
    )
    return sorted(c for c in found if c)


def details_of(session: Session, partner_id: str) -> PayoutDetails:
    settings = session.get(PayoutSettings, partner_id)
    profile = session.get(TaxProfile, partner_id)
    return PayoutDetails(
        schedule=settings.schedule if settings else None,
        threshold=settings.threshold if settings else None,
        method=settings.method if settings else None,
        account_holder=settings.account_holder if settings else None,
        iban=settings.iban if settings else None,
        bic=settings.bic if settings else None,
        paypal_email=settings.paypal_email if settings else None,
        entity=profile.entity if profile else None,
        legal_name=profile.legal_name if profile else None,
        address=profile.address if profile else None,
        tax_country=profile.country if profile else None,
        vat_id=profile.vat_id if profile else None,
        tax_id=profile.tax_id if profile else None,
        us_tax_form=profile.us_tax_form if profile else None,
    )


def _us_sourced(session: Session, lines: Iterable[LineDraft]) -> bool:
    """Whether any line comes from a program of a US advertiser (US-sourced income)."""
    programs = {line.program_id for line in lines}
    if not programs:
        return False
    return (
        session.scalar(
            select(Program.id)
            .join(Advertiser, Advertiser.id == Program.advertiser_id)
            .where(Program.id.in_(programs), Advertiser.country == "US")
            .limit(1)
        )
        is not None
    )


def threshold_in(
    session: Session, details: PayoutDetails, home_currency: str, currency: str, day: date
) -> Decimal:
    """The partner's threshold in `currency`: as set, in its payout currency; converted at
    the day's ECB rate for money left in an earlier payout currency; without settings, the
    network default (ALLIANCE_PAYOUT_DEFAULT_THRESHOLD_EUR) converted from euros."""
    if details.threshold is not None:
        amount, unit = details.threshold, home_currency
    else:
        amount, unit = get_settings().payout_default_threshold_eur, "EUR"
    if unit == currency:
        return amount
    try:
        return fx.quote(session, unit, currency, day).convert(amount)
    except fx.NoRate:
        return ZERO  # no rate to compare with: the threshold cannot hold money back


# --- deciding --------------------------------------------------------------------------------


@dataclass(slots=True)
class Decision:
    """What a run does (or would do, in a preview) for one partner and payout currency."""

    partner_id: str
    partner_name: str
    period: Period
    currency: str
    # create | hold | below_threshold | nothing_owed | already_made (see `status`) |
    # later_period_paid
    outcome: str
    amount: Decimal
    threshold: Decimal
    lines: list[LineDraft] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    unpriced: int = 0
    payout_id: str | None = None
    status: str | None = None  # of the payout the period has already (already_made)

    def as_dict(self) -> dict[str, Any]:
        return {
            "partner_id": self.partner_id,
            "partner_name": self.partner_name,
            "period": self.period.key,
            "period_start": self.period.start.isoformat(),
            "period_end": self.period.end.isoformat(),
            "currency": self.currency,
            "outcome": self.outcome,
            "amount": str(round_money(self.amount, self.currency)),
            "threshold": str(round_money(self.threshold, self.currency)),
            "lines": len(self.lines),
            "reasons": self.reasons,
            "unpriced_commissions": self.unpriced,
            "payout_id": self.payout_id,
            "status": self.status,
        }


def _existing(session: Session, partner_id: str, period: Period, currency: str) -> Payout | None:
    return session.scalars(
        select(Payout).where(
            Payout.partner_id == partner_id,
            Payout.period == period.key,
            Payout.currency == currency,
        )
    ).first()


def _later_paid(session: Session, partner_id: str, period: Period, currency: str) -> bool:
    """A payout of a later period exists: this one's money went in it (periods are never
    settled out of order, so every payment the balance counts is of an earlier period)."""
    return (
        session.scalar(
            select(Payout.id)
            .where(
                Payout.partner_id == partner_id,
                Payout.currency == currency,
                Payout.period_end > period.end,
                Payout.status.not_in([PayoutStatus.held.value, PayoutStatus.cancelled.value]),
            )
            .limit(1)
        )
        is not None
    )


def decide(session: Session, partner: Partner, through: date) -> list[Decision]:
    """What a run through `through` does for this partner, one decision per payout currency
    it has approved money in. Reads only: `run` applies it under the partner's lock."""
    details = details_of(session, partner.id)
    period = latest_closed_period(details.schedule or PayoutSchedule.monthly, through)
    decisions = []
    currencies = set(payout_currencies(session, partner.id))
    currencies |= set(
        session.scalars(
            select(Payout.currency).where(
                Payout.partner_id == partner.id, Payout.status == PayoutStatus.held.value
            )
        )
    )
    for currency in sorted(currencies):
        threshold = threshold_in(session, details, partner.payout_currency, currency, through)
        decision = Decision(partner.id, partner.name, period, currency, "", ZERO, threshold)
        decisions.append(decision)
        existing = _existing(session, partner.id, period, currency)
        if existing is not None and existing.status != PayoutStatus.held:
            decision.outcome, decision.payout_id = "already_made", existing.id
            decision.status = existing.status
            decision.amount = existing.amount
            continue
        if _later_paid(session, partner.id, period, currency):
            decision.outcome = "later_period_paid"
            continue
        lines, decision.unpriced = payable_lines(session, partner.id, currency, period.cutoff)
        decision.lines = lines
        decision.amount = sum((line.payout_amount for line in lines), ZERO)
        if existing is not None:
            decision.payout_id = existing.id
        if decision.amount == ZERO and existing is None:
            decision.outcome = "nothing_owed"  # paid up: no row worth an operator's look
            continue
        if decision.amount <= ZERO or decision.amount < threshold:
            decision.outcome = "below_threshold"
            continue
        decision.reasons = hold_reasons(details, us_sourced=_us_sourced(session, lines))
        decision.reasons += _network_reasons(session, partner, decision)
        decision.outcome = "hold" if decision.reasons else "create"
    return decisions


def _network_reasons(session: Session, partner: Partner, decision: Decision) -> list[str]:
    """What the operator must add before this partner's invoice can be issued."""
    network = session.get(NetworkProfile, "network")
    if network is None:
        return ["the network's legal details are missing (the operator sets them)"]
    profile = session.get(TaxProfile, partner.id)
    if profile is None:
        return []
    probe = Payout(amount=decision.amount, currency=decision.currency)
    treatment = paperwork.vat_of(partner, profile, network, probe)
    if treatment.needs_vat_ids and not network.vat_id:
        return ["the network's VAT number is missing: a reverse-charge invoice shows both"]
    return []


def preview(
    session: Session, through: date, partners: Sequence[str] | None = None
) -> list[Decision]:
    """What `run(through)` would do now, for every partner with approved money (or only
    `partners`)."""
    decisions: list[Decision] = []
    for partner in _candidates(session, partners):
        decisions.extend(decide(session, partner, through))
    return decisions


def _candidates(session: Session, only: Sequence[str] | None = None) -> list[Partner]:
    """Partners with approved-bucket money (a balance, or an adjustment to carry) or a held
    payout; of `only` when given."""
    with_money = select(LedgerEntry.partner_id).where(LedgerEntry.bucket == Bucket.approved.value)
    held = select(Payout.partner_id).where(Payout.status == PayoutStatus.held.value)
    statement = select(Partner).where(or_(Partner.id.in_(with_money), Partner.id.in_(held)))
    if only is not None:
        statement = statement.where(Partner.id.in_(list(only)))
    return list(session.scalars(statement.order_by(Partner.id)))


# --- running ---------------------------------------------------------------------------------


def run(
    through: date,
    started_by: str,
    *,
    partners: Sequence[str] | None = None,
    now: datetime | None = None,
) -> PayoutRun:
    """Settle every partner's (or only `partners`') latest closed period through `through`
    (see the module text). Safe to start any number of times, also at once: a partner's
    period is paid once."""
    started = now or utcnow()
    with transaction() as session:
        record = PayoutRun(
            id=new_id(PREFIXES["payout_run"]),
            through=through,
            started_by=started_by[:200],
            started_at=started,
            outcome={},
        )
        session.add(record)
    with reading() as session:
        partner_ids = [p.id for p in _candidates(session, partners)]
    counts: dict[str, int] = defaultdict(int)
    problems: list[str] = []
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for partner_id in partner_ids:
        try:
            with transaction() as session:
                partner = _lock_partner(session, partner_id)
                decisions = decide(session, partner, through)
                for decision in decisions:
                    _apply(session, record.id, decision, now or utcnow())
        except _BalanceChanged:
            counts["below_threshold"] += 1
            continue
        except _InvoiceRefused as exc:
            counts["invoice_refused"] += 1
            problems.append(f"{partner_id}: {exc}")
            continue
        for decision in decisions:
            counts[decision.outcome] += 1
            if decision.outcome == "create":
                totals[decision.currency] += decision.amount
    with transaction() as session:
        stored = session.get(PayoutRun, record.id)
        assert stored is not None
        stored.finished_at = utcnow()
        stored.outcome = {
            "partners": len(partner_ids),
            **dict(counts),
            "created_totals": {c: str(a) for c, a in sorted(totals.items())},
            **({"problems": problems} if problems else {}),
        }
        record = stored
    return record


def _lock_partner(session: Session, partner_id: str) -> Partner:
    """The partner's row, locked until the transaction ends: concurrent runs take turns per
    partner (PostgreSQL row lock; SQLite's single writer already serialises them)."""
    partner = session.scalars(
        select(Partner)
        .where(Partner.id == partner_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    return partner


def _apply(session: Session, run_id: str, decision: Decision, now: datetime) -> None:
    existing = session.get(Payout, decision.payout_id) if decision.payout_id else None
    if decision.outcome in ("already_made", "later_period_paid", "nothing_owed"):
        return
    if decision.outcome == "below_threshold":
        if existing is not None and existing.status == PayoutStatus.held:
            _transition(existing, PayoutStatus.cancelled, now)
            existing.hold_reason = (
                f"cancelled: the balance ({decision.amount} {decision.currency}) is below the "
                f"threshold ({decision.threshold}) and stays in the balance"
            )
        return
    if existing is None:
        _cancel_older_held(session, decision, now)
        existing = Payout(
            id=new_id(PREFIXES["payout"]),
            run_id=run_id,
            partner_id=decision.partner_id,
            period=decision.period.key,
            period_start=decision.period.start,
            period_end=decision.period.end,
            currency=decision.currency,
            amount=decision.amount,
            status=PayoutStatus.held.value,
            destination={},
            line_count=0,
            created_at=now,
        )
        session.add(existing)
        session.flush()  # takes the (partner, period, currency) slot now
        decision.payout_id = existing.id
    existing.amount = decision.amount
    if decision.outcome == "hold":
        reason = "; ".join(decision.reasons)[:1000]
        told = existing.hold_reason
        existing.hold_reason = reason
        existing.run_id = run_id
        # The partner is told when a payout is first held and when the reasons change, not
        # at every run that finds them unchanged.
        if reason != told:
            mails.payout_held(session, existing)
        return
    _settle(session, existing, decision, run_id, now)


def _cancel_older_held(session: Session, decision: Decision, now: datetime) -> None:
    """A held payout of an earlier period is replaced by this one, which holds (or pays)
    everything up to the later period's end."""
    for older in session.scalars(
        select(Payout).where(
            Payout.partner_id == decision.partner_id,
            Payout.currency == decision.currency,
            Payout.status == PayoutStatus.held.value,
            Payout.period_end < decision.period.end,
        )
    ):
        _transition(older, PayoutStatus.cancelled, now)
        older.hold_reason = f"replaced by the payout of period {decision.period.key}"


class _InvoiceRefused(Exception):
    """The self-billing invoice could not be issued (documents.invoice_problems)."""


class _BalanceChanged(Exception):
    """A refund lowered the balance between deciding and settling (under the commissions'
    locks) below what may be paid: the partner's transaction is rolled back."""


def _settle(
    session: Session, payout: Payout, decision: Decision, run_id: str, now: datetime
) -> None:
    """Move the lines' money from approved to paid, number the invoice, snapshot where the
    money goes: the payout is created. Each line is what moved under the commission's lock,
    so a refund at the same moment is either in it or left for the next payout."""
    settings = session.get(PayoutSettings, payout.partner_id)
    profile = session.get(TaxProfile, payout.partner_id)
    assert settings is not None and profile is not None  # hold_reasons passed
    drafts = {line.commission_id: line for line in decision.lines}
    moved = ledger.settle_many_for_payout(session, list(drafts), payout.id, now)
    total = ZERO
    for commission_id, (amount, payout_amount) in moved.items():
        line = drafts[commission_id]
        session.add(
            PayoutLine(
                payout_id=payout.id,
                commission_id=commission_id,
                program_id=line.program_id,
                currency=line.currency,
                amount=amount,
                payout_amount=payout_amount,
                rate=line.rate,
                rate_day=line.rate_day,
            )
        )
        total += payout_amount
    count = len(moved)
    if total <= ZERO or total < decision.threshold:
        raise _BalanceChanged
    decision.amount = payout.amount = round_money(total, payout.currency)
    payout.run_id = run_id
    payout.hold_reason = None
    payout.line_count = count
    payout.method = settings.method
    if settings.method == PayoutMethod.paypal:
        payout.destination = {"paypal_email": settings.paypal_email}
    else:
        payout.destination = {
            "account_holder": settings.account_holder,
            "iban": settings.iban,
            "bic": settings.bic,
        }
    network = session.get(NetworkProfile, "network")
    partner = session.get(Partner, payout.partner_id)
    assert network is not None and partner is not None  # _network_reasons passed
    treatment = paperwork.vat_of(partner, profile, network, payout)
    payout.vat_rate = treatment.rate if treatment.vat else None
    payout.vat_amount = treatment.vat if treatment.vat else None
    payout.invoice_number = next_invoice_number(session, payout.partner_id)
    payout.settled_at = now
    _transition(payout, PayoutStatus.created, now)
    session.flush()
    mails.payout_created(session, payout)
    # The invoice must be issuable before its number is spent: a refusal rolls the partner's
    # whole transaction back, number included (no gap).
    problems = documents.invoice_problems(paperwork.document(session, payout.id))
    if problems:
        raise _InvoiceRefused("; ".join(problems))


def next_invoice_number(session: Session, issuer_id: str) -> str:
    """The next self-billing invoice number of the issuer (the partner, on whose behalf the
    network issues it), taken in the payout's own transaction: a rollback gives it back, so
    the numbers have no gaps. The partner's row lock (held by the run) keeps two runs from
    reading the same last number."""
    sequence = session.scalars(
        select(DocumentSequence)
        .where(DocumentSequence.issuer_id == issuer_id, DocumentSequence.series == INVOICE_SERIES)
        .with_for_update()
    ).first()
    if sequence is None:
        sequence = DocumentSequence(issuer_id=issuer_id, series=INVOICE_SERIES, last_number=0)
        session.add(sequence)
    sequence.last_number += 1
    return f"SB-{sequence.last_number:06d}"


# --- following a payout ----------------------------------------------------------------------


def _transition(payout: Payout, target: PayoutStatus, now: datetime) -> None:
    current = PayoutStatus(payout.status)
    if target not in PAYOUT_TRANSITIONS[current]:
        raise Conflict(
            f"payout {payout.id} is {current.value}; it cannot become {target.value}",
            field="status",
            reason="illegal_transition",
        )
    payout.status = target.value
    if target is PayoutStatus.sent:
        payout.sent_at = now
    elif target is PayoutStatus.paid:
        payout.paid_at = now
    elif target is PayoutStatus.failed:
        payout.failed_at = now


def locked_payout(session: Session, payout_id: str) -> Payout:
    payout = session.scalars(
        select(Payout)
        .where(Payout.id == payout_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if payout is None:
        raise NotFound(f"no payout {payout_id}", field="payout_id")
    return payout


def mark(
    session: Session,
    payout_id: str,
    status: str,
    *,
    reason: str | None = None,
    now: datetime | None = None,
) -> Payout:
    """Follow a payout: sent (the file went to the bank or PayPal), paid (confirmed), failed
    (bounced or refused: `reason` required; every line's money returns to the balance).
    Marking a payout with the status it has is a replay and changes nothing."""
    try:
        target = PayoutStatus(status)
    except ValueError:
        raise InvalidInput("status must be sent, paid or failed", field="status") from None
    if target not in (PayoutStatus.sent, PayoutStatus.paid, PayoutStatus.failed):
        raise InvalidInput("status must be sent, paid or failed", field="status")
    when = now or utcnow()
    payout = locked_payout(session, payout_id)
    if payout.status == target.value:
        return payout
    if target is PayoutStatus.failed:
        if not reason or not reason.strip():
            raise InvalidInput("say why the payout failed", field="reason")
        _transition(payout, target, when)
        payout.failure_reason = reason.strip()[:500]
        lines = session.scalars(select(PayoutLine).where(PayoutLine.payout_id == payout.id))
        for line in lines:
            ledger.return_from_payout(
                session,
                line.commission_id,
                payout.id,
                line.amount,
                line.payout_amount,
                f"payout {payout.id} failed: {payout.failure_reason}",
                when,
            )
        mails.payout_failed(session, payout)
        return payout
    _transition(payout, target, when)
    if target is PayoutStatus.paid:
        commission_ids = session.scalars(
            select(PayoutLine.commission_id).where(PayoutLine.payout_id == payout.id)
        ).all()
        outbox.emit(
            session,
            "payout.paid",
            payout_data(
                payout.id,
                payout.partner_id,
                payout.currency,
                payout.amount + (payout.vat_amount or ZERO),
                commission_ids,
                when,
                payout.invoice_number,
            ),
        )
        mails.payout_paid(session, payout)
    return payout


def mark_run_sent(session: Session, run_id: str, now: datetime | None = None) -> int:
    """Every created payout of the run is sent (the operator uploaded the run's files)."""
    count = 0
    for payout_id in session.scalars(
        select(Payout.id).where(
            Payout.run_id == run_id, Payout.status == PayoutStatus.created.value
        )
    ).all():
        mark(session, payout_id, PayoutStatus.sent.value, now=now)
        count += 1
    return count
