"""Webhooks (outbound endpoints, their delivery log, store connections) and the integration
instructions of the advertiser's programs.

Outbound endpoints and deliveries are the REST API's functions (notifications/api.py) called
with the viewer's principal: the SSRF check, the event-type rules, the `whsec_` secret shown
once on creation and rotation. Store connections (Shopify, WooCommerce, Stripe) are
`PUT/DELETE /api/v1/programs/{id}/webhooks/{platform}` (conversions/webhook_api.py).

The integration page writes out what docs/integration.md describes for one program, with its
id, currency and public URL filled in. The postback token is a secret: read-only members see a
placeholder instead.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select

from alliance.api.pagination import fetch_page
from alliance.conversions import webhook_api
from alliance.conversions.models import WebhookIntegration, WebhookPlatform
from alliance.db.engine import reading
from alliance.errors import AllianceError, InvalidInput
from alliance.notifications import api as outbound_api
from alliance.notifications import service as outbound
from alliance.notifications.events import EVENT_TYPES, PARTNER_ONLY_EVENTS
from alliance.notifications.models import DeliveryState, WebhookDelivery, WebhookEndpoint
from alliance.notifications.schemas import (
    EndpointCreate,
    EndpointOut,
    EndpointUpdate,
    RotateSecret,
)
from alliance.settings import get_settings
from alliance.web.advertiser_common import (
    form_error,
    invalid_from,
    own_programs,
    page_params,
    program_filter,
    query_url,
    redirect,
)
from alliance.web.i18n import _
from alliance.web.sessions import AdvertiserAction, AdvertiserPage, Viewer
from alliance.web.templating import render

router = APIRouter()

ADVERTISER_EVENTS = [
    (name, text) for name, text in EVENT_TYPES.items() if name not in PARTNER_ONLY_EVENTS
]
PLATFORMS = [
    (WebhookPlatform.shopify.value, "Shopify"),
    (WebhookPlatform.woocommerce.value, "WooCommerce"),
    (WebhookPlatform.stripe.value, "Stripe"),
]
DELIVERIES_PAGE = 25


# --- webhooks --------------------------------------------------------------------------------


def _webhooks_page(
    request: Request,
    viewer: Viewer,
    *,
    state: DeliveryState | None = None,
    cursor: str | None = None,
    status: int = 200,
    **extra: Any,
) -> HTMLResponse:
    params = page_params(cursor, DELIVERIES_PAGE)
    with reading() as session:
        endpoints = list(
            session.scalars(
                select(WebhookEndpoint)
                .where(outbound.visible_endpoints(viewer.principal))
                .order_by(WebhookEndpoint.id.desc())
            )
        )
        conditions = [outbound.visible_deliveries(viewer.principal)]
        if state is not None:
            conditions.append(WebhookDelivery.state == state.value)
        deliveries, next_cursor = fetch_page(
            session, select(WebhookDelivery).where(*conditions), WebhookDelivery.id, params
        )
        programs = own_programs(session, viewer)
        integrations = list(
            session.scalars(
                select(WebhookIntegration)
                .where(WebhookIntegration.program_id.in_([p.id for p in programs]))
                .order_by(WebhookIntegration.program_id, WebhookIntegration.platform)
            )
        )
    urls = {e.id: e.url for e in endpoints}
    shown = [EndpointOut.of(e) for e in endpoints]
    names = {p.id: p.name for p in programs}
    filters = {"state": state.value if state else None}
    context = {
        "endpoints": shown,
        "deliveries": deliveries,
        "urls": urls,
        "programs": programs,
        "names": names,
        "integrations": [webhook_api.IntegrationOut.of(row) for row in integrations],
        "events": ADVERTISER_EVENTS,
        "platforms": PLATFORMS,
        "states": [s.value for s in DeliveryState],
        "state": state.value if state else "",
        "next_url": query_url("/advertiser/webhooks", **filters, cursor=next_cursor) + "#log"
        if next_cursor
        else None,
        "first_url": query_url("/advertiser/webhooks", **filters) + "#log" if cursor else None,
        "values": extra.pop("values", {}),
        **extra,
    }
    return render(request, "advertiser/webhooks.html", context, status=status)


@router.get("/advertiser/webhooks", response_class=HTMLResponse)
def webhooks_page(
    request: Request,
    viewer: AdvertiserPage,
    state: Annotated[DeliveryState | None, Query()] = None,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    return _webhooks_page(request, viewer, state=state, cursor=cursor)


@router.post("/advertiser/webhooks/endpoints", response_class=HTMLResponse)
def create_endpoint(
    request: Request,
    viewer: AdvertiserAction,
    url: Annotated[str, Form(max_length=2048)] = "",
    description: Annotated[str, Form(max_length=200)] = "",
    event_types: Annotated[list[str] | None, Form(max_length=50)] = None,
) -> Response:
    values = {"url": url, "description": description, "event_types": event_types or []}
    try:
        try:
            body = EndpointCreate(
                url=url.strip(), description=description, event_types=event_types or []
            )
        except ValidationError as exc:
            raise invalid_from(exc) from None
        created = outbound_api.post_endpoint(body, viewer.principal)
    except AllianceError as exc:
        return _webhooks_page(request, viewer, status=exc.status, values=values, **form_error(exc))
    # Shown once, on this answer only: the page is not a redirect so the secret is never in
    # a cookie or a URL.
    return _webhooks_page(request, viewer, secret=created.secret, secret_for=created.url)


@router.post("/advertiser/webhooks/endpoints/{endpoint_id}/rotate", response_class=HTMLResponse)
def rotate_endpoint(
    request: Request,
    viewer: AdvertiserAction,
    endpoint_id: str,
    keep_previous_hours: Annotated[int, Form(ge=0, le=24 * 7)] = 24,
) -> Response:
    rotated = outbound_api.rotate_secret(
        endpoint_id, RotateSecret(keep_previous_hours=keep_previous_hours), viewer.principal
    )
    return _webhooks_page(request, viewer, secret=rotated.secret, secret_for=rotated.url)


@router.post("/advertiser/webhooks/endpoints/{endpoint_id}/active")
def set_endpoint_active(
    request: Request,
    viewer: AdvertiserAction,
    endpoint_id: str,
    active: Annotated[bool, Form()],
) -> Response:
    changed = outbound_api.patch_endpoint(
        endpoint_id, EndpointUpdate(active=active), viewer.principal
    )
    if active:
        return redirect(
            "/advertiser/webhooks", _("%(url)s receives events again.", url=changed.url)
        )
    return redirect(
        "/advertiser/webhooks",
        _(
            "%(url)s is disabled; deliveries still queued for it are in the dead letters.",
            url=changed.url,
        ),
    )


@router.post("/advertiser/webhooks/endpoints/{endpoint_id}/delete")
def delete_endpoint(request: Request, viewer: AdvertiserAction, endpoint_id: str) -> Response:
    outbound_api.delete_endpoint(endpoint_id, viewer.principal)
    return redirect("/advertiser/webhooks", _("Endpoint and its delivery log deleted."))


@router.post("/advertiser/webhooks/deliveries/{delivery_id}/retry")
def retry_delivery(request: Request, viewer: AdvertiserAction, delivery_id: str) -> Response:
    outbound_api.retry_delivery(delivery_id, viewer.principal)
    return redirect("/advertiser/webhooks#log", _("Queued again: it is sent at the next run."))


@router.post("/advertiser/webhooks/stores", response_class=HTMLResponse)
def connect_store(
    request: Request,
    viewer: AdvertiserAction,
    program_id: Annotated[str, Form(max_length=64)] = "",
    platform: Annotated[str, Form(max_length=20)] = "",
    secret: Annotated[str, Form(max_length=255)] = "",
    keep_previous_hours: Annotated[int, Form(ge=0, le=24 * 30)] = 0,
    store_url: Annotated[str, Form(max_length=500)] = "",
    consumer_key: Annotated[str, Form(max_length=255)] = "",
    consumer_secret: Annotated[str, Form(max_length=255)] = "",
) -> Response:
    values = {"program_id": program_id, "platform": platform, "store_url": store_url}
    try:
        if platform not in WebhookPlatform.__members__:
            raise InvalidInput("platform: choose Shopify, WooCommerce or Stripe", field="platform")
        try:
            body = webhook_api.IntegrationIn(
                secret=secret.strip(),
                keep_previous_hours=keep_previous_hours,
                store_url=store_url.strip() or None,
                consumer_key=consumer_key.strip() or None,
                consumer_secret=consumer_secret.strip() or None,
            )
        except ValidationError as exc:
            raise invalid_from(exc) from None
        connected = webhook_api.put_integration(
            program_id, WebhookPlatform(platform), body, viewer.principal
        )
    except AllianceError as exc:
        return _webhooks_page(
            request, viewer, status=exc.status, store_values=values, **form_error(exc)
        )
    return redirect(
        "/advertiser/webhooks#stores",
        _(
            "Connected. Register %(url)s in your %(platform)s admin.",
            url=connected.url,
            platform=platform,
        ),
    )


@router.post("/advertiser/webhooks/stores/{program_id}/{platform}/delete")
def disconnect_store(
    request: Request, viewer: AdvertiserAction, program_id: str, platform: WebhookPlatform
) -> Response:
    webhook_api.delete_integration(program_id, platform, viewer.principal)
    return redirect("/advertiser/webhooks#stores", f"{platform.value} disconnected.")


# --- integration -----------------------------------------------------------------------------


@router.get("/advertiser/integration", response_class=HTMLResponse)
def integration_page(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    with reading() as session:
        programs = own_programs(session, viewer)
        chosen = program_filter(programs, program_id) or (programs[0].id if programs else None)
        program = next((p for p in programs if p.id == chosen), None)
        connected: set[str] = set()
        if program is not None:
            connected = set(
                session.scalars(
                    select(WebhookIntegration.platform).where(
                        WebhookIntegration.program_id == program.id
                    )
                )
            )
    base = get_settings().public_url.rstrip("/")
    context: dict[str, Any] = {"programs": programs, "program": program, "base": base}
    if program is not None:
        # Read-only members see where the token goes, not the token.
        token = program.postback_token if viewer.can_write else "YOUR_POSTBACK_TOKEN"
        context.update(
            token=token,
            token_shown=viewer.can_write,
            snippets=snippets(base, program.id, program.currency, token),
            stores=[
                {
                    "platform": value,
                    "label": label,
                    "url": f"{base}/webhooks/{value}/{program.id}",
                    "topics": webhook_api._TOPICS[WebhookPlatform(value)],
                    "connected": value in connected,
                }
                for value, label in PLATFORMS
            ],
        )
    return render(request, "advertiser/integration.html", context)


def snippets(base: str, program_id: str, currency: str, token: str) -> dict[str, str]:
    """The copy-paste texts of docs/integration.md for one program."""
    example_amount = "1250" if currency in ("JPY", "KRW", "ISK") else "1250.00"
    pixel = (
        f"{base}/px?program={program_id}&order_id=ORDER_ID&amount=ORDER_TOTAL&currency={currency}"
    )
    postback = f"{base}/postback?program={program_id}&token={token}"
    indent = " " * 42  # lines the arguments up under `{program:`
    return {
        "tag": f'<script src="{base}/tag.js" async></script>',
        "conversion": (
            "<script>\n"
            f'  window.alliance && alliance.conversion({{program: "{program_id}", '
            'order_id: "ORDER_ID",\n'
            f'{indent}amount: "ORDER_TOTAL", currency: "{currency}"}});\n'
            "</script>\n"
            f'<noscript><img src="{pixel}" width="1" height="1" alt=""></noscript>'
        ),
        "pixel": pixel,
        "postback": (
            f"{postback}&order_id=ORDER_ID&click_id=ALCLID&amount=ORDER_TOTAL&currency={currency}"
        ),
        "postback_lifecycle": (
            f'P="program={program_id}&token={token}&order_id=SO-1001"\n'
            f'curl "{base}/postback?$P&click_id=clk_...'
            f'&amount={example_amount}&currency={currency}"'
            "   # pending\n"
            f'curl "{base}/postback?$P&status=completed"'
            "   # the lock period starts\n"
            f'curl "{base}/postback?$P&status=declined"'
            "   # cancelled: earns nothing\n"
            f'curl "{base}/postback?$P&status=refunded&refund_amount=250.00"'
            "   # cumulative refund\n"
        ),
        "hmac": (
            "import hashlib, hmac\n"
            "from urllib.parse import quote, urlencode\n"
            "\n"
            f'TOKEN = "{token}"\n'
            "\n"
            "def sign(params: dict[str, str], token: str = TOKEN) -> str:\n"
            "    canonical = \"&\".join(sorted(f\"{quote(k, safe='')}={quote(v, safe='')}\"\n"
            "                                for k, v in params.items()))\n"
            "    return hmac.new(token.encode(), canonical.encode(), hashlib.sha256).hexdigest()\n"
            "\n"
            f'params = {{"program": "{program_id}", "order_id": "SO-1001", '
            f'"amount": "{example_amount}", "currency": "{currency}", "click_id": "clk_..."}}\n'
            f'url = "{base}/postback?" + urlencode({{**params, "signature": sign(params)}})\n'
        ),
    }
