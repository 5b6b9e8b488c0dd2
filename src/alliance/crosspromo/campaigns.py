"""Co-promotion campaigns: writing the terms, proposing them, every party's acceptance, the
schedule of slots with their tracking links, deliverables under review, and the moves of the
state machine (campaign_rules.TRANSITIONS).

Functions take an open session (the caller owns the transaction) and a campaign the caller
may see (`get_campaign`, which answers 404 for anyone who is not a party). Every change first
locks the campaign row (`FOR UPDATE` on PostgreSQL; SQLite serialises writers with BEGIN
IMMEDIATE), so two acceptances arriving together cannot both miss being the last one, and an
acceptance cannot slip in between an edit and the reset it causes.

Acceptance is by version: proposing makes `terms_version` 1 and every later edit of the terms
(kind, period, time zone, goals, tolerance, parties, slots) adds one and sends the campaign
back to `proposed`. A party's acceptance counts while it names the current version, so an
edit resets every acceptance at once without rewriting anybody's row; the organiser's own
edit counts as its acceptance of the new version (it wrote it).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, false, or_, select, true
from sqlalchemy.orm import Session

from alliance.accounts.models import Advertiser, Partner
from alliance.accounts.service import Principal
from alliance.api.fields import is_public_id
from alliance.api.scoping import get_visible
from alliance.clock import as_utc, utcnow
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
    CampaignKind,
    CampaignStatus,
    Channel,
    DeliverableStatus,
    PartyRole,
    can_move,
    zone,
)
from alliance.errors import Conflict, Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.mail import outbox, recipients
from alliance.mail.models import MailKind
from alliance.mail.recipients import Recipient
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.programs.service import check_landing
from alliance.settings import get_settings
from alliance.tracking import service as tracking

log = logging.getLogger(__name__)

MIN_PARTNERS = 2  # a co-promotion is between partners: at least two of them
MAX_PARTIES = 50
MAX_SLOTS = 500
MAX_DELIVERABLES = 500
JOB_ACTOR = "job"


# --- who sees what -------------------------------------------------------------------------


def _parties_of(who: Principal) -> ColumnElement[bool]:
    if who.is_partner:
        return CampaignParty.partner_id == who.id
    if who.is_advertiser:
        return CampaignParty.advertiser_id == who.id
    return false()


def visible_campaigns(who: Principal) -> ColumnElement[bool]:
    """The operator sees every campaign; a partner or an advertiser the ones it is a party
    to (served by the partner_id / advertiser_id indexes of campaign_parties)."""
    if who.is_operator:
        return true()
    return Campaign.id.in_(select(CampaignParty.campaign_id).where(_parties_of(who)))


def get_campaign(
    session: Session, campaign_id: str, who: Principal, *, for_update: bool = False
) -> Campaign:
    """The campaign if `who` may see it (locked for a change when asked), else 404."""
    return get_visible(
        session,
        Campaign,
        campaign_id,
        visible_campaigns(who),
        prefix=PREFIXES["campaign"],
        what="campaign",
        for_update=for_update,
    )


def parties(session: Session, campaign_id: str) -> list[CampaignParty]:
    """The campaign's parties, the organiser first, then in the order they were added."""
    rows = session.scalars(
        select(CampaignParty)
        .where(CampaignParty.campaign_id == campaign_id)
        .order_by(CampaignParty.created_at, CampaignParty.id)
    ).all()
    return sorted(rows, key=lambda p: p.role != PartyRole.organiser.value)


def party_of(session: Session, campaign: Campaign, who: Principal) -> CampaignParty | None:
    if not (who.is_partner or who.is_advertiser):
        return None
    return session.scalars(
        select(CampaignParty).where(CampaignParty.campaign_id == campaign.id, _parties_of(who))
    ).first()


def _party(session: Session, campaign: Campaign, party_id: str, field: str) -> CampaignParty:
    known = isinstance(party_id, str) and is_public_id(party_id, PREFIXES["campaign_party"])
    row = session.get(CampaignParty, party_id) if known else None
    if row is None or row.campaign_id != campaign.id:
        raise InvalidInput(f"no party {str(party_id)[:40]!r} in this campaign", field=field)
    return row


