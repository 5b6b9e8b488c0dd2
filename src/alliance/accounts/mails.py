"""The mail an invitation sends: the sign-in link, to the invited address, in their language.

The language is the invitee's own setting when the address already belongs to a user; else
the language the inviter was using (`locale`: an owner inviting a colleague writes to them in
the language they work in); else the account's country's; else English (mail/recipients.py).
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Operator, Partner
from alliance.accounts.users import Invitation, User
from alliance.mail import outbox
from alliance.mail.models import MailKind, OutgoingMail
from alliance.mail.recipients import Recipient, language_for


def _account(session: Session, kind: str, account_id: str) -> tuple[str, str | None]:
    """(name, country) of the account an invitation is for."""
    if kind == "advertiser":
        advertiser = session.get(Advertiser, account_id)
        if advertiser is not None:
            return advertiser.name, advertiser.country
    elif kind == "partner":
        partner = session.get(Partner, account_id)
        if partner is not None:
            return partner.name, partner.country
    operator = session.get(Operator, account_id) if kind == "operator" else None
    return (operator.name if operator is not None else account_id), None


def invitation_mail(
    session: Session, invitation: Invitation, link: str, *, locale: str | None
) -> OutgoingMail:
    """Queue the invitation's e-mail in the caller's transaction."""
    account, country = _account(session, invitation.account_kind, invitation.account_id)
    invitee = session.scalar(select(User).where(User.email == invitation.email))
    inviter = session.get(User, invitation.invited_by) if invitation.invited_by else None
    setting = (invitee.locale if invitee is not None else None) or locale
    recipient = Recipient(
        invitation.email,
        invitee.id if invitee is not None else None,
        language_for(setting, country),
    )
    return outbox.queue(
        session,
        recipient,
        MailKind.invitation,
        about=invitation.id,
        account=account,
        inviter=(inviter.name or inviter.email) if inviter is not None else "",
        role=invitation.role,
        link=link,
        expires=invitation.expires_at.date(),
    )
