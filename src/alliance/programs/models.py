"""Programs, their versioned commission terms, enrollments and coupons."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class AttributionPriority(enum.StrEnum):
    coupon = "coupon"  # an order with a partner's coupon goes to that partner (default)
    click = "click"  # the last valid click beats a coupon; the coupon counts only with no click


class Program(Base):
    __tablename__ = "programs"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    advertiser_id: Mapped[str] = mapped_column(ForeignKey("advertisers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    landing_url: Mapped[str] = mapped_column(String(2048))
    cookie_window_days: Mapped[int] = mapped_column(default=30)
    lock_period_days: Mapped[int] = mapped_column(default=30)
    # ISO 3166 alpha-2 codes; empty list = every country.
    allowed_countries: Mapped[list[str]] = mapped_column(default=list)
    # Hosts a deep link (`url=`) may point to, besides the landing URL's own host.
    deeplink_domains: Mapped[list[str]] = mapped_column(default=list)
    store_wide: Mapped[bool] = mapped_column(default=True)
    attribution_priority: Mapped[str] = mapped_column(String(8), default=AttributionPriority.coupon)
    # Shared secret sent as `token=` on postbacks, or the HMAC-SHA256 key of `signature=`.
    postback_token: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(4000), default="")
    category: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="active")  # active | paused
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CommissionTerms(Base):
    """One version of a program's commission terms. Never updated: a change is a new version.

    `rules` is the validated terms document (see commissions/terms.py); conversions point at
    the version that priced them, so old orders keep their arithmetic.
    """

    __tablename__ = "commission_terms"
    __table_args__ = (UniqueConstraint("program_id", "version"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    version: Mapped[int] = mapped_column()
    rules: Mapped[dict[str, Any]] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class EnrollmentStatus(enum.StrEnum):
    applied = "applied"  # the partner asked to join; waiting for the advertiser
    approved = "approved"  # may promote and earns commission
    rejected = "rejected"  # application refused
    suspended = "suspended"  # temporarily not earning; can be approved again
    banned = "banned"  # permanently out of the program


ENROLLMENT_TRANSITIONS: dict[EnrollmentStatus, frozenset[EnrollmentStatus]] = {
    EnrollmentStatus.applied: frozenset({EnrollmentStatus.approved, EnrollmentStatus.rejected}),
    EnrollmentStatus.approved: frozenset({EnrollmentStatus.suspended, EnrollmentStatus.banned}),
    EnrollmentStatus.suspended: frozenset({EnrollmentStatus.approved, EnrollmentStatus.banned}),
    EnrollmentStatus.rejected: frozenset({EnrollmentStatus.approved}),
    EnrollmentStatus.banned: frozenset(),
}


class Enrollment(Base):
    __tablename__ = "enrollments"
    __table_args__ = (
        UniqueConstraint("program_id", "partner_id"),
        Index(None, "partner_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    status: Mapped[str] = mapped_column(String(16), default=EnrollmentStatus.applied)
    # Partner group within the program (e.g. "vip"), used by commission overrides.
    group: Mapped[str | None] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(2000), default="")
    reason: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None] = mapped_column()


class Coupon(Base):
    __tablename__ = "coupons"
    # Coupon codes are matched case-insensitively: `code_key` is the upper-cased code.
    __table_args__ = (UniqueConstraint("program_id", "code_key"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    code_key: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
