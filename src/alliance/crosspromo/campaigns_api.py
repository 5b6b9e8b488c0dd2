"""/api/v1/campaigns: co-promotion campaigns (docs/copromotion-campaigns.md).

A partner or an advertiser writes a campaign (it becomes the organiser), adds the other
parties and the slots, and proposes it; every party accepts or declines; the campaign goes
live with its first slot and completes at the end of its period. Only parties see a campaign
(the operator sees all); anyone else gets 404, as for a campaign that does not exist.
Illegal moves (accepting a draft, editing a cancelled campaign) are 409 problem+json.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, status
from fastapi.responses import Response
from sqlalchemy import ColumnElement, func, select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, ReadDB
from alliance.api.fields import amount_text
from alliance.api.pagination import Page, PageQuery, fetch_page, given
from alliance.clock import as_utc, utcnow
from alliance.crosspromo import campaign_ical, campaign_progress, campaign_schedule, campaigns
from alliance.crosspromo.campaign_models import (
    Campaign,
    CampaignDeliverable,
    CampaignParty,
    CampaignSlot,
)
from alliance.crosspromo.campaign_rules import (
    OWED,
    CampaignKind,
    CampaignStatus,
    Channel,
    DeliverableStatus,
    PartyRole,
    zone,
)
from alliance.crosspromo.campaign_schemas import (
    AcceptIn,
    CampaignCreate,
    CampaignOut,
    CampaignPatch,
    CampaignSummary,
    DeliverableIn,
    DeliverableOut,
    DeliverablePatch,
    DoneIn,
    DueOut,
    GoalOut,
    GoalsIn,
    GoalsOut,
    LinkOut,
    PartyIn,
    PartyOut,
    PartyZoneIn,
    ProgressOut,
    ReasonIn,
    Revenue,
    ReviewIn,
    SlotIn,
    SlotOut,
    SlotPatch,
    SlotProgressOut,
    SubmitIn,
    ToleranceIn,
    ToleranceOut,
    amounts,
    decimal_text,
)
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.tracking.models import Link
from alliance.tracking.service import link_url

router = APIRouter(prefix="/api/v1", tags=["campaigns"])


# --- input -> service ----------------------------------------------------------------------


def goals_of(body: GoalsIn) -> campaigns.Goals:
    revenue = body.revenue
    return campaigns.Goals(
        clicks=body.clicks,
        orders=body.orders,
        revenue=revenue.money() if revenue is not None else None,
        currency=revenue.currency if revenue is not None else None,
    )


def tolerance_of(body: ToleranceIn) -> campaigns.Tolerance:
    return campaigns.Tolerance(percent=body.percent, clicks=body.clicks)


def invitee_of(body: PartyIn) -> campaigns.Invitee:
    return campaigns.Invitee(body.partner_id, body.advertiser_id, body.time_zone)


def terms_changes(body: CampaignPatch) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    for name in body.model_fields_set:
        value = getattr(body, name)
        if name == "goals":
            value = goals_of(value or GoalsIn())
        elif name == "tolerance":
            value = tolerance_of(value or ToleranceIn())
        elif value is None and name in ("title", "kind", "time_zone", "description"):
            raise InvalidInput(f"{name} cannot be null: leave it out to keep it", field=name)
        changes[name] = value
    return changes


def slot_spec(body: SlotIn) -> campaign_schedule.SlotSpec:
    return campaign_schedule.SlotSpec(
        promoter_party_id=body.promoter_party_id,
        program_id=body.program_id,
        channel=body.channel,
        title=body.title,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        beneficiary_party_id=body.beneficiary_party_id,
        notes=body.notes,
        landing_url=body.landing_url,
    )


def deliverable_spec(body: DeliverableIn) -> campaign_schedule.DeliverableSpec:
    return campaign_schedule.DeliverableSpec(
        party_id=body.party_id,
        title=body.title,
        due_at=body.due_at,
        description=body.description,
        reviewer_party_id=body.reviewer_party_id,
        slot_id=body.slot_id,
    )


def _given(body: SlotPatch | DeliverablePatch, required: frozenset[str]) -> dict[str, Any]:
    """The fields a PATCH names; null is refused on a field that cannot be empty."""
    for name in body.model_fields_set:
        if getattr(body, name) is None and name in required:
            raise InvalidInput(f"{name} cannot be null: leave it out to keep it", field=name)
    return {name: getattr(body, name) for name in body.model_fields_set}


# --- service -> output ---------------------------------------------------------------------


def local_text(moment: datetime, time_zone: str) -> str:
    return as_utc(moment).astimezone(zone(time_zone)).isoformat()


def due_out(item: campaign_schedule.DueItem | None, now: datetime) -> DueOut | None:
    if item is None:
        return None
    return DueOut(
        kind=item.kind,
        id=item.id,
        title=item.title,
        due_at=item.due_at,
        party_id=item.party_id,
        overdue=item.due_at <= now,
    )


def party_out(row: CampaignParty, campaign: Campaign, name: str) -> PartyOut:
    return PartyOut(
        id=row.id,
        role=PartyRole(row.role),
        partner_id=row.partner_id,
        advertiser_id=row.advertiser_id,
        name=name,
        time_zone=row.time_zone,
        accepted=campaigns.has_accepted(row, campaign),
        accepted_version=row.accepted_version,
        accepted_at=row.accepted_at,
        declined=campaigns.has_declined(row, campaign),
        declined_at=row.declined_at,
        decline_reason=row.decline_reason,
    )


def slot_out(row: CampaignSlot, campaign: Campaign, link: Link, program: str) -> SlotOut:
    return SlotOut(
        id=row.id,
        promoter_party_id=row.promoter_party_id,
        beneficiary_party_id=row.beneficiary_party_id,
        program_id=row.program_id,
        program_name=program,
        channel=Channel(row.channel),
        title=row.title,
        notes=row.notes,
        starts_at=row.starts_at,
        ends_at=row.ends_at,
        starts_local=local_text(row.starts_at, campaign.time_zone),
        link=LinkOut(
            id=link.id, code=link.code, url=link_url(link.code), partner_id=link.partner_id
        ),
        done_at=row.done_at,
        done_url=row.done_url,
    )


def deliverable_out(row: CampaignDeliverable, campaign: Campaign, now: datetime) -> DeliverableOut:
    owed = DeliverableStatus(row.status) in OWED
    return DeliverableOut(
        id=row.id,
        slot_id=row.slot_id,
        party_id=row.party_id,
        reviewer_party_id=row.reviewer_party_id,
        title=row.title,
        description=row.description,
        due_at=row.due_at,
        due_local=local_text(row.due_at, campaign.time_zone),
        status=DeliverableStatus(row.status),
        overdue=owed and as_utc(row.due_at) <= now,
        submission_url=row.submission_url,
        submission_note=row.submission_note,
        submissions=row.submissions,
        submitted_at=row.submitted_at,
        review_note=row.review_note,
        reviewed_at=row.reviewed_at,
    )


def calendar_url(campaign_id: str) -> str:
    return f"{get_settings().public_url.rstrip('/')}/api/v1/campaigns/{campaign_id}/calendar.ics"


def campaign_out(session: Session, campaign: Campaign, caller: Principal) -> CampaignOut:
    now = utcnow()
    rows = campaigns.parties(session, campaign.id)
    names = campaigns.party_names(session, rows)
    mine = campaigns.party_of(session, campaign, caller)
    slot_rows = campaigns.slots(session, campaign.id)
    links = {
        link.id: link
        for link in session.scalars(select(Link).where(Link.id.in_([s.link_id for s in slot_rows])))
    }
    programs = dict(
        session.execute(
            select(Program.id, Program.name).where(
                Program.id.in_({s.program_id for s in slot_rows})
            )
        ).all()
    )
    revenue = None
    if campaign.goal_revenue is not None and campaign.goal_currency is not None:
        revenue = Revenue(
            amount=amount_text(campaign.goal_revenue, campaign.goal_currency),
            currency=campaign.goal_currency,
        )
    return CampaignOut(
        id=campaign.id,
        title=campaign.title,
        description=campaign.description,
        kind=CampaignKind(campaign.kind),
        status=CampaignStatus(campaign.status),
        time_zone=campaign.time_zone,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        goals=GoalsOut(clicks=campaign.goal_clicks, orders=campaign.goal_orders, revenue=revenue),
        tolerance=ToleranceOut(
            percent=decimal_text(campaign.tolerance_percent), clicks=campaign.tolerance_clicks
        ),
        terms_version=campaign.terms_version,
        organiser_party_id=campaign.organiser_party_id,
        my_party_id=mine.id if mine is not None else None,
        parties=[party_out(p, campaign, names[p.id]) for p in rows],
        slots=[
            slot_out(s, campaign, links[s.link_id], programs.get(s.program_id, s.program_id))
            for s in slot_rows
        ],
        deliverables=[
            deliverable_out(d, campaign, now)
            for d in campaign_schedule.deliverables(session, campaign.id)
        ],
        next_due=due_out(campaign_schedule.next_due(session, campaign), now),
        calendar_url=calendar_url(campaign.id),
        created_by=campaign.created_by,
        created_at=campaign.created_at,
        updated_at=campaign.updated_at,
        proposed_at=campaign.proposed_at,
        agreed_at=campaign.agreed_at,
        live_at=campaign.live_at,
        completed_at=campaign.completed_at,
        cancelled_at=campaign.cancelled_at,
        cancelled_by=campaign.cancelled_by,
        cancel_reason=campaign.cancel_reason,
    )


def summary_out(session: Session, campaign: Campaign, caller: Principal) -> CampaignSummary:
    mine = campaigns.party_of(session, campaign, caller)
    count = session.scalar(
        select(func.count())
        .select_from(CampaignParty)
        .where(CampaignParty.campaign_id == campaign.id)
    )
    return CampaignSummary(
        id=campaign.id,
        title=campaign.title,
        kind=CampaignKind(campaign.kind),
        status=CampaignStatus(campaign.status),
        time_zone=campaign.time_zone,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        terms_version=campaign.terms_version,
        my_party_id=mine.id if mine is not None else None,
        accepted_by_me=campaigns.has_accepted(mine, campaign) if mine is not None else None,
        parties=int(count or 0),
        next_due=due_out(campaign_schedule.next_due(session, campaign), utcnow()),
    )


def progress_out(result: campaign_progress.Progress) -> ProgressOut:
    return ProgressOut(
        campaign_id=result.campaign_id,
        start=result.start,
        end_before=result.end_before,
        clicks=result.clicks,
        valid_clicks=result.valid_clicks,
        orders=result.orders,
        revenue=Revenue(
            amount=amount_text(result.revenue, result.currency), currency=result.currency
        )
        if result.revenue is not None and result.currency is not None
        else None,
        revenue_by_currency=amounts(result.revenue_by_currency),
        unconverted=amounts(result.unconverted),
        goals=[
            GoalOut(
                metric=g.metric,
                target=amount_text(g.target, g.currency) if g.currency else str(int(g.target)),
                value=amount_text(g.value, g.currency) if g.currency else str(int(g.value)),
                percent=decimal_text(g.percent),
                currency=g.currency,
            )
            for g in result.goals
        ],
        slots=[
            SlotProgressOut(
                slot_id=s.slot_id,
                link_id=s.link_id,
                clicks=s.clicks,
                valid_clicks=s.valid_clicks,
                orders=s.orders,
                revenue=amounts(s.revenue),
            )
            for s in result.slots
        ],
    )


# --- campaigns -----------------------------------------------------------------------------


@router.post("/campaigns", status_code=status.HTTP_201_CREATED, response_model=CampaignOut)
def post_campaign(body: CampaignCreate, caller: Anyone) -> CampaignOut:
    """A draft; the caller (a partner or an advertiser) is its organiser."""
    terms = campaigns.Terms(
        title=body.title,
        kind=body.kind,
        time_zone=body.time_zone,
        description=body.description,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        goals=goals_of(body.goals),
        tolerance=tolerance_of(body.tolerance),
    )
    with transaction() as session:
        campaign = campaigns.create_campaign(
            session, caller, terms, [invitee_of(p) for p in body.parties]
        )
        return campaign_out(session, campaign, caller)


@router.get("/campaigns", response_model=Page[CampaignSummary])
def list_campaigns(
    db: ReadDB,
    caller: Anyone,
    page: PageQuery,
    campaign_status: Annotated[CampaignStatus | None, Query(alias="status")] = None,
) -> Page[CampaignSummary]:
    """The caller's campaigns, newest first (the operator: all)."""
    conditions: list[ColumnElement[bool]] = [campaigns.visible_campaigns(caller)]
    conditions += given((Campaign.status, campaign_status))
    rows, cursor = fetch_page(db, select(Campaign).where(*conditions), Campaign.id, page)
    return Page(data=[summary_out(db, row, caller) for row in rows], next_cursor=cursor)


