"""Cross-promotion in the demo network, through the same services the API uses:

- a referral chain with the network's terms (network-funded overrides on two levels), and a
  partner who typed its own recruit code (recorded, refused, earning nothing);
- a sign-up from a recruit link waiting in the operator's review queue;
- a closed giveaway with verified entries, bonus entries for referrals, refused entries kept
  with their reasons, and its verifiable draw;
- a bundle of two brands (Berliner Kaffee's beans with Kyoto tea) sold by the coffee shop,
  its revenue and commission split 60/40 on every order that has it;
- an A/B test of two landing pages on one of Fjällbloggen's links, plus a variant for
  returning visitors on mobile (demo/generate.py sends that link's clicks through the same
  choice the redirect makes);
- a live co-promotion campaign between TrailTest.de and Fjällbloggen: a newsletter slot
  already run, a blog slot due in two days (its reminders queued), a guest post to hand in
  tomorrow and a newsletter text approved, the slots' links getting clicks, and a fatigue
  cap of 3 clicks a day per visitor on them;
- the campaign's fair-exchange ledger: Fjällbloggen has promoted TrailTest.de on two slot
  links and received one, so the balance leans its way (confirmed after the screening week);
- the audience-overlap sketches, refreshed once the clicks are in.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts import applications
from alliance.accounts.models import AccountKind, PartnerType
from alliance.accounts.service import Principal
from alliance.crosspromo import (
    bundles,
    campaign_schedule,
    campaigns,
    caps,
    contests,
    exchange_job,
    overlap,
    referrals,
    variants_service,
)
from alliance.crosspromo.campaign_rules import CampaignKind, Channel
from alliance.crosspromo.caps_rules import CapScope, CapWindow
from alliance.db.engine import transaction
from alliance.mail.models import OutgoingMail
from alliance.programs.models import Program
from alliance.tracking.models import Link

# (recruiter, recruit): names in demo/network.py PARTNERS.
# Two levels: The Sleep Scientist earns on MoneyMatters US (level 1) and on the partner
# MoneyMatters recruited (level 2); their per-click commissions are approved daily, so even a
# short demo shows overrides.
CHAIN = (
    ("The Sleep Scientist", "MoneyMatters US"),
    ("MoneyMatters US", "CashBackRewards US"),
    ("Fjällbloggen", "TrailTest.de"),
)
OWN_CODE = "Kaffeeklatsch Magazin"  # typed its own code into the form: a self-referral
CONTEST_PROGRAM = "nordic-gear"
# The bundle: sold by the coffee shop's program, Kyoto tea a party (demo/generate.py _basket
# puts it in every third coffee order paid in euros).
BUNDLE_SELLER, BUNDLE_PARTNER = "berlin-coffee", "kyoto-tea"
BUNDLE_SKU, BUNDLE_PRICE = "BUNDLE-MORNING-RITUAL", Decimal("39.00")
_TOKEN = re.compile(r"/verify\?token=([A-Za-z0-9_\-]+)")


@dataclass
class CrossPromoSummary:
    referrals: int = 0
    refused_referrals: int = 0
    signups: int = 0
    contest_entries: int = 0
    contest_refused: int = 0
    contest_winners: int = 0
    sketches: int = 0
    bundles: int = 0
    variants: int = 0
    campaigns: int = 0
    campaign_slots: int = 0
    exchange_entries: int = 0  # confirmed deliveries between the campaign's two partners
    exchange_alerts: int = 0


def add_referrals(
    session: Session, partner_ids: dict[str, str], recruited_at: datetime, out: CrossPromoSummary
) -> None:
    """The network's terms and who recruited whom, before any commission is approved, so the
    approvals of the demo's history earn the recruiters their overrides."""
    referrals.set_terms(
        session,
        referrals.NETWORK,
        referrals.parse_terms({"percents": ["10", "2"], "months": 12, "funded_by": "network"}),
    )
    for recruiter, recruit in CHAIN:
        code = referrals.recruit_code(session, partner_ids[recruiter])
        referrals.record(session, partner_ids[recruit], code, at=recruited_at)
        out.referrals += 1
    own = partner_ids[OWN_CODE]
    row = referrals.record(session, own, referrals.recruit_code(session, own), at=recruited_at)
    out.referrals += 1
    out.refused_referrals += row.status == "refused"


