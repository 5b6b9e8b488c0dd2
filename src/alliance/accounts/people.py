"""Users of the dashboards: passwords, sign-in with rate limiting, memberships, invitations.

Passwords are hashed with argon2id (argon2-cffi's RFC 9106 low-memory profile); a hash made
with older parameters is upgraded at the next successful sign-in. Failed sign-ins are counted
in the database per e-mail address and per client address, so every server worker enforces
the same limit.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from alliance.accounts.mails import invitation_mail
from alliance.accounts.models import AccountKind, Advertiser, Operator, Partner
from alliance.accounts.service import Principal
from alliance.accounts.users import Invitation, LoginFailure, Membership, Role, User
from alliance.clock import as_utc, utcnow
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.settings import get_settings

_hasher = PasswordHasher()
# Verifying against this when the e-mail is unknown makes both answers take the same time,
# so response times do not tell which addresses have accounts.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))

MIN_PASSWORD = 10
# argon2 hashes any length, but a megabyte password is a cheap way to burn our CPU.
MAX_PASSWORD = 1024
MAX_EMAIL = 320


class TooManyAttempts(Exception):
    """Sign-in is locked for this address or client: try again after `retry_after` seconds."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many failed sign-ins; retry after {retry_after} s")
        self.retry_after = retry_after


class WrongCredentials(Exception):
    """The e-mail and password do not match an active user. Deliberately says no more."""


def normalize_email(raw: str) -> str:
    email = raw.strip().lower()
    local, at, domain = email.partition("@")
    if not at or not local or "." not in domain or len(email) > MAX_EMAIL or " " in email:
        raise InvalidInput("enter an e-mail address like name@example.com", field="email")
    return email


def check_password(password: str, email: str = "") -> str:
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"the password needs at least {MIN_PASSWORD} characters", field="password"
        )
    if len(password) > MAX_PASSWORD:
        raise InvalidInput(
            f"the password may have at most {MAX_PASSWORD} characters", field="password"
        )
    if email and password.strip().lower() == email:
        raise InvalidInput("the password must not be your e-mail address", field="password")
    return password


def hash_password(password: str) -> str:
    return _hasher.hash(password)


# --- accounts a membership points at --------------------------------------------------------


def account_name(session: Session, kind: str, account_id: str) -> str | None:
    found: Operator | Advertiser | Partner | None
    if kind == "operator":
        found = session.get(Operator, account_id)
    elif kind == "advertiser":
        found = session.get(Advertiser, account_id)
    elif kind == "partner":
        found = session.get(Partner, account_id)
    else:
        return None
    return None if found is None else found.name


def kind_of_account_id(account_id: str) -> AccountKind:
    prefix = account_id.split("_", 1)[0]
    for kind, key in (
        (AccountKind.operator, "operator"),
        (AccountKind.advertiser, "advertiser"),
        (AccountKind.partner, "partner"),
    ):
        if prefix == PREFIXES[key]:
            return kind
    raise InvalidInput("an account id starts with opr_, adv_ or ptn_", field="account")


# --- users and memberships ------------------------------------------------------------------


def create_user(session: Session, email: str, password: str, name: str = "") -> User:
    email = normalize_email(email)
    check_password(password, email)
    if session.scalar(select(User.id).where(User.email == email)) is not None:
        raise Conflict("a user with this e-mail address exists", field="email")
    user = User(
        id=new_id(PREFIXES["user"]),
        email=email,
        name=name.strip()[:200],
        password_hash=hash_password(password),
        created_at=utcnow(),
    )
    session.add(user)
    session.flush()
    return user


def add_membership(
    session: Session, user_id: str, kind: AccountKind, account_id: str, role: Role
) -> Membership:
    if account_name(session, kind.value, account_id) is None:
        raise NotFound(f"no such {kind.value}", field="account")
    existing = session.scalar(
        select(Membership).where(
            Membership.user_id == user_id,
            Membership.account_kind == kind.value,
            Membership.account_id == account_id,
        )
    )
    if existing is not None:
        existing.role = role.value
        return existing
    membership = Membership(
        id=new_id(PREFIXES["membership"]),
        user_id=user_id,
        account_kind=kind.value,
        account_id=account_id,
        role=role.value,
        created_at=utcnow(),
    )
    session.add(membership)
    session.flush()
    return membership


def memberships_of(session: Session, user_id: str) -> list[Membership]:
    # Operator first, then advertisers, then partners: the order of the account switcher.
    order = {"operator": 0, "advertiser": 1, "partner": 2}
    found = list(session.scalars(select(Membership).where(Membership.user_id == user_id)))
    return sorted(found, key=lambda m: (order.get(m.account_kind, 9), m.created_at, m.id))


