"""The commission ledger and lifecycle: named operations that only ever append entries.

A commission's value is the sum of its ledger entries over every bucket; where the money sits
(pending, approved, paid) is the sum per bucket. Nothing is ever updated in place except the
commission's status and timestamps, which are checked against COMMISSION_TRANSITIONS.

Every operation is idempotent twice over (docs/adr/0005):
* it reads the current state and computes the movement still needed, so a replay computes
  "nothing left to do" and inserts nothing;
* each entry has a unique `idempotency_key` naming the intended movement, so even two
  processes racing past the first check cannot both write it.

Every operation first locks the commission row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite
has one writer at a time through BEGIN IMMEDIATE) so that a refund and an approval of the same
commission never both read the same bucket balance and move it twice.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.clock import as_utc, utcnow
from alliance.commissions.models import (
    COMMISSION_TRANSITIONS,
    Bucket,
    Commission,
    CommissionKind,
    CommissionStatus,
    EntryType,
    LedgerEntry,
)
from alliance.conversions.models import Conversion
from alliance.errors import Conflict
from alliance.ids import PREFIXES, new_id
from alliance.money import round_money
from alliance.notifications import outbox
from alliance.payouts import fx

if TYPE_CHECKING:
    from alliance.commissions.calculator import Quote
    from alliance.programs.models import CommissionTerms

ZERO = Decimal(0)
_ENTRY_BY_KEY = select(LedgerEntry.id).where(LedgerEntry.idempotency_key == bindparam("key"))


class IllegalTransition(Conflict):
    """A lifecycle move the commission's state does not allow (decline after approval...)."""

    def __init__(self, detail: str, *, field: str | None = "status") -> None:
        super().__init__(detail, field=field, reason="illegal_transition")


# --- reading ---------------------------------------------------------------------------------


def commission_value(session: Session, commission_id: str) -> Decimal:
    """The commission's current value: the sum of all its entries (every bucket)."""
    total = ZERO
    for amount in session.scalars(
        select(LedgerEntry.amount).where(LedgerEntry.commission_id == commission_id)
    ):
        total += amount
    return total


def bucket_values(session: Session, commission_id: str) -> dict[Bucket, Decimal]:
    """Where the commission's money sits now: {bucket: sum}. Summed in Python so SQLite's
    text-stored decimals stay exact (see db/base.py Amount)."""
    found: dict[Bucket, Decimal] = dict.fromkeys(Bucket, ZERO)
    rows = session.execute(
        select(LedgerEntry.bucket, LedgerEntry.amount).where(
            LedgerEntry.commission_id == commission_id
        )
    )
    for bucket, amount in rows:
        found[Bucket(bucket)] += amount
    return found


def _booked_payout_value(session: Session, commission: Commission) -> Decimal | None:
    """What the commission is worth in its payout currency as booked: the sum of its approved
    and paid entries' values (None when any has none: no ECB rate at approval). Refunds keep
    it at round(value x approval rate)."""
    total = ZERO
    for value in session.scalars(
        select(LedgerEntry.payout_amount).where(
            LedgerEntry.commission_id == commission.id,
            LedgerEntry.bucket != Bucket.pending.value,
        )
    ):
        if value is None:
            return None
        total += value
    return total


def payout_balances(session: Session, partner_id: str) -> dict[str, dict[str, Decimal]]:
    """A partner's approved and paid money in its payout currency, at each commission's
    approval rate: {"approved": {"EUR": ...}, "paid": {...}} (entries without a rate are
    left out: `balances` has them in their own currency)."""
    found: dict[str, dict[str, Decimal]] = defaultdict(dict)
    rows = session.execute(
        select(LedgerEntry.bucket, Commission.payout_currency, LedgerEntry.payout_amount)
        .join(Commission, Commission.id == LedgerEntry.commission_id)
        .where(LedgerEntry.partner_id == partner_id, LedgerEntry.payout_amount.is_not(None))
    )
    for bucket, currency, amount in rows:
        if currency is not None and amount is not None:
            found[bucket][currency] = found[bucket].get(currency, ZERO) + amount
    return {bucket: dict(per) for bucket, per in found.items()}


