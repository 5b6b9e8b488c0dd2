"""The FastAPI application: REST API under /api/v1, pages, health and metrics."""

from __future__ import annotations

from fastapi import FastAPI

from alliance.api import idempotency
from alliance.api.problems import install_problem_handlers


def create_api() -> FastAPI:
    app = FastAPI(
        title="Alliance",
        version="1",
        summary="Partner-marketing network: programs, tracking, attribution, commissions.",
        openapi_url="/api/v1/openapi.json",
        docs_url="/api/v1/docs",
        redoc_url=None,
    )
    install_problem_handlers(app)
    idempotency.install(app)  # Idempotency-Key on POST, PUT, PATCH and DELETE
    from alliance.api.routers import include_routers

    include_routers(app)
    return app
