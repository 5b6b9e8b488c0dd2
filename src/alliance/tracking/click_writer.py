"""The click writer: group commit of clicks from concurrent requests (docs/adr/0003).

A request hands its click to `ClickWriter.write()` and awaits it. One writer thread per
server process takes everything queued (up to `click_batch_max`), writes it in one
transaction, commits, and only then wakes the waiting requests, which answer 302. So an
acknowledged click is durable, and one fsync pays for a whole batch:

    request ──put──▶ queue ──▶ writer thread: BEGIN; INSERT n rows; COMMIT ──▶ settle futures

SQLite gets one `executemany` in `BEGIN IMMEDIATE` on a raw connection of its own;
PostgreSQL gets one `COPY clicks FROM STDIN` on a psycopg connection of its own. A failed
batch fails exactly its requests (they answer 503, never a 302 for an unsaved click), the
connection is dropped and reopened for the next batch, and the thread carries on.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from alliance.db.writer_turn import WriterTurn
from alliance.settings import Settings, get_settings, sqlite_path
from alliance.tracking import visitor

log = logging.getLogger("alliance.clicks")

COLUMNS = (
    "id", "occurred_at", "link_id", "program_id", "partner_id", "visitor_id",
    "sub1", "sub2", "sub3", "sub4", "sub5", "landing_url", "country", "device",
    "user_agent", "referrer", "ip_hash", "is_bot", "invalid_reason", "variant_id",
)  # fmt: skip

Row = tuple[Any, ...]


class ClickNotSaved(Exception):
    """The click could not be committed; the request must not answer 302."""


@dataclass(slots=True)
class PendingClick:
    """A click as the request knows it. The writer thread derives the rest (see `to_row`).

    `ip` is the raw client IP: it lives in memory until the writer hashes it and is never
    stored. `country` is filled by the request only when the link needed it to choose a
    landing page or check the program's countries (`country_known`); otherwise the writer
    looks it up, off the request path. `invalid_reason` (tracking.models.InvalidReason) is
    set by the request when the click must earn nothing for a reason other than a bot.
    `variant_id` is the landing variant the request chose (crosspromo/variants.py), if any.
    """

    id: str
    occurred_at: datetime
    link_id: str
    program_id: str
    partner_id: str
    visitor_id: str
    subs: tuple[str | None, ...]
    landing_url: str
    user_agent: str
    referrer: str | None
    ip: str
    country: str | None = None
    country_known: bool = False
    invalid_reason: str | None = None
    variant_id: str | None = None


def to_row(click: PendingClick, secret_key: str) -> Row:
    """The clicks-table row, in COLUMNS order (datetime aware, bool as bool)."""
    try:
        device, is_bot = visitor.classify_user_agent(click.user_agent)
    except Exception:  # a parser bug on one odd User-Agent must not fail the whole batch
        log.warning("could not classify user agent %r", click.user_agent[:100], exc_info=True)
        device, is_bot = "unknown", False
    country = click.country if click.country_known else visitor.country_of(click.ip)
    return (
        click.id,
        click.occurred_at,
        click.link_id,
        click.program_id,
        click.partner_id,
        click.visitor_id,
        *click.subs,
        click.landing_url[:2048],
        country,
        device,
        click.user_agent[: visitor.USER_AGENT_MAX] or None,
        click.referrer[: visitor.REFERRER_MAX] if click.referrer else None,
        visitor.hash_ip(secret_key, click.ip),
        is_bot,
        click.invalid_reason,
        click.variant_id,
    )


class ClickStore(Protocol):
    """Writes one batch in one transaction, or raises having written nothing."""

    def connect(self) -> object: ...

    def write(self, rows: Sequence[Row]) -> None: ...

    def close(self) -> None: ...


_SQLITE_SYNC = {"OFF", "NORMAL", "FULL", "EXTRA"}


class SqliteClickStore:
    """A raw sqlite3 connection owned by the writer thread (WAL, busy_timeout).

    Several server processes write to one SQLite file: their click writers take turns on an
    flock() of `<database>.clicks-lock` (db/writer_turn.py) rather than SQLite's sleeping
    busy_timeout, which gave p99 latencies of 300+ ms with two workers.
    """

    # Column names are our constants, values are bound: nothing from a request is spliced in.
    _PLACEHOLDERS = ", ".join("?" * len(COLUMNS))
    INSERT = f"INSERT INTO clicks ({', '.join(COLUMNS)}) VALUES ({_PLACEHOLDERS})"  # noqa: S608

    def __init__(self, path: Path, synchronous: str) -> None:
        self.path = path
        self._turn = WriterTurn(path.with_name(path.name + ".clicks-lock"))
        sync = synchronous.upper()
        # Interpolated into a PRAGMA below, so only the four legal words get through.
        self.synchronous = sync if sync in _SQLITE_SYNC else "FULL"
        self._conn: sqlite3.Connection | None = None

    def connect(self) -> sqlite3.Connection:
        if self._conn is None:
            conn = sqlite3.connect(
                self.path, timeout=10, isolation_level=None, check_same_thread=False
            )
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute(f"PRAGMA synchronous={self.synchronous}")
            conn.execute("PRAGMA busy_timeout=10000")
            self._conn = conn
        return self._conn

    def write(self, rows: Sequence[Row]) -> None:
        conn = self.connect()
        # SQLAlchemy's SQLite DATETIME format, "YYYY-MM-DD HH:MM:SS.ffffff" in UTC, so the ORM
        # reads these rows back (isoformat is twice as fast as strftime; the offset is cut).
        prepared = [
            (r[0], r[1].isoformat(" ", "microseconds")[:26], *r[2:17], int(r[17]), *r[18:])
            for r in rows
        ]
        with self._turn():
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(self.INSERT, prepared)
                conn.execute("COMMIT")
            except BaseException:
                # Closing rolls back whatever was open; the next batch reconnects.
                self._close_connection()
                raise

    def _close_connection(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except sqlite3.Error:
                log.warning("closing the click writer's SQLite connection failed", exc_info=True)

    def close(self) -> None:
        self._close_connection()
        self._turn.close()


def libpq_url(sqlalchemy_url: str) -> str:
    """`postgresql+psycopg://...` (SQLAlchemy) -> `postgresql://...` (libpq)."""
    scheme, sep, rest = sqlalchemy_url.partition("://")
    return f"{scheme.split('+', 1)[0]}{sep}{rest}"


class PostgresClickStore:
    """A psycopg 3 connection owned by the writer thread; one COPY per batch."""

    COPY = f"COPY clicks ({', '.join(COLUMNS)}) FROM STDIN"

    def __init__(self, url: str) -> None:
        self.url = libpq_url(url)
        self._conn: Any = None

    def connect(self) -> Any:
        if self._conn is None or self._conn.closed:
            import psycopg

            self._conn = psycopg.connect(
                self.url,
                connect_timeout=5,
                autocommit=False,
                # Visible in pg_stat_activity, so an operator can tell what this session is.
                application_name="alliance-click-writer",
            )
        return self._conn

    def write(self, rows: Sequence[Row]) -> None:
        import psycopg

        for attempt in (1, 2):
            conn = self.connect()
            committing = False
            try:
                with conn.cursor() as cur, cur.copy(self.COPY) as copy:
                    for row in rows:
                        copy.write_row(row)
                committing = True
                conn.commit()
                return
            except psycopg.OperationalError:
                self.close()
                # A connection that died before COMMIT was sent (server restart, idle
                # timeout) wrote nothing: one retry on a fresh connection is safe. A failure
                # during COMMIT is ambiguous, so that batch fails (its requests get 503).
                if committing or attempt == 2:
                    raise
                log.warning("click writer lost its PostgreSQL connection; reconnecting")
            except BaseException:
                self.close()
                raise

    def close(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            try:
                conn.close()
            except Exception:  # noqa: BLE001 - a broken connection may fail to close; drop it
                log.warning("closing the click writer's PostgreSQL connection failed")


def store_for(database_url: str, settings: Settings) -> ClickStore:
    if database_url.startswith("sqlite"):
        path = sqlite_path(database_url)
        if path is None:
            raise ValueError("the click writer needs a SQLite file, not an in-memory database")
        return SqliteClickStore(path, settings.sqlite_synchronous)
    if database_url.startswith("postgresql"):
        return PostgresClickStore(database_url)
    raise ValueError(f"unsupported database for clicks: {database_url.split(':', 1)[0]}")


@dataclass
class WriterStats:
    """Counters of this process's writer (written by the writer thread only, once per batch:
    never per click, so the redirect pays nothing for them). The operator's health page and
    /metrics read them; a reader on another thread may see one batch's fields half-updated,
    which a monitoring figure tolerates."""

    batches: int = 0  # committed transactions
    clicks: int = 0  # clicks in committed transactions
    failed_batches: int = 0
    failed_clicks: int = 0
    largest_batch: int = 0
    last_batch_size: int = 0  # clicks in the last batch, committed or failed
    last_flush_seconds: float = 0.0  # the last batch: rows prepared, written, committed
    flush_seconds_total: float = 0.0  # summed over every batch (rate() of it: busy fraction)
    last_commit_at: float | None = None  # Unix time of the last committed batch
    last_error: str | None = None  # why the last failed batch failed
    last_error_at: float | None = None


# The writer of this process (one per server worker), for the health figures.
_active: ClickWriter | None = None


def active_writer() -> ClickWriter | None:
    """The click writer running in this process, if any."""
    return _active


_STOP = object()
# While lingering for a fuller batch, a pause this long means nobody else is coming soon.
LINGER_GAP_S = 0.0002


class ClickWriter:
    """Group commit of clicks. One instance per server process, started in its event loop."""

    def __init__(
        self,
        store: ClickStore,
        *,
        secret_key: str,
        batch_max: int = 512,
        batch_wait_ms: float = 2.0,
        max_pending: int | None = None,
    ) -> None:
        self._store = store
        self._secret_key = secret_key
        self._batch_max = max(1, batch_max)
        self._batch_wait_s = max(0.0, batch_wait_ms) / 1000
        # Beyond this many clicks waiting, answer 503 at once rather than queue without
        # bound while the database is stuck (memory stays flat, visitors get a fast error).
        self._max_pending = max_pending or max(10_000, 20 * self._batch_max)
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._pending = 0  # touched only on the event loop thread
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self.stats = WriterStats()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> ClickWriter:
        settings = settings or get_settings()
        return cls(
            store_for(settings.database_url, settings),
            secret_key=settings.secret_key,
            batch_max=settings.click_batch_max,
            batch_wait_ms=settings.click_batch_wait_ms,
        )

    @property
    def running(self) -> bool:
        return self._thread is not None and not self._stopping

    @property
    def pending(self) -> int:
        """Clicks handed over and not yet settled (queued or in the batch being written)."""
        return self._pending

    async def start(self) -> None:
        if self._thread is not None:
            return
        self._loop = asyncio.get_running_loop()
        self._stopping = False
        # Load the geo table and UA regexes before the first visitor, off the event loop.
        await asyncio.to_thread(visitor.warm_up)
        try:
            await asyncio.to_thread(self._store.connect)
        except Exception:  # the database may come up later: the first batch retries
            log.warning("click writer cannot reach the database yet", exc_info=True)
        self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
        self._thread.start()
        global _active
        _active = self

    async def stop(self) -> None:
        """Refuse new clicks, write everything already queued, stop the thread."""
        if self._thread is None:
            return
        self._stopping = True
        self._queue.put(_STOP)
        await asyncio.to_thread(self._thread.join)
        self._thread = None
        self._store.close()
        global _active
        if _active is self:
            _active = None

    async def write(self, click: PendingClick) -> None:
        """Return once `click` is committed; raise ClickNotSaved if it was not."""
        if self._thread is None or self._stopping or self._loop is None:
            raise ClickNotSaved("click writer is not running")
        if self._pending >= self._max_pending:
            raise ClickNotSaved("click writer is overloaded")
        future: asyncio.Future[None] = self._loop.create_future()
        self._pending += 1
        self._queue.put((click, future))
        await future

    # -- the writer thread ------------------------------------------------------------------

    def _run(self) -> None:
        last_batch = 0
        while True:
            batch, stop = self._collect(linger=last_batch > 1)
            if batch:
                self._flush(batch)
                last_batch = len(batch)
            if stop:
                return

    def _collect(self, *, linger: bool) -> tuple[list[tuple[PendingClick, Any]], bool]:
        """Block for the first click, then take what else is queued, up to batch_max.

        Lingering (previous batch held more than one click, i.e. there is concurrency):
        keep taking clicks while they keep coming, at most LINGER_GAP_S apart and at most
        batch_wait_ms after the first. A fixed wait would idle once every client in flight
        is already in the batch (measured: a 2 ms wait halved throughput at 64 connections);
        stopping at the first quiet gap keeps the bigger batches without the idle time.
        With no concurrency a lone click is written at once.
        """
        first = self._queue.get()
        if first is _STOP:
            return [], True
        batch = [first]
        deadline = time.monotonic() + self._batch_wait_s
        while len(batch) < self._batch_max:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                remaining = deadline - time.monotonic()
                if not linger or remaining <= 0:
                    break
                try:
                    item = self._queue.get(timeout=min(LINGER_GAP_S, remaining))
                except queue.Empty:
                    break
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    def _flush(self, batch: list[tuple[PendingClick, Any]]) -> None:
        futures = [future for _, future in batch]
        error: str | None = None
        stats = self.stats
        began = time.perf_counter()
        try:
            rows = [to_row(click, self._secret_key) for click, _ in batch]
            self._store.write(rows)
        except Exception as exc:  # the writer thread must survive any failed batch
            log.exception("click batch of %d not saved", len(batch))
            error = f"{type(exc).__name__}: {exc}"
            stats.failed_batches += 1
            stats.failed_clicks += len(batch)
            stats.last_error = error[:300]
            stats.last_error_at = time.time()
        else:
            stats.batches += 1
            stats.clicks += len(batch)
            stats.largest_batch = max(stats.largest_batch, len(batch))
            stats.last_commit_at = time.time()
        elapsed = time.perf_counter() - began
        stats.last_batch_size = len(batch)
        stats.last_flush_seconds = elapsed
        stats.flush_seconds_total += elapsed
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        try:
            loop.call_soon_threadsafe(self._settle, futures, error)
        except RuntimeError:  # the loop closed between the check and the call
            return

    def _settle(self, futures: list[asyncio.Future[None]], error: str | None) -> None:
        # Runs on the event loop: one wake-up per batch, not one per click.
        self._pending -= len(futures)
        for future in futures:
            if future.done():  # the request was cancelled (client went away)
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(ClickNotSaved(error))
