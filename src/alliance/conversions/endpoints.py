"""`/postback`, `/px` and `/tag.js`: raw ASGI handlers in front of FastAPI, and the ingest pipeline.

Why raw ASGI: a postback answer is a few bytes of JSON; FastAPI's routing and dependency
machinery would cost more than the work itself (the same measurement as the redirect,
DESIGN.md section 4). Why a pipeline: every request needs two commits (store raw, then apply),
and an fsync per commit per request caps throughput at the disk's fsync rate. One writer
thread per server process takes whatever requests are waiting and handles them as a batch:

1. insert every raw request of the batch into `inbound_events`, COMMIT — from here nothing
   acknowledged can be lost, even for garbage or bad tokens;
2. in a second transaction, process each request (one that writes inside its own SAVEPOINT,
   so a rejected one rolls back alone); the rows of new conversions are inserted for the
   whole batch at once (`_BatchRun`, conversions/batch.py); record each outcome on its
   inbound event, COMMIT;
3. answer every request of the batch.

A request that meets a unique-key race (another server process inserted the same order id
first, PostgreSQL) is processed again on its own after the batch, and then answers duplicate.
If step 2 fails as a whole, the events stay `received`, the clients get 503 and retry, and
`alliance jobs run` reprocesses what they do not resend (docs/adr/0006).
"""

from __future__ import annotations

import asyncio
import logging
import queue
import random
import threading
import time
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import NestedTransaction
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, SessionTransaction

from alliance.clock import utcnow
from alliance.conversions import inbox
from alliance.conversions.batch import (
    BatchCache,
    CreateBuffer,
    DependsOnBuffered,
    NeedsWrites,
    insert_new,
)
from alliance.conversions.models import InboundStatus
from alliance.conversions.postback import RawRequest, Rejected
from alliance.conversions.service import Outcome, ProgramRejected, process_event
from alliance.db.engine import transaction
from alliance.db.writer_turn import WriterTurn
from alliance.settings import get_settings, sqlite_path
from alliance.tracking.visitor import hash_ip

log = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

BATCH_MAX = 256
TRUNCATED = "x-alliance-truncated"  # marker header: the body was cut at max_body_bytes


@dataclass(frozen=True, slots=True)
class Result:
    """What happened to one inbound request."""

    event_id: str
    outcome: Outcome | None = None
    rejected: Rejected | None = None
    stored: bool = True  # False: not even the raw request could be committed (answer 503)


# --- processing (shared with the reprocessing job and the retry endpoint) --------------------


def process_stored(event_id: str, raw: RawRequest) -> Result:
    """Process one already-stored event in its own transaction and record its outcome."""
    now = utcnow()
    for _attempt in range(3):
        try:
            with transaction() as session:
                outcome = process_event(session, raw, event_id, now)
                inbox.finish(
                    session,
                    event_id,
                    status=InboundStatus(outcome.status),
                    now=now,
                    program_id=outcome.program_id,
                    conversion_id=outcome.conversion_id,
                )
            return Result(event_id, outcome=outcome)
        except Rejected as exc:
            _record_rejection(event_id, exc)
            return Result(event_id, rejected=exc)
        except IntegrityError:
            continue  # lost a unique-key race: the next attempt finds the winner's row
    raise RuntimeError(f"inbound event {event_id} kept colliding on unique keys")


def _record_rejection(event_id: str, exc: Rejected) -> None:
    with transaction() as session:
        _finish_rejected(session, event_id, exc)


def _rejected_row(event_id: str, exc: Rejected) -> dict[str, Any]:
    return inbox.outcome_row(
        event_id,
        status=InboundStatus.rejected,
        now=utcnow(),
        program_id=exc.program_id if isinstance(exc, ProgramRejected) else None,
        reason=exc.reason,
        field=exc.field,
        detail=exc.detail,
    )


def _finish_rejected(session: Any, event_id: str, exc: Rejected) -> None:
    inbox.finish_many(session, [_rejected_row(event_id, exc)])


# --- the pipeline ----------------------------------------------------------------------------


@dataclass(slots=True)
class _Job:
    event: inbox.NewEvent
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[Result]


def _resolve(job: _Job, result: Result) -> None:
    def set_result() -> None:
        if not job.future.done():  # the client may have gone away
            job.future.set_result(result)

    job.loop.call_soon_threadsafe(set_result)


class _RunCarefully(Exception):
    """A read outside any savepoint failed: redo the batch's transaction with savepoints."""


def _rollback(savepoint: SessionTransaction | NestedTransaction | None) -> None:
    if savepoint is not None:
        savepoint.rollback()