@router.get("/campaigns/{campaign_id}", response_model=CampaignOut)
def get_campaign(campaign_id: str, db: ReadDB, caller: Anyone) -> CampaignOut:
    return campaign_out(db, campaigns.get_campaign(db, campaign_id, caller), caller)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignOut)
def patch_campaign(campaign_id: str, body: CampaignPatch, caller: Anyone) -> CampaignOut:
    """Edit (the organiser). Changing the terms after proposing resets every acceptance."""
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        campaigns.update_campaign(session, campaign, caller, terms_changes(body))
        return campaign_out(session, campaign, caller)


def _act(campaign_id: str, caller: Principal, action: Any, *args: Any) -> CampaignOut:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        action(session, campaign, caller, *args)
        session.flush()
        return campaign_out(session, campaign, caller)


@router.post("/campaigns/{campaign_id}/propose", response_model=CampaignOut)
def propose(campaign_id: str, caller: Anyone) -> CampaignOut:
    """Send the draft to every party for acceptance (the organiser's own acceptance)."""
    return _act(campaign_id, caller, campaigns.propose)


@router.post("/campaigns/{campaign_id}/accept", response_model=CampaignOut)
def accept(
    campaign_id: str, caller: Anyone, body: Annotated[AcceptIn | None, Body()] = None
) -> CampaignOut:
    """Accept the current terms; the last acceptance makes the campaign active."""
    return _act(campaign_id, caller, campaigns.accept, body.version if body else None)


