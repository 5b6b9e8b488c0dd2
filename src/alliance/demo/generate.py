"""`alliance demo`: a realistic network with eight weeks of history.

Everything goes through the same services the API and the postback use (accounts, programs,
links, coupons, conversion ingestion, the ledger), so the demo shows the real arithmetic.
Clicks are written in bulk, as the click writer would have written them, with the same
visitor classification and IP hashing. The random generator is seeded: two runs build the
same network shape (ids and keys differ).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from alliance.accounts.models import AccountKind, Advertiser
from alliance.accounts.service import create_advertiser, create_operator, create_partner
from alliance.commissions import service as ledger
from alliance.conversions.postback import ConversionInput, LineInput
from alliance.conversions.service import record
from alliance.crosspromo.variants import choose_variant
from alliance.db.engine import reading, transaction
from alliance.demo import crosspromo, outbound, payees, stores
from alliance.demo.catalog import add_catalog
from alliance.demo.people import DemoAccount, DemoUser, add_people, invite_colleagues
from alliance.ids import PREFIXES, new_id
from alliance.mail.models import OutgoingMail
from alliance.money import round_money
from alliance.programs.models import EnrollmentStatus, Program
from alliance.programs.schemas import ProgramCreate
from alliance.programs.service import (
    apply_to_program,
    create_coupon,
    create_program,
    decide_enrollment,
)
from alliance.reports import rollups
from alliance.settings import get_settings
from alliance.tracking.link_cache import load_link
from alliance.tracking.models import Click, InvalidReason, Link
from alliance.tracking.service import create_link
from alliance.tracking.visitor import classify_user_agent, country_not_allowed, hash_ip

from .network import (
    ADVERTISERS,
    BOT_USER_AGENTS,
    PARTNERS,
    USER_AGENTS,
    VISITOR_COUNTRIES,
    DemoPartner,
    DemoProgram,
)

# Share of clicks from crawlers and scripts; they are stored and flagged, never counted.
BOT_SHARE = 0.06
# Share of clicks by a visitor who already clicked a link of the same program.
RETURNING_SHARE = 0.22
# Share of converting visitors who, before buying, also clicked another partner's link:
# the later click wins (last click wins) and the transaction report shows the path.
CROSS_PARTNER_SHARE = 0.08
# Relative traffic by hour of day (UTC-ish for Europe): quiet nights, lunch and evening peaks.
HOURLY = (1, 1, 1, 1, 1, 2, 3, 5, 6, 7, 7, 8, 9, 8, 7, 7, 8, 9, 11, 12, 11, 8, 5, 2)
WEEKDAY = (1.0, 1.0, 0.97, 0.95, 0.9, 1.12, 1.18)  # Monday .. Sunday
REFERRERS = {
    "content": "https://{host}/reviews/best-of-2026",
    "influencer": "https://www.instagram.com/",
    "deals": "https://{host}/codes",
    "technology": "",
    "finance": "https://{host}/compare",
}


@dataclass
class DemoSummary:
    operator_key: str = ""
    advertiser_keys: dict[str, str] = field(default_factory=dict)
    partner_keys: dict[str, str] = field(default_factory=dict)
    programs: int = 0
    links: int = 0
    clicks: int = 0
    bot_clicks: int = 0
    geo_rejected_clicks: int = 0  # from countries a program does not allow: sent to its fallback
    conversions: int = 0
    completed: int = 0
    declined: int = 0
    refunded_full: int = 0
    refunded_partial: int = 0
    approved_commissions: int = 0
    cpc_days: int = 0
    store_orders: int = 0  # orders told by Shopify / Stripe webhooks
    foreign_orders: int = 0  # orders paid in another currency than their program's
    catalog_items: int = 0  # creatives and feed products
    validated_orders: int = 0  # rows of the demo's bulk validation upload
    subscriptions: int = 0  # outbound webhook endpoints and partner postbacks
    pending_applications: int = 0  # partners waiting for an advertiser's answer
    payout_runs: int = 0  # one two days after each period end the demo covers
    payouts: int = 0  # made (created, sent, paid or failed)
    payouts_failed: int = 0  # bounced: the money went back to the balance and was paid again
    payouts_held: int = 0  # waiting for details the partner has not given
    invitations: int = 0  # colleagues invited by owners, not accepted yet
    mails_queued: int = 0  # invitations and payout notices waiting (the demo has no SMTP host)
    rollup_buckets: int = 0  # (program, day) traffic buckets counted into the report rollups
    cross_promotion: crosspromo.CrossPromoSummary = field(
        default_factory=crosspromo.CrossPromoSummary
    )
    sample_link: str = ""
    # Dashboard sign-in (demo/people.py): every account and the users made for them.
    accounts: list[DemoAccount] = field(default_factory=list)
    users: list[DemoUser] = field(default_factory=list)
    password: str = ""

    def count_follow_up(self, status: str, refund: Decimal | None) -> None:
        """Count an applied completion, decline or (full or partial) refund."""
        if status == "completed":
            self.completed += 1
        elif status == "declined":
            self.declined += 1
        elif refund is None:
            self.refunded_full += 1
        else:
            self.refunded_partial += 1


@dataclass
class _ProgramRun:
    spec: DemoProgram
    program: Program
    store_secret: str = ""  # the program's webhook secret, when its orders come from a store
    # visitor id -> (partner id, link id, click id, time) of that visitor's clicks so far
    visitors: list[str] = field(default_factory=list)


@dataclass
class _Order:
    at: datetime
    program: Program
    spec: DemoProgram
    click_id: str | None
    coupon: str | None
    customer_id: str
    country: str
    partner_type: str
    # The currency the buyer paid in: the program's, or (directly reported programs) often
    # the buyer's own, priced into the program's at the ECB rate (docs/exchange-rates.md).
    currency: str = ""


# The buyer's own currency, where the ECB quotes it.
LOCAL_CURRENCY = {
    "AT": "EUR", "CA": "CAD", "CH": "CHF", "DE": "EUR", "DK": "DKK", "FI": "EUR", "FR": "EUR",
    "GB": "GBP", "JP": "JPY", "NL": "EUR", "NO": "NOK", "SE": "SEK", "US": "USD",
}  # fmt: skip
# How often a buyer abroad pays in their own currency (the shop's checkout offers it).
PAYS_LOCALLY = 0.6


def network_is_empty(session: Session) -> bool:
    return session.scalar(select(Advertiser.id).limit(1)) is None


def build(
    *,
    days: int = 56,
    scale: float = 1.0,
    seed: int = 2026,
    progress: Callable[[str, int, int], None] | None = None,
) -> DemoSummary:
    """Build the whole demo network. `scale` multiplies traffic (1.0 ≈ 60k clicks)."""
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    start = (now - timedelta(days=days)).replace(hour=0, minute=0, second=0)
    summary = DemoSummary()
    report = progress or (lambda _step, _done, _total: None)

    # Links that exist only from a moment on (a campaign's slot links): no click before it.
    links_from: dict[str, datetime] = {}
    with transaction() as session:
        runs, partners, links = _cast(session, summary, rng)
        summary.password, summary.users = add_people(session, summary.accounts)
        summary.invitations = invite_colleagues(session, summary.accounts)
        # Banners, text links and product feeds partners can pick from (demo/catalog.py).
        summary.catalog_items = add_catalog(session, {k: run.program for k, run in runs.items()})
        summary.subscriptions = _subscribe(session, runs, partners, start)
        # Payout and tax details as partners typed them; two are missing something.
        # Their own random stream: the traffic and orders stay as they were for a seed.
        payees.add_details(session, dict(partners.values()), now, random.Random(seed + 1))
        # Who recruited whom, before the history's approvals earn the overrides.
        by_name = {spec.name: partner_id for partner_id, spec in partners.values()}
        crosspromo.add_referrals(
            session, by_name, start - timedelta(days=1), summary.cross_promotion
        )
        crosspromo.add_bundle(
            session,
            {key: run.program for key, run in runs.items()},
            start - timedelta(days=1),
            summary.cross_promotion,
        )
        tested = links[f"{by_name[crosspromo.VARIANT_PARTNER]}:{crosspromo.VARIANT_PROGRAM}"][0]
        crosspromo.add_variants(
            session, tested, runs[crosspromo.VARIANT_PROGRAM].program, summary.cross_promotion
        )
        # The campaign's slot links join their partners' links, from the campaign's start.
        for slot_link in crosspromo.add_campaign(
            session,
            by_name,
            runs[crosspromo.CAMPAIGN_PROGRAM].program,
            now,
            summary.cross_promotion,
        ):
            links[f"{slot_link.partner_id}:{crosspromo.CAMPAIGN_PROGRAM}"].append(slot_link)
            links_from[slot_link.id] = now - timedelta(days=14)
    report("accounts, programs, links", 1, 1)

    orders = _clicks(runs, partners, links, links_from, start, now, scale, rng, summary, report)
    _orders(runs, orders, now, rng, summary, report)

    summary.validated_orders = _month_end_validation(runs, now, rng)
    report("bulk validation", 1, 1)

    with transaction() as session:
        for offset in range(days + 1):
            day = (start + timedelta(days=offset)).date()
            if day < now.date():
                summary.cpc_days += 1 if ledger.accrue_clicks(session, day) else 0
        # Approved as the approval job would have, day by day: each commission at the end of
        # the day its lock period ended, at that day's ECB rate, so the payout runs below
        # find each period's money approved within it.
        for offset in range(days + 1):
            end_of_day = datetime.combine(
                (start + timedelta(days=offset)).date(), time(23, 59), tzinfo=UTC
            )
            summary.approved_commissions += ledger.approve_due(session, min(end_of_day, now))
    report("approvals", 1, 1)

    # A sign-up waiting for the operator, a giveaway with its draw, the overlap sketches.
    with transaction() as session:
        crosspromo.add_signup(session, by_name, now, summary.cross_promotion)
    advertiser_of_contest = runs[crosspromo.CONTEST_PROGRAM].program.advertiser_id
    crosspromo.add_contest(
        {key: run.program.id for key, run in runs.items()},
        advertiser_of_contest,
        now,
        random.Random(seed + 3),
        summary.cross_promotion,
    )
    report("cross-promotion", 1, 1)

    demo_partners = [a.id for a in summary.accounts if a.kind == AccountKind.partner]
    history = payees.pay(demo_partners, start.date(), now, random.Random(seed + 2), report)
    summary.payout_runs, summary.payouts = history.runs, history.created
    summary.payouts_failed, summary.payouts_held = history.failed, history.held
    # The invitations' and payouts' e-mails, queued with them (sent once an SMTP host is set).
    with reading() as session:
        summary.mails_queued = int(
            session.scalar(
                select(func.count()).where(
                    OutgoingMail.created_at >= now, OutgoingMail.sent_at.is_(None)
                )
            )
            or 0
        )

    # The demo writes eight weeks of clicks with ids of their own time, behind the traffic
    # watermark's back (ADR 0009): count them into the report rollups once, as an operator
    # does after an import, so the dashboards read rollups from the first page.
    summary.rollup_buckets = rollups.rebuild(
        progress=lambda step, done, total: report(f"report rollups: {step}", done, total)
    ).traffic_buckets
    crosspromo.refresh_sketches(now, summary.cross_promotion)
    crosspromo.confirm_exchanges(now, summary.cross_promotion)
    report("audience sketches, fair exchange", 1, 1)
    return summary


# --- the cast ----------------------------------------------------------------------------------


def _cast(
    session: Session, summary: DemoSummary, rng: random.Random
) -> tuple[dict[str, _ProgramRun], dict[str, tuple[str, DemoPartner]], dict[str, list[Link]]]:
    operator, summary.operator_key = create_operator(
        session, name="Demo operator", email="ops@alliance.example"
    )
    summary.accounts.append(DemoAccount(AccountKind.operator, operator.id, operator.name))
    runs: dict[str, _ProgramRun] = {}
    for spec in ADVERTISERS:
        advertiser, key = create_advertiser(
            session,
            name=spec.name,
            country=spec.country,
            currency=spec.currency,
            service_level=spec.service_level,
            account_manager_id=operator.id if spec.service_level == "managed" else None,
            website=spec.website,
        )
        summary.advertiser_keys[spec.name] = key
        summary.accounts.append(
            DemoAccount(AccountKind.advertiser, advertiser.id, spec.name, spec.country)
        )
        for program_spec in spec.programs:
            program, _terms = create_program(
                session,
                advertiser,
                ProgramCreate(
                    name=program_spec.name,
                    landing_url=program_spec.landing_url,
                    cookie_window_days=program_spec.cookie_window_days,
                    lock_period_days=program_spec.lock_period_days,
                    allowed_countries=list(program_spec.allowed_countries),
                    fallback_url=program_spec.fallback_url,
                    deeplink_domains=list(program_spec.deeplink_domains),
                    attribution_priority=program_spec.attribution_priority,
                    description=program_spec.description,
                    category=program_spec.category,
                    commission=program_spec.commission,
                ),
            )
            runs[program_spec.key] = _ProgramRun(program_spec, program)
            if program_spec.store:
                runs[program_spec.key].store_secret = stores.connect(
                    session, program.id, program_spec.store, datetime.now(UTC)
                )
            summary.programs += 1

    partners: dict[str, tuple[str, DemoPartner]] = {}
    links: dict[str, list[Link]] = {}
    for partner_spec in PARTNERS:
        partner, key = create_partner(
            session,
            name=partner_spec.name,
            type=partner_spec.type,
            country=partner_spec.country,
            payout_currency=partner_spec.payout_currency,
            categories=list(partner_spec.categories),
            audience=partner_spec.audience,
            email=f"team@{_slug(partner_spec.name)}.example",
            website=f"https://{_slug(partner_spec.name)}.example",
        )
        summary.partner_keys[partner_spec.name] = key
        summary.accounts.append(
            DemoAccount(AccountKind.partner, partner.id, partner_spec.name, partner_spec.country)
        )
        partners[partner.id] = (partner.id, partner_spec)
        for program_key in partner_spec.programs:
            run = runs[program_key]
            enrollment = apply_to_program(
                session, run.program, partner.id, f"{partner_spec.name}: {partner_spec.audience}"
            )
            decide_enrollment(
                session,
                enrollment,
                EnrollmentStatus.approved,
                reason=None,
                group=partner_spec.group,
            )
            for label, subs in _link_plan(partner_spec, rng):
                first_link = f"{partner.id}:{program_key}" not in links
                link = create_link(
                    session,
                    run.program,
                    partner.id,
                    landing_url=None,
                    label=label,
                    default_subs=subs,
                    # A partner's first link of a program shows per-country landing pages.
                    country_urls=dict(run.spec.country_urls) if first_link else {},
                )
                links.setdefault(f"{partner.id}:{program_key}", []).append(link)
                summary.links += 1
            if partner_spec.coupon:
                create_coupon(
                    session,
                    run.program,
                    partner.id,
                    partner_spec.coupon,
                    f"{partner_spec.name}'s audience code",
                )
    # Applications still waiting, and one refused: the advertiser has work to do.
    waiting = [p for p in PARTNERS if "kyoto-tea" not in p.programs][:3]
    for partner_spec in waiting:
        partner_id = next(pid for pid, (_, s) in partners.items() if s is partner_spec)
        enrollment = apply_to_program(
            session,
            runs["kyoto-tea"].program,
            partner_id,
            "We'd love to feature your matcha in our next newsletter.",
        )
        if partner_spec is waiting[-1]:
            decide_enrollment(
                session,
                enrollment,
                EnrollmentStatus.rejected,
                reason="Audience outside our shipping area",
                group=None,
            )
    first = next(iter(links.values()))[0]
    summary.sample_link = f"{get_settings().public_url.rstrip('/')}/c/{first.code}"
    summary.pending_applications = _pending_applications(session, runs, partners)
    return runs, partners, links


def _pending_applications(
    session: Session, runs: dict[str, _ProgramRun], partners: dict[str, tuple[str, DemoPartner]]
) -> int:
    """Some partners wait for an answer on a program they do not promote yet.

    Every fifth partner applies to the first other program of its category (or any other),
    some of them days ago: the advertiser's Applications page and the operator's review
    queue (applications waiting more than three days) have something real to show.
    """
    count = 0
    now = datetime.now(UTC)
    for index, (partner_id, spec) in enumerate(partners.values()):
        if index % 5:
            continue
        others = [key for key in runs if key not in spec.programs]
        if not others:
            continue
        same = [k for k in others if runs[k].spec.category in spec.categories]
        run = runs[(same or others)[0]]
        enrollment = apply_to_program(
            session, run.program, partner_id, f"{spec.name}: {spec.audience}"
        )
        enrollment.created_at = now - timedelta(days=1 + (index // 5) * 2)
        count += 1
    return count


def _link_plan(partner: DemoPartner, rng: random.Random) -> list[tuple[str, dict[str, str]]]:
    if partner.type == "content":
        return [("Review article", {"sub1": "review"}), ("Sidebar banner", {"sub1": "sidebar"})]
    if partner.type == "influencer":
        return [("Bio link", {"sub1": "bio"}), ("Story swipe-up", {"sub1": "story"})]
    if partner.type == "deals":
        return [("Coupon page", {"sub1": "coupon-page"}), ("Newsletter", {"sub1": "newsletter"})]
    return [("Integration", {"sub1": f"widget-{rng.randint(1, 9)}"})]


def _slug(name: str) -> str:
    return "".join(c for c in name.lower().replace(" ", "-") if c.isalnum() or c == "-").strip("-")


# --- clicks ------------------------------------------------------------------------------------


COUNTRY_NOT_ALLOWED = InvalidReason.country_not_allowed.value


def _clicks(
    runs: dict[str, _ProgramRun],
    partners: dict[str, tuple[str, DemoPartner]],
    links: dict[str, list[Link]],
    links_from: dict[str, datetime],
    start: datetime,
    now: datetime,
    scale: float,
    rng: random.Random,
    summary: DemoSummary,
    report: Callable[[str, int, int], None],
) -> list[_Order]:
    secret = get_settings().secret_key
    user_agents = [ua for _, ua, _ in USER_AGENTS]
    ua_weights = [w for _, _, w in USER_AGENTS]
    classified = {ua: classify_user_agent(ua) for ua in (*user_agents, *BOT_USER_AGENTS)}
    advertiser_country = {spec.key: adv.country for adv in ADVERTISERS for spec in adv.programs}
    orders: list[_Order] = []
    days = (now - start).days + 1
    # visitor -> (ip, user agent, country) so a returning visitor looks the same
    profiles: dict[str, tuple[str, str, str]] = {}
    # program key -> converting visitors' last click, for cross-partner paths
    recent_by_program: dict[str, list[tuple[str, str, datetime]]] = {}

    # Links with landing variants choose as the redirect does (the link cache's table).
    variant_tables = {
        link.id: entry.variants
        for link_list in links.values()
        for link in link_list
        if (entry := load_link(link.code)) is not None and entry.variants is not None
    }

    for day_index in range(days):
        day = start + timedelta(days=day_index)
        rows: list[dict[str, object]] = []
        growth = 0.75 + 0.5 * day_index / max(days - 1, 1)  # the network grows over the weeks
        for key, link_list in links.items():
            partner_id, program_key = key.split(":", 1)
            _, partner_spec = partners[partner_id]
            run = runs[program_key]
            expected = partner_spec.reach * 4.2 * scale * growth * WEEKDAY[day.weekday()]
            count = _poisson(rng, expected)
            countries = VISITOR_COUNTRIES[advertiser_country[program_key]]
            for _ in range(count):
                at = day + timedelta(
                    hours=rng.choices(range(24), HOURLY)[0], seconds=rng.randrange(3600)
                )
                if at >= now:
                    continue
                link = rng.choice(link_list)
                if at < links_from.get(link.id, at):
                    link = link_list[0]  # not made yet: the partner's own first link
                returning = False
                if rng.random() < BOT_SHARE:
                    ip = f"66.249.{rng.randrange(64, 96)}.{rng.randrange(1, 255)}"
                    user_agent = rng.choice(BOT_USER_AGENTS)
                    visitor = new_id(PREFIXES["visitor"], at)
                    country = "US"
                elif run.visitors and rng.random() < RETURNING_SHARE:
                    visitor = rng.choice(run.visitors)
                    ip, user_agent, country = profiles[visitor]
                    returning = True
                else:
                    visitor = new_id(PREFIXES["visitor"], at)
                    country = rng.choices([c for c, _ in countries], [w for _, w in countries])[0]
                    octets = (rng.randrange(2, 223), rng.randrange(256), rng.randrange(256))
                    ip = ".".join(map(str, (*octets, rng.randrange(1, 255))))
                    user_agent = rng.choices(user_agents, ua_weights)[0]
                    profiles[visitor] = (ip, user_agent, country)
                    run.visitors.append(visitor)
                device, is_bot = classified[user_agent]
                click_id = new_id(PREFIXES["click"], at)
                variant_id = None
                subs = link.default_subs
                # The redirect's geo-targeting, applied to the generated visitor's country.
                rejected = country_not_allowed(run.program.allowed_countries, country)
                if rejected:
                    landing = run.program.fallback_url or run.program.landing_url
                else:
                    landing = (link.country_urls or {}).get(country) or run.program.landing_url
                    table = variant_tables.get(link.id)
                    if table is not None and (
                        chosen := choose_variant(
                            table,
                            link_id=link.id,
                            visitor_id=visitor,
                            country=country,
                            device=device,
                            returning=returning,
                        )
                    ):
                        landing, variant_id = chosen.landing_url, chosen.id
                rows.append(
                    {
                        "id": click_id,
                        "occurred_at": at,
                        "link_id": link.id,
                        "program_id": run.program.id,
                        "partner_id": partner_id,
                        "visitor_id": visitor,
                        "sub1": subs.get("sub1"),
                        "sub2": subs.get("sub2"),
                        "sub3": None,
                        "sub4": None,
                        "sub5": None,
                        "landing_url": f"{landing}?alclid={click_id}",
                        "country": country,
                        "device": device,
                        "user_agent": user_agent[:512],
                        "referrer": REFERRERS[partner_spec.type].format(
                            host=f"{_slug(partner_spec.name)}.example"
                        )
                        or None,
                        "ip_hash": hash_ip(secret, ip),
                        "is_bot": is_bot,
                        "invalid_reason": COUNTRY_NOT_ALLOWED if rejected else None,
                        "variant_id": variant_id,
                    }
                )
                summary.clicks += 1
                summary.bot_clicks += int(is_bot)
                summary.geo_rejected_clicks += int(rejected)
                if is_bot or rejected:
                    continue  # earns nothing: no order follows it
                orders.extend(
                    _maybe_orders(
                        run,
                        partner_spec,
                        click_id,
                        visitor,
                        at,
                        country,
                        now,
                        rng,
                        recent_by_program,
                    )
                )
        with transaction() as session:
            if rows:
                session.execute(insert(Click), rows)
        report("clicks (8 weeks)", day_index + 1, days)
    # Coupon-only orders: buyers who typed a partner's code without clicking any link.
    for key in links:
        partner_id, program_key = key.split(":", 1)
        _, partner_spec = partners[partner_id]
        run = runs[program_key]
        if not partner_spec.coupon or run.spec.conversion_rate == 0:
            continue
        for _ in range(_poisson(rng, 6 * scale)):
            at = start + timedelta(seconds=rng.randrange(int((now - start).total_seconds())))
            orders.append(
                _Order(
                    at,
                    run.program,
                    run.spec,
                    None,
                    partner_spec.coupon,
                    f"cust-{rng.randrange(10**9)}",
                    VISITOR_COUNTRIES[advertiser_country[program_key]][0][0],
                    partner_spec.type,
                )
            )
    orders.sort(key=lambda o: o.at)
    return orders


def _maybe_orders(
    run: _ProgramRun,
    partner: DemoPartner,
    click_id: str,
    visitor: str,
    at: datetime,
    country: str,
    now: datetime,
    rng: random.Random,
    recent_by_program: dict[str, list[tuple[str, str, datetime]]],
) -> Iterator[_Order]:
    spec = run.spec
    rate = spec.conversion_rate + spec.lead_rate
    # Deals partners convert better (buyers are already at the checkout); technology less.
    rate *= {"deals": 1.5, "technology": 0.8}.get(partner.type, 1.0)
    if rng.random() >= rate:
        return
    delay = timedelta(minutes=rng.expovariate(1 / 240) + 3)
    order_at = at + delay
    if order_at >= now:
        return
    recent = recent_by_program.setdefault(spec.key, [])
    recent.append((visitor, click_id, at))
    if len(recent) > 50:
        recent.pop(0)
    coupon = partner.coupon if partner.coupon and rng.random() < 0.35 else None
    yield _Order(
        order_at,
        run.program,
        spec,
        click_id,
        coupon,
        f"cust-{visitor[-10:]}",
        country,
        partner.type,
    )


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:  # normal approximation keeps large days cheap
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


# --- orders and their lives ----------------------------------------------------------------------


def _orders(
    runs: dict[str, _ProgramRun],
    orders: list[_Order],
    now: datetime,
    rng: random.Random,
    summary: DemoSummary,
    report: Callable[[str, int, int], None],
) -> None:
    """Report every order at its time, then its completion, decline or refunds later."""
    followups: list[tuple[datetime, int, _Order, str, Decimal | None, str]] = []
    store = _StoreOrders(runs)
    rates = _rates_from(runs, now)
    for order in orders:
        order.currency = _paid_in(order, rng)
    chunk = 200
    for index in range(0, len(orders), chunk):
        deliveries: list[tuple[int, _Order, Decimal, tuple[LineInput, ...]]] = []
        with transaction() as session:
            for number, order in enumerate(orders[index : index + chunk], start=index):
                is_lead = order.spec.lead_rate > 0 and order.spec.conversion_rate == 0
                amount, items = _basket(order, rng, rates[order.program.currency], number)
                if order.spec.store:
                    deliveries.append((number, order, amount, items))  # after this commit
                    continue
                order_id = f"{'L' if is_lead else 'SO'}-{order.at:%y%m%d}-{number:05d}"
                outcome = _report(
                    session,
                    order,
                    order_id,
                    "lead" if is_lead else "sale",
                    "pending",
                    amount,
                    None,
                    items,
                    order.at,
                )
                if outcome is None:
                    continue
                summary.conversions += 1
                summary.foreign_orders += order.currency != order.program.currency
                followups.extend(_plan_life(order, order_id, amount, is_lead, now, rng))
        # Store orders go through the webhook pipeline, which opens its own transactions.
        for number, order, amount, items in deliveries:
            told = store.order(number, order, amount, items)
            if told is not None:
                summary.conversions += 1
                summary.store_orders += 1
                followups.extend(_plan_life(order, told, amount, False, now, rng))
        report("orders", min(index + chunk, len(orders)), len(orders))
    followups.sort(key=lambda f: (f[0], f[1]))
    for index in range(0, len(followups), chunk):
        later: list[tuple[datetime, _Order, str, Decimal | None, str]] = []
        with transaction() as session:
            for at, _seq, order, status, refund, order_id in followups[index : index + chunk]:
                if order.spec.store:
                    later.append((at, order, status, refund, order_id))
                    continue
                kind = "lead" if order_id.startswith("L-") else "sale"
                if _report(session, order, order_id, kind, status, None, refund, (), at):
                    summary.count_follow_up(status, refund)
        for at, order, status, refund, order_id in later:
            if store.follow_up(at, order, status, refund, order_id):
                summary.count_follow_up(status, refund)
        report("completions, declines, refunds", min(index + chunk, len(followups)), len(followups))


def _subscribe(
    session: Session,
    runs: dict[str, _ProgramRun],
    partners: dict[str, tuple[str, DemoPartner]],
    at: datetime,
) -> int:
    """An advertiser's webhook endpoint and a deals partner's postback (demo/outbound.py)."""
    nordic = runs.get("nordic-gear")
    deals = next((pid for pid, spec in partners.values() if spec.type == "deals"), None)
    if nordic is None or deals is None:
        return 0
    slug = _slug(partners[deals][1].name)
    return outbound.subscribe(session, nordic.program.advertiser_id, deals, slug, at)


VALIDATING_PROGRAM = "berlin-coffee"


def _month_end_validation(runs: dict[str, _ProgramRun], now: datetime, rng: random.Random) -> int:
    """One advertiser validates its open orders in bulk, as a CSV upload (docs/validation.md):
    most become completed, a few declined as test orders, one earlier order partly refunded,
    plus a row for an order it never sent us, so the report shows every kind of result."""
    from alliance.conversions import validation
    from alliance.conversions.models import Conversion, ConversionStatus

    run = runs.get(VALIDATING_PROGRAM)
    if run is None:
        return 0
    with transaction() as session:
        pending = session.scalars(
            select(Conversion.order_id)
            .where(
                Conversion.program_id == run.program.id,
                Conversion.status == ConversionStatus.pending.value,
                Conversion.occurred_at < now - timedelta(hours=12),
            )
            .order_by(Conversion.occurred_at)
        ).all()
        completed = session.scalars(
            select(Conversion)
            .where(
                Conversion.program_id == run.program.id,
                Conversion.status == ConversionStatus.completed.value,
            )
            .limit(1)
        ).first()
        refund_row = None
        if completed is not None:
            half = round_money(completed.amount / 2, completed.currency)
            refund_row = f"{completed.order_id},refunded,{half},returned one bag"
    lines = ["order_id,status,refund_amount,reason"]
    for order_id in pending:
        if rng.random() < 0.1:
            lines.append(f"{order_id},declined,,test order from the shop team")
        else:
            lines.append(f"{order_id},completed,,")
    if refund_row:
        lines.append(refund_row)
    lines.append("SO-NEVER-SENT,completed,,")  # an order Alliance never heard of
    validation.validate_file(run.program.id, "month-end.csv", "\n".join(lines).encode())
    return len(lines) - 1


class _StoreOrders:
    """Orders of store-connected demo programs, told by signed Shopify / Stripe webhooks."""

    def __init__(self, runs: dict[str, _ProgramRun]) -> None:
        self._secrets = {run.program.id: run.store_secret for run in runs.values()}
        self._shopify: dict[str, tuple[int, dict[str, Any]]] = {}  # order id -> (number, order)
        self._stripe: dict[str, Decimal] = {}  # payment intent -> amount

    def order(
        self, number: int, order: _Order, amount: Decimal, items: tuple[LineInput, ...]
    ) -> str | None:
        """Deliver the new order; its order id if the pipeline accepted it."""
        program, secret = order.program, self._secrets[order.program.id]
        if order.spec.store == "shopify":
            payload = stores.shopify_order(
                number, at=order.at, currency=program.currency, items=items,
                click_id=order.click_id, coupon=order.coupon,
                customer_id=order.customer_id, country=order.country,
            )  # fmt: skip
            delivery = stores.deliver("shopify", program.id, secret, payload, at=order.at)
            order_id = str(payload["id"])
            self._shopify[order_id] = (number, payload)
        else:
            order_id = f"pi_{new_id('x')[4:].lower()}"
            payload = stores.stripe_session_event(
                order_id, at=order.at, currency=program.currency, amount=amount,
                click_id=order.click_id, coupon=order.coupon, country=order.country,
            )  # fmt: skip
            delivery = stores.deliver("stripe", program.id, secret, payload, at=order.at)
            self._stripe[order_id] = amount
        return order_id if delivery.verdict == "accepted" else None

    def follow_up(
        self, at: datetime, order: _Order, status: str, refund: Decimal | None, order_id: str
    ) -> bool:
        program, secret = order.program, self._secrets[order.program.id]
        if order.spec.store == "shopify":
            number, payload = self._shopify[order_id]
            if status == "completed":
                topic, body = "orders/fulfilled", {**payload, "fulfillment_status": "fulfilled"}
            elif status == "declined":
                cancelled = {**payload, "cancelled_at": at.isoformat(timespec="seconds")}
                topic, body = "orders/cancelled", cancelled
            else:
                total = Decimal(payload["total_price"])
                share = Decimal(1) if refund is None else refund / total
                topic = "refunds/create"
                body = stores.shopify_refund(number, 1, at=at, order=payload, share=share)
            delivery = stores.deliver("shopify", program.id, secret, body, at=at, topic=topic)
            return delivery.verdict == "accepted"
        if status == "completed":
            return True  # a paid Stripe checkout completed the order when it was delivered
        if status != "refunded":
            return False  # a paid Stripe checkout is not declined: it would be refunded
        amount = self._stripe[order_id]
        event = stores.stripe_refund_event(
            order_id, at=at, currency=program.currency, amount=amount,
            refunded=amount if refund is None else refund,
        )  # fmt: skip
        return stores.deliver("stripe", program.id, secret, event, at=at).verdict == "accepted"


def _plan_life(
    order: _Order,
    order_id: str,
    amount: Decimal,
    is_lead: bool,
    now: datetime,
    rng: random.Random,
) -> Iterator[tuple[datetime, int, _Order, str, Decimal | None, str]]:
    seq = rng.randrange(10**9)
    age = now - order.at
    if age < timedelta(days=2):
        return  # still pending: the advertiser has not confirmed it yet
    roll = rng.random()
    decided = order.at + timedelta(days=rng.uniform(1, min(age.days, 10) or 1))
    if decided >= now:
        return
    if roll < 0.06:
        yield (decided, seq, order, "declined", None, order_id)
        return
    yield (decided, seq, order, "completed", None, order_id)
    if is_lead:
        return
    refund_at = decided + timedelta(days=rng.uniform(2, 20))
    if refund_at >= now:
        return
    if roll < 0.12:
        yield (refund_at, seq, order, "refunded", None, order_id)
    elif roll < 0.18:
        share = Decimal(rng.choice(("0.25", "0.3", "0.5")))
        refund = round_money(amount * share, order.currency)
        yield (refund_at, seq, order, "refunded", refund, order_id)


def _paid_in(order: _Order, rng: random.Random) -> str:
    """Store programs' orders come in the program's currency (the demo stores charge in it);
    buyers abroad of directly reported programs often pay in their own."""
    local = LOCAL_CURRENCY.get(order.country, order.program.currency)
    if order.spec.store or local == order.program.currency or rng.random() >= PAYS_LOCALLY:
        return order.program.currency
    return local


def _rates_from(runs: dict[str, _ProgramRun], now: datetime) -> dict[str, dict[str, Decimal]]:
    """Program currency -> {buyer currency: about how many of it one unit buys}, to size the
    baskets of buyers paying in their own currency."""
    from alliance.db.engine import reading
    from alliance.payouts import fx

    found: dict[str, dict[str, Decimal]] = {}
    with reading() as session:
        for run in runs.values():
            base = run.program.currency
            found.setdefault(base, {})
            for local in set(LOCAL_CURRENCY.values()) - {base}:
                try:
                    found[base][local] = fx.quote(session, base, local, now.date()).rate
                except fx.NoRate:
                    continue
    return found


def _basket(
    order: _Order, rng: random.Random, rates: dict[str, Decimal], number: int
) -> tuple[Decimal, tuple[LineInput, ...]]:
    if order.spec.lead_rate > 0 and order.spec.conversion_rate == 0:
        return Decimal(0), ()
    currency = order.currency
    # Order values are set in the program's currency; a buyer paying in another spends about
    # as much in theirs.
    factor = rates.get(currency, Decimal(1))
    low, high = (float(v * factor) for v in map(Decimal, order.spec.order_value))
    categories = order.spec.categories or ("general",)
    lines = []
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
        value = round_money(Decimal(rng.uniform(low, high)) / 2, currency)
        lines.append(
            LineInput(
                sku=f"SKU-{rng.randrange(100, 999)}",
                category=rng.choice(categories),
                amount=value,
                quantity=1,
            )
        )
    # Every third order (by its number) of the coffee shop paid in euros also holds the
    # two-brand bundle (demo/crosspromo.py). Not drawn from `rng`: the rest of the demo
    # stays as it was.
    if order.spec.key == crosspromo.BUNDLE_SELLER and currency == "EUR" and number % 3 == 0:
        lines.append(
            LineInput(
                sku=crosspromo.BUNDLE_SKU,
                category=categories[0],
                amount=crosspromo.BUNDLE_PRICE,
                quantity=1,
            )
        )
    net = sum((line.amount for line in lines), Decimal(0))
    return net, tuple(lines)


def _report(
    session: Session,
    order: _Order,
    order_id: str,
    kind: str,
    status: str,
    amount: Decimal | None,
    refund: Decimal | None,
    items: tuple[LineInput, ...],
    at: datetime,
) -> str | None:
    from alliance.conversions.postback import Rejected

    report = ConversionInput(
        program_id=order.program.id,
        order_id=order_id,
        kind=kind,  # type: ignore[arg-type]
        status=status,  # type: ignore[arg-type]
        currency=order.currency,
        amount=amount,
        refund_amount=refund,
        tax=Decimal(0),
        shipping=Decimal(0),
        items=items,
        click_id=order.click_id,
        visitor_id=None,
        coupon=order.coupon,
        customer_id=order.customer_id,
        buyer_country=order.country,
        new_customer=None,
        occurred_at=at if amount is not None else None,
    )
    try:
        with session.begin_nested():
            return record(session, order.program, report, None, at).conversion_id
    except Rejected:
        return None  # e.g. a buyer country outside the program: kept out, as live traffic is


def write_credentials(summary: DemoSummary, path: Path) -> None:
    """The demo's sign-ins and API keys, for a newcomer (local development data only)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Alliance demo network (local demo data; keep out of production)",
        f"# Dashboard users: sign in at /login with the password {summary.password}",
    ]
    lines += [
        f"user\t{u.email}\t{u.role.value}\t{u.account}\t{u.locale or 'browser language'}"
        for u in summary.users
    ]
    lines += ["# API keys", f"operator\t{summary.operator_key}"]
    lines += [f"advertiser\t{name}\t{key}" for name, key in summary.advertiser_keys.items()]
    lines += [f"partner\t{name}\t{key}" for name, key in summary.partner_keys.items()]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
