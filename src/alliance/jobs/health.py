"""System health: what is waiting, what is failing, and how far behind the background work is.

One set of figures for two readers: the operator's health page (web/operator_health.py) and
`/metrics` in Prometheus text format (api/health.py). Every figure is a small indexed query
(a count, a min, the latest row of a task), so either can be asked for every few seconds.

The click writer runs inside each server worker, so its figures are this process's own
(tracking/click_writer.py keeps them, a few attribute writes per batch); the database view
of the same thing is the age of the most recently stored click.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, or_, select
from sqlalchemy.orm import Session, aliased

from alliance.accounts.people import account_name
from alliance.clock import as_utc
from alliance.conversions.models import InboundEvent, InboundStatus, OrderValidation
from alliance.conversions.models import ValidationStatus as VS
from alliance.jobs.models import JobRun
from alliance.jobs.runner import TASKS, Task
from alliance.jobs.tasks import STUCK_AFTER
from alliance.notifications.models import (
    DeliveryState,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookEvent,
)
from alliance.tracking.click_writer import active_writer
from alliance.tracking.models import Click

# A task is overdue when it has been due this long without a successful run: `alliance jobs
# run` is meant to be called every minute or so, so ten minutes means nobody is calling it
# (or every run fails).
OVERDUE_AFTER = timedelta(minutes=10)
# A webhook target is listed as failing from this many consecutive failed deliveries on.
FAILING_FROM = 1
FAILING_TARGETS_SHOWN = 50


@dataclass(frozen=True, slots=True)
class TaskHealth:
    name: str
    description: str
    every: timedelta
    last_run_at: datetime | None  # the latest run, whatever its outcome
    last_run_finished_at: datetime | None
    last_run_ok: bool | None  # None: never run, or still running (or died while running)
    last_result: dict[str, Any]
    last_success_at: datetime | None
    due_at: datetime | None  # None: never succeeded, due now
    due: bool
    overdue: bool
    lag_seconds: float  # how long it has been due without a success; inf if never succeeded

    @property
    def state(self) -> str:
        """One word for the page: failing, overdue, never_run, running, due, ok."""
        if self.last_run_ok is False:
            return "failing"
        if self.last_run_at is None:
            return "never_run"
        if self.overdue:
            return "overdue"
        if self.last_run_ok is None and self.last_run_finished_at is None:
            return "running"
        return "due" if self.due else "ok"

    @property
    def error(self) -> str | None:
        if self.last_run_ok is False:
            return str(self.last_result.get("error") or "failed without a message")
        return None


@dataclass(frozen=True, slots=True)
class Backlog:
    count: int
    oldest: datetime | None

    def age_seconds(self, now: datetime) -> float:
        return 0.0 if self.oldest is None else max(0.0, (now - as_utc(self.oldest)).total_seconds())


@dataclass(frozen=True, slots=True)
class FailingTarget:
    """A webhook endpoint or partner postback whose latest deliveries failed."""

    kind: str  # endpoint | postback
    id: str
    owner_kind: str
    owner_id: str
    owner_name: str | None
    url: str
    active: bool
    consecutive_failures: int  # failed or dead deliveries attempted since its last success
    dead: int  # of which given up
    last_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class WriterFigures:
    """This process's click writer (tracking/click_writer.py WriterStats)."""

    pid: int
    running: bool
    queue_depth: int
    batches: int
    clicks: int
    failed_batches: int
    failed_clicks: int
    largest_batch: int
    last_batch_size: int
    last_flush_seconds: float
    flush_seconds_total: float
    last_commit_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None


@dataclass(frozen=True, slots=True)
class Health:
    now: datetime
    tasks: list[TaskHealth]
    validations_queued: Backlog  # bulk validations answered 202, waiting for the runner
    validations_running: int
    validations_failed: int
    outbox: Backlog  # events not routed yet
    deliveries: dict[str, int]  # by DeliveryState, every state present
    deliveries_due: Backlog  # pending or failed with next_attempt_at <= now
    inbound_received: Backlog  # inbound events not processed yet
    inbound_stuck: int  # of which older than STUCK_AFTER: the reprocess backlog
    failing_targets: list[FailingTarget] = field(default_factory=list)
    failing_target_count: int = 0
    writer: WriterFigures | None = None
    newest_click_at: datetime | None = None

    @property
    def overdue_tasks(self) -> list[TaskHealth]:
        return [t for t in self.tasks if t.overdue or t.last_run_ok is False]

    @property
    def newest_click_age_seconds(self) -> float | None:
        if self.newest_click_at is None:
            return None
        return max(0.0, (self.now - as_utc(self.newest_click_at)).total_seconds())


