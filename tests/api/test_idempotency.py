"""Idempotency-Key on mutating API calls: replays, refusals, concurrency, expiry and purge.

Most tests drive the real server. A few run the middleware in-process around a small app
whose endpoint fails on demand (5xx, exceptions, an endpoint held mid-flight): the real API
has no endpoint that fails on purpose. Both use the test database.
"""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import anyio
import httpx
import pytest
from fastapi import FastAPI, Response
from sqlalchemy import select, update

from alliance.accounts.models import Advertiser
from alliance.accounts.service import create_operator
from alliance.api import idempotency
from alliance.api.idempotency import (
    Identity,
    caller_hash,
    fingerprint,
    parse_key,
    purge_expired,
)
from alliance.api.idempotency_models import IdempotencyKey
from alliance.api.problems import install_problem_handlers
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.jobs import tasks
from tests.api.factories import API, auth, expect, make_advertiser, unique
from tests.conftest import Server

ADVERTISERS = f"{API}/advertisers"


def new_key() -> str:
    return f"test-{uuid.uuid4()}"


def with_key(api_key: str, idempotency_key: str) -> dict[str, str]:
    return {**auth(api_key), "Idempotency-Key": idempotency_key}


def advertiser_body(name: str | None = None) -> dict[str, str]:
    return {"name": name or unique("Shop"), "country": "SE", "currency": "SEK"}


def listed_advertisers(http: httpx.Client, operator_key: str, name: str) -> list[dict[str, Any]]:
    """Every advertiser of that name, walking all pages of GET /advertisers."""
    found: list[dict[str, Any]] = []
    params: dict[str, Any] = {"limit": 200}
    while True:
        page = expect(http.get(ADVERTISERS, params=params, headers=auth(operator_key)), 200)
        found += [a for a in page["data"] if a["name"] == name]
        if not page["next_cursor"]:
            return found
        params["cursor"] = page["next_cursor"]


def stored_rows(key: str) -> list[IdempotencyKey]:
    with reading() as session:
        rows = list(session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == key)))
        session.expunge_all()  # keep the loaded values past the session's rollback
        return rows


