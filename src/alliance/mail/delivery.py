"""Sending due mails over SMTP: claim, send, record — the `deliver_mail` job.

Like the webhook deliveries (notifications/delivery.py), no transaction is open while the
mail server is talked to:

1. **claim** (one short transaction): due mails are locked (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL; SQLite's single writer serialises claims anyway), their attempt counter is
   raised and `next_attempt_at` pushed past the attempt's deadline — a lease: another worker
   does not take them meanwhile, and if this one dies they are due again when it expires;
2. **send** (no transaction): one SMTP connection for the batch (STARTTLS and sign-in when
   configured), one message per mail. Its Message-ID is the mail's id, the same on every
   attempt, so a mail sent twice (a lease that ran out) is recognisable as one;
3. **record** (one short transaction): sent; refused for now (4xx, unreachable, timed out) and
   due again after a jittered exponential backoff until the attempts are used up; or refused
   for good (5xx): given up at once. The update names the attempt it claimed, so a worker
   whose lease ran out cannot overwrite the result of the one that took over.

With no SMTP host configured nothing is claimed: the mails stay queued — none is lost or
counted as failed — and the job's result says why.
"""

from __future__ import annotations

import random
import smtplib
import ssl
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from typing import Any

from sqlalchemy import func, select, update

from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.mail.models import OutgoingMail
from alliance.notifications.rules import backoff_seconds
from alliance.settings import Settings, get_settings

# Mails sent over one SMTP connection before the result is recorded.
BATCH = 50
# A run stops claiming after this many seconds (a cron minute, as for webhooks).
RUN_BUDGET_S = 50.0
# Added to the batch's worst case for the lease: time to record the outcome.
LEASE_MARGIN = timedelta(seconds=60)
NO_HOST = "no SMTP host (ALLIANCE_SMTP_HOST): mails stay queued"


@dataclass(frozen=True, slots=True)
class Letter:
    """One claimed mail, as the sender needs it (no ORM object crosses the transaction)."""

    id: str
    number: int  # the attempt claimed, 1 for the first
    to: str
    locale: str
    subject: str
    text: str
    html: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Outcome:
    letter: Letter
    error: str | None  # None: the server accepted it
    permanent: bool = False  # a 5xx refusal: trying again cannot help