@router.post("/campaigns/{campaign_id}/decline", response_model=CampaignOut)
def decline(campaign_id: str, caller: Anyone, body: ReasonIn) -> CampaignOut:
    return _act(campaign_id, caller, campaigns.decline, body.reason)


@router.post("/campaigns/{campaign_id}/start", response_model=CampaignOut)
def start(campaign_id: str, caller: Anyone) -> CampaignOut:
    """The organiser starts an active campaign before its first slot."""
    return _act(campaign_id, caller, campaigns.start)


@router.post("/campaigns/{campaign_id}/complete", response_model=CampaignOut)
def complete(campaign_id: str, caller: Anyone) -> CampaignOut:
    return _act(campaign_id, caller, campaigns.complete)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignOut)
def cancel(campaign_id: str, caller: Anyone, body: ReasonIn) -> CampaignOut:
    """Any party (or the operator) stops an open campaign, with a reason."""
    return _act(campaign_id, caller, campaigns.cancel, body.reason)


@router.get("/campaigns/{campaign_id}/progress", response_model=ProgressOut)
def get_progress(campaign_id: str, db: ReadDB, caller: Anyone) -> ProgressOut:
    campaign = campaigns.get_campaign(db, campaign_id, caller)
    return progress_out(campaign_progress.progress(db, campaign))


