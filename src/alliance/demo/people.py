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


@dataclass(frozen=True, slots=True)
class DemoUser:
    email: str
    role: Role
    account: str  # the account's name, for the credentials file


def slug(name: str) -> str:
    """An ASCII e-mail-safe form of a name: "Fjällbloggen" → "fjallbloggen"."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")


def add_people(session: Session, accounts: list[DemoAccount]) -> tuple[str, list[DemoUser]]:
    """An owner for every account, a read-only analyst and an agency member of two advertisers."""
    password = "demo-" + secrets.token_urlsafe(9)
    made: list[DemoUser] = []

    def user(email: str, name: str, account: DemoAccount, role: Role) -> str:
        # A second `alliance demo` on the same database reuses the people it made before.
        user_id = _user_id(session, email) or people.create_user(session, email, password, name).id
        people.add_membership(session, user_id, account.kind, account.id, role)
        made.append(DemoUser(email, role, account.name))
        return user_id

    advertisers = [a for a in accounts if a.kind is AccountKind.advertiser]
    for account in accounts:
        if account.kind is AccountKind.operator:
            user("ops@alliance.example", "Olivia Operator", account, Role.owner)
        elif account.kind is AccountKind.advertiser:
            user(
                f"owner@{slug(account.name)}.example", f"{account.name} owner", account, Role.owner
            )
        else:
            user(f"team@{slug(account.name)}.example", f"{account.name} team", account, Role.owner)
    if advertisers:
        first = advertisers[0]
        user(f"analyst@{slug(first.name)}.example", "Read-only analyst", first, Role.read_only)
    for account in advertisers[:2]:
        # An agency person running two advertisers' programs: the account switcher.
        user("manager@agency.example", "Agency account manager", account, Role.member)
    return password, made


def _user_id(session: Session, email: str) -> str | None:
    from sqlalchemy import select

    from alliance.accounts.users import User

    return session.scalar(select(User.id).where(User.email == email))