def claim(now: datetime, limit: int, lease: timedelta) -> list[Letter]:
    with transaction() as session:
        rows = session.scalars(
            select(OutgoingMail)
            .where(OutgoingMail.next_attempt_at <= now)
            .order_by(OutgoingMail.next_attempt_at, OutgoingMail.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        letters: list[Letter] = []
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = now + lease
            letters.append(
                Letter(
                    row.id,
                    row.attempts,
                    row.to_address,
                    row.locale,
                    row.subject,
                    row.text_body,
                    row.html_body,
                    row.created_at,
                )
            )
        return letters


def message(letter: Letter, sender: str) -> EmailMessage:
    """The RFC 5322 message of a mail: UTF-8 text (and HTML when it has one)."""
    _name, address = parseaddr(sender)
    domain = address.rpartition("@")[2] or "localhost"
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = letter.to
    msg["Subject"] = letter.subject
    msg["Date"] = format_datetime(letter.created_at)
    msg["Message-ID"] = f"<{letter.id}@{domain}>"
    # RFC 3834: written by a program; auto-responders do not answer it.
    msg["Auto-Submitted"] = "auto-generated"
    msg.set_content(letter.text)
    if letter.html:
        msg.add_alternative(letter.html, subtype="html")
    # After the content: setting it clears every Content-* header.
    msg["Content-Language"] = letter.locale.replace("_", "-")
    return msg


def _refusal(code: int, text: bytes | str) -> tuple[str, bool]:
    said = text.decode("utf-8", "replace") if isinstance(text, bytes) else text
    return f"SMTP {code}: {said}"[:500], code >= 500


def _connect(settings: Settings) -> smtplib.SMTP:
    smtp = smtplib.SMTP(settings.smtp_host, settings.smtp_port, timeout=settings.smtp_timeout_s)
    try:
        smtp.ehlo()
        if settings.smtp_starttls:
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo()
        if settings.smtp_username:
            smtp.login(settings.smtp_username, settings.smtp_password.get_secret_value())
    except BaseException:
        smtp.close()
        raise
    return smtp


def _send_one(smtp: smtplib.SMTP, letter: Letter, sender: str) -> Outcome:
    try:
        refused = smtp.send_message(message(letter, sender))
    except smtplib.SMTPRecipientsRefused as exc:
        code, text = next(iter(exc.recipients.values()))
        error, permanent = _refusal(code, text)
        return Outcome(letter, error, permanent)
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as exc:
        error, permanent = _refusal(exc.smtp_code, exc.smtp_error)
        return Outcome(letter, error, permanent)
    if refused:  # one recipient per mail: a partial refusal is the whole refusal
        code, text = next(iter(refused.values()))
        error, permanent = _refusal(code, text)
        return Outcome(letter, error, permanent)
    return Outcome(letter, None)


def send(letters: Sequence[Letter], settings: Settings) -> list[Outcome]:
    """Send a batch over one connection. Never raises for the server's trouble: a mail the
    connection could not carry is an outcome to retry."""
    outcomes: list[Outcome] = []
    try:
        smtp = _connect(settings)
    except smtplib.SMTPAuthenticationError as exc:
        error, _permanent = _refusal(exc.smtp_code, exc.smtp_error)
        return [Outcome(letter, f"sign-in refused: {error}"[:500]) for letter in letters]
    except (OSError, smtplib.SMTPException) as exc:
        error = f"cannot connect to {settings.smtp_host}:{settings.smtp_port}: {exc}"[:500]
        return [Outcome(letter, error) for letter in letters]
    try:
        for index, letter in enumerate(letters):
            try:
                outcomes.append(_send_one(smtp, letter, settings.mail_from))
            except (OSError, smtplib.SMTPException) as exc:
                # The connection broke: this mail and the rest of the batch wait for the next
                # attempt (the server may or may not have taken this one; see Message-ID).
                error = f"connection lost: {type(exc).__name__}: {exc}"[:500]
                outcomes += [Outcome(rest, error) for rest in letters[index:]]
                break
    finally:
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
    return outcomes


def record(
    outcomes: Sequence[Outcome],
    now: datetime,
    settings: Settings,
    rng: Callable[[], float] = random.random,
) -> dict[str, int]:
    """Store each attempt's outcome; how many were sent, will be retried, were given up."""
    counts = dict.fromkeys(("sent", "retrying", "failed"), 0)
    if not outcomes:
        return counts
    with transaction() as session:
        for outcome in outcomes:
            letter = outcome.letter
            values: dict[str, Any]
            if outcome.error is None:
                values = {"sent_at": now, "next_attempt_at": None, "last_error": None}
                counts["sent"] += 1
            elif outcome.permanent or letter.number >= settings.mail_max_attempts:
                values = {"next_attempt_at": None, "last_error": outcome.error}
                counts["failed"] += 1
            else:
                wait = backoff_seconds(
                    letter.number,
                    base=settings.mail_backoff_base_s,
                    cap=settings.mail_backoff_cap_s,
                    rng=rng,
                )
                values = {
                    "next_attempt_at": now + timedelta(seconds=wait),
                    "last_error": outcome.error,
                }
                counts["retrying"] += 1
            session.execute(
                update(OutgoingMail)
                .where(OutgoingMail.id == letter.id, OutgoingMail.attempts == letter.number)
                .values(**values)
            )
    return counts


def waiting(now: datetime | None = None) -> int:
    """Mails not sent and not given up (due now or later)."""
    with reading() as session:
        query = select(func.count()).where(OutgoingMail.next_attempt_at.is_not(None))
        if now is not None:
            query = query.where(OutgoingMail.next_attempt_at <= now)
        return int(session.scalar(query) or 0)


def deliver_due(
    now: datetime | None = None,
    *,
    settings: Settings | None = None,
    budget_s: float = RUN_BUDGET_S,
) -> dict[str, Any]:
    """Send due mails in batches until none is due or the run's time budget is spent. `now`
    may be in the future (tests, a catch-up run): the clock starts there."""
    settings = settings or get_settings()
    offset = (now or utcnow()) - utcnow()

    def clock() -> datetime:
        return utcnow() + offset

    if not settings.smtp_host:
        return {"sent": 0, "queued": waiting(), "note": NO_HOST}
    # A batch's worst case: connecting, then each mail, each within the timeout.
    lease = timedelta(seconds=settings.smtp_timeout_s * (BATCH + 3)) + LEASE_MARGIN
    totals = {"attempts": 0, "sent": 0, "retrying": 0, "failed": 0}
    started = time.monotonic()
    while time.monotonic() - started < budget_s:
        batch = claim(clock(), BATCH, lease)
        if not batch:
            break
        outcomes = send(batch, settings)
        totals["attempts"] += len(outcomes)
        for state, count in record(outcomes, clock(), settings).items():
            totals[state] += count
    return totals
