"""Contests and giveaways: the contest with its committed seed, partners' referral codes,
every entry (accepted or refused, with the reason) and the draw's published record."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class ContestStatus(enum.StrEnum):
    """Derived from the clock and the draw (`Contest.status_at`), never stored."""

    scheduled = "scheduled"
    """Created, its commitment published; entries not open yet."""
    open = "open"
    """Taking entries (opens_at <= now < closes_at)."""
    closed = "closed"
    """Past closes_at; waiting for its draw (and for the external value, if it has one)."""
    drawn = "drawn"
    """Winners drawn; the seed, the entry list and the winners are public."""


class EntryStatus(enum.StrEnum):
    pending = "pending"
    """Accepted, waiting for the entrant to open the verification link."""
    verified = "verified"
    """The mailbox is confirmed: the entry is in the draw, and may refer friends."""
    rejected = "rejected"
    """Refused when submitted; `reason` says why (entrants.RejectReason). Kept, never drawn."""


ENTRY_TRANSITIONS: dict[EntryStatus, frozenset[EntryStatus]] = {
    EntryStatus.pending: frozenset({EntryStatus.verified}),
    EntryStatus.verified: frozenset(),
    EntryStatus.rejected: frozenset(),
}


class Contest(Base):
    """A giveaway in one program. The seed is secret until the draw; its SHA-256
    (`commitment`) is public from creation, before entries open."""

    __tablename__ = "contests"
    __table_args__ = (
        # The draw job: contests past their close, oldest first.
        Index(None, "closes_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # cst_...
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"), index=True)
    # A co-promotion campaign the contest belongs to (crosspromo campaigns; no FK yet).
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(200))
    rules: Mapped[str] = mapped_column(Text)
    opens_at: Mapped[datetime] = mapped_column()
    closes_at: Mapped[datetime] = mapped_column()
    winners: Mapped[int] = mapped_column()  # prizes: at most this many entries win
    # Each verified friend an entrant refers adds this many entries, up to `bonus_cap` more.
    bonus_per_referral: Mapped[int] = mapped_column()
    bonus_cap: Mapped[int] = mapped_column()
    per_ip_limit: Mapped[int] = mapped_column()  # accepted entries from one hashed IP
    # What public randomness is mixed in at the draw, as the rules state it ("drand mainnet
    # round 5000000"); its value is given when drawing. None: seed and entry list only.
    external_source: Mapped[str | None] = mapped_column(String(500))
    # 32 random bytes, hex. Secret until the draw (never in an answer before `drawn`).
    seed: Mapped[str] = mapped_column(String(64))
    commitment: Mapped[str] = mapped_column(String(64))  # SHA-256(seed bytes), hex
    created_by: Mapped[str] = mapped_column(String(32))  # the advertiser or operator id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    def status_at(self, now: datetime, drawn: bool) -> ContestStatus:
        if drawn:
            return ContestStatus.drawn
        if now < self.opens_at:
            return ContestStatus.scheduled
        if now < self.closes_at:
            return ContestStatus.open
        return ContestStatus.closed


class ContestPartner(Base):
    """A partner's referral code for a contest (`/contests/{id}?ref={code}`), made for every
    partner approved in the program when the contest is created or when it first asks."""

    __tablename__ = "contest_partners"
    __table_args__ = (
        # The entry form resolves `ref=` by (contest, code).
        UniqueConstraint("contest_id", "code"),
        # A partner's contests.
        Index(None, "partner_id"),
    )

    contest_id: Mapped[str] = mapped_column(ForeignKey("contests.id"), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16))  # 8 base32 characters, lower case
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ContestEntry(Base):
    """One submission of the entry form, accepted or not. Refused ones are kept with their
    reason so the owner can see what was turned away and why."""

    __tablename__ = "contest_entries"
    __table_args__ = (
        # One entry per mailbox and contest: `mailbox` is the normalised address of accepted
        # entries and NULL on refused ones (NULLs never collide), so duplicates are kept too.
        UniqueConstraint("contest_id", "mailbox"),
        # An entrant's own referral code, issued at verification.
        UniqueConstraint("contest_id", "referral_code"),
        # The owner's list and the draw: a contest's entries by status.
        Index(None, "contest_id", "status"),
        # The per-IP limit.
        Index(None, "contest_id", "ip_hash"),
        # Referral bonuses and a partner's counts.
        Index(None, "referrer_entry_id"),
        Index(None, "referrer_partner_id"),
        # The verification link.
        Index(None, "token_hash", unique=True),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # ent_...
    contest_id: Mapped[str] = mapped_column(ForeignKey("contests.id"))
    status: Mapped[str] = mapped_column(String(16))  # EntryStatus
    reason: Mapped[str | None] = mapped_column(String(32))  # entrants.RejectReason
    email: Mapped[str] = mapped_column(String(320))  # as typed, trimmed
    email_key: Mapped[str | None] = mapped_column(String(320))  # normalised; None: bad_email
    mailbox: Mapped[str | None] = mapped_column(String(320))  # email_key while not rejected
    name: Mapped[str] = mapped_column(String(200))
    ip_hash: Mapped[str] = mapped_column(String(32))  # tracking.visitor.hash_ip
    locale: Mapped[str] = mapped_column(String(16))  # the language of the form: of the mail
    ref_code: Mapped[str | None] = mapped_column(String(64))  # `ref=` as given
    referrer_partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    referrer_entry_id: Mapped[str | None] = mapped_column(String(32))
    referral_code: Mapped[str | None] = mapped_column(String(16))  # the entrant's own
    # SHA-256 of the one-time verification token (the token is only in the mail).
    token_hash: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    verified_at: Mapped[datetime | None] = mapped_column()


class ContestDraw(Base):
    """The draw's published record: once per contest (the primary key), never changed."""

    __tablename__ = "contest_draws"

    contest_id: Mapped[str] = mapped_column(ForeignKey("contests.id"), primary_key=True)
    # The entry list exactly as published and hashed (crosspromo/draw.py entry_list_csv).
    entries_csv: Mapped[str] = mapped_column(Text)
    entries_hash: Mapped[str] = mapped_column(String(64))
    entry_count: Mapped[int] = mapped_column()
    total_weight: Mapped[int] = mapped_column(BigInteger)
    external_value: Mapped[str | None] = mapped_column(String(500))
    randomness: Mapped[str] = mapped_column(String(64))
    winners: Mapped[list[str]] = mapped_column()  # entry ids, first prize first
    drawn_by: Mapped[str] = mapped_column(String(32))  # an account id, or "job"
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)
