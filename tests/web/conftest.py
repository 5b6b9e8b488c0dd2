"""Dashboard tests: a real server on 127.0.0.1 and users who sign in through /login.

`sign_in(server, account_id, role)` creates a user on that account (directly through the
accounts service, as `alliance create-user` does) and returns an httpx client holding its
session cookie; `form(client, path)` reads a page's CSRF token for the next POST.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts import people
from alliance.accounts.users import Role, User
from alliance.db.engine import transaction
from tests.conftest import Server

PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, "the page has no form with a CSRF token"
    return found.group(1)


def new_user(account_id: str, role: Role = Role.owner, email: str | None = None) -> str:
    """A user on `account_id`; returns the e-mail. The password is PASSWORD."""
    email = email or f"user-{uuid.uuid4().hex[:10]}@example.com"
    with transaction() as session:
        user = session.scalar(select(User).where(User.email == email))
        if user is None:
            user = people.create_user(session, email, PASSWORD, "Test User")
        people.add_membership(
            session, user.id, people.kind_of_account_id(account_id), account_id, role
        )
    return email


class Browser:
    """An httpx client that signs in and posts forms with their CSRF token, like a browser."""

    def __init__(self, base_url: str) -> None:
        self.client = httpx.Client(base_url=base_url, timeout=15, follow_redirects=False)

    def get(self, path: str, **kw: object) -> httpx.Response:
        return self.client.get(path, **kw)  # type: ignore[arg-type]

    def token(self, path: str = "/login") -> str:
        page = self.client.get(path)
        return csrf_of(page.text)

    def post(
        self,
        path: str,
        data: dict[str, object] | None = None,
        *,
        token_from: str | None = None,
        **kw: object,
    ) -> httpx.Response:
        token = self.token(token_from or ("/account" if self.signed_in else "/login"))
        body = {**(data or {}), "csrf_token": token}
        return self.client.post(path, data=body, **kw)  # type: ignore[arg-type]

    @property
    def signed_in(self) -> bool:
        return "alliance_session" in self.client.cookies

    def login(self, email: str, password: str = PASSWORD) -> httpx.Response:
        token = self.token("/login")
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token, "next": "/"}
        )

    def close(self) -> None:
        self.client.close()


@pytest.fixture()
def browser(server: Server) -> Iterator[Browser]:
    b = Browser(server.url)
    yield b
    b.close()


def signed_in(server: Server, account_id: str, role: Role = Role.owner) -> Browser:
    b = Browser(server.url)
    email = new_user(account_id, role)
    answer = b.login(email)
    assert answer.status_code == 303, answer.text
    return b
