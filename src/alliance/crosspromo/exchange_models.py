"""The fair-exchange ledger's storage (docs/fair-exchange.md, docs/adr/0023).

Append-only: an entry is never updated or deleted. Balances are sums of entries. Each pair
of partners is stored in canonical order (`partner_low` < `partner_high`), and `units` is
signed from the low partner's side (+ the low partner delivered, - it received), so both
partners read the same rows and bal(A, B) = -bal(B, A) exactly.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.sql.elements import conv

from alliance.clock import utcnow
from alliance.db.base import Base


class EntryKind(enum.StrEnum):
    """What an exchange entry records."""

    click = "click"  # a confirmed unique person one partner sent to the other
    carry_over = "carry_over"  # the forgiven excess of a capped carry-over settlement


class ExchangeEntry(Base):
    """One signed delivery (or settlement adjustment) between two partners of a campaign."""

    __tablename__ = "exchange_entries"
    __table_args__ = (
        # Replay-safe: a delivery (one person, one direction, one campaign) or a settlement
        # is written once, whatever the number of job runs or workers.
        UniqueConstraint("campaign_id", "source_key"),
        # A pair's balance and entry list in a campaign.
        Index(None, "campaign_id", "partner_low", "partner_high"),
        # A partner's pairs across campaigns (either side).
        Index(None, "partner_low"),
        Index(None, "partner_high"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # xen_...
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    partner_low: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    partner_high: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    kind: Mapped[str] = mapped_column(String(16))  # EntryKind
    # Signed from partner_low's side, in unique clicks (people).
    units: Mapped[int] = mapped_column()
    # "click:<promoter>:<visitor>" or "settlement:<xst_...>".
    source_key: Mapped[str] = mapped_column(String(120))
    click_id: Mapped[str | None] = mapped_column(String(32))  # the person's first click
    settlement_id: Mapped[str | None] = mapped_column(String(32))
    occurred_at: Mapped[datetime] = mapped_column()  # the click, or the settlement
    recorded_at: Mapped[datetime] = mapped_column(default=utcnow)


class SettlementMethod(enum.StrEnum):
    """How a pair's balance was settled."""

    carry_over = "carry_over"  # the partner owed forgave what exceeds a cap (an entry)
    make_good = "make_good"  # a slot for the partner owed, promoted by the one owing


class ExchangeSettlement(Base):
    """A settlement of the pair's balance. A carry-over changes the balance at once (its
    entry); a make-good slot changes it as the slot's clicks are confirmed."""

    __tablename__ = "exchange_settlements"
    __table_args__ = (Index(None, "campaign_id", "partner_low", "partner_high"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # xst_...
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    partner_low: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    partner_high: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    method: Mapped[str] = mapped_column(String(16))  # SettlementMethod
    balance_before: Mapped[int] = mapped_column()  # signed from partner_low's side
    # Carry-over only:
    cap: Mapped[int | None] = mapped_column()
    carried: Mapped[int | None] = mapped_column()  # signed, stays owed
    forgiven: Mapped[int | None] = mapped_column()  # signed, written off
    # Make-good only: the slot added to the campaign (its terms go back for acceptance).
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("campaign_slots.id"))
    created_by: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ExchangeAlert(Base):
    """The pair's balance went beyond the agreed tolerance: one row per crossing. It is
    resolved when the balance comes back within the tolerance; a later crossing is a new row."""

    __tablename__ = "exchange_alerts"
    __table_args__ = (
        # Named by hand: the conventional name is 64 characters, one past PostgreSQL's limit.
        UniqueConstraint(
            "campaign_id",
            "partner_low",
            "partner_high",
            "crossing",
            name=conv("uq_exchange_alerts_pair_crossing"),
        ),
        Index(None, "campaign_id", "partner_low", "partner_high"),
    )

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    partner_low: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    partner_high: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    crossing: Mapped[int] = mapped_column()  # 1 for the pair's first, then 2, ...
    owed_partner_id: Mapped[str] = mapped_column(String(32))
    balance: Mapped[int] = mapped_column()  # |balance| when it crossed, in unique clicks
    exchanged: Mapped[int] = mapped_column()  # both ways, when it crossed
    raised_at: Mapped[datetime] = mapped_column()
    resolved_at: Mapped[datetime | None] = mapped_column()