def balances(session: Session, partner_id: str) -> dict[str, dict[str, Decimal]]:
    """A partner's money by bucket and currency: {"approved": {"EUR": Decimal(...)}}."""
    found: dict[str, dict[str, Decimal]] = defaultdict(dict)
    rows = session.execute(
        select(LedgerEntry.bucket, LedgerEntry.currency, LedgerEntry.amount).where(
            LedgerEntry.partner_id == partner_id
        )
    )
    for bucket, currency, amount in rows:
        found[bucket][currency] = found[bucket].get(currency, ZERO) + amount
    return {bucket: dict(per) for bucket, per in found.items()}


def commission_for(session: Session, source_key: str, *, lock: bool = True) -> Commission | None:
    """The commission of a conversion id (or CPC key), locked for the rest of the transaction."""
    statement = select(Commission).where(Commission.source_key == source_key)
    if lock:
        # populate_existing: after waiting for the lock, see the row as the winner left it.
        statement = statement.with_for_update().execution_options(populate_existing=True)
    return session.scalars(statement).first()


# --- writing helpers -------------------------------------------------------------------------


def _append(
    session: Session,
    commission: Commission,
    bucket: Bucket,
    entry_type: EntryType,
    amount: Decimal,
    key: str,
    reason: str = "",
    now: datetime | None = None,
    *,
    check: bool = True,
    payout_amount: Decimal | None = None,
) -> bool:
    """Append one entry unless its key exists already or it moves nothing. True if written.

    `check=False` skips the look-up for an entry of a commission created in this transaction
    (nothing can exist yet); the unique index still refuses a duplicate. Entries of the
    approved and paid buckets carry their value in the payout currency at the commission's
    approval rate (`payout_amount` given: that value exactly)."""
    if amount == ZERO and not payout_amount:
        return False
    if check and session.scalar(_ENTRY_BY_KEY, {"key": key}) is not None:
        return False
    if payout_amount is None and bucket is not Bucket.pending:
        payout_amount = _in_payout_currency(commission, amount)
    session.add(
        LedgerEntry(
            id=new_id(PREFIXES["ledger"]),
            commission_id=commission.id,
            program_id=commission.program_id,
            partner_id=commission.partner_id,
            currency=commission.currency,
            bucket=bucket.value,
            entry_type=entry_type.value,
            amount=amount,
            payout_amount=payout_amount,
            idempotency_key=key,
            reason=reason[:500],
            created_at=now or utcnow(),
        )
    )
    return True


def _in_payout_currency(commission: Commission, amount: Decimal) -> Decimal | None:
    """`amount` of the commission's currency in the partner's payout currency at the rate
    fixed at approval, rounded half-even; None before approval or without a rate."""
    if commission.payout_rate is None or commission.payout_currency is None:
        return None
    return round_money(amount * commission.payout_rate, commission.payout_currency)


@dataclass(slots=True)
class _ApprovalRates:
    """What one approval run has looked up: partners' payout currencies and ECB rates (a
    run approves hundreds of commissions of a few partners and currencies)."""

    currencies: dict[str, str | None] = field(default_factory=dict)
    rates: dict[tuple[str, str, date], fx.Quote | None] = field(default_factory=dict)


def _fix_payout_rate(
    session: Session, commission: Commission, now: datetime, seen: _ApprovalRates
) -> None:
    """At approval: the partner's payout currency and the ECB rate of the approval day
    (docs/exchange-rates.md). Without an ECB rate the commission is still approved; its
    payout-currency values stay empty, so `payout_balances` leaves it out until a rate is
    imported (and a payout run must hold it, saying why)."""
    partner_id = commission.partner_id
    if partner_id not in seen.currencies:
        seen.currencies[partner_id] = session.scalar(
            select(Partner.payout_currency).where(Partner.id == partner_id)
        )
    currency = seen.currencies[partner_id]
    if currency is None:
        return
    commission.payout_currency = currency
    key = (commission.currency, currency, as_utc(now).date())
    if key not in seen.rates:
        try:
            seen.rates[key] = fx.quote(session, *key)
        except fx.NoRate:
            seen.rates[key] = None
    rate = seen.rates[key]
    if rate is not None:
        commission.payout_rate, commission.payout_rate_day = rate.rate, rate.day