def _require_party(session: Session, campaign: Campaign, who: Principal) -> CampaignParty:
    found = party_of(session, campaign, who)
    if found is None:
        raise Forbidden("only the campaign's parties may do this")
    return found


def _require_organiser(session: Session, campaign: Campaign, who: Principal) -> CampaignParty:
    found = party_of(session, campaign, who)
    if found is None or found.role != PartyRole.organiser.value:
        raise Forbidden("only the campaign's organiser may change its terms")
    return found


def status_of(campaign: Campaign) -> CampaignStatus:
    return CampaignStatus(campaign.status)


def _move(campaign: Campaign, target: CampaignStatus, now: datetime) -> None:
    """The only place a campaign's status changes: refuses what the table does not allow."""
    current = status_of(campaign)
    if not can_move(current, target):
        raise Conflict(
            f"a {current.value} campaign cannot become {target.value}",
            field="status",
            status_now=current.value,
        )
    campaign.status = target.value
    campaign.updated_at = now
    if target is CampaignStatus.proposed:
        campaign.proposed_at = now
    elif target is CampaignStatus.active:
        campaign.agreed_at = now
    elif target is CampaignStatus.live and campaign.live_at is None:
        campaign.live_at = now
    elif target is CampaignStatus.completed:
        campaign.completed_at = now
    elif target is CampaignStatus.cancelled:
        campaign.cancelled_at = now


def _require_open(campaign: Campaign, what: str) -> None:
    if status_of(campaign) not in OPEN_STATES:
        raise Conflict(f"the campaign is {campaign.status}: {what} is no longer possible")


# --- writing the terms ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Goals:
    clicks: int | None = None
    orders: int | None = None
    revenue: Decimal | None = None
    currency: str | None = None  # required with `revenue`


@dataclass(frozen=True, slots=True)
class Tolerance:
    percent: Decimal | None = None  # of what the two parties exchanged, 0-100
    clicks: int | None = None  # unique clicks


@dataclass(frozen=True, slots=True)
class Terms:
    """The campaign-level terms and its free text (title, description: not terms)."""

    title: str
    kind: CampaignKind
    time_zone: str
    description: str = ""
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    goals: Goals = Goals()
    tolerance: Tolerance = Tolerance()


# Fields of `Terms` whose change must be accepted again by every party.
TERMS_FIELDS = frozenset({"kind", "time_zone", "starts_at", "ends_at", "goals", "tolerance"})


def _check_terms(terms: Terms) -> None:
    zone(terms.time_zone)
    start, end = terms.starts_at, terms.ends_at
    if start is not None and end is not None and as_utc(end) <= as_utc(start):
        raise InvalidInput("ends_at must be after starts_at", field="ends_at")
    goals = terms.goals
    if goals.revenue is not None and goals.currency is None:
        raise InvalidInput("a revenue goal needs its currency", field="goals.revenue.currency")


def _apply_terms(campaign: Campaign, terms: Terms) -> None:
    campaign.title = terms.title
    campaign.description = terms.description
    campaign.kind = terms.kind.value
    campaign.time_zone = terms.time_zone
    campaign.starts_at = as_utc(terms.starts_at) if terms.starts_at else None
    campaign.ends_at = as_utc(terms.ends_at) if terms.ends_at else None
    campaign.goal_clicks = terms.goals.clicks
    campaign.goal_orders = terms.goals.orders
    campaign.goal_revenue = terms.goals.revenue
    campaign.goal_currency = terms.goals.currency if terms.goals.revenue is not None else None
    campaign.tolerance_percent = terms.tolerance.percent
    campaign.tolerance_clicks = terms.tolerance.clicks


def terms_of(campaign: Campaign) -> Terms:
    return Terms(
        title=campaign.title,
        kind=CampaignKind(campaign.kind),
        time_zone=campaign.time_zone,
        description=campaign.description,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        goals=Goals(
            campaign.goal_clicks,
            campaign.goal_orders,
            campaign.goal_revenue,
            campaign.goal_currency,
        ),
        tolerance=Tolerance(campaign.tolerance_percent, campaign.tolerance_clicks),
    )


