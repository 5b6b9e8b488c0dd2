"""Storage of audience sketches: one row per partner and window, replaced on every refresh."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary
from sqlalchemy.orm import Mapped, mapped_column

from alliance.db.base import Base


class AudienceSketch(Base):
    """The sketch of a partner's audience: the distinct visitors of its valid clicks (not
    bots, no invalid reason) in the `window_days` before `computed_at`.

    The hashes in `sketch` never leave the server (docs/audience-overlap.md). The index on
    (window_days, distinct_estimate) serves "every sketch of this window large enough to share
    50 visitors", the candidates of GET /api/v1/audience-overlap/top.
    """

    __tablename__ = "audience_sketches"
    __table_args__ = (Index(None, "window_days", "distinct_estimate"),)

    partner_id: Mapped[str] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    window_days: Mapped[int] = mapped_column(primary_key=True)
    # sketches.Sketch.to_bytes(): 17 bytes + 8 per kept hash (at most 32 KiB at k = 4096).
    sketch: Mapped[bytes] = mapped_column(LargeBinary)
    # Distinct visitors, estimated from the sketch (exact below k), rounded to a whole number.
    distinct_estimate: Mapped[int] = mapped_column(BigInteger)
    # Click rows read to build it (valid clicks in the window, repeats included).
    clicks_read: Mapped[int] = mapped_column(BigInteger)
    computed_at: Mapped[datetime] = mapped_column()
