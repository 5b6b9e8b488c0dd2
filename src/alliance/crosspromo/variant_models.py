"""Landing variants of a tracking link (docs/link-variants.md, ADR 0018).

A variant sends some of a link's visitors to another landing page: a URL on the program's
site, or an *offer*, one of the program's creatives (the advertiser's own landing pages for
it). Conditions and weights decide who gets which (crosspromo/variants.py). Clicks record the
variant they landed on (`clicks.variant_id`), so a deleted variant is only marked deleted:
its clicks keep a name in the report.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class LinkVariant(Base):
    """One landing variant of one link.

    The (link_id, deleted_at) index serves the two reads there are: the link cache loading a
    link's live variants (one outer join per cache miss) and the variants API listing them.
    """

    __tablename__ = "link_variants"
    __table_args__ = (
        Index(None, "link_id", "deleted_at"),
        CheckConstraint("weight >= 1 AND weight <= 10000", name="weight_range"),
        # Exactly one target: a URL, or a creative of the link's program.
        CheckConstraint("(landing_url IS NULL) <> (creative_id IS NULL)", name="one_target"),
        CheckConstraint("visitor IS NULL OR visitor IN ('new', 'returning')", name="visitor"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # var_...
    link_id: Mapped[str] = mapped_column(ForeignKey("links.id"))
    # The link's program, kept with the row like every program-owned table (a creative must
    # belong to it; partitioning by program stays possible).
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    name: Mapped[str] = mapped_column(String(200), default="")
    landing_url: Mapped[str | None] = mapped_column(String(2048))
    creative_id: Mapped[str | None] = mapped_column(ForeignKey("creatives.id"))
    # Conditions: ISO 3166-1 alpha-2 codes, upper-case; devices from variants.DEVICES; empty
    # list = any. `visitor`: "new" | "returning" | None (any).
    countries: Mapped[list[str]] = mapped_column(default=list)
    devices: Mapped[list[str]] = mapped_column(default=list)
    visitor: Mapped[str | None] = mapped_column(String(16))
    weight: Mapped[int] = mapped_column(default=1)  # share within its matching group, 1..10000
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set by DELETE: the variant stops being chosen; its clicks keep pointing at it.
    deleted_at: Mapped[datetime | None] = mapped_column()
