"""`POST /webhooks/{shopify|woocommerce|stripe}/{program_id}` as a raw ASGI handler.

Raw ASGI, not FastAPI, because the signature covers the exact bytes of the body: the handler
must see them untouched, and nothing may parse them before they are stored. The work is
blocking database work (webhook_service), run in a thread so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import orjson

from alliance.conversions import webhook_service
from alliance.settings import get_settings
from alliance.tracking import visitor

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

log = logging.getLogger("alliance.webhooks")

PREFIX = "/webhooks/"
PROBLEM = b"application/problem+json"


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(body)).encode()),
                (b"cache-control", b"no-store"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _problem(status: int, title: str, detail: str, **extra: Any) -> bytes:
    body = {
        "type": "https://alliance.dev/problems/webhook",
        "title": title,
        "status": status,
        "detail": detail,
        **{k: v for k, v in extra.items() if v is not None},
    }
    return orjson.dumps(body)


class WebhookHandler:
    """The ASGI app for everything under /webhooks/."""

    def __init__(self) -> None:
        settings = get_settings()
        self._max_body = settings.max_body_bytes
        self._secret = settings.secret_key
        self._trust_forwarded = settings.trust_forwarded_for

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        parts = scope["path"][len(PREFIX) :].strip("/").split("/")
        if len(parts) != 2 or parts[0] not in webhook_service.PLATFORMS or not parts[1]:
            detail = "use /webhooks/{shopify|woocommerce|stripe}/{program_id}"
            await _answer(send, 404, _problem(404, "Not found", detail, field="path"), PROBLEM)
            return
        platform, program_id = parts
        if scope["method"] != "POST":
            detail = "order webhooks are delivered with POST"
            await _answer(send, 405, _problem(405, "Method not allowed", detail), PROBLEM)
            return
        body, too_large = await self._read_body(receive)
        headers = webhook_service.keep_headers(scope["headers"])
        if too_large:
            event_id = await asyncio.to_thread(
                webhook_service.record_too_large,
                platform,
                program_id,
                headers,
                body,
                self._max_body,
            )
            detail = f"the body is larger than {self._max_body} bytes"
            problem = _problem(413, "Too large", detail, field="body", event_id=event_id)
            await _answer(send, 413, problem, PROBLEM)
            return
        client = scope.get("client")
        forwarded = [v for k, v in scope["headers"] if k == b"x-forwarded-for"]
        ip = visitor.client_ip(
            client[0] if client else None, forwarded, trust_forwarded_for=self._trust_forwarded
        )
        ip_hash = visitor.hash_ip(self._secret, ip) if ip else None
        try:
            delivery = await asyncio.to_thread(
                webhook_service.receive, platform, program_id, headers, body, ip_hash=ip_hash
            )
        except Exception:  # an outage, not bad input: the platform retries a 503
            log.exception("webhook delivery to %s/%s failed", platform, program_id[:40])
            detail = "the delivery could not be processed now; please deliver it again"
            await _answer(send, 503, _problem(503, "Unavailable", detail), PROBLEM)
            return
        if delivery.http_status >= 400:
            title = {400: "Bad payload", 401: "Bad signature", 404: "Not found"}.get(
                delivery.http_status, "Refused"
            )
            body_out = _problem(
                delivery.http_status,
                title,
                delivery.detail or delivery.reason or "refused",
                reason=delivery.reason,
                field=delivery.field or ("signature" if delivery.http_status == 401 else None),
                event_id=delivery.event_id,
            )
            await _answer(send, delivery.http_status, body_out, PROBLEM)
            return
        if delivery.detail == "ping":
            await _answer(send, 200, b"", b"text/plain; charset=utf-8")
            return
        await _answer(send, 200, orjson.dumps(delivery.body()), b"application/json")

    async def _read_body(self, receive: Receive) -> tuple[bytes, bool]:
        chunks: list[bytes] = []
        size = 0
        too_large = False
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunk = message.get("body", b"")
            if size + len(chunk) > self._max_body:
                if not too_large:
                    chunks.append(chunk[: self._max_body - size])  # the head is kept
                too_large = True
            elif chunk:
                chunks.append(chunk)
            size += len(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks), too_large