def add_signup(
    session: Session, partner_ids: dict[str, str], now: datetime, out: CrossPromoSummary
) -> None:
    """Someone who followed Fjällbloggen's recruit link and applied on /join yesterday."""
    code = referrals.recruit_code(session, partner_ids["Fjällbloggen"])
    application = applications.submit(
        session,
        applications.Signup(
            name="Bergsleden Podcast",
            email="hej@bergsleden.example",
            type=PartnerType.influencer,
            country="SE",
            payout_currency="SEK",
            website="https://bergsleden.example",
            audience="Swedish trail runners, a weekly podcast",
            recruit_code=code,
        ),
        referrals.fingerprint_of("192.0.2.44", "Mozilla/5.0 (Macintosh) Safari/605.1.15"),
    )
    application.created_at = now - timedelta(days=1)
    out.signups += 1


def add_contest(
    program_ids: dict[str, str],
    advertiser_user: str,
    now: datetime,
    rng: random.Random,
    out: CrossPromoSummary,
) -> None:
    """A giveaway that ran for two weeks and closed yesterday: entries through the approved
    partners' links and entrants' own referral codes, some refused, then the draw."""
    opens = now - timedelta(days=16)
    closes = now - timedelta(days=2)
    with transaction() as session:
        program = session.get(Program, program_ids[CONTEST_PROGRAM])
        assert program is not None
        contest = contests.create_contest(
            session,
            program,
            contests.ContestSpec(
                title="Win a Fjäll 40 L backpack",
                rules="Three backpacks. One entry per person; a friend who enters with your "
                "code gives you a bonus entry (up to five). Open to residents of the EU.",
                opens_at=opens,
                closes_at=closes,
                winners=3,
                bonus_per_referral=1,
                bonus_cap=5,
                per_ip_limit=3,
                external_source=None,
            ),
            advertiser_user,
            now=opens,
        )
        partner_refs = [
            contests.partner_code(session, contest, partner_id).code
            for partner_id in sorted(contest_partner_ids(session, program.id))
        ]
        contest_id = contest.id
    entrant_codes: list[str] = []
    first_names = ("Anna", "Erik", "Lena", "Jonas", "Sofia", "Maja", "Lukas", "Elin", "Noah")
    last_names = ("Berg", "Lind", "Holm", "Wagner", "Nyström", "Fischer", "Sundqvist")
    for i in range(48):
        at = opens + timedelta(hours=6 + i * 6 + rng.randint(0, 4))
        name = f"{rng.choice(first_names)} {rng.choice(last_names)}"
        domain = "mailinator.com" if i % 13 == 7 else rng.choice(("mail.example", "post.example"))
        email = f"{name.split()[0].lower()}.{i}@{domain}"
        if i % 17 == 9:
            email = f"{name.split()[0].lower()}.{i - 1}@mail.example"  # entered twice
        ref = rng.choice(entrant_codes) if entrant_codes and rng.random() < 0.4 else None
        ref = ref or rng.choice(partner_refs or [None])
        ip = f"198.51.100.{i % 40}"
        with transaction() as session:
            outcome = contests.submit_entry(
                session,
                contest_id,
                contests.Submission(email=email, name=name, ref=ref, consent=True),
                ip_hash=hashlib.sha256(ip.encode()).hexdigest()[:32],
                locale="sv",
                now=at,
            )
            entry_id = outcome.entry.id
        out.contest_entries += 1
        if not outcome.accepted:
            out.contest_refused += 1
            continue
        if rng.random() < 0.85:  # most entrants click the link in their mail
            with transaction() as session:
                verified = contests.verify_entry(
                    session, contest_id, _token(session, entry_id), now=at + timedelta(minutes=9)
                )
                if verified.entry.referral_code:
                    entrant_codes.append(verified.entry.referral_code)
    with transaction() as session:
        record = contests.draw_contest(
            session,
            contest_id,
            external_value=None,
            drawn_by=advertiser_user,
            now=closes + timedelta(hours=20),
        )
        out.contest_winners = len(contests.winners_of(session, record))


