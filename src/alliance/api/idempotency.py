"""`Idempotency-Key` on mutating API calls (POST, PUT, PATCH, DELETE under /api/v1).

Stripe's semantics. A key belongs to the calling API key (a hash of it; never the key itself),
the method and the path, so two accounts may use the same string. The first request with a
key claims it in its own committed transaction, runs, and stores its answer (status,
content type, body). A retry of the same request (same method, path, query and body) gets
that answer byte for byte with `Idempotent-Replayed: true`; the same key on another request
is 422; a retry while the first still runs is 409.

The claim is an INSERT on the table's primary key, so the database decides which of two
concurrent requests runs, across every server process; no in-process lock is involved.

Answers that say nothing about the request are not kept and the key is released, so a retry
runs again: 5xx (and an exception), 401 (the caller is not authenticated: nothing of theirs
to keep), 408 and 429. Every other 4xx is kept: the same request gets the same refusal.
Keys expire after `idempotency_ttl_hours`; an expired key may be used again (the claim
overwrites its row) and the purge_idempotency_keys job deletes them.

A pure ASGI middleware: it buffers the request body (to fingerprint it) and hands it on
through a replayed `receive`, and watches `send` to record the answer. The last body chunk
is held back until the answer is stored, so a client that has its answer can retry at once
and be replayed. Database calls run in worker threads, off the event loop.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any, cast

import anyio
import anyio.to_thread
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastapi import FastAPI
from sqlalchemy import CursorResult, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from alliance.accounts.service import hash_key
from alliance.api.idempotency_models import IdempotencyKey, IdempotencyStatus
from alliance.api.problems import problem_response
from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.errors import AllianceError, Conflict, InvalidInput, PayloadTooLarge
from alliance.settings import get_settings

log = logging.getLogger(__name__)

HEADER = "Idempotency-Key"
REPLAYED_HEADER = b"idempotent-replayed"
API_PREFIX = "/api/v1"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
MAX_KEY_LENGTH = 255
# Answers not kept: the key is released and a retry runs again.
NOT_KEPT = frozenset({401, 408, 429})
PURGE_BATCH = 1000
# A claim that finds the key released between its INSERT and its look-up tries again.
_CLAIM_ATTEMPTS = 3


# --- the request's identity --------------------------------------------------------------


def _digest(*parts: bytes) -> str:
    """sha256 over length-prefixed parts (so no two different tuples hash alike)."""
    h = hashlib.sha256()
    for part in parts:
        h.update(len(part).to_bytes(8, "big"))
        h.update(part)
    return h.hexdigest()


def _utf8(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who sent what: the key's scope and the request's fingerprint."""

    caller_hash: str
    method: str
    path: str
    key: str
    fingerprint: str
    # Encrypts the stored answer (see `sealing_key`); empty only in unit tests of the store.
    seal_key: bytes = b""

    @property
    def scope_hash(self) -> str:
        return _digest(
            self.caller_hash.encode(), self.method.encode(), _utf8(self.path), self.key.encode()
        )


def fingerprint(method: str, path: str, query: bytes, body: bytes) -> str:
    return _digest(method.encode(), _utf8(path), query, body)


# --- stored answers are sealed ------------------------------------------------------------
#
# A stored answer can hold a secret: POST /advertisers answers the new account's API key, the
# one answer a client must not lose and so exactly the one worth replaying. api_keys keeps
# only hashes; this table must not keep the key in clear for a day. So every stored body is
# encrypted (AES-256-GCM) under a key derived from the caller's own bearer token and the
# server's secret key: only a request bearing that token can read it back, and a copy of the
# database alone reveals nothing. The scope hash is the associated data, so a sealed answer
# cannot be moved to another key's row.

_SEAL_VERSION = b"s1"
_NONCE_BYTES = 12


def sealing_key(bearer_token: str) -> bytes:
    secret = get_settings().secret_key.encode()
    return hmac.new(secret, b"idempotency-answer:" + bearer_token.encode(), hashlib.sha256).digest()


def seal(key: bytes, scope_hash: str, body: bytes) -> bytes:
    nonce = os.urandom(_NONCE_BYTES)
    return _SEAL_VERSION + nonce + AESGCM(key).encrypt(nonce, body, scope_hash.encode())


