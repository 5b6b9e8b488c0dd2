"""/healthz: the database answers. /metrics: the system health figures for Prometheus.

/metrics is the Prometheus text exposition format (version 0.0.4) of jobs/health.py: the
same figures the operator's health page shows. They are counts and ages, never ids, names or
amounts. The click writer's figures are this worker's own (label `pid`): with several server
workers each scrape sees the worker that answered it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from fastapi import APIRouter
from fastapi.responses import PlainTextResponse
from sqlalchemy import text

from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.jobs import health

router = APIRouter(include_in_schema=False)

PROMETHEUS_TEXT = "text/plain; version=0.0.4; charset=utf-8"


@router.get("/healthz")
def healthz() -> dict[str, str]:
    with reading() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok"}


def _value(number: float) -> str:
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if math.isnan(number):
        return "NaN"
    if float(number).is_integer():
        return str(int(number))
    return repr(float(number))


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


class _Exposition:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def metric(
        self,
        name: str,
        kind: str,
        help_text: str,
        samples: Iterable[tuple[dict[str, str], float]],
    ) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")
        for labels, number in samples:
            if labels:
                inner = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
                self.lines.append(f"{name}{{{inner}}} {_value(number)}")
            else:
                self.lines.append(f"{name} {_value(number)}")

    def gauge(self, name: str, help_text: str, number: float) -> None:
        self.metric(name, "gauge", help_text, [({}, number)])

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def exposition(h: health.Health) -> str:
    """The figures in Prometheus text format."""
    out = _Exposition()
    now = h.now
    out.metric(
        "alliance_job_lag_seconds",
        "gauge",
        "Seconds a periodic task has been due without a successful run (+Inf: never succeeded).",
        [({"task": t.name}, t.lag_seconds) for t in h.tasks],
    )
    out.metric(
        "alliance_job_last_success_timestamp_seconds",
        "gauge",
        "Unix time the last successful run of the task started (0: never).",
        [
            ({"task": t.name}, t.last_success_at.timestamp() if t.last_success_at else 0)
            for t in h.tasks
        ],
    )
    out.metric(
        "alliance_job_last_run_ok",
        "gauge",
        "1 if the latest run of the task succeeded, 0 if it failed (absent: never finished).",
        [
            ({"task": t.name}, 1 if t.last_run_ok else 0)
            for t in h.tasks
            if t.last_run_ok is not None
        ],
    )
    out.metric(
        "alliance_job_overdue",
        "gauge",
        f"1 if the task has been due for over {int(health.OVERDUE_AFTER.total_seconds())} s.",
        [({"task": t.name}, 1 if t.overdue else 0) for t in h.tasks],
    )
    out.metric(
        "alliance_webhook_deliveries",
        "gauge",
        "Outbound webhook and partner postback deliveries in the log, by state.",
        [({"state": state}, count) for state, count in sorted(h.deliveries.items())],
    )
    out.gauge(
        "alliance_webhook_deliveries_due",
        "Deliveries pending or failed whose next attempt time has come.",
        h.deliveries_due.count,
    )
    out.gauge(
        "alliance_webhook_deliveries_due_oldest_age_seconds",
        "How long the oldest due delivery has been waiting.",
        h.deliveries_due.age_seconds(now),
    )
    out.gauge(
        "alliance_webhook_failing_targets",
        "Webhook endpoints and partner postbacks whose deliveries failed since their last success.",
        h.failing_target_count,
    )
    out.gauge(
        "alliance_webhook_outbox_unrouted",
        "Business events in the outbox not routed to their receivers yet.",
        h.outbox.count,
    )
    out.gauge(
        "alliance_webhook_outbox_oldest_age_seconds",
        "Age of the oldest event not routed yet.",
        h.outbox.age_seconds(now),
    )
    out.gauge(
        "alliance_inbound_backlog",
        "Inbound postbacks, pixels and order webhooks stored and not processed yet.",
        h.inbound_received.count,
    )
    out.gauge(
        "alliance_inbound_backlog_oldest_age_seconds",
        "Age of the oldest unprocessed inbound event.",
        h.inbound_received.age_seconds(now),
    )
    out.gauge(
        "alliance_inbound_stuck",
        "Unprocessed inbound events old enough for the reprocess job to take them.",
        h.inbound_stuck,
    )
    out.gauge(
        "alliance_validations_queued",
        "Bulk order validations waiting for the job runner.",
        h.validations_queued.count,
    )
    out.gauge(
        "alliance_validations_running",
        "Bulk order validations being applied.",
        h.validations_running,
    )
    out.gauge(
        "alliance_validations_failed",
        "Bulk order validations stopped by an error (a re-upload resumes them).",
        h.validations_failed,
    )
    if h.newest_click_at is not None:
        out.gauge(
            "alliance_click_newest_age_seconds",
            "Age of the most recently stored click (database view of the click writer).",
            h.newest_click_age_seconds or 0.0,
        )
    w = h.writer
    if w is not None:
        pid = {"pid": str(w.pid)}
        writer_gauges = (
            ("queue_depth", "Clicks waiting in this worker's click writer.", w.queue_depth),
            ("last_batch_size", "Clicks in the writer's last batch.", w.last_batch_size),
            ("last_flush_seconds", "Duration of the last batch write.", w.last_flush_seconds),
            (
                "last_commit_timestamp_seconds",
                "Unix time of the writer's last committed batch (0: none yet).",
                w.last_commit_at.timestamp() if w.last_commit_at else 0,
            ),
            ("running", "1 if this worker's click writer is running.", 1 if w.running else 0),
        )
        for name, help_text, number in writer_gauges:
            out.metric(f"alliance_click_writer_{name}", "gauge", help_text, [(pid, number)])
        writer_counters = (
            ("flush_seconds_total", "Seconds spent writing batches.", w.flush_seconds_total),
            ("batches_total", "Batches committed.", w.batches),
            ("clicks_total", "Clicks committed.", w.clicks),
            ("failed_batches_total", "Batches that failed (clicks got 503).", w.failed_batches),
            ("failed_clicks_total", "Clicks in failed batches.", w.failed_clicks),
        )
        for name, help_text, number in writer_counters:
            out.metric(f"alliance_click_writer_{name}", "counter", help_text, [(pid, number)])
    return out.text()


@router.get("/metrics", response_class=PlainTextResponse)
def metrics() -> PlainTextResponse:
    with reading() as session:
        figures = health.collect(session, utcnow(), details=False)
    return PlainTextResponse(exposition(figures), media_type=PROMETHEUS_TEXT)
