"""Benchmark the reports on a large network: 10 million clicks and 200,000 orders by default.

    .venv/bin/python bench/reports.py [--db sqlite|postgresql] [--clicks N] [--orders N]
                                      [--runs N] [--reuse] [--no-check] [--currency EUR]

It creates a fresh database (SQLite: var/bench-reports.db; PostgreSQL: the database
`alliance_bench_reports` on --pg-url), migrates it, writes the network of
bench/reports_data.py (executemany in large transactions on SQLite, COPY on PostgreSQL),
builds the rollups (`rollups.rebuild`), then asks each report `--runs` times per kind of
question, as the API would (a fresh read session each time): the whole period (90 days,
the operator), the last 7 days, one program (an advertiser), one partner (a partner),
one country, one device; programs, partners, countries and devices are drawn at random
(weighted by their traffic). It prints p50 / p95 / max per report, the slowest kind of
question, the generation and rebuild times, then times a live refresh (new clicks and order
changes, read before and after it).

Each report's answer is also compared with the raw reference queries on a sample of
questions (the cheaper ones; the whole period once): any difference fails the run.
--reuse keeps the network of the last run (same --db) and skips the generation;
--no-rebuild then keeps its rollups too (a refresh brings them up to date).
--currency asks every question in one currency (`currency=` on the API: each day's money at
that day's ECB rate, the converter made inside the timing as a request makes it), and adds
the ROI reports (per buyer country, per order currency).
Target (issue 4): p95 < 200 ms per report on SQLite and PostgreSQL.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import reports_data  # noqa: E402

TARGET_MS = 200.0
KINDS = ("whole period", "last 7 days", "one program", "one partner", "country", "device")


def fresh_database(kind: str, pg_url: str, reuse: bool) -> str:
    if kind == "sqlite":
        path = ROOT / "var" / "bench-reports.db"
        path.parent.mkdir(exist_ok=True)
        if not reuse:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{path}{suffix}").unlink(missing_ok=True)
        return f"sqlite:///{path}"
    import psycopg

    base = pg_url.rsplit("/", 1)[0]
    if not reuse:
        admin = base.replace("postgresql+psycopg://", "postgresql://") + "/postgres"
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute('DROP DATABASE IF EXISTS "alliance_bench_reports" WITH (FORCE)')
            conn.execute('CREATE DATABASE "alliance_bench_reports"')
    return f"{base}/alliance_bench_reports"


def analyze(url: str) -> None:
    """PostgreSQL: the statistics autovacuum would have gathered after a while in
    production. SQLite: nothing (the application never runs ANALYZE there)."""
    if url.startswith("sqlite"):
        return
    import psycopg

    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


class Questions:
    """Random questions of each kind, drawn like the traffic: big programs and partners more
    often, but also the long tail."""

    def __init__(self, session: Any, rng: random.Random, today: date) -> None:
        from sqlalchemy import func, select

        from alliance.reports.models import TRAFFIC_GRAINS

        by_partner = next(g for g in TRAFFIC_GRAINS if g.name == "traffic_by_partner").table
        rows = session.execute(
            select(by_partner.c.program_id, by_partner.c.partner_id, func.sum(by_partner.c.clicks))
            .where(by_partner.c.span == 1)
            .group_by(by_partner.c.program_id, by_partner.c.partner_id)
        ).all()
        programs: dict[str, int] = defaultdict(int)
        partners: dict[str, int] = defaultdict(int)
        for program_id, partner_id, clicks in rows:
            programs[program_id] += int(clicks)
            partners[partner_id] += int(clicks)
        self.programs = list(programs)
        self.program_weights = [v**0.5 for v in programs.values()]
        self.partners = list(partners)
        self.partner_weights = [v**0.5 for v in partners.values()]
        self.rng = rng
        self.today = today

    def make(self, kind: str) -> Any:
        from alliance.reports import queries

        rng = self.rng
        end = self.today
        start = end - timedelta(days=reports_data.DAYS - 1)
        scope = queries.operator_scope()
        filters = queries.Filters()
        if kind == "last 7 days":
            start = end - timedelta(days=6)
        elif kind == "one program":
            program = rng.choices(self.programs, self.program_weights)[0]
            scope = queries.Scope((program,), None)
            start = end - timedelta(days=rng.choice((29, 59, 89)))
        elif kind == "one partner":
            partner = rng.choices(self.partners, self.partner_weights)[0]
            scope = queries.Scope(None, partner)
            start = end - timedelta(days=rng.choice((29, 59, 89)))
        elif kind == "country":
            filters = queries.Filters(country=rng.choice(("DE", "FR", "NL", "US", "SE")))
        elif kind == "device":
            filters = queries.Filters(device=rng.choice(("mobile", "desktop", "tablet")))
        return queries.ReportQuery(start, end, scope, filters)


def reports(
    currency: str | None = None,
) -> dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]]:
    """name -> (rollup path, raw reference or None). In one currency: no raw reference (it
    answers in the rows' own currencies), and the ROI reports too."""
    from alliance.reports import kpis, queries
    from alliance.reports.schemas import OrdersGroup, RefundsGroup, RoiGroup, TrafficGroup

    found: dict[str, tuple[Callable[..., Any], Callable[..., Any] | None]] = {}
    for group in (
        TrafficGroup.day,
        TrafficGroup.partner,
        TrafficGroup.program,
        TrafficGroup.country,
        TrafficGroup.device,
    ):
        found[f"traffic by {group.value}"] = (
            lambda s, q, g=group: queries.traffic_report(s, q, g),
            lambda s, q, g=group: queries.traffic_report_raw(s, q, g),
        )
    for og in (OrdersGroup.day, OrdersGroup.partner, OrdersGroup.program, OrdersGroup.status):
        found[f"orders by {og.value}"] = (
            lambda s, q, g=og: queries.orders_report(s, q, g),
            lambda s, q, g=og: queries.orders_report_raw(s, q, g),
        )
    found["refunds by day"] = (lambda s, q: queries.refunds_report(s, q, RefundsGroup.day), None)
    found["refunds by partner"] = (
        lambda s, q: queries.refunds_report(s, q, RefundsGroup.partner),
        None,
    )
    found["transactions, first page"] = (
        lambda s, q: queries.transactions_page(s, q, limit=100),
        None,
    )
    found["transactions, page 20"] = (lambda s, q: _later_page(s, q, 19), None)
    found["KPI summary"] = (kpis.kpi_summary, kpis.kpi_summary_raw)
    found["time series"] = (kpis.time_series, None)
    if currency is None:
        return found
    found = {name: (rollup, None) for name, (rollup, _) in found.items()}
    found["ROI by country"] = (lambda s, q: kpis.roi_report(s, q, RoiGroup.country), None)
    found["ROI by order currency"] = (lambda s, q: kpis.roi_report(s, q, RoiGroup.currency), None)
    return found


def in_currency(session: Any, q: Any, currency: str | None) -> Any:
    """The question in one currency, as the API asks it (the converter checks the code)."""
    if currency is None:
        return q
    from alliance.reports import convert

    return replace(q, fx=convert.converter(session, currency, q.start, q.end))


_CURSORS: dict[Any, str | None] = {}


def _later_page(session: Any, q: Any, pages: int) -> Any:
    """Page `pages + 1`: the cursor of the one before is fetched once per question (a user
    clicking "next" has it from the page they are on) and not timed again."""
    from alliance.reports import queries

    key = (q.start, q.end, q.scope, q.filters)
    if key not in _CURSORS:
        cursor = None
        for _ in range(pages):
            page = queries.transactions_page(session, q, cursor=cursor, limit=100)
            cursor = page.next_cursor
            if cursor is None:
                break
        _CURSORS[key] = cursor
    return queries.transactions_page(session, q, cursor=_CURSORS[key], limit=100)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered) + 0.5) - 1))]