@dataclass(frozen=True, slots=True)
class Invitee:
    """A party to add: a partner or an advertiser (exactly one), and its own time zone."""

    partner_id: str | None = None
    advertiser_id: str | None = None
    time_zone: str | None = None


def create_campaign(
    session: Session,
    who: Principal,
    terms: Terms,
    invitees: Sequence[Invitee] = (),
    now: datetime | None = None,
) -> Campaign:
    """A draft written by a partner or an advertiser, who becomes its organiser."""
    if not (who.is_partner or who.is_advertiser):
        raise Forbidden("a campaign is organised by one of its partners or advertisers")
    now = now or utcnow()
    _check_terms(terms)
    campaign = Campaign(
        id=new_id(PREFIXES["campaign"], at=now),
        status=CampaignStatus.draft.value,
        terms_version=0,
        created_by=who.id,
        created_at=now,
        updated_at=now,
    )
    _apply_terms(campaign, terms)
    session.add(campaign)
    organiser = _new_party(
        session,
        campaign,
        Invitee(
            partner_id=who.id if who.is_partner else None,
            advertiser_id=who.id if who.is_advertiser else None,
        ),
        PartyRole.organiser,
        now,
        field="organiser",
    )
    campaign.organiser_party_id = organiser.id
    for index, invitee in enumerate(invitees):
        _new_party(session, campaign, invitee, PartyRole.participant, now, f"parties.{index}")
    session.flush()
    return campaign


def _new_party(
    session: Session,
    campaign: Campaign,
    invitee: Invitee,
    role: PartyRole,
    now: datetime,
    field: str,
) -> CampaignParty:
    if (invitee.partner_id is None) == (invitee.advertiser_id is None):
        raise InvalidInput(
            "a party is a partner_id or an advertiser_id (one of the two)", field=field
        )
    if invitee.time_zone is not None:
        zone(invitee.time_zone, f"{field}.time_zone")
    if invitee.partner_id is not None:
        if session.get(Partner, invitee.partner_id) is None:
            raise InvalidInput(f"no partner {invitee.partner_id!r}", field=f"{field}.partner_id")
        taken = CampaignParty.partner_id == invitee.partner_id
    else:
        if session.get(Advertiser, invitee.advertiser_id) is None:
            raise InvalidInput(
                f"no advertiser {invitee.advertiser_id!r}", field=f"{field}.advertiser_id"
            )
        taken = CampaignParty.advertiser_id == invitee.advertiser_id
    session.flush()  # the parties added just before are visible to the duplicate check
    count = len(parties(session, campaign.id))
    if session.scalars(
        select(CampaignParty.id).where(CampaignParty.campaign_id == campaign.id, taken)
    ).first():
        raise Conflict("that account is a party to this campaign already", field=field)
    if count >= MAX_PARTIES:
        raise InvalidInput(f"a campaign has at most {MAX_PARTIES} parties", field=field)
    row = CampaignParty(
        id=new_id(PREFIXES["campaign_party"], at=now),
        campaign_id=campaign.id,
        partner_id=invitee.partner_id,
        advertiser_id=invitee.advertiser_id,
        role=role.value,
        time_zone=invitee.time_zone,
        created_at=now,
    )
    session.add(row)
    return row


def update_campaign(
    session: Session,
    campaign: Campaign,
    who: Principal,
    changes: dict[str, Any],
    now: datetime | None = None,
) -> Campaign:
    """Change the campaign's fields named in `changes` (keys of `Terms`). A change to any of
    TERMS_FIELDS after proposing sends the terms back for everyone's acceptance."""
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    _require_open(campaign, "editing")
    current = terms_of(campaign)
    given = {k: v for k, v in changes.items() if k in Terms.__dataclass_fields__}
    updated = dataclasses.replace(current, **given)
    _check_terms(updated)
    _check_period_holds_slots(session, campaign, updated.starts_at, updated.ends_at)
    changed_terms = {
        name for name in TERMS_FIELDS if getattr(current, name) != getattr(updated, name)
    }
    _apply_terms(campaign, updated)
    campaign.updated_at = now
    if changed_terms:
        terms_changed(session, campaign, who, now)
    session.flush()
    return campaign