def _move(commission: Commission, target: CommissionStatus) -> None:
    current = CommissionStatus(commission.status)
    if target not in COMMISSION_TRANSITIONS[current]:
        raise IllegalTransition(
            f"commission {commission.id} is {current.value}; it cannot become {target.value}"
        )
    commission.status = target.value


def _amount_key(amount: Decimal) -> str:
    # 10, 10.0 and 10.00 are the same refund: keys use the normalised fixed-point text.
    return f"{amount.normalize():f}"


# --- lifecycle -------------------------------------------------------------------------------


def accrue(
    session: Session,
    conversion: Conversion,
    quote: Quote,
    terms: CommissionTerms | None,
    *,
    fresh: bool = False,
) -> Commission:
    """The commission of a conversion, created once: `quote.amount` into pending.

    A replay finds the commission by its unique `source_key` (the conversion id) and returns it.
    `fresh=True` says the conversion was inserted in this very transaction, so no commission
    can exist yet and the look-ups are skipped (the unique keys still guard).
    """
    if not fresh:
        existing = commission_for(session, conversion.id)
        if existing is not None:
            return existing
    kind = CommissionKind.lead if conversion.kind == "lead" else CommissionKind.sale
    commission = Commission(
        id=new_id(PREFIXES["commission"]),
        source_key=conversion.id,
        kind=kind.value,
        conversion_id=conversion.id,
        program_id=conversion.program_id,
        partner_id=conversion.partner_id,
        status=CommissionStatus.pending.value,
        currency=quote.currency,
        amount=quote.amount,
        terms_id=terms.id if terms is not None else None,
        terms_version=terms.version if terms is not None else None,
        rule=dict(quote.rule),
        arithmetic=quote.arithmetic[:2000],
        occurred_at=conversion.occurred_at,
        created_at=utcnow(),
    )
    session.add(commission)
    session.flush()  # the unique source_key is the guard: a racing duplicate fails here
    _append(
        session,
        commission,
        Bucket.pending,
        EntryType.accrual,
        quote.amount,
        f"{commission.id}:accrual",
        "commission accrued",
        check=not fresh,
    )
    return commission


def accrual_rows(
    conversion: dict[str, Any], quote: Quote, terms: CommissionTerms | None
) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """What `accrue(..., fresh=True)` writes, as rows for a Core (bulk) insert: the commission
    and its accrual entry (None when the amount is zero, as `_append` skips it).

    The ingest hot path inserts whole batches of these with one statement per table; the unique
    `source_key` and `idempotency_key` guard against duplicates exactly as with `accrue`."""
    now = utcnow()
    commission_id = new_id(PREFIXES["commission"])
    kind = CommissionKind.lead if conversion["kind"] == "lead" else CommissionKind.sale
    commission = {
        "id": commission_id,
        "source_key": conversion["id"],
        "kind": kind.value,
        "conversion_id": conversion["id"],
        "program_id": conversion["program_id"],
        "partner_id": conversion["partner_id"],
        "status": CommissionStatus.pending.value,
        "currency": quote.currency,
        "amount": quote.amount,
        "terms_id": terms.id if terms is not None else None,
        "terms_version": terms.version if terms is not None else None,
        "rule": dict(quote.rule),
        "arithmetic": quote.arithmetic[:2000],
        "occurred_at": conversion["occurred_at"],
        "approvable_at": None,
        "approved_at": None,
        "created_at": now,
    }
    if quote.amount == ZERO:
        return commission, None
    entry = {
        "id": new_id(PREFIXES["ledger"]),
        "commission_id": commission_id,
        "program_id": conversion["program_id"],
        "partner_id": conversion["partner_id"],
        "currency": quote.currency,
        "bucket": Bucket.pending.value,
        "entry_type": EntryType.accrual.value,
        "amount": quote.amount,
        "idempotency_key": f"{commission_id}:accrual",
        "reason": "commission accrued",
        "created_at": now,
    }
    return commission, entry