def assert_problem(response: httpx.Response, status: int, reason: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["field"] == "Idempotency-Key"
    assert problem["reason"] == reason
    return problem


# --- against the real server -------------------------------------------------------------


def test_a_retry_replays_the_first_answer_and_creates_nothing_more(
    http: httpx.Client, operator_key: str
) -> None:
    body, key = advertiser_body(), new_key()
    first = http.post(ADVERTISERS, json=body, headers=with_key(operator_key, key))
    second = http.post(ADVERTISERS, json=body, headers=with_key(operator_key, key))
    assert first.status_code == second.status_code == 201
    assert "idempotent-replayed" not in first.headers
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content  # byte for byte, the API key shown once included
    assert second.headers["content-type"] == first.headers["content-type"]
    assert len(listed_advertisers(http, operator_key, body["name"])) == 1
    [row] = stored_rows(key)
    assert row.status == "done" and row.response_status == 201
    assert operator_key not in row.caller_hash and len(row.caller_hash) == 64
    # The answer holds the new account's API key: stored sealed, never in clear.
    new_api_key = first.json()["api_key"]
    assert new_api_key.encode() not in (row.response_body or b"")
    assert body["name"].encode() not in (row.response_body or b"")


def test_a_sealed_answer_opens_only_with_the_same_token_and_scope() -> None:
    key = idempotency.sealing_key("token-a")
    sealed = idempotency.seal(key, "scope-1", b'{"api_key": "ala_secret"}')
    assert idempotency.unseal(key, "scope-1", sealed) == b'{"api_key": "ala_secret"}'
    assert idempotency.unseal(idempotency.sealing_key("token-b"), "scope-1", sealed) is None
    assert idempotency.unseal(key, "scope-2", sealed) is None  # moved to another row
    assert idempotency.unseal(key, "scope-1", sealed[:-1] + bytes([sealed[-1] ^ 1])) is None
    assert idempotency.unseal(key, "scope-1", b"garbage") is None


def test_requests_without_a_key_work_as_before(http: httpx.Client, operator_key: str) -> None:
    body = advertiser_body()
    for _ in range(2):
        response = http.post(ADVERTISERS, json=body, headers=auth(operator_key))
        assert response.status_code == 201 and "idempotent-replayed" not in response.headers
    assert len(listed_advertisers(http, operator_key, body["name"])) == 2


def test_the_same_key_on_another_request_is_422(http: httpx.Client, operator_key: str) -> None:
    key = new_key()
    headers = with_key(operator_key, key)
    expect(http.post(ADVERTISERS, json=advertiser_body(), headers=headers), 201)
    other_body = http.post(ADVERTISERS, json=advertiser_body(), headers=headers)
    problem = assert_problem(other_body, 422, "idempotency_key_reused")
    assert "another request" in problem["detail"]
    # The query string is part of the request too.
    other_query = http.post(ADVERTISERS, params={"x": "1"}, json=advertiser_body(), headers=headers)
    assert_problem(other_query, 422, "idempotency_key_reused")


def test_a_key_belongs_to_one_api_key_and_one_path(http: httpx.Client, operator_key: str) -> None:
    with transaction() as session:
        _, other_operator = create_operator(session, name="Second operator")
    key = new_key()
    mine = expect(
        http.post(ADVERTISERS, json=advertiser_body(), headers=with_key(operator_key, key)), 201
    )
    theirs = http.post(ADVERTISERS, json=advertiser_body(), headers=with_key(other_operator, key))
    assert theirs.status_code == 201 and "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine["id"]
    partner = {
        "name": unique("Partner"),
        "type": "content",
        "country": "DE",
        "payout_currency": "EUR",
    }
    other_path = http.post(f"{API}/partners", json=partner, headers=with_key(operator_key, key))
    assert other_path.status_code == 201 and "idempotent-replayed" not in other_path.headers
    assert len(stored_rows(key)) == 3


def race(base_url: str, operator_key: str, racers: int = 8) -> list[httpx.Response]:
    """`racers` identical requests with one key, released at once; checks they ran once."""
    body, key = advertiser_body(), new_key()
    payload = json.dumps(body).encode()
    headers = {**with_key(operator_key, key), "Content-Type": "application/json"}
    barrier = threading.Barrier(racers)
    answers: list[httpx.Response] = []
    lock = threading.Lock()

    def fire() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            barrier.wait()
            response = client.post(ADVERTISERS, content=payload, headers=headers)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=fire) for _ in range(racers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(answers) == racers
    assert {a.status_code for a in answers} <= {201, 409}, [a.text for a in answers]
    created = [a for a in answers if a.status_code == 201]
    assert created and len({a.content for a in created}) == 1  # one answer, replayed
    assert sum("idempotent-replayed" not in a.headers for a in created) == 1
    for busy in (a for a in answers if a.status_code == 409):
        assert_problem(busy, 409, "idempotency_key_in_progress")
        assert busy.headers["retry-after"] == "1"
    with reading() as session:
        ids = session.scalars(select(Advertiser.id).where(Advertiser.name == body["name"]))
        assert len(ids.all()) == 1
    return answers


def test_concurrent_duplicates_run_once(http: httpx.Client, operator_key: str) -> None:
    race(str(http.base_url), operator_key)


@pytest.mark.slow
def test_concurrent_duplicates_run_once_across_server_processes(
    db_url: str, operator_key: str
) -> None:
    """Two worker processes share nothing but the database: its unique index decides."""
    server = Server(db_url, workers=2).start()
    try:
        for _ in range(5):
            race(server.url, operator_key)
    finally:
        server.stop()


def test_a_retry_while_the_first_runs_is_409(http: httpx.Client, operator_key: str) -> None:
    """A claim held by a request in flight (in any server process) is a row `in_progress`."""
    key = new_key()
    payload = json.dumps(advertiser_body()).encode()
    path = ADVERTISERS
    who = Identity(
        caller_hash=caller_hash(f"Bearer {operator_key}") or "",
        method="POST",
        path=path,
        key=key,
        fingerprint=fingerprint("POST", path, b"", payload),
    )
    now = utcnow()
    with transaction() as session:
        session.add(
            IdempotencyKey(
                scope_hash=who.scope_hash,
                caller_hash=who.caller_hash,
                method="POST",
                path=path,
                key=key,
                fingerprint=who.fingerprint,
                claim="a" * 32,
                status="in_progress",
                created_at=now,
                expires_at=now + timedelta(hours=1),
            )
        )
    headers = {**with_key(operator_key, key), "Content-Type": "application/json"}
    busy = http.post(path, content=payload, headers=headers)
    assert_problem(busy, 409, "idempotency_key_in_progress")
    # Another request with the key is refused as such even while the first runs.
    other = http.post(path, json=advertiser_body(), headers=with_key(operator_key, key))
    assert_problem(other, 422, "idempotency_key_reused")
    [row] = stored_rows(key)
    assert row.claim == "a" * 32 and row.status == "in_progress"


def test_a_4xx_answer_is_stored_and_replayed(http: httpx.Client, operator_key: str) -> None:
    key = new_key()
    body = {**advertiser_body(), "account_manager_id": "opr_" + "0" * 26}
    first = http.post(ADVERTISERS, json=body, headers=with_key(operator_key, key))
    assert first.status_code == 422 and first.json()["field"] == "account_manager_id"
    second = http.post(ADVERTISERS, json=body, headers=with_key(operator_key, key))
    assert second.status_code == 422
    assert second.headers["idempotent-replayed"] == "true"
    assert second.content == first.content
    assert second.headers["content-type"] == "application/problem+json"
    # A refusal by role is the caller's answer too.
    _, adv_key = make_advertiser(http, operator_key)
    body = advertiser_body()
    forbidden = [
        http.post(ADVERTISERS, json=body, headers=with_key(adv_key, key)) for _ in range(2)
    ]
    assert [r.status_code for r in forbidden] == [403, 403]
    assert forbidden[1].headers["idempotent-replayed"] == "true"


def test_an_unknown_api_key_is_not_stored(http: httpx.Client) -> None:
    key = new_key()
    for _ in range(2):
        response = http.post(ADVERTISERS, json=advertiser_body(), headers=with_key("ala_nope", key))
        assert response.status_code == 401 and "idempotent-replayed" not in response.headers
    assert stored_rows(key) == []


def test_an_invalid_key_is_400(http: httpx.Client, operator_key: str) -> None:
    name = b"Idempotency-Key"
    invalid: list[list[tuple[bytes, bytes]]] = [
        [(name, b"")],
        [(name, b"x" * 256)],
        [(name, "ключ".encode())],
        [(name, b"a\tb")],  # a tab: legal in HTTP, not printable
        [(name, b"one"), (name, b"two")],
    ]
    bearer = (b"Authorization", f"Bearer {operator_key}".encode())
    for extra in invalid:
        response = http.post(ADVERTISERS, json=advertiser_body(), headers=[bearer, *extra])
        assert response.status_code == 400, (extra, response.text)
        assert response.headers["content-type"] == "application/problem+json"
        problem = response.json()
        assert problem["field"] == "Idempotency-Key" and problem["status"] == 400
    # The longest key and spaces inside are fine.
    for good in ((new_key() + "k" * 255)[:255], f"order 1001 / retry {uuid.uuid4()}"):
        ok = http.post(ADVERTISERS, json=advertiser_body(), headers=with_key(operator_key, good))
        expect(ok, 201)
        assert len(stored_rows(good)) == 1


def test_key_syntax() -> None:
    assert parse_key([b"k" * 255]) == "k" * 255
    assert parse_key([b"a b ~!"]) == "a b ~!"
    # Control characters, DEL and non-ASCII bytes (the server's parser stops some first).
    for bad in (b"", b"k" * 256, b"a\x00b", b"a\x7fb", b"\xc3\xa9"):
        assert parse_key([bad]) is None
    assert parse_key([b"a", b"a"]) is None


def test_the_header_is_documented_on_mutating_operations(http: httpx.Client) -> None:
    paths = expect(http.get(f"{API}/openapi.json"), 200)["paths"]

    def headers_of(path: str, method: str) -> set[str]:
        parameters = paths[path][method].get("parameters", [])
        return {p["name"] for p in parameters if p["in"] == "header"}

    assert "Idempotency-Key" in headers_of(ADVERTISERS, "post")
    assert "Idempotency-Key" not in headers_of(ADVERTISERS, "get")


def test_reads_ignore_the_header(http: httpx.Client, operator_key: str) -> None:
    expect(http.get(ADVERTISERS, headers=with_key(operator_key, "")), 200)  # not even checked
    key = new_key()
    for _ in range(2):
        response = http.get(ADVERTISERS, headers=with_key(operator_key, key))
        assert response.status_code == 200 and "idempotent-replayed" not in response.headers
    assert stored_rows(key) == []


def test_an_expired_key_may_be_used_again(http: httpx.Client, operator_key: str) -> None:
    key = new_key()
    headers = with_key(operator_key, key)
    first = expect(http.post(ADVERTISERS, json=advertiser_body(), headers=headers), 201)
    [row] = stored_rows(key)
    assert row.expires_at - row.created_at == timedelta(hours=24)  # the default TTL
    with transaction() as session:
        session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.key == key)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
    again = http.post(ADVERTISERS, json=advertiser_body(), headers=headers)  # another body
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first["id"]
    replay = http.post(
        ADVERTISERS,
        content=again.request.content,
        headers={**headers, "Content-Type": "application/json"},
    )
    assert replay.headers["idempotent-replayed"] == "true" and replay.content == again.content
    [row] = stored_rows(key)
    assert row.expires_at > utcnow()