# --- jobs ------------------------------------------------------------------------------------


def _task_health(session: Session, task: Task, now: datetime) -> TaskHealth:
    # Both served by the index (name, started_at).
    last = session.execute(
        select(JobRun.started_at, JobRun.finished_at, JobRun.ok, JobRun.result)
        .where(JobRun.name == task.name)
        .order_by(JobRun.started_at.desc())
        .limit(1)
    ).first()
    success = session.scalar(
        select(JobRun.started_at)
        .where(JobRun.name == task.name, JobRun.ok.is_(True))
        .order_by(JobRun.started_at.desc())
        .limit(1)
    )
    success_at = as_utc(success) if success is not None else None
    # The runner's rule (jobs/runner.py run_due): due once the last success is `every` old.
    due_at = success_at + task.every if success_at is not None else None
    due = due_at is None or due_at <= now
    lag = math.inf if due_at is None else max(0.0, (now - due_at).total_seconds())
    return TaskHealth(
        name=task.name,
        description=task.description,
        every=task.every,
        last_run_at=as_utc(last.started_at) if last else None,
        last_run_finished_at=as_utc(last.finished_at) if last and last.finished_at else None,
        last_run_ok=last.ok if last else None,
        last_result=dict(last.result or {}) if last else {},
        last_success_at=success_at,
        due_at=due_at,
        due=due,
        overdue=lag > OVERDUE_AFTER.total_seconds(),
        lag_seconds=lag,
    )


def task_health(session: Session, now: datetime) -> list[TaskHealth]:
    return [_task_health(session, task, now) for task in TASKS.values()]


# --- queues ----------------------------------------------------------------------------------


def _backlog(session: Session, time_column: Any, *where: Any) -> Backlog:
    row = session.execute(select(func.count(), func.min(time_column)).where(*where)).one()
    return Backlog(int(row[0] or 0), as_utc(row[1]) if row[1] is not None else None)


def delivery_counts(session: Session) -> dict[str, int]:
    counts = {state.value: 0 for state in DeliveryState}
    rows = session.execute(
        select(WebhookDelivery.state, func.count()).group_by(WebhookDelivery.state)
    )
    for state, count in rows:
        counts[str(state)] = int(count)
    return counts


def _consecutive_failures(session: Session, target: Any) -> list[tuple[str, int, int]]:
    """(target id, failures since its last delivered one, of which dead) per failing target."""
    ok = aliased(WebhookDelivery)
    last_ok = (
        select(func.max(ok.delivered_at))
        .where(getattr(ok, target.key) == target, ok.state == DeliveryState.delivered.value)
        .scalar_subquery()
    )
    failed = (DeliveryState.failed.value, DeliveryState.dead.value)
    dead = case((WebhookDelivery.state == DeliveryState.dead.value, 1), else_=0)
    rows = session.execute(
        select(target, func.count(), func.sum(dead))
        .where(
            target.is_not(None),
            WebhookDelivery.state.in_(failed),
            or_(last_ok.is_(None), WebhookDelivery.last_attempt_at > last_ok),
        )
        .group_by(target)
    )
    return [(str(r[0]), int(r[1]), int(r[2] or 0)) for r in rows if int(r[1]) >= FAILING_FROM]


def _failing(session: Session) -> list[tuple[str, str, int, int]]:
    """(kind, id, consecutive failures, dead) of every failing target, worst first."""
    found = [
        ("endpoint", *row) for row in _consecutive_failures(session, WebhookDelivery.endpoint_id)
    ] + [("postback", *row) for row in _consecutive_failures(session, WebhookDelivery.postback_id)]
    found.sort(key=lambda r: (-r[2], r[1]))
    return found


