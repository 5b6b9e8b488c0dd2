"""/api/v1/webhook-endpoints, /webhook-deliveries, /partner-postbacks, /webhook-event-types.

An advertiser's endpoints receive the events of its programs; a partner's, the events of its own
conversions, commissions and payouts. The signing secret is in the answer of the create and
rotate calls only. Operators see and manage everything (support), but own no endpoint.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, status
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, PartnerOnly, ReadDB, require
from alliance.api.pagination import Page, PageQuery, fetch_page, given
from alliance.api.scoping import get_visible, visible_programs
from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.notifications import service
from alliance.notifications.events import CONVERSION_EVENTS, EVENT_TYPES
from alliance.notifications.macros import MACROS
from alliance.notifications.models import (
    DELIVERY_PREFIX,
    ENDPOINT_PREFIX,
    POSTBACK_PREFIX,
    DeliveryState,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
)
from alliance.notifications.schemas import (
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    EndpointWithSecret,
    EventTypeOut,
    MacroOut,
    PostbackOut,
    PostbackPut,
    RotateSecret,
)
from alliance.programs.models import Program

router = APIRouter(prefix="/api/v1", tags=["outbound webhooks"])

Owner = Annotated[Principal, require(AccountKind.advertiser, AccountKind.partner)]
PostbackReader = Annotated[Principal, require(AccountKind.operator, AccountKind.partner)]
IdPath = Annotated[str, Path(max_length=64)]


def _endpoint(
    session: Session, endpoint_id: str, who: Principal, *, lock: bool = False
) -> WebhookEndpoint:
    return get_visible(
        session,
        WebhookEndpoint,
        endpoint_id,
        service.visible_endpoints(who),
        prefix=ENDPOINT_PREFIX,
        what="webhook endpoint",
        for_update=lock,
    )


def _postback(
    session: Session, postback_id: str, who: Principal, *, lock: bool = False
) -> PartnerPostback:
    return get_visible(
        session,
        PartnerPostback,
        postback_id,
        service.visible_postbacks(who),
        prefix=POSTBACK_PREFIX,
        what="partner postback",
        for_update=lock,
    )


def _deliveries(
    db: Session, conditions: list[ColumnElement[bool]], page: PageQuery
) -> Page[DeliveryOut]:
    rows, cursor = fetch_page(
        db, select(WebhookDelivery).where(*conditions), WebhookDelivery.id, page
    )
    return Page(data=[DeliveryOut.of(row) for row in rows], next_cursor=cursor)


# --- catalogue -------------------------------------------------------------------------------


@router.get("/webhook-event-types", response_model=list[EventTypeOut])
def list_event_types(_caller: Anyone) -> list[EventTypeOut]:
    """Every event type an endpoint can subscribe to."""
    return [
        EventTypeOut(type=name, description=text, postback=name in CONVERSION_EVENTS)
        for name, text in EVENT_TYPES.items()
    ]


@router.get("/partner-postbacks/macros", response_model=list[MacroOut])
def list_macros(_caller: Anyone) -> list[MacroOut]:
    """The `{macros}` a postback URL may contain (values are URL-encoded when expanded)."""
    return [MacroOut(name=name, description=text) for name, text in MACROS.items()]


# --- endpoints -------------------------------------------------------------------------------


@router.post(
    "/webhook-endpoints", status_code=status.HTTP_201_CREATED, response_model=EndpointWithSecret
)
def post_endpoint(body: EndpointCreate, caller: Owner) -> EndpointWithSecret:
    """Register a URL for signed events. The answer carries the `whsec_` secret, once."""
    with transaction() as session:
        endpoint = service.create_endpoint(
            session,
            caller,
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            active=body.active,
            now=utcnow(),
        )
        return EndpointWithSecret.with_secret(endpoint)


@router.get("/webhook-endpoints", response_model=Page[EndpointOut])
def list_endpoints(db: ReadDB, caller: Anyone, page: PageQuery) -> Page[EndpointOut]:
    statement = select(WebhookEndpoint).where(service.visible_endpoints(caller))
    rows, cursor = fetch_page(db, statement, WebhookEndpoint.id, page)
    return Page(data=[EndpointOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut)
def get_endpoint(endpoint_id: IdPath, db: ReadDB, caller: Anyone) -> EndpointOut:
    return EndpointOut.of(_endpoint(db, endpoint_id, caller))


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=EndpointOut)
def patch_endpoint(endpoint_id: IdPath, body: EndpointUpdate, caller: Anyone) -> EndpointOut:
    """Change the URL, description, event filter or `active`. Deactivating turns deliveries
    still queued into dead letters (retry them once it is active again)."""
    with transaction() as session:
        endpoint = service.update_endpoint(
            session,
            _endpoint(session, endpoint_id, caller, lock=True),
            now=utcnow(),
            url=body.url,
            description=body.description,
            event_types=body.event_types,
            active=body.active,
        )
        return EndpointOut.of(endpoint)


@router.delete("/webhook-endpoints/{endpoint_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_endpoint(endpoint_id: IdPath, caller: Anyone) -> None:
    """Remove the endpoint and its delivery log."""
    with transaction() as session:
        service.delete_endpoint(session, _endpoint(session, endpoint_id, caller, lock=True))


@router.post("/webhook-endpoints/{endpoint_id}/rotate-secret", response_model=EndpointWithSecret)
def rotate_secret(endpoint_id: IdPath, body: RotateSecret, caller: Anyone) -> EndpointWithSecret:
    """A new secret (in this answer only); the old one keeps signing too for a grace period."""
    with transaction() as session:
        endpoint = service.rotate_secret(
            session,
            _endpoint(session, endpoint_id, caller, lock=True),
            keep_previous_hours=body.keep_previous_hours,
            now=utcnow(),
        )
        return EndpointWithSecret.with_secret(endpoint)


@router.get("/webhook-endpoints/{endpoint_id}/deliveries", response_model=Page[DeliveryOut])
def list_endpoint_deliveries(
    endpoint_id: IdPath,
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    state: DeliveryState | None = None,
) -> Page[DeliveryOut]:
    """The endpoint's delivery log, newest first."""
    endpoint = _endpoint(db, endpoint_id, caller)
    conditions = [
        WebhookDelivery.endpoint_id == endpoint.id,
        *given((WebhookDelivery.state, state)),
    ]
    return _deliveries(db, conditions, page)


