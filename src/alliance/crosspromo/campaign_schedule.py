"""A campaign's schedule: slots (who promotes what, where, when; each with its own tracking
link), deliverables under review, and what is still owed (what reminders are about).

Like campaigns.py, every function takes a session and a campaign the caller may see, locked
by the caller for a change. Slots are terms: adding, changing or removing one after proposing
asks every party to accept again (campaigns.terms_changed). Deliverables are not.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.fields import is_public_id
from alliance.clock import as_utc, utcnow
from alliance.crosspromo import campaigns
from alliance.crosspromo.campaign_models import (
    Campaign,
    CampaignDeliverable,
    CampaignParty,
    CampaignSlot,
)
from alliance.crosspromo.campaign_rules import (
    AGREED_STATES,
    DELIVERABLE_TRANSITIONS,
    OPEN_STATES,
    OWED,
    Channel,
    DeliverableStatus,
)
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.programs.service import check_landing
from alliance.tracking import service as tracking

MAX_SLOTS = 500
MAX_DELIVERABLES = 500


# --- slots ---------------------------------------------------------------------------------


def get_slot(session: Session, campaign: Campaign, slot_id: str) -> CampaignSlot:
    known = is_public_id(slot_id, PREFIXES["campaign_slot"])
    row = session.get(CampaignSlot, slot_id) if known else None
    if row is None or row.campaign_id != campaign.id:
        raise NotFound(f"no slot {slot_id[:40]!r} in this campaign")
    return row


@dataclass(frozen=True, slots=True)
class SlotSpec:
    """Who promotes what, where and when. `beneficiary_party_id`: the party whose offer is
    promoted (a partner: the link is its own; an advertiser: the program is its own)."""

    promoter_party_id: str
    program_id: str
    channel: Channel
    title: str
    starts_at: datetime
    ends_at: datetime
    beneficiary_party_id: str | None = None
    notes: str = ""
    landing_url: str | None = None


@dataclass(frozen=True, slots=True)
class Placement:
    """A slot's checked offer: the program, the party it benefits and the link's owner."""

    program: Program
    beneficiary: CampaignParty | None
    link_partner_id: str


def _enrollment_refusal(
    session: Session, program: Program, partner_id: str, partner_name: str
) -> InvalidInput | None:
    status = session.scalar(
        select(Enrollment.status).where(
            Enrollment.program_id == program.id, Enrollment.partner_id == partner_id
        )
    )
    if status == EnrollmentStatus.approved.value:
        return None
    state = f"its enrollment is {status}" if status else "it has not joined the program"
    return InvalidInput(
        f"partner {partner_name} ({partner_id}) is not approved in program {program.name}"
        f" ({program.id}): {state}. Only a partner approved in a program can promote it:"
        " it must apply and be approved first",
        field="program_id",
        partner_id=partner_id,
        enrollment_status=status,
    )


def _place(session: Session, campaign: Campaign, spec: SlotSpec) -> Placement:
    promoter = campaigns.party_in(session, campaign, spec.promoter_party_id, "promoter_party_id")
    if promoter.partner_id is None:
        raise InvalidInput("the promoting party must be a partner", field="promoter_party_id")
    program = session.get(Program, spec.program_id)
    if program is None:
        raise InvalidInput(f"no program {spec.program_id!r}", field="program_id")
    beneficiary = (
        campaigns.party_in(session, campaign, spec.beneficiary_party_id, "beneficiary_party_id")
        if spec.beneficiary_party_id
        else None
    )
    rows = campaigns.parties(session, campaign.id)
    if beneficiary is None:
        # A program of an advertiser party: that advertiser benefits.
        beneficiary = next((p for p in rows if p.advertiser_id == program.advertiser_id), None)
        if beneficiary is None:
            raise InvalidInput(
                "a slot promotes a program of one of the campaign's advertisers, or a partner"
                " party's offer: name that partner as beneficiary_party_id",
                field="beneficiary_party_id",
            )
    if beneficiary.id == promoter.id:
        raise InvalidInput(
            "a partner does not cross-promote itself: the beneficiary must be another party",
            field="beneficiary_party_id",
        )
    if beneficiary.advertiser_id is not None and beneficiary.advertiser_id != program.advertiser_id:
        raise InvalidInput(
            "the program is not one of the beneficiary advertiser's programs", field="program_id"
        )
    link_partner_id = beneficiary.partner_id or promoter.partner_id
    names = campaigns.party_names(session, rows)
    owner = beneficiary if beneficiary.partner_id is not None else promoter
    refusal = _enrollment_refusal(session, program, link_partner_id, names.get(owner.id, ""))
    if refusal is not None:
        raise refusal
    if spec.landing_url is not None:
        check_landing(program, spec.landing_url, "landing_url")
    return Placement(program, beneficiary, link_partner_id)


def _check_times(campaign: Campaign, spec: SlotSpec) -> None:
    if as_utc(spec.ends_at) <= as_utc(spec.starts_at):
        raise InvalidInput("a slot's ends_at must be after its starts_at", field="ends_at")
    campaigns.check_in_period(
        spec.starts_at, spec.ends_at, campaign.starts_at, campaign.ends_at, "starts_at"
    )


def _new_link(
    session: Session, campaign: Campaign, slot_id: str, spec: SlotSpec, place: Placement
) -> str:
    link = tracking.create_link(
        session,
        place.program,
        place.link_partner_id,
        landing_url=spec.landing_url,
        label=f"{campaign.title}: {spec.title}"[:200],
        # Reports can be cut by campaign and slot without knowing the link ids.
        default_subs={"sub1": campaign.id, "sub2": slot_id},
        country_urls={},
    )
    return link.id


def add_slot(
    session: Session,
    campaign: Campaign,
    who: Principal,
    spec: SlotSpec,
    now: datetime | None = None,
) -> CampaignSlot:
    """A slot with its own tracking link (so its clicks and orders are told apart)."""
    now = now or utcnow()
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "scheduling a slot")
    if len(campaigns.slots(session, campaign.id)) >= MAX_SLOTS:
        raise InvalidInput(f"a campaign has at most {MAX_SLOTS} slots", field="slots")
    _check_times(campaign, spec)
    place = _place(session, campaign, spec)
    slot_id = new_id(PREFIXES["campaign_slot"], at=now)
    row = CampaignSlot(
        id=slot_id,
        campaign_id=campaign.id,
        promoter_party_id=spec.promoter_party_id,
        beneficiary_party_id=place.beneficiary.id if place.beneficiary else None,
        program_id=place.program.id,
        link_id=_new_link(session, campaign, slot_id, spec, place),
        channel=spec.channel.value,
        title=spec.title,
        notes=spec.notes,
        starts_at=as_utc(spec.starts_at),
        ends_at=as_utc(spec.ends_at),
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    campaigns.terms_changed(session, campaign, who, now)
    return row


def spec_of(session: Session, slot: CampaignSlot) -> SlotSpec:
    from alliance.tracking.models import Link

    link = session.get(Link, slot.link_id)
    return SlotSpec(
        promoter_party_id=slot.promoter_party_id,
        program_id=slot.program_id,
        channel=Channel(slot.channel),
        title=slot.title,
        starts_at=slot.starts_at,
        ends_at=slot.ends_at,
        beneficiary_party_id=slot.beneficiary_party_id,
        notes=slot.notes,
        landing_url=link.landing_url if link is not None else None,
    )


# Changing these gives the slot a new link: the old one keeps its clicks and stays valid.
_LINK_FIELDS = frozenset({"promoter_party_id", "beneficiary_party_id", "program_id", "landing_url"})


def update_slot(
    session: Session,
    campaign: Campaign,
    who: Principal,
    slot: CampaignSlot,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> CampaignSlot:
    now = now or utcnow()
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "changing a slot")
    current = spec_of(session, slot)
    given = {k: v for k, v in changes.items() if k in SlotSpec.__dataclass_fields__}
    if "program_id" in given and "beneficiary_party_id" not in given:
        # A new program picks its beneficiary again (an advertiser party's program).
        beneficiary = session.get(CampaignParty, slot.beneficiary_party_id or "")
        if beneficiary is not None and beneficiary.advertiser_id is not None:
            given["beneficiary_party_id"] = None
    updated = dataclasses.replace(current, **given)
    if updated == current:
        return slot
    _check_times(campaign, updated)
    place = _place(session, campaign, updated)
    if any(getattr(updated, f) != getattr(current, f) for f in _LINK_FIELDS):
        slot.link_id = _new_link(session, campaign, slot.id, updated, place)
    slot.promoter_party_id = updated.promoter_party_id
    slot.beneficiary_party_id = place.beneficiary.id if place.beneficiary else None
    slot.program_id = place.program.id
    slot.channel = updated.channel.value
    slot.title = updated.title
    slot.notes = updated.notes
    slot.starts_at = as_utc(updated.starts_at)
    slot.ends_at = as_utc(updated.ends_at)
    slot.updated_at = now
    session.flush()
    campaigns.terms_changed(session, campaign, who, now)
    return slot


def delete_slot(
    session: Session,
    campaign: Campaign,
    who: Principal,
    slot: CampaignSlot,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "removing a slot")
    if slot.done_at is not None:
        raise Conflict("the slot ran already: it stays in the campaign's record")
    attached = session.scalars(
        select(CampaignDeliverable.id).where(CampaignDeliverable.slot_id == slot.id)
    ).first()
    if attached:
        raise Conflict(
            f"deliverable {attached} belongs to this slot: remove or move it first",
            field="slot_id",
        )
    session.delete(slot)
    session.flush()
    campaigns.terms_changed(session, campaign, who, now)


def mark_slot_done(
    session: Session,
    campaign: Campaign,
    who: Principal,
    slot: CampaignSlot,
    url: str | None,
    now: datetime | None = None,
) -> CampaignSlot:
    """The promoter says its promotion went out (where: `url`). Stops its reminders."""
    now = now or utcnow()
    party = campaigns.require_party(session, campaign, who)
    if party.id != slot.promoter_party_id:
        raise Forbidden("only the promoting party says that its slot ran")
    if campaigns.status_of(campaign) not in AGREED_STATES:
        raise Conflict(
            f"the campaign is {campaign.status}: slots run once every party agreed",
            field="status",
        )
    slot.done_at = now
    slot.done_url = url
    slot.updated_at = now
    return slot


# --- deliverables --------------------------------------------------------------------------


def deliverables(session: Session, campaign_id: str) -> list[CampaignDeliverable]:
    return list(
        session.scalars(
            select(CampaignDeliverable)
            .where(CampaignDeliverable.campaign_id == campaign_id)
            .order_by(CampaignDeliverable.due_at, CampaignDeliverable.id)
        )
    )


def get_deliverable(
    session: Session, campaign: Campaign, deliverable_id: str
) -> CampaignDeliverable:
    known = is_public_id(deliverable_id, PREFIXES["campaign_deliverable"])
    row = session.get(CampaignDeliverable, deliverable_id) if known else None
    if row is None or row.campaign_id != campaign.id:
        raise NotFound(f"no deliverable {deliverable_id[:40]!r} in this campaign")
    return row


@dataclass(frozen=True, slots=True)
class DeliverableSpec:
    party_id: str  # who delivers
    title: str
    due_at: datetime
    description: str = ""
    reviewer_party_id: str | None = None  # None: the organiser (or, if it delivers, another)
    slot_id: str | None = None


def _check_deliverable(
    session: Session, campaign: Campaign, spec: DeliverableSpec
) -> tuple[CampaignParty, CampaignParty]:
    party = campaigns.party_in(session, campaign, spec.party_id, "party_id")
    if spec.reviewer_party_id is not None:
        reviewer = campaigns.party_in(
            session, campaign, spec.reviewer_party_id, "reviewer_party_id"
        )
    else:
        rows = campaigns.parties(session, campaign.id)
        reviewer = next(p for p in rows if p.id != party.id) if len(rows) > 1 else party
    if reviewer.id == party.id:
        raise InvalidInput(
            "a deliverable is reviewed by another party than the one delivering it",
            field="reviewer_party_id",
        )
    if spec.slot_id is not None:
        get_slot(session, campaign, spec.slot_id)
    return party, reviewer


def add_deliverable(
    session: Session,
    campaign: Campaign,
    who: Principal,
    spec: DeliverableSpec,
    now: datetime | None = None,
) -> CampaignDeliverable:
    """Ask a party for a piece of work. Not a term: nobody re-accepts for it."""
    now = now or utcnow()
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "asking for a deliverable")
    if len(deliverables(session, campaign.id)) >= MAX_DELIVERABLES:
        raise InvalidInput(
            f"a campaign has at most {MAX_DELIVERABLES} deliverables", field="deliverables"
        )
    party, reviewer = _check_deliverable(session, campaign, spec)
    row = CampaignDeliverable(
        id=new_id(PREFIXES["campaign_deliverable"], at=now),
        campaign_id=campaign.id,
        slot_id=spec.slot_id,
        party_id=party.id,
        reviewer_party_id=reviewer.id,
        title=spec.title,
        description=spec.description,
        due_at=as_utc(spec.due_at),
        status=DeliverableStatus.requested.value,
        submissions=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    session.flush()
    return row


def update_deliverable(
    session: Session,
    campaign: Campaign,
    who: Principal,
    row: CampaignDeliverable,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> CampaignDeliverable:
    now = now or utcnow()
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "changing a deliverable")
    if row.status == DeliverableStatus.approved.value:
        raise Conflict("the deliverable is approved: it is no longer changed")
    current = DeliverableSpec(
        party_id=row.party_id,
        title=row.title,
        due_at=row.due_at,
        description=row.description,
        reviewer_party_id=row.reviewer_party_id,
        slot_id=row.slot_id,
    )
    given = {k: v for k, v in changes.items() if k in DeliverableSpec.__dataclass_fields__}
    updated = dataclasses.replace(current, **given)
    party, reviewer = _check_deliverable(session, campaign, updated)
    row.party_id = party.id
    row.reviewer_party_id = reviewer.id
    row.title = updated.title
    row.description = updated.description
    row.due_at = as_utc(updated.due_at)
    row.slot_id = updated.slot_id
    row.updated_at = now
    session.flush()
    return row


def delete_deliverable(
    session: Session, campaign: Campaign, who: Principal, row: CampaignDeliverable
) -> None:
    campaigns.require_organiser(session, campaign, who)
    campaigns.require_open(campaign, "removing a deliverable")
    if row.status == DeliverableStatus.approved.value:
        raise Conflict("the deliverable is approved: it stays in the campaign's record")
    session.delete(row)


def _review_move(row: CampaignDeliverable, target: DeliverableStatus, now: datetime) -> None:
    current = DeliverableStatus(row.status)
    if target not in DELIVERABLE_TRANSITIONS[current]:
        raise Conflict(
            f"a {current.value} deliverable cannot become {target.value}",
            field="status",
            status_now=current.value,
        )
    row.status = target.value
    row.updated_at = now


def _require_agreed(campaign: Campaign) -> None:
    if campaigns.status_of(campaign) not in AGREED_STATES:
        raise Conflict(
            f"the campaign is {campaign.status}: deliverables are handed in and reviewed"
            " once every party agreed (active or live)",
            field="status",
        )


def submit_deliverable(
    session: Session,
    campaign: Campaign,
    who: Principal,
    row: CampaignDeliverable,
    url: str | None,
    note: str,
    now: datetime | None = None,
) -> CampaignDeliverable:
    now = now or utcnow()
    party = campaigns.require_party(session, campaign, who)
    if party.id != row.party_id:
        raise Forbidden("only the party that owes the deliverable hands it in")
    _require_agreed(campaign)
    if url is None and not note.strip():
        raise InvalidInput("hand in a URL or a note", field="url")
    _review_move(row, DeliverableStatus.submitted, now)
    row.submission_url = url
    row.submission_note = note or None
    row.submissions += 1
    row.submitted_at = now
    return row


def review_deliverable(
    session: Session,
    campaign: Campaign,
    who: Principal,
    row: CampaignDeliverable,
    *,
    approve: bool,
    note: str,
    now: datetime | None = None,
) -> CampaignDeliverable:
    """The reviewing party approves a submission or sends it back with a note."""
    now = now or utcnow()
    party = campaigns.require_party(session, campaign, who)
    if party.id != row.reviewer_party_id:
        raise Forbidden("only the reviewing party approves or asks for changes")
    _require_agreed(campaign)
    if not approve and not note.strip():
        raise InvalidInput("say what should change", field="note")
    target = DeliverableStatus.approved if approve else DeliverableStatus.changes_requested
    _review_move(row, target, now)
    row.review_note = note or None
    row.reviewed_at = now
    return row


# --- what is due ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DueItem:
    """A slot not marked as run, or a deliverable still owed: what reminders are about."""

    kind: str  # "slot" | "deliverable"
    id: str
    title: str
    due_at: datetime
    party_id: str  # who owes it: the promoter, or the delivering party


def owed_items(session: Session, campaign_id: str) -> list[DueItem]:
    """Everything still owed in the campaign, soonest due first."""
    found = [
        DueItem("slot", s.id, s.title, as_utc(s.starts_at), s.promoter_party_id)
        for s in campaigns.slots(session, campaign_id)
        if s.done_at is None
    ]
    found += [
        DueItem("deliverable", d.id, d.title, as_utc(d.due_at), d.party_id)
        for d in deliverables(session, campaign_id)
        if DeliverableStatus(d.status) in OWED
    ]
    return sorted(found, key=lambda item: (item.due_at, item.id))


def next_due(session: Session, campaign: Campaign) -> DueItem | None:
    """The item to show as "next due": the most overdue one, else the soonest; nothing once
    the campaign is over."""
    if campaigns.status_of(campaign) not in OPEN_STATES:
        return None
    items = owed_items(session, campaign.id)
    return items[0] if items else None