# --- the purge job -----------------------------------------------------------------------


def _insert_rows(key_prefix: str, expires_in: timedelta, count: int) -> list[str]:
    now = utcnow()
    keys = [f"{key_prefix}-{i}" for i in range(count)]
    with transaction() as session:
        for key in keys:
            session.add(
                IdempotencyKey(
                    scope_hash=uuid.uuid4().hex * 2,
                    caller_hash="0" * 64,
                    method="POST",
                    path=ADVERTISERS,
                    key=key,
                    fingerprint="0" * 64,
                    claim="0" * 32,
                    status="done",
                    response_status=201,
                    response_content_type="application/json",
                    response_body=b"{}",
                    created_at=now - timedelta(hours=25),
                    finished_at=now - timedelta(hours=25),
                    expires_at=now + expires_in,
                )
            )
    return keys


def _left(keys: list[str]) -> set[str]:
    with reading() as session:
        found = session.scalars(select(IdempotencyKey.key).where(IdempotencyKey.key.in_(keys)))
        return set(found)


def test_the_purge_task_deletes_expired_keys_only(db_url: str) -> None:
    prefix = new_key()
    expired = _insert_rows(f"{prefix}-old", -timedelta(minutes=1), 3)
    live = _insert_rows(f"{prefix}-live", timedelta(hours=1), 2)
    result = tasks.purge_idempotency_keys(utcnow(), None)
    assert result["deleted"] >= 3
    assert _left(expired + live) == set(live)


