"""The SSRF validator, by table, through stub resolvers: no test here resolves a real name or
connects anywhere (socket.getaddrinfo is made to fail), except the pinning test at the end,
which connects to the stub receiver on 127.0.0.1."""

from __future__ import annotations

import socket
from collections.abc import Iterator, Sequence

import pytest

from alliance.notifications import ssrf
from alliance.notifications.sender import send
from alliance.notifications.ssrf import Policy, UnsafeUrl, check_url

from .conftest import Stub

STRICT = Policy()  # no allowlist: the production rules
PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class Resolver:
    """A stub DNS: a fixed answer per name, and a record of every question."""

    def __init__(self, answers: dict[str, Sequence[str]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, int]] = []

    def __call__(self, host: str, port: int) -> Sequence[str]:
        self.calls.append((host, port))
        if host not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[host]


@pytest.fixture()
def no_dns(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    def refuse(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("the validator must not use the system resolver in these tests")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    yield


DNS = Resolver(
    {
        "hooks.example.com": [PUBLIC_V4],
        "v6.example.com": [PUBLIC_V6],
        "internal.example.com": ["10.1.2.3"],
        "mixed.example.com": [PUBLIC_V4, "192.168.1.10"],
        "metadata.example.com": ["169.254.169.254"],
        "loop6.example.com": ["::1"],
        "mapped.example.com": ["::ffff:127.0.0.1"],
        "nat64.example.com": ["64:ff9b::a9fe:a9fe"],
        "nat64-public.example.com": ["64:ff9b::5db8:d70e"],
        "ula.example.com": ["fd00:ec2::254"],
        "cgnat.example.com": ["100.100.100.200"],
        "mcast.example.com": ["224.0.0.251"],
        "zone.example.com": ["fe80::1%eth0"],
    }
)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        # schemes, user info, syntax
        ("ftp://hooks.example.com/x", "bad_scheme"),
        ("file:///etc/passwd", "bad_scheme"),
        ("gopher://hooks.example.com/", "bad_scheme"),
        ("javascript:alert(1)", "bad_scheme"),
        ("//hooks.example.com/x", "bad_scheme"),
        ("https://user:pw@hooks.example.com/", "userinfo"),
        ("https://hooks.example.com@127.0.0.1/", "userinfo"),
        ("https://hooks.example.com\\@127.0.0.1/", "bad_url"),
        ("https://hooks.example.com/a b", "bad_url"),
        ("https://hooks.example.com/\r\nX-Injected: 1", "bad_url"),
        ("https:///path-only", "bad_host"),
        ("https://hooks.example.com:99999/", "bad_url"),
        ("https://-bad-.example.com/", "bad_host"),
        ("https://intranet/", "bad_host"),
        ("https://" + "a" * 300 + ".example.com/", "bad_host"),
        # ports
        ("https://hooks.example.com:8443/", "forbidden_port"),
        ("http://hooks.example.com:22/", "forbidden_port"),
        (f"http://{PUBLIC_V4}:6379/", "forbidden_port"),
        # loopback in every spelling
        ("http://localhost/", "forbidden_address"),
        ("http://api.localhost/", "forbidden_address"),
        ("http://127.0.0.1/", "forbidden_address"),
        ("http://127.0.0.1./", "forbidden_address"),
        ("http://127.1/", "forbidden_address"),
        ("http://2130706433/", "forbidden_address"),
        ("http://0x7f000001/", "forbidden_address"),
        ("http://0x7f.0.0.1/", "forbidden_address"),
        ("http://0177.0.0.1/", "forbidden_address"),
        ("http://017700000001/", "forbidden_address"),
        ("http://[::1]/", "forbidden_address"),
        ("http://[0:0:0:0:0:0:0:1]/", "forbidden_address"),
        ("http://[::ffff:127.0.0.1]/", "forbidden_address"),
        ("http://[::ffff:7f00:1]/", "forbidden_address"),
        ("http://[::127.0.0.1]/", "forbidden_address"),
        # unspecified
        ("http://0.0.0.0/", "forbidden_address"),
        ("http://0/", "forbidden_address"),
        ("http://[::]/", "forbidden_address"),
        # private, shared, link-local, metadata, multicast, reserved, documentation
        ("http://10.0.0.1/", "forbidden_address"),
        ("http://172.16.5.4/", "forbidden_address"),
        ("http://192.168.0.1/", "forbidden_address"),
        ("http://100.64.0.1/", "forbidden_address"),
        ("http://169.254.169.254/latest/meta-data/", "forbidden_address"),
        ("http://224.0.0.1/", "forbidden_address"),
        ("http://239.255.255.250/", "forbidden_address"),
        ("http://240.0.0.1/", "forbidden_address"),
        ("http://255.255.255.255/", "forbidden_address"),
        ("http://192.0.2.1/", "forbidden_address"),
        ("http://198.18.0.1/", "forbidden_address"),
        ("http://[fe80::1]/", "forbidden_address"),
        ("http://[fe80::1%25eth0]/", "bad_host"),
        ("http://[fd00::1]/", "forbidden_address"),
        ("http://[fec0::1]/", "forbidden_address"),
        ("http://[ff02::1]/", "forbidden_address"),
        ("http://[2001:db8::1]/", "forbidden_address"),
        ("http://[2002:7f00:1::]/", "forbidden_address"),
        ("http://[64:ff9b::7f00:1]/", "forbidden_address"),
        ("http://[::ffff:169.254.169.254]/", "forbidden_address"),
        # non-canonical but public: refused anyway (write the address plainly)
        ("http://1572395790/", "bad_host"),
        ("http://0x5d.0xb8.0xd7.0x0e/", "bad_host"),
        ("http://256.1.1.1/", "bad_host"),
        ("http://08.1.1.1/", "bad_host"),
        # names that resolve to what may not be called
        ("https://internal.example.com/", "forbidden_address"),
        ("https://mixed.example.com/", "forbidden_address"),
        ("https://metadata.example.com/", "forbidden_address"),
        ("https://loop6.example.com/", "forbidden_address"),
        ("https://mapped.example.com/", "forbidden_address"),
        ("https://nat64.example.com/", "forbidden_address"),
        ("https://ula.example.com/", "forbidden_address"),
        ("https://cgnat.example.com/", "forbidden_address"),
        ("https://mcast.example.com/", "forbidden_address"),
        ("https://zone.example.com/", "forbidden_address"),
        ("https://nowhere.example.com/", "unresolvable"),
    ],
)
def test_refused(url: str, reason: str, no_dns: None) -> None:
    with pytest.raises(UnsafeUrl) as refused:
        check_url(url, policy=STRICT, resolver=DNS)
    assert refused.value.reason == reason, refused.value.detail


