"""The periodic tasks of the money path. Each is idempotent: running it twice, or in two
workers at once, does the work once (unique keys, and SKIP LOCKED on PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select

from alliance.commissions import service as ledger
from alliance.conversions import inbox
from alliance.conversions.models import InboundEvent, InboundStatus
from alliance.db.engine import transaction

# An event still `received` after this long was orphaned by a crash (a live request finishes
# in milliseconds); younger ones may still be in a server's pipeline.
STUCK_AFTER = timedelta(seconds=30)
# CPC days are accrued once complete. Late-arriving clicks of a day already accrued are not
# added (the day's commission exists); the job looks back this far for days it missed.
CPC_LOOKBACK_DAYS = 35
REPROCESS_BATCH = 200


def approve_due_commissions(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    with transaction() as session:
        changed = ledger.approve_due(session, now)
    return {"changed": changed}


def accrue_cpc(now: datetime, last: dict[str, Any] | None) -> dict[str, Any]:
    """Accrue every completed UTC day since the last run (at least the last three days, so a
    run that failed or a late click batch near midnight is caught up), up to yesterday."""
    yesterday = now.date() - timedelta(days=1)
    start = yesterday - timedelta(days=2)
    through = (last or {}).get("through")
    if isinstance(through, str):
        start = min(start, date.fromisoformat(through) + timedelta(days=1))
    start = max(start, now.date() - timedelta(days=CPC_LOOKBACK_DAYS))
    created = 0
    day = start
    while day <= yesterday:
        with transaction() as session:
            created += ledger.accrue_clicks(session, day)
        day += timedelta(days=1)
    return {"created": created, "from": start.isoformat(), "through": yesterday.isoformat()}


def reprocess_inbound(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Process inbound events stuck in `received` (stored, then the process died)."""
    from alliance.conversions.endpoints import process_stored

    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "failed": 0}
    seen: set[str] = set()
    while True:
        with transaction() as session:
            # SKIP LOCKED: two workers take different events; the lock lasts only while they
            # are claimed, processing is idempotent anyway.
            events = session.scalars(
                select(InboundEvent)
                .where(
                    InboundEvent.status == InboundStatus.received.value,
                    InboundEvent.received_at <= now - STUCK_AFTER,
                    InboundEvent.id.not_in(seen) if seen else InboundEvent.id.is_not(None),
                )
                .order_by(InboundEvent.received_at)
                .limit(REPROCESS_BATCH)
                .with_for_update(skip_locked=True)
            ).all()
            work = [(e.id, inbox.raw_of(e)) for e in events]
        if not work:
            return counts
        for event_id, raw in work:
            seen.add(event_id)
            try:
                result = process_stored(event_id, raw)
            except Exception as exc:  # noqa: BLE001 - recorded, the next event still runs
                _give_up(event_id, exc)
                counts["failed"] += 1
                continue
            if result.outcome is not None:
                counts[result.outcome.status] += 1
            else:
                counts["rejected"] += 1


def _give_up(event_id: str, exc: Exception) -> None:
    """An event that crashes its processing is parked as rejected (reason internal_error) so
    the job does not loop on it; POST /api/v1/inbound-events/{id}/retry re-runs it."""
    from alliance.clock import utcnow

    with transaction() as session:
        inbox.finish(
            session,
            event_id,
            status=InboundStatus.rejected,
            now=utcnow(),
            reason="internal_error",
            detail=f"{type(exc).__name__}: {exc}"[:1000],
        )
