"""Request dependencies: the calling principal and database sessions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Header
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal, authenticate
from alliance.db.engine import reading
from alliance.errors import Forbidden, NotAuthenticated


def read_session() -> Iterator[Session]:
    with reading() as session:
        yield session


def principal(authorization: Annotated[str | None, Header()] = None) -> Principal:
    if not authorization:
        raise NotAuthenticated("missing Authorization: Bearer <api key>", field="Authorization")
    scheme, _, key = authorization.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise NotAuthenticated("use Authorization: Bearer <api key>", field="Authorization")
    with reading() as session:
        return authenticate(session, key.strip())


def require(*kinds: AccountKind) -> object:
    """A dependency that admits only the given account kinds."""

    def check(who: Annotated[Principal, Depends(principal)]) -> Principal:
        if who.kind not in kinds:
            allowed = " or ".join(k.value for k in kinds)
            raise Forbidden(f"this action needs an {allowed} API key")
        return who

    return Depends(check)


# Writes are not a dependency on purpose: an endpoint that writes opens
# `with transaction() as session:` in its body, so the commit happens before the answer is
# built and a failed commit can never be answered as a success.
ReadDB = Annotated[Session, Depends(read_session)]
Caller = Annotated[Principal, Depends(principal)]


# Who may call an endpoint, by account kind: the aliases every router uses.
Anyone = Annotated[
    Principal, require(AccountKind.operator, AccountKind.advertiser, AccountKind.partner)
]
Manager = Annotated[Principal, require(AccountKind.operator, AccountKind.advertiser)]
PartnerOnly = Annotated[Principal, require(AccountKind.partner)]
OperatorOnly = Annotated[Principal, require(AccountKind.operator)]
