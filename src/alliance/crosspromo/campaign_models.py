"""Co-promotion campaigns' storage: the campaign and its terms, its parties and their
acceptances, the schedule of slots (each with its tracking link), deliverables under review,
and the reminders sent (docs/copromotion-campaigns.md, docs/adr/0020).

The terms are what every party accepts: the campaign's kind, period, time zone, goals and
exchange tolerance, its parties and its slots. `terms_version` counts their versions once
proposed; a party's acceptance names the version it accepted, so an edit (a new version)
leaves every earlier acceptance behind without touching it.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from alliance.clock import utcnow
from alliance.db.base import Base


class Campaign(Base):
    """A co-promotion agreed between two or more partners (and optionally advertisers)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        # The reminder and advance job: agreed campaigns (active, live) only.
        Index(None, "status"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # cmp_...
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(16))  # campaign_rules.CampaignKind
    status: Mapped[str] = mapped_column(String(16))  # campaign_rules.CampaignStatus
    # The organiser's IANA time zone: slots are written and shown in it, reminders fall at
    # its local times unless a party set its own.
    time_zone: Mapped[str] = mapped_column(String(64))
    # The period the goals measure (clicks and orders of the campaign's links in it).
    starts_at: Mapped[datetime | None] = mapped_column()
    ends_at: Mapped[datetime | None] = mapped_column()
    # Goals: each optional, each with its target. Revenue is in `goal_currency`.
    goal_clicks: Mapped[int | None] = mapped_column()
    goal_orders: Mapped[int | None] = mapped_column()
    goal_revenue: Mapped[Decimal | None] = mapped_column()
    goal_currency: Mapped[str | None] = mapped_column(String(3))
    # The fair-exchange tolerance the parties agree (crosspromo point 5 reads it): how far the
    # exchange between two parties may be out of balance before anyone is alerted, as a
    # percent of what was exchanged and/or as unique clicks. None: not agreed.
    tolerance_percent: Mapped[Decimal | None] = mapped_column()
    tolerance_clicks: Mapped[int | None] = mapped_column()
    organiser_party_id: Mapped[str | None] = mapped_column(String(32))  # cpt_...
    # 0 while a draft; 1 when first proposed; +1 for every edit of the terms after that.
    terms_version: Mapped[int] = mapped_column(default=0)
    created_by: Mapped[str] = mapped_column(String(32))  # the account id that created it
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    proposed_at: Mapped[datetime | None] = mapped_column()
    agreed_at: Mapped[datetime | None] = mapped_column()  # the last time it became active
    live_at: Mapped[datetime | None] = mapped_column()
    completed_at: Mapped[datetime | None] = mapped_column()
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancelled_by: Mapped[str | None] = mapped_column(String(32))
    cancel_reason: Mapped[str | None] = mapped_column(String(2000))


