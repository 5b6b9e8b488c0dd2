"""In-process helpers for the delivery tests: endpoints and postbacks through the service
layer, conversions through the conversion service, the job through deliver_due."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.clock import utcnow
from alliance.conversions import service as conversions
from alliance.db.engine import reading, transaction
from alliance.notifications import service
from alliance.notifications.delivery import deliver_due
from alliance.notifications.models import WebhookDelivery
from alliance.programs.models import Program
from tests.conversions.factories import World, report


@dataclass(frozen=True)
class Endpoint:
    id: str
    secret: str


def advertiser(w: World) -> Principal:
    return Principal(AccountKind.advertiser, w.advertiser_id)


def partner(w: World) -> Principal:
    return Principal(AccountKind.partner, w.partner_id)


def endpoint(who: Principal, url: str, types: list[str] | None = None) -> Endpoint:
    with transaction() as session:
        row = service.create_endpoint(
            session,
            who,
            url=url,
            description="",
            event_types=types or [],
            active=True,
            now=utcnow(),
        )
        return Endpoint(row.id, row.secret)


def postback(w: World, url: str, *, program: bool = True, **fields: Any) -> str:
    with transaction() as session:
        row = service.put_postback(
            session,
            w.partner_id,
            program_id=w.program_id if program else None,
            url_template=url,
            event_types=fields.pop("event_types", []),
            active=fields.pop("active", True),
            now=utcnow(),
        )
        return row.id


def record(w: World, order_id: str, **fields: Any) -> str:
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        return conversions.record(
            session, program, report(w, order_id, **fields), None, utcnow()
        ).conversion_id


def run(now: datetime | None = None) -> dict[str, int]:
    return deliver_due(now, budget_s=30)


def later(hours: float = 48) -> datetime:
    """Far enough ahead for any backoff of the test settings to be over."""
    return utcnow() + timedelta(hours=hours)


def deliveries(
    *, endpoint_id: str | None = None, postback_id: str | None = None
) -> list[dict[str, Any]]:
    with reading() as session:
        statement = select(WebhookDelivery).order_by(WebhookDelivery.id)
        if endpoint_id is not None:
            statement = statement.where(WebhookDelivery.endpoint_id == endpoint_id)
        if postback_id is not None:
            statement = statement.where(WebhookDelivery.postback_id == postback_id)
        return [
            {c.key: getattr(row, c.key) for c in WebhookDelivery.__table__.columns}  # type: ignore[attr-defined]
            for row in session.scalars(statement)
        ]


def body(request_body: bytes) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(request_body)
    return document
