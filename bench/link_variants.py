"""Micro-benchmark of landing variants on the redirect (docs/link-variants.md, ADR 0018).

    .venv/bin/python bench/link_variants.py [--requests N] [--repeats N] [--src DIR]

No server, no database: the `/c/` ASGI handler is called in-process with a link cache and a
click writer that answer at once, so what is timed is the handler's own CPU per request
(parse, choose the landing, build the click and the 302). It prints, per case, the best of
`--repeats` runs (the machine is shared: the minimum is the least disturbed figure):

  * handler, no variants: the fast path every link without variants takes;
  * handler, variants: a link with an A/B split, and one with country + device + new/returning
    conditions (the country and the device then looked up in the request);
  * choose_variant alone, for tables of 2, 5 and 20 variants.

`--src` imports Alliance from another source tree (say `git archive main src | tar -x -C
/tmp/before`), so the fast path can be timed before and after a change on the same machine
in the same minutes; a tree without variants times the first case only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Callable, MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_SRC = sys.argv[sys.argv.index("--src") + 1] if "--src" in sys.argv else str(ROOT / "src")
sys.path.insert(0, _SRC)

from alliance.programs.models import Program  # noqa: E402
from alliance.settings import Settings  # noqa: E402
from alliance.tracking import visitor  # noqa: E402
from alliance.tracking.link_cache import CachedLink, build_entry  # noqa: E402
from alliance.tracking.models import Link  # noqa: E402
from alliance.tracking.redirect import RedirectHandler  # noqa: E402

CHROME = b"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36"
GB_IP = "81.2.69.142"
SETTINGS = Settings(secret_key="bench-secret-key", trust_forwarded_for=True)


class _Cache:
    def __init__(self, entry: CachedLink) -> None:
        self.entry = entry

    async def get(self, code: str) -> CachedLink | None:
        return self.entry


class _Writer:
    """Takes the click and returns: the handler's cost without the durable write."""

    running = True
    last: Any = None

    async def write(self, click: Any) -> None:
        self.last = click


def _entry(variants: list[dict[str, Any]] | None) -> CachedLink:
    program = Program(
        id="prg_01JD0000000000000000000000",
        landing_url="https://shop.example/",
        cookie_window_days=30,
        deeplink_domains=[],
        allowed_countries=[],
        fallback_url=None,
    )
    link = Link(
        id="lnk_01JD0000000000000000000000",
        code="bench123",
        program_id=program.id,
        partner_id="ptn_01JD0000000000000000000000",
        landing_url=None,
        country_urls={},
        default_subs={},
    )
    if variants is None:
        return build_entry(link, program)
    from alliance.crosspromo.variants import Variant

    return build_entry(link, program, [_variant(Variant, row) for row in variants])


def _variant(kind: Any, row: dict[str, Any]) -> Any:
    return kind(
        id=row["id"],
        landing_url=row["landing_url"],
        weight=row["weight"],
        countries=frozenset(row.get("countries", ())),
        devices=frozenset(row.get("devices", ())),
        visitor=row.get("visitor"),
    )


def _handler(entry: CachedLink) -> tuple[RedirectHandler, _Writer]:
    handler = RedirectHandler(SETTINGS)
    writer = _Writer()
    handler._cache = _Cache(entry)  # type: ignore[assignment]
    handler._writer = writer  # type: ignore[assignment]
    return handler, writer


def _scope(cookie: bytes | None) -> MutableMapping[str, Any]:
    headers = [
        (b"host", b"127.0.0.1"),
        (b"user-agent", CHROME),
        (b"x-forwarded-for", GB_IP.encode()),
    ]
    if cookie:
        headers.append((b"cookie", cookie))
    return {
        "type": "http",
        "method": "GET",
        "path": "/c/bench123",
        "query_string": b"",
        "headers": headers,
        "client": ("127.0.0.1", 5000),
        "scheme": "http",
    }


