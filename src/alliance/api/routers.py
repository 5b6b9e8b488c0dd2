"""Every router of the app, in one list so the app factory stays one line."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from alliance.api import health
    from alliance.reports import api as reports

    app.include_router(health.router)
    app.include_router(reports.router)

    from alliance.accounts import api as accounts_api
    from alliance.commissions import read_api as commissions_read_api
    from alliance.conversions import read_api as conversions_read_api
    from alliance.programs import api as programs_api
    from alliance.tracking import api as tracking_api

    app.include_router(accounts_api.router)
    app.include_router(programs_api.router)
    app.include_router(tracking_api.router)
    app.include_router(conversions_read_api.router)
    app.include_router(commissions_read_api.router)

    from alliance.conversions import api as inbound_api

    app.include_router(inbound_api.router)
