"""People who sign in to the dashboards: users, their memberships, invitations, login failures.

An account (the operator, an advertiser, a partner) is an organisation; a user is a person
with an e-mail address and a password. A membership gives one user one role on one account,
so an agency employee can belong to several advertisers and switch between them.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class Role(enum.StrEnum):
    owner = "owner"  # everything, including the team: invitations, roles, removals
    member = "member"  # everything but the team
    read_only = "read_only"  # sees what the account sees, changes nothing

    @property
    def label(self) -> str:
        return {"owner": "Owner", "member": "Member", "read_only": "Read-only"}[self.value]


class User(Base):
    __tablename__ = "users"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    # Stored lower-cased: e-mail addresses are compared case-insensitively for sign-in.
    email: Mapped[str] = mapped_column(String(320), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    # argon2id, in its PHC string form (parameters and salt included).
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column()
    # Sessions issued before this instant are refused: "sign out everywhere", password change.
    sessions_valid_after: Mapped[datetime | None] = mapped_column()
    disabled_at: Mapped[datetime | None] = mapped_column()
    # The language of the pages (and of any future e-mail) for this person: one of
    # alliance.web.i18n.LANGUAGES ("en", "de", "sv", "es", "zh_Hans"); NULL follows the
    # browser's Accept-Language.
    locale: Mapped[str | None] = mapped_column(String(16))


class Membership(Base):
    __tablename__ = "memberships"
    __table_args__ = (
        UniqueConstraint("user_id", "account_kind", "account_id"),
        Index(None, "account_kind", "account_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32))
    account_kind: Mapped[str] = mapped_column(String(16))  # AccountKind
    account_id: Mapped[str] = mapped_column(String(32))
    role: Mapped[str] = mapped_column(String(16))  # Role
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Invitation(Base):
    """An invitation to join an account's team. Only the token's SHA-256 is stored."""

    __tablename__ = "invitations"
    __table_args__ = (Index(None, "account_kind", "account_id"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    account_kind: Mapped[str] = mapped_column(String(16))
    account_id: Mapped[str] = mapped_column(String(32))
    email: Mapped[str] = mapped_column(String(320))
    role: Mapped[str] = mapped_column(String(16))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    invited_by: Mapped[str | None] = mapped_column(String(32))  # user id
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    revoked_at: Mapped[datetime | None] = mapped_column()


class LoginFailure(Base):
    """One failed sign-in, counted per e-mail and per client address for rate limiting.

    Kept in the database, not in a worker's memory, so every worker counts the same failures.
    `key` is a keyed hash ("email:..." or "ip:..."): the table never holds an address.
    """

    __tablename__ = "login_failures"
    __table_args__ = (Index(None, "key", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)