# --- the log ---------------------------------------------------------------------------------


@router.get("/webhook-deliveries", response_model=Page[DeliveryOut])
def list_deliveries(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    state: DeliveryState | None = None,
    event_type: str | None = None,
) -> Page[DeliveryOut]:
    """Every delivery of the caller's endpoints and postbacks; `state=dead` is the
    dead-letter list."""
    conditions = [
        service.visible_deliveries(caller),
        *given(
            (WebhookDelivery.state, state),
            (WebhookDelivery.event_type, event_type[:64] if event_type else None),
        ),
    ]
    return _deliveries(db, conditions, page)


@router.get("/webhook-deliveries/{delivery_id}", response_model=DeliveryOut)
def get_delivery(delivery_id: IdPath, db: ReadDB, caller: Anyone) -> DeliveryOut:
    return DeliveryOut.of(
        get_visible(
            db,
            WebhookDelivery,
            delivery_id,
            service.visible_deliveries(caller),
            prefix=DELIVERY_PREFIX,
            what="webhook delivery",
        )
    )


@router.post(
    "/webhook-deliveries/{delivery_id}/retry",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryOut,
)
def retry_delivery(delivery_id: IdPath, caller: Anyone) -> DeliveryOut:
    """Send a failed, dead or delivered event again at the next `deliver_webhooks` run."""
    with transaction() as session:
        delivery = get_visible(
            session,
            WebhookDelivery,
            delivery_id,
            service.visible_deliveries(caller),
            prefix=DELIVERY_PREFIX,
            what="webhook delivery",
            for_update=True,
        )
        return DeliveryOut.of(service.retry_delivery(session, delivery, utcnow()))


# --- partner postbacks -----------------------------------------------------------------------


@router.put("/partner-postbacks", response_model=PostbackOut)
def put_postback(body: PostbackPut, caller: PartnerOnly) -> PostbackOut:
    """Set the partner's tracker URL for one program (`program_id`) or for every program
    without one of its own (`program_id` null). Replaces the previous template."""
    with transaction() as session:
        program_id = None
        if body.program_id is not None:
            program_id = get_visible(
                session,
                Program,
                body.program_id,
                visible_programs(caller),
                prefix="prg",
                what="program",
            ).id
        postback = service.put_postback(
            session,
            caller.id,
            program_id=program_id,
            url_template=body.url,
            event_types=body.event_types,
            active=body.active,
            now=utcnow(),
        )
        return PostbackOut.of(postback)


@router.get("/partner-postbacks", response_model=Page[PostbackOut])
def list_postbacks(db: ReadDB, caller: PostbackReader, page: PageQuery) -> Page[PostbackOut]:
    statement = select(PartnerPostback).where(service.visible_postbacks(caller))
    rows, cursor = fetch_page(db, statement, PartnerPostback.id, page)
    return Page(data=[PostbackOut.of(row) for row in rows], next_cursor=cursor)


@router.get("/partner-postbacks/{postback_id}", response_model=PostbackOut)
def get_postback(postback_id: IdPath, db: ReadDB, caller: PostbackReader) -> PostbackOut:
    return PostbackOut.of(_postback(db, postback_id, caller))


@router.delete("/partner-postbacks/{postback_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_postback(postback_id: IdPath, caller: PostbackReader) -> None:
    with transaction() as session:
        service.delete_postback(session, _postback(session, postback_id, caller, lock=True))


@router.get("/partner-postbacks/{postback_id}/deliveries", response_model=Page[DeliveryOut])
def list_postback_deliveries(
    postback_id: IdPath,
    db: ReadDB,
    caller: PostbackReader,
    page: PageQuery,
    state: DeliveryState | None = None,
) -> Page[DeliveryOut]:
    postback = _postback(db, postback_id, caller)
    conditions = [
        WebhookDelivery.postback_id == postback.id,
        *given((WebhookDelivery.state, state)),
    ]
    return _deliveries(db, conditions, page)
