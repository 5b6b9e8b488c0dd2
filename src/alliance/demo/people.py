"""The demo's people: who signs in to the dashboards, with which role on which account.

One password for every demo user, made at random for each demo build and written to
var/demo-credentials.txt beside the API keys (local demo data, never in the code).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass

from sqlalchemy.orm import Session

from alliance.accounts import people
from alliance.accounts.models import AccountKind
from alliance.accounts.users import Role


@dataclass(frozen=True, slots=True)
class DemoAccount:
    kind: AccountKind
    id: str
    name: str
    country: str | None = None


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    role: Role
    account: str  # the account's name, for the credentials file
    locale: str | None = None  # the language of their pages; None follows the browser


# The owners of accounts in these countries get their pages in the country's language, so a
# newcomer sees the localization (a Swedish advertiser, German partners); everyone else follows
# the browser. Changed on the account page like any user's setting.
LOCALE_BY_COUNTRY = {"DE": "de", "AT": "de", "CH": "de", "SE": "sv", "ES": "es", "MX": "es"}
LOCALE_BY_COUNTRY |= {"CN": "zh_Hans", "SG": "zh_Hans"}


def slug(name: str) -> str:
    """An ASCII e-mail-safe form of a name: "Fjällbloggen" → "fjallbloggen"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def add_people(session: Session, accounts: list[DemoAccount]) -> tuple[str, list[DemoUser]]:
    """An owner for every account, a read-only analyst and an agency member of two advertisers."""
    password = "demo-" + secrets.token_urlsafe(9)
    made: list[DemoUser] = []

    def user(
        email: str, name: str, account: DemoAccount, role: Role, locale: str | None = None
    ) -> str:
        # A second `alliance demo` on the same database reuses the people it made before.
        user_id = _user_id(session, email) or people.create_user(session, email, password, name).id
        people.add_membership(session, user_id, account.kind, account.id, role)
        if locale is not None:
            people.set_locale(session, user_id, locale, LOCALE_BY_COUNTRY.values())
        made.append(DemoUser(email, role, account.name, locale))
        return user_id

    advertisers = [a for a in accounts if a.kind is AccountKind.advertiser]
    for account in accounts:
        if account.kind is AccountKind.operator:
            user("ops@alliance.example", "Olivia Operator", account, Role.owner)
        elif account.kind is AccountKind.advertiser:
            user(
                f"owner@{slug(account.name)}.example",
                f"{account.name} owner",
                account,
                Role.owner,
                LOCALE_BY_COUNTRY.get(account.country or ""),
            )
        else:
            user(
                f"team@{slug(account.name)}.example",
                f"{account.name} team",
                account,
                Role.owner,
                LOCALE_BY_COUNTRY.get(account.country or ""),
            )
    if advertisers:
        first = advertisers[0]
        user(f"analyst@{slug(first.name)}.example", "Read-only analyst", first, Role.read_only)
    for account in advertisers[:2]:
        # An agency person running two advertisers' programs: the account switcher.
        user("manager@agency.example", "Agency account manager", account, Role.member)
    return password, made


def invite_colleagues(session: Session, accounts: list[DemoAccount]) -> int:
    """Owners of the first advertiser and the first two partners invite a colleague who has
    not accepted yet: the invitations are pending on their Team pages and their e-mails, in
    the inviter's language, wait in the outbox (the demo runs with no SMTP host)."""
    made = 0
    advertisers = [a for a in accounts if a.kind is AccountKind.advertiser][:1]
    partners = [a for a in accounts if a.kind is AccountKind.partner][:2]
    for account in advertisers + partners:
        domain = f"{slug(account.name)}.example"
        owner = f"{'owner' if account.kind is AccountKind.advertiser else 'team'}@{domain}"
        colleague = f"colleague@{domain}"
        inviter = _user_id(session, owner)
        if inviter is None or _user_id(session, colleague) is not None:
            continue
        if any(
            i.email == colleague
            for i in people.pending_invitations(session, account.kind.value, account.id)
        ):
            continue  # a second `alliance demo` on the same database
        people.invite(
            session,
            account.kind.value,
            account.id,
            colleague,
            Role.member,
            inviter,
            locale=LOCALE_BY_COUNTRY.get(account.country or ""),
        )
        made += 1
    return made


def _user_id(session: Session, email: str) -> str | None:
    from sqlalchemy import select

    from alliance.accounts.users import User

    return session.scalar(select(User.id).where(User.email == email))
