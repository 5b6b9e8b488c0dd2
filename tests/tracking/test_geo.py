"""The compact IPv4 country table answers exactly what geoip2fast answers, from 3.5 MB."""

from __future__ import annotations

import random
import warnings
from pathlib import Path

import pytest

from alliance.tracking import geo


@pytest.fixture(scope="module")
def reference() -> object:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # geoip2fast's source has invalid escape sequences
        from geoip2fast import GeoIP2Fast

        return GeoIP2Fast()


def reference_country(reference: object, ip: str) -> str | None:
    code = reference.lookup(ip).country_code  # type: ignore[attr-defined]
    return code.upper() if isinstance(code, str) and len(code) == 2 and code.isalpha() else None


def test_agrees_with_geoip2fast_on_random_addresses(reference: object) -> None:
    table = geo.table()
    rng = random.Random(2026)
    for _ in range(20_000):
        ip = ".".join(str(rng.randrange(256)) for _ in range(4))
        assert table.country(ip) == reference_country(reference, ip), ip


@pytest.mark.parametrize(
    ("ip", "country"),
    [
        ("81.2.69.142", "GB"),
        ("8.8.8.8", "US"),
        ("0.0.0.0", None),
        ("255.255.255.255", None),  # broadcast
        ("192.168.1.1", None),
        ("::1", None),  # IPv6: the table is IPv4 only
        ("2001:db8::1", None),
        ("1.2.3", None),  # shorthand forms are refused, not guessed
        ("81.2.69.142 ", None),
        ("", None),
    ],
)
def test_edges(ip: str, country: str | None) -> None:
    assert geo.country_of(ip) == country


def test_saved_table_loads_back_identical(tmp_path: Path) -> None:
    built = geo.CountryTable.from_geoip2fast(geo.bundled_table())
    built.save(tmp_path / "geo.bin")
    loaded = geo.CountryTable.load(tmp_path / "geo.bin")
    assert len(loaded) == len(built) > 400_000
    for ip in ("81.2.69.142", "8.8.8.8", "41.0.0.1", "10.0.0.1", "200.160.2.3"):
        assert loaded.country(ip) == built.country(ip)


def test_a_damaged_cache_is_rebuilt_not_trusted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = geo.cached_table_path(geo.bundled_table())
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"garbage")
    assert geo.load_table().country("81.2.69.142") == "GB"


def test_first_use_builds_the_cache_in_a_child_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    cached = geo.cached_table_path(geo.bundled_table())
    assert not cached.exists()
    assert geo.load_table().country("8.8.8.8") == "US"
    assert cached.exists()
    assert cached.stat().st_size < 4_000_000