def contest_partner_ids(session: Session, program_id: str) -> list[str]:
    from alliance.programs.models import Enrollment

    return list(
        session.scalars(
            select(Enrollment.partner_id).where(
                Enrollment.program_id == program_id, Enrollment.status == "approved"
            )
        )
    )


def _token(session: Session, entry_id: str) -> str:
    """The token in the entrant's verification mail: what clicking its link sends."""
    body = session.scalars(
        select(OutgoingMail.text_body).where(OutgoingMail.about == entry_id)
    ).one()
    found = _TOKEN.search(body)
    assert found, "the verification mail has no link"
    return found.group(1)


def refresh_sketches(now: datetime, out: CrossPromoSummary) -> None:
    result = overlap.refresh_sketches(now=now)
    out.sketches = result.partners


def confirm_exchanges(now: datetime, out: CrossPromoSummary) -> None:
    """The hourly job once: the campaign's confirmed deliveries and any tolerance alert."""
    result = exchange_job.confirm_exchanges(now, None)
    out.exchange_entries, out.exchange_alerts = result["entries"], result["alerts"]


def add_bundle(
    session: Session, programs: dict[str, Program], at: datetime, out: CrossPromoSummary
) -> None:
    """Proposed by the coffee shop, accepted by the tea house, before the orders come in."""
    seller, partner = programs[BUNDLE_SELLER], programs[BUNDLE_PARTNER]
    bundle = bundles.create_bundle(
        session,
        Principal(AccountKind.advertiser, seller.advertiser_id),
        bundles.BundleTerms(
            program_id=seller.id,
            name="Morning ritual: single-origin beans and a sencha tin",
            sku=BUNDLE_SKU,
            price=BUNDLE_PRICE,
            currency="EUR",
            parties=(
                bundles.PartyTerms(seller.id, Decimal(60)),
                bundles.PartyTerms(partner.id, Decimal(40)),
            ),
        ),
        at,
    )
    for party in bundles.parties_of(session, [bundle.id])[bundle.id]:
        if party.program_id == partner.id:
            bundles.decide_party(
                session,
                Principal(AccountKind.advertiser, partner.advertiser_id),
                bundle,
                party.id,
                True,
                at + timedelta(hours=3),
            )
    out.bundles += 1


VARIANT_PARTNER, VARIANT_PROGRAM = "Fjällbloggen", "nordic-gear"


def add_variants(session: Session, link: Link, program: Program, out: CrossPromoSummary) -> None:
    """Fjällbloggen tests two landing pages half and half, and sends returning visitors on a
    phone straight to the app offer."""
    base = program.landing_url.split("?")[0].rstrip("/")
    for terms in (
        variants_service.VariantTerms(name="Summer sale", landing_url=f"{base}/summer-sale"),
        variants_service.VariantTerms(name="Bestsellers", landing_url=f"{base}/bestsellers"),
        variants_service.VariantTerms(
            name="App, returning mobile",
            landing_url=f"{base}/app",
            devices=("mobile",),
            visitor="returning",
        ),
    ):
        variants_service.create_variant(session, link, program, terms)
        out.variants += 1


CAMPAIGN_ORGANISER, CAMPAIGN_PARTNER, CAMPAIGN_PROGRAM = (
    "TrailTest.de",
    "Fjällbloggen",
    "nordic-gear",
)


