"""Stored answers to mutating API calls made with an `Idempotency-Key` (see api/idempotency.py)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from alliance.db.base import Base


class IdempotencyStatus(enum.StrEnum):
    in_progress = "in_progress"  # claimed; the first request is still running
    done = "done"  # the answer is stored and replayed to every retry


class IdempotencyKey(Base):
    """One key of one caller on one method and path.

    The primary key is a hash of (caller, method, path, key), so the database's unique index
    is what decides which of two concurrent requests runs, in every server process, and its
    size stays bounded whatever the path. The caller is the sha256 of its API key (the same
    hash as `api_keys.key_hash`); the key itself is never stored.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (Index(None, "expires_at"),)

    scope_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    caller_hash: Mapped[str] = mapped_column(String(64))
    method: Mapped[str] = mapped_column(String(8))
    path: Mapped[str] = mapped_column(String(2048))
    key: Mapped[str] = mapped_column(String(255))
    # sha256 of method, path, query and body: a retry must be the same request.
    fingerprint: Mapped[str] = mapped_column(String(64))
    # A random token per claim: only the request holding it stores or releases the row.
    claim: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16), default=IdempotencyStatus.in_progress)
    response_status: Mapped[int | None] = mapped_column()
    response_content_type: Mapped[str | None] = mapped_column(String(255))
    response_body: Mapped[bytes | None] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column()
    finished_at: Mapped[datetime | None] = mapped_column()
    # After this the key may be used again (the next claim overwrites the row) or purged.
    expires_at: Mapped[datetime] = mapped_column()