def measure(
    url: str, runs: int, seed: int, console: Any, currency: str | None = None
) -> dict[str, dict[str, list[float]]]:
    from alliance.db.engine import reading

    rng = random.Random(seed)
    today = datetime.now(UTC).date()
    with reading(url) as session:
        questions = Questions(session, rng, today)
    timings: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    table = reports(currency)
    # As a server worker does once started (asgi.py): the objects loaded so far go out of
    # the collector's reach, so a full collection during a report scans only the report's
    # own objects, not every module's (one in ~3 reports otherwise paid ~60 ms for it).
    gc.collect()
    gc.freeze()
    for kind in KINDS:
        asked = [questions.make(kind) for _ in range(runs)]
        for name, (rollup, _) in table.items():
            if name.startswith("transactions, page"):
                with reading(url) as session:  # the cursors, outside the timings
                    for q in asked:
                        _later_page(session, q, 19)
            for q in asked:
                with reading(url) as session:
                    began = time.perf_counter()
                    rollup(session, in_currency(session, q, currency))
                    timings[name][kind].append((time.perf_counter() - began) * 1000)
        console.print(f"  asked: {kind}")
    return timings


def check(url: str, seed: int, console: Any) -> int:
    """Compare rollup answers with the raw reference on a sample; the number of differences."""
    from alliance.db.engine import reading

    rng = random.Random(seed + 1)
    today = datetime.now(UTC).date()
    with reading(url) as session:
        questions = Questions(session, rng, today)
    bad = 0
    for kind in KINDS:
        q = questions.make(kind)
        for name, (rollup, raw) in reports().items():
            if raw is None:
                continue
            if kind in ("whole period", "country", "device") and (
                kind != "whole period" or name not in ("traffic by day", "orders by day")
            ):
                continue  # a raw answer over 90 days network-wide takes minutes: once
            with reading(url) as session:
                began = time.perf_counter()
                expected = raw(session, q)
                seconds = time.perf_counter() - began
                got = rollup(session, q)
            if got != expected:
                bad += 1
                console.print(f"[red]MISMATCH[/] {name}, {kind}: {q}")
            else:
                console.print(f"  same as raw: {name}, {kind} (raw {seconds:.1f} s)")
    return bad


