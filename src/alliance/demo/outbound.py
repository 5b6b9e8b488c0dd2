"""Demo subscriptions to outbound events: one advertiser's webhook endpoint and one deals
partner's postback template, registered before the orders flow so their events are routed.

The demo network has no internet, so their `.example` hosts never resolve: `alliance jobs run`
tries each delivery, records why it failed ("could not resolve"), retries with backoff and,
after the last attempt, lists it with the dead letters: the delivery log and the retry action
have something real to show. The rows are written directly because saving a URL checks that
its host resolves (SSRF rules, docs/webhooks-out.md), which a reserved `.example` never does.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from alliance.ids import new_id
from alliance.notifications.models import (
    ENDPOINT_PREFIX,
    POSTBACK_PREFIX,
    PartnerPostback,
    WebhookEndpoint,
)
from alliance.notifications.signing import new_secret

ADVERTISER_HOOK = "https://hooks.nordic-outdoor.example/alliance/events"
PARTNER_POSTBACK = (
    "https://track.{slug}.example/postback?cid={{click_id}}&oid={{order_id}}"
    "&payout={{commission}}&cur={{currency}}&status={{status}}&s1={{sub1}}"
)


def subscribe(
    session: Session, advertiser_id: str, partner_id: str, slug: str, at: datetime
) -> int:
    """Register the two subscriptions; returns how many were made."""
    session.add(
        WebhookEndpoint(
            id=new_id(ENDPOINT_PREFIX),
            owner_kind="advertiser",
            owner_id=advertiser_id,
            url=ADVERTISER_HOOK,
            description="Order sync to our ERP (demo)",
            event_types=["conversion.created", "commission.approved", "commission.reversed"],
            active=True,
            secret=new_secret(),
            created_at=at,
            updated_at=at,
        )
    )
    session.add(
        PartnerPostback(
            id=new_id(POSTBACK_PREFIX),
            partner_id=partner_id,
            program_id=None,
            scope="*",
            url_template=PARTNER_POSTBACK.format(slug=slug),
            event_types=[],
            active=True,
            created_at=at,
            updated_at=at,
        )
    )
    return 2
