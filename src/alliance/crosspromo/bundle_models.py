"""Bundles' storage: an offer of several programs' products sold by one store at one price,
its parties and their agreed weights, and the append-only allocation of every bundle line's
revenue and commission to the parties (docs/bundles.md, docs/adr/0022-bundles.md)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class BundleStatus(enum.StrEnum):
    proposed = "proposed"  # waiting for other advertisers' parties to accept the weights
    active = "active"  # every party accepted: completed orders with its SKU are split
    declined = "declined"  # a party declined: it never becomes active (propose a new one)
    inactive = "inactive"  # deactivated: new orders are not split, split ones still follow


BUNDLE_TRANSITIONS: dict[BundleStatus, frozenset[BundleStatus]] = {
    BundleStatus.proposed: frozenset(
        {BundleStatus.active, BundleStatus.declined, BundleStatus.inactive}
    ),
    BundleStatus.active: frozenset({BundleStatus.inactive}),
    BundleStatus.declined: frozenset(),
    BundleStatus.inactive: frozenset(),
}
# A bundle in one of these states holds its SKU in its program (Bundle.open_sku).
OPEN_STATUSES = frozenset({BundleStatus.proposed, BundleStatus.active})


class PartyStatus(enum.StrEnum):
    invited = "invited"  # another advertiser's program: its advertiser has not answered yet
    accepted = "accepted"  # agreed to the weights (the seller's own programs agree at creation)
    declined = "declined"  # refused: the bundle is declined with it


class AllocationKind(enum.StrEnum):
    sale = "sale"  # the order was completed: the line's revenue and commission, split
    refund = "refund"  # a refund step: cumulative parts now minus the parts before (negative)
    decline = "decline"  # a completed order declined in its lock period: everything back


class Bundle(Base):
    """An offer sold by the seller's store (the program whose orders carry `sku` in their
    lines) that bundles products of several programs. The terms never change once proposed:
    other weights are another bundle."""

    __tablename__ = "bundles"
    __table_args__ = (
        # The completion hook: the active bundles of an order's program.
        Index(None, "program_id", "status"),
        # One open bundle per SKU in a program; `open_sku` is NULL once the bundle is closed
        # (NULLs never collide), so a closed bundle's SKU can be sold as a new bundle.
        UniqueConstraint("program_id", "open_sku"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # bdl_...
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))  # the seller's program
    # The seller (the program's advertiser), kept here for "bundles I sell" lists.
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("advertisers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    sku: Mapped[str] = mapped_column(String(128))  # as the store sends it in order lines
    open_sku: Mapped[str | None] = mapped_column(String(128))  # = sku while proposed or active
    price: Mapped[Decimal] = mapped_column()  # the advertised price (lines carry the real one)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16), default=BundleStatus.proposed)
    created_by: Mapped[str] = mapped_column(String(32))  # the advertiser or operator id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    activated_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()  # declined or deactivated


class BundleParty(Base):
    """One program taking part in a bundle, with its weight. Parts are proportional to the
    weights; `position` is the order the seller listed the parties in (display only: ties
    between equal remainders are broken by weight, then by party id)."""

    __tablename__ = "bundle_parties"
    __table_args__ = (UniqueConstraint("bundle_id", "program_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # bdp_...
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    # The party's advertiser: who accepts, and who sees this party's allocations.
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("advertisers.id"), index=True)
    weight: Mapped[Decimal] = mapped_column()  # > 0, at most 6 decimals
    position: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # PartyStatus
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class BundleAllocation(Base):
    """One party's part of one event of one bundle line: never updated, never deleted.

    Unique per (conversion, event key, party): the event key names the event ("sale",
    "refund:<cumulative refunded order amount in minor units>", "decline"), so a replayed
    postback or a second run of the hook finds the row and writes nothing.
    Amounts are signed (sales positive, refunds and declines negative); `revenue` is in the
    order's currency, `commission` in the commission's (the program's). The `*_units`
    columns hold the same amounts in integer minor units, so SQL sums them exactly on both
    engines (SQLite keeps Decimal columns as text).
    """

    __tablename__ = "bundle_allocations"
    __table_args__ = (
        UniqueConstraint("conversion_id", "event_key", "party_id"),
        # A bundle's allocations, newest first (pages walk the id downwards).
        Index(None, "bundle_id", "id"),
        # One party's allocations (its advertiser's view), newest first.
        Index(None, "party_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # bal_...
    bundle_id: Mapped[str] = mapped_column(ForeignKey("bundles.id"))
    party_id: Mapped[str] = mapped_column(ForeignKey("bundle_parties.id"))
    # The seller's program (the order's) and the party's: large tables carry a program id.
    program_id: Mapped[str] = mapped_column(String(32))
    party_program_id: Mapped[str] = mapped_column(String(32))
    conversion_id: Mapped[str] = mapped_column(ForeignKey("conversions.id"))
    kind: Mapped[str] = mapped_column(String(8))  # AllocationKind
    event_key: Mapped[str] = mapped_column(String(64))
    revenue: Mapped[Decimal] = mapped_column()
    revenue_units: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    commission: Mapped[Decimal] = mapped_column()
    commission_units: Mapped[int] = mapped_column(BigInteger)
    commission_currency: Mapped[str] = mapped_column(String(3))
    # What was split, for the audit: a sale's line revenue and line commission; a refund's
    # cumulative refunded line revenue and cumulative commission taken back from the line.
    line_revenue: Mapped[Decimal] = mapped_column()
    line_commission: Mapped[Decimal] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
