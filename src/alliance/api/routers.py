"""Every router of the app, in one list so the app factory stays one line."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from alliance.accounts import api as accounts
    from alliance.api import health
    from alliance.commissions import read_api as commissions
    from alliance.conversions import api as inbound_events
    from alliance.conversions import read_api as conversions
    from alliance.conversions import validation_api as order_validations
    from alliance.conversions import webhook_api as order_webhooks
    from alliance.crosspromo import bundles_api as bundles
    from alliance.crosspromo import campaigns_api as campaigns
    from alliance.crosspromo import caps_api as fatigue_caps
    from alliance.crosspromo import contests_api as contests
    from alliance.crosspromo import exchange_api as fair_exchange
    from alliance.crosspromo import matching_api as recommendations
    from alliance.crosspromo import overlap_api as audience_overlap
    from alliance.crosspromo import referrals_api as referrals
    from alliance.crosspromo import variants_api as link_variants
    from alliance.notifications import api as outbound_webhooks
    from alliance.payouts import api as exchange_rates
    from alliance.payouts import payouts_api as payouts
    from alliance.programs import api as programs
    from alliance.programs import creatives_api as creatives
    from alliance.programs import feeds_api as product_feeds
    from alliance.reports import api as reports
    from alliance.tracking import api as links

    for module in (
        health,
        accounts,
        programs,
        creatives,
        product_feeds,
        links,
        link_variants,
        conversions,
        commissions,
        inbound_events,
        order_webhooks,
        order_validations,
        reports,
        outbound_webhooks,
        exchange_rates,
        payouts,
        referrals,
        contests,
        audience_overlap,
        bundles,
        recommendations,
        campaigns,
        fair_exchange,
        fatigue_caps,
    ):
        app.include_router(module.router)
