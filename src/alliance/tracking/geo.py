"""IPv4 -> country, offline, from the table bundled with geoip2fast, in 3.5 MB instead of 25.

geoip2fast keeps its ~494k networks as lists of Python ints (~25 MB per server process).
We read the same bundled file once and keep three flat arrays (first address, network length,
country index: ~3.5 MB) and a tuple of country codes. A look-up is a binary search over the
first addresses, ~1 µs. The arrays' buffers are never written after loading, so worker
processes forked after loading share them with their parent page for page.

IPv6 addresses answer None (the bundled table is IPv4 only), as do private and reserved
ranges and malformed input.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import logging
import os
import pickle
import socket
import subprocess
import sys
import tempfile
import threading
from array import array
from bisect import bisect_right
from pathlib import Path

log = logging.getLogger("alliance.geo")

# geoip2fast numbers its special ranges (private, loopback, reserved, ...) first: indexes
# below this are not countries.
_FIRST_COUNTRY_INDEX = 16
_NOT_FOUND = "99"
_MAGIC = b"alliance-geo-v1\n"


def bundled_table() -> Path:
    """geoip2fast's IPv4 country file, found without importing the package (it is heavy)."""
    spec = importlib.util.find_spec("geoip2fast")
    if spec is None or spec.origin is None:
        raise RuntimeError("geoip2fast is not installed")
    return Path(spec.origin).with_name("geoip2fast.dat.gz")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "alliance"


class CountryTable:
    """Flat, read-only arrays of the IPv4 networks and their countries."""

    __slots__ = ("_codes", "_country", "_first", "_length")

    def __init__(
        self,
        first: array[int],
        length: array[int],
        country: array[int],
        codes: tuple[str | None, ...],
    ) -> None:
        self._first, self._length, self._country, self._codes = first, length, country, codes

    @classmethod
    def from_geoip2fast(cls, source: Path) -> CountryTable:
        """Read geoip2fast's pickled lists (~25 MB of Python ints while loading)."""
        with gzip.open(source) as data:
            version, _info, _total, database = pickle.load(data)  # noqa: S301 - package data
        if version not in (120, 121):
            raise ValueError(f"unsupported geoip2fast table version {version}")
        _index, names, first_ips, country_ids, net_lengths = database
        first, length, country = array("I"), array("B"), array("H")
        # The source is a list of chunks, already in address order; flattened chunk by chunk.
        for firsts, lengths, countries in zip(first_ips, net_lengths, country_ids, strict=True):
            first.extend(firsts)
            length.extend(lengths)
            country.extend(countries)
        codes: list[str | None] = []
        for position, entry in enumerate(names):
            code = entry.split(":", 1)[0]
            is_country = (
                position >= _FIRST_COUNTRY_INDEX
                and code != _NOT_FOUND
                and len(code) == 2
                and code.isalpha()
            )
            codes.append(code.upper() if is_country else None)
        return cls(first, length, country, tuple(codes))

    def save(self, path: Path) -> None:
        """Write the arrays to `path` atomically (a temp file renamed into place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        header = ",".join(code or "" for code in self._codes).encode("ascii")
        fd, temp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(_MAGIC)
                out.write(len(self._first).to_bytes(4, "little"))
                out.write(len(header).to_bytes(4, "little"))
                out.write(header)
                self._first.tofile(out)
                self._length.tofile(out)
                self._country.tofile(out)
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise

    @classmethod
    def load(cls, path: Path) -> CountryTable:
        with path.open("rb") as data:
            if data.read(len(_MAGIC)) != _MAGIC:
                raise ValueError(f"{path} is not an Alliance geo table")
            count = int.from_bytes(data.read(4), "little")
            header = data.read(int.from_bytes(data.read(4), "little")).decode("ascii")
            first, length, country = array("I"), array("B"), array("H")
            first.fromfile(data, count)
            length.fromfile(data, count)
            country.fromfile(data, count)
        codes = tuple(code or None for code in header.split(","))
        return cls(first, length, country, codes)

    def __len__(self) -> int:
        return len(self._first)

    def country(self, ip: str) -> str | None:
        try:
            address = int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
        except (OSError, ValueError, TypeError):
            return None  # IPv6, malformed, empty
        position = bisect_right(self._first, address) - 1
        if position < 0:
            return None
        shift = 32 - self._length[position]
        if address >> shift != self._first[position] >> shift:
            return None  # in a gap between listed networks
        return self._codes[self._country[position]]


def cached_table_path(source: Path) -> Path:
    """The compact copy's path: named after the source's identity, so an upgrade rebuilds."""
    stat = source.stat()
    key = hashlib.sha256(f"{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode())
    return cache_dir() / f"geo-ipv4-{key.hexdigest()[:16]}.bin"


def load_table() -> CountryTable:
    """The compact table, built once per installation in a child process.

    Unpickling geoip2fast's lists leaves ~17 MB of freed-but-kept heap behind in whichever
    process does it; a short-lived child does it instead, and every server process reads
    the 3.5 MB result.
    """
    source = bundled_table()
    cached = cached_table_path(source)
    if not cached.exists():
        try:
            subprocess.run(  # noqa: S603 - our own module, our own interpreter
                [sys.executable, "-m", "alliance.tracking.geo", str(source), str(cached)],
                check=True,
                timeout=120,
                capture_output=True,
            )
        except (OSError, subprocess.SubprocessError):
            # No writable cache (read-only home, say): build in-process, at a memory cost.
            log.warning("cannot cache the geo table at %s; building it in-process", cached)
            return CountryTable.from_geoip2fast(source)
    try:
        return CountryTable.load(cached)
    except (OSError, ValueError, EOFError):
        log.warning("geo table cache %s unreadable; building it in-process", cached)
        return CountryTable.from_geoip2fast(source)


_table: CountryTable | None = None
_lock = threading.Lock()


def table() -> CountryTable:
    """The process's table, loaded on first use (a few ms; the first build ~1 s)."""
    global _table
    if _table is None:
        with _lock:
            if _table is None:
                _table = load_table()
    return _table


def country_of(ip: str) -> str | None:
    """ISO 3166-1 alpha-2 country of an IPv4 address, or None."""
    return table().country(ip)


if __name__ == "__main__":  # the child process of load_table()
    CountryTable.from_geoip2fast(Path(sys.argv[1])).save(Path(sys.argv[2]))
