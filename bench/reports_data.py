"""The report benchmark's network: programs, partners, links, clicks, orders and their money.

Written straight through the database driver (executemany in large transactions on SQLite,
COPY on PostgreSQL), as an import would, with the shapes of a real network: traffic skewed
towards a few large partners (coupon and cashback sites) and programs, weekly and daily
rhythms, repeat clicks by the same visitor, bots, sub-ids used by some partners only, buyers
who come back, orders completed, declined and refunded weeks later, commissions approved after
the lock period and paid after that, each with the ledger entries the commission service
writes. The random generator is seeded: the same arguments give the same network shape.
"""

from __future__ import annotations

import bisect
import itertools
import random
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.ids import new_id  # noqa: E402

DAYS = 90
PROGRAMS = 30
ADVERTISERS = 12
PARTNERS = 1500
BOT_SHARE = 0.07
RETURNING_SHARE = 0.25  # a visitor who clicked a link of the same program before
DOUBLE_CLICK_SHARE = 0.08  # the same visitor again on the same link within minutes
COUPON_ONLY_SHARE = 0.04  # orders found by a coupon code, with no click
OTHER_CURRENCY_SHARE = 0.03  # orders paid in a currency that is not the program's
RETURNING_CUSTOMER_SHARE = 0.3
LOCK_DAYS = 30
PAY_AFTER_DAYS = 60
COMMISSION_RATE = Decimal("0.08")
HOURLY = (1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 9, 8, 7, 7, 8, 9, 11, 12, 11, 8, 5, 2)
WEEKDAY = (1.0, 1.0, 0.97, 0.95, 0.9, 1.12, 1.18)
COUNTRIES = (
    "DE",
    "FR",
    "NL",
    "GB",
    "US",
    "ES",
    "IT",
    "PL",
    "SE",
    "AT",
    "BE",
    "CH",
    "DK",
    "FI",
    "NO",
    "IE",
    "PT",
    "CZ",
    "HU",
    "RO",
    "GR",
    "CA",
    "AU",
    "JP",
    "BR",
)
DEVICES = (("desktop", 40), ("mobile", 50), ("tablet", 6), ("unknown", 4))
USER_AGENTS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/18.1 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36",
)
BOT_AGENT = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)"
CLICK_COLUMNS = (
    "id",
    "occurred_at",
    "link_id",
    "program_id",
    "partner_id",
    "visitor_id",
    "sub1",
    "sub2",
    "sub3",
    "sub4",
    "sub5",
    "landing_url",
    "country",
    "device",
    "user_agent",
    "referrer",
    "ip_hash",
    "is_bot",
)
CENT = Decimal("0.01")


def zipf(n: int, s: float) -> list[float]:
    return [1 / (i + 1) ** s for i in range(n)]


def fmt(at: datetime) -> str:
    """UTC text as the models store it on SQLite ('YYYY-MM-DD HH:MM:SS.ffffff')."""
    return at.replace(tzinfo=None).isoformat(" ", "microseconds")


@dataclass
class Program:
    id: str
    advertiser_id: str
    name: str
    currency: str
    home: str  # the country most of its visitors come from
    conversion: float  # relative conversion rate
    visitors: list[str] = field(default_factory=list)  # recent visitors (returning clicks)
    customers: list[str] = field(default_factory=list)


@dataclass
class Enrollment:
    program: Program
    partner_id: str
    links: list[str]
    subs: list[str]  # the sub1 values this partner uses (empty: none)
    referrer: str


@dataclass
class Sale:
    """A converting click (or a coupon order) waiting to become an order."""

    at: datetime
    program: Program
    partner_id: str
    click_id: str | None
    country: str | None


@dataclass
class Network:
    programs: list[Program]
    partners: list[str]
    enrollments: list[Enrollment]
    start: datetime
    now: datetime
    clicks: int = 0
    orders: int = 0
    refunds: int = 0
    ledger_entries: int = 0


# --- the sink: where rows go ----------------------------------------------------------------


