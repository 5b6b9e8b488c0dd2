"""REST shapes of webhook endpoints, partner postbacks and the delivery log."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from alliance.api.fields import Label, ProgramId, Url
from alliance.notifications.models import (
    DeliveryState,
    OwnerKind,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
)
from alliance.notifications.signing import secret_hint

EventType = Annotated[str, StringConstraints(max_length=64)]
EventTypes = Annotated[
    list[EventType],
    Field(
        max_length=50,
        description="Event types to receive (GET /api/v1/webhook-event-types); empty = all.",
    ),
]


class EndpointCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Url = Field(description="https:// (or http://) URL on a public address, port 80/443")
    description: Label = ""
    event_types: EventTypes = Field(default_factory=list)
    active: bool = True


class EndpointUpdate(BaseModel):
    """Only the fields sent change."""

    model_config = ConfigDict(extra="forbid")

    url: Url | None = None
    description: Label | None = None
    event_types: EventTypes | None = None
    active: bool | None = None


class RotateSecret(BaseModel):
    model_config = ConfigDict(extra="forbid")

    keep_previous_hours: int = Field(
        default=24,
        ge=0,
        le=24 * 7,
        description="Keep signing with the old secret too (a second signature) this long.",
    )


class EndpointOut(BaseModel):
    id: str
    owner_kind: OwnerKind
    owner_id: str
    url: str
    description: str
    event_types: list[str]
    active: bool
    secret_hint: str = Field(description="The start of the signing secret, to tell keys apart")
    previous_secret_valid_until: datetime | None = Field(
        description="After a rotation: until when the old secret signs too"
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookEndpoint) -> EndpointOut:
        return cls(
            id=row.id,
            owner_kind=OwnerKind(row.owner_kind),
            owner_id=row.owner_id,
            url=row.url,
            description=row.description,
            event_types=list(row.event_types or []),
            active=row.active,
            secret_hint=secret_hint(row.secret),
            previous_secret_valid_until=row.previous_valid_until if row.previous_secret else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class EndpointWithSecret(EndpointOut):
    secret: str = Field(
        description="The signing secret (whsec_...). Shown only now: store it with the receiver."
    )

    @classmethod
    def with_secret(cls, row: WebhookEndpoint) -> EndpointWithSecret:
        return cls(**EndpointOut.of(row).model_dump(), secret=row.secret)


class DeliveryOut(BaseModel):
    id: str
    event_id: str = Field(description="The `webhook-id` header: the same on every attempt")
    event_type: str
    endpoint_id: str | None
    postback_id: str | None
    state: DeliveryState
    attempts: int
    last_status_code: int | None
    last_error: str | None
    last_url: str | None = Field(description="Where the last attempt went")
    last_attempt_at: datetime | None
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, row: WebhookDelivery) -> DeliveryOut:
        # A due-but-claimed delivery's next_attempt_at is its lease, not a schedule: shown
        # as is, it is still when the next attempt may start at the latest.
        return cls(
            id=row.id,
            event_id=row.event_id,
            event_type=row.event_type,
            endpoint_id=row.endpoint_id,
            postback_id=row.postback_id,
            state=DeliveryState(row.state),
            attempts=row.attempts,
            last_status_code=row.last_status_code,
            last_error=row.last_error,
            last_url=row.last_url,
            last_attempt_at=row.last_attempt_at,
            next_attempt_at=row.next_attempt_at,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


class PostbackPut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId | None = Field(
        default=None, description="The program this template is for; null = every program"
    )
    url: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Tracker URL with macros such as {click_id}, {order_id}, {amount}"
    )
    event_types: EventTypes = Field(default_factory=list)
    active: bool = True


class PostbackOut(BaseModel):
    id: str
    partner_id: str
    program_id: str | None
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: PartnerPostback) -> PostbackOut:
        return cls(
            id=row.id,
            partner_id=row.partner_id,
            program_id=row.program_id,
            url=row.url_template,
            event_types=list(row.event_types or []),
            active=row.active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class EventTypeOut(BaseModel):
    type: str
    description: str
    postback: bool = Field(description="Whether partner postbacks can be called on it")


class MacroOut(BaseModel):
    name: str
    description: str