def principal_of(membership: Membership) -> Principal:
    return Principal(AccountKind(membership.account_kind), membership.account_id)


def team_of(session: Session, kind: str, account_id: str) -> list[tuple[Membership, User]]:
    rows = session.execute(
        select(Membership, User)
        .join(User, User.id == Membership.user_id)
        .where(Membership.account_kind == kind, Membership.account_id == account_id)
        .order_by(User.email)
    )
    return [(m, u) for m, u in rows.tuples()]


def _owners(session: Session, kind: str, account_id: str) -> int:
    return int(
        session.scalar(
            select(func.count()).where(
                Membership.account_kind == kind,
                Membership.account_id == account_id,
                Membership.role == Role.owner.value,
            )
        )
        or 0
    )


def change_role(
    session: Session, kind: str, account_id: str, membership_id: str, role: Role
) -> None:
    member = _member_of(session, kind, account_id, membership_id)
    if (
        member.role == Role.owner
        and role is not Role.owner
        and _owners(session, kind, account_id) <= 1
    ):
        raise Conflict("an account keeps at least one owner", field="role")
    member.role = role.value


def remove_member(session: Session, kind: str, account_id: str, membership_id: str) -> None:
    member = _member_of(session, kind, account_id, membership_id)
    if member.role == Role.owner and _owners(session, kind, account_id) <= 1:
        raise Conflict("an account keeps at least one owner", field="membership")
    session.delete(member)


def _member_of(session: Session, kind: str, account_id: str, membership_id: str) -> Membership:
    member = session.get(Membership, membership_id)
    if member is None or member.account_kind != kind or member.account_id != account_id:
        raise NotFound("no such team member", field="membership")
    return member


def end_all_sessions(session: Session, user_id: str) -> None:
    user = session.get(User, user_id)
    if user is not None:
        user.sessions_valid_after = utcnow()


# --- sign-in with rate limiting -------------------------------------------------------------


def _throttle_key(kind: str, value: str) -> str:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, f"login:{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:48]


def _retry_after(session: Session, key: str, limit: int, now: datetime) -> int | None:
    """Seconds until `key` may try again, or None while it is under `limit` failures."""
    window = timedelta(seconds=get_settings().login_window_s)
    recent = list(
        session.scalars(
            select(LoginFailure.at)
            .where(LoginFailure.key == key, LoginFailure.at > now - window)
            .order_by(LoginFailure.at.desc())
            .limit(limit)
        )
    )
    if len(recent) < limit:
        return None
    # The oldest of the last `limit` failures must leave the window before another try.
    free_at = as_utc(recent[-1]) + window
    return max(1, math.ceil((free_at - now).total_seconds()))


@dataclass(frozen=True, slots=True)
class SignIn:
    user: User
    memberships: list[Membership]


