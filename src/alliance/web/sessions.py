"""Dashboard sessions in signed cookies, CSRF tokens, and who is looking at a page.

The session cookie carries the user id, the membership (which account the user is acting
for) and when it was issued, signed with the settings' secret (itsdangerous, HMAC-SHA256) so
nothing is stored per session on the server. It is refused when it is older than
`session_hours`, or older than the user's `sessions_valid_after` ("sign out everywhere", a
password change), or when the user or the membership is gone.

CSRF: every form carries a token that must equal the one in the signed `alliance_csrf`
cookie (a signed double-submit cookie), and a cross-site Origin is refused outright. The
cookies are SameSite=Lax as well, but the token does not depend on the browser honouring it.
"""

from __future__ import annotations

import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote, urlsplit

from fastapi import Depends, Request
from fastapi.responses import Response
from itsdangerous import BadSignature, Signer, URLSafeTimedSerializer
from sqlalchemy import select

from alliance.accounts.models import AccountKind
from alliance.accounts.people import account_name, memberships_of, principal_of
from alliance.accounts.service import Principal
from alliance.accounts.users import Membership, Role, User
from alliance.clock import as_utc
from alliance.db.engine import reading
from alliance.errors import Forbidden
from alliance.settings import get_settings
from alliance.web import i18n

SESSION_COOKIE = "alliance_session"
CSRF_COOKIE = "alliance_csrf"
FLASH_COOKIE = "alliance_flash"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class SignInRequired(Exception):
    """The page needs a signed-in user; the app answers with a redirect to /login."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class CsrfRejected(Exception):
    """A form arrived without the right token or from another site."""


def _secret() -> str:
    return get_settings().secret_key


def _serializer(salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(_secret(), salt=salt)


def _secure() -> bool:
    return get_settings().public_url.startswith("https://")


def _set_cookie(response: Response, name: str, value: str, max_age: int | None) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        httponly=True,
        samesite="lax",
        secure=_secure(),
        path="/",
    )


# --- the session ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SessionData:
    user_id: str
    membership_id: str
    issued_at: float  # Unix seconds


def write_session(response: Response, user_id: str, membership_id: str) -> None:
    max_age = int(get_settings().session_hours * 3600)
    token = _serializer("alliance.session.v1").dumps(
        {"u": user_id, "m": membership_id, "t": time.time()}
    )
    _set_cookie(response, SESSION_COOKIE, token, max_age)


def clear_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path="/")


def read_session(request: Request) -> SessionData | None:
    raw = request.cookies.get(SESSION_COOKIE)
    if not raw or len(raw) > 1000:
        return None
    max_age = int(get_settings().session_hours * 3600)
    try:
        data = _serializer("alliance.session.v1").loads(raw, max_age=max_age)
        return SessionData(str(data["u"]), str(data["m"]), float(data["t"]))
    except (BadSignature, KeyError, TypeError, ValueError):
        return None


# --- CSRF -----------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """This browser's CSRF token, made (and set as a cookie by `render`) on first use."""
    known: str | None = getattr(request.state, "csrf_token", None)
    if known is not None:
        return known
    token = None
    raw = request.cookies.get(CSRF_COOKIE)
    if raw and len(raw) < 200:
        try:
            token = Signer(_secret(), salt="alliance.csrf.v1").unsign(raw).decode()
        except BadSignature:
            token = None
    if token is None:
        token = secrets.token_urlsafe(24)
        request.state.new_csrf_cookie = (
            Signer(_secret(), salt="alliance.csrf.v1").sign(token).decode()
        )
    request.state.csrf_token = token
    return token


def rotate_csrf(request: Request) -> None:
    """A new token after signing in, so a token planted before sign-in is worthless."""
    token = secrets.token_urlsafe(24)
    request.state.csrf_token = token
    request.state.new_csrf_cookie = Signer(_secret(), salt="alliance.csrf.v1").sign(token).decode()


def set_pending_cookies(request: Request, response: Response) -> None:
    cookie = getattr(request.state, "new_csrf_cookie", None)
    if cookie is not None:
        _set_cookie(response, CSRF_COOKIE, cookie, None)


def _same_origin(request: Request) -> bool:
    # Browsers send Origin with every POST; a client that sends none is not a browser being
    # tricked by another site, and still needs the token. "null" (sandboxed frames, some
    # redirects) is refused.
    origin = request.headers.get("origin")
    if origin is None:
        return True
    if origin == "null":
        return False
    host = request.headers.get("host", "")
    return urlsplit(origin).netloc == host


async def verify_csrf(request: Request) -> None:
    if not _same_origin(request):
        raise CsrfRejected()
    cookie = request.cookies.get(CSRF_COOKIE) or ""
    try:
        expected = Signer(_secret(), salt="alliance.csrf.v1").unsign(cookie).decode()
    except BadSignature:
        raise CsrfRejected() from None
    sent = request.headers.get(CSRF_HEADER)
    if sent is None:
        form = await request.form()
        value = form.get(CSRF_FIELD)
        sent = value if isinstance(value, str) else ""
    if not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRejected()


# --- flash messages -------------------------------------------------------------------------


def flash(response: Response, message: str, kind: str = "ok") -> None:
    """A one-time message shown on the next page (after a redirect)."""
    token = _serializer("alliance.flash.v1").dumps({"m": message[:500], "k": kind})
    _set_cookie(response, FLASH_COOKIE, token, 120)