def _check_period_holds_slots(
    session: Session, campaign: Campaign, starts_at: datetime | None, ends_at: datetime | None
) -> None:
    for slot in slots(session, campaign.id):
        _check_in_period(slot.starts_at, slot.ends_at, starts_at, ends_at, "starts_at")


def _check_in_period(
    slot_start: datetime,
    slot_end: datetime,
    starts_at: datetime | None,
    ends_at: datetime | None,
    field: str,
) -> None:
    if starts_at is not None and as_utc(slot_start) < as_utc(starts_at):
        raise InvalidInput(
            "every slot must lie in the campaign's period: a slot starts before it", field=field
        )
    if ends_at is not None and as_utc(slot_end) > as_utc(ends_at):
        raise InvalidInput(
            "every slot must lie in the campaign's period: a slot ends after it",
            field="ends_at" if field == "starts_at" else field,
        )


def terms_changed(session: Session, campaign: Campaign, who: Principal, now: datetime) -> None:
    """After an edit of the terms: a draft stays a draft; otherwise a new version, back to
    `proposed`, every acceptance void (they name the old version), the editor's acceptance
    of its own edit recorded, and every other party asked to accept again."""
    campaign.updated_at = now
    if status_of(campaign) is CampaignStatus.draft:
        return
    # Proposed terms stay complete: no removing the last slot or the period (the caller's
    # transaction rolls the edit back).
    check_complete(session, campaign)
    campaign.terms_version += 1
    _move(campaign, CampaignStatus.proposed, now)
    editor = party_of(session, campaign, who)
    if editor is not None:
        _record_acceptance(editor, campaign.terms_version, now)
    _ask_for_acceptance(session, campaign, editor, changed=True)


# --- parties -------------------------------------------------------------------------------


def add_party(
    session: Session,
    campaign: Campaign,
    who: Principal,
    invitee: Invitee,
    now: datetime | None = None,
) -> CampaignParty:
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    _require_open(campaign, "adding a party")
    row = _new_party(session, campaign, invitee, PartyRole.participant, now, "party")
    session.flush()
    terms_changed(session, campaign, who, now)
    return row