def complete(
    session: Session, conversion: Conversion, completed_at: datetime, lock_days: int
) -> Commission | None:
    """The order is completed: the commission becomes approvable after the lock period.

    Only the first completion counts (a replay does not push the date back).
    """
    commission = commission_for(session, conversion.id)
    if commission is None:
        return None
    if commission.status == CommissionStatus.pending and commission.approvable_at is None:
        commission.approvable_at = completed_at + timedelta(days=lock_days)
    return commission


def approve_due(session: Session, now: datetime, *, batch: int = 500) -> int:
    """Move every pending commission whose lock period ended into approved. Returns how many
    changed status (approved or, when refunds took everything, reversed).

    On PostgreSQL two job workers split the work: `FOR UPDATE SKIP LOCKED` hands each
    commission row to one of them (SQLite ignores the clause; it has one writer anyway).
    """
    changed = 0
    seen = _ApprovalRates()
    while True:
        commissions = session.scalars(
            select(Commission)
            .where(
                Commission.status == CommissionStatus.pending.value,
                Commission.approvable_at.is_not(None),
                Commission.approvable_at <= now,
            )
            .order_by(Commission.approvable_at, Commission.id)
            .limit(batch)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        ).all()
        for commission in commissions:
            _approve_one(session, commission, now, seen)
            changed += 1
        session.flush()
        if len(commissions) < batch:
            return changed


def _approve_one(
    session: Session, commission: Commission, now: datetime, seen: _ApprovalRates
) -> None:
    buckets = bucket_values(session, commission.id)
    value = sum(buckets.values(), ZERO)
    if value == ZERO and commission.amount != ZERO:
        # Partial refunds rounded everything away: nothing to pay, so reversed, not approved.
        _move(commission, CommissionStatus.reversed)
        outbox.commission_changed(session, "commission.reversed", commission)
        return
    moving = buckets[Bucket.pending]
    _fix_payout_rate(session, commission, now, seen)
    # Entries are stamped with the wall clock (when they were written); `now` is only the
    # moment the lock periods are measured against.
    _append(
        session,
        commission,
        Bucket.pending,
        EntryType.approval,
        -moving,
        f"{commission.id}:approve:pending",
        "lock period over",
    )
    _append(
        session,
        commission,
        Bucket.approved,
        EntryType.approval,
        moving,
        f"{commission.id}:approve:approved",
        "lock period over",
    )
    _move(commission, CommissionStatus.approved)
    commission.approved_at = now
    outbox.commission_changed(session, "commission.approved", commission)
    if commission.kind != CommissionKind.referral:
        accrue_overrides(session, commission, value, now, seen)


# --- referral overrides (crosspromo/referrals.py decides who earns what) ----------------------


def _override_key(commission_id: str, level: int) -> str:
    return f"ref:{commission_id}:{level}"