@router.get(
    "/campaigns/{campaign_id}/calendar.ics",
    response_class=Response,
    responses={200: {"content": {campaign_ical.MEDIA_TYPE: {}}}},
)
def get_calendar(campaign_id: str, db: ReadDB, caller: Anyone) -> Response:
    """The schedule as iCalendar: one event per slot and per deliverable due date."""
    campaign = campaigns.get_campaign(db, campaign_id, caller)
    return campaign_ical.response(db, campaign)


# --- parties -------------------------------------------------------------------------------


@router.post(
    "/campaigns/{campaign_id}/parties",
    status_code=status.HTTP_201_CREATED,
    response_model=CampaignOut,
)
def post_party(campaign_id: str, body: PartyIn, caller: Anyone) -> CampaignOut:
    return _act(campaign_id, caller, campaigns.add_party, invitee_of(body))


@router.delete("/campaigns/{campaign_id}/parties/{party_id}", response_model=CampaignOut)
def delete_party(campaign_id: str, party_id: str, caller: Anyone) -> CampaignOut:
    return _act(campaign_id, caller, campaigns.remove_party, party_id)


@router.put("/campaigns/{campaign_id}/parties/me/time-zone", response_model=CampaignOut)
def put_my_time_zone(campaign_id: str, body: PartyZoneIn, caller: Anyone) -> CampaignOut:
    """The zone of your own reminders (null: the campaign's). Not a term."""
    return _act(campaign_id, caller, campaigns.set_party_time_zone, body.time_zone)


