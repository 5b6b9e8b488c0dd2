"""Benchmark conversion ingestion: `GET /postback` with unique order ids.

    .venv/bin/python bench/postback.py [--seconds N] [--db sqlite|postgresql] [--workers N]
                                       [--connections N]

It creates a fresh database (a temp SQLite file, or the PostgreSQL database `alliance_bench_pb`),
migrates it, adds one program (CPS 10 %, terms version 1), an approved partner, a link and 1,000
clicks, starts `alliance serve` as a user would, then drives `/postback` with wrk: every request
carries a new order id (a wrk Lua script numbers them per thread) and one of the clicks as
`click_id`, so each one is a full new conversion — raw inbox row, attribution over the visitor's
clicks, pricing, conversion, commission, ledger entry.

It prints accepted conversions/s, p50/p99 latency and the server's peak RSS, then counts the
conversions in the database: every 200 answered must be a stored conversion. Target (issue):
>= 2,000 conversions/s on a 2-core machine.

Needs `wrk` on PATH (Debian: `apt-get install -y wrk`).
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

# Shared process, RSS and wrk helpers of the redirect benchmark.
import redirect  # noqa: E402
from redirect import (  # noqa: E402
    RssSampler,
    start_alliance,
    stop,
    wrk,
)

TARGET = "target: >= 2,000 conversions/s (2 cores)"
CLICKS = 1000

# Unique order ids: thread number + per-thread counter. Each request picks a random click.
LUA = """
local clicks = {{{clicks}}}
local counter = 0
local threads = 0
function setup(thread)
    threads = threads + 1
    thread:set("tid", threads)
end
function request()
    counter = counter + 1
    local click = clicks[math.random(#clicks)]
    local path = "{path}&order_id={prefix}-" .. tid .. "-" .. counter .. "&click_id=" .. click
    return wrk.format("GET", path)
end
"""


def fresh_database(kind: str, pg_url: str, workdir: Path) -> str:
    return redirect.fresh_database(kind, pg_url, workdir, "alliance_bench_pb")


def seed(database_url: str) -> tuple[str, str, list[str]]:
    """Migrate; add a program with CPS terms, an approved partner, a link and its clicks."""
    os.environ["ALLIANCE_DATABASE_URL"] = database_url
    from alliance.settings import get_settings

    get_settings.cache_clear()
    from datetime import timedelta

    from alliance.accounts.models import Advertiser, Partner
    from alliance.clock import utcnow
    from alliance.commissions.terms import parse_terms, terms_to_json
    from alliance.db.engine import dispose_all, transaction
    from alliance.db.migrate import upgrade
    from alliance.ids import PREFIXES, new_id, new_link_code, new_token
    from alliance.programs.models import CommissionTerms, Enrollment, Program
    from alliance.tracking.models import Click, Link

    upgrade(database_url)
    program_id, token = new_id("prg"), new_token()
    clicks: list[str] = []
    with transaction(database_url) as session:
        adv = Advertiser(id=new_id("adv"), name="Bench shop", country="DE", currency="EUR")
        ptn = Partner(
            id=new_id("ptn"), name="Bench blog", type="content", country="DE", payout_currency="EUR"
        )
        session.add_all([adv, ptn])
        session.flush()
        session.add(
            Program(
                id=program_id,
                advertiser_id=adv.id,
                name="Bench",
                currency="EUR",
                landing_url="https://shop.example/",
                postback_token=token,
            )
        )
        session.flush()
        rules = terms_to_json(parse_terms({"type": "cps", "percent": "10"}, "EUR"))
        session.add(
            CommissionTerms(
                id=new_id(PREFIXES["terms"]), program_id=program_id, version=1, rules=rules
            )
        )
        session.add(
            Enrollment(
                id=new_id("enr"), program_id=program_id, partner_id=ptn.id, status="approved"
            )
        )
        link = Link(
            id=new_id("lnk"), code=new_link_code(), program_id=program_id, partner_id=ptn.id
        )
        session.add(link)
        session.flush()
        now = utcnow()
        for i in range(CLICKS):
            click_id = new_id("clk")
            clicks.append(click_id)
            session.add(
                Click(
                    id=click_id,
                    occurred_at=now - timedelta(minutes=CLICKS - i),
                    link_id=link.id,
                    program_id=program_id,
                    partner_id=ptn.id,
                    visitor_id=new_id("vis"),
                    landing_url="https://shop.example/",
                    ip_hash="0" * 32,
                )
            )
    dispose_all()
    return program_id, token, clicks


def count_conversions(database_url: str, program_id: str) -> tuple[int, int]:
    """(conversions of the measured run, inbound events of the program) stored."""
    from sqlalchemy import func, select

    from alliance.conversions.models import Conversion, InboundEvent
    from alliance.db.engine import reading

    with reading(database_url) as session:
        conversions = (
            session.scalar(
                select(func.count()).where(
                    Conversion.program_id == program_id, Conversion.order_id.like("run-%")
                )
            )
            or 0
        )
        events = (
            session.scalar(select(func.count()).where(InboundEvent.program_id == program_id)) or 0
        )
    return conversions, events


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--connections", type=int, default=64)
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    with tempfile.TemporaryDirectory(prefix="alliance-bench-pb-") as tmp:
        workdir = Path(tmp)
        database_url = fresh_database(args.db, args.pg_url, workdir)
        program_id, token, clicks = seed(database_url)
        random.shuffle(clicks)
        path = f"/postback?program={program_id}&token={token}&amount=49.90&currency=EUR"
        scripts = {}
        for prefix in ("warm", "run"):
            scripts[prefix] = workdir / f"{prefix}.lua"
            scripts[prefix].write_text(
                LUA.format(clicks=",".join(f'"{c}"' for c in clicks), path=path, prefix=prefix)
            )
        server, url = start_alliance(database_url, args.workers, workdir)
        try:
            # Warm-up: imports, connection pools, caches, SQLite page cache.
            wrk("warm-up", url + "/", 2, args.connections, scripts["warm"])
            with RssSampler(server.pid) as rss:
                run = wrk(
                    f"/postback, {args.connections} conn",
                    url + "/",
                    args.seconds,
                    args.connections,
                    scripts["run"],
                )
        finally:
            stop(server)
        stored, events = count_conversions(database_url, program_id)

    accepted = run.requests - run.not_3xx
    table = Table(title=f"Alliance /postback ({args.db}, {args.workers} worker(s))")
    for column in ("run", "requests", "conv/s", "p50 ms", "p99 ms", "non-2xx", "RSS MB"):
        table.add_column(column, justify="right")
    table.add_row(
        run.target,
        f"{run.requests:,}",
        f"{run.rps:,.0f}",
        f"{run.p50_ms:.2f}",
        f"{run.p99_ms:.2f}",
        str(run.not_3xx),
        f"{rss.peak:.0f}",
    )
    console.print(table)
    console.print(TARGET)
    # wrk stops counting with requests in flight, so the database may hold a few more.
    verdict = "[green]ok[/]" if stored >= accepted else "[red]LOST CONVERSIONS[/]"
    console.print(
        f"conversions stored: {stored:,} (inbound events {events:,}); "
        f"2xx counted by wrk: {accepted:,} -> {verdict}"
    )


if __name__ == "__main__":
    main()
