"""Commissions and the append-only ledger. Balances are sums of entries, never stored."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base, Rate


class CommissionKind(enum.StrEnum):
    sale = "sale"  # CPS or CPO on an order
    lead = "lead"  # CPL on a lead
    click = "click"  # CPC: valid unique clicks of one partner in one program on one day
    referral = "referral"  # a recruiter's override on a recruit's approved commission


class CommissionStatus(enum.StrEnum):
    pending = "pending"  # tracked, the order is not completed or still in its lock period
    approved = "approved"  # completed and past the lock period with no full refund: payable
    declined = "declined"  # the order was declined before approval: earns nothing
    reversed = "reversed"  # the order was fully refunded: nothing is owed
    paid = "paid"  # included in a payout


COMMISSION_TRANSITIONS: dict[CommissionStatus, frozenset[CommissionStatus]] = {
    CommissionStatus.pending: frozenset(
        {CommissionStatus.approved, CommissionStatus.declined, CommissionStatus.reversed}
    ),
    CommissionStatus.approved: frozenset({CommissionStatus.paid, CommissionStatus.reversed}),
    # paid -> approved: the payout failed and its money went back to the balance.
    CommissionStatus.paid: frozenset({CommissionStatus.reversed, CommissionStatus.approved}),
    CommissionStatus.declined: frozenset(),
    CommissionStatus.reversed: frozenset(),
}


class Bucket(enum.StrEnum):
    """Where money sits. A commission's value is the sum of its entries over all buckets."""

    pending = "pending"  # not payable yet
    approved = "approved"  # payable; negative entries here are carried to the next payout
    paid = "paid"  # paid out


class EntryType(enum.StrEnum):
    accrual = "accrual"  # +amount into pending when the commission is created
    approval = "approval"  # pending -> approved (one negative, one positive entry)
    reduction = "reduction"  # a partial refund takes a proportional part away
    reversal = "reversal"  # a full refund takes what is left away
    decline = "decline"  # the order was declined: pending back to zero
    payment = "payment"  # approved -> paid by a payout
    adjustment = "adjustment"  # a refund after payout: negative on the next payout
    payment_return = "return"  # paid -> approved: the payout failed, the money is owed again


class Commission(Base):
    __tablename__ = "commissions"
    __table_args__ = (
        Index(None, "program_id", "occurred_at"),
        Index(None, "partner_id", "status"),
        Index(None, "status", "approvable_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # What produced it, unique: the conversion id for sales and leads,
    # "cpc:{program}:{partner}:{yyyy-mm-dd}" for a day of clicks. Replays collide here.
    source_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # CommissionKind
    conversion_id: Mapped[str | None] = mapped_column(ForeignKey("conversions.id"), index=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[str] = mapped_column(String(16), default=CommissionStatus.pending)
    currency: Mapped[str] = mapped_column(String(3))  # the program currency
    # The amount first computed (never changed); the current value is the ledger sum.
    amount: Mapped[Decimal] = mapped_column()
    terms_id: Mapped[str | None] = mapped_column(ForeignKey("commission_terms.id"))
    terms_version: Mapped[int | None] = mapped_column()
    # The rule that applied, as data, and the arithmetic as a sentence a partner can check.
    rule: Mapped[dict[str, Any]] = mapped_column(default=dict)
    arithmetic: Mapped[str] = mapped_column(String(2000), default="")
    occurred_at: Mapped[datetime] = mapped_column()
    # Set when the order is completed: completion time + the program's lock period.
    approvable_at: Mapped[datetime | None] = mapped_column()
    approved_at: Mapped[datetime | None] = mapped_column()
    # Fixed at approval: the partner's payout currency and the ECB rate of the approval day
    # from `currency` into it (docs/exchange-rates.md). Every entry of the approved and paid
    # buckets carries its value at this rate, so a later refund takes back exactly what was
    # booked. The rate is None until approval, or when the ECB quotes no rate between the two.
    payout_currency: Mapped[str | None] = mapped_column(String(3))
    payout_rate: Mapped[Decimal | None] = mapped_column(Rate())
    payout_rate_day: Mapped[date | None] = mapped_column()
    # Referral overrides only: who pays it (crosspromo Funding). A network-funded override
    # is the network's cost: it carries no order (conversion_id None) and advertisers do not
    # see it; an advertiser-funded one sits on the recruit's order like any commission.
    funded_by: Mapped[str | None] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """An append-only money movement. Never updated, never deleted."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index(None, "commission_id"),
        Index(None, "partner_id", "bucket"),
        Index(None, "program_id", "created_at"),
        # The refunds report: commission taken back (reduction, reversal, adjustment) in a
        # period, network-wide or for a partner (reports/queries.py).
        Index(None, "entry_type", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    commission_id: Mapped[str] = mapped_column(ForeignKey("commissions.id"))
    program_id: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))
    bucket: Mapped[str] = mapped_column(String(16))  # Bucket
    entry_type: Mapped[str] = mapped_column(String(16))  # EntryType
    amount: Mapped[Decimal] = mapped_column()  # signed
    # `amount` in the commission's payout currency at its approval rate (approved and paid
    # buckets; None in pending, or without a rate): balances and payouts add these.
    payout_amount: Mapped[Decimal | None] = mapped_column()
    # Unique per intended movement, e.g. "com_..:approve:approved"; a replay cannot repeat it.
    idempotency_key: Mapped[str] = mapped_column(String(200), unique=True)
    reason: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
