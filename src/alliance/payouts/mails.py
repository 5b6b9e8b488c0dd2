"""The mails a payout sends to the partner's team: made, held (why), paid, failed (why; the
money is back in the balance). Queued in the transaction that changes the payout, each in its
reader's language (mail/recipients.py); a partner with no users yet gets them at its contact
address (`partners.email`), a partner with neither gets none."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.mail import outbox, recipients
from alliance.mail.models import MailKind
from alliance.payouts.models import Payout
from alliance.settings import get_settings

PAYOUTS_PATH = "/partner/payouts"
SETTINGS_PATH = "/partner/payouts/settings"


def _url(path: str) -> str:
    return get_settings().public_url.rstrip("/") + path


def _send(session: Session, payout: Payout, kind: MailKind, **values: Any) -> int:
    partner = session.get(Partner, payout.partner_id)
    if partner is None:
        return 0
    found = recipients.of_partner(session, partner)
    outbox.queue_all(
        session,
        found,
        kind,
        about=payout.id,
        partner=partner.name,
        currency=payout.currency,
        start=payout.period_start,
        end=payout.period_end,
        **values,
    )
    return len(found)


def _transferred(payout: Payout) -> Decimal:
    """What reaches the partner: the payout and the VAT transferred on top (domestic VAT)."""
    return payout.amount + (payout.vat_amount or Decimal(0))


def payout_created(session: Session, payout: Payout) -> int:
    return _send(
        session,
        payout,
        MailKind.payout_created,
        amount=_transferred(payout),
        invoice=payout.invoice_number,
        link=_url(f"{PAYOUTS_PATH}/{payout.id}"),
    )


def payout_held(session: Session, payout: Payout) -> int:
    """`payout.hold_reason` is the service's English; the template tells each reason in the
    reader's language (web/payouts_common.py, the table the pages use)."""
    return _send(
        session,
        payout,
        MailKind.payout_held,
        amount=payout.amount,
        hold_reason=payout.hold_reason or "",
        link=_url(SETTINGS_PATH),
    )


def payout_paid(session: Session, payout: Payout) -> int:
    assert payout.paid_at is not None
    return _send(
        session,
        payout,
        MailKind.payout_paid,
        amount=_transferred(payout),
        paid=payout.paid_at.date(),
        link=_url(f"{PAYOUTS_PATH}/{payout.id}"),
    )


def payout_failed(session: Session, payout: Payout) -> int:
    return _send(
        session,
        payout,
        MailKind.payout_failed,
        amount=_transferred(payout),
        reason=payout.failure_reason or "",
        link=_url(SETTINGS_PATH),
    )
