"""Queueing mails inside the caller's transaction (a transactional outbox, like
notifications/outbox.py for webhooks): the change and its mails commit or roll back together,
so a rolled-back change sends nothing and a committed one is never left untold. Nothing here
talks to the network; the `deliver_mail` job does, later (delivery.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.ids import new_id
from alliance.mail.models import MAIL_PREFIX, MailKind, OutgoingMail
from alliance.mail.recipients import Recipient
from alliance.mail.render import render

SUBJECT_MAX = 300


def queue(
    session: Session,
    recipient: Recipient,
    kind: MailKind,
    *,
    about: str | None = None,
    **values: Any,
) -> OutgoingMail:
    """Render the `kind` template in the recipient's language and queue it for sending now."""
    rendered = render(f"{kind.value}.txt", recipient.locale, **values)
    now = utcnow()
    mail = OutgoingMail(
        id=new_id(MAIL_PREFIX),
        to_address=recipient.address,
        user_id=recipient.user_id,
        locale=rendered.locale,
        kind=kind.value,
        about=about,
        subject=rendered.subject[:SUBJECT_MAX],
        text_body=rendered.text,
        html_body=None,
        created_at=now,
        attempts=0,
        next_attempt_at=now,
    )
    session.add(mail)
    return mail


def queue_all(
    session: Session,
    recipients: list[Recipient],
    kind: MailKind,
    *,
    about: str | None = None,
    **values: Any,
) -> list[OutgoingMail]:
    """One mail per recipient, each in their own language."""
    return [queue(session, r, kind, about=about, **values) for r in recipients]