def accrue_overrides(
    session: Session,
    commission: Commission,
    value: Decimal,
    now: datetime,
    seen: _ApprovalRates | None = None,
) -> list[Commission]:
    """The recruiters' overrides on a commission just approved at `value`: each its own
    commission (kind referral, source key "ref:{commission}:{level}", so a replay finds it),
    approved at once, as the money it is a share of is. Advertiser-funded ones sit on the
    recruit's order like any commission; network-funded ones carry no order."""
    from alliance.crosspromo import referrals

    made = []
    for share in referrals.override_shares(session, commission, value):
        key = _override_key(commission.id, share.level)
        if commission_for(session, key) is not None:
            continue
        advertiser_funded = share.funded_by == "advertiser"
        override = Commission(
            id=new_id(PREFIXES["commission"]),
            source_key=key,
            kind=CommissionKind.referral.value,
            conversion_id=commission.conversion_id if advertiser_funded else None,
            program_id=commission.program_id,
            partner_id=share.recruiter_id,
            status=CommissionStatus.pending.value,
            currency=commission.currency,
            amount=share.amount,
            terms_id=None,
            terms_version=None,
            rule={
                "type": "referral",
                "level": share.level,
                "percent": f"{share.percent.normalize():f}",
                "of_commission": commission.id,
                "recruit_id": commission.partner_id,
                "base": f"{round_money(value, commission.currency)}",
                "months": share.months,
                "recruited_at": share.recruited_at.isoformat(),
                "funded_by": share.funded_by.value,
            },
            arithmetic=share.arithmetic[:2000],
            occurred_at=commission.occurred_at,
            approvable_at=now,
            funded_by=share.funded_by.value,
            created_at=utcnow(),
        )
        session.add(override)
        session.flush()
        _append(
            session,
            override,
            Bucket.pending,
            EntryType.accrual,
            share.amount,
            f"{override.id}:accrual",
            f"referral override on {commission.id}",
            check=False,
        )
        _approve_one(session, override, now, seen or _ApprovalRates())
        made.append(override)
    return made


