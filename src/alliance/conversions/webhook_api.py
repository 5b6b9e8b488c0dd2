"""/api/v1/programs/{id}/webhooks: connect a program to Shopify, WooCommerce or Stripe.

The advertiser pastes the platform's signing secret here (Shopify: the app's client secret;
WooCommerce: the secret typed when creating the webhook; Stripe: the endpoint's `whsec_...`)
and gets back the URL to register on the platform. Secrets are never shown again, only a
hint. Rotating: PUT a new secret with `keep_previous_hours` and deliveries signed with the old
one keep being accepted for that long (Stripe signs with both during its own rotation).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Path, status
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Manager, ReadDB
from alliance.api.scoping import get_visible, visible_programs
from alliance.clock import utcnow
from alliance.conversions.models import WebhookIntegration, WebhookPlatform
from alliance.conversions.webhook_service import integration_of, integration_secret_hint
from alliance.db.engine import transaction
from alliance.errors import InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.programs.models import Program
from alliance.settings import get_settings

router = APIRouter(prefix="/api/v1", tags=["order webhooks"])

ProgramPath = Annotated[str, Path(max_length=64)]

_TOPICS = {
    WebhookPlatform.shopify: [
        "orders/create",
        "orders/paid",
        "orders/updated",
        "orders/fulfilled",
        "orders/cancelled",
        "refunds/create",
    ],
    WebhookPlatform.woocommerce: ["order.created", "order.updated", "order.deleted"],
    WebhookPlatform.stripe: [
        "checkout.session.completed",
        "checkout.session.async_payment_succeeded",
        "checkout.session.async_payment_failed",
        "checkout.session.expired",
        "charge.refunded",
    ],
}


class IntegrationIn(BaseModel):
    secret: str = Field(
        min_length=8,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="The platform's signing secret (printable ASCII, no spaces).",
    )
    keep_previous_hours: int = Field(
        default=0,
        ge=0,
        le=24 * 30,
        description="Keep accepting the replaced secret for this many hours (rotation).",
    )
    store_url: str | None = Field(
        default=None,
        max_length=500,
        description="WooCommerce only: the shop's base URL, for `alliance reconcile`.",
    )
    consumer_key: str | None = Field(
        default=None, max_length=255, pattern=r"^ck_[0-9a-zA-Z]+$",
        description="WooCommerce only: a read-only REST API consumer key (ck_...).",
    )  # fmt: skip
    consumer_secret: str | None = Field(
        default=None, max_length=255, pattern=r"^cs_[0-9a-zA-Z]+$",
        description="WooCommerce only: its consumer secret (cs_...). Never shown again.",
    )  # fmt: skip


class IntegrationOut(BaseModel):
    program_id: str
    platform: WebhookPlatform
    url: str = Field(description="Register this URL on the platform.")
    topics: list[str] = Field(description="The events to subscribe to.")
    secret_hint: str
    previous_secret_valid_until: datetime | None
    store_url: str | None = Field(description="WooCommerce: the shop reconciled from.")
    reconcile_ready: bool = Field(description="WooCommerce: REST keys are set.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: WebhookIntegration) -> IntegrationOut:
        base = get_settings().public_url.rstrip("/")
        platform = WebhookPlatform(row.platform)
        previous = row.previous_valid_until if row.previous_secret else None
        return cls(
            program_id=row.program_id,
            platform=platform,
            url=f"{base}/webhooks/{platform.value}/{row.program_id}",
            topics=_TOPICS[platform],
            secret_hint=integration_secret_hint(row.secret),
            previous_secret_valid_until=previous,
            store_url=row.store_url,
            reconcile_ready=bool(row.store_url and row.api_key and row.api_secret),
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


def _program(session: Session, program_id: str, caller: Principal) -> Program:
    return get_visible(
        session, Program, program_id, visible_programs(caller), prefix="prg", what="program"
    )


def _integration(
    session: Session, program_id: str, platform: WebhookPlatform
) -> WebhookIntegration | None:
    return integration_of(session, program_id, platform.value)


@router.put("/programs/{program_id}/webhooks/{platform}", response_model=IntegrationOut)
def put_integration(
    program_id: ProgramPath, platform: WebhookPlatform, body: IntegrationIn, caller: Manager
) -> IntegrationOut:
    """Connect (or re-key) the program's order webhooks from one platform."""
    now = utcnow()
    store = body.store_url, body.consumer_key, body.consumer_secret
    if any(value is not None for value in store):
        if platform != WebhookPlatform.woocommerce:
            raise InvalidInput("store_url and REST keys are for WooCommerce", field="store_url")
        if body.store_url is not None:
            _check_store_url(body.store_url)
    with transaction() as session:
        program = _program(session, program_id, caller)
        row = _integration(session, program.id, platform)
        if row is None:
            row = WebhookIntegration(
                id=new_id(PREFIXES["webhook_integration"]),
                program_id=program.id,
                platform=platform.value,
                secret=body.secret,
                created_at=now,
                updated_at=now,
            )
            session.add(row)
        elif row.secret != body.secret:
            if body.keep_previous_hours:
                row.previous_secret = row.secret
                row.previous_valid_until = now + timedelta(hours=body.keep_previous_hours)
            else:
                row.previous_secret = None
                row.previous_valid_until = None
            row.secret = body.secret
            row.updated_at = now
        if body.store_url is not None:
            row.store_url = body.store_url.rstrip("/")
        if body.consumer_key is not None:
            row.api_key = body.consumer_key
        if body.consumer_secret is not None:
            row.api_secret = body.consumer_secret
        session.flush()
        return IntegrationOut.of(row)


def _check_store_url(url: str) -> None:
    """The store is fetched by the server: refuse private and loopback targets (SSRF)."""
    from alliance.notifications.ssrf import UnsafeUrl, check_url

    try:
        check_url(url)
    except UnsafeUrl as exc:
        raise InvalidInput(f"store_url: {exc}", field="store_url") from None


@router.get("/programs/{program_id}/webhooks", response_model=list[IntegrationOut])
def list_integrations(program_id: ProgramPath, db: ReadDB, caller: Manager) -> list[IntegrationOut]:
    """The platforms this program takes order webhooks from."""
    program = _program(db, program_id, caller)
    rows = db.scalars(
        select(WebhookIntegration)
        .where(WebhookIntegration.program_id == program.id)
        .order_by(WebhookIntegration.platform)
    ).all()
    return [IntegrationOut.of(row) for row in rows]


@router.delete("/programs/{program_id}/webhooks/{platform}", status_code=status.HTTP_204_NO_CONTENT)
def delete_integration(program_id: ProgramPath, platform: WebhookPlatform, caller: Manager) -> None:
    """Disconnect: later deliveries are kept in the inbox and refused (404)."""
    with transaction() as session:
        program = _program(session, program_id, caller)
        row = _integration(session, program.id, platform)
        if row is None:
            raise NotFound(f"program {program.id} has no {platform.value} integration")
        session.delete(row)