def failing_targets(
    session: Session, found: list[tuple[str, str, int, int]], limit: int = FAILING_TARGETS_SHOWN
) -> list[FailingTarget]:
    """The first `limit` failing targets with their owner, URL and last error."""
    targets: list[FailingTarget] = []
    for kind, target_id, failures, dead in found[:limit]:
        column = WebhookDelivery.endpoint_id if kind == "endpoint" else WebhookDelivery.postback_id
        latest = session.execute(
            select(
                WebhookDelivery.owner_kind,
                WebhookDelivery.owner_id,
                WebhookDelivery.last_attempt_at,
                WebhookDelivery.last_status_code,
                WebhookDelivery.last_error,
            )
            .where(column == target_id, WebhookDelivery.last_attempt_at.is_not(None))
            .order_by(WebhookDelivery.last_attempt_at.desc())
            .limit(1)
        ).first()
        row: WebhookEndpoint | PartnerPostback | None
        if kind == "endpoint":
            row = session.get(WebhookEndpoint, target_id)
            url = row.url if row else ""
        else:
            row = session.get(PartnerPostback, target_id)
            url = row.url_template if row else ""
        owner_kind = latest.owner_kind if latest else ""
        owner_id = latest.owner_id if latest else ""
        last_at = latest.last_attempt_at if latest else None
        targets.append(
            FailingTarget(
                kind=kind,
                id=target_id,
                owner_kind=owner_kind,
                owner_id=owner_id,
                owner_name=account_name(session, owner_kind, owner_id) if latest else None,
                url=url,
                active=bool(row.active) if row else False,
                consecutive_failures=failures,
                dead=dead,
                last_attempt_at=as_utc(last_at) if last_at is not None else None,
                last_status_code=latest.last_status_code if latest else None,
                last_error=latest.last_error if latest else None,
            )
        )
    return targets


# --- clicks ----------------------------------------------------------------------------------


def writer_figures() -> WriterFigures | None:
    writer = active_writer()
    if writer is None:
        return None
    s = writer.stats

    def moment(unix: float | None) -> datetime | None:
        return None if unix is None else datetime.fromtimestamp(unix, UTC)

    return WriterFigures(
        pid=os.getpid(),
        running=writer.running,
        queue_depth=writer.pending,
        batches=s.batches,
        clicks=s.clicks,
        failed_batches=s.failed_batches,
        failed_clicks=s.failed_clicks,
        largest_batch=s.largest_batch,
        last_batch_size=s.last_batch_size,
        last_flush_seconds=s.last_flush_seconds,
        flush_seconds_total=s.flush_seconds_total,
        last_commit_at=moment(s.last_commit_at),
        last_error=s.last_error,
        last_error_at=moment(s.last_error_at),
    )


def newest_click_at(session: Session) -> datetime | None:
    """When the most recently stored click happened. Click ids are time-ordered (ids.py), so
    the largest id is the newest row: one step down the primary key, however big the table."""
    found = session.scalar(select(Click.occurred_at).order_by(Click.id.desc()).limit(1))
    return as_utc(found) if found is not None else None


# --- everything ------------------------------------------------------------------------------


def collect(session: Session, now: datetime, *, details: bool = True) -> Health:
    """Every figure; `details` adds the list of failing webhook targets (for the page)."""
    due_states = (DeliveryState.pending.value, DeliveryState.failed.value)
    failing = _failing(session)
    validation_counts = dict(
        session.execute(
            select(OrderValidation.status, func.count())
            .where(OrderValidation.status.in_((VS.running.value, VS.failed.value)))
            .group_by(OrderValidation.status)
        )
        .tuples()
        .all()
    )
    return Health(
        now=now,
        tasks=task_health(session, now),
        validations_queued=_backlog(
            session, OrderValidation.created_at, OrderValidation.status == VS.queued.value
        ),
        validations_running=int(validation_counts.get(VS.running.value, 0)),
        validations_failed=int(validation_counts.get(VS.failed.value, 0)),
        outbox=_backlog(session, WebhookEvent.occurred_at, WebhookEvent.routed_at.is_(None)),
        deliveries=delivery_counts(session),
        deliveries_due=_backlog(
            session,
            WebhookDelivery.next_attempt_at,
            WebhookDelivery.state.in_(due_states),
            WebhookDelivery.next_attempt_at <= now,
        ),
        inbound_received=_backlog(
            session, InboundEvent.received_at, InboundEvent.status == InboundStatus.received.value
        ),
        inbound_stuck=int(
            session.scalar(
                select(func.count()).where(
                    InboundEvent.status == InboundStatus.received.value,
                    InboundEvent.received_at <= now - STUCK_AFTER,
                )
            )
            or 0
        ),
        failing_targets=failing_targets(session, failing) if details else [],
        failing_target_count=len(failing),
        writer=writer_figures(),
        newest_click_at=newest_click_at(session),
    )
