"""/api/v1/inbound-events: the raw inbox as the advertiser sees it (why was my postback
refused?), and a retry once the cause is fixed (an enrollment approved, a click arrived).

Scoped: the operator sees every event; an advertiser the events naming one of its programs
(events whose program is unknown name no program and are the operator's to read); partners
have no access — the raw request carries the advertiser's secrets and customers' order ids.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Manager, ReadDB
from alliance.api.fields import ProgramId, is_public_id
from alliance.api.pagination import Page, PageQuery, fetch_page
from alliance.api.scoping import programs_of
from alliance.conversions import inbox
from alliance.conversions.models import InboundEvent, InboundStatus
from alliance.db.engine import reading
from alliance.errors import Conflict, NotFound
from alliance.programs.models import Program

router = APIRouter(prefix="/api/v1", tags=["inbound events"])

_SECRETS = ("token", "signature")
_BODY_PREVIEW = 4096


class InboundEventOut(BaseModel):
    id: str
    source: str
    program_id: str | None
    method: str
    status: str
    reason: str | None
    field: str | None
    detail: str | None
    conversion_id: str | None
    received_at: datetime
    processed_at: datetime | None
    query: str
    body: str

    @classmethod
    def of(cls, row: InboundEvent) -> InboundEventOut:
        return cls(
            id=row.id,
            source=row.source,
            program_id=row.program_id,
            method=row.method,
            status=row.status,
            reason=row.reason,
            field=row.field,
            detail=row.detail,
            conversion_id=row.conversion_id,
            received_at=row.received_at,
            processed_at=row.processed_at,
            query=_redact(row.query),
            body=(row.body or b"")[:_BODY_PREVIEW].decode("utf-8", "replace"),
        )


def _redact(query: str) -> str:
    """The raw query with the postback token and signature masked: lists get shared."""
    parts = []
    for chunk in query.split("&"):
        name = chunk.split("=", 1)[0]
        parts.append(f"{name}=***" if name in _SECRETS else chunk)
    return "&".join(parts)


def _visible(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    return InboundEvent.program_id.in_(programs_of(who.id))


def _check_program(db: Session, who: Principal, program_id: str) -> None:
    program = db.get(Program, program_id)
    if program is None or (who.is_advertiser and program.advertiser_id != who.id):
        raise NotFound(f"no program {program_id!r}")


@router.get("/inbound-events", response_model=Page[InboundEventOut])
def list_inbound_events(
    db: ReadDB,
    caller: Manager,
    page: PageQuery,
    status: Annotated[
        Literal["received", "accepted", "duplicate", "rejected", "parked", "ignored"] | None,
        Query(description="Only events with this outcome."),
    ] = None,
    program_id: Annotated[ProgramId | None, Query(description="Only this program.")] = None,
    source: Annotated[
        Literal["postback", "pixel", "shopify", "woocommerce", "stripe"] | None, Query()
    ] = None,
    reason: Annotated[str | None, Query(max_length=64, pattern=r"^[a-z_]+$")] = None,
) -> Page[InboundEventOut]:
    """Inbound postbacks, pixel hits and order webhooks, newest first, with the outcome and
    reason code."""
    statement = select(InboundEvent).where(_visible(caller))
    if program_id is not None:
        _check_program(db, caller, program_id)
        statement = statement.where(InboundEvent.program_id == program_id)
    if status is not None:
        statement = statement.where(InboundEvent.status == status)
    if source is not None:
        statement = statement.where(InboundEvent.source == source)
    if reason is not None:
        statement = statement.where(InboundEvent.reason == reason)
    rows, cursor = fetch_page(db, statement, InboundEvent.id, page)
    return Page(data=[InboundEventOut.of(row) for row in rows], next_cursor=cursor)


def _get(db: Session, who: Principal, event_id: str) -> InboundEvent:
    row = None
    if is_public_id(event_id, "evt"):
        row = db.scalars(
            select(InboundEvent).where(InboundEvent.id == event_id, _visible(who))
        ).first()
    if row is None:
        raise NotFound(f"no inbound event {event_id[:40]!r}")
    return row


@router.get("/inbound-events/{event_id}", response_model=InboundEventOut)
def get_inbound_event(event_id: str, db: ReadDB, caller: Manager) -> InboundEventOut:
    return InboundEventOut.of(_get(db, caller, event_id))


@router.post("/inbound-events/{event_id}/retry", response_model=InboundEventOut)
def retry_inbound_event(event_id: str, caller: Manager) -> InboundEventOut:
    """Process a rejected (or stuck) event again, as if it had just arrived. Idempotent: an
    event whose order was meanwhile recorded answers duplicate."""
    from alliance.conversions import webhook_service
    from alliance.conversions.endpoints import process_stored

    with reading() as db:
        row = _get(db, caller, event_id)
        if row.status not in (InboundStatus.rejected, InboundStatus.received):
            raise Conflict(
                f"event {event_id} is {row.status}; only rejected or received events are retried",
                field="status",
            )
        raw = inbox.raw_of(row)
        webhook = row.source in webhook_service.PLATFORMS and row.program_id is not None
    if webhook:
        webhook_service.process_stored(event_id)
    else:
        process_stored(event_id, raw)
    with reading() as db:
        return InboundEventOut.of(_get(db, caller, event_id))
