"""Creating accounts and API keys; resolving a key to the principal it speaks for."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import (
    AccountKind,
    Advertiser,
    ApiKey,
    Operator,
    Partner,
    ServiceLevel,
)
from alliance.clock import utcnow
from alliance.errors import InvalidInput, NotAuthenticated
from alliance.ids import PREFIXES, new_id


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: one account of one kind."""

    kind: AccountKind
    id: str

    @property
    def is_operator(self) -> bool:
        return self.kind is AccountKind.operator

    @property
    def is_advertiser(self) -> bool:
        return self.kind is AccountKind.advertiser

    @property
    def is_partner(self) -> bool:
        return self.kind is AccountKind.partner


_KEY_PREFIX = {
    AccountKind.operator: "alo",
    AccountKind.advertiser: "ala",
    AccountKind.partner: "alp",
}


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


def issue_api_key(
    session: Session, kind: AccountKind, owner_id: str, label: str = "default"
) -> str:
    """Create a key for an account and return it. Only its hash is kept."""
    key = f"{_KEY_PREFIX[kind]}_{secrets.token_urlsafe(32)}"
    session.add(
        ApiKey(
            id=new_id(PREFIXES["api_key"]),
            owner_kind=kind.value,
            owner_id=owner_id,
            key_hash=hash_key(key),
            hint=key[:10],
            label=label,
        )
    )
    return key


def authenticate(session: Session, key: str) -> Principal:
    if not key or len(key) > 200:
        raise NotAuthenticated("a valid API key is required: Authorization: Bearer <key>")
    row = session.execute(
        select(ApiKey.owner_kind, ApiKey.owner_id).where(
            ApiKey.key_hash == hash_key(key), ApiKey.revoked_at.is_(None)
        )
    ).first()
    if row is None:
        raise NotAuthenticated("unknown or revoked API key")
    return Principal(AccountKind(row.owner_kind), row.owner_id)


def create_operator(session: Session, name: str, email: str | None = None) -> tuple[Operator, str]:
    operator = Operator(
        id=new_id(PREFIXES["operator"]), name=name, email=email, created_at=utcnow()
    )
    session.add(operator)
    session.flush()
    return operator, issue_api_key(session, AccountKind.operator, operator.id)


def create_advertiser(session: Session, **fields: object) -> tuple[Advertiser, str]:
    advertiser = Advertiser(id=new_id(PREFIXES["advertiser"]), created_at=utcnow(), **fields)
    session.add(advertiser)
    session.flush()
    return advertiser, issue_api_key(session, AccountKind.advertiser, advertiser.id)


def create_partner(session: Session, **fields: object) -> tuple[Partner, str]:
    partner = Partner(id=new_id(PREFIXES["partner"]), created_at=utcnow(), **fields)
    session.add(partner)
    session.flush()
    return partner, issue_api_key(session, AccountKind.partner, partner.id)


# --- account managers (the operator's dashboard) ---------------------------------------------


def _operator(session: Session, operator_id: str | None, field: str) -> str | None:
    if operator_id is None:
        return None
    if session.get(Operator, operator_id) is None:
        raise InvalidInput(f"no operator {operator_id[:40]!r}", field=field)
    return operator_id


def manage_advertiser(
    session: Session,
    advertiser: Advertiser,
    *,
    service_level: ServiceLevel,
    account_manager_id: str | None,
    acting_operator_id: str,
) -> Advertiser:
    """Set an advertiser's service level and account manager.

    The rule of POST /advertisers holds here too: a managed advertiser always has a manager,
    the one named or else the operator making the change.
    """
    manager = _operator(session, account_manager_id, "account_manager_id")
    if manager is None and service_level is ServiceLevel.managed:
        manager = acting_operator_id
    advertiser.service_level = service_level.value
    advertiser.account_manager_id = manager
    session.flush()
    return advertiser


def manage_partner(
    session: Session, partner: Partner, *, account_manager_id: str | None
) -> Partner:
    """Set (or clear, with None) the operator who looks after a partner."""
    partner.account_manager_id = _operator(session, account_manager_id, "account_manager_id")
    session.flush()
    return partner
