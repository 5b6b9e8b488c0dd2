"""What a fatigue cap costs the redirect per click on a co-promotion link (ADR 0024).

    .venv/bin/python bench/fatigue_caps.py [--background N] [--own N] [--checks N]

Builds a small network through the API of a real server on a temporary SQLite database (a
campaign where partner A promotes B's offer on one slot, with a slot cap), then writes
`--background` clicks of other visitors on the slot's link and `--own` clicks of one
returning visitor, and times, in-process, what the redirect adds for that visitor's click:
the exposure read (`caps.exposures_of`, one indexed query) plus the pure verdict
(`caps_rules.capping_rule`), called directly and through `asyncio.to_thread` as the
redirect does. It prints the median and the 90th percentile in µs. Links without caps pay
one attribute test (`link.caps is not None`), which is not measurable here.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))
_DB = Path(tempfile.mkdtemp(prefix="caps-bench-")) / "bench.db"
DB_URL = f"sqlite:///{_DB}"
os.environ["ALLIANCE_DATABASE_URL"] = DB_URL

import httpx  # noqa: E402
from tests.api.factories import API, auth, expect  # noqa: E402
from tests.conftest import Server  # noqa: E402
from tests.crosspromo.campaign_factories import (  # noqa: E402
    act,
    add_slot,
    at,
    create,
    make_world,
    party,
)

from alliance.accounts.service import create_operator  # noqa: E402
from alliance.crosspromo.caps import exposures_of  # noqa: E402
from alliance.crosspromo.caps_rules import capping_rule, earliest_start  # noqa: E402
from alliance.db.engine import transaction  # noqa: E402
from alliance.db.migrate import upgrade  # noqa: E402
from alliance.ids import new_id  # noqa: E402
from alliance.tracking.link_cache import load_link  # noqa: E402
from alliance.tracking.models import Click  # noqa: E402


def build(http: httpx.Client, operator_key: str) -> str:
    """The slot link's code, its slot capped at 10 000 exposures (never reached here)."""
    world = make_world(http, operator_key)
    campaign = create(http, world.a.key, parties=[{"partner_id": world.b.id}])
    pa, pb = party(campaign, world.a.id), party(campaign, world.b.id)
    expect(
        add_slot(
            http,
            world.a.key,
            campaign,
            promoter_party_id=pa,
            beneficiary_party_id=pb,
            program_id=world.b_offer_id,
            starts_at=at(-0.5),
            ends_at=at(2),
        ),
        201,
    )
    expect(act(http, world.a.key, campaign["id"], "propose"), 200)
    agreed = expect(act(http, world.b.key, campaign["id"], "accept"), 200)
    slot = agreed["slots"][0]
    body = {
        "scope": "slot",
        "campaign_id": campaign["id"],
        "slot_id": slot["id"],
        "maximum": 10_000,
        "window": "rolling",
        "window_hours": 24 * 30,
    }
    expect(http.post(f"{API}/fatigue-caps", json=body, headers=auth(world.a.key)), 201)
    return str(slot["link"]["code"])


def clicks(code: str, visitor_id: str | None, count: int) -> None:
    link = load_link(code, DB_URL)
    assert link is not None
    now = datetime.now(UTC)
    with transaction() as session:
        for i in range(count):
            session.add(
                Click(
                    id=new_id("clk"),
                    occurred_at=now - timedelta(minutes=i),
                    link_id=link.link_id,
                    program_id=link.program_id,
                    partner_id=link.partner_id,
                    visitor_id=visitor_id or new_id("vis"),
                    landing_url=link.landing_url,
                    ip_hash="bench",
                )
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--background", type=int, default=50_000)
    parser.add_argument("--own", type=int, default=20)
    parser.add_argument("--checks", type=int, default=2_000)
    args = parser.parse_args()
    upgrade(DB_URL)
    with transaction() as session:
        _, operator_key = create_operator(session, name="Bench operator")
    server = Server(DB_URL).start()
    try:
        with httpx.Client(base_url=server.url, timeout=30) as http:
            code = build(http, operator_key)
    finally:
        server.stop()
    visitor_id = new_id("vis")
    clicks(code, None, args.background)
    clicks(code, visitor_id, args.own)
    link = load_link(code, DB_URL)
    assert link is not None and link.caps is not None
    caps = link.caps

    def check() -> bool:
        now = datetime.now(UTC)
        seen = exposures_of(visitor_id, caps, earliest_start(caps.rules, now), DB_URL)
        assert len(seen) == args.own
        return capping_rule(caps.rules, caps.place, seen, now) is not None

    def timed(run: object) -> list[float]:
        samples = []
        for _ in range(args.checks):
            start = time.perf_counter()
            run()  # type: ignore[operator]
            samples.append((time.perf_counter() - start) * 1e6)
        return samples

    async def threaded() -> list[float]:
        samples = []
        for _ in range(args.checks):
            start = time.perf_counter()
            await asyncio.to_thread(check)
            samples.append((time.perf_counter() - start) * 1e6)
        return samples

    direct = timed(check)
    hopped = asyncio.run(threaded())
    print(f"SQLite, {args.background} other clicks on the link, {args.own} of the visitor")
    for name, samples in (("exposure read + verdict", direct), ("  via to_thread", hopped)):
        q = statistics.quantiles(samples, n=10)
        print(f"{name:28s} median {statistics.median(samples):7.0f} µs   p90 {q[8]:7.0f} µs")


if __name__ == "__main__":
    main()
