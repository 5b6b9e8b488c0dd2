"""Every router of the app, in one list so the app factory stays one line."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from alliance.accounts import api as accounts
    from alliance.api import health
    from alliance.commissions import read_api as commissions
    from alliance.conversions import api as inbound_events
    from alliance.conversions import read_api as conversions
    from alliance.programs import api as programs
    from alliance.reports import api as reports
    from alliance.tracking import api as links
    from alliance.web import landing

    for module in (
        landing,
        health,
        accounts,
        programs,
        links,
        conversions,
        commissions,
        inbound_events,
        reports,
    ):
        app.include_router(module.router)