# --- slots ---------------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/slots", response_model=list[SlotOut])
def list_slots(campaign_id: str, db: ReadDB, caller: Anyone) -> list[SlotOut]:
    campaign = campaigns.get_campaign(db, campaign_id, caller)
    return campaign_out(db, campaign, caller).slots


def _slot_answer(session: Session, campaign: Campaign, caller: Principal, slot_id: str) -> SlotOut:
    found = [s for s in campaign_out(session, campaign, caller).slots if s.id == slot_id]
    return found[0]


@router.post(
    "/campaigns/{campaign_id}/slots", status_code=status.HTTP_201_CREATED, response_model=SlotOut
)
def post_slot(campaign_id: str, body: SlotIn, caller: Anyone) -> SlotOut:
    """A slot with its own tracking link (the link's partner must be approved in the program).
    Adding one after proposing asks every party to accept again."""
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.add_slot(session, campaign, caller, slot_spec(body))
        return _slot_answer(session, campaign, caller, row.id)


@router.get("/campaigns/{campaign_id}/slots/{slot_id}", response_model=SlotOut)
def get_slot(campaign_id: str, slot_id: str, db: ReadDB, caller: Anyone) -> SlotOut:
    campaign = campaigns.get_campaign(db, campaign_id, caller)
    row = campaign_schedule.get_slot(db, campaign, slot_id)
    return _slot_answer(db, campaign, caller, row.id)


@router.patch("/campaigns/{campaign_id}/slots/{slot_id}", response_model=SlotOut)
def patch_slot(campaign_id: str, slot_id: str, body: SlotPatch, caller: Anyone) -> SlotOut:
    required = frozenset(
        {"promoter_party_id", "program_id", "channel", "title", "notes", "starts_at", "ends_at"}
    )
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_slot(session, campaign, slot_id)
        campaign_schedule.update_slot(session, campaign, caller, row, _given(body, required))
        return _slot_answer(session, campaign, caller, row.id)


@router.delete("/campaigns/{campaign_id}/slots/{slot_id}", status_code=204)
def delete_slot(campaign_id: str, slot_id: str, caller: Anyone) -> None:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_slot(session, campaign, slot_id)
        campaign_schedule.delete_slot(session, campaign, caller, row)


