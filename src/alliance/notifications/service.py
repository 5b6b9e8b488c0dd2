"""Managing endpoints, postback templates and the delivery log: the API's one call each."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, func, select, true, update
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.errors import Conflict, Forbidden, InvalidInput
from alliance.ids import new_id
from alliance.notifications import macros
from alliance.notifications.events import CONVERSION_EVENTS, PARTNER_ONLY_EVENTS, unknown_types
from alliance.notifications.models import (
    ENDPOINT_PREFIX,
    POSTBACK_PREFIX,
    DeliveryState,
    OwnerKind,
    PartnerPostback,
    WebhookDelivery,
    WebhookEndpoint,
)
from alliance.notifications.signing import new_secret
from alliance.notifications.ssrf import Policy, Resolver, UnsafeUrl, check_url

# Each endpoint receives a copy of every event it subscribes to: a bound keeps one account
# from multiplying the delivery work of the whole network.
MAX_ENDPOINTS_PER_OWNER = 20


# --- who sees what ---------------------------------------------------------------------------


def owner_kind(who: Principal) -> OwnerKind:
    if who.is_advertiser:
        return OwnerKind.advertiser
    if who.is_partner:
        return OwnerKind.partner
    raise Forbidden("webhook endpoints belong to an advertiser or a partner: use its API key")


def visible_endpoints(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_advertiser or who.is_partner:
        return (WebhookEndpoint.owner_kind == who.kind.value) & (WebhookEndpoint.owner_id == who.id)
    return false()


def visible_deliveries(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_advertiser or who.is_partner:
        return (WebhookDelivery.owner_kind == who.kind.value) & (WebhookDelivery.owner_id == who.id)
    return false()


def visible_postbacks(who: Principal) -> ColumnElement[bool]:
    if who.is_operator:
        return true()
    if who.is_partner:
        return PartnerPostback.partner_id == who.id
    return false()


# --- checks ----------------------------------------------------------------------------------


def check_target(
    url: str, *, field: str = "url", policy: Policy | None = None, resolver: Resolver | None = None
) -> None:
    """The SSRF rules at save time (they run again before every attempt)."""
    try:
        check_url(url, policy=policy, resolver=resolver)
    except UnsafeUrl as refusal:
        raise InvalidInput(refusal.detail, field=field, reason=refusal.reason) from None


def check_event_types(
    types: list[str], kind: OwnerKind, *, allowed: tuple[str, ...] | None = None
) -> list[str]:
    chosen = list(dict.fromkeys(types))  # without repeats, in the given order
    unknown = unknown_types(chosen, allowed)
    if unknown:
        raise InvalidInput(
            f"unknown event type {unknown[0]!r}; see GET /api/v1/webhook-event-types",
            field="event_types",
        )
    if kind is OwnerKind.advertiser and PARTNER_ONLY_EVENTS.intersection(chosen):
        raise InvalidInput(
            f"{sorted(PARTNER_ONLY_EVENTS.intersection(chosen))[0]} is sent to partners only",
            field="event_types",
        )
    return chosen


# --- endpoints -------------------------------------------------------------------------------


def create_endpoint(
    session: Session,
    who: Principal,
    *,
    url: str,
    description: str,
    event_types: list[str],
    active: bool,
    now: datetime,
) -> WebhookEndpoint:
    kind = owner_kind(who)
    types = check_event_types(event_types, kind)
    check_target(url)
    count = session.scalar(
        select(func.count())
        .select_from(WebhookEndpoint)
        .where(WebhookEndpoint.owner_kind == kind.value, WebhookEndpoint.owner_id == who.id)
    )
    if (count or 0) >= MAX_ENDPOINTS_PER_OWNER:
        raise Conflict(f"an account can have at most {MAX_ENDPOINTS_PER_OWNER} endpoints")
    endpoint = WebhookEndpoint(
        id=new_id(ENDPOINT_PREFIX),
        owner_kind=kind.value,
        owner_id=who.id,
        url=url,
        description=description,
        event_types=types,
        active=active,
        secret=new_secret(),
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    session.flush()
    return endpoint


def update_endpoint(
    session: Session,
    endpoint: WebhookEndpoint,
    *,
    now: datetime,
    url: str | None = None,
    description: str | None = None,
    event_types: list[str] | None = None,
    active: bool | None = None,
) -> WebhookEndpoint:
    if url is not None and url != endpoint.url:
        check_target(url)
        endpoint.url = url
    if description is not None:
        endpoint.description = description
    if event_types is not None:
        endpoint.event_types = check_event_types(event_types, OwnerKind(endpoint.owner_kind))
    if active is not None and active != endpoint.active:
        endpoint.active = active
        if not active:
            _bury_queued(session, WebhookDelivery.endpoint_id == endpoint.id, now)
    endpoint.updated_at = now
    session.flush()
    return endpoint


def rotate_secret(
    session: Session, endpoint: WebhookEndpoint, *, keep_previous_hours: int, now: datetime
) -> WebhookEndpoint:
    """A new secret; the old one keeps signing alongside for `keep_previous_hours`."""
    if keep_previous_hours:
        endpoint.previous_secret = endpoint.secret
        endpoint.previous_valid_until = now + timedelta(hours=keep_previous_hours)
    else:
        endpoint.previous_secret = None
        endpoint.previous_valid_until = None
    endpoint.secret = new_secret()
    endpoint.updated_at = now
    session.flush()
    return endpoint


def delete_endpoint(session: Session, endpoint: WebhookEndpoint) -> None:
    """The endpoint and its delivery log go together."""
    session.execute(
        WebhookDelivery.__table__.delete().where(  # type: ignore[attr-defined]
            WebhookDelivery.endpoint_id == endpoint.id
        )
    )
    session.delete(endpoint)


def _bury_queued(session: Session, target: ColumnElement[bool], now: datetime) -> None:
    """Deliveries still queued for a target that was switched off become dead letters (they
    can be sent again by hand once it is back) instead of waiting for ever."""
    session.execute(
        update(WebhookDelivery)
        .where(target, WebhookDelivery.state.in_(_QUEUED))
        .values(
            state=DeliveryState.dead.value,
            next_attempt_at=None,
            last_error="the target was deactivated",
        )
        .execution_options(synchronize_session=False)
    )


_QUEUED = (DeliveryState.pending.value, DeliveryState.failed.value)


# --- partner postbacks -----------------------------------------------------------------------


def check_template(url_template: str) -> None:
    try:
        sample = macros.check_template(url_template)
    except ValueError as exc:
        raise InvalidInput(str(exc), field="url") from None
    check_target(sample)


def put_postback(
    session: Session,
    partner_id: str,
    *,
    program_id: str | None,
    url_template: str,
    event_types: list[str],
    active: bool,
    now: datetime,
) -> PartnerPostback:
    """Create or replace the partner's template for one program (or for every program)."""
    types = check_event_types(event_types, OwnerKind.partner, allowed=CONVERSION_EVENTS)
    check_template(url_template)
    scope = program_id or "*"
    row = session.scalars(
        select(PartnerPostback)
        .where(PartnerPostback.partner_id == partner_id, PartnerPostback.scope == scope)
        .with_for_update()
    ).first()
    if row is None:
        row = PartnerPostback(
            id=new_id(POSTBACK_PREFIX),
            partner_id=partner_id,
            program_id=program_id,
            scope=scope,
            created_at=now,
        )
        session.add(row)
    elif row.active and not active:
        _bury_queued(session, WebhookDelivery.postback_id == row.id, now)
    row.url_template = url_template
    row.event_types = types
    row.active = active
    row.updated_at = now
    session.flush()
    return row


def delete_postback(session: Session, postback: PartnerPostback) -> None:
    session.execute(
        WebhookDelivery.__table__.delete().where(  # type: ignore[attr-defined]
            WebhookDelivery.postback_id == postback.id
        )
    )
    session.delete(postback)


# --- the log ---------------------------------------------------------------------------------


def retry_delivery(session: Session, delivery: WebhookDelivery, now: datetime) -> WebhookDelivery:
    """Queue one more attempt now (same event id, so a receiver that got it already can tell).
    A dead delivery gets one attempt — dead again if it fails; a failed one is only brought
    forward; a delivered one is sent again (a receiver that lost it)."""
    state = DeliveryState(delivery.state)
    if state is DeliveryState.pending:
        raise Conflict("the delivery is already queued", field="state")
    target: WebhookEndpoint | PartnerPostback | None
    if delivery.endpoint_id is not None:
        target = session.get(WebhookEndpoint, delivery.endpoint_id)
    else:
        target = session.get(PartnerPostback, delivery.postback_id)
    if target is None or not target.active:
        raise Conflict("its endpoint or postback is deactivated: activate it first")
    delivery.state = DeliveryState.pending.value
    delivery.next_attempt_at = now
    session.flush()
    return delivery
