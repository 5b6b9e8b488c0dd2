"""The jobs: reprocessing stuck inbound events, approvals, CPC accrual, and the CLI."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import urlencode

from sqlalchemy import select

from alliance.clock import utcnow
from alliance.commissions.models import Commission
from alliance.commissions.service import accrue_clicks, commission_value, cpc_source_key
from alliance.conversions import inbox
from alliance.conversions.models import InboundEvent
from alliance.conversions.postback import RawRequest
from alliance.db.engine import reading, transaction
from alliance.jobs.runner import TASKS, run_due, run_task

from .factories import new_click, world


def test_events_left_in_received_are_reprocessed(db_url: str) -> None:
    w = world()
    query = urlencode(
        {
            "program": w.program_id,
            "token": w.token,
            "order_id": "CRASH-1",
            "amount": "10.00",
            "coupon": w.coupon,
        }
    ).encode()
    old = inbox.NewEvent(
        RawRequest("postback", "GET", query, {}), None, utcnow() - timedelta(minutes=5)
    )
    fresh = inbox.NewEvent(RawRequest("postback", "GET", query, {}), None, utcnow())
    with transaction() as session:
        inbox.store_many(session, [old, fresh])
    result = run_task(TASKS["reprocess_inbound"])
    assert result.ok and result.result["accepted"] >= 1
    with reading() as session:
        statuses = {
            e.id: e.status
            for e in session.scalars(
                select(InboundEvent).where(InboundEvent.id.in_([old.id, fresh.id]))
            )
        }
    assert statuses == {old.id: "accepted", fresh.id: "received"}


def test_cpc_accrual_counts_unique_valid_visitors_once(db_url: str) -> None:
    w = world(terms={"type": "cpc", "amount": "0.25"}, lock_days=10)
    day = (utcnow() - timedelta(days=2)).date()
    noon = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    visitor = "vis_01M7Z40HPNEBVSDDD26QAYN1AA"
    new_click(w, at=noon, visitor_id=visitor)
    new_click(w, at=noon + timedelta(minutes=1), visitor_id=visitor)
    new_click(w, at=noon + timedelta(minutes=2))
    new_click(w, at=noon + timedelta(minutes=3), is_bot=True)
    new_click(w, at=noon + timedelta(days=1))
    with transaction() as session:
        assert accrue_clicks(session, day) >= 1
    with transaction() as session:
        assert accrue_clicks(session, day) == 0  # idempotent
    with reading() as session:
        com = session.scalars(
            select(Commission).where(
                Commission.source_key == cpc_source_key(w.program_id, w.partner_id, day)
            )
        ).one()
        assert com.amount == Decimal("0.50") and com.kind == "click"
        assert com.approvable_at == noon.replace(hour=0) + timedelta(days=11)
        assert commission_value(session, com.id) == Decimal("0.50")


def test_run_due_records_runs_and_skips_what_is_not_due(db_url: str) -> None:
    first = run_due(force=True)
    assert {r.name for r in first} == set(TASKS) and all(r.ok for r in first)
    second = run_due()
    # Periodic tasks wait for their period; a task with no period (webhook delivery) runs on
    # every call, since it has work whenever anything happened.
    assert not any(r.ran for r in second if TASKS[r.name].every > timedelta(0))
    assert all(r.ran for r in second if TASKS[r.name].every == timedelta(0))


def test_cli_jobs_run(db_url: str) -> None:
    env = {**os.environ, "ALLIANCE_DATABASE_URL": db_url, "COLUMNS": "200"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "alliance.cli",
            "jobs",
            "run",
            "--force",
            "--task",
            "approve_due_commissions",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "approve_due_commissions" in out.stdout and "ok" in out.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "alliance.cli", "jobs", "run", "--task", "nope"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode != 0
