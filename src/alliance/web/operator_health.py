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
from alliance.web.i18n import ngettext
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


def problems(h: health.Health) -> list[str]:
    """What needs attention, in words, most urgent first."""
    found = []
    failing = [t.name for t in h.tasks if t.state == "failing"]
    never = [t.name for t in h.tasks if t.state == "never_run"]
    overdue = [t.name for t in h.tasks if t.state == "overdue"]
    if failing:
        found.append(
            ngettext(
                "%(num)s task failing: %(names)s.",
                "%(num)s tasks failing: %(names)s.",
                len(failing),
                names=", ".join(failing),
            )
        )
    if overdue:
        found.append(
            ngettext(
                "%(num)s task overdue: %(names)s.",
                "%(num)s tasks overdue: %(names)s.",
                len(overdue),
                names=", ".join(overdue),
            )
        )
    if never:
        found.append(
            ngettext(
                "%(num)s task has never run: is “alliance jobs run” scheduled?",
                "%(num)s tasks have never run: is “alliance jobs run” scheduled?",
                len(never),
            )
        )
    if h.inbound_stuck:
        found.append(
            ngettext(
                "%(num)s inbound event stuck.", "%(num)s inbound events stuck.", h.inbound_stuck
            )
        )
    if h.failing_target_count:
        found.append(
            ngettext(
                "%(num)s webhook receiver failing.",
                "%(num)s webhook receivers failing.",
                h.failing_target_count,
            )
        )
    dead = h.deliveries.get("dead", 0)
    if dead:
        found.append(ngettext("%(num)s dead delivery.", "%(num)s dead deliveries.", dead))
    if h.writer is not None and h.writer.failed_batches:
        found.append(
            ngettext(
                "%(num)s click batch failed.",
                "%(num)s click batches failed.",
                h.writer.failed_batches,
            )
        )
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
