"""Writing events into the outbox, inside the caller's transaction.

The business change and its event commit or roll back together (a transactional outbox): no
event for a change that was rolled back, no change without its event — whatever crashes
when. Nothing here talks to the network; the `deliver_webhooks` job does, later.

Emitting is one INSERT (one executemany for a batch of new conversions) and no read, so it
costs the ingest hot path as little as possible; finding who receives the event is the job's
work (dispatch.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import Table, insert
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.ids import new_id
from alliance.notifications.events import EVENT_TYPES
from alliance.notifications.models import EVENT_PREFIX, WebhookEvent
from alliance.notifications.payloads import commission_data, conversion_data, created_conversions

if TYPE_CHECKING:
    from alliance.commissions.models import Commission
    from alliance.conversions.batch import NewConversion
    from alliance.conversions.models import Conversion

_EVENTS_TABLE: Table = WebhookEvent.__table__  # type: ignore[assignment]
_INSERT = insert(_EVENTS_TABLE)


def _row(event_type: str, data: dict[str, Any], now: datetime) -> dict[str, Any]:
    assert event_type in EVENT_TYPES, f"unknown event type {event_type}"
    return {
        "id": new_id(EVENT_PREFIX),
        "type": event_type,
        "program_id": data.get("program_id"),
        "partner_id": data.get("partner_id"),
        "data": data,
        "body": None,
        "occurred_at": now,
        "routed_at": None,
    }


def emit(session: Session, event_type: str, data: dict[str, Any]) -> str:
    """Queue one event in the session's transaction; returns its id (the `webhook-id`)."""
    row = _row(event_type, data, utcnow())
    session.add(WebhookEvent(**row))
    return str(row["id"])


def emit_many(session: Session, event_type: str, datas: Sequence[dict[str, Any]]) -> None:
    """Queue events of one type with one statement (a Core executemany, like the bulk
    inserts of conversions/batch.py it runs beside)."""
    if datas:
        now = utcnow()
        session.connection().execute(_INSERT, [_row(event_type, data, now) for data in datas])


# --- the hooks the domain services call (one line each) --------------------------------------


def conversions_created(session: Session, plans: Sequence[NewConversion]) -> None:
    """`conversion.created` for each conversion of a bulk insert."""
    emit_many(session, "conversion.created", created_conversions(plans))


def conversion_changed(session: Session, event_type: str, conversion: Conversion) -> None:
    """A conversion event (completed, declined, refunded) with the conversion as it is now."""
    emit(session, event_type, conversion_data(session, conversion))


def commission_changed(
    session: Session, event_type: str, commission: Commission, **extra: Any
) -> None:
    """A commission event with the commission as it is now (value = Σ its ledger entries)."""
    emit(session, event_type, commission_data(session, commission, **extra))


def commission_refunded(
    session: Session, commission: Commission, *, reversed: bool, moved: bool
) -> None:
    """After a refund: `commission.reversed` if it took everything, `commission.adjusted` if
    it took a part, nothing if it was a replay that moved no money."""
    if reversed:
        commission_changed(session, "commission.reversed", commission)
    elif moved:
        commission_changed(session, "commission.adjusted", commission)
