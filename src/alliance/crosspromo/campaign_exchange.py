"""What the fair-exchange ledger (crosspromo point 5) reads of co-promotion campaigns: the
parties, every slot's link with who delivers through it to whom, the period and the
tolerance the parties agreed. The ledger reads through here; it does not reach into the
campaign tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.crosspromo import campaigns
from alliance.crosspromo.campaign_models import Campaign, CampaignParty, CampaignSlot
from alliance.crosspromo.campaign_rules import AGREED_STATES, CampaignStatus
from alliance.errors import NotFound

# --- for the fair-exchange ledger (crosspromo point 5) -------------------------------------


@dataclass(frozen=True, slots=True)
class ExchangeLink:
    """One slot's link: `promoter_partner_id` places it for its audience, and the clicks and
    orders through it are what the promoter delivered to `beneficiary` (the link's partner
    earns the commission: `link_partner_id`)."""

    slot_id: str
    link_id: str
    program_id: str
    promoter_partner_id: str
    beneficiary_partner_id: str | None  # None when the beneficiary is an advertiser party
    beneficiary_advertiser_id: str | None
    link_partner_id: str
    starts_at: datetime
    ends_at: datetime


@dataclass(frozen=True, slots=True)
class ExchangeParty:
    party_id: str
    partner_id: str | None
    advertiser_id: str | None
    accepted: bool


@dataclass(frozen=True, slots=True)
class ExchangeTerms:
    """What the fair-exchange ledger needs of a campaign: who takes part, every link with
    who delivers through it to whom, and the tolerance the parties agreed."""

    campaign_id: str
    status: CampaignStatus
    terms_version: int
    starts_at: datetime | None
    ends_at: datetime | None
    tolerance_percent: Decimal | None
    tolerance_clicks: int | None
    parties: list[ExchangeParty]
    links: list[ExchangeLink]

    @property
    def agreed(self) -> bool:
        """The tolerance binds once every party accepted (active, live or completed)."""
        return self.status in (*AGREED_STATES, CampaignStatus.completed)


def exchange_terms(session: Session, campaign_id: str) -> ExchangeTerms:
    """The campaign's parties, their links and the agreed tolerance (no visibility check:
    the caller decides who may read the ledger)."""
    from alliance.tracking.models import Link

    campaign = session.get(Campaign, campaign_id)
    if campaign is None:
        raise NotFound(f"no campaign {campaign_id!r}")
    rows = campaigns.parties(session, campaign.id)
    by_id = {p.id: p for p in rows}
    owners = dict(
        session.execute(
            select(Link.id, Link.partner_id).where(
                Link.id.in_(
                    select(CampaignSlot.link_id).where(CampaignSlot.campaign_id == campaign.id)
                )
            )
        ).all()
    )
    links = []
    for slot in campaigns.slots(session, campaign.id):
        promoter = by_id[slot.promoter_party_id]
        beneficiary = by_id.get(slot.beneficiary_party_id or "")
        assert promoter.partner_id is not None
        links.append(
            ExchangeLink(
                slot_id=slot.id,
                link_id=slot.link_id,
                program_id=slot.program_id,
                promoter_partner_id=promoter.partner_id,
                beneficiary_partner_id=beneficiary.partner_id if beneficiary else None,
                beneficiary_advertiser_id=beneficiary.advertiser_id if beneficiary else None,
                link_partner_id=owners[slot.link_id],
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
            )
        )
    return ExchangeTerms(
        campaign_id=campaign.id,
        status=campaigns.status_of(campaign),
        terms_version=campaign.terms_version,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        tolerance_percent=campaign.tolerance_percent,
        tolerance_clicks=campaign.tolerance_clicks,
        parties=[
            ExchangeParty(p.id, p.partner_id, p.advertiser_id, campaigns.has_accepted(p, campaign))
            for p in rows
        ],
        links=links,
    )


def campaigns_between(session: Session, partner_a: str, partner_b: str) -> list[str]:
    """Ids of the campaigns both partners are parties to, oldest first."""
    mine = select(CampaignParty.campaign_id).where(CampaignParty.partner_id == partner_a)
    theirs = select(CampaignParty.campaign_id).where(CampaignParty.partner_id == partner_b)
    return list(
        session.scalars(
            select(Campaign.id)
            .where(Campaign.id.in_(mine), Campaign.id.in_(theirs))
            .order_by(Campaign.id)
        )
    )
