"""A real SMTP server on 127.0.0.1 (aiosmtpd) that keeps what it receives, and can refuse.

The `smtp` fixture is in tests/mail/conftest.py."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from alliance.settings import get_settings
from tests.conftest import free_port

FROM = "Testnetz <no-reply@alliance.test>"


@dataclass
class Inbox:
    """The server's handler: messages received, and a reply that refuses every recipient."""

    messages: list[EmailMessage] = field(default_factory=list)
    refuse: str | None = None  # e.g. "451 4.3.0 try again later"

    async def handle_RCPT(  # aiosmtpd's hook names
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if self.refuse:
            return self.refuse
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted for delivery"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def serve_smtp(monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    """The server, and the settings pointing the `deliver_mail` job at it (no TLS, no login)."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    monkeypatch.setenv("ALLIANCE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALLIANCE_SMTP_PORT", str(port))
    monkeypatch.setenv("ALLIANCE_SMTP_STARTTLS", "false")
    monkeypatch.setenv("ALLIANCE_SMTP_TIMEOUT_S", "5")
    monkeypatch.setenv("ALLIANCE_MAIL_FROM", FROM)
    get_settings.cache_clear()
    try:
        yield inbox
    finally:
        controller.stop()
        get_settings.cache_clear()  # the environment is restored next; settings re-read it


def body(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content())  # type: ignore[attr-defined]
