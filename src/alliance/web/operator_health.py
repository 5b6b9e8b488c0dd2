"""/operator/health: job backlog, webhook failures, the inbound backlog, click writer lag.

The figures come from jobs/health.py, the same ones /metrics exposes to Prometheus.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from alliance.clock import utcnow
from alliance.db.engine import reading
from alliance.jobs import health
from alliance.jobs.tasks import STUCK_AFTER
from alliance.web.sessions import OperatorPage
from alliance.web.templating import DASH, render

router = APIRouter()

# Above these the page marks the figure as a problem (text, not only colour).
CLICK_AGE_WARN_S = 3600  # no click stored for an hour: is the redirect reachable?
FLUSH_WARN_S = 0.25  # a batch write this slow makes every redirect in it wait as long


def _duration(seconds: float | None) -> str:
    """A short human duration: 45 s, 12 min, 3 h 5 min, 2 d 4 h."""
    if seconds is None:
        return DASH
    if seconds == float("inf"):
        return "never"
    s = int(seconds)
    if s < 60:
        return f"{s} s"
    minutes = s // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h" if hours else f"{days} d"


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def problems(h: health.Health) -> list[str]:
    """What needs attention, in words, most urgent first."""
    found = []
    failing = [t.name for t in h.tasks if t.state == "failing"]
    never = [t.name for t in h.tasks if t.state == "never_run"]
    overdue = [t.name for t in h.tasks if t.state == "overdue"]
    if failing:
        found.append(f"{_count(len(failing), 'task', 'tasks')} failing: {', '.join(failing)}.")
    if overdue:
        found.append(f"{_count(len(overdue), 'task', 'tasks')} overdue: {', '.join(overdue)}.")
    if never:
        found.append(
            f"{_count(len(never), 'task has', 'tasks have')} never run: "
            'is "alliance jobs run" scheduled?'
        )
    if h.inbound_stuck:
        found.append(f"{_count(h.inbound_stuck, 'inbound event', 'inbound events')} stuck.")
    if h.failing_target_count:
        found.append(
            f"{_count(h.failing_target_count, 'webhook receiver', 'webhook receivers')} failing."
        )
    dead = h.deliveries.get("dead", 0)
    if dead:
        found.append(f"{_count(dead, 'dead delivery', 'dead deliveries')}.")
    if h.writer is not None and h.writer.failed_batches:
        found.append(f"{_count(h.writer.failed_batches, 'click batch', 'click batches')} failed.")
    return found


@router.get("/operator/health", response_class=HTMLResponse)
def system_health(request: Request, viewer: OperatorPage) -> Response:
    with reading() as session:
        figures = health.collect(session, utcnow())
    context = {
        "h": figures,
        "problems": problems(figures),
        "duration": _duration,
        "overdue_after": _duration(health.OVERDUE_AFTER.total_seconds()),
        "stuck_after": _duration(STUCK_AFTER.total_seconds()),
        "click_age_warn": CLICK_AGE_WARN_S,
        "flush_warn": FLUSH_WARN_S,
    }
    return render(request, "operator/health.html", context)