@router.post("/campaigns/{campaign_id}/slots/{slot_id}/done", response_model=SlotOut)
def post_slot_done(
    campaign_id: str, slot_id: str, caller: Anyone, body: Annotated[DoneIn | None, Body()] = None
) -> SlotOut:
    """The promoter says the promotion went out: its reminders stop."""
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_slot(session, campaign, slot_id)
        campaign_schedule.mark_slot_done(session, campaign, caller, row, body.url if body else None)
        session.flush()
        return _slot_answer(session, campaign, caller, row.id)


# --- deliverables --------------------------------------------------------------------------


@router.get("/campaigns/{campaign_id}/deliverables", response_model=list[DeliverableOut])
def list_deliverables(campaign_id: str, db: ReadDB, caller: Anyone) -> list[DeliverableOut]:
    campaign = campaigns.get_campaign(db, campaign_id, caller)
    now = utcnow()
    return [
        deliverable_out(d, campaign, now) for d in campaign_schedule.deliverables(db, campaign.id)
    ]


@router.post(
    "/campaigns/{campaign_id}/deliverables",
    status_code=status.HTTP_201_CREATED,
    response_model=DeliverableOut,
)
def post_deliverable(campaign_id: str, body: DeliverableIn, caller: Anyone) -> DeliverableOut:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.add_deliverable(session, campaign, caller, deliverable_spec(body))
        return deliverable_out(row, campaign, utcnow())


@router.patch(
    "/campaigns/{campaign_id}/deliverables/{deliverable_id}", response_model=DeliverableOut
)
def patch_deliverable(
    campaign_id: str, deliverable_id: str, body: DeliverablePatch, caller: Anyone
) -> DeliverableOut:
    required = frozenset({"party_id", "title", "description", "due_at"})
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.update_deliverable(session, campaign, caller, row, _given(body, required))
        return deliverable_out(row, campaign, utcnow())


@router.delete("/campaigns/{campaign_id}/deliverables/{deliverable_id}", status_code=204)
def delete_deliverable(campaign_id: str, deliverable_id: str, caller: Anyone) -> None:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.delete_deliverable(session, campaign, caller, row)


@router.post(
    "/campaigns/{campaign_id}/deliverables/{deliverable_id}/submit", response_model=DeliverableOut
)
def submit_deliverable(
    campaign_id: str, deliverable_id: str, body: SubmitIn, caller: Anyone
) -> DeliverableOut:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.submit_deliverable(session, campaign, caller, row, body.url, body.note)
        return deliverable_out(row, campaign, utcnow())


def _review(
    campaign_id: str, deliverable_id: str, caller: Principal, note: str, *, approve: bool
) -> DeliverableOut:
    with transaction() as session:
        campaign = campaigns.get_campaign(session, campaign_id, caller, for_update=True)
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.review_deliverable(
            session, campaign, caller, row, approve=approve, note=note
        )
        return deliverable_out(row, campaign, utcnow())


@router.post(
    "/campaigns/{campaign_id}/deliverables/{deliverable_id}/approve", response_model=DeliverableOut
)
def approve_deliverable(
    campaign_id: str,
    deliverable_id: str,
    caller: Anyone,
    body: Annotated[ReviewIn | None, Body()] = None,
) -> DeliverableOut:
    return _review(campaign_id, deliverable_id, caller, body.note if body else "", approve=True)


@router.post(
    "/campaigns/{campaign_id}/deliverables/{deliverable_id}/request-changes",
    response_model=DeliverableOut,
)
def request_changes(
    campaign_id: str, deliverable_id: str, caller: Anyone, body: ReviewIn
) -> DeliverableOut:
    """Send a submission back with a note saying what should change."""
    return _review(campaign_id, deliverable_id, caller, body.note, approve=False)