def test_the_purge_works_in_batches(db_url: str) -> None:
    expired = _insert_rows(new_key(), -timedelta(minutes=1), 5)
    assert purge_expired(utcnow(), batch=2) >= 5
    assert _left(expired) == set()


# --- in-process: answers the real API does not give on demand ----------------------------


Handler = Callable[[], Awaitable[Response]]


def toy_app(handler: Handler) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    idempotency.install(app)

    @app.post("/api/v1/things")
    async def things() -> Response:
        return await handler()

    @app.delete("/api/v1/things/1")
    async def delete_thing() -> Response:
        return Response(status_code=204)

    return app


def run_against(app: FastAPI, scenario: Callable[[httpx.AsyncClient], Awaitable[None]]) -> None:
    async def main() -> None:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            await scenario(client)

    anyio.run(main)


HEADERS = {"Authorization": "Bearer toy-key"}


def test_5xx_answers_release_the_key(db_url: str) -> None:
    calls: list[int] = []

    async def handler() -> Response:
        calls.append(1)
        status = 503 if len(calls) == 1 else 201
        return Response(f"call {len(calls)}", status_code=status, media_type="text/plain")

    key = new_key()

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = {**HEADERS, "Idempotency-Key": key}
        failed = await client.post("/api/v1/things", content=b"x", headers=headers)
        assert failed.status_code == 503
        assert stored_rows(key) == []
        ok = await client.post("/api/v1/things", content=b"x", headers=headers)
        assert ok.status_code == 201 and ok.text == "call 2"
        replay = await client.post("/api/v1/things", content=b"x", headers=headers)
        assert replay.content == b"call 2" and replay.headers["idempotent-replayed"] == "true"
        assert replay.headers["content-type"] == ok.headers["content-type"]

    run_against(toy_app(handler), scenario)
    assert len(calls) == 2


