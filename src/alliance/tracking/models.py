"""Links and clicks. A click is one row, written once by the click writer, never updated."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, ForeignKey, Index, String, and_
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class Link(Base):
    __tablename__ = "links"
    __table_args__ = (Index(None, "partner_id", "program_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)  # the /c/{code} path segment
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"))
    # Where the link sends by default; None = the program's landing URL.
    landing_url: Mapped[str | None] = mapped_column(String(2048))
    # {"DE": "https://shop.example/de", ...}: per-country landing pages.
    country_urls: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Default sub-ids recorded when the visitor's URL carries none.
    default_subs: Mapped[dict[str, Any]] = mapped_column(default=dict)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InvalidReason(enum.StrEnum):
    """Why a click that is not a bot still earns nothing (`clicks.invalid_reason`).

    Bots keep their own flag (`is_bot`, a verdict on the User-Agent); a click is valid only
    with neither. Attribution, CPC and the reports' valid clicks all use `valid_click()`.
    """

    country_not_allowed = "country_not_allowed"  # visitor outside the program's countries
    capped = "capped"  # over an audience-fatigue cap: sent to the plain landing (ADR 0024)


class Click(Base):
    """One visit through a link.

    Indexes serve: (program_id, visitor_id, occurred_at) the attribution look-up of a
    visitor's recent clicks; (program_id, occurred_at) the traffic report; (partner_id,
    occurred_at) a partner's click list.
    """

    __tablename__ = "clicks"
    __table_args__ = (
        Index(None, "program_id", "visitor_id", "occurred_at"),
        Index(None, "program_id", "occurred_at"),
        Index(None, "partner_id", "occurred_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # clk_..., sent as alclid
    occurred_at: Mapped[datetime] = mapped_column()
    link_id: Mapped[str] = mapped_column(String(32))
    program_id: Mapped[str] = mapped_column(String(32))
    partner_id: Mapped[str] = mapped_column(String(32))
    # The visitor, from the alc_{program} cookie (vis_...), new on the first click.
    visitor_id: Mapped[str] = mapped_column(String(32))
    sub1: Mapped[str | None] = mapped_column(String(255))
    sub2: Mapped[str | None] = mapped_column(String(255))
    sub3: Mapped[str | None] = mapped_column(String(255))
    sub4: Mapped[str | None] = mapped_column(String(255))
    sub5: Mapped[str | None] = mapped_column(String(255))
    landing_url: Mapped[str] = mapped_column(String(2048))
    country: Mapped[str | None] = mapped_column(String(2))
    # desktop | mobile | tablet | bot | unknown
    device: Mapped[str] = mapped_column(String(16), default="unknown")
    user_agent: Mapped[str | None] = mapped_column(String(512))
    referrer: Mapped[str | None] = mapped_column(String(2048))
    # HMAC-SHA256(secret_key, ip) truncated: lets us count unique visitors, never reveals the IP.
    ip_hash: Mapped[str] = mapped_column(String(32))
    is_bot: Mapped[bool] = mapped_column(default=False)
    # An InvalidReason, or None: the click is valid unless it is a bot or has a reason.
    invalid_reason: Mapped[str | None] = mapped_column(String(32))
    # The landing variant the redirect chose (link_variants.id, var_...), None for the link's
    # normal landing. No index: the variants report reads one link's clicks through the
    # (partner_id, occurred_at) index; every index on clicks costs each redirect (ADR 0018).
    variant_id: Mapped[str | None] = mapped_column(String(32))


def valid_click(is_bot: Any, invalid_reason: Any) -> ColumnElement[bool]:
    """SQL: the click may earn (attribution, CPC) and counts as a valid click in reports.

    Takes the two columns, so it works on `Click` and on subqueries of clicks alike."""
    return and_(is_bot.is_(False), invalid_reason.is_(None))


def is_valid_click(is_bot: bool, invalid_reason: str | None) -> bool:
    """The same test in Python, for rows already read."""
    return not is_bot and invalid_reason is None