def live(url: str, console: Any) -> dict[str, float]:
    """A minute of a busy day: new clicks (written now) and order changes, read before the
    refresh (clicks after the watermark and changed buckets from the raw tables) and after."""
    from sqlalchemy import func, select, text, update

    from alliance.clock import utcnow
    from alliance.conversions.models import Conversion
    from alliance.db.engine import reading, transaction
    from alliance.ids import new_id
    from alliance.reports import queries, rollups
    from alliance.reports.schemas import OrdersGroup, TrafficGroup
    from alliance.tracking.models import Click

    figures: dict[str, float] = {}
    with reading(url) as session:
        recent = (
            session.execute(select(Click).order_by(Click.id.desc()).limit(2000)).scalars().all()
        )
        pending = session.scalars(
            select(Conversion.id).where(Conversion.status == "pending").limit(200)
        ).all()
    now = utcnow()
    rows = []
    for old in recent:
        rows.append(
            {c.name: getattr(old, c.key) for c in Click.__table__.columns}
            | {"id": new_id("clk"), "occurred_at": now}
        )
    with transaction(url) as session:
        session.execute(Click.__table__.insert(), rows)
        session.execute(
            update(Conversion)
            .where(Conversion.id.in_(pending))
            .values(status="completed", completed_at=now)
        )
    today = now.date()
    q = queries.ReportQuery(today - timedelta(days=89), today, queries.operator_scope())
    for label in ("before refresh", "after refresh"):
        with reading(url) as session:
            began = time.perf_counter()
            queries.traffic_report(session, q, TrafficGroup.partner)
            figures[f"traffic by partner, {label} (ms)"] = (time.perf_counter() - began) * 1000
            began = time.perf_counter()
            queries.orders_report(session, q, OrdersGroup.partner)
            figures[f"orders by partner, {label} (ms)"] = (time.perf_counter() - began) * 1000
        if label == "before refresh":
            began = time.perf_counter()
            summary = rollups.refresh(now=utcnow() + rollups.WATERMARK_LAG, url=url)
            figures["refresh: 2,000 clicks, 200 orders (s)"] = time.perf_counter() - began
            console.print(f"  refresh: {summary.as_result()}")
    with reading(url) as session:
        assert session.scalar(select(func.count()).select_from(text("report_changes"))) == 0
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--clicks", type=int, default=10_000_000)
    parser.add_argument("--orders", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=10, help="questions per kind and report")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--reuse", action="store_true", help="keep the network of the last run (no generation)"
    )
    parser.add_argument("--no-rebuild", action="store_true", help="keep its rollups too")
    parser.add_argument("--no-check", action="store_true", help="skip the raw comparison")
    parser.add_argument("--no-live", action="store_true", help="skip the live refresh")
    parser.add_argument("--currency", help="ask every question in this currency (EUR, USD, ...)")
    args = parser.parse_args()

    from rich.console import Console
    from rich.table import Table

    console = Console()
    url = fresh_database(args.db, args.pg_url, args.reuse)
    os.environ["ALLIANCE_DATABASE_URL"] = url
    from alliance.settings import get_settings

    get_settings.cache_clear()
    from alliance.db.engine import dispose_all
    from alliance.db.migrate import upgrade
    from alliance.reports import rollups

    figures: dict[str, str] = {}
    began = time.perf_counter()
    last = [0.0]

    def progress(step: str, done: int, total: int) -> None:
        if time.perf_counter() - last[0] > 15 or done == total:
            last[0] = time.perf_counter()
            console.print(f"  {step}: {done:,} / {total:,} ({last[0] - began:.0f} s)")

    if not args.reuse:
        upgrade(url)
        net = reports_data.generate(url, args.clicks, args.orders, args.seed, progress)
        figures["generation"] = (
            f"{time.perf_counter() - began:.0f} s ({net.clicks:,} clicks, {net.orders:,} "
            f"orders, {net.refunds:,} refunds, {net.ledger_entries:,} ledger entries)"
        )
        console.print(figures["generation"])
        analyze(url)
    if not (args.reuse and args.no_rebuild):
        began = time.perf_counter()
        summary = rollups.rebuild(url, progress=progress)
        figures["rebuild"] = (
            f"{summary.seconds:.0f} s ({summary.traffic_buckets:,} traffic and "
            f"{summary.orders_buckets:,} orders buckets)"
        )
        analyze(url)
        console.print(f"rebuild: {figures['rebuild']}")
    else:
        rollups.refresh(url=url, budget_seconds=float("inf"))
    timings = measure(url, args.runs, args.seed, console, args.currency)
    title = f"Reports on {args.db}: {args.runs} questions x {len(KINDS)} kinds"
    table = Table(title=title + (f", in {args.currency}" if args.currency else ""))
    for column in ("report", "p50 ms", "p95 ms", "max ms", "slowest kind (p95 ms)"):
        table.add_column(column, justify="left" if column == "report" else "right")
    failed = []
    for name, by_kind in timings.items():
        values = [v for vs in by_kind.values() for v in vs]
        worst = max(by_kind, key=lambda k: percentile(by_kind[k], 95))
        p95 = percentile(values, 95)
        if p95 >= TARGET_MS:
            failed.append(name)
        table.add_row(
            name,
            f"{statistics.median(values):.1f}",
            f"[{'red' if p95 >= TARGET_MS else 'green'}]{p95:.1f}[/]",
            f"{max(values):.1f}",
            f"{worst} ({percentile(by_kind[worst], 95):.1f})",
        )
    console.print(table)
    for name, value in figures.items():
        console.print(f"{name}: {value}")
    if not args.no_live:
        for name, value in live(url, console).items():
            console.print(f"live: {name}: {value:.1f}")
    bad = 0 if args.no_check else check(url, args.seed, console)
    dispose_all()
    console.print(
        f"target p95 < {TARGET_MS:.0f} ms: "
        + ("[green]met by every report[/]" if not failed else f"[red]missed by {failed}[/]")
    )
    if bad:
        console.print(f"[red]{bad} answers differ from the raw tables[/]")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
