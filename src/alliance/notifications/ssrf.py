"""Outbound URLs that cannot be turned against the network Alliance runs in (no SSRF).

Any advertiser or partner can make Alliance send requests to a URL of its choosing, so each URL
is checked when it is saved and again before every attempt, by `check_url`:

* only http and https, no user name or password in the URL, no backslashes or control
  characters, ports 80 and 443 only (plus ALLIANCE_WEBHOOK_ALLOW_PORTS);
* the host is resolved **once**; every address it resolves to must be public — not loopback,
  private, shared (CGNAT), link-local (cloud metadata services live there), multicast,
  reserved, documentation or unspecified, in IPv4 or IPv6, including IPv4 addresses wrapped in
  IPv6 (`::ffff:127.0.0.1`, NAT64) — and IPv4 written as one number, in octal or in hex
  (`http://2130706433/`, `http://0x7f.1/`, which resolvers accept) is read as the address it
  means;
* the result names the address that passed, and the sender connects to exactly that address
  (sender.py), so a DNS answer that changes between the check and the connection (DNS
  rebinding) reaches nothing.

Hosts and networks in ALLIANCE_WEBHOOK_ALLOW_HOSTS skip the address and port rules: the test
suite's stub receiver on 127.0.0.1, or receivers on a network the operator controls.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from alliance.settings import Settings, get_settings

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# host, port -> the IP addresses it resolves to, as text. Tests pass their own.
Resolver = Callable[[str, int], Sequence[str]]

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_URL_LENGTH = 2048

# Refused address ranges, named for the error message. Python's `is_global` and friends are
# also consulted, but their lists differ between Python versions (224.0.0.1 is "global" in
# 3.11), so the ranges that matter are spelled out here.
_DENIED: tuple[tuple[IPNetwork, str], ...] = tuple(
    (ipaddress.ip_network(network), name)
    for network, name in (
        ("0.0.0.0/8", "unspecified ('this network')"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared (carrier-grade NAT)"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link-local"),
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "reserved (IETF protocol assignments)"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "reserved (6to4 relay)"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "reserved (benchmarking)"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("::/96", "reserved (IPv4-compatible)"),
        ("64:ff9b:1::/48", "private (local NAT64)"),
        ("100::/64", "reserved (discard)"),
        ("2001::/23", "reserved (IETF protocol assignments)"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "reserved (6to4)"),
        ("fc00::/7", "private (unique local)"),
        ("fe80::/10", "link-local"),
        ("fec0::/10", "private (site-local)"),
        ("ff00::/8", "multicast"),
    )
)
# The well-known NAT64 prefix: on an IPv6-only host, DNS64 answers 64:ff9b::a.b.c.d for an
# IPv4-only name, and the gateway forwards to a.b.c.d — so a.b.c.d is what must be public.
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_LABEL = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
_NUMBER_LABEL = re.compile(r"^(0[xX][0-9a-fA-F]*|[0-9]+)$")
# Characters kept as they are in a path and query; anything else is percent-encoded.
_TARGET_SAFE = "/?&=%:@!$'()*+,;~-._"


class UnsafeUrl(ValueError):
    """A URL Alliance will not call. `reason` is a stable code, the message a sentence."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Policy:
    """What the operator allows beyond public addresses on ports 80 and 443."""

    allow_ports: frozenset[int] = frozenset()
    allow_hosts: frozenset[str] = frozenset()
    allow_networks: tuple[IPNetwork, ...] = ()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> Policy:
        settings = settings or get_settings()
        ports = frozenset(
            int(p) for p in _items(settings.webhook_allow_ports) if p.isdigit() and int(p) < 65536
        )
        hosts: set[str] = set()
        networks: list[IPNetwork] = []
        for item in _items(settings.webhook_allow_hosts):
            try:
                networks.append(ipaddress.ip_network(item.strip("[]"), strict=False))
            except ValueError:
                hosts.add(item.lower().rstrip("."))
        return cls(ports, frozenset(hosts), tuple(networks))

    def exempts(self, host: str, address: IPAddress) -> bool:
        return host in self.allow_hosts or any(address in n for n in self.allow_networks)


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`address`, `port`) and what to say (`host`, `target`)."""

    scheme: str  # http | https
    host: str  # ASCII host name (IDNA) or an IP address without brackets
    port: int
    target: str  # path and query, ASCII, percent-encoded; never empty ("/")
    address: str  # the checked IP address the sender connects to

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        return name if self.port == DEFAULT_PORTS[self.scheme] else f"{name}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.scheme}://{self.host_header}{self.target}"


def system_resolver(host: str, port: int) -> list[str]:
    """Every address the system resolver gives for `host` (IPv4 and IPv6), in its order."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    found: list[str] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        address = str(sockaddr[0]).split("%", 1)[0]  # drop an IPv6 zone id
        if address not in found:
            found.append(address)
    return found


# --- the rules -------------------------------------------------------------------------------