def add_campaign(
    session: Session,
    partner_ids: dict[str, str],
    program: Program,
    now: datetime,
    out: CrossPromoSummary,
) -> list[Link]:
    """TrailTest.de and Fjällbloggen promote each other's Nordic Gear links for a month: made
    and agreed three weeks ago, live since the first slot. Returns the slots' links, for the
    demo's traffic."""
    organiser = Principal(AccountKind.partner, partner_ids[CAMPAIGN_ORGANISER])
    other = Principal(AccountKind.partner, partner_ids[CAMPAIGN_PARTNER])
    made = now - timedelta(days=21)
    campaign = campaigns.create_campaign(
        session,
        organiser,
        campaigns.Terms(
            title="Autumn trail swap",
            kind=CampaignKind.content,
            time_zone="Europe/Stockholm",
            description="Two gear blogs recommend each other's picks for the autumn season.",
            starts_at=now - timedelta(days=14),
            ends_at=now + timedelta(days=16),
            goals=campaigns.Goals(clicks=1500, orders=25),
            tolerance=campaigns.Tolerance(percent=Decimal(10), clicks=20),
        ),
        [campaigns.Invitee(partner_id=other.id, time_zone="Europe/Stockholm")],
        now=made,
    )
    rows = {p.partner_id: p for p in campaigns.parties(session, campaign.id)}
    mine, theirs = rows[organiser.id], rows[other.id]
    plan = (
        (theirs, mine, Channel.newsletter, "Fjällbloggen's Sunday letter: TrailTest's picks", -7),
        (mine, theirs, Channel.blog, "TrailTest.de review round-up: Fjällbloggen's list", 2),
        (theirs, mine, Channel.instagram, "Fjällbloggen stories: the TrailTest top 3", 9),
    )
    slots = []
    for promoter, beneficiary, channel, title, day in plan:
        begins = (now + timedelta(days=day)).replace(hour=7, minute=0, second=0, microsecond=0)
        slots.append(
            campaign_schedule.add_slot(
                session,
                campaign,
                organiser,
                campaign_schedule.SlotSpec(
                    promoter_party_id=promoter.id,
                    program_id=program.id,
                    channel=channel,
                    title=title,
                    starts_at=begins,
                    ends_at=begins + timedelta(days=2),
                    beneficiary_party_id=beneficiary.id,
                ),
                now=made,
            )
        )
        out.campaign_slots += 1
    campaign_schedule.add_deliverable(
        session,
        campaign,
        organiser,
        campaign_schedule.DeliverableSpec(
            party_id=mine.id,
            title="Guest post draft: 'Five trails for October'",
            due_at=now + timedelta(days=1),
            slot_id=slots[1].id,
        ),
        now=made,
    )
    copy = campaign_schedule.add_deliverable(
        session,
        campaign,
        organiser,
        campaign_schedule.DeliverableSpec(
            party_id=theirs.id,
            title="Newsletter text with the two links",
            due_at=now - timedelta(days=8),
            slot_id=slots[0].id,
        ),
        now=made,
    )
    campaigns.propose(session, campaign, organiser, now=made)
    campaigns.accept(session, campaign, other, now=made + timedelta(hours=5))
    campaign_schedule.submit_deliverable(
        session,
        campaign,
        other,
        copy,
        None,
        "Text and links in the shared doc.",
        now=now - timedelta(days=9),
    )
    campaign_schedule.review_deliverable(
        session,
        campaign,
        organiser,
        copy,
        approve=True,
        note="Perfect, thanks!",
        now=now - timedelta(days=9) + timedelta(hours=3),
    )
    campaigns.start(session, campaign, organiser, now=now - timedelta(days=7))
    # Spare the two blogs' readers: at most 3 clicks a day (Stockholm time) on the
    # campaign's links per visitor; a fourth lands on the plain shop page, marked capped.
    caps.create_rule(
        session,
        organiser,
        caps.RuleTerms(
            scope=CapScope.campaign,
            maximum=3,
            window=CapWindow.calendar_day,
            time_zone="Europe/Stockholm",
            campaign_id=campaign.id,
        ),
    )
    out.campaigns += 1
    return [session.get_one(Link, slot.link_id) for slot in slots]
