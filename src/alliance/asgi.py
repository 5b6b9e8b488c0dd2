"""The ASGI entry point: `/c/{code}` is answered by a raw ASGI handler in front of FastAPI.

The redirect is the hot path: FastAPI's routing and dependency machinery would cost it most
of its throughput (DESIGN.md section 4, docs/adr/0002), so it never reaches the framework.
"""

from __future__ import annotations

import gc
from typing import Any

from alliance.api.app import create_api
from alliance.conversions.endpoints import InboundHandler
from alliance.conversions.webhook_endpoint import PREFIX as WEBHOOKS
from alliance.conversions.webhook_endpoint import WebhookHandler
from alliance.tracking.redirect import RedirectHandler
from alliance.web.app import create_web

Scope = dict[str, Any]
# Answered by the REST API app; every other path is a page of the dashboards.
API_PATHS = ("/api/", "/healthz", "/metrics")


class AllianceApp:
    def __init__(self) -> None:
        self.api = create_api()
        self.redirect = RedirectHandler()
        # /postback, /px, /tag.js: raw ASGI too, with the batching ingest pipeline (ADR 0006).
        self.inbound = InboundHandler()
        # /webhooks/{platform}/{program}: the signature covers the raw bytes (ADR 0007).
        self.webhooks = WebhookHandler()
        # Everything else that is not the API is a dashboard page (HTML, its own errors).
        self.web = create_web()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http" and scope["path"].startswith("/c/"):
            await self.redirect(scope, receive, send)
            return
        if kind == "http" and scope["path"] in InboundHandler.PATHS:
            await self.inbound(scope, receive, send)
            return
        if kind == "http" and scope["path"].startswith(WEBHOOKS):
            await self.webhooks(scope, receive, send)
            return
        if kind == "lifespan":
            await self._lifespan(scope, receive, send)
            return
        if kind == "http" and not scope["path"].startswith(API_PATHS):
            await self.web(scope, receive, send)
            return
        await self.api(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Any, send: Any) -> None:
        # The click writer lives in the server worker's event loop: start it with the worker,
        # and drain it on shutdown so no acknowledged click is left in memory.
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.redirect.start()
                    await self.inbound.start()
                except Exception as exc:  # noqa: BLE001 - reported to the server, not swallowed
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                # Everything alive now (the app, routes, the geo table, UA regexes: ~100k
                # objects) lives as long as the worker. Freezing it keeps the garbage
                # collector from walking it again: full collections went from ~100 ms, a
                # pause every in-flight redirect felt, to a few ms (docs/adr/0002).
                gc.collect()
                gc.freeze()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.inbound.stop()
                await self.redirect.stop()
                await send({"type": "lifespan.shutdown.complete"})
                return


def create_app() -> AllianceApp:
    return AllianceApp()