def address_problem(address: IPAddress) -> str | None:
    """Why this address may not be called (a category name), or None if it is public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped
        if embedded is None and address in _NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            inner = address_problem(embedded)
            return f"{inner} (IPv4 {embedded} inside IPv6)" if inner else None
    for network, name in _DENIED:
        if address.version == network.version and address in network:
            return name
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_unspecified:
        return "unspecified"
    if address.is_private:
        return "private"
    if address.is_reserved or not address.is_global:
        return "reserved"
    return None


def _inet_aton(text: str) -> ipaddress.IPv4Address | None:
    """The IPv4 address a host made only of numbers means to inet_aton (and so to
    getaddrinfo): 1 to 4 parts, each decimal, octal (leading 0) or hex (0x), the last part
    filling the remaining bytes — `2130706433`, `0177.1`, `0x7f.0.0.1` are all 127.0.0.1.
    None when it is not such a form (then it is a host name)."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMBER_LABEL.match(p) for p in parts):
        return None
    values: list[int] = []
    for part in parts:
        if part[:2].lower() == "0x":
            values.append(int(part[2:] or "0", 16))
        elif len(part) > 1 and part.startswith("0"):
            if not set(part) <= set("01234567"):
                raise UnsafeUrl("bad_host", f"{text!r} is not a valid IPv4 address")
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *leading, last = values
    if any(v > 255 for v in leading) or last >= 256 ** (5 - len(values)):
        raise UnsafeUrl("bad_host", f"{text!r} is not a valid IPv4 address")
    number = 0
    for v in leading:
        number = number * 256 + v
    number = (number << (8 * (5 - len(values)))) | last
    return ipaddress.IPv4Address(number)


@dataclass(frozen=True, slots=True)
class _Parsed:
    scheme: str
    host: str
    port: int
    target: str
    literal: IPAddress | None  # the host is an IP address


def parse_url(url: str) -> _Parsed:
    """The syntax rules (no DNS): scheme, no user info, a well-formed host, a port number."""
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeUrl("too_long", f"the URL is longer than {MAX_URL_LENGTH} characters")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url) or "\\" in url:
        raise UnsafeUrl("bad_url", "the URL must not contain spaces, control characters or \\")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeUrl("bad_url", "not a valid URL") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise UnsafeUrl("bad_scheme", "the URL must start with https:// or http://")
    if "@" in parts.netloc:
        # user:password@host is also the classic way to make a URL look like another host.
        raise UnsafeUrl("userinfo", "the URL must not contain a user name or password")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeUrl("bad_host", "the URL must name a host")
    literal: IPAddress | None = None
    if parts.netloc.startswith("["):
        try:
            if "%" in host:  # a zone id names a local interface: never a public address
                raise ValueError
            literal = ipaddress.IPv6Address(host)
        except ValueError:
            raise UnsafeUrl("bad_host", f"{host!r} is not a valid IPv6 address") from None
        host = str(literal)
    else:
        literal = _inet_aton(host)
        if literal is None:
            try:
                host = host.encode("idna").decode("ascii").lower()
            except UnicodeError:
                raise UnsafeUrl("bad_host", f"{host[:80]!r} is not a valid host name") from None
            labels = host.split(".")
            if len(host) > 253 or not all(_LABEL.match(label) for label in labels):
                raise UnsafeUrl("bad_host", f"{host[:80]!r} is not a valid host name")
            if host == "localhost" or host.endswith(".localhost"):
                raise UnsafeUrl("forbidden_address", f"{host} is a loopback name")
            if len(labels) < 2:
                # A single label is completed by the resolver's search domains: an internal name.
                raise UnsafeUrl("bad_host", f"{host!r} is not a fully qualified domain name")
    target = quote(parts.path or "/", safe=_TARGET_SAFE)
    if parts.query:
        target += "?" + quote(parts.query, safe=_TARGET_SAFE)
    return _Parsed(scheme, host, port or DEFAULT_PORTS[scheme], target, literal)


def check_url(
    url: str, *, policy: Policy | None = None, resolver: Resolver | None = None
) -> Target:
    """Check a URL and resolve its host once. Raises UnsafeUrl; returns where to connect."""
    policy = policy or Policy.from_settings()
    parsed = parse_url(url)
    exempt_host = parsed.host in policy.allow_hosts
    port_ok = parsed.port in DEFAULT_PORTS.values() or parsed.port in policy.allow_ports
    if not port_ok and not exempt_host and not policy.allow_networks:
        raise UnsafeUrl("forbidden_port", f"port {parsed.port} is not allowed (only 80 and 443)")

    if parsed.literal is not None:
        addresses: list[IPAddress] = [parsed.literal]
        if parsed.literal.version == 4 and str(parsed.literal) != parsed.host:
            problem = address_problem(parsed.literal)
            if problem and not policy.exempts(parsed.host, parsed.literal):
                raise UnsafeUrl(
                    "forbidden_address", f"{parsed.host} is {parsed.literal}, a {problem} address"
                )
            raise UnsafeUrl(
                "bad_host", f"write the IPv4 address {parsed.literal} as four decimal numbers"
            )
    else:
        try:
            answers = (resolver or system_resolver)(parsed.host, parsed.port)
        except (OSError, UnicodeError) as exc:
            raise UnsafeUrl("unresolvable", f"{parsed.host} does not resolve ({exc})") from None
        addresses = []
        for answer in answers:
            try:
                addresses.append(ipaddress.ip_address(answer.split("%", 1)[0]))
            except ValueError:
                raise UnsafeUrl("unresolvable", f"{parsed.host} resolved to {answer!r}") from None
        if not addresses:
            raise UnsafeUrl("unresolvable", f"{parsed.host} does not resolve")

    # Every address must pass, not only the first: a name answering both a public and a
    # private address would otherwise reach the private one whenever the order changes.
    for address in addresses:
        if policy.exempts(parsed.host, address):
            continue
        problem = address_problem(address)
        if problem:
            shown = parsed.host if parsed.literal is not None else f"{parsed.host} ({address})"
            raise UnsafeUrl("forbidden_address", f"{shown} is a {problem} address")
        if not port_ok:
            raise UnsafeUrl(
                "forbidden_port", f"port {parsed.port} is not allowed (only 80 and 443)"
            )
    return Target(parsed.scheme, parsed.host, parsed.port, parsed.target, str(addresses[0]))
