"""The mail outbox: one row per e-mail to one address, queued with the change it tells about."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base

MAIL_PREFIX = "eml"


class MailKind(enum.StrEnum):
    """What an e-mail tells its reader (one template each, under mail/templates/)."""

    invitation = "invitation"
    """Someone was invited to an account's team: the sign-in link."""
    payout_created = "payout_created"
    """A payout was made for a period: amount, period, the payouts page."""
    payout_held = "payout_held"
    """A payout waits for details the partner must give: the reasons, the settings page."""
    payout_paid = "payout_paid"
    """The bank or PayPal confirmed the payout."""
    payout_failed = "payout_failed"
    """The payout bounced: why, and that the money is back in the balance."""
    contest_verification = "contest_verification"
    """A contest entrant confirms their address: the one-time link (crosspromo/contests.py)."""
    campaign_acceptance = "campaign_acceptance"
    """A co-promotion campaign's terms (new or changed) wait for the party's acceptance."""
    campaign_reminder = "campaign_reminder"
    """A campaign slot or deliverable is due soon, or overdue (crosspromo/campaign_reminders)."""
    exchange_alert = "exchange_alert"
    """A co-promotion partner owes the reader more than the agreed tolerance (exchange.py)."""


class MailState(enum.StrEnum):
    """Derived from the row (see `OutgoingMail.state`), never stored."""

    queued = "queued"
    """Not tried yet (or no SMTP host is configured)."""
    retrying = "retrying"
    """Tried and refused or unreachable; due again at `next_attempt_at`."""
    sent = "sent"
    """The SMTP server accepted it."""
    failed = "failed"
    """Given up: a permanent refusal, or the attempts are used up (`last_error` says why)."""


class OutgoingMail(Base):
    """An e-mail, rendered when queued (subject and body in the recipient's language), sent
    later by the `deliver_mail` job. Queued in the transaction of the change it tells about,
    so a rolled-back change sends nothing."""

    __tablename__ = "mail_outbox"
    __table_args__ = (
        # The job's claim: due mails, soonest first (NULL once sent or given up).
        Index(None, "next_attempt_at"),
        # The operator's list, newest first.
        Index(None, "created_at"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_address: Mapped[str] = mapped_column(String(320))
    # The user it was written for (their language); NULL for an invitee without an account
    # or a partner's contact address.
    user_id: Mapped[str | None] = mapped_column(ForeignKey("users.id"))
    locale: Mapped[str] = mapped_column(String(16))  # alliance.web.i18n.LANGUAGES
    kind: Mapped[str] = mapped_column(String(32))  # MailKind
    # The payout or invitation the mail is about (for the operator's list and for support).
    about: Mapped[str | None] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(300))
    text_body: Mapped[str] = mapped_column(Text)
    html_body: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    last_error: Mapped[str | None] = mapped_column(String(500))

    @property
    def state(self) -> MailState:
        if self.sent_at is not None:
            return MailState.sent
        if self.next_attempt_at is None:
            return MailState.failed
        return MailState.retrying if self.attempts else MailState.queued
