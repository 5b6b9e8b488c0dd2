"""Engines and sessions for SQLite (WAL) and PostgreSQL, chosen by ALLIANCE_DATABASE_URL."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

from alliance.settings import Settings, get_settings, sqlite_path

_lock = threading.Lock()
_engines: dict[str, Engine] = {}
_sessionmakers: dict[str, sessionmaker[Session]] = {}


def _sqlite_pragmas(synchronous: str) -> Any:
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # The sqlite3 driver opens transactions lazily and in deferred mode; we take control so
        # that `BEGIN IMMEDIATE` can be issued where a write is certain (avoids upgrade deadlocks).
        dbapi_connection.isolation_level = None
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA busy_timeout=10000")
        cur.close()

    return on_connect


def _sqlite_begin_immediate(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_begin_deferred(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN")


def json_text(value: Any) -> str:
    """JSON columns through orjson: the ingest path writes several per conversion (items,
    click path, raw headers, outbox payloads) and the standard library's encoder was ~6% of
    the postback writer's CPU. Non-string keys become strings, as `json.dumps` does."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def make_engine(url: str, settings: Settings | None = None, *, readonly: bool = False) -> Engine:
    settings = settings or get_settings()
    if url.startswith("sqlite"):
        path = sqlite_path(url)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url,
            connect_args={"check_same_thread": False, "timeout": 10},
            json_serializer=json_text,
            json_deserializer=orjson.loads,
        )
        event.listen(engine, "connect", _sqlite_pragmas(settings.sqlite_synchronous.upper()))
        # A writing transaction on SQLite takes the write lock up front, so writers queue on
        # busy_timeout instead of failing on a read-to-write upgrade (SQLITE_BUSY_SNAPSHOT).
        # Readers use a separate engine with plain BEGIN: in WAL they never block anyone.
        event.listen(
            engine, "begin", _sqlite_begin_deferred if readonly else _sqlite_begin_immediate
        )
        return engine
    return create_engine(
        url,
        pool_size=10,
        max_overflow=20,
        pool_pre_ping=True,
        # psycopg prepares a statement after five runs and PostgreSQL may then keep a generic
        # plan for the connection's life. Planned while `conversions` was still small and
        # unanalyzed, the order look-up (program, order id, kind) got the (program_id,
        # occurred_at) index plus a filter: a scan of the program's orders per postback,
        # until the next ANALYZE. Custom plans look at the current table every time: the
        # PostgreSQL postback benchmark went from 578 to ~1,200 conversions/s (docs/performance.md).
        connect_args={"options": "-c plan_cache_mode=force_custom_plan"},
        json_serializer=json_text,
        json_deserializer=orjson.loads,
    )


def get_engine(url: str | None = None, *, readonly: bool = False) -> Engine:
    url = url or get_settings().database_url
    key = f"{url}#ro" if readonly and url.startswith("sqlite") else url
    with _lock:
        engine = _engines.get(key)
        if engine is None:
            engine = _engines[key] = make_engine(url, readonly=readonly)
            _sessionmakers[key] = sessionmaker(engine, expire_on_commit=False)
        return engine


def session_factory(url: str | None = None, *, readonly: bool = False) -> sessionmaker[Session]:
    url = url or get_settings().database_url
    get_engine(url, readonly=readonly)
    key = f"{url}#ro" if readonly and url.startswith("sqlite") else url
    return _sessionmakers[key]


@contextmanager
def reading(url: str | None = None) -> Iterator[Session]:
    """A session for queries only; never takes SQLite's write lock.

    Closing (not rolling back) ends the read transaction without expiring what was loaded:
    the objects are detached with their attributes intact, so a page can render them after
    the connection went back to the pool.
    """
    session = session_factory(url, readonly=True)()
    try:
        yield session
    finally:
        session.close()


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """A writing session: committed on success, rolled back on error."""
    session = session_factory(url)()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _sessionmakers.clear()