def test_an_exception_releases_the_key(db_url: str) -> None:
    calls: list[int] = []

    async def handler() -> Response:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("boom")
        return Response(b'{"ok":true}', status_code=201, media_type="application/json")

    key = new_key()

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = {**HEADERS, "Idempotency-Key": key}
        crashed = await client.post("/api/v1/things", content=b"{}", headers=headers)
        assert crashed.status_code == 500
        assert stored_rows(key) == []
        ok = await client.post("/api/v1/things", content=b"{}", headers=headers)
        assert ok.status_code == 201 and "idempotent-replayed" not in ok.headers

    run_against(toy_app(handler), scenario)
    assert len(calls) == 2


def test_a_duplicate_of_a_request_in_flight_is_409_then_replayed(db_url: str) -> None:
    started, proceed = anyio.Event(), anyio.Event()
    calls: list[int] = []

    async def handler() -> Response:
        calls.append(1)
        started.set()
        await proceed.wait()
        return Response(b'{"id":"thing_1"}', status_code=201, media_type="application/json")

    key = new_key()

    async def scenario(client: httpx.AsyncClient) -> None:
        headers = {**HEADERS, "Idempotency-Key": key}
        answers: dict[str, httpx.Response] = {}

        async def first() -> None:
            answers["first"] = await client.post("/api/v1/things", content=b"{}", headers=headers)

        async with anyio.create_task_group() as group:
            group.start_soon(first)
            await started.wait()
            busy = await client.post("/api/v1/things", content=b"{}", headers=headers)
            assert_problem(busy, 409, "idempotency_key_in_progress")
            proceed.set()
        assert answers["first"].status_code == 201
        replay = await client.post("/api/v1/things", content=b"{}", headers=headers)
        assert replay.status_code == 201 and replay.content == answers["first"].content
        assert replay.headers["idempotent-replayed"] == "true"

    run_against(toy_app(handler), scenario)
    assert len(calls) == 1


def test_anonymous_requests_are_not_stored_and_204_replays_empty(db_url: str) -> None:
    calls: list[int] = []

    async def handler() -> Response:
        calls.append(1)
        return Response(b"{}", status_code=201, media_type="application/json")

    key = new_key()

    async def scenario(client: httpx.AsyncClient) -> None:
        for _ in range(2):
            anonymous = await client.post("/api/v1/things", headers={"Idempotency-Key": key})
            assert anonymous.status_code == 201 and "idempotent-replayed" not in anonymous.headers
        headers = {**HEADERS, "Idempotency-Key": key}
        deleted = await client.delete("/api/v1/things/1", headers=headers)
        replay = await client.delete("/api/v1/things/1", headers=headers)
        assert deleted.status_code == replay.status_code == 204
        assert replay.headers["idempotent-replayed"] == "true" and replay.content == b""

    run_against(toy_app(handler), scenario)
    assert len(calls) == 2


def test_a_keyed_body_over_the_limit_is_refused_not_buffered(http: httpx.Client) -> None:
    """The body is held before the caller is known: a made-up token cannot make the server
    buffer more than MAX_KEYED_BODY."""
    huge = b"x" * (idempotency.MAX_KEYED_BODY + 1)
    answer = http.post(
        ADVERTISERS,
        content=huge,
        headers={
            "Authorization": "Bearer made-up-token",
            "Idempotency-Key": new_key(),
            "Content-Type": "application/json",
        },
    )
    assert answer.status_code == 413
    assert answer.json()["field"] == "body"