async def _time_handler(entry: CachedLink, requests: int) -> float:
    handler, _ = _handler(entry)
    scope = _scope(b"alc_prg_01JD0000000000000000000000=vis_01JD00000000000000000000AB")

    async def receive() -> MutableMapping[str, Any]:
        return {"type": "http.request", "body": b""}

    async def send(message: MutableMapping[str, Any]) -> None:
        return None

    for _ in range(1000):  # warm the caches (UA verdict, geo table)
        await handler(scope, receive, send)
    began = time.perf_counter()
    for _ in range(requests):
        await handler(scope, receive, send)
    return (time.perf_counter() - began) / requests * 1e6


def _best(run: Callable[[], float], repeats: int) -> tuple[float, float]:
    samples = [run() for _ in range(repeats)]
    return min(samples), statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--src", default=_SRC, help="the source tree to import (read above)")
    args = parser.parse_args()
    visitor.warm_up()
    print(f"alliance from {Path(visitor.__file__).parents[2]}")

    cases: list[tuple[str, list[dict[str, Any]] | None]] = [("handler, no variants", None)]
    try:
        from alliance.crosspromo import variants as pure
    except ImportError:  # the code before variants existed: the baseline only
        pure = None  # type: ignore[assignment]
    if pure is not None:
        ab = [
            {"id": "var_A", "landing_url": "https://shop.example/a", "weight": 50},
            {"id": "var_B", "landing_url": "https://shop.example/b", "weight": 50},
        ]
        targeted = [
            {
                "id": "var_GB_MOBILE_NEW",
                "landing_url": "https://shop.example/gb-m",
                "weight": 1,
                "countries": ["GB"],
                "devices": ["mobile"],
                "visitor": "new",
            },
            {
                "id": "var_GB",
                "landing_url": "https://shop.example/gb",
                "weight": 1,
                "countries": ["GB", "IE"],
            },
            {
                "id": "var_DESKTOP",
                "landing_url": "https://shop.example/desk",
                "weight": 3,
                "devices": ["desktop"],
            },
            *ab,
        ]
        cases += [("handler, A/B split of 2", ab), ("handler, 5 targeted variants", targeted)]

    print(f"{'case':<36} {'best µs':>9} {'median µs':>10}")
    for name, variants in cases:
        entry = _entry(variants)
        best, median = _best(
            lambda entry=entry: asyncio.run(_time_handler(entry, args.requests)), args.repeats
        )
        print(f"{name:<36} {best:>9.2f} {median:>10.2f}")

    if pure is None:
        return
    # (name, variants): an A/B split (one hash per choice), then tables where a third of the
    # variants want DE/AT and half want mobile, asked for by a GB desktop visitor (every
    # conditioned group is tried and fails before the unconditioned one splits).
    tables: list[tuple[str, list[dict[str, Any]]]] = [
        (
            "A/B of 2",
            [
                {"id": f"var_{i}", "landing_url": f"https://shop.example/{i}", "weight": 1}
                for i in range(2)
            ],
        )
    ]
    for size in (2, 5, 20):
        tables.append(
            (
                f"{size} variants",
                [
                    {
                        "id": f"var_{i}",
                        "landing_url": f"https://shop.example/{i}",
                        "weight": 1 + i,
                        "countries": ["DE", "AT"] if i % 3 == 0 else [],
                        "devices": ["mobile"] if i % 2 == 0 else [],
                    }
                    for i in range(size)
                ],
            )
        )
    for label, rows in tables:
        table = pure.compile_variants(_variant(pure.Variant, row) for row in rows)
        assert table is not None
        ids = [f"vis_01JD{n:022d}" for n in range(1000)]

        def choose(table: pure.VariantTable = table, ids: list[str] = ids) -> float:
            began = time.perf_counter()
            for _ in range(args.requests // 1000):
                for visitor_id in ids:
                    pure.choose_variant(
                        table,
                        link_id="lnk_x",
                        visitor_id=visitor_id,
                        country="GB",
                        device="desktop",
                        returning=True,
                    )
            return (time.perf_counter() - began) / (args.requests // 1000 * 1000) * 1e6

        best, median = _best(choose, args.repeats)
        print(f"{f'choose_variant, {label}':<36} {best:>9.2f} {median:>10.2f}")


if __name__ == "__main__":
    main()