class _BatchRun:
    """Step 2 of the pipeline for one batch, inside one transaction.

    An event that writes runs in its own SAVEPOINT, so a refused one rolls back alone. New
    pending conversions are not inserted one by one: `process_event` plans their rows into a
    `CreateBuffer`, written with one statement per table when the batch ends — or earlier, when
    a later event needs to read them (`DependsOnBuffered`). Their outcomes count only once
    the rows are in.

    Planning only reads, so it runs without a savepoint (two statements, a round trip each on
    PostgreSQL, for nothing to undo). If such a read fails unexpectedly, the transaction may be
    unusable (PostgreSQL aborts it): `_RunCarefully` makes the pipeline run the whole batch
    again with a savepoint around every event, so the failure stays with its event.
    """

    def __init__(self, *, careful: bool = False) -> None:
        self.careful = careful
        self.cache = BatchCache()
        self.buffer = CreateBuffer()
        self.results: dict[str, Result] = {}
        self.outcomes: dict[str, dict[str, Any]] = {}  # by event id: a re-run replaces
        self.retry: list[_Job] = []
        self._buffered: list[tuple[_Job, Outcome, datetime]] = []

    def apply(self, session: Session, batch: list[_Job]) -> None:
        for job in batch:
            try:
                self._one(session, job, self.buffer)
            except DependsOnBuffered:
                self._write_buffer(session)
                self._one(session, job, self.buffer)
        self._write_buffer(session)

    def _one(self, session: Session, job: _Job, buffer: CreateBuffer | None) -> None:
        if buffer is not None:
            # Most events are new orders that only read until the batch inserts them: try
            # without the ORM savepoint (its flush and bookkeeping cost more than the reads).
            try:
                self._attempt(session, job, buffer, writes=False)
                return
            except NeedsWrites:
                pass
        self._attempt(session, job, buffer, writes=True)

    def _attempt(
        self, session: Session, job: _Job, buffer: CreateBuffer | None, *, writes: bool
    ) -> None:
        event = job.event
        now = utcnow()
        planned = len(buffer.plans) if buffer is not None else 0
        # Writes need the session's SAVEPOINT (its rollback also resets ORM state); careful
        # reads a plain one.
        savepoint: SessionTransaction | NestedTransaction | None = None
        if writes:
            savepoint = session.begin_nested()
        elif self.careful:
            savepoint = session.connection().begin_nested()
        try:
            outcome = process_event(
                session, event.raw, event.id, now, cache=self.cache, buffer=buffer, writes=writes
            )
            if savepoint is not None:
                savepoint.commit()
        except (DependsOnBuffered, NeedsWrites):
            _rollback(savepoint)
            raise
        except Rejected as refusal:
            _rollback(savepoint)
            self.outcomes[event.id] = _rejected_row(event.id, refusal)
            self.results[event.id] = Result(event.id, rejected=refusal)
            return
        except IntegrityError:
            _rollback(savepoint)
            self.retry.append(job)
            return
        except OperationalError:
            raise  # the connection or lock is gone: the whole batch is retried
        except Exception as exc:
            if savepoint is None:
                raise _RunCarefully from exc
            _rollback(savepoint)
            log.exception("inbound event %s failed; left for reprocessing", event.id)
            self.results[event.id] = Result(event.id, stored=True)
            return
        if buffer is not None and len(buffer.plans) > planned:
            self._buffered.append((job, outcome, now))  # counts once its rows are written
        else:
            self._accept(job, outcome, now)

    def _accept(self, job: _Job, outcome: Outcome, now: datetime) -> None:
        event_id = job.event.id
        self.outcomes[event_id] = inbox.outcome_row(
            event_id,
            status=InboundStatus(outcome.status),
            now=now,
            program_id=outcome.program_id,
            conversion_id=outcome.conversion_id,
        )
        self.results[event_id] = Result(event_id, outcome=outcome)

    def _write_buffer(self, session: Session) -> None:
        plans = self.buffer.take()
        buffered, self._buffered = self._buffered, []
        if not plans:
            return
        savepoint = session.begin_nested()
        try:
            insert_new(session, plans)
            savepoint.commit()
        except OperationalError:
            raise  # the connection or lock is gone: the whole batch is retried
        except DBAPIError:
            # Another process inserted one of these orders first (PostgreSQL), or one row is
            # refused: apply them one by one, so only the loser goes to the retry-alone path
            # and a bad row fails alone.
            savepoint.rollback()
            for job, _outcome, _now in buffered:
                self._one(session, job, None)
            return
        for job, outcome, now in buffered:
            self._accept(job, outcome, now)


# PostgreSQL's deadlock_detected and serialization_failure: the transaction was rolled back
# whole, so running the batch again is safe.
_TRANSIENT_SQLSTATES = frozenset({"40P01", "40001"})
_TRANSIENT_ATTEMPTS = 4


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, OperationalError) and (
        getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES
    )


