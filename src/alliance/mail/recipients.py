"""Who receives an account's mail, and in which language.

The language of a mail is its reader's: their setting (`users.locale`, the language of their
pages) when they made one; else the language of the account's country when we have it (a
German partner's contact reads German); else English. A person who follows their browser has
no stored language — a mail cannot ask their browser — so the country decides for them too.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.accounts.users import Membership, User
from alliance.web import i18n

# Countries whose main language the UI speaks. Multilingual or unlisted countries get
# English unless their people choose a language.
LANGUAGE_OF_COUNTRY: dict[str, str] = {
    **dict.fromkeys(("DE", "AT", "LI"), "de"),
    "SE": "sv",
    **dict.fromkeys(
        ("ES", "MX", "AR", "CO", "CL", "PE", "VE", "EC", "GT", "CU", "BO", "DO", "HN", "PY",
         "SV", "NI", "CR", "PA", "UY"),
        "es",
    ),
    **dict.fromkeys(("CN", "SG"), "zh_Hans"),
}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Recipient:
    address: str
    user_id: str | None  # None: not a user (an invitee, a partner's contact address)
    locale: str  # one of alliance.web.i18n.LANGUAGES


def language_for(setting: str | None, country: str | None = None) -> str:
    """The reader's setting if we have that language, else their country's, else English."""
    if setting and i18n.is_supported(setting):
        return setting
    return LANGUAGE_OF_COUNTRY.get((country or "").upper(), i18n.DEFAULT)


def team(session: Session, kind: str, account_id: str, country: str | None) -> list[Recipient]:
    """Every active user of an account, each in their language, ordered by address."""
    rows = session.execute(
        select(User.id, User.email, User.locale)
        .join(Membership, Membership.user_id == User.id)
        .where(
            Membership.account_kind == kind,
            Membership.account_id == account_id,
            User.disabled_at.is_(None),
        )
        .order_by(User.email)
    )
    return [
        Recipient(email, user_id, language_for(locale, country)) for user_id, email, locale in rows
    ]


def of_partner(session: Session, partner: Partner) -> list[Recipient]:
    """A partner's users; when it has none yet, its contact address (`partners.email`)."""
    found = team(session, "partner", partner.id, partner.country)
    if not found and partner.email:
        found = [Recipient(partner.email, None, language_for(None, partner.country))]
    return found
