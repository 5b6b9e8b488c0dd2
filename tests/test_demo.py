"""`alliance demo` builds a network that exercises every capability, through the real services."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from alliance.conversions.models import Conversion, InboundEvent, OrderValidation
from alliance.db.engine import reading
from alliance.demo.generate import DemoSummary, build
from alliance.demo.network import ADVERTISERS
from alliance.mail.models import OutgoingMail
from alliance.notifications.models import WebhookEvent
from alliance.payouts.models import Payout, PayoutSettings
from alliance.programs.models import CommissionTerms, Program
from alliance.reports import queries
from alliance.reports.models import RollupState
from alliance.reports.schemas import TrafficGroup
from alliance.tracking.models import Click, Link


@pytest.fixture(scope="module")
def summary(db_url: str) -> DemoSummary:
    """One small demo network for the module: a build rebuilds every report rollup of the
    shared test database, so it is made once."""
    return build(days=10, scale=0.1, seed=11)


def test_a_small_demo_network_exercises_every_capability(summary: DemoSummary) -> None:
    assert summary.programs >= 6 and len(summary.partner_keys) >= 25
    assert summary.clicks > 0 and summary.bot_clicks > 0
    # Geo-targeting: some visitors come from outside a limited program's countries.
    assert summary.geo_rejected_clicks > 0
    assert summary.conversions > 0 and summary.completed > 0
    # Store orders arrive as signed Shopify and Stripe webhooks, and all of them verify.
    assert summary.store_orders > 0
    # Buyers abroad pay in their own currency: priced at the ECB rate, kept on the order.
    assert summary.foreign_orders > 0
    assert summary.catalog_items > 0
    assert summary.validated_orders > 0
    assert summary.subscriptions == 2
    # Payouts: every partner has payout details, and a run followed each period end.
    assert summary.payout_runs >= 1
    with reading() as session:
        demo_partners = [a.id for a in summary.accounts if a.kind == "partner"]
        detailed = session.scalar(
            select(func.count())
            .select_from(PayoutSettings)
            .where(PayoutSettings.partner_id.in_(demo_partners))
        )
        assert detailed == len(summary.partner_keys) == len(demo_partners)
    # Everyone can sign in to the dashboards: the operator, every advertiser and partner.
    roles = {(u.email, u.role.value) for u in summary.users}
    assert ("ops@alliance.example", "owner") in roles
    assert len(summary.users) >= 1 + len(ADVERTISERS) + 25
    assert any(role == "read_only" for _, role in roles)
    assert summary.password.startswith("demo-")
    # E-mail: owners' invitations and the payout runs' notices wait in the outbox (the demo
    # has no SMTP host), each in its reader's language. Every demo partner has a user, so
    # each payout made has its "made" mail and each held one its "held" mail.
    assert summary.invitations == 3
    with reading() as session:
        told = {
            (kind, about)
            for kind, about in session.execute(
                select(OutgoingMail.kind, OutgoingMail.about).where(OutgoingMail.sent_at.is_(None))
            )
        }
        locales = set(
            session.scalars(
                select(OutgoingMail.locale).where(OutgoingMail.to_address.like("%.example"))
            )
        )
        demo_payouts = session.execute(
            select(Payout.id, Payout.status).where(Payout.partner_id.in_(demo_partners))
        ).all()
    assert sum(kind == "invitation" for kind, _ in told) >= 3
    for payout_id, status in demo_payouts:
        if status not in ("held", "cancelled"):
            assert ("payout_created", payout_id) in told
        if status == "held":
            assert ("payout_held", payout_id) in told
    assert summary.mails_queued >= summary.invitations
    assert len(locales) >= 2  # not everyone reads English
    # Applications wait for an answer, some for more than three days (the review queue).
    assert summary.pending_applications >= 3
    names = [program.name for advertiser in ADVERTISERS for program in advertiser.programs]
    with reading() as session:
        # Other tests share this database: look only at the demo's programs.
        demo = select(Program.id).where(Program.name.in_(names))
        by_source = dict(
            session.execute(
                select(InboundEvent.source, func.count())
                .where(InboundEvent.source.in_(("shopify", "stripe")))
                .where(InboundEvent.program_id.in_(demo))
                .group_by(InboundEvent.source)
            ).all()
        )
        refused = session.scalar(
            select(func.count())
            .select_from(InboundEvent)
            .where(
                InboundEvent.source.in_(("shopify", "stripe")),
                InboundEvent.program_id.in_(demo),
                InboundEvent.status == "rejected",
            )
        )
        uploads = session.scalar(
            select(func.count())
            .select_from(OrderValidation)
            .where(OrderValidation.program_id.in_(demo))
        )
        detail = session.execute(
            select(InboundEvent.source, InboundEvent.reason, InboundEvent.detail)
            .where(InboundEvent.program_id.in_(demo), InboundEvent.status == "rejected")
            .limit(5)
        ).all()
    assert by_source.get("shopify", 0) > 0 and by_source.get("stripe", 0) > 0
    assert refused == 0, detail
    assert uploads and uploads >= 1
    # Events of the demo's orders wait in the outbox for `alliance jobs run` to route them to
    # the advertiser's endpoint and the partner's postback.
    with reading() as session:
        queued = session.scalar(
            select(func.count()).select_from(WebhookEvent).where(WebhookEvent.program_id.in_(demo))
        )
    assert queued and queued > 0
    with reading() as session:
        priced = session.execute(
            select(Conversion.currency, Program.currency, Conversion.fx_rate, Conversion.fx_day)
            .join(Program, Program.id == Conversion.program_id)
            .where(Conversion.program_id.in_(demo), Conversion.currency != Program.currency)
        ).all()
    assert len(priced) == summary.foreign_orders
    assert all(rate and rate > 0 and day for _, _, rate, day in priced)
    # The demo counts its clicks into the report rollups (they carry ids of their own time):
    # the dashboards read rollups from the first page, and agree with the raw tables.
    assert summary.rollup_buckets > 0
    today = datetime.now(UTC).date()
    with reading() as session:
        state = session.get(RollupState, "traffic")
        assert state is not None and state.through_at.replace(tzinfo=UTC) > datetime.now(
            UTC
        ) - timedelta(minutes=5)
        programs = tuple(session.scalars(demo))
        q = queries.ReportQuery(today - timedelta(days=11), today, queries.Scope(programs, None))
        rolled = queries.traffic_report(session, q, TrafficGroup.program)
        raw = queries.traffic_report_raw(session, q, TrafficGroup.program)
    assert rolled == raw
    assert rolled.totals.clicks == summary.clicks
    # Clicks from outside a program's countries are stored invalid, landed on its fallback,
    # and the reports count them as invalid clicks (bots too), never as valid ones.
    assert rolled.totals.invalid_clicks >= summary.geo_rejected_clicks
    with reading() as session:
        rejected = session.execute(
            select(
                Click.landing_url, Program.fallback_url, Program.allowed_countries, Click.country
            )
            .join(Program, Program.id == Click.program_id)
            .where(Click.program_id.in_(programs), Click.invalid_reason == "country_not_allowed")
        ).all()
        per_country = session.scalars(
            select(Link.country_urls).where(Link.program_id.in_(programs))
        ).all()
        overrides = [
            rule
            for rules in session.scalars(
                select(CommissionTerms.rules).where(CommissionTerms.program_id.in_(programs))
            )
            for rule in rules.get("overrides", [])
        ]
    assert len(rejected) == summary.geo_rejected_clicks > 0
    for landing, fallback, allowed, country in rejected:
        assert fallback and landing.startswith(fallback + "?alclid=")
        assert country not in allowed
    assert any(urls for urls in per_country)
    assert any("buyer_country" in rule["when"] for rule in overrides)


def test_the_demo_shows_cross_promotion(summary: DemoSummary) -> None:
    from alliance.accounts.models import PartnerApplication
    from alliance.commissions.models import Commission
    from alliance.crosspromo.bundle_models import Bundle, BundleAllocation
    from alliance.crosspromo.campaign_models import Campaign, CampaignSlot
    from alliance.crosspromo.cap_models import FatigueCapRule
    from alliance.crosspromo.contest_models import Contest, ContestDraw, ContestEntry
    from alliance.crosspromo.overlap_models import AudienceSketch
    from alliance.crosspromo.referral_models import PartnerReferral
    from alliance.crosspromo.variant_models import LinkVariant

    cross = summary.cross_promotion
    assert cross.referrals == 4 and cross.refused_referrals == 1
    assert cross.contest_entries > 40 and 0 < cross.contest_refused < cross.contest_entries
    assert cross.contest_winners == 3 and cross.signups == 1 and cross.sketches >= 25
    partners = [a.id for a in summary.accounts if a.kind.value == "partner"]
    with reading() as session:
        chain = session.scalars(
            select(PartnerReferral).where(PartnerReferral.recruit_id.in_(partners))
        ).all()
        assert {r.status for r in chain} == {"active", "refused"}
        # The recruits' approved commissions earned their recruiters network-funded overrides.
        overrides = session.scalars(
            select(Commission).where(
                Commission.kind == "referral", Commission.partner_id.in_(partners)
            )
        ).all()
        assert overrides and {o.funded_by for o in overrides} == {"network"}
        assert {o.rule["level"] for o in overrides} == {1, 2}
        assert session.scalar(
            select(func.count()).where(
                PartnerApplication.status == "pending",
                PartnerApplication.email == "hej@bergsleden.example",
            )
        )
        advertisers = [a.id for a in summary.accounts if a.kind.value == "advertiser"]
        draws = session.scalars(
            select(ContestDraw)
            .join(Contest, Contest.id == ContestDraw.contest_id)
            .join(Program, Program.id == Contest.program_id)
            .where(Program.advertiser_id.in_(advertisers))
        ).all()
        assert len(draws) == 1
        reasons = set(
            session.scalars(
                select(ContestEntry.reason).where(
                    ContestEntry.contest_id == draws[0].contest_id, ContestEntry.reason.is_not(None)
                )
            )
        )
        assert "disposable_domain" in reasons
        # The two-brand bundle is active and its orders are split between the brands.
        bundle = session.scalars(
            select(Bundle)
            .join(Program, Program.id == Bundle.program_id)
            .where(Program.advertiser_id.in_(advertisers))
        ).one()
        assert bundle.status == "active"
        parties = set(
            session.scalars(
                select(BundleAllocation.party_id).where(BundleAllocation.bundle_id == bundle.id)
            )
        )
        assert len(parties) == 2
        # The A/B test's clicks landed on its variants, as the redirect would send them.
        tested = dict(
            session.execute(
                select(LinkVariant.id, LinkVariant.landing_url).where(
                    LinkVariant.program_id.in_(
                        select(Program.id).where(Program.advertiser_id.in_(advertisers))
                    )
                )
            ).all()
        )
        assert len(tested) == 3
        landed = session.execute(
            select(Click.variant_id, Click.landing_url).where(Click.variant_id.in_(list(tested)))
        ).all()
        # Which variants a small demo's few visitors drew depends on their (random) ids:
        # some click landed on a variant, and every one on its own page.
        assert landed
        assert all(url.startswith(tested[variant] + "?alclid=") for variant, url in landed)
        # The co-promotion campaign is live, with a slot to come and its links clicked.
        campaign = session.scalars(
            select(Campaign).where(
                Campaign.created_by.in_(partners), Campaign.title == "Autumn trail swap"
            )
        ).one()
        assert campaign.status == "live"
        slot_links = list(
            session.scalars(
                select(CampaignSlot.link_id).where(CampaignSlot.campaign_id == campaign.id)
            )
        )
        assert len(slot_links) == 3
        assert session.scalar(select(func.count()).where(Click.link_id.in_(slot_links)))
        assert session.scalar(select(func.count()).where(FatigueCapRule.campaign_id == campaign.id))
        assert session.scalar(
            select(func.count()).where(
                AudienceSketch.partner_id.in_(partners), AudienceSketch.distinct_estimate > 0
            )
        )