def remove_party(
    session: Session,
    campaign: Campaign,
    who: Principal,
    party_id: str,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    _require_open(campaign, "removing a party")
    row = _party(session, campaign, party_id, "party_id")
    if row.role == PartyRole.organiser.value:
        raise Conflict("the organiser cannot leave its campaign: cancel it instead")
    busy = (
        session.scalars(
            select(CampaignSlot.id).where(
                CampaignSlot.campaign_id == campaign.id,
                or_(
                    CampaignSlot.promoter_party_id == row.id,
                    CampaignSlot.beneficiary_party_id == row.id,
                ),
            )
        ).first()
        or session.scalars(
            select(CampaignDeliverable.id).where(
                CampaignDeliverable.campaign_id == campaign.id,
                or_(
                    CampaignDeliverable.party_id == row.id,
                    CampaignDeliverable.reviewer_party_id == row.id,
                ),
            )
        ).first()
    )
    if busy:
        raise Conflict(
            f"the party has slots or deliverables ({busy}): remove or reassign them first",
            field="party_id",
        )
    session.delete(row)
    session.flush()
    terms_changed(session, campaign, who, now)


def set_party_time_zone(
    session: Session, campaign: Campaign, who: Principal, time_zone: str | None
) -> CampaignParty:
    """A party chooses the zone of its own reminders (not a term: nobody re-accepts)."""
    row = _require_party(session, campaign, who)
    if time_zone is not None:
        zone(time_zone)
    row.time_zone = time_zone
    return row


# --- proposing, accepting, the moves -------------------------------------------------------


def check_complete(session: Session, campaign: Campaign) -> None:
    """What a campaign needs before anyone can be asked to accept it."""
    rows = parties(session, campaign.id)
    partners = [p for p in rows if p.partner_id is not None]
    if len(partners) < MIN_PARTNERS:
        raise InvalidInput(
            f"a co-promotion needs at least {MIN_PARTNERS} partners: add the partners first",
            field="parties",
        )
    if campaign.starts_at is None:
        raise InvalidInput("set the campaign's period first (starts_at)", field="starts_at")
    if campaign.ends_at is None:
        raise InvalidInput("set the campaign's period first (ends_at)", field="ends_at")
    if not slots(session, campaign.id):
        raise InvalidInput("schedule at least one slot first", field="slots")


def propose(
    session: Session, campaign: Campaign, who: Principal, now: datetime | None = None
) -> Campaign:
    """Send the draft to every party. The organiser's proposal is its own acceptance."""
    now = now or utcnow()
    organiser = _require_organiser(session, campaign, who)
    if status_of(campaign) is not CampaignStatus.draft:
        raise Conflict(
            f"only a draft is proposed; this campaign is {campaign.status}", field="status"
        )
    check_complete(session, campaign)
    campaign.terms_version += 1
    _move(campaign, CampaignStatus.proposed, now)
    _record_acceptance(organiser, campaign.terms_version, now)
    _ask_for_acceptance(session, campaign, organiser, changed=False)
    _agree_if_everyone_accepted(session, campaign, now)
    session.flush()
    return campaign


def _record_acceptance(party: CampaignParty, version: int, now: datetime) -> None:
    party.accepted_version = version
    party.accepted_at = now
    party.declined_version = None
    party.declined_at = None
    party.decline_reason = None


def has_accepted(party: CampaignParty, campaign: Campaign) -> bool:
    return campaign.terms_version > 0 and party.accepted_version == campaign.terms_version


def has_declined(party: CampaignParty, campaign: Campaign) -> bool:
    return campaign.terms_version > 0 and party.declined_version == campaign.terms_version


def accept(
    session: Session,
    campaign: Campaign,
    who: Principal,
    version: int | None = None,
    now: datetime | None = None,
) -> Campaign:
    """The caller's party accepts the current terms. `version`, when given, must be the
    current one: a party accepts what it read, not an edit made in between (409)."""
    now = now or utcnow()
    party = _require_party(session, campaign, who)
    if status_of(campaign) is not CampaignStatus.proposed:
        raise Conflict(
            f"only proposed terms are accepted; this campaign is {campaign.status}",
            field="status",
        )
    if version is not None and version != campaign.terms_version:
        raise Conflict(
            f"the terms changed: version {campaign.terms_version} is current, not {version}."
            " Read them again before accepting",
            field="version",
            terms_version=campaign.terms_version,
        )
    _record_acceptance(party, campaign.terms_version, now)
    _agree_if_everyone_accepted(session, campaign, now)
    session.flush()
    return campaign


def decline(
    session: Session,
    campaign: Campaign,
    who: Principal,
    reason: str,
    now: datetime | None = None,
) -> Campaign:
    """The caller's party turns the current terms down, saying why. The campaign stays
    proposed: the organiser may change the terms (a new version to answer) or cancel."""
    now = now or utcnow()
    party = _require_party(session, campaign, who)
    if status_of(campaign) is not CampaignStatus.proposed:
        raise Conflict(
            f"only proposed terms are declined; this campaign is {campaign.status}",
            field="status",
        )
    if party.role == PartyRole.organiser.value:
        raise Conflict("the organiser wrote these terms: change them or cancel the campaign")
    party.accepted_version = None
    party.accepted_at = None
    party.declined_version = campaign.terms_version
    party.declined_at = now
    party.decline_reason = reason
    session.flush()
    return campaign


def _agree_if_everyone_accepted(session: Session, campaign: Campaign, now: datetime) -> None:
    rows = parties(session, campaign.id)
    if rows and all(has_accepted(p, campaign) for p in rows):
        _move(campaign, CampaignStatus.active, now)
        _go_live_if_started(session, campaign, now)


def first_slot_start(session: Session, campaign_id: str) -> datetime | None:
    found = session.scalars(
        select(CampaignSlot.starts_at)
        .where(CampaignSlot.campaign_id == campaign_id)
        .order_by(CampaignSlot.starts_at)
        .limit(1)
    ).first()
    return as_utc(found) if found is not None else None


def _go_live_if_started(session: Session, campaign: Campaign, now: datetime) -> bool:
    first = first_slot_start(session, campaign.id)
    if status_of(campaign) is CampaignStatus.active and first is not None and first <= now:
        _move(campaign, CampaignStatus.live, now)
        return True
    return False


def start(
    session: Session, campaign: Campaign, who: Principal, now: datetime | None = None
) -> Campaign:
    """The organiser starts an agreed campaign before its first slot."""
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    if status_of(campaign) is not CampaignStatus.active:
        raise Conflict(
            f"only an agreed (active) campaign is started; this one is {campaign.status}",
            field="status",
        )
    _move(campaign, CampaignStatus.live, now)
    return campaign


def complete(
    session: Session, campaign: Campaign, who: Principal, now: datetime | None = None
) -> Campaign:
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    _move(campaign, CampaignStatus.completed, now)
    return campaign


def cancel(
    session: Session,
    campaign: Campaign,
    who: Principal,
    reason: str,
    now: datetime | None = None,
) -> Campaign:
    """Any party (or the operator) stops an open campaign, saying why."""
    now = now or utcnow()
    if not who.is_operator:
        _require_party(session, campaign, who)
    if not reason.strip():
        raise InvalidInput("say why the campaign is cancelled", field="reason")
    _move(campaign, CampaignStatus.cancelled, now)
    campaign.cancelled_by = who.id
    campaign.cancel_reason = reason.strip()
    return campaign


def advance_due(now: datetime | None = None) -> dict[str, int]:
    """The clock's moves: an agreed campaign whose first slot started goes live, a live one
    past its period is completed. Each campaign in its own transaction, locked."""
    from alliance.db.engine import reading, transaction

    now = now or utcnow()
    with reading() as session:
        candidates = session.execute(
            select(Campaign.id, Campaign.status).where(
                Campaign.status.in_([s.value for s in AGREED_STATES])
            )
        ).all()
    went_live = completed = 0
    for campaign_id, _status in candidates:
        with transaction() as session:
            campaign = session.scalars(
                select(Campaign).where(Campaign.id == campaign_id).with_for_update()
            ).one()
            if _go_live_if_started(session, campaign, now):
                went_live += 1
            if (
                status_of(campaign) is CampaignStatus.live
                and campaign.ends_at is not None
                and as_utc(campaign.ends_at) <= now
            ):
                _move(campaign, CampaignStatus.completed, now)
                completed += 1
    return {"went_live": went_live, "completed": completed}


# --- mail ----------------------------------------------------------------------------------


def party_recipients(session: Session, party: CampaignParty) -> list[Recipient]:
    """Whom a party's mail goes to: the partner's or advertiser's team, in their languages."""
    if party.partner_id is not None:
        partner = session.get(Partner, party.partner_id)
        return recipients.of_partner(session, partner) if partner is not None else []
    advertiser = session.get(Advertiser, party.advertiser_id)
    if advertiser is None:
        return []
    return recipients.team(session, "advertiser", advertiser.id, advertiser.country)


def party_names(session: Session, rows: Sequence[CampaignParty]) -> dict[str, str]:
    """party id -> the partner's or advertiser's name."""
    partner_ids = [p.partner_id for p in rows if p.partner_id]
    advertiser_ids = [p.advertiser_id for p in rows if p.advertiser_id]
    names: dict[str, str] = {}
    if partner_ids:
        names.update(
            session.execute(
                select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids))
            ).all()
        )
    if advertiser_ids:
        names.update(
            session.execute(
                select(Advertiser.id, Advertiser.name).where(Advertiser.id.in_(advertiser_ids))
            ).all()
        )
    return {p.id: names.get(p.account_id, p.account_id) for p in rows}


