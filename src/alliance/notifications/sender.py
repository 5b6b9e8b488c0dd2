"""One HTTP attempt to a checked target, on the address that was checked, within a deadline.

Built on httpcore (the transport under httpx) rather than an httpx.Client, for two things the
client does not offer:

* **Connect to the checked address.** The network backend below ignores the host name httpcore
  asks for and connects to `Target.address`, the IP that passed ssrf.check_url. The URL, the
  Host header and TLS (SNI and certificate check) still use the real host name, so HTTPS works
  as usual while a DNS answer that changed since the check (rebinding) is never used.
* **One deadline per attempt.** httpx timeouts apply to each network operation, so a receiver
  that trickles a byte every few seconds could hold a worker for ever. Every connect, TLS
  handshake, read and write here gets only what is left of the attempt's time.

Redirects are never followed (httpcore does not follow them): a 3xx is a failed attempt. No
proxy from the environment is used (HTTP_PROXY would connect somewhere unchecked). A fresh
connection pool per attempt: a kept-alive connection to an address could otherwise carry a
request for another host name that resolves to the same address.
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import httpcore

from alliance.notifications.ssrf import Target

USER_AGENT = "Alliance-Webhooks/1.0"


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt got: a status code, or an error sentence (never both)."""

    status_code: int | None
    error: str | None


@lru_cache(maxsize=1)
def _ssl_context() -> ssl.SSLContext:
    """Certificate verification against certifi's CA bundle (what httpx uses), built once:
    loading the bundle costs milliseconds."""
    import certifi

    return ssl.create_default_context(cafile=certifi.where())


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the attempt's time is up")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = self._left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(
            self._inner.start_tls(ssl_context, server_hostname, left), self._deadline
        )

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class PinnedBackend(httpcore.NetworkBackend):
    """Connects to one checked address whatever host name it is asked for."""

    def __init__(self, host: str, address: str, deadline: float) -> None:
        self._host = host
        self._address = address
        self._deadline = deadline
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        if host != self._host:  # only the checked target's own connection is ever made here
            raise httpcore.ConnectError(f"refusing to connect to unchecked host {host!r}")
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise httpcore.ConnectTimeout("the attempt's time is up")
        stream = self._inner.connect_tcp(
            self._address,
            port,
            timeout=left if timeout is None else min(timeout, left),
            local_address=local_address,
            socket_options=socket_options,
        )
        return _DeadlineStream(stream, self._deadline)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        raise httpcore.ConnectError("unix sockets are never a webhook target")

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


@contextmanager
def exchange(
    target: Target,
    method: str,
    headers: list[tuple[str, str]],
    body: bytes = b"",
    *,
    timeout: float,
    query: str = "",
    user_agent: str = USER_AGENT,
) -> Iterator[httpcore.Response]:
    """One request to the checked address of `target` (never another: a DNS answer changed
    since the check cannot redirect it), one deadline for the whole attempt, redirects not
    followed. Yields the streaming response; network trouble raises httpcore's errors."""
    deadline = time.monotonic() + timeout
    all_headers = [("Host", target.host_header), ("User-Agent", user_agent), *headers]
    if body:
        all_headers.append(("Content-Length", str(len(body))))
    path = f"{target.target}?{query}" if query else target.target
    url = httpcore.URL(
        scheme=target.scheme.encode("ascii"),
        host=target.host.encode("ascii"),
        port=target.port,
        target=path.encode("ascii"),
    )
    backend = PinnedBackend(target.host, target.address, deadline)
    extensions = {"timeout": dict.fromkeys(("connect", "read", "write", "pool"), timeout)}
    with (
        httpcore.ConnectionPool(
            ssl_context=_ssl_context(),
            network_backend=backend,
            max_connections=1,
            retries=0,
        ) as pool,
        pool.stream(
            method, url, headers=all_headers, content=body or None, extensions=extensions
        ) as response,
    ):
        yield response


def send(
    target: Target,
    method: str,
    headers: dict[str, str],
    body: bytes,
    *,
    timeout: float,
) -> Answer:
    """Make one request; never raises for network trouble (the answer says what happened)."""
    try:
        with exchange(target, method, list(headers.items()), body, timeout=timeout) as response:
            # Only the status matters: the receiver's body is never read (closing the stream
            # drops the connection), so a huge answer costs nothing.
            return Answer(response.status, None)
    except httpcore.TimeoutException:
        return Answer(None, f"timed out after {timeout:g} s")
    except httpcore.ConnectError as exc:
        return Answer(None, f"could not connect to {target.address}: {_reason(exc)}")
    except (httpcore.ProtocolError, httpcore.NetworkError, httpcore.UnsupportedProtocol) as exc:
        return Answer(None, f"{type(exc).__name__}: {_reason(exc)}")


def _reason(exc: Exception) -> str:
    return (str(exc) or type(exc).__name__)[:300]
