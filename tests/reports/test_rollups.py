"""The rollups answer exactly what the raw tables answer.

A random network (seeded) of clicks over several days (partners, links, sub-ids with none,
countries with none, devices, bots, returning visitors) and orders in several currencies and
statuses (partial and full refunds, declines, overrides, commissions through their ledger),
then many random report questions, each asked of the rollups and of the raw reference
queries: the answers must be equal, field by field. Then the network moves on (new clicks,
some written late with an earlier time; orders completed, declined and refunded through the
services; new orders on old days) and the answers must still be equal: in real time (clicks
after the watermark, buckets logged as changed), after a refresh, and after a rebuild, which
must also leave the rollup tables as the refreshes did.

Other tests share the database: the questions are scoped to this network's programs, and
click ids are written in the past only where a rebuild of their days follows.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.conversions import service as conversions
from alliance.conversions.models import Conversion
from alliance.db.engine import reading, transaction
from alliance.programs.models import Program
from alliance.reports import cube, kpis, queries, rollups
from alliance.reports.models import ORDERS_FULL, ORDERS_GRAINS, TRAFFIC_FULL, TRAFFIC_GRAINS
from alliance.reports.schemas import OrdersGroup, RefundsGroup, TrafficGroup
from alliance.tracking.models import Click, Link

from .conftest import EVIL
from .factory import Factory, Op

SUBS = (None, None, "news", "promo", EVIL)
COUNTRIES = (None, "DE", "FR", "US")
DEVICES = ("desktop", "mobile", "tablet", "unknown")


@dataclass
class World:
    start: date
    end: date
    programs: list[Program]
    partners: list[str]
    links: list[Link]
    clicks: list[Click] = field(default_factory=list)
    orders: list[Conversion] = field(default_factory=list)
    visitors: dict[str, list[str]] = field(default_factory=dict)  # program -> visitor ids

    @property
    def program_ids(self) -> tuple[str, ...]:
        return tuple(p.id for p in self.programs)


def _at(day: date, rng: random.Random) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(
        seconds=rng.randrange(86_400), microseconds=rng.randrange(1_000_000)
    )


def _clicks(f: Factory, w: World, rng: random.Random, count: int, id_at: Any) -> None:
    span = (w.end - w.start).days + 1
    for _ in range(count):
        link = rng.choice(w.links)
        day = w.start + timedelta(days=rng.randrange(span))
        pool = w.visitors.setdefault(link.program_id, [])
        if pool and rng.random() < 0.5:
            visitor = rng.choice(pool)
        else:
            visitor = f"vis_{rng.getrandbits(40):010x}"
            pool.append(visitor)
        bot = rng.random() < 0.12
        w.clicks.append(
            f.click(
                link,
                _at(day, rng),
                visitor,
                bot=bot,
                sub1=rng.choice(SUBS),
                country=rng.choice(COUNTRIES),
                device=rng.choice(DEVICES),
                id_at=id_at(),
            )
        )


def _orders(f: Factory, session: Session, w: World, rng: random.Random, count: int) -> None:
    span = (w.end - w.start).days + 1
    session.flush()
    for _ in range(count):
        program = rng.choice(w.programs)
        clicks = [c for c in w.clicks if c.program_id == program.id and not c.is_bot]
        click = rng.choice(clicks) if clicks and rng.random() < 0.7 else None
        links = [link for link in w.links if link.program_id == program.id]
        partner_id = click.partner_id if click else rng.choice(links).partner_id
        partner = _Partner(partner_id)
        day = w.start + timedelta(days=rng.randrange(span))
        amount = Decimal(rng.randrange(0, 40_000)) / 100
        currency = program.currency if rng.random() < 0.8 else rng.choice(("EUR", "USD", "JPY"))
        if currency == "JPY":
            amount = amount.quantize(Decimal(1))
        kind = "lead" if rng.random() < 0.1 else "sale"
        order = f.conversion(
            program,  # type: ignore[arg-type]
            partner,  # type: ignore[arg-type]
            f"o-{rng.getrandbits(48):012x}",
            _at(day, rng),
            str(Decimal(0) if kind == "lead" else amount),
            kind=kind,
            currency=currency,
            click=click,
            buyer_country=rng.choice(COUNTRIES),
            customer=rng.choice((None, *(f"cus-{program.id[-4:]}-{i}" for i in range(12)))),
        )
        w.orders.append(order)
        fate = rng.random()
        when = order.occurred_at + timedelta(hours=rng.randrange(1, 72))
        ops: list[Op] = []
        if fate < 0.15:
            f.event(order, "declined", "declined", when)
            ops = [Op("decline")]
        elif fate < 0.7:
            f.event(order, "completed", "completed", when)
            ops = [Op("approve")] + ([Op("pay")] if rng.random() < 0.5 else [])
            if rng.random() < 0.3 and order.amount > 1:
                refunded = (order.amount / 3).quantize(Decimal("0.01"))
                f.event(order, "refund", "completed", when, refunded=str(refunded))
                ops.append(Op("refund", Decimal("0.50")))
            elif rng.random() < 0.15:
                f.event(order, "refund", "refunded", when, refunded=str(order.amount))
                ops.append(Op("reverse"))
        commission_currency = program.currency
        amount_text = str((order.net_amount / 10).quantize(Decimal("0.01")) + Decimal("0.01"))
        f.commission(order, amount_text, ops, currency=commission_currency)
        if rng.random() < 0.1:
            other = rng.choice([p for p in w.partners if p != partner_id] or [partner_id])
            f.commission(order, "0.70", [Op("approve")], earner=other)


@dataclass(frozen=True)
class _Partner:
    id: str


def build(seed: int, start: date, days: int, ids_back: timedelta) -> World:
    """Three programs, five partners, nine links; clicks and orders over `days` days, with
    click ids written `ids_back` ago (a rebuild of the days follows)."""
    rng = random.Random(seed)
    with transaction() as session:
        f = Factory(session)
        advertiser, _ = f.advertiser(f"Rollups {seed}")
        programs = [
            f.program(advertiser, f"R{seed}-{i}", currency)
            for i, currency in enumerate(("EUR", "USD", "EUR"))
        ]
        partners = [f.partner(f"R{seed} partner {i}")[0] for i in range(5)]
        links: list[Link] = []
        for program in programs:
            for partner in rng.sample(partners, 3):
                f.enroll(program, partner)
                links.append(f.link(program, partner, f"l{len(links)}"))
        w = World(
            start, start + timedelta(days=days - 1), programs, [p.id for p in partners], links
        )
        written = utcnow() - ids_back
        _clicks(f, w, rng, 260, lambda: written)
        _orders(f, session, w, rng, 45)
    return w


def questions(w: World, rng: random.Random, count: int) -> Iterator[queries.ReportQuery]:
    for _ in range(count):
        low = w.start + timedelta(days=rng.randrange(-2, 4))
        high = max(low, w.end - timedelta(days=rng.randrange(-2, 4)))
        programs = tuple(sorted(rng.sample(w.program_ids, rng.randrange(1, 4))))
        partner = rng.choice((None, None, *w.partners))
        filters = queries.Filters(
            sub1=rng.choice((None, None, None, "news", EVIL)),
            country=rng.choice((None, None, None, "DE", "US")),
            device=rng.choice((None, None, None, "mobile", "tablet")),
        )
        scope = queries.Scope(programs, partner)
        yield queries.ReportQuery(low, high, scope, filters)


def assert_rollups_equal_raw(w: World, seed: int, count: int = 40) -> None:
    rng = random.Random(seed)
    refunded = 0
    with reading() as session:
        for q in questions(w, rng, count):
            traffic = rng.choice(list(TrafficGroup))
            assert queries.traffic_report(session, q, traffic) == queries.traffic_report_raw(
                session, q, traffic
            ), (q, traffic)
            orders = rng.choice(list(OrdersGroup))
            assert queries.orders_report(session, q, orders) == queries.orders_report_raw(
                session, q, orders
            ), (q, orders)
            refunds = rng.choice(list(RefundsGroup))
            answer = queries.refunds_report(session, q, refunds)
            assert answer == queries.refunds_report_raw(session, q, refunds), (q, refunds)
            refunded += sum(t.refunds for t in answer.totals)
        retained = customers = 0
        for q in questions(w, rng, 8):
            summary = kpis.kpi_summary(session, q)
            assert summary == kpis.kpi_summary_raw(session, q), q
            retained += summary.retained_partners
            customers += sum(c.new_customers for c in summary.currencies)
            series = kpis.time_series(session, q)
            assert [p.clicks for p in series.points] == [
                (
                    queries.traffic_counts_raw(session, q, TrafficGroup.day).get(p.day.isoformat())
                    or [0]
                )[0]
                for p in series.points
            ]
        # The refunds, retention and lifetime-value paths were exercised, not only empty
        # answers.
        assert refunded > 0 and retained > 0 and customers > 0


def refresh_now() -> rollups.RefreshSummary:
    # The watermark may go up to now (never later: clicks written later must stay above it);
    # the tests write nothing at the same time.
    return rollups.refresh(now=utcnow() + rollups.WATERMARK_LAG)


def snapshot(w: World) -> dict[str, set[tuple[Any, ...]]]:
    """Every non-empty rollup row of the world's programs, per table."""
    found: dict[str, set[tuple[Any, ...]]] = {}
    with reading() as session:
        for grain in (TRAFFIC_FULL, *TRAFFIC_GRAINS, ORDERS_FULL, *ORDERS_GRAINS):
            t = grain.table
            mine = (
                t.c.program_id.in_(w.program_ids)
                if "program_id" in grain.dims
                else t.c.partner_id.in_(w.partners)  # network-wide grains: this world's
            )
            rows = session.execute(
                select(
                    t.c.day,
                    t.c.span,
                    *(t.c[d] for d in grain.dims),
                    *(t.c[m] for m in grain.measures),
                ).where(mine)
            )
            width = 2 + len(grain.dims)
            found[grain.name] = {tuple(r) for r in rows if any(r[width:])}
    return found


