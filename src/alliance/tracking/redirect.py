"""Placeholder until the redirect hot path lands (being built in this same change)."""

from __future__ import annotations

from typing import Any


class RedirectHandler:
    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b"not found"})
