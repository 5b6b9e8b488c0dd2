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
    # ISO 3166 alpha-2 codes; empty list = every country. A click from another country is
    # sent to `fallback_url` and stored as invalid (docs/adr/0011-geo-targeting.md).
    allowed_countries: Mapped[list[str]] = mapped_column(default=list)
    # Where visitors from countries outside `allowed_countries` go; None = the landing URL.
    fallback_url: Mapped[str | None] = mapped_column(String(2048))
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


# --- creatives and product feeds (programs/creatives.py, programs/feeds.py) ---------------------
# Imported here rather than at the top: this section was added as one block to a file several
# modules share, and only these models need the extra types.
from decimal import Decimal  # noqa: E402

from sqlalchemy import BigInteger  # noqa: E402


class CreativeKind(enum.StrEnum):
    banner = "banner"  # an image (https URL, width x height) linking to the landing URL
    text_link = "text_link"  # anchor text linking to the landing URL
    product = "product"  # a product teaser: title, description, optional image


class Creative(Base):
    """Promotional material an advertiser publishes for a program's approved partners.

    Only URLs are stored, never image bytes: banners live on the advertiser's (or a CDN's)
    https host. The landing URL must be one the redirect accepts as a deep link for the
    program, so the partner's tracking URL for it always lands where the advertiser meant.
    """

    __tablename__ = "creatives"
    # Serves the partner's list: the active creatives of one program.
    __table_args__ = (Index(None, "program_id", "active"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # crv_...
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    kind: Mapped[str] = mapped_column(String(16))  # CreativeKind
    name: Mapped[str] = mapped_column(String(200))  # the advertiser's label for it
    landing_url: Mapped[str] = mapped_column(String(2048))
    image_url: Mapped[str | None] = mapped_column(String(2048))  # banner (required), product
    width: Mapped[int | None] = mapped_column()  # banner: pixels, 1..4000
    height: Mapped[int | None] = mapped_column()  # banner: pixels, 1..4000
    alt_text: Mapped[str] = mapped_column(String(500), default="")
    anchor_text: Mapped[str | None] = mapped_column(String(500))  # text_link
    title: Mapped[str | None] = mapped_column(String(200))  # product
    description: Mapped[str] = mapped_column(String(4000), default="")  # product
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProductStatus(enum.StrEnum):
    active = "active"  # in the latest feed upload: partners see it
    removed = "removed"  # missing from the latest upload; kept for order categories and history


class FeedProduct(Base):
    """One product of a program's feed, upserted by (program, product id) on every upload.

    `product_id` is the advertiser's own id, the `sku` its order lines carry, which is how a
    conversion's line finds its category (feeds.categories_for). Products are never deleted:
    an order placed before a product left the feed still resolves its category.
    """

    __tablename__ = "feed_products"
    __table_args__ = (
        # The upsert key, and the index behind categories_for's sku look-up.
        UniqueConstraint("program_id", "product_id"),
        # Serves partner search within a program by status and category.
        Index(None, "program_id", "status", "category"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # prd_...
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    product_id: Mapped[str] = mapped_column(String(128))
    title: Mapped[str] = mapped_column(String(500))
    # casefold(title): `q=` matches it with LIKE, so search is case-insensitive for every
    # script on both engines (SQLite's lower() only folds ASCII). Casefolding can lengthen.
    title_key: Mapped[str] = mapped_column(String(1500))
    url: Mapped[str] = mapped_column(String(2048))
    price: Mapped[Decimal] = mapped_column()  # in `currency`, at its minor unit
    # The price in integer minor units (cents, yen): exact range filters on both engines,
    # where SQLite would otherwise compare the stored decimal text as text.
    price_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    category: Mapped[str] = mapped_column(String(64), default="")
    image_url: Mapped[str | None] = mapped_column(String(2048))
    status: Mapped[str] = mapped_column(String(16), default=ProductStatus.active)
    # The upload that last created or changed it.
    last_upload_id: Mapped[str | None] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    removed_at: Mapped[datetime | None] = mapped_column()


class FeedUploadStatus(enum.StrEnum):
    applied = "applied"  # the feed now holds this upload's good rows; the rest were removed
    rejected = "rejected"  # no row was usable: the feed was left exactly as it was


class FeedUpload(Base):
    """One CSV upload of a program's feed and its validation report, kept as history.

    `sha256` makes a repeated upload a no-op: the same bytes as the program's latest applied
    upload answer with that upload and change nothing.
    """

    __tablename__ = "feed_uploads"
    # Serves the history list (newest first within a program) and the latest-upload look-up.
    __table_args__ = (Index(None, "program_id", "id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # fdu_...
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    sha256: Mapped[str] = mapped_column(String(64))  # of the uploaded bytes, hex
    size_bytes: Mapped[int] = mapped_column()
    status: Mapped[str] = mapped_column(String(16))  # FeedUploadStatus
    rows_read: Mapped[int] = mapped_column()  # data rows (blank lines not counted)
    rows_accepted: Mapped[int] = mapped_column()
    rows_rejected: Mapped[int] = mapped_column()
    products_created: Mapped[int] = mapped_column()  # ids the feed never had
    products_updated: Mapped[int] = mapped_column()  # changed, or listed again after removal
    products_unchanged: Mapped[int] = mapped_column()
    products_removed: Mapped[int] = mapped_column()  # active products no longer listed
    # [{"row": 7, "field": "price", "reason": "..."}], the first feeds.MAX_REPORTED_ERRORS
    errors: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    errors_total: Mapped[int] = mapped_column()
    # Header columns the feed format does not know (a typo such as `catgory` shows up here).
    ignored_columns: Mapped[list[str]] = mapped_column(default=list)
    uploaded_by: Mapped[str | None] = mapped_column(String(32))  # the account id, if any
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
