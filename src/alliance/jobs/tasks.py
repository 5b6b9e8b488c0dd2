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
    from alliance.conversions import webhook_service
    from alliance.conversions.endpoints import process_stored
    from alliance.conversions.webhook_service import PLATFORMS

    counts = {"accepted": 0, "duplicate": 0, "rejected": 0, "parked": 0, "ignored": 0, "failed": 0}
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
            webhooks = {e.id for e in events if e.source in PLATFORMS and e.program_id}
        if not work:
            return counts
        for event_id, raw in work:
            seen.add(event_id)
            try:
                if event_id in webhooks:
                    delivery = webhook_service.process_stored(event_id)
                    counts[delivery.verdict] += 1
                    continue
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


def purge_idempotency_keys(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Delete Idempotency-Key answers past their expiry (ALLIANCE_IDEMPOTENCY_TTL_HOURS).

    An expired key is already free to be used again; this only keeps the table small."""
    from alliance.api.idempotency import purge_expired

    return {"deleted": purge_expired(now)}


def deliver_webhooks(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Route new outbox events to endpoints and postbacks, then send every due delivery
    (retries included); see notifications/delivery.py."""
    from alliance.notifications.delivery import deliver_due

    return dict(deliver_due(now))


def deliver_mail(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Send due e-mails (invitations, payout notices) over SMTP, retrying refusals with
    backoff; with no ALLIANCE_SMTP_HOST they stay queued and the result says so
    (mail/delivery.py)."""
    from alliance.mail.delivery import deliver_due

    return deliver_due(now)


def purge_webhook_log(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Forget delivered and dead deliveries older than ALLIANCE_WEBHOOK_RETENTION_DAYS."""
    from alliance.notifications.delivery import purge_log
    from alliance.settings import get_settings

    return dict(purge_log(now, get_settings().webhook_retention_days))


def refresh_rollups(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Bring the report rollups up to date: clicks up to the watermark, the order buckets
    logged as changed (reports/rollups.py). Reports stay exact without it, only slower."""
    from alliance.reports.rollups import refresh

    return refresh().as_result()


def apply_queued_validations(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Large bulk validations answered 202: apply them (and resume any whose worker died)."""
    from alliance.conversions.validation import apply_queued

    return dict(apply_queued(now))


def refresh_audience_sketches(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Rebuild every partner's audience sketch over the rolling window of valid clicks
    (ALLIANCE_CROSSPROMO_SKETCH_WINDOW_DAYS; docs/audience-overlap.md)."""
    from alliance.crosspromo.overlap import refresh_sketches

    return refresh_sketches(now=now).as_result()


def refresh_matching(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """Recount co-purchases of categories and partners' category mixes from the orders of
    the last year, for partner matching (docs/matching.md)."""
    from alliance.crosspromo.matching import refresh_co_purchases

    return refresh_co_purchases(now=now).as_result()