class Sink:
    """Rows per table, written in large batches by the engine's fastest path."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.sqlite = url.startswith("sqlite")
        if self.sqlite:
            import sqlite3

            self.conn: Any = sqlite3.connect(url.split("///", 1)[1], isolation_level=None)
            self.conn.execute("PRAGMA journal_mode=WAL")
            self.conn.execute("PRAGMA synchronous=OFF")
            self.conn.execute("PRAGMA cache_size=-400000")
            self.conn.execute("BEGIN")
        else:
            import psycopg

            self.conn = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))

    def write(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.sqlite:
            if table != "clicks":  # amounts are exact text on SQLite (db.base.Amount)
                rows = [tuple(str(v) if isinstance(v, Decimal) else v for v in r) for r in rows]
            marks = ",".join("?" * len(columns))
            self.conn.executemany(
                f"INSERT INTO {table} ({','.join(columns)}) VALUES ({marks})",
                rows,
            )
            return
        with (
            self.conn.cursor() as cur,
            cur.copy(f"COPY {table} ({','.join(columns)}) FROM STDIN") as copy,
        ):
            copy.write("".join(_copy_line(row) for row in rows))

    def commit(self) -> None:
        if self.sqlite:
            self.conn.execute("COMMIT")
            self.conn.execute("BEGIN")
        else:
            self.conn.commit()

    def close(self) -> None:
        self.commit()
        if self.sqlite:
            self.conn.execute("COMMIT")
        self.conn.close()


def _copy_value(value: Any) -> str:
    if value is None:
        return "\\N"
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, datetime):
        return value.isoformat(" ", "microseconds")
    text = str(value)
    if "\\" in text or "\t" in text or "\n" in text:
        text = text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
    return text


def _copy_line(row: tuple[Any, ...]) -> str:
    return "\t".join(map(_copy_value, row)) + "\n"


# --- the network ----------------------------------------------------------------------------


def build_network(sink: Sink, rng: random.Random, now: datetime) -> Network:
    start = (now - timedelta(days=DAYS - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    created = fmt(start - timedelta(days=30)) if sink.sqlite else start - timedelta(days=30)
    advertisers = [new_id("adv") for _ in range(ADVERTISERS)]
    sink.write(
        "advertisers",
        ("id", "name", "country", "currency", "service_level", "created_at"),
        [
            (a, f"Store {i + 1}", rng.choice(COUNTRIES[:6]), "EUR", "self_service", created)
            for i, a in enumerate(advertisers)
        ],
    )
    currencies = ["EUR"] * 18 + ["USD"] * 8 + ["GBP"] * 4
    programs = [
        Program(
            new_id("prg"),
            advertisers[i % ADVERTISERS],
            f"Program {i + 1}",
            currencies[i % len(currencies)],
            COUNTRIES[i % 8],
            rng.uniform(0.5, 1.5),
        )
        for i in range(PROGRAMS)
    ]
    sink.write(
        "programs",
        (
            "id",
            "advertiser_id",
            "name",
            "currency",
            "landing_url",
            "cookie_window_days",
            "lock_period_days",
            "allowed_countries",
            "deeplink_domains",
            "store_wide",
            "attribution_priority",
            "postback_token",
            "description",
            "category",
            "status",
            "created_at",
        ),
        [
            (
                p.id,
                p.advertiser_id,
                p.name,
                p.currency,
                f"https://shop{i}.example/",
                30,
                LOCK_DAYS,
                "[]",
                "[]",
                True,
                "coupon",
                "t" * 32,
                "",
                "",
                "active",
                created,
            )
            for i, p in enumerate(programs)
        ],
    )
    partners = [new_id("ptn") for _ in range(PARTNERS)]
    types = ("deals", "content", "influencer", "finance", "technology")
    sink.write(
        "partners",
        (
            "id",
            "name",
            "type",
            "country",
            "payout_currency",
            "categories",
            "audience",
            "created_at",
        ),
        [
            (p, f"Partner {i + 1}", types[i % 5], COUNTRIES[i % 10], "EUR", "[]", "", created)
            for i, p in enumerate(partners)
        ],
    )
    program_weights = zipf(PROGRAMS, 0.8)
    enrollments: list[Enrollment] = []
    for rank, partner in enumerate(partners):
        # Large partners promote many programs; the long tail one to three.
        count = min(PROGRAMS, max(1, int(40 / (rank + 1) ** 0.5)) + rng.randrange(3))
        chosen: set[int] = set()
        while len(chosen) < count:
            chosen.add(rng.choices(range(PROGRAMS), program_weights)[0])
        style = rng.random()
        subs: list[str] = []
        if style > 0.5:  # half the partners never use sub1
            many = style > 0.85
            count_subs = rng.randrange(20, 200) if many else 1 + rng.randrange(8)
            subs = [f"s{rank}-{j}" for j in range(count_subs)]
        for index in sorted(chosen):
            n_links = 1 if rng.random() < 0.8 else 2 + rng.randrange(3)
            links = [new_id("lnk") for _ in range(n_links)]
            enrollments.append(
                Enrollment(programs[index], partner, links, subs, f"https://p{rank}.example/")
            )
    sink.write(
        "enrollments",
        ("id", "program_id", "partner_id", "status", "message", "created_at"),
        [(new_id("enr"), e.program.id, e.partner_id, "approved", "", created) for e in enrollments],
    )
    sink.write(
        "links",
        (
            "id",
            "code",
            "program_id",
            "partner_id",
            "country_urls",
            "default_subs",
            "label",
            "created_at",
        ),
        [
            (link, f"c{n:07d}", e.program.id, e.partner_id, "{}", "{}", "", created)
            for n, (e, link) in enumerate((e, link) for e in enrollments for link in e.links)
        ],
    )
    sink.commit()
    return Network(programs, partners, enrollments, start, now)


# --- clicks ---------------------------------------------------------------------------------


def write_clicks(
    sink: Sink,
    net: Network,
    total: int,
    orders: int,
    rng: random.Random,
    progress: Callable[[int, int], None],
) -> list[Sale]:
    """`total` clicks over the period; returns the clicks that convert (about `orders`)."""
    partner_rank = {p: i for i, p in enumerate(net.partners)}
    program_rank = {p.id: i for i, p in enumerate(net.programs)}
    weights = [
        (1 / (partner_rank[e.partner_id] + 1) ** 1.05)
        * (1 / (program_rank[e.program.id] + 1) ** 0.6)
        for e in net.enrollments
    ]
    cumulative = list(itertools.accumulate(weights))
    days = DAYS
    day_weights = [
        WEEKDAY[(net.start + timedelta(days=d)).weekday()] * (0.8 + 0.4 * d / days)
        for d in range(days)
    ]
    scale = total / sum(day_weights)
    hours = list(itertools.accumulate(HOURLY))
    devices = list(itertools.accumulate(w for _, w in DEVICES))
    foreign = list(itertools.accumulate(zipf(len(COUNTRIES), 1.0)))
    valid_share = 1 - BOT_SHARE
    convert = orders * (1 - COUPON_ONLY_SHARE) / (total * valid_share)
    sales: list[Sale] = []
    written = 0
    for d in range(days):
        day = net.start + timedelta(days=d)
        count = total - written if d == days - 1 else round(day_weights[d] * scale)
        picks = rng.choices(net.enrollments, cum_weights=cumulative, k=count)
        stamps = sorted(
            day
            + timedelta(
                hours=bisect.bisect(hours, rng.random() * hours[-1]),
                seconds=rng.random() * 3600,
            )
            for _ in range(count)
        )
        rows: list[tuple[Any, ...]] = []
        last: tuple[Enrollment, str, str, str | None, str] | None = None
        for at, e in zip(stamps, picks, strict=True):
            if at >= net.now:
                at = net.now - timedelta(seconds=rng.random() * 600)
            program = e.program
            bot = rng.random() < BOT_SHARE
            if last is not None and not bot and rng.random() < DOUBLE_CLICK_SHARE:
                e, link, visitor, country, device = last  # the same visitor clicks again
                program = e.program
            else:
                link = e.links[0] if len(e.links) == 1 else rng.choice(e.links)
                if bot:
                    visitor, country, device = new_id("vis", at), "US", "bot"
                else:
                    if program.visitors and rng.random() < RETURNING_SHARE:
                        visitor = rng.choice(program.visitors)
                    else:
                        visitor = new_id("vis", at)
                        if len(program.visitors) < 20_000:
                            program.visitors.append(visitor)
                        else:
                            program.visitors[rng.randrange(20_000)] = visitor
                    country = (
                        program.home
                        if rng.random() < 0.6
                        else COUNTRIES[bisect.bisect(foreign, rng.random() * foreign[-1])]
                    )
                    device = DEVICES[bisect.bisect(devices, rng.random() * devices[-1])][0]
                    if rng.random() < 0.01:
                        country = None  # an address no geo database knows
            sub1 = rng.choice(e.subs) if e.subs and rng.random() < 0.7 else None
            click_id = new_id("clk", at)
            agent = BOT_AGENT if bot else USER_AGENTS[0 if device == "desktop" else 1]
            rows.append(
                (
                    click_id,
                    fmt(at) if sink.sqlite else at,
                    link,
                    program.id,
                    e.partner_id,
                    visitor,
                    sub1,
                    None,
                    None,
                    None,
                    None,
                    f"https://shop.example/?alclid={click_id}",
                    country,
                    device,
                    agent,
                    e.referrer,
                    f"{rng.getrandbits(128):032x}",
                    bot,
                )
            )
            if not bot:
                last = (e, link, visitor, country, device)
                if rng.random() < convert * program.conversion:
                    sales.append(Sale(at, program, e.partner_id, click_id, country))
        sink.write("clicks", CLICK_COLUMNS, rows)
        sink.commit()
        written += count
        progress(written, total)
    net.clicks = written
    return sales


# --- orders and their money -----------------------------------------------------------------


def _money(value: float) -> Decimal:
    return Decimal(str(value)).quantize(CENT, ROUND_HALF_EVEN)


class Batch:
    """Rows of the order tables, flushed every `size` orders."""

    def __init__(self, sink: Sink) -> None:
        self.sink = sink
        self.tables: dict[str, list[tuple[Any, ...]]] = {
            "conversions": [],
            "conversion_events": [],
            "commissions": [],
            "ledger_entries": [],
        }

    def flush(self) -> None:
        for table, rows in self.tables.items():
            self.sink.write(table, COLUMNS[table], rows)
            rows.clear()
        self.sink.commit()


COLUMNS = {
    "conversions": (
        "id",
        "program_id",
        "partner_id",
        "order_id",
        "kind",
        "status",
        "currency",
        "amount",
        "net_amount",
        "tax_amount",
        "shipping_amount",
        "refunded_amount",
        "items",
        "click_id",
        "coupon",
        "customer_id",
        "new_customer",
        "buyer_country",
        "attributed_by",
        "click_path",
        "occurred_at",
        "completed_at",
        "decline_reason",
        "created_at",
    ),
    "conversion_events": (
        "id",
        "conversion_id",
        "kind",
        "status",
        "refunded_amount",
        "note",
        "occurred_at",
    ),
    "commissions": (
        "id",
        "source_key",
        "kind",
        "conversion_id",
        "program_id",
        "partner_id",
        "status",
        "currency",
        "amount",
        "rule",
        "arithmetic",
        "occurred_at",
        "approvable_at",
        "approved_at",
        "created_at",
    ),
    "ledger_entries": (
        "id",
        "commission_id",
        "program_id",
        "partner_id",
        "currency",
        "bucket",
        "entry_type",
        "amount",
        "idempotency_key",
        "reason",
        "created_at",
    ),
}


def write_orders(
    sink: Sink,
    net: Network,
    sales: list[Sale],
    total: int,
    rng: random.Random,
    progress: Callable[[int, int], None],
) -> None:
    """`total` orders: the converting clicks (trimmed or topped up with coupon orders)."""
    rng.shuffle(sales)
    sales = sales[:total]
    period = (net.now - net.start).total_seconds()
    by_partner = list(net.enrollments)
    while len(sales) < total:
        e = rng.choice(by_partner)
        at = net.start + timedelta(seconds=rng.random() * period)
        sales.append(Sale(at, e.program, e.partner_id, None, e.program.home))
    sales.sort(key=lambda s: s.at)
    batch = Batch(sink)
    t = (lambda at: fmt(at)) if sink.sqlite else (lambda at: at)
    for n, sale in enumerate(sales):
        _order(batch, net, sale, n, rng, t)
        if (n + 1) % 20_000 == 0 or n + 1 == len(sales):
            batch.flush()
            progress(n + 1, len(sales))
    net.orders = len(sales)


def _fate(roll: float) -> str:
    """What happens to an order the advertiser has decided on."""
    if roll < 0.86:
        return "completed"
    if roll < 0.91:
        return "declined"
    return "partial" if roll < 0.96 else "full"


def _order(
    batch: Batch, net: Network, sale: Sale, n: int, rng: random.Random, t: Callable[[datetime], Any]
) -> None:
    program = sale.program
    at = min(sale.at + timedelta(hours=rng.expovariate(1 / 6)), net.now - timedelta(seconds=1))
    currency = program.currency
    rate = Decimal(1)
    if rng.random() < OTHER_CURRENCY_SHARE:
        currency = "USD" if program.currency != "USD" else "EUR"
        rate = Decimal("0.92") if currency == "USD" else Decimal("1.08")
    amount = _money(rng.lognormvariate(4.2, 0.7))
    net_amount = (amount / Decimal("1.19")).quantize(CENT)
    if program.customers and rng.random() < RETURNING_CUSTOMER_SHARE:
        customer, new = rng.choice(program.customers), False
    else:
        customer, new = f"cus-{n}", True
        program.customers.append(customer)
    age = (net.now - at).days
    roll = rng.random()
    if age > 45:
        fate = _fate(roll)
    elif roll > min(1.0, age / 30):
        fate = "pending"
    else:
        fate = _fate(rng.random())
    conversion_id = new_id("cnv", at)
    completed_at = (
        min(at + timedelta(days=rng.uniform(1, 20)), net.now - timedelta(seconds=1))
        if fate in ("completed", "partial", "full")
        else None
    )
    refund_at = (
        min(completed_at + timedelta(days=rng.uniform(1, 25)), net.now - timedelta(seconds=1))
        if completed_at is not None and fate in ("partial", "full")
        else None
    )
    refunded = Decimal(0)
    if fate == "partial":
        refunded = (amount * Decimal(str(round(rng.uniform(0.1, 0.6), 2)))).quantize(CENT)
    elif fate == "full":
        refunded = amount
    status = {
        "pending": "pending",
        "completed": "completed",
        "partial": "completed",
        "declined": "declined",
        "full": "refunded",
    }[fate]
    decline_at = at + timedelta(days=rng.uniform(1, 10)) if fate == "declined" else None
    if decline_at is not None:
        decline_at = min(decline_at, net.now - timedelta(seconds=1))
    batch.tables["conversions"].append(
        (
            conversion_id,
            program.id,
            sale.partner_id,
            f"o-{n}",
            "sale",
            status,
            currency,
            amount,
            net_amount,
            amount - net_amount,
            Decimal(0),
            refunded,
            "[]",
            sale.click_id,
            None if sale.click_id else f"CODE{n % 97}",
            customer,
            new,
            sale.country if rng.random() < 0.95 else None,
            "click_id" if sale.click_id else "coupon",
            "[]",
            t(at),
            None if completed_at is None else t(completed_at),
            "test order" if fate == "declined" else None,
            t(at),
        )
    )
    events = batch.tables["conversion_events"]
    events.append((new_id("cve", at), conversion_id, "created", "pending", None, None, t(at)))
    if completed_at is not None:
        events.append(
            (
                new_id("cve", completed_at),
                conversion_id,
                "completed",
                "completed",
                None,
                None,
                t(completed_at),
            )
        )
    if decline_at is not None:
        events.append(
            (
                new_id("cve", decline_at),
                conversion_id,
                "declined",
                "declined",
                None,
                "test order",
                t(decline_at),
            )
        )
    if refund_at is not None:
        events.append(
            (
                new_id("cve", refund_at),
                conversion_id,
                "refund",
                status,
                refunded,
                None,
                t(refund_at),
            )
        )
        net.refunds += 1
    # The commission, in the program currency, and its ledger.
    com_amount = (net_amount * rate * COMMISSION_RATE).quantize(CENT)
    commission_id = new_id("com", at)
    entries: list[tuple[str, str, Decimal, datetime]] = [("pending", "accrual", com_amount, at)]
    com_status = "pending"
    approvable = completed_at + timedelta(days=LOCK_DAYS) if completed_at is not None else None
    approved_at = None
    paid = False
    if fate == "declined" and decline_at is not None:
        entries.append(("pending", "decline", -com_amount, decline_at))
        com_status = "declined"
    refund_later = refund_at is None or refund_at > approvable if approvable else False
    if approvable is not None and approvable <= net.now and (refund_later or fate == "partial"):
        approved_at = approvable
        if fate == "partial" and refund_at is not None and refund_at <= approvable:
            reduced = (com_amount * refunded / amount).quantize(CENT)
            entries.append(("pending", "reduction", -reduced, refund_at))
            left = com_amount - reduced
        else:
            left = com_amount
        entries += [
            ("pending", "approval", -left, approvable),
            ("approved", "approval", left, approvable),
        ]
        com_status = "approved"
        pay_at = completed_at + timedelta(days=PAY_AFTER_DAYS) if completed_at else None
        unpaid_refund = (
            refund_at is not None and approvable < refund_at <= pay_at if pay_at else True
        )
        if pay_at is not None and pay_at <= net.now and not unpaid_refund:
            entries += [("approved", "payment", -left, pay_at), ("paid", "payment", left, pay_at)]
            com_status, paid = "paid", True
        if refund_at is not None and refund_at > approvable:
            value = left
            if fate == "full":
                kind = "adjustment" if paid else "reversal"
                entries.append(("approved", kind, -value, refund_at))
                com_status = "reversed"
            else:
                reduced = (com_amount * refunded / amount).quantize(CENT)
                kind = "adjustment" if paid else "reduction"
                entries.append(("approved", kind, -reduced, refund_at))
    elif refund_at is not None:
        if fate == "full":
            entries.append(("pending", "reversal", -com_amount, refund_at))
            com_status = "reversed"
        else:
            reduced = (com_amount * refunded / amount).quantize(CENT)
            entries.append(("pending", "reduction", -reduced, refund_at))
    batch.tables["commissions"].append(
        (
            commission_id,
            conversion_id,
            "sale",
            conversion_id,
            program.id,
            sale.partner_id,
            com_status,
            program.currency,
            com_amount,
            '{"type": "cps", "percent": "8"}',
            f"8% of {net_amount} {currency} = {com_amount} {program.currency}",
            t(at),
            None if approvable is None else t(approvable),
            None if approved_at is None else t(approved_at),
            t(at),
        )
    )
    ledger = batch.tables["ledger_entries"]
    for i, (bucket, kind, value, when) in enumerate(entries):
        ledger.append(
            (
                new_id("led", when),
                commission_id,
                program.id,
                sale.partner_id,
                program.currency,
                bucket,
                kind,
                value,
                f"{commission_id}:{i}",
                "",
                t(when),
            )
        )
    net.ledger_entries += len(entries)


def generate(
    url: str,
    clicks: int,
    orders: int,
    seed: int,
    progress: Callable[[str, int, int], None],
    now: datetime | None = None,
) -> Network:
    rng = random.Random(seed)
    now = now or datetime.now(UTC)
    sink = Sink(url)
    try:
        net = build_network(sink, rng, now)
        sales = write_clicks(sink, net, clicks, orders, rng, lambda d, t: progress("clicks", d, t))
        write_orders(sink, net, sales, orders, rng, lambda d, t: progress("orders", d, t))
    finally:
        sink.close()
    return net


def iter_chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