def _process(batch: list[_Job]) -> _BatchRun:
    """Step 2 for a batch: apply every event, record every outcome, commit.

    Two processes' batches can lock the same two orders in opposite orders (status updates
    take row locks, new orders unique-index entries); PostgreSQL then aborts one of them as a
    deadlock. That batch is run again after a short random pause, not failed."""
    for attempt in range(1, _TRANSIENT_ATTEMPTS + 1):
        try:
            try:
                return _process_once(batch, careful=False)
            except _RunCarefully:
                log.warning("a read failed outside a savepoint; processing the batch carefully")
                return _process_once(batch, careful=True)
        except OperationalError as exc:
            if not _transient(exc) or attempt == _TRANSIENT_ATTEMPTS:
                raise
            log.info("batch of %d hit a deadlock; running it again (%d)", len(batch), attempt)
            time.sleep(random.uniform(0.005, 0.05) * attempt)
    raise AssertionError("unreachable")


@lru_cache(maxsize=4)
def _ingest_turn(database_url: str) -> WriterTurn:
    """SQLite: the ingest writers of every server process take turns on an flock() of
    `<database>.ingest-lock` (db/writer_turn.py): with busy_timeout's sleeps two workers'
    batches handed the write lock over late (p99 1.8 s). PostgreSQL: a no-op. Used by the
    pipeline's one writer thread: one file descriptor per process and database suffices."""
    path = sqlite_path(database_url)
    return WriterTurn(path.with_name(path.name + ".ingest-lock") if path else None)


def _writer_turn() -> AbstractContextManager[None]:
    return _ingest_turn(get_settings().database_url)()


def _process_once(batch: list[_Job], *, careful: bool) -> _BatchRun:
    run = _BatchRun(careful=careful)
    with _writer_turn(), transaction() as session:
        run.apply(session, batch)
        # One statement records every outcome, committed with the effects.
        inbox.finish_many(session, list(run.outcomes.values()))
    return run


