"""A registry of named periodic tasks and a runner that runs the due ones once.

`alliance jobs run` (cron, a systemd timer, or a loop in a sidecar) calls `run_due`. A task is
due when its last successful run started more than its interval ago. Each run is a JobRun
row: when it started and finished, whether it succeeded, and what it did (`result`); the next
run of the same task sees the last successful result (accrue_cpc keeps its watermark there).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from alliance.clock import utcnow
from alliance.crosspromo.campaign_reminders import advance_campaigns, send_due_reminders
from alliance.crosspromo.contests import draw_due_contests
from alliance.crosspromo.exchange_job import confirm_exchanges
from alliance.db.engine import reading, transaction
from alliance.ids import PREFIXES, new_id
from alliance.jobs import tasks
from alliance.jobs.models import JobRun

TaskFn = Callable[[datetime, dict[str, Any] | None], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Task:
    name: str
    fn: TaskFn
    every: timedelta
    description: str


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "approve_due_commissions",
            tasks.approve_due_commissions,
            timedelta(minutes=5),
            "pending commissions past their lock period become approved",
        ),
        Task(
            "accrue_cpc",
            tasks.accrue_cpc,
            timedelta(hours=1),
            "CPC commissions for completed UTC days",
        ),
        Task(
            "reprocess_inbound",
            tasks.reprocess_inbound,
            timedelta(minutes=1),
            "inbound events stuck in received for more than 30 s",
        ),
        Task(
            "purge_idempotency_keys",
            tasks.purge_idempotency_keys,
            timedelta(hours=1),
            "Idempotency-Key answers past their expiry",
        ),
        Task(
            "apply_queued_validations",
            tasks.apply_queued_validations,
            timedelta(0),
            "bulk order validations too large to apply in their request",
        ),
        Task(
            "deliver_webhooks",
            tasks.deliver_webhooks,
            timedelta(0),
            "route outbox events, send due webhooks and partner postbacks",
        ),
        Task(
            "deliver_mail",
            tasks.deliver_mail,
            timedelta(0),
            "send queued e-mails (invitations, payout notices) over SMTP",
        ),
        Task(
            "refresh_rollups",
            tasks.refresh_rollups,
            timedelta(0),
            "report rollups: new clicks, changed orders and customers",
        ),
        Task(
            "draw_contests",
            draw_due_contests,
            timedelta(minutes=1),
            "draw closed contests that need no external randomness value",
        ),
        Task(
            "advance_campaigns",
            advance_campaigns,
            timedelta(minutes=1),
            "co-promotion campaigns go live at their first slot, complete at their end",
        ),
        Task(
            "campaign_reminders",
            send_due_reminders,
            timedelta(minutes=5),
            "reminders of campaign slots and deliverables: 72 h, 24 h, 2 h before, daily overdue",
        ),
        Task(
            "confirm_exchanges",
            confirm_exchanges,
            timedelta(hours=1),
            "fair-exchange ledger: count confirmed deliveries between partners, raise alerts",
        ),
        Task(
            "purge_webhook_log",
            tasks.purge_webhook_log,
            timedelta(days=1),
            "forget delivered and dead deliveries past the retention",
        ),
        Task(
            "refresh_audience_sketches",
            tasks.refresh_audience_sketches,
            timedelta(days=1),
            "audience sketches of every partner, for audience overlap",
        ),
        Task(
            "refresh_matching",
            tasks.refresh_matching,
            timedelta(days=1),
            "co-purchases of categories and partners' category mixes, for matching",
        ),
    )
}


@dataclass(frozen=True, slots=True)
class RunResult:
    name: str
    ran: bool
    ok: bool | None
    seconds: float
    result: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LastRun:
    started_at: datetime
    result: dict[str, Any]


def _last_ok(name: str) -> LastRun | None:
    """The last successful run of a task (served by the index (name, started_at))."""
    with reading() as session:
        row = session.execute(
            select(JobRun.started_at, JobRun.result)
            .where(JobRun.name == name, JobRun.ok.is_(True))
            .order_by(JobRun.started_at.desc())
            .limit(1)
        ).first()
    return LastRun(row.started_at, dict(row.result or {})) if row else None


def run_task(task: Task, now: datetime | None = None) -> RunResult:
    """Run one task now and record it."""
    now = now or utcnow()
    last = _last_ok(task.name)
    run_id = new_id(PREFIXES["job_run"])
    with transaction() as session:
        session.add(JobRun(id=run_id, name=task.name, started_at=now, result={}))
    began = time.perf_counter()
    ok = True
    try:
        result = task.fn(now, last.result if last else None)
    except Exception as exc:  # noqa: BLE001 - recorded on the JobRun and shown, not hidden
        ok, result = False, {"error": f"{type(exc).__name__}: {exc}"[:500]}
    seconds = time.perf_counter() - began
    with transaction() as session:
        row = session.get(JobRun, run_id)
        if row is not None:
            row.finished_at = utcnow()
            row.ok = ok
            row.result = result
    return RunResult(task.name, True, ok, seconds, result)


def run_due(
    now: datetime | None = None, *, only: list[str] | None = None, force: bool = False
) -> list[RunResult]:
    """Run each due task once (every named one with `force`). Unknown names raise KeyError."""
    now = now or utcnow()
    chosen = [TASKS[name] for name in only] if only else list(TASKS.values())
    results: list[RunResult] = []
    for task in chosen:
        last = _last_ok(task.name)
        if not force and last is not None and last.started_at + task.every > now:
            results.append(
                RunResult(
                    task.name,
                    False,
                    None,
                    0.0,
                    {"next": (last.started_at + task.every).isoformat()},
                )
            )
            continue
        results.append(run_task(task, now))
    return results
