"""The raw inbox: every inbound request is stored and committed before it is processed.

Rows are written by `store_many` in one transaction per batch (group commit, see
conversions/endpoints.py) and finished by `finish` in the transaction that applies them, so an
accepted event and its effect commit together. A crash between the two leaves the event in
`received`; the `reprocess_inbound` job picks it up (docs/adr/0006).

What is kept: method, raw query, body, content type, user agent, the signature header and
only the tracking cookies (`alc_*`, `alclid`) — never other cookies or authorisation headers,
and never the raw client IP (an HMAC of it, like clicks).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, insert, update
from sqlalchemy.orm import Session

from alliance.conversions.models import InboundEvent, InboundStatus
from alliance.conversions.postback import RawRequest
from alliance.ids import PREFIXES, new_id

QUERY_COLUMN = 8192  # inbound_events.query is VARCHAR(8192)
_KEPT_HEADERS = frozenset({b"content-type", b"user-agent", b"x-alliance-signature"})
_HEADER_VALUE_MAX = 1024
QUERY_IN_BODY = "x-alliance-query-in-body"


def keep_headers(raw_headers: Iterable[tuple[bytes, bytes]]) -> dict[str, str]:
    """The headers worth keeping, as text. latin-1 decodes any byte, so this never fails."""
    kept: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in raw_headers:
        lowered = name.lower()
        if lowered in _KEPT_HEADERS:
            kept[lowered.decode("latin-1")] = value.decode("latin-1")[:_HEADER_VALUE_MAX]
        elif lowered == b"cookie":
            for part in value.decode("latin-1").split(";"):
                cookie_name = part.split("=", 1)[0].strip()
                if cookie_name.startswith("alc_") or cookie_name == "alclid":
                    cookies.append(part.strip()[:200])
    if cookies:
        kept["cookie"] = "; ".join(cookies[:20])
    return kept


def cookie(headers: dict[str, str], name: str) -> str | None:
    for part in headers.get("cookie", "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


@dataclass(slots=True)
class NewEvent:
    """An inbound request on its way into the inbox."""

    raw: RawRequest
    ip_hash: str | None
    received_at: datetime
    id: str = ""

    def __post_init__(self) -> None:
        if not self.id:
            self.id = new_id(PREFIXES["inbound"])

    def row(self) -> dict[str, Any]:
        query_text = self.raw.query.decode("latin-1")
        body = self.raw.body
        headers = self.raw.headers
        if len(query_text) > QUERY_COLUMN or "\x00" in query_text:
            # Never lose the raw request: a query too long for its column (or with a raw NUL,
            # which PostgreSQL text refuses) is kept whole in `body` when the body is free,
            # and its head in `query`. The marker header tells reprocessing where to look.
            if not body:
                body = self.raw.query
                headers = {**headers, QUERY_IN_BODY: "1"}
            query_text = query_text.replace("\x00", "%00")[:QUERY_COLUMN]
        return {
            "id": self.id,
            "source": self.raw.source,
            "program_id": None,
            "method": self.raw.method[:8],
            "query": query_text,
            "headers": headers,
            "body": body,
            "remote_ip_hash": self.ip_hash,
            "received_at": self.received_at,
            "status": InboundStatus.received.value,
        }


def store_many(session: Session, events: Sequence[NewEvent]) -> None:
    """Insert raw events (one statement for the batch). The caller commits."""
    if events:
        session.execute(insert(InboundEvent), [event.row() for event in events])


def raw_of(event: InboundEvent) -> RawRequest:
    """The request as it arrived, from its stored row (for reprocessing)."""
    headers = dict(event.headers or {})
    query = event.query.encode("latin-1", "replace")
    body = event.body or b""
    if headers.pop(QUERY_IN_BODY, None):
        query, body = body, b""  # the long-query case of NewEvent.row
    return RawRequest(
        source=event.source, method=event.method, query=query, headers=headers, body=body
    )


_TABLE: Table = InboundEvent.__table__  # type: ignore[assignment]  # declarative: a Table
# One UPDATE executed for a whole batch of outcomes (executemany).
_FINISH = (
    update(_TABLE)
    .where(_TABLE.c.id == bindparam("b_id"))
    .values(
        status=bindparam("b_status"),
        program_id=bindparam("b_program_id"),
        conversion_id=bindparam("b_conversion_id"),
        reason=bindparam("b_reason"),
        field=bindparam("b_field"),
        detail=bindparam("b_detail"),
        processed_at=bindparam("b_processed_at"),
    )
)


def outcome_row(
    event_id: str,
    *,
    status: InboundStatus,
    now: datetime,
    program_id: str | None = None,
    conversion_id: str | None = None,
    reason: str | None = None,
    field: str | None = None,
    detail: str | None = None,
) -> dict[str, Any]:
    """The parameters of one `finish_many` row."""
    return {
        "b_id": event_id,
        "b_status": status.value,
        "b_program_id": program_id,
        "b_conversion_id": conversion_id,
        "b_reason": reason,
        "b_field": field[:64] if field else None,
        "b_detail": detail[:1000] if detail else None,
        "b_processed_at": now,
    }


def finish_many(session: Session, rows: Sequence[dict[str, Any]]) -> None:
    """Record many outcomes with one statement (in the transaction that applied them)."""
    if rows:
        session.connection().execute(_FINISH, list(rows))


def finish(
    session: Session,
    event_id: str,
    *,
    status: InboundStatus,
    now: datetime,
    program_id: str | None = None,
    conversion_id: str | None = None,
    reason: str | None = None,
    field: str | None = None,
    detail: str | None = None,
) -> None:
    """Record an event's outcome (in the same transaction as its effect, when it has one)."""
    finish_many(
        session,
        [
            outcome_row(
                event_id,
                status=status,
                now=now,
                program_id=program_id,
                conversion_id=conversion_id,
                reason=reason,
                field=field,
                detail=detail,
            )
        ],
    )
