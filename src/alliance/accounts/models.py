"""Accounts: the operator, advertisers, partners and their API keys."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class AccountKind(enum.StrEnum):
    operator = "operator"  # runs the network: sees everything
    advertiser = "advertiser"  # owns programs; sees only its programs' data
    partner = "partner"  # earns commission; sees only its own links, clicks and earnings


class ServiceLevel(enum.StrEnum):
    self_service = "self_service"  # the advertiser runs its programs alone
    managed = "managed"  # an operator account manager is assigned


class PartnerType(enum.StrEnum):
    content = "content"  # blogs, reviews, publishers
    influencer = "influencer"  # social creators
    deals = "deals"  # coupon, cashback, loyalty portals and e-mail marketers
    technology = "technology"  # platforms, browser extensions, SaaS integrations
    finance = "finance"  # comparison and finance sites


class Operator(Base):
    __tablename__ = "operators"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Advertiser(Base):
    __tablename__ = "advertisers"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    country: Mapped[str] = mapped_column(String(2))  # ISO 3166-1 alpha-2
    currency: Mapped[str] = mapped_column(String(3))  # default currency of its programs
    service_level: Mapped[str] = mapped_column(String(16), default=ServiceLevel.self_service)
    account_manager_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"))
    website: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Partner(Base):
    __tablename__ = "partners"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(16))  # PartnerType
    country: Mapped[str] = mapped_column(String(2))
    payout_currency: Mapped[str] = mapped_column(String(3))
    categories: Mapped[list[str]] = mapped_column(default=list)
    audience: Mapped[str] = mapped_column(String(2000), default="")
    website: Mapped[str | None] = mapped_column(String(2048))
    email: Mapped[str | None] = mapped_column(String(320))
    # The operator looking after this partner (recruitment, questions, compliance).
    account_manager_id: Mapped[str | None] = mapped_column(ForeignKey("operators.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    """An API key. Only its SHA-256 is stored; the key itself is shown once at creation."""

    __tablename__ = "api_keys"
    __table_args__ = (Index(None, "owner_kind", "owner_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner_kind: Mapped[str] = mapped_column(String(16))  # AccountKind
    owner_id: Mapped[str] = mapped_column(String(32))
    # SHA-256 hex of the whole key: the lookup on every authenticated request.
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # First characters of the key, to tell keys apart in lists without revealing them.
    hint: Mapped[str] = mapped_column(String(16))
    label: Mapped[str] = mapped_column(String(200), default="default")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class ApplicationStatus(enum.StrEnum):
    pending = "pending"  # waiting for the operator
    approved = "approved"  # the partner account exists (partner_id) and its owner is invited
    rejected = "rejected"  # with the operator's reason


class PartnerApplication(Base):
    """A would-be partner's sign-up from the public /join page, for the operator to approve:
    the profile as given, the recruit code it came with, and the hashed (IP, device) pair it
    was sent from (what the self-referral check compares; never the raw values)."""

    __tablename__ = "partner_applications"
    __table_args__ = (Index(None, "status", "created_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(320))
    type: Mapped[str] = mapped_column(String(16))  # PartnerType
    country: Mapped[str] = mapped_column(String(2))
    payout_currency: Mapped[str] = mapped_column(String(3))
    website: Mapped[str | None] = mapped_column(String(2048))
    audience: Mapped[str] = mapped_column(String(2000), default="")
    recruit_code: Mapped[str | None] = mapped_column(String(16))
    ip_hash: Mapped[str] = mapped_column(String(32))
    device_hash: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=ApplicationStatus.pending)
    reason: Mapped[str | None] = mapped_column(String(500))
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    decided_by: Mapped[str | None] = mapped_column(String(32))
    decided_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