def test_rollups_answer_what_the_raw_tables_answer(db_url: str) -> None:
    w = build(11, date(2025, 6, 2), 5, ids_back=timedelta(hours=1))
    refresh_now()
    rollups.rebuild(start=w.start, end=w.end)
    with reading() as session:
        # Nothing of this network is left to the raw tables: it is all in the rollups.
        assert not cube.stale_buckets(session, w.start, w.end, w.program_ids)
        state = rollups.traffic_state(session)
        assert state is not None and all(c.id < state.watermark for c in w.clicks)
    assert_rollups_equal_raw(w, 1)


def test_changes_are_exact_in_real_time_after_a_refresh_and_after_a_rebuild(
    db_url: str,
) -> None:
    w = build(23, date(2025, 7, 7), 6, ids_back=timedelta(hours=1))
    refresh_now()
    rollups.rebuild(start=w.start, end=w.end)
    rng = random.Random(5)
    with transaction() as session:
        f = Factory(session)
        # New clicks written now (after the watermark), some with an earlier time than the
        # visitor's clicks already counted that day: they take the uniqueness over.
        _clicks(f, w, rng, 60, lambda: None)
        for old in rng.sample(w.clicks[:260], 15):
            link = next(link for link in w.links if link.id == old.link_id)
            early = old.occurred_at.replace(hour=0, minute=0, second=0)
            w.clicks.append(f.click(link, early, old.visitor_id, sub1="late"))
        session.flush()
        # Orders move through the services; new orders arrive on old days.
        for order in rng.sample(w.orders, 20):
            current = session.get(Conversion, order.id)
            program = session.get(Program, order.program_id)
            assert current is not None and program is not None
            now = utcnow()
            try:
                if current.status == "pending":
                    if rng.random() < 0.5:
                        conversions.complete_conversion(session, program, current, None, now)
                    else:
                        conversions.decline_conversion(session, current, "test", None, now)
                elif current.status == "completed" and current.amount > 1:
                    cumulative = current.amount if rng.random() < 0.5 else current.amount / 2
                    conversions.refund_conversion(session, current, cumulative, None, now)
            except conversions.Rejected:
                pass
        _orders(f, session, w, rng, 10)
    with reading() as session:
        assert cube.stale_buckets(session, w.start, w.end, w.program_ids)
    assert_rollups_equal_raw(w, 2)  # clicks after the watermark, stale buckets: raw parts

    summary = refresh_now()
    assert summary.orders_buckets > 0
    with reading() as session:
        assert not cube.stale_buckets(session, w.start, w.end, w.program_ids)
    assert_rollups_equal_raw(w, 3)

    refreshed = snapshot(w)
    rollups.rebuild(start=w.start - timedelta(days=1), end=w.end + timedelta(days=1))
    assert snapshot(w) == refreshed
    assert_rollups_equal_raw(w, 4)


