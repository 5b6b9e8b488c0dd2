"""Every router of the app, in one list so the app factory stays one line."""

from __future__ import annotations

from fastapi import FastAPI


def include_routers(app: FastAPI) -> None:
    from alliance.api import health

    app.include_router(health.router)
