"""Routing: who receives an event (the program's advertiser, the event's partner — never
another account), and what happens to events nobody receives."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from alliance.accounts.models import AccountKind
from alliance.accounts.service import Principal
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.notifications import outbox
from alliance.notifications.dispatch import route_events
from alliance.notifications.models import WebhookDelivery, WebhookEvent
from alliance.notifications.payloads import payout_data
from tests.conversions.factories import enroll, partner, world

from .conftest import Stub
from .helpers import advertiser, body, endpoint, record, run
from .helpers import partner as partner_of

pytestmark = pytest.mark.usefixtures("db_url")


def test_a_partner_never_receives_another_partners_events(stub: Stub) -> None:
    w = world()
    with transaction() as session:
        rival = partner(session, "Rival").id
        enroll(session, w.program_id, rival)
    endpoint(Principal(AccountKind.partner, rival), stub.url("/ok/rival"))
    endpoint(partner_of(w), stub.url("/ok/owner"))
    endpoint(advertiser(w), stub.url("/ok/advertiser"))
    record(w, "R-1")
    run()
    assert stub.to("/ok/rival") == []
    assert len(stub.to("/ok/owner")) == 1 and len(stub.to("/ok/advertiser")) == 1


def test_payouts_go_to_the_partner_only(stub: Stub) -> None:
    w = world()
    endpoint(advertiser(w), stub.url("/ok/advertiser"))
    endpoint(partner_of(w), stub.url("/ok/partner"))
    with transaction() as session:
        outbox.emit(
            session,
            "payout.paid",
            payout_data("pay_1", w.partner_id, "EUR", Decimal("10"), [], utcnow()),
        )
    run()
    assert stub.to("/ok/advertiser") == []
    [paid] = stub.to("/ok/partner")
    assert body(paid.body)["type"] == "payout.paid"
    assert body(paid.body)["data"]["amount"] == "10.00"


def test_events_nobody_receives_are_dropped_and_routed_ones_keep_their_body(stub: Stub) -> None:
    quiet, loud = world(), world()
    endpoint(advertiser(loud), stub.url("/ok/loud"))
    record(quiet, "Q-1")
    record(loud, "Q-2")
    route_events(utcnow())
    with reading() as session:
        quiet_events = session.scalars(
            select(WebhookEvent).where(WebhookEvent.program_id == quiet.program_id)
        ).all()
        [routed] = session.scalars(
            select(WebhookEvent).where(WebhookEvent.program_id == loud.program_id)
        ).all()
        assert quiet_events == []
        assert routed.routed_at is not None and routed.body is not None
        assert '"order_id":"Q-2"' in routed.body
        [delivery] = session.scalars(
            select(WebhookDelivery).where(WebhookDelivery.event_id == routed.id)
        ).all()
        assert (delivery.owner_kind, delivery.owner_id) == ("advertiser", loud.advertiser_id)
        event_id = routed.id
    # Routing again changes nothing: the event is routed once.
    route_events(utcnow())
    with reading() as session:
        again = session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.event_id == event_id)
        ).all()
    assert len(again) == 1


def test_the_log_is_purged_after_the_retention(stub: Stub) -> None:
    from datetime import timedelta

    from alliance.notifications.delivery import purge_log

    w = world()
    ep = endpoint(advertiser(w), stub.url("/ok/purge"))
    record(w, "P-1")
    run()
    kept = purge_log(utcnow(), 30)
    with reading() as session:
        assert session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == ep.id)
        ).all()
    gone = purge_log(utcnow() + timedelta(days=31), 30)
    assert kept["deliveries"] == 0  # nothing is 30 days old yet
    assert gone["deliveries"] >= 1 and gone["events"] >= 1
    with reading() as session:
        assert not session.scalars(
            select(WebhookDelivery.id).where(WebhookDelivery.endpoint_id == ep.id)
        ).all()
        assert not session.scalars(
            select(WebhookEvent.id).where(WebhookEvent.program_id == w.program_id)
        ).all()