class IngestPipeline:
    """One writer thread per server process; requests are batched while it is busy."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name="alliance-ingest", daemon=True
                )
                self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    async def submit(self, raw: RawRequest, ip_hash: str | None) -> Result:
        if self._thread is None:
            self.start()
        loop = asyncio.get_running_loop()
        job = _Job(inbox.NewEvent(raw, ip_hash, utcnow()), loop, loop.create_future())
        self._queue.put(job)
        return await job.future

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            stop = False
            while len(batch) < BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                    break
                batch.append(item)
            try:
                self._handle(batch)
            except Exception:
                log.exception("ingest batch failed")
                for job in batch:
                    if not job.future.done():
                        _resolve(job, Result(job.event.id, stored=False))
            if stop:
                return

    def _handle(self, batch: list[_Job]) -> None:
        try:
            with _writer_turn(), transaction() as session:
                inbox.store_many(session, [job.event for job in batch])
        except Exception:
            log.exception("could not store %d inbound events", len(batch))
            for job in batch:
                _resolve(job, Result(job.event.id, stored=False))
            return

        try:
            run = _process(batch)
        except Exception:
            log.exception("processing a batch of %d inbound events failed", len(batch))
            for job in batch:
                _resolve(job, Result(job.event.id))
            return
        results, retry = run.results, run.retry
        for job in batch:
            if job in retry:
                try:
                    results[job.event.id] = process_stored(job.event.id, job.event.raw)
                except Exception:
                    log.exception("inbound event %s failed on retry", job.event.id)
                    results[job.event.id] = Result(job.event.id)
            _resolve(job, results.get(job.event.id, Result(job.event.id)))


# --- HTTP ------------------------------------------------------------------------------------

# 1x1 transparent GIF.
PIXEL_GIF = (
    b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00"
    b"\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;"
)

# The site tag: stores `alclid` from the landing URL first-party (cookie on the advertiser's
# domain, 30 days, SameSite=Lax, plus localStorage) and fires /px with it on conversion.
TAG_JS = (
    b'(function(w,d){"use strict";\n'
    b'var K="alclid",T=2592e3,s=d.currentScript,B=s&&s.src?new URL(s.src).origin:"",L;\n'
    b"try{L=w.localStorage}catch(e){}\n"
    b'function ok(v){return/^clk_[0-9A-Z]{26}$/.test(v||"")}\n'
    b"var v=new URLSearchParams(w.location.search).get(K);\n"
    b'if(ok(v)){d.cookie=K+"="+v+";path=/;max-age="+T+";samesite=lax"'
    b'+(w.location.protocol=="https:"?";secure":"");\n'
    b'try{L&&L.setItem(K,v+"|"+Date.now())}catch(e){}}\n'
    b"function get(){var m=d.cookie.match(/(?:^|;\\s*)alclid=([^;]+)/);"
    b"if(m&&ok(m[1]))return m[1];\n"
    b'try{var x=(L&&L.getItem(K)||"").split("|");'
    b"if(ok(x[0])&&Date.now()-x[1]<T*1e3)return x[0]}catch(e){}return null}\n"
    b"w.alliance={conversion:function(o){var q=new URLSearchParams();\n"
    b'["program","order_id","amount","currency","event"].forEach(function(k){'
    b"if(o[k]!=null)q.set(k,o[k])});\n"
    b"var c=get();if(c)q.set(K,c);"
    b'var i=new Image(1,1);i.src=B+"/px?"+q;return i}};\n'
    b"})(window,document);\n"
)


def _headers(*pairs: tuple[str, str]) -> list[tuple[bytes, bytes]]:
    return [(k.encode("latin-1"), v.encode("latin-1")) for k, v in pairs]


async def _answer(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [*headers, (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _problem(status: int, detail: str, **extra: Any) -> bytes:
    body = {
        "type": "https://alliance.dev/problems/rejected-conversion",
        "title": "Conversion rejected",
        "status": status,
        "detail": detail,
        **extra,
    }
    return orjson.dumps({k: v for k, v in body.items() if v is not None})


class InboundHandler:
    """Answers /postback, /px and /tag.js without going through FastAPI."""

    PATHS = frozenset({"/postback", "/px", "/tag.js"})

    def __init__(self) -> None:
        self.pipeline = IngestPipeline()
        settings = get_settings()
        self._secret = settings.secret_key
        self._max_body = settings.max_body_bytes

    async def start(self) -> None:
        self.pipeline.start()

    async def stop(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self.pipeline.stop)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/tag.js":
            await _answer(
                send,
                200,
                TAG_JS,
                _headers(
                    ("content-type", "application/javascript; charset=utf-8"),
                    ("cache-control", "public, max-age=3600"),
                ),
            )
            return
        method = scope["method"]
        source = "pixel" if path == "/px" else "postback"
        allowed = ("GET", "HEAD") if source == "pixel" else ("GET", "POST")
        if method not in allowed:
            await _answer(
                send,
                405,
                _problem(405, f"use {' or '.join(allowed)}"),
                _headers(
                    ("content-type", "application/problem+json"), ("allow", ", ".join(allowed))
                ),
            )
            return
        headers = inbox.keep_headers(scope.get("headers", []))
        body, truncated = await self._read_body(receive) if method == "POST" else (b"", False)
        if truncated:
            headers[TRUNCATED] = "1"
        client = scope.get("client")
        ip_hash = hash_ip(self._secret, client[0]) if client else None
        raw = RawRequest(source, method, scope.get("query_string", b""), headers, body)
        result = await self.pipeline.submit(raw, ip_hash)
        if source == "pixel":
            # Always the image: the page must not break, and the reason is in the inbox.
            await _answer(
                send,
                200,
                PIXEL_GIF,
                _headers(
                    ("content-type", "image/gif"),
                    ("cache-control", "no-store, no-cache, must-revalidate, max-age=0"),
                ),
            )
            return
        await self._postback_answer(send, result)

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        truncated = False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if not truncated:
                if size + len(chunk) > self._max_body:
                    # Keep what fits (the raw store never loses the request entirely) and
                    # reject as oversized; the rest is read and dropped.
                    chunks.append(chunk[: self._max_body - size])
                    truncated = True
                else:
                    chunks.append(chunk)
                size += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), truncated

    async def _postback_answer(self, send: Send, result: Result) -> None:
        json_type = ("content-type", "application/json")
        problem_type = ("content-type", "application/problem+json")
        if result.outcome is not None:
            body = orjson.dumps(
                {
                    "status": result.outcome.status,
                    "conversion_id": result.outcome.conversion_id,
                    "inbound_event_id": result.event_id,
                }
            )
            await _answer(send, 200, body, _headers(json_type))
        elif result.rejected is not None:
            exc = result.rejected
            body = _problem(
                exc.status,
                exc.detail,
                field=exc.field,
                reason=exc.reason,
                inbound_event_id=result.event_id,
                instance="/postback",
            )
            await _answer(send, exc.status, body, _headers(problem_type))
        elif not result.stored:
            body = _problem(
                503, "the postback could not be stored; send it again", reason="unavailable"
            )
            await _answer(send, 503, body, _headers(problem_type, ("retry-after", "1")))
        else:
            body = _problem(
                503,
                "stored but not processed yet; it will be processed, or send it again",
                reason="internal_error",
                inbound_event_id=result.event_id,
            )
            await _answer(send, 503, body, _headers(problem_type, ("retry-after", "5")))
