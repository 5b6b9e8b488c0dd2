"""Partner referrals' storage: recruit codes, who recruited whom, the override terms, and
the fingerprints that tell a self-referral (docs/referrals.md, docs/adr/0019)."""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class Funding(enum.StrEnum):
    """Who pays a referral override."""

    network = "network"  # the network's own margin: not shown or invoiced to the advertiser
    advertiser = "advertiser"  # the program pays it, like any commission on its orders


class ReferralStatus(enum.StrEnum):
    active = "active"  # overrides are earned while the term runs
    refused = "refused"  # a self-referral: recorded with its reason, earns nothing


class RefusalReason(enum.StrEnum):
    """Why a referral earns nothing. Checked when it is recorded and again at each override
    (payout details are usually entered after sign-up)."""

    same_email = "same_email"  # the same address after normalisation (case, dots, +tags)
    same_payout_account = "same_payout_account"  # the same IBAN or PayPal address
    same_device = "same_device"  # signed up from the recruiter's hashed IP and device
    own_code = "own_code"  # a partner's own recruit code


class RecruitCode(Base):
    """The code in a partner's recruit link (`/r/{code}`): short, unguessable, stable."""

    __tablename__ = "recruit_codes"

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PartnerReferral(Base):
    """One partner recruited by another. A partner has at most one recruiter (unique
    recruit_id); the chain of recruiters gives the levels above it."""

    __tablename__ = "partner_referrals"
    __table_args__ = (Index(None, "recruiter_id", "recruited_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    recruit_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), unique=True)
    recruiter_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    recruited_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # ReferralStatus
    reason: Mapped[str | None] = mapped_column(String(32))  # RefusalReason when refused
    # What the checks compared (never an address or an IP: hashes and yes/no answers).
    evidence: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ReferralTerms(Base):
    """Override terms: the network's default (scope "network") or one program's (scope =
    the program id). `percents[i]` is level i + 1's share of the recruit's approved
    commission: one level by default ("one entry"), more when the operator lists more."""

    __tablename__ = "referral_terms"
    __table_args__ = (UniqueConstraint("scope"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    scope: Mapped[str] = mapped_column(String(32))  # "network" or a program id
    program_id: Mapped[str | None] = mapped_column(ForeignKey("programs.id"))
    percents: Mapped[list[str]] = mapped_column(default=list)  # Decimal text per level
    months: Mapped[int] = mapped_column()  # how long after recruitment overrides are earned
    funded_by: Mapped[str] = mapped_column(String(16))  # Funding
    active: Mapped[bool] = mapped_column(default=True)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    def percent_at(self, level: int) -> Decimal | None:
        """Level 1 is the direct recruiter."""
        if level < 1 or level > len(self.percents):
            return None
        return Decimal(self.percents[level - 1])


class AccountFingerprint(Base):
    """Where a partner's people sign in from, as hashes: the keyed hash of the IP and of the
    user agent (tracking/visitor.hash_ip), one row per (partner, pair), with the last time
    seen. A sign-up from a recruiter's pair is a self-referral."""

    __tablename__ = "account_fingerprints"
    __table_args__ = (UniqueConstraint("partner_id", "ip_hash", "device_hash"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    ip_hash: Mapped[str] = mapped_column(String(32))
    device_hash: Mapped[str] = mapped_column(String(32))
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