def unseal(key: bytes, scope_hash: str, sealed: bytes) -> bytes | None:
    """The answer, or None if it cannot be read (another server secret, a damaged row)."""
    head = len(_SEAL_VERSION)
    if not sealed.startswith(_SEAL_VERSION) or len(sealed) < head + _NONCE_BYTES:
        return None
    nonce, ciphertext = sealed[head : head + _NONCE_BYTES], sealed[head + _NONCE_BYTES :]
    try:
        return AESGCM(key).decrypt(nonce, ciphertext, scope_hash.encode())
    except InvalidTag:
        return None


def bearer_token(authorization: str) -> str | None:
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def caller_hash(authorization: str) -> str | None:
    """The hash of a bearer token, as `api_keys.key_hash` holds it; None without one."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return hash_key(token.strip())


def parse_key(values: list[bytes]) -> str | None:
    """The key if it is one header of 1-255 printable ASCII characters, else None."""
    if len(values) != 1:
        return None
    raw = values[0]
    if not 1 <= len(raw) <= MAX_KEY_LENGTH or any(b < 0x20 or b > 0x7E for b in raw):
        return None
    return raw.decode("ascii")


# --- the store ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Claimed:
    """This request holds the key: run it, then store or release."""

    token: str


@dataclass(frozen=True, slots=True)
class Stored:
    """The first request's answer."""

    status: int
    content_type: str | None
    body: bytes


@dataclass(frozen=True, slots=True)
class InProgress:
    """The first request with this key has not finished."""


@dataclass(frozen=True, slots=True)
class Mismatch:
    """The key was used with another request."""


Outcome = Claimed | Stored | InProgress | Mismatch


def claim(who: Identity, now: datetime, ttl: timedelta) -> Outcome:
    """Claim the key (committed before the request runs), or say why not."""
    token = secrets.token_hex(16)
    values: dict[str, Any] = {
        "caller_hash": who.caller_hash,
        "method": who.method,
        "path": who.path.encode("utf-8", "replace").decode("utf-8")[:2048],
        "key": who.key,
        "fingerprint": who.fingerprint,
        "claim": token,
        "status": IdempotencyStatus.in_progress.value,
        "response_status": None,
        "response_content_type": None,
        "response_body": None,
        "created_at": now,
        "finished_at": None,
        "expires_at": now + ttl,
    }
    scope = who.scope_hash
    for _ in range(_CLAIM_ATTEMPTS):
        with transaction() as session:
            try:
                with session.begin_nested():
                    session.execute(insert(IdempotencyKey).values(scope_hash=scope, **values))
                return Claimed(token)
            except IntegrityError:
                pass  # the key exists: the unique index decided, whichever process we are in
            # An expired key is free again: overwrite it (one UPDATE, so only one taker wins).
            taken = session.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.scope_hash == scope, IdempotencyKey.expires_at <= now)
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            if cast(CursorResult[Any], taken).rowcount == 1:
                return Claimed(token)
            row = session.execute(
                select(
                    IdempotencyKey.fingerprint,
                    IdempotencyKey.status,
                    IdempotencyKey.response_status,
                    IdempotencyKey.response_content_type,
                    IdempotencyKey.response_body,
                ).where(IdempotencyKey.scope_hash == scope)
            ).first()
        if row is None:
            continue  # released (a 5xx) between the INSERT and the look-up: try again
        if row.fingerprint != who.fingerprint:
            return Mismatch()
        if row.status != IdempotencyStatus.done or row.response_status is None:
            return InProgress()
        body = unseal(who.seal_key, scope, row.response_body or b"")
        if body is None:
            # Only if the server's secret key changed since: the answer exists but cannot be
            # given back, and running the request again could do it twice.
            log.warning("idempotency key %s: stored answer unreadable", scope)
            return InProgress()
        return Stored(row.response_status, row.response_content_type, body)
    return InProgress()