def campaign_page_url(campaign_id: str, party: CampaignParty | None = None) -> str:
    """Where a party reads the campaign: the partner page; advertisers have no campaign page
    (yet), so theirs is the API resource."""
    base = get_settings().public_url.rstrip("/")
    if party is not None and party.partner_id is None:
        return f"{base}/api/v1/campaigns/{campaign_id}"
    return f"{base}/partner/campaigns/{campaign_id}"


def _ask_for_acceptance(
    session: Session, campaign: Campaign, by: CampaignParty | None, *, changed: bool
) -> None:
    """Mail every party except the one who proposed or edited: the terms await its answer."""
    rows = parties(session, campaign.id)
    names = party_names(session, rows)
    for party in rows:
        if by is not None and party.id == by.id:
            continue
        outbox.queue_all(
            session,
            party_recipients(session, party),
            MailKind.campaign_acceptance,
            about=campaign.id,
            title=campaign.title,
            by=names.get(by.id, "") if by is not None else "",
            version=campaign.terms_version,
            changed=changed,
            link=campaign_page_url(campaign.id, party),
        )


# --- slots ---------------------------------------------------------------------------------


def slots(session: Session, campaign_id: str) -> list[CampaignSlot]:
    return list(
        session.scalars(
            select(CampaignSlot)
            .where(CampaignSlot.campaign_id == campaign_id)
            .order_by(CampaignSlot.starts_at, CampaignSlot.id)
        )
    )


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
    promoter = _party(session, campaign, spec.promoter_party_id, "promoter_party_id")
    if promoter.partner_id is None:
        raise InvalidInput("the promoting party must be a partner", field="promoter_party_id")
    program = session.get(Program, spec.program_id)
    if program is None:
        raise InvalidInput(f"no program {spec.program_id!r}", field="program_id")
    beneficiary = (
        _party(session, campaign, spec.beneficiary_party_id, "beneficiary_party_id")
        if spec.beneficiary_party_id
        else None
    )
    rows = parties(session, campaign.id)
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
    names = party_names(session, rows)
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
    _check_in_period(
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
    _require_organiser(session, campaign, who)
    _require_open(campaign, "scheduling a slot")
    if len(slots(session, campaign.id)) >= MAX_SLOTS:
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
    terms_changed(session, campaign, who, now)
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
    _require_organiser(session, campaign, who)
    _require_open(campaign, "changing a slot")
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
    terms_changed(session, campaign, who, now)
    return slot


def delete_slot(
    session: Session,
    campaign: Campaign,
    who: Principal,
    slot: CampaignSlot,
    now: datetime | None = None,
) -> None:
    now = now or utcnow()
    _require_organiser(session, campaign, who)
    _require_open(campaign, "removing a slot")
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
    terms_changed(session, campaign, who, now)


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
    party = _require_party(session, campaign, who)
    if party.id != slot.promoter_party_id:
        raise Forbidden("only the promoting party says that its slot ran")
    if status_of(campaign) not in AGREED_STATES:
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
    party = _party(session, campaign, spec.party_id, "party_id")
    if spec.reviewer_party_id is not None:
        reviewer = _party(session, campaign, spec.reviewer_party_id, "reviewer_party_id")
    else:
        rows = parties(session, campaign.id)
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
    _require_organiser(session, campaign, who)
    _require_open(campaign, "asking for a deliverable")
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
    _require_organiser(session, campaign, who)
    _require_open(campaign, "changing a deliverable")
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
    _require_organiser(session, campaign, who)
    _require_open(campaign, "removing a deliverable")
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
    if status_of(campaign) not in AGREED_STATES:
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
    party = _require_party(session, campaign, who)
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
    party = _require_party(session, campaign, who)
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
    rows = parties(session, campaign.id)
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
    for slot in slots(session, campaign.id):
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
        status=status_of(campaign),
        terms_version=campaign.terms_version,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        tolerance_percent=campaign.tolerance_percent,
        tolerance_clicks=campaign.tolerance_clicks,
        parties=[
            ExchangeParty(p.id, p.partner_id, p.advertiser_id, has_accepted(p, campaign))
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
        for s in slots(session, campaign_id)
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
    if status_of(campaign) not in OPEN_STATES:
        return None
    items = owed_items(session, campaign.id)
    return items[0] if items else None