def _overrides_of(session: Session, commission_id: str) -> list[Commission]:
    from alliance.crosspromo.referral_rules import MAX_LEVELS

    keys = [_override_key(commission_id, level) for level in range(1, MAX_LEVELS + 1)]
    return list(
        session.scalars(
            select(Commission)
            .where(Commission.source_key.in_(keys))
            .order_by(Commission.source_key)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
    )


def _follow_overrides(
    session: Session, commission: Commission, value: Decimal, cumulative_key: str, reason: str
) -> None:
    """The recruit's approved commission fell to `value` (a refund): each override falls to
    its percent of the new value, as it would have been computed on it; what was paid
    already is taken back from the recruiter's next payout, like any refund after payout."""
    for override in _overrides_of(session, commission.id):
        percent = Decimal(str(override.rule.get("percent", "0")))
        target = ZERO if value <= ZERO else round_money(value * percent / 100, override.currency)
        _take_back(session, override, target, f"{override.id}:{cumulative_key}", reason)


def _take_back(
    session: Session, commission: Commission, target: Decimal, key: str, reason: str
) -> bool:
    """Bring an approved or paid commission down to `target` (never up): one entry in the
    approved bucket, valued in the payout currency so that the booked value stays
    round(target x rate). True if money moved."""
    status = CommissionStatus(commission.status)
    if status not in (CommissionStatus.approved, CommissionStatus.paid):
        return False
    current = commission_value(session, commission.id)
    delta = target - current
    if delta >= ZERO:
        return False
    full = target == ZERO
    if status is CommissionStatus.paid:
        entry_type = EntryType.adjustment
    else:
        entry_type = EntryType.reversal if full else EntryType.reduction
    taken = None
    if commission.payout_rate is not None and commission.payout_currency is not None:
        booked = _booked_payout_value(session, commission)
        if booked is not None:
            worth = round_money(target * commission.payout_rate, commission.payout_currency)
            taken = worth - booked
    written = _append(
        session, commission, Bucket.approved, entry_type, delta, key, reason, payout_amount=taken
    )
    if full:
        _move(commission, CommissionStatus.reversed)
    outbox.commission_refunded(session, commission, reversed=full, moved=written)
    return written


def decline(session: Session, conversion: Conversion, reason: str) -> Commission | None:
    """The order was declined: whatever is pending goes back to zero, status declined.

    Declining is allowed only before approval; after it the money is payable and only a refund
    can take it back (IllegalTransition).
    """
    commission = commission_for(session, conversion.id)
    if commission is None:
        return None
    status = CommissionStatus(commission.status)
    if status is CommissionStatus.declined:
        return commission  # replay
    _move(commission, CommissionStatus.declined)
    pending = bucket_values(session, commission.id)[Bucket.pending]
    _append(
        session,
        commission,
        Bucket.pending,
        EntryType.decline,
        -pending,
        f"{commission.id}:decline",
        reason or "declined by the advertiser",
    )
    outbox.commission_changed(session, "commission.declined", commission)
    return commission


@dataclass(frozen=True, slots=True)
class RefundEffect:
    """What one refund did to the commission: the signed movement (0 = nothing, a replay or an
    out-of-order smaller cumulative amount) and the value after it."""

    moved: Decimal
    value: Decimal
    reversed: bool


def apply_refund(
    session: Session, conversion: Conversion, cumulative_refunded: Decimal
) -> RefundEffect:
    """Bring the commission to what it is worth after `cumulative_refunded` (gross, in the
    order currency, the total refunded so far — not this refund alone).

    The target is computed from the original commission, so repeated partial refunds never
    accumulate rounding. A smaller cumulative amount than one already applied targets a larger
    value than the current one and is ignored: refunds only ever take money away.
    """
    from alliance.commissions.calculator import remaining_after_refund

    commission = commission_for(session, conversion.id)
    if commission is None:
        return RefundEffect(ZERO, ZERO, reversed=False)
    status = CommissionStatus(commission.status)
    current = commission_value(session, commission.id)
    if status in (CommissionStatus.declined, CommissionStatus.reversed):
        return RefundEffect(ZERO, current, reversed=False)
    if cumulative_refunded >= conversion.amount:
        # Everything was refunded (also a zero-amount lead reported refunded): nothing is owed.
        target = ZERO
    else:
        target = remaining_after_refund(
            commission.amount, conversion.amount, cumulative_refunded, commission.currency
        )
        target = max(ZERO, round_money(target, commission.currency))
    delta = target - current
    full = target == ZERO
    if delta >= ZERO:
        if full and current == ZERO:
            # Nothing left to take (a zero commission, or rounding took it): still reversed.
            _move(commission, CommissionStatus.reversed)
            outbox.commission_changed(session, "commission.reversed", commission)
            return RefundEffect(ZERO, ZERO, reversed=True)
        return RefundEffect(ZERO, current, reversed=False)
    refund_key = f"refund:{_amount_key(cumulative_refunded)}"
    key = f"{commission.id}:{refund_key}"
    reason = f"refund, {cumulative_refunded} {conversion.currency} refunded in total"
    if status is CommissionStatus.pending:
        entry_type = EntryType.reversal if full else EntryType.reduction
        written = _append(session, commission, Bucket.pending, entry_type, delta, key, reason)
        if full:
            _move(commission, CommissionStatus.reversed)
        outbox.commission_refunded(session, commission, reversed=full, moved=written)
    else:
        # Approved: the payable money shrinks. Paid already: the money left, and a negative
        # entry in approved is netted against the partner's next payout (the payout run never
        # pays a negative total). Either way the payout-currency value is booked as the new
        # value at the approval rate, less what is booked already, rather than this refund
        # converted alone: it stays round(value x rate) after any number of refunds (exactly
        # nothing after a full refund) instead of adding up each refund's rounding.
        written = _take_back(session, commission, target, key, reason)
        if written:
            _follow_overrides(session, commission, target, refund_key, reason)
    return RefundEffect(delta if written else ZERO, target if written else current, full)


def mark_paid(session: Session, commission_id: str, payout_ref: str) -> Commission:
    """A payout included this approved commission: its approved money moves to paid.

    `payout_ref` names the payout; paying a paid commission again is a replay. The payout run
    settles whole payouts with `settle_many_for_payout`; this is that for one commission."""
    commission = _locked(session, commission_id)
    if commission.status == CommissionStatus.paid:
        return commission
    if CommissionStatus.paid not in COMMISSION_TRANSITIONS[CommissionStatus(commission.status)]:
        raise IllegalTransition(
            f"commission {commission.id} is {commission.status}; it cannot become paid"
        )
    settle_many_for_payout(session, [commission.id], payout_ref)
    return commission


def _locked(session: Session, commission_id: str) -> Commission:
    commission = session.scalars(
        select(Commission)
        .where(Commission.id == commission_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).first()
    if commission is None:
        raise Conflict(f"no commission {commission_id}", field="commission_id")
    return commission


def settle_many_for_payout(
    session: Session, commission_ids: Sequence[str], payout_ref: str, now: datetime | None = None
) -> dict[str, tuple[Decimal, Decimal]]:
    """A payout settles its commissions' approved money: all of each one moves from approved
    to paid, in both currencies as booked, read under the commissions' locks so a refund at
    the same moment is either settled too or left for the next payout. A negative balance (a
    refund after an earlier payout) is settled the same way. An approved commission becomes
    paid; a reversed one stays reversed. Skipped: an empty approved bucket, or an entry
    without a payout-currency value (no ECB rate yet).

    One locking query, one read of their entries, one executemany of their `commission.paid`
    events: a cashback portal's payout settles thousands; one by one that was ~7 ms each.

    Returns {commission id: (amount, payout_amount)} of what moved. The payment keys name the
    payout, which is new: the unique index refuses a repeat, so no look-up precedes them."""
    from alliance.notifications.payloads import commission_data

    moved: dict[str, tuple[Decimal, Decimal]] = {}
    events = []
    ids = sorted(set(commission_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        commissions = session.scalars(
            select(Commission)
            .where(Commission.id.in_(chunk))
            .order_by(Commission.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        values: dict[str, Decimal] = defaultdict(lambda: ZERO)
        approved: dict[str, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO])
        unpriced: set[str] = set()
        for cid, bucket, amount, payout_amount in session.execute(
            select(
                LedgerEntry.commission_id,
                LedgerEntry.bucket,
                LedgerEntry.amount,
                LedgerEntry.payout_amount,
            ).where(LedgerEntry.commission_id.in_(chunk))
        ):
            values[cid] += amount
            if bucket == Bucket.approved.value:
                if payout_amount is None:
                    unpriced.add(cid)
                else:
                    approved[cid][0] += amount
                    approved[cid][1] += payout_amount
        for commission in commissions:
            amount, payout_amount = approved[commission.id]
            if commission.id in unpriced or (amount == ZERO and payout_amount == ZERO):
                continue
            for bucket, sign in ((Bucket.approved, -1), (Bucket.paid, 1)):
                _append(
                    session,
                    commission,
                    bucket,
                    EntryType.payment,
                    sign * amount,
                    f"{commission.id}:pay:{payout_ref}:{bucket.value}",
                    f"paid in {payout_ref}",
                    now,
                    check=False,
                    payout_amount=sign * payout_amount,
                )
            moved[commission.id] = (amount, payout_amount)
            if commission.status == CommissionStatus.approved:
                _move(commission, CommissionStatus.paid)
                events.append(
                    commission_data(
                        session,
                        commission,
                        value=values[commission.id],
                        payout_reference=payout_ref,
                    )
                )
    outbox.emit_many(session, "commission.paid", events)
    return moved


def return_from_payout(
    session: Session,
    commission_id: str,
    payout_ref: str,
    amount: Decimal,
    payout_amount: Decimal,
    reason: str,
    now: datetime | None = None,
) -> bool:
    """The payout failed: what it settled of this commission goes back from paid to approved,
    at the values it was paid at, and is owed again (the next payout pays it). A paid
    commission becomes approved again; a commission refunded since stays reversed, and its
    refund adjustment still nets against the returned money. True if written."""
    commission = _locked(session, commission_id)
    wrote = _append(
        session,
        commission,
        Bucket.paid,
        EntryType.payment_return,
        -amount,
        f"{commission.id}:return:{payout_ref}:paid",
        reason,
        now,
        payout_amount=-payout_amount,
    )
    _append(
        session,
        commission,
        Bucket.approved,
        EntryType.payment_return,
        amount,
        f"{commission.id}:return:{payout_ref}:approved",
        reason,
        now,
        payout_amount=payout_amount,
    )
    if commission.status == CommissionStatus.paid and wrote:
        _move(commission, CommissionStatus.approved)
        outbox.commission_changed(session, "commission.approved", commission)
    return wrote


# --- CPC -------------------------------------------------------------------------------------


def cpc_source_key(program_id: str, partner_id: str, day: date) -> str:
    return f"cpc:{program_id}:{partner_id}:{day.isoformat()}"


def accrue_clicks(session: Session, day: date) -> int:
    """CPC: one commission per (program, partner) for the valid unique visitors of one UTC day.

    Counted from non-bot clicks of approved enrollments; a visitor counts once per partner per
    day. Approvable after the program's lock period from the end of that day. Idempotent by
    the source key `cpc:{program}:{partner}:{day}`. Returns how many commissions were created.
    """
    from alliance.commissions.calculator import quote_clicks
    from alliance.commissions.terms import parse_terms
    from alliance.programs.models import Enrollment, EnrollmentStatus
    from alliance.tracking.models import Click, valid_click

    start = datetime.combine(day, time.min, tzinfo=UTC)
    end = start + timedelta(days=1)
    created = 0
    for program, terms in _latest_terms(session):
        if terms.rules.get("type") != "cpc":
            continue
        document = parse_terms(terms.rules, program.currency)
        counts = session.execute(
            select(Click.partner_id, func.count(func.distinct(Click.visitor_id)))
            .join(
                Enrollment,
                and_(
                    Enrollment.program_id == Click.program_id,
                    Enrollment.partner_id == Click.partner_id,
                ),
            )
            .where(
                Click.program_id == program.id,
                Click.occurred_at >= start,
                Click.occurred_at < end,
                valid_click(Click.is_bot, Click.invalid_reason),
                Enrollment.status == EnrollmentStatus.approved.value,
            )
            .group_by(Click.partner_id)
        ).all()
        for partner_id, unique in counts:
            key = cpc_source_key(program.id, partner_id, day)
            if commission_for(session, key, lock=False) is not None:
                continue
            quote = quote_clicks(document, terms.version, int(unique), program.currency)
            commission = Commission(
                id=new_id(PREFIXES["commission"]),
                source_key=key,
                kind=CommissionKind.click.value,
                conversion_id=None,
                program_id=program.id,
                partner_id=partner_id,
                status=CommissionStatus.pending.value,
                currency=quote.currency,
                amount=quote.amount,
                terms_id=terms.id,
                terms_version=terms.version,
                rule=dict(quote.rule),
                arithmetic=quote.arithmetic[:2000],
                occurred_at=start,
                approvable_at=end + timedelta(days=program.lock_period_days),
                created_at=utcnow(),
            )
            session.add(commission)
            session.flush()
            _append(
                session,
                commission,
                Bucket.pending,
                EntryType.accrual,
                quote.amount,
                f"{commission.id}:accrual",
                f"{unique} valid unique clicks on {day}",
            )
            created += 1
    return created


def _latest_terms(session: Session) -> Iterable[tuple[Any, Any]]:
    """(program, its latest terms version) for every program that has terms."""
    from alliance.programs.models import CommissionTerms, Program

    latest = (
        select(CommissionTerms.program_id, func.max(CommissionTerms.version).label("version"))
        .group_by(CommissionTerms.program_id)
        .subquery()
    )
    rows = session.execute(
        select(Program, CommissionTerms)
        .join(CommissionTerms, CommissionTerms.program_id == Program.id)
        .join(
            latest,
            and_(
                latest.c.program_id == CommissionTerms.program_id,
                latest.c.version == CommissionTerms.version,
            ),
        )
    ).all()
    return [(row[0], row[1]) for row in rows]
