"""`alliance demo` builds a network that exercises every capability, through the real services."""

from __future__ import annotations

from sqlalchemy import func, select

from alliance.conversions.models import InboundEvent, OrderValidation
from alliance.db.engine import reading
from alliance.demo.generate import build
from alliance.demo.network import ADVERTISERS
from alliance.notifications.models import WebhookEvent
from alliance.programs.models import Program


def test_a_small_demo_network_exercises_every_capability(db_url: str) -> None:
    summary = build(days=10, scale=0.1, seed=7)
    assert summary.programs >= 6 and len(summary.partner_keys) >= 25
    assert summary.clicks > 0 and summary.bot_clicks > 0
    assert summary.conversions > 0 and summary.completed > 0
    # Store orders arrive as signed Shopify and Stripe webhooks, and all of them verify.
    assert summary.store_orders > 0
    assert summary.catalog_items > 0
    assert summary.validated_orders > 0
    assert summary.subscriptions == 2
    names = [program.name for advertiser in ADVERTISERS for program in advertiser.programs]
    with reading() as session:
        # Other tests share this database: look only at the demo's programs.
        demo = select(Program.id).where(Program.name.in_(names))
        by_source = dict(
            session.execute(
                select(InboundEvent.source, func.count())
                .where(InboundEvent.source.in_(("shopify", "stripe")))
                .where(InboundEvent.program_id.in_(demo))
                .group_by(InboundEvent.source)
            ).all()
        )
        refused = session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(
                InboundEvent.source.in_(("shopify", "stripe")),
                InboundEvent.program_id.in_(demo),
                InboundEvent.status == "rejected",
            )
        )
        uploads = session.scalar(
            select(func.count())
            .select_from(OrderValidation)
            .where(OrderValidation.program_id.in_(demo))
        )
        detail = session.execute(
            select(InboundEvent.source, InboundEvent.reason, InboundEvent.detail)
            .where(InboundEvent.program_id.in_(demo), InboundEvent.status == "rejected")
            .limit(5)
        ).all()
    assert by_source.get("shopify", 0) > 0 and by_source.get("stripe", 0) > 0
    assert refused == 0, detail
    assert uploads and uploads >= 1
    # Events of the demo's orders wait in the outbox for `alliance jobs run` to route them to
    # the advertiser's endpoint and the partner's postback.
    with reading() as session:
        queued = session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.program_id.in_(demo))
        )
    assert queued and queued > 0
