"""The click writer in-process, against the real test database: batching, failure, recovery."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from alliance.db.engine import reading
from alliance.ids import new_id
from alliance.settings import get_settings
from alliance.tracking.click_writer import (
    ClickNotSaved,
    ClickWriter,
    PendingClick,
    SqliteClickStore,
    libpq_url,
    store_for,
)
from alliance.tracking.models import Click

IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148 Safari/604.1"


def pending(program_id: str = "prg_writer_test", **overrides: object) -> PendingClick:
    click = PendingClick(
        id=new_id("clk"),
        occurred_at=datetime.now(UTC),
        link_id="lnk_writer_test",
        program_id=program_id,
        partner_id="ptn_writer_test",
        visitor_id=new_id("vis"),
        subs=("a", None, None, None, "e"),
        landing_url="https://shop.example/?x=1",
        user_agent=IPHONE,
        referrer=None,
        ip="81.2.69.142",
    )
    for name, value in overrides.items():
        setattr(click, name, value)
    return click


def writer_for(db_url: str, **options: float) -> ClickWriter:
    settings = get_settings()
    return ClickWriter(
        store_for(db_url, settings),
        secret_key=settings.secret_key,
        **options,  # type: ignore[arg-type]
    )


def count_clicks(program_id: str) -> int:
    with reading() as session:
        return (
            session.scalar(
                select(func.count()).select_from(Click).where(Click.program_id == program_id)
            )
            or 0
        )


def test_concurrent_clicks_share_transactions(db_url: str) -> None:
    program_id = new_id("prg")
    clicks = [pending(program_id) for _ in range(600)]

    async def run() -> ClickWriter:
        writer = writer_for(db_url, batch_max=128, batch_wait_ms=2.0)
        await writer.start()
        await asyncio.gather(*(writer.write(c) for c in clicks))
        await writer.stop()
        return writer

    writer = asyncio.run(run())
    assert writer.stats.clicks == 600
    assert writer.stats.failed_batches == 0
    assert writer.stats.batches < 600 / 4  # group commit, not one transaction per click
    assert writer.stats.largest_batch <= 128
    assert count_clicks(program_id) == 600

    with reading() as session:
        row = session.get(Click, clicks[0].id)
        assert row is not None
        # Derived in the writer thread: device, bot flag, country, hashed IP.
        assert (row.device, row.is_bot, row.country) == ("mobile", False, "GB")
        assert len(row.ip_hash) == 32 and "81.2.69.142" not in row.ip_hash
        assert (row.sub1, row.sub5) == ("a", "e")
        assert abs((row.occurred_at - clicks[0].occurred_at).total_seconds()) < 1e-3


def test_a_lone_click_is_not_kept_waiting(db_url: str) -> None:
    async def run() -> float:
        writer = writer_for(db_url, batch_wait_ms=500.0)
        await writer.start()
        loop = asyncio.get_running_loop()
        started = loop.time()
        await writer.write(pending())
        elapsed = loop.time() - started
        await writer.stop()
        return elapsed

    # The linger applies under load only: with nobody to share the commit, write at once.
    assert asyncio.run(run()) < 0.4


def test_a_failed_batch_fails_its_requests_and_the_writer_recovers(tmp_path: Path) -> None:
    """No clicks table yet: writes fail (never acknowledged); once it exists, they succeed."""
    path = tmp_path / "late.db"
    url = f"sqlite:///{path}"
    store = SqliteClickStore(path, "FULL")
    writer = ClickWriter(store, secret_key="k" * 16)

    async def attempt() -> str:
        try:
            await writer.write(pending())
        except ClickNotSaved as exc:
            return f"failed: {exc}"
        return "saved"

    async def run() -> tuple[list[str], list[str]]:
        await writer.start()
        before = await asyncio.gather(*(attempt() for _ in range(5)))
        engine = create_engine(url)
        Click.__table__.create(engine)  # type: ignore[attr-defined]
        engine.dispose()
        after = await asyncio.gather(*(attempt() for _ in range(5)))
        await writer.stop()
        return list(before), list(after)

    before, after = asyncio.run(run())
    assert all(result.startswith("failed: OperationalError") for result in before)
    assert after == ["saved"] * 5
    assert writer.stats.failed_clicks == 5
    assert writer.stats.clicks == 5


def test_stop_drains_the_queue_and_refuses_new_clicks(db_url: str) -> None:
    program_id = new_id("prg")

    async def run() -> ClickWriter:
        writer = writer_for(db_url, batch_wait_ms=50.0)
        await writer.start()
        tasks = [asyncio.ensure_future(writer.write(pending(program_id))) for _ in range(50)]
        await asyncio.sleep(0)  # every task has queued its click
        await writer.stop()
        assert all(t.done() and t.exception() is None for t in tasks)
        with pytest.raises(ClickNotSaved):
            await writer.write(pending(program_id))
        return writer

    asyncio.run(run())
    assert count_clicks(program_id) == 50


def test_writer_survives_a_lost_connection(db_url: str, engine_name: str) -> None:
    """A broken database connection costs at most the batch in flight, never the writer."""
    program_id = new_id("prg")

    async def run() -> tuple[int, int]:
        writer = writer_for(db_url)
        await writer.start()
        await writer.write(pending(program_id))
        if engine_name == "postgresql":
            import psycopg

            # Kill the writer's backend from outside, as a server restart or a proxy would.
            with psycopg.connect(libpq_url(db_url), autocommit=True) as admin:
                terminated = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND application_name = 'alliance-click-writer'"
                ).fetchall()
            assert terminated and all(ok for (ok,) in terminated)
            # The connection died before COMMIT was sent: retried at once, not refused.
            await writer.write(pending(program_id))
            saved_after_loss = 1
        else:
            # Close the writer's SQLite handle under it: that batch fails (its request gets
            # a 503, no 302), the next batch reconnects.
            writer._store._conn.close()  # type: ignore[attr-defined]
            with pytest.raises(ClickNotSaved):
                await writer.write(pending(program_id))
            saved_after_loss = 0
        await writer.write(pending(program_id))
        await writer.stop()
        return saved_after_loss, writer.stats.failed_batches

    saved_after_loss, failed_batches = asyncio.run(run())
    assert count_clicks(program_id) == 2 + saved_after_loss
    assert failed_batches == (0 if engine_name == "postgresql" else 1)


def test_libpq_url() -> None:
    assert libpq_url("postgresql+psycopg://u:p@h:5432/db") == "postgresql://u:p@h:5432/db"
    assert libpq_url("postgresql://u@h/db") == "postgresql://u@h/db"