def take_flash(request: Request) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or len(raw) > 2000:
        return None
    request.state.clear_flash = True
    try:
        data = _serializer("alliance.flash.v1").loads(raw, max_age=120)
        return {"message": str(data["m"]), "kind": str(data["k"])}
    except (BadSignature, KeyError, TypeError):
        return None


# --- who is looking -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AccountChoice:
    membership_id: str
    kind: str
    account_id: str
    name: str
    role: str


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user and the account they are acting for."""

    user_id: str
    email: str
    name: str
    membership_id: str
    kind: AccountKind
    account_id: str
    account_name: str
    role: Role
    accounts: tuple[AccountChoice, ...]
    locale: str | None = None  # the user's language setting; None follows the browser

    @property
    def principal(self) -> Principal:
        return Principal(self.kind, self.account_id)

    @property
    def can_write(self) -> bool:
        return self.role is not Role.read_only

    @property
    def is_owner(self) -> bool:
        return self.role is Role.owner

    @property
    def home(self) -> str:
        return f"/{self.kind.value}"

    def require_write(self) -> None:
        if not self.can_write:
            raise Forbidden("your role on this account is read-only")

    def require_owner(self) -> None:
        if not self.is_owner:
            raise Forbidden("only an owner of this account can manage its team")


def _next_path(request: Request) -> str:
    path = request.url.path
    if request.url.query:
        path += "?" + request.url.query
    return path


def load_viewer(request: Request) -> Viewer | None:
    data = read_session(request)
    if data is None:
        return None
    with reading() as session:
        user = session.get(User, data.user_id)
        if user is None or user.disabled_at is not None:
            return None
        valid_after = user.sessions_valid_after
        if valid_after is not None and as_utc(valid_after).timestamp() > data.issued_at:
            return None
        memberships = memberships_of(session, user.id)
        current = next((m for m in memberships if m.id == data.membership_id), None)
        if current is None:
            return None
        names = {
            m.id: account_name(session, m.account_kind, m.account_id) or m.account_id
            for m in memberships
        }
        return Viewer(
            user_id=user.id,
            email=user.email,
            name=user.name or user.email,
            membership_id=current.id,
            kind=principal_of(current).kind,
            account_id=current.account_id,
            account_name=names[current.id],
            role=Role(current.role),
            accounts=tuple(
                AccountChoice(m.id, m.account_kind, m.account_id, names[m.id], m.role)
                for m in memberships
            ),
            locale=user.locale,
        )


def current_viewer(request: Request) -> Viewer:
    viewer = load_viewer(request)
    if viewer is None:
        raise SignInRequired(_next_path(request))
    request.state.viewer = viewer
    i18n.use_user_setting(viewer.locale)
    return viewer


def optional_viewer(request: Request) -> Viewer | None:
    viewer = load_viewer(request)
    request.state.viewer = viewer
    if viewer is not None:
        i18n.use_user_setting(viewer.locale)
    return viewer


def _page_of(kind: AccountKind) -> Any:
    def check(viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
        if viewer.kind is not kind:
            raise Forbidden(f"this page is for {kind.value} accounts; switch account to see it")
        return viewer

    return Depends(check)


def _action_of(kind: AccountKind | None) -> Any:
    async def check(request: Request, viewer: Annotated[Viewer, Depends(current_viewer)]) -> Viewer:
        await verify_csrf(request)
        if kind is not None and viewer.kind is not kind:
            raise Forbidden(f"this action is for {kind.value} accounts")
        viewer.require_write()
        return viewer

    return Depends(check)


async def _csrf_only(request: Request) -> None:
    await verify_csrf(request)


def login_url(next_path: str) -> str:
    return "/login?next=" + quote(next_path, safe="/")


def local_path(candidate: str | None, default: str = "/") -> str:
    """Only a path on this site: never `//evil.example` or `https://…` (no open redirect)."""
    if not candidate or not candidate.startswith("/") or candidate.startswith("//"):
        return default
    if "\\" in candidate or any(ord(ch) < 32 for ch in candidate):
        return default
    return candidate


def membership_for(user_id: str, membership_id: str) -> Membership | None:
    with reading() as session:
        return session.scalar(
            select(Membership).where(Membership.id == membership_id, Membership.user_id == user_id)
        )


# Dependencies for the page modules. A GET page takes `XPage`; a POST handler takes `XAction`,
# which also checks the CSRF token and refuses read-only members.
SignedIn = Annotated[Viewer, Depends(current_viewer)]
MaybeSignedIn = Annotated[Viewer | None, Depends(optional_viewer)]
OperatorPage = Annotated[Viewer, _page_of(AccountKind.operator)]
AdvertiserPage = Annotated[Viewer, _page_of(AccountKind.advertiser)]
PartnerPage = Annotated[Viewer, _page_of(AccountKind.partner)]
OperatorAction = Annotated[Viewer, _action_of(AccountKind.operator)]
AdvertiserAction = Annotated[Viewer, _action_of(AccountKind.advertiser)]
PartnerAction = Annotated[Viewer, _action_of(AccountKind.partner)]
AnyAction = Annotated[Viewer, _action_of(None)]
CsrfChecked = Depends(_csrf_only)
