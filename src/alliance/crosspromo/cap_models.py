"""Audience-fatigue cap rules on co-promotion clicks (docs/fatigue-caps.md, ADR 0024).

A rule is never edited in place: a change is a new rule and the old one marked deleted, so
what held a visitor back can still be named. Capped clicks are ordinary clicks stored with
`invalid_reason = "capped"` (tracking/models.py): they earn nothing and count as no exposure.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class FatigueCapRule(Base):
    """At most `maximum` exposures of a visitor to the co-promotions of a scope in a window.

    Indexes serve the link cache's read on a miss (the rules of a link's slot, campaign and
    pair, plus the network's) and the API listing a campaign's rules.
    """

    __tablename__ = "fatigue_cap_rules"
    __table_args__ = (
        Index(None, "scope", "deleted_at"),
        Index(None, "campaign_id"),
        Index(None, "slot_id"),
        Index(None, "partner_low_id", "partner_high_id"),
        CheckConstraint("maximum >= 1 AND maximum <= 10000", name="maximum_range"),
        CheckConstraint("scope IN ('network', 'campaign', 'slot', 'pair')", name="scope_known"),
        CheckConstraint(
            "window_kind IN ('rolling', 'calendar_day', 'lifetime')", name="window_known"
        ),
        # A pair is stored in one order, so (A, B) and (B, A) are one pair.
        CheckConstraint(
            "partner_low_id IS NULL OR partner_low_id < partner_high_id", name="pair_ordered"
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # cap_...
    scope: Mapped[str] = mapped_column(String(16))  # caps_rules.CapScope
    # The campaign of a campaign or slot rule (the organiser owns it); of a pair rule made
    # by a campaign's organiser, the campaign it was made from. None for the network.
    campaign_id: Mapped[str | None] = mapped_column(ForeignKey("campaigns.id"))
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("campaign_slots.id"))
    partner_low_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    partner_high_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    maximum: Mapped[int] = mapped_column()  # exposures allowed; the next one is capped
    window_kind: Mapped[str] = mapped_column(String(16))  # caps_rules.CapWindow
    window_hours: Mapped[int | None] = mapped_column()  # rolling windows only
    time_zone: Mapped[str] = mapped_column(String(64), default="UTC")  # calendar days' clock
    created_by: Mapped[str] = mapped_column(String(32))  # the account that made it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column()