@pytest.mark.parametrize(
    ("url", "address", "host_header", "target"),
    [
        ("https://hooks.example.com/in", PUBLIC_V4, "hooks.example.com", "/in"),
        ("https://HOOKS.example.com./in?a=1&b=2", PUBLIC_V4, "hooks.example.com", "/in?a=1&b=2"),
        ("http://hooks.example.com:80", PUBLIC_V4, "hooks.example.com", "/"),
        ("https://hooks.example.com:443/é", PUBLIC_V4, "hooks.example.com", "/%C3%A9"),
        ("https://v6.example.com/h", PUBLIC_V6, "v6.example.com", "/h"),
        (f"https://{PUBLIC_V4}/h", PUBLIC_V4, PUBLIC_V4, "/h"),
        (f"https://[{PUBLIC_V6}]/h", PUBLIC_V6, f"[{PUBLIC_V6}]", "/h"),
        (
            "https://nat64-public.example.com/",
            "64:ff9b::5db8:d70e",
            "nat64-public.example.com",
            "/",
        ),
    ],
)
def test_accepted(url: str, address: str, host_header: str, target: str, no_dns: None) -> None:
    checked = check_url(url, policy=STRICT, resolver=DNS)
    assert (checked.address, checked.host_header, checked.target) == (address, host_header, target)


def test_an_international_name_is_resolved_in_its_ascii_form(no_dns: None) -> None:
    dns = Resolver({"xn--bcher-kva.example": [PUBLIC_V4]})
    checked = check_url("https://bücher.example/x", policy=STRICT, resolver=dns)
    assert checked.host == "xn--bcher-kva.example" and dns.calls == [("xn--bcher-kva.example", 443)]


def test_the_name_is_resolved_once_and_ip_literals_not_at_all(no_dns: None) -> None:
    dns = Resolver({"hooks.example.com": [PUBLIC_V4]})
    check_url("https://hooks.example.com/", policy=STRICT, resolver=dns)
    check_url(f"https://{PUBLIC_V4}/", policy=STRICT, resolver=dns)
    assert dns.calls == [("hooks.example.com", 443)]


def test_the_allowlist_exempts_only_what_it_names(no_dns: None) -> None:
    policy = Policy(
        allow_ports=frozenset({8443}),
        allow_hosts=frozenset({"hooks.internal.example"}),
        allow_networks=(ssrf.ipaddress.ip_network("127.0.0.1/32"),),
    )
    dns = Resolver({"hooks.internal.example": ["10.0.0.5"], "hooks.example.com": [PUBLIC_V4]})
    assert check_url("http://127.0.0.1:8123/x", policy=policy).address == "127.0.0.1"
    assert (
        check_url("http://hooks.internal.example:9000/", policy=policy, resolver=dns).port == 9000
    )
    assert check_url("https://hooks.example.com:8443/", policy=policy, resolver=dns).port == 8443
    for url in ("http://127.0.0.2/", "http://10.0.0.5/", "https://hooks.example.com:9000/"):
        with pytest.raises(UnsafeUrl):
            check_url(url, policy=policy, resolver=dns)


def test_policy_from_settings_reads_hosts_networks_and_ports() -> None:
    from alliance.settings import Settings

    policy = Policy.from_settings(
        Settings(
            webhook_allow_hosts="127.0.0.1, hooks.lan., 10.8.0.0/16,[::1]",
            webhook_allow_ports="8443,x,70000",
        )
    )
    assert policy.allow_hosts == frozenset({"hooks.lan"})
    assert [str(n) for n in policy.allow_networks] == ["127.0.0.1/32", "10.8.0.0/16", "::1/128"]
    assert policy.allow_ports == frozenset({8443})


def test_the_sender_connects_to_the_checked_address_not_to_a_new_answer(stub: Stub) -> None:
    """DNS rebinding: the name answers 127.0.0.1 when checked, then 127.0.0.2 (where nothing
    listens). The request must still reach 127.0.0.1, with the name in the Host header."""
    answers = iter([["127.0.0.1"], ["127.0.0.2"]])
    calls: list[str] = []

    def rebinding(host: str, _port: int) -> Sequence[str]:
        calls.append(host)
        return next(answers)

    policy = Policy(allow_networks=(ssrf.ipaddress.ip_network("127.0.0.1/32"),))
    target = check_url(
        f"http://rebind.example.com:{stub.port}/ok/pinned", policy=policy, resolver=rebinding
    )
    answer = send(target, "POST", {"Content-Type": "application/json"}, b"{}", timeout=2)
    assert answer.status_code == 200 and calls == ["rebind.example.com"]
    [request] = stub.to("/ok/pinned")
    assert request.headers["Host"] == f"rebind.example.com:{stub.port}"
    assert request.body == b"{}"