def test_many_new_clicks_are_recounted_in_sql(db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    w = build(37, date(2025, 8, 4), 4, ids_back=timedelta(0))
    with transaction() as session:
        _clicks(Factory(session), w, random.Random(9), 40, lambda: None)
    # More new clicks than the one-by-one limit: their days are recounted with SQL windows.
    monkeypatch.setattr(rollups, "INCREMENTAL_CLICKS", 10)
    summary = refresh_now()
    assert summary.traffic_buckets > 0
    with reading() as session:
        state = rollups.traffic_state(session)
        assert state is not None and all(c.id < state.watermark for c in w.clicks)
    assert_rollups_equal_raw(w, 5, count=20)


def test_blocks_cover_a_period_exactly() -> None:
    rng = random.Random(3)
    for _ in range(300):
        start = date(2024, 1, 1) + timedelta(days=rng.randrange(800))
        end = start + timedelta(days=rng.randrange(400))
        found = rollups.blocks(start, end)
        covered = [b + timedelta(days=i) for span, b in found for i in range(span)]
        assert covered == [start + timedelta(days=i) for i in range((end - start).days + 1)]
        assert all(rollups.block_of(b, span) == b for span, b in found)
        assert len(found) <= 20


def test_click_ids_and_the_watermark() -> None:
    at = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=UTC)
    floor = rollups.id_floor("clk", at)
    from alliance.ids import new_id

    assert new_id("clk", at) >= floor > new_id("clk", at - timedelta(milliseconds=1))
    assert rollups.id_time(floor) == at


def test_bucket_parts_stay_within_sqlites_expression_depth(db_url: str) -> None:
    """Changes over 600 days of one program each: every part has at most MAX_DAYS_PER_PART
    days (one OR term each; SQLite refuses an OR 1,000 deep), and SQLite runs the largest."""
    from datetime import date, timedelta

    from sqlalchemy import select

    from alliance.db.engine import reading
    from alliance.reports.models import ORDERS_FULL

    first = date(2020, 1, 1)
    buckets = {first + timedelta(days=i): [f"prg_{i:026d}"] for i in range(600)}
    parts = list(rollups.bucket_parts(buckets))
    assert [len(p) for p in parts] == [250, 250, 100]
    assert {day for part in parts for day in part} == set(buckets)
    with reading() as session:
        table = ORDERS_FULL.table
        assert (
            session.execute(select(table.c.day).where(rollups.bucket_rows(table, parts[0]))).all()
            == []
        )