class CampaignParty(Base):
    """A partner or an advertiser taking part, with its answer to the current terms."""

    __tablename__ = "campaign_parties"
    __table_args__ = (
        UniqueConstraint("campaign_id", "partner_id"),
        UniqueConstraint("campaign_id", "advertiser_id"),
        # A party is one account: a partner or an advertiser, never both, never neither.
        CheckConstraint("(partner_id IS NULL) <> (advertiser_id IS NULL)", name="one_account"),
        # "My campaigns": a partner's or an advertiser's parties.
        Index(None, "partner_id"),
        Index(None, "advertiser_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # cpt_...
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    # Exactly one of the two is set.
    partner_id: Mapped[str | None] = mapped_column(ForeignKey("partners.id"))
    advertiser_id: Mapped[str | None] = mapped_column(ForeignKey("advertisers.id"))
    role: Mapped[str] = mapped_column(String(16))  # campaign_rules.PartyRole
    # Reminders to this party fall at local times of this zone; None: the campaign's.
    time_zone: Mapped[str | None] = mapped_column(String(64))
    # The terms version this party accepted; it counts only while equal to the campaign's.
    accepted_version: Mapped[int | None] = mapped_column()
    accepted_at: Mapped[datetime | None] = mapped_column()
    declined_version: Mapped[int | None] = mapped_column()
    declined_at: Mapped[datetime | None] = mapped_column()
    decline_reason: Mapped[str | None] = mapped_column(String(2000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    @property
    def account_id(self) -> str:
        found = self.partner_id or self.advertiser_id
        assert found is not None
        return found


class CampaignSlot(Base):
    """One placement of the schedule: which partner promotes what, on which channel, when.

    The promoted offer is a program: one of an advertiser party's programs, or a partner
    party's offer (`beneficiary_party_id`), in which case the tracking link is that partner's
    (its commission, placed on the promoter's channel: the exchange). Otherwise the link is
    the promoter's own. Either way the link's partner must be approved in the program."""

    __tablename__ = "campaign_slots"
    __table_args__ = (
        Index(None, "campaign_id", "starts_at"),
        # The campaign's links, for progress and the fair-exchange ledger.
        Index(None, "link_id"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # slt_...
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    promoter_party_id: Mapped[str] = mapped_column(ForeignKey("campaign_parties.id"))
    beneficiary_party_id: Mapped[str | None] = mapped_column(ForeignKey("campaign_parties.id"))
    program_id: Mapped[str] = mapped_column(ForeignKey("programs.id"))
    link_id: Mapped[str] = mapped_column(ForeignKey("links.id"))
    channel: Mapped[str] = mapped_column(String(16))  # campaign_rules.Channel
    title: Mapped[str] = mapped_column(String(200))
    notes: Mapped[str] = mapped_column(Text, default="")
    starts_at: Mapped[datetime] = mapped_column()  # the promotion goes out (the due moment)
    ends_at: Mapped[datetime] = mapped_column()
    # The promoter says it ran (with where, if it likes); until then a started slot is overdue.
    done_at: Mapped[datetime | None] = mapped_column()
    done_url: Mapped[str | None] = mapped_column(String(2048))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignDeliverable(Base):
    """Work one party owes by a due date (a draft, a video), reviewed by another party.

    Deliverables are the working list of an agreed campaign, not its terms: asking for one
    does not send the terms back for acceptance."""

    __tablename__ = "campaign_deliverables"
    __table_args__ = (Index(None, "campaign_id", "due_at"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # dlv_...
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"))
    slot_id: Mapped[str | None] = mapped_column(ForeignKey("campaign_slots.id"))
    party_id: Mapped[str] = mapped_column(ForeignKey("campaign_parties.id"))  # delivers
    reviewer_party_id: Mapped[str] = mapped_column(ForeignKey("campaign_parties.id"))
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    due_at: Mapped[datetime] = mapped_column()
    status: Mapped[str] = mapped_column(String(24))  # campaign_rules.DeliverableStatus
    submission_url: Mapped[str | None] = mapped_column(String(2048))
    submission_note: Mapped[str | None] = mapped_column(String(2000))
    submissions: Mapped[int] = mapped_column(default=0)  # how many times it was handed in
    submitted_at: Mapped[datetime | None] = mapped_column()
    review_note: Mapped[str | None] = mapped_column(String(2000))
    reviewed_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CampaignReminder(Base):
    """A reminder sent: once per item, due moment and offset, whatever the number of job
    runs or workers (the unique key). A rescheduled item has a new due moment, so its
    reminders go again for the new date."""

    __tablename__ = "campaign_reminders"
    __table_args__ = (UniqueConstraint("item_id", "due_at", "offset_key"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=True)
    campaign_id: Mapped[str] = mapped_column(ForeignKey("campaigns.id"), index=True)
    item_id: Mapped[str] = mapped_column(String(32))  # slt_... or dlv_...
    due_at: Mapped[datetime] = mapped_column()
    offset_key: Mapped[str] = mapped_column(String(16))  # campaign_rules.Reminder.key
    party_id: Mapped[str] = mapped_column(String(32))  # who was reminded
    scheduled_at: Mapped[datetime] = mapped_column()  # when it was meant to go
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    mails: Mapped[int] = mapped_column(default=0)  # messages queued (one per team member)