def store(scope_hash: str, token: str, answer: Stored, now: datetime, seal_key: bytes) -> bool:
    """Keep the answer; False if the claim was lost (expired and taken, or purged)."""
    with transaction() as session:
        result = session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.scope_hash == scope_hash, IdempotencyKey.claim == token)
            .values(
                status=IdempotencyStatus.done.value,
                response_status=answer.status,
                response_content_type=answer.content_type,
                response_body=seal(seal_key, scope_hash, answer.body),
                finished_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return cast(CursorResult[Any], result).rowcount == 1


def release(scope_hash: str, token: str) -> None:
    """Forget the claim, so a retry runs the request again."""
    with transaction() as session:
        session.execute(
            delete(IdempotencyKey)
            .where(IdempotencyKey.scope_hash == scope_hash, IdempotencyKey.claim == token)
            .execution_options(synchronize_session=False)
        )


def purge_expired(now: datetime, batch: int = PURGE_BATCH) -> int:
    """Delete expired keys, a batch per transaction (short write locks); returns the count."""
    deleted = 0
    while True:
        with transaction() as session:
            expired = (
                select(IdempotencyKey.scope_hash)
                .where(IdempotencyKey.expires_at <= now)
                .limit(batch)
                .scalar_subquery()
            )
            result = session.execute(
                delete(IdempotencyKey)
                .where(IdempotencyKey.scope_hash.in_(expired))
                .execution_options(synchronize_session=False)
            )
        count = cast(CursorResult[Any], result).rowcount
        deleted += count
        if count < batch:
            return deleted


# --- the middleware ----------------------------------------------------------------------


def install(app: FastAPI) -> None:
    """Wrap the API in the middleware and document the header on every mutating operation.

    Installed inside FastAPI's error handler: an exception raised by an endpoint passes
    through the middleware (which releases the key) before it becomes a 500.
    """
    app.add_middleware(IdempotencyMiddleware)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in schema.get("paths", {}).items():
                if not path.startswith(API_PREFIX):
                    continue
                for method, operation in operations.items():
                    if method.upper() in MUTATING:
                        operation.setdefault("parameters", []).append(OPENAPI_PARAMETER)
        return app.openapi_schema or generate()

    app.openapi = openapi  # type: ignore[method-assign]


OPENAPI_PARAMETER: dict[str, Any] = {
    "name": HEADER,
    "in": "header",
    "required": False,
    "description": (
        "Makes a retry safe: the same key with the same request returns the first answer "
        "(with `Idempotent-Replayed: true`) and does nothing again; with another request it "
        "is 422, and while the first request still runs 409. Keys belong to the API key, "
        "method and path, and are kept for 24 hours (ALLIANCE_IDEMPOTENCY_TTL_HOURS)."
    ),
    "schema": {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
}


def _problem(error: AllianceError, path: str, **headers: str) -> ASGIApp:
    response = problem_response(error.status, error.problem(path))
    response.headers.update(headers)
    return response


def _invalid_key(path: str) -> ASGIApp:
    error = AllianceError(
        f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters, sent once",
        field=HEADER,
        reason="invalid_idempotency_key",
    )
    return _problem(error, path)


def _mismatch(path: str) -> ASGIApp:
    error = InvalidInput(
        f"this {HEADER} was already used with another request (a different method, path, "
        "query or body); use a new key for a new request",
        field=HEADER,
        reason="idempotency_key_reused",
    )
    return _problem(error, path)


def _in_progress(path: str) -> ASGIApp:
    error = Conflict(
        f"a request with this {HEADER} is still being processed; retry shortly",
        field=HEADER,
        reason="idempotency_key_in_progress",
    )
    return _problem(error, path, **{"Retry-After": "1"})


async def _replay(answer: Stored, send: Send) -> None:
    headers = [(REPLAYED_HEADER, b"true")]
    if answer.content_type is not None:
        headers.append((b"content-type", answer.content_type.encode("latin-1")))
    if answer.status >= 200 and answer.status not in (204, 304):
        headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body, "more_body": False})


def _header(scope: Scope, name: bytes) -> list[bytes]:
    return [value for key, value in scope["headers"] if key.lower() == name]


@dataclass(slots=True)
class _Recorder:
    status: int = 0
    content_type: str | None = None
    chunks: list[bytes] = field(default_factory=list)

    def answer(self) -> Stored:
        return Stored(self.status, self.content_type, b"".join(self.chunks))

    def keepable(self) -> bool:
        return (
            200 <= self.status < 500
            and self.status not in NOT_KEPT
            and (self.content_type is None or len(self.content_type) <= 255)
        )


