"""Co-promotion campaigns: writing the terms, the parties, proposing, every party's
acceptance, and the moves of the state machine (campaign_rules.TRANSITIONS). The schedule
(slots with their links, deliverables) is campaign_schedule.py; what the fair-exchange ledger
reads is campaign_exchange.py.

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
    OPEN_STATES,
    CampaignKind,
    CampaignStatus,
    PartyRole,
    can_move,
    zone,
)
from alliance.errors import Conflict, Forbidden, InvalidInput
from alliance.ids import PREFIXES, new_id
from alliance.mail import outbox, recipients
from alliance.mail.models import MailKind
from alliance.mail.recipients import Recipient
from alliance.settings import get_settings

MIN_PARTNERS = 2  # a co-promotion is between partners: at least two of them
MAX_PARTIES = 50


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


def party_in(session: Session, campaign: Campaign, party_id: str, field: str) -> CampaignParty:
    known = isinstance(party_id, str) and is_public_id(party_id, PREFIXES["campaign_party"])
    row = session.get(CampaignParty, party_id) if known else None
    if row is None or row.campaign_id != campaign.id:
        raise InvalidInput(f"no party {str(party_id)[:40]!r} in this campaign", field=field)
    return row


def require_party(session: Session, campaign: Campaign, who: Principal) -> CampaignParty:
    found = party_of(session, campaign, who)
    if found is None:
        raise Forbidden("only the campaign's parties may do this")
    return found


def require_organiser(session: Session, campaign: Campaign, who: Principal) -> CampaignParty:
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


def require_open(campaign: Campaign, what: str) -> None:
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
    require_organiser(session, campaign, who)
    require_open(campaign, "editing")
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
        check_in_period(slot.starts_at, slot.ends_at, starts_at, ends_at, "starts_at")


def check_in_period(
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
    require_organiser(session, campaign, who)
    require_open(campaign, "adding a party")
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
    require_organiser(session, campaign, who)
    require_open(campaign, "removing a party")
    row = party_in(session, campaign, party_id, "party_id")
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
    row = require_party(session, campaign, who)
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
    organiser = require_organiser(session, campaign, who)
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
    party = require_party(session, campaign, who)
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
    party = require_party(session, campaign, who)
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
    require_organiser(session, campaign, who)
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
    require_organiser(session, campaign, who)
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
        require_party(session, campaign, who)
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


def slots(session: Session, campaign_id: str) -> list[CampaignSlot]:
    return list(
        session.scalars(
            select(CampaignSlot)
            .where(CampaignSlot.campaign_id == campaign_id)
            .order_by(CampaignSlot.starts_at, CampaignSlot.id)
        )
    )
