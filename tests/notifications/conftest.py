"""Outbound webhooks: a stub receiver on 127.0.0.1, the test-only allowlist, and a server
started with the same allowlist.

Nothing here ever connects to an address other than 127.0.0.1: the SSRF tests resolve through
stub resolvers, and the delivery tests reach the stub because ALLIANCE_WEBHOOK_ALLOW_HOSTS
names 127.0.0.1 — in this process (the job runs in-process) and in the server's environment
(endpoints are checked when saved through the API).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest

from tests.conftest import Server

ALLOW = {
    "ALLIANCE_WEBHOOK_ALLOW_HOSTS": "127.0.0.1",
    "ALLIANCE_WEBHOOK_TIMEOUT_S": "1.0",
}


@dataclass
class Received:
    method: str
    path: str  # path and query, as sent
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class Stub:
    """A receiver that records every request. Each path answers by its first segment:
    /ok → 200, /fail → 500, /redirect → 302 to /ok, /slow → 200 after 3 s, /trickle → a
    status line sent one byte every 0.2 s, /flaky → 500 for the first request, then 200."""

    def __init__(self) -> None:
        self.requests: list[Received] = []
        self._lock = threading.Lock()
        self._flaky_seen: set[str] = set()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: object) -> None:
                pass

            def _answer(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                with stub._lock:
                    stub.requests.append(
                        Received(self.command, self.path, dict(self.headers.items()), body)
                    )
                kind = urlsplit(self.path).path.strip("/").split("/")[0]
                if kind == "slow":
                    time.sleep(3)
                if kind == "trickle":
                    for byte in b"HTTP/1.1 200 OK\r\n":
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.2)
                    return
                status = {"fail": 500, "redirect": 302}.get(kind, 200)
                if kind == "flaky":
                    with stub._lock:
                        status = 200 if self.path in stub._flaky_seen else 500
                        stub._flaky_seen.add(self.path)
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", stub.url("/ok/after-redirect"))
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_GET = _answer
            do_POST = _answer

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def to(self, prefix: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith(prefix)]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture()
def stub() -> Iterator[Stub]:
    receiver = Stub()
    yield receiver
    receiver.close()


@pytest.fixture(autouse=True)
def allow_loopback(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The test-only allowlist and a short attempt timeout, for this process's settings."""
    from alliance.settings import get_settings

    for name, value in ALLOW.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    yield
    monkeypatch.undo()
    get_settings.cache_clear()


@pytest.fixture(scope="session")
def server(db_url: str) -> Iterator[Server]:
    """This directory's server: the shared one, plus the allowlist (endpoints on 127.0.0.1
    are refused by a server without it)."""
    srv = Server(db_url, env=ALLOW).start()
    yield srv
    srv.stop()