class IdempotencyMiddleware:
    """Wraps the API app; see the module docstring."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or scope["method"] not in MUTATING
            or not (scope["path"] == API_PREFIX or scope["path"].startswith(API_PREFIX + "/"))
        ):
            await self.app(scope, receive, send)
            return
        values = _header(scope, b"idempotency-key")
        if not values:
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        key = parse_key(values)
        if key is None:
            await _invalid_key(path)(scope, receive, send)
            return
        authorization = _header(scope, b"authorization")
        token = bearer_token(authorization[0].decode("latin-1")) if authorization else None
        caller = hash_key(token) if token else None
        if caller is None or token is None:
            # No bearer token: the API refuses the request (401) and there is no caller to
            # scope the key to; nothing is stored for anonymous requests.
            await self.app(scope, receive, send)
            return

        try:
            body = await _read_body(receive)
        except _TooLarge:
            await _too_large(path)(scope, receive, send)
            return
        if body is None:
            return  # the client went away before sending its body
        method: str = scope["method"]
        who = Identity(
            caller_hash=caller,
            method=method,
            path=path,
            key=key,
            fingerprint=fingerprint(method, path, scope.get("query_string", b""), body),
            seal_key=sealing_key(token),
        )
        ttl = timedelta(hours=get_settings().idempotency_ttl_hours)
        outcome = await anyio.to_thread.run_sync(partial(claim, who, utcnow(), ttl))
        if isinstance(outcome, Stored):
            await _replay(outcome, send)
        elif isinstance(outcome, Mismatch):
            await _mismatch(path)(scope, receive, send)
        elif isinstance(outcome, InProgress):
            await _in_progress(path)(scope, receive, send)
        else:
            await self._run(scope, body, receive, send, who, outcome.token)

    async def _run(
        self, scope: Scope, body: bytes, receive: Receive, send: Send, who: Identity, token: str
    ) -> None:
        """Run the claimed request; keep its answer or release the key."""
        scope_hash = who.scope_hash
        recorder = _Recorder()
        settled = False
        body_given = False

        async def replayed_receive() -> Message:
            nonlocal body_given
            if not body_given:
                body_given = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()  # http.disconnect, when the client goes away

        async def settle() -> None:
            nonlocal settled
            settled = True
            try:
                if recorder.keepable():
                    answer = recorder.answer()
                    if not await anyio.to_thread.run_sync(
                        partial(store, scope_hash, token, answer, utcnow(), who.seal_key)
                    ):
                        log.warning("idempotency key %s: claim lost before storing", scope_hash)
                else:
                    await anyio.to_thread.run_sync(partial(release, scope_hash, token))
            except Exception:
                # The request ran and its answer stands: give it to the client. The key stays
                # in progress (a retry gets 409) rather than run the request a second time.
                log.exception("idempotency key %s: could not store the answer", scope_hash)

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                recorder.status = int(message["status"])
                types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
                recorder.content_type = types[0].decode("latin-1") if types else None
            elif message["type"] == "http.response.body" and not settled:
                recorder.chunks.append(bytes(message.get("body", b"")))
                if not message.get("more_body", False):
                    # Stored before the client sees the end of it: a retry sent the moment
                    # the answer arrives is replayed, never told "in progress".
                    await settle()
            await send(message)

        try:
            await self.app(scope, replayed_receive, recording_send)
        finally:
            if not settled:
                # The app raised (or was cancelled) before answering in full: release the key.
                with anyio.CancelScope(shield=True):
                    try:
                        await anyio.to_thread.run_sync(partial(release, scope_hash, token))
                    except Exception:
                        log.exception("idempotency key %s: could not release", scope_hash)


# The middleware must hold a keyed request's body to fingerprint it, before the API has
# checked the caller: past this size (above every endpoint's own limit, 20 MB uploads) the
# request is refused rather than buffered, so a made-up token cannot make us hold gigabytes.
MAX_KEYED_BODY = 32 * 1024 * 1024


class _TooLarge(Exception):
    pass


async def _read_body(receive: Receive) -> bytes | None:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        if message["type"] == "http.request":
            chunk = bytes(message.get("body", b""))
            size += len(chunk)
            if size > MAX_KEYED_BODY:
                raise _TooLarge
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


def _too_large(path: str) -> ASGIApp:
    error = PayloadTooLarge(
        f"a request with an {HEADER} may carry at most {MAX_KEYED_BODY} bytes", field="body"
    )
    return _problem(error, path)
