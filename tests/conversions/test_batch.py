"""The ingest pipeline on whole batches: deferred bulk inserts must give the outcomes of a
one-by-one run (replays, status changes and customer bindings inside one batch, refusals
mixed in, and the fallback when the bulk insert meets a unique key)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from alliance.clock import utcnow
from alliance.commissions.models import Commission, LedgerEntry
from alliance.conversions import endpoints, inbox
from alliance.conversions.endpoints import IngestPipeline, Result, _Job
from alliance.conversions.models import Conversion, CustomerBinding, InboundEvent
from alliance.conversions.postback import RawRequest
from alliance.db.engine import reading

from .factories import World, new_click, world


@pytest.fixture()
def loop(db_url: str) -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    yield loop
    loop.close()


def job(loop: asyncio.AbstractEventLoop, w: World, **params: Any) -> _Job:
    query = {"program": w.program_id, "token": w.token, "currency": w.currency, **params}
    raw = RawRequest("postback", "GET", urlencode(query).encode(), {}, b"")
    return _Job(inbox.NewEvent(raw, None, utcnow()), loop, loop.create_future())


def run(loop: asyncio.AbstractEventLoop, jobs: list[_Job]) -> list[Result]:
    IngestPipeline()._handle(jobs)
    loop.run_until_complete(asyncio.sleep(0))  # deliver the answers
    return [j.future.result() for j in jobs]


def status(result: Result) -> str:
    if result.outcome is not None:
        return result.outcome.status
    assert result.rejected is not None, result
    return result.rejected.reason


def count(model: Any, *where: Any) -> int:
    with reading() as session:
        return int(session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


def test_a_batch_gives_the_outcomes_of_a_one_by_one_run(loop: asyncio.AbstractEventLoop) -> None:
    w = world()
    clk = new_click(w).id
    jobs = [
        job(loop, w, order_id="B-1", amount="100.00", click_id=clk),
        job(loop, w, order_id="B-1", amount="100.00", click_id=clk),  # replay in the batch
        job(loop, w, order_id="B-1", status="completed"),  # moves the buffered order
        job(loop, w, order_id="B-2", amount="10.00", token="wrong"),
        job(loop, w, order_id="B-3", amount="20.00", click_id="clk_unknown"),
        job(loop, w, order_id="B-4", amount="30.00", coupon=w.coupon, customer_id="c-1"),
        job(loop, w, order_id="B-5", amount="40.00", customer_id="c-1"),  # bound by B-4
        job(loop, w, order_id="B-6", amount="50.00", click_id=clk),
    ]
    results = run(loop, jobs)
    assert [status(r) for r in results] == [
        "accepted",
        "duplicate",
        "accepted",
        "bad_token",
        "unknown_click",
        "accepted",
        "accepted",
        "accepted",
    ]
    ids = [r.outcome.conversion_id if r.outcome else None for r in results]
    assert ids[0] == ids[1] == ids[2]
    with reading() as session:
        first = session.get(Conversion, ids[0])
        assert first is not None and first.status == "completed"
        commission = session.scalars(
            select(Commission).where(Commission.conversion_id == ids[0])
        ).one()
        assert commission.approvable_at is not None
        bound = session.get(Conversion, ids[6])
        assert bound is not None
        assert (bound.attributed_by, bound.new_customer) == ("customer", False)
        binding = session.scalars(
            select(CustomerBinding).where(CustomerBinding.program_id == w.program_id)
        ).one()
        assert binding.first_conversion_id == ids[5]
        events = {
            e.id: (e.status, e.conversion_id)
            for e in session.scalars(
                select(InboundEvent).where(InboundEvent.id.in_([j.event.id for j in jobs]))
            )
        }
    assert [events[j.event.id][0] for j in jobs] == [
        "accepted",
        "duplicate",
        "accepted",
        "rejected",
        "rejected",
        "accepted",
        "accepted",
        "accepted",
    ]
    assert events[jobs[5].event.id][1] == ids[5]
    assert count(Conversion, Conversion.program_id == w.program_id) == 4
    assert count(Commission, Commission.program_id == w.program_id) == 4
    assert count(LedgerEntry, LedgerEntry.program_id == w.program_id) == 4


def test_a_bulk_insert_collision_falls_back_to_one_by_one(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A racing process took a unique key between planning and inserting: the batch's new
    conversions are applied one by one instead, and none is lost."""
    w = world()
    clk = new_click(w).id
    real = endpoints.insert_new
    calls: list[int] = []

    def collide_once(session: Any, plans: Any) -> None:
        calls.append(len(plans))
        if len(calls) == 1:
            raise IntegrityError("INSERT", {}, Exception("duplicate key"))
        real(session, plans)

    monkeypatch.setattr(endpoints, "insert_new", collide_once)
    jobs = [job(loop, w, order_id=f"R-{i}", amount="10.00", click_id=clk) for i in range(3)]
    results = run(loop, jobs)
    assert [status(r) for r in results] == ["accepted"] * 3
    assert calls[0] == 3
    assert count(Conversion, Conversion.program_id == w.program_id) == 3
    assert count(LedgerEntry, LedgerEntry.program_id == w.program_id) == 3


def test_tiers_count_the_orders_earlier_in_the_same_batch(
    loop: asyncio.AbstractEventLoop,
) -> None:
    w = world(terms={"type": "cps", "percent": "10", "tiers": [{"min_orders": 2, "percent": "20"}]})
    clk = new_click(w).id
    jobs = [job(loop, w, order_id=f"T-{i}", amount="100.00", click_id=clk) for i in range(3)]
    results = run(loop, jobs)
    assert [status(r) for r in results] == ["accepted"] * 3
    with reading() as session:
        amounts = [
            session.scalars(
                select(Commission.amount).where(
                    Commission.conversion_id == r.outcome.conversion_id  # type: ignore[union-attr]
                )
            ).one()
            for r in results
        ]
    assert amounts == [Decimal("10.00"), Decimal("20.00"), Decimal("20.00")]


def test_an_unexpected_failure_while_planning_stays_with_its_event(
    loop: asyncio.AbstractEventLoop, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Planning runs without savepoints; a crash there re-runs the batch with one per event,
    so only the failing event is left for reprocessing (and PostgreSQL's aborted transaction
    does not take the others with it)."""
    from alliance.conversions import service

    w = world()
    clk = new_click(w).id
    real = service.quote_conversion

    def crash_on_66(document: Any, version: int, facts: Any) -> Any:
        if facts.amount == Decimal("66.00"):
            raise RuntimeError("boom")
        return real(document, version, facts)

    monkeypatch.setattr(service, "quote_conversion", crash_on_66)
    amounts = ["10.00", "66.00", "12.00"]
    jobs = [job(loop, w, order_id=f"U-{a}", amount=a, click_id=clk) for a in amounts]
    results = run(loop, jobs)
    assert status(results[0]) == status(results[2]) == "accepted"
    assert results[1].outcome is None and results[1].rejected is None and results[1].stored
    assert count(Conversion, Conversion.program_id == w.program_id) == 2
    with reading() as session:
        crashed = session.get(InboundEvent, jobs[1].event.id)
        assert crashed is not None and crashed.status == "received"