def sign_in(session: Session, email: str, password: str, client: str) -> SignIn:
    """Check a password. Raises TooManyAttempts before checking when the limit is reached.

    The caller commits in every case: a failure is recorded and must be kept.
    """
    settings = get_settings()
    now = utcnow()
    email = email.strip().lower()[:MAX_EMAIL]
    keys = (
        (_throttle_key("email", email), settings.login_max_failures),
        (_throttle_key("ip", client), settings.login_max_failures * 4),
    )
    waits = [w for key, limit in keys if (w := _retry_after(session, key, limit, now)) is not None]
    if waits:
        raise TooManyAttempts(max(waits))

    user = session.scalar(select(User).where(User.email == email))
    ok = False
    candidate = user.password_hash if user is not None else _DUMMY_HASH
    try:
        ok = len(password) <= MAX_PASSWORD and _hasher.verify(candidate, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        ok = False
    if not ok or user is None or user.disabled_at is not None:
        for key, _ in keys:
            session.add(LoginFailure(key=key, at=now))
        raise WrongCredentials()

    # A success forgets this address's failures (not the client's: a guesser who knows one
    # password must not reset its allowance for every other address).
    session.execute(delete(LoginFailure).where(LoginFailure.key == keys[0][0]))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    return SignIn(user, memberships_of(session, user.id))


def purge_login_failures(session: Session, now: datetime) -> int:
    window = timedelta(seconds=get_settings().login_window_s)
    result = session.execute(delete(LoginFailure).where(LoginFailure.at < now - window))
    return int(getattr(result, "rowcount", 0) or 0)


def change_password(session: Session, user_id: str, current: str, new: str) -> None:
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    try:
        _hasher.verify(user.password_hash, current)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        raise InvalidInput("the current password is wrong", field="current_password") from None
    user.password_hash = hash_password(check_password(new, user.email))
    # Every other browser signed in with the old password is signed out.
    user.sessions_valid_after = utcnow()


def set_locale(
    session: Session, user_id: str, locale: str | None, supported: Iterable[str]
) -> None:
    """The user's language; None follows the browser. `supported` is the UI's languages."""
    if locale is not None and locale not in supported:
        raise InvalidInput("unsupported language", field="locale")
    user = session.get(User, user_id)
    if user is None:
        raise NotFound("no such user")
    user.locale = locale


# --- invitations ----------------------------------------------------------------------------


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogateescape")).hexdigest()


def invitation_link(token: str) -> str:
    """Where an invitation is accepted (the token is in it: shown once, mailed once)."""
    return f"{get_settings().public_url.rstrip('/')}/invitations/{token}"


def invite(
    session: Session,
    kind: str,
    account_id: str,
    email: str,
    role: Role,
    invited_by: str | None,
    *,
    locale: str | None = None,
) -> tuple[Invitation, str]:
    """Create an invitation and queue its e-mail; returns it and its token (shown once to the
    inviter too, as a link to share, for a network with no mail server). `locale` is the
    inviter's language, the mail's when the invitee has no setting of their own."""
    email = normalize_email(email)
    already = session.scalar(
        select(Membership.id)
        .join(User, User.id == Membership.user_id)
        .where(
            User.email == email,
            Membership.account_kind == kind,
            Membership.account_id == account_id,
        )
    )
    if already is not None:
        raise Conflict("this person is already on the team", field="email")
    token = secrets.token_urlsafe(32)
    now = utcnow()
    invitation = Invitation(
        id=new_id(PREFIXES["invitation"]),
        account_kind=kind,
        account_id=account_id,
        email=email,
        role=role.value,
        token_hash=_token_hash(token),
        invited_by=invited_by,
        created_at=now,
        expires_at=now + timedelta(days=get_settings().invitation_days),
    )
    session.add(invitation)
    session.flush()
    invitation_mail(session, invitation, invitation_link(token), locale=locale)
    return invitation, token


def pending_invitations(session: Session, kind: str, account_id: str) -> list[Invitation]:
    now = utcnow()
    return list(
        session.scalars(
            select(Invitation)
            .where(
                Invitation.account_kind == kind,
                Invitation.account_id == account_id,
                Invitation.accepted_at.is_(None),
                Invitation.revoked_at.is_(None),
                Invitation.expires_at > now,
            )
            .order_by(Invitation.created_at.desc())
        )
    )


def revoke_invitation(session: Session, kind: str, account_id: str, invitation_id: str) -> None:
    found = session.get(Invitation, invitation_id)
    if found is None or found.account_kind != kind or found.account_id != account_id:
        raise NotFound("no such invitation", field="invitation")
    if found.revoked_at is None:
        found.revoked_at = utcnow()


def open_invitation(session: Session, token: str) -> Invitation:
    """The invitation behind a token if it can still be accepted; 404 otherwise."""
    if not token or len(token) > 100:
        raise NotFound("this invitation link is not valid")
    found = session.scalar(select(Invitation).where(Invitation.token_hash == _token_hash(token)))
    if found is None or found.revoked_at is not None:
        raise NotFound("this invitation link is not valid")
    if found.accepted_at is not None:
        raise Conflict("this invitation has been used; sign in instead")
    if as_utc(found.expires_at) <= utcnow():
        raise Forbidden("this invitation has expired; ask for a new one")
    return found


def accept_invitation(
    session: Session, token: str, *, user_id: str | None, name: str = "", password: str = ""
) -> tuple[User, Membership]:
    """Accept as the signed-in user (whose e-mail must match) or as a new user."""
    invitation = open_invitation(session, token)
    if user_id is not None:
        user = session.get(User, user_id)
        if user is None or user.email != invitation.email:
            raise Forbidden(f"this invitation is for {invitation.email}; sign in with that address")
    else:
        existing = session.scalar(select(User).where(User.email == invitation.email))
        if existing is not None:
            raise Conflict("an account with this e-mail exists: sign in to accept", field="email")
        user = create_user(session, invitation.email, password, name)
    membership = add_membership(
        session,
        user.id,
        AccountKind(invitation.account_kind),
        invitation.account_id,
        Role(invitation.role),
    )
    invitation.accepted_at = utcnow()
    return user, membership
