"""A record of every job run, for `alliance jobs run` and the operator's health page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Index, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class JobRun(Base):
    __tablename__ = "job_runs"
    __table_args__ = (Index(None, "name", "started_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column()
    ok: Mapped[bool | None] = mapped_column()
    result: Mapped[dict[str, Any]] = mapped_column(default=dict)
