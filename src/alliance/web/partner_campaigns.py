"""Co-promotion campaigns in the partner dashboard (docs/copromotion-campaigns.md).

- /partner/campaigns                 my campaigns: state, period, next due item, my answer;
                                     a form to start a draft with other partners
- /partner/campaigns/{id}            parties and their acceptance, progress against the goals,
                                     slots with their tracking links, deliverables and review
- /partner/campaigns/{id}/calendar.ics  the schedule for a calendar (the session's, like the
                                     API's file)

Every action posts to the same service functions as /api/v1/campaigns, under the same row
lock and with the same refusals: a refusal re-renders the page with the sentence and the
field at fault. Times are shown in the campaign's time zone, named next to them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.clock import as_utc, utcnow
from alliance.crosspromo import campaign_ical, campaign_progress, campaign_schedule, campaigns
from alliance.crosspromo.campaign_models import Campaign, CampaignDeliverable, CampaignSlot
from alliance.crosspromo.campaign_rules import (
    AGREED_STATES,
    OPEN_STATES,
    OWED,
    CampaignKind,
    CampaignStatus,
    Channel,
    DeliverableStatus,
    PartyRole,
)
from alliance.crosspromo.campaign_schemas import (
    CampaignCreate,
    DeliverableIn,
    DoneIn,
    PartyIn,
    ReasonIn,
    ReviewIn,
    SlotIn,
    SubmitIn,
)
from alliance.crosspromo.campaigns_api import deliverable_spec, slot_spec
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.programs.models import Program
from alliance.tracking.models import Link
from alliance.tracking.service import link_url
from alliance.web import i18n
from alliance.web.i18n import N_, _
from alliance.web.partner_common import invalid_from, redirect
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import DASH, _datetime_patterns, render

router = APIRouter()

KIND_LABELS: dict[str, str] = {
    CampaignKind.content.value: N_("Content or guest post"),
    CampaignKind.social.value: N_("Social"),
    CampaignKind.email.value: N_("E-mail"),
    CampaignKind.bundle.value: N_("Bundle"),
    CampaignKind.event.value: N_("Event or webinar"),
    CampaignKind.podcast.value: N_("Podcast"),
    CampaignKind.contest.value: N_("Contest"),
}


def kind_text(kind: str) -> str:
    label = KIND_LABELS.get(kind)
    return _(label) if label else kind


def kind_options() -> list[tuple[str, str]]:
    return [(value, _(label)) for value, label in KIND_LABELS.items()]


LIST_LIMIT = 200
DEFAULT_TIME_ZONE = "Europe/Berlin"


def local_when(value: datetime | None, time_zone: str) -> str:
    """A moment on the wall clock of `time_zone`, in the reader's format, the zone named
    ("Mar 29, 2027, 9:00 AM Europe/Berlin")."""
    if value is None:
        return DASH
    locale = i18n.current()
    date_pattern, time_pattern, combine = _datetime_patterns(locale)
    moment = as_utc(value).astimezone(ZoneInfo(time_zone))
    babel_locale = i18n.format_locale(locale)
    text = combine.format(
        time_pattern.apply(moment, babel_locale), date_pattern.apply(moment, babel_locale)
    )
    return f"{text} {time_zone}"


def _principal(viewer: Viewer) -> Principal:
    return viewer.principal


# --- the list ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Listed:
    campaign: Campaign
    next_due: campaign_schedule.DueItem | None
    overdue: bool
    accepted: bool
    to_answer: bool  # proposed, and this partner has not answered the current terms


def _list_page(request: Request, viewer: Viewer, *, status: int = 200, **extra: Any) -> Response:
    now = utcnow()
    with reading() as session:
        rows = session.scalars(
            select(Campaign)
            .where(campaigns.visible_campaigns(_principal(viewer)))
            .order_by(Campaign.id.desc())
            .limit(LIST_LIMIT)
        ).all()
        listed = []
        for row in rows:
            mine = campaigns.party_of(session, row, _principal(viewer))
            due = campaign_schedule.next_due(session, row)
            accepted = mine is not None and campaigns.has_accepted(mine, row)
            declined = mine is not None and campaigns.has_declined(mine, row)
            listed.append(
                Listed(
                    campaign=row,
                    next_due=due,
                    overdue=due is not None and due.due_at <= now,
                    accepted=accepted,
                    to_answer=row.status == CampaignStatus.proposed.value
                    and not accepted
                    and not declined,
                )
            )
    context = {
        "listed": listed,
        "kind_options": kind_options(),
        "kind_text": kind_text,
        "form": extra.pop("form", {"time_zone": DEFAULT_TIME_ZONE, "kind": "content"}),
        "local_when": local_when,
        **extra,
    }
    return render(request, "partner/campaigns.html", context, status=status)


@router.get("/partner/campaigns", response_class=HTMLResponse)
def campaigns_page(request: Request, viewer: PartnerPage) -> Response:
    return _list_page(request, viewer)


def _parse_local(raw: str, time_zone: str, field: str) -> str | None:
    """A `datetime-local` field (2027-03-29T09:00) read on the wall clock of `time_zone`."""
    text = raw.strip()
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field} must be a date and time such as 2027-03-29T09:00", field=field
        ) from None
    if moment.tzinfo is None:
        try:
            moment = moment.replace(tzinfo=ZoneInfo(time_zone))
        except (ValueError, KeyError):
            raise InvalidInput("choose a valid time zone first", field="time_zone") from None
    return moment.isoformat()


@router.post("/partner/campaigns")
def create_campaign(
    request: Request,
    viewer: PartnerAction,
    title: Annotated[str, Form(max_length=400)] = "",
    kind: Annotated[str, Form(max_length=32)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "",
    starts_at: Annotated[str, Form(max_length=40)] = "",
    ends_at: Annotated[str, Form(max_length=40)] = "",
    partners: Annotated[str, Form(max_length=4000)] = "",
    description: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """A draft organised by the signed-in partner, with the partners named by id."""
    form = {
        "title": title,
        "kind": kind,
        "time_zone": time_zone,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "partners": partners,
        "description": description,
    }
    try:
        ids = [p for p in partners.replace(",", " ").split() if p]
        try:
            body = CampaignCreate.model_validate(
                {
                    "title": title,
                    "kind": kind,
                    "time_zone": time_zone.strip(),
                    "description": description,
                    "starts_at": _parse_local(starts_at, time_zone.strip(), "starts_at"),
                    "ends_at": _parse_local(ends_at, time_zone.strip(), "ends_at"),
                    "parties": [{"partner_id": p} for p in ids],
                }
            )
        except ValidationError as exc:
            refusal = invalid_from(exc)
            if refusal.field and refusal.field.startswith("parties"):
                refusal = InvalidInput(refusal.detail, field="partners")
            raise refusal from None
        terms = campaigns.Terms(
            title=body.title,
            kind=body.kind,
            time_zone=body.time_zone,
            description=body.description,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
        )
        with transaction() as session:
            campaign = campaigns.create_campaign(
                session,
                _principal(viewer),
                terms,
                [campaigns.Invitee(partner_id=p.partner_id) for p in body.parties],
            )
            campaign_id = campaign.id
    except AllianceError as exc:
        field = exc.field
        if field and field.startswith("parties"):
            field = "partners"
        return _list_page(
            request, viewer, status=exc.status, error=exc.detail, error_field=field, form=form
        )
    return redirect(
        f"/partner/campaigns/{campaign_id}", _("Draft created: add its slots, then propose it")
    )


# --- one campaign --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShownParty:
    id: str
    name: str
    role: str
    is_me: bool
    accepted: bool
    declined: bool
    decline_reason: str | None
    accepted_at: datetime | None


@dataclass(frozen=True, slots=True)
class ShownSlot:
    slot: CampaignSlot
    promoter: str
    beneficiary: str
    program: str
    url: str
    mine: bool  # the signed-in partner promotes it
    starts: str
    ends: str


@dataclass(frozen=True, slots=True)
class ShownDeliverable:
    item: CampaignDeliverable
    party: str
    reviewer: str
    due: str
    overdue: bool
    mine: bool  # the signed-in partner delivers it
    reviewing: bool  # the signed-in partner reviews it


@dataclass(frozen=True, slots=True)
class ShownGoal:
    metric: str
    label: str
    target: str
    value: str
    percent: float | None  # for the bar: capped at 100


def _goals(result: campaign_progress.Progress) -> list[ShownGoal]:
    from alliance.web.templating import money, number

    labels = {"clicks": _("Valid clicks"), "orders": _("Orders"), "revenue": _("Revenue")}
    shown = []
    for goal in result.goals:
        if goal.currency:
            target, value = money(goal.target, goal.currency), money(goal.value, goal.currency)
        else:
            target, value = number(goal.target), number(goal.value)
        bar = min(float(goal.percent), 100.0) if goal.percent is not None else None
        shown.append(ShownGoal(goal.metric, labels[goal.metric], target, value, bar))
    return shown


def _campaign_page(
    request: Request, viewer: Viewer, campaign_id: str, *, status: int = 200, **extra: Any
) -> Response:
    who = _principal(viewer)
    now = utcnow()
    with reading() as session:
        campaign = campaigns.get_campaign(session, campaign_id, who)
        context = _campaign_context(session, campaign, who, now)
    context["kind_text"] = kind_text
    return render(request, "partner/campaign.html", {**context, **extra}, status=status)


def _campaign_context(
    session: Session, campaign: Campaign, who: Principal, now: datetime
) -> dict[str, Any]:
    tz = campaign.time_zone
    rows = campaigns.parties(session, campaign.id)
    names = campaigns.party_names(session, rows)
    mine = campaigns.party_of(session, campaign, who)
    my_id = mine.id if mine is not None else None
    parties = [
        ShownParty(
            id=p.id,
            name=names[p.id],
            role=p.role,
            is_me=p.id == my_id,
            accepted=campaigns.has_accepted(p, campaign),
            declined=campaigns.has_declined(p, campaign),
            decline_reason=p.decline_reason,
            accepted_at=p.accepted_at,
        )
        for p in rows
    ]
    slot_rows = campaigns.slots(session, campaign.id)
    codes = dict(
        session.execute(
            select(Link.id, Link.code).where(Link.id.in_([s.link_id for s in slot_rows]))
        ).all()
    )
    programs = dict(
        session.execute(
            select(Program.id, Program.name).where(
                Program.id.in_({s.program_id for s in slot_rows})
            )
        ).all()
    )
    slots = [
        ShownSlot(
            slot=s,
            promoter=names.get(s.promoter_party_id, ""),
            beneficiary=names.get(s.beneficiary_party_id or "", ""),
            program=programs.get(s.program_id, s.program_id),
            url=link_url(codes[s.link_id]),
            mine=s.promoter_party_id == my_id,
            starts=local_when(s.starts_at, tz),
            ends=local_when(s.ends_at, tz),
        )
        for s in slot_rows
    ]
    deliverables = [
        ShownDeliverable(
            item=d,
            party=names.get(d.party_id, ""),
            reviewer=names.get(d.reviewer_party_id, ""),
            due=local_when(d.due_at, tz),
            overdue=DeliverableStatus(d.status) in OWED and as_utc(d.due_at) <= now,
            mine=d.party_id == my_id,
            reviewing=d.reviewer_party_id == my_id,
        )
        for d in campaign_schedule.deliverables(session, campaign.id)
    ]
    result = campaign_progress.progress(session, campaign, now)
    status = CampaignStatus(campaign.status)
    organiser = mine is not None and mine.role == PartyRole.organiser.value
    accepted = mine is not None and campaigns.has_accepted(mine, campaign)
    due = campaign_schedule.next_due(session, campaign)
    editing = organiser and status in OPEN_STATES
    return {
        "campaign": campaign,
        "status": status.value,
        "can_edit": editing,
        "party_options": [(p.id, p.name) for p in parties],
        "partner_party_options": [(p.id, names[p.id]) for p in rows if p.partner_id],
        "slot_options": [(s.id, s.title) for s in slot_rows],
        "channel_options": [(c.value, c.value) for c in Channel],
        "program_options": _program_options(session, rows) if editing else [],
        "form": {},
        "open_form": None,
        "parties": parties,
        "slots": slots,
        "deliverables": deliverables,
        "progress": result,
        "goals": _goals(result),
        "next_due": due,
        "next_due_when": local_when(due.due_at, tz) if due else None,
        "period": (local_when(campaign.starts_at, tz), local_when(campaign.ends_at, tz)),
        "is_organiser": organiser,
        "can_answer": status is CampaignStatus.proposed and mine is not None and not accepted,
        "can_decline": status is CampaignStatus.proposed and mine is not None and not organiser,
        "can_propose": organiser and status is CampaignStatus.draft,
        "can_start": organiser and status is CampaignStatus.active,
        "can_complete": organiser and status is CampaignStatus.live,
        "can_cancel": status in OPEN_STATES and mine is not None,
        "agreed": status in AGREED_STATES,
        "calendar_url": f"/partner/campaigns/{campaign.id}/calendar.ics",
    }


def _program_options(session: Session, rows: list[Any]) -> list[tuple[str, str]]:
    """Programs a slot can promote, to pick from: the advertiser parties' programs and those
    a partner party is approved in (active ones; others can still be typed by id)."""
    from alliance.programs.models import Enrollment, EnrollmentStatus

    partner_ids = [p.partner_id for p in rows if p.partner_id]
    advertiser_ids = [p.advertiser_id for p in rows if p.advertiser_id]
    approved = select(Enrollment.program_id).where(
        Enrollment.partner_id.in_(partner_ids),
        Enrollment.status == EnrollmentStatus.approved.value,
    )
    found = session.execute(
        select(Program.id, Program.name)
        .where(
            Program.status == "active",
            Program.id.in_(approved) | Program.advertiser_id.in_(advertiser_ids),
        )
        .order_by(Program.name, Program.id)
        .limit(200)
    ).all()
    return [(program_id, name) for program_id, name in found]


@router.get("/partner/campaigns/{campaign_id}", response_class=HTMLResponse)
def campaign_page(request: Request, viewer: PartnerPage, campaign_id: str) -> Response:
    return _campaign_page(request, viewer, campaign_id)


@router.get("/partner/campaigns/{campaign_id}/calendar.ics")
def campaign_calendar(viewer: PartnerPage, campaign_id: str) -> Response:
    with reading() as session:
        campaign = campaigns.get_campaign(session, campaign_id, _principal(viewer))
        return campaign_ical.response(session, campaign)


def _run(
    request: Request,
    viewer: Viewer,
    campaign_id: str,
    done: str,
    action: Any,
    anchor: str = "",
) -> Response:
    """Lock the campaign, run one service action, come back to the page (or show why not)."""
    try:
        with transaction() as session:
            campaign = campaigns.get_campaign(
                session, campaign_id, _principal(viewer), for_update=True
            )
            action(session, campaign)
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _campaign_page(
            request, viewer, campaign_id, status=exc.status, error=exc.detail, error_field=exc.field
        )
    return redirect(f"/partner/campaigns/{campaign_id}{anchor}", done)


def _validated(model: Any, data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise invalid_from(exc) from None


@router.post("/partner/campaigns/{campaign_id}/accept")
def accept(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    version: Annotated[int, Form(ge=1, le=1_000_000)],
) -> Response:
    """The version shown on the page: terms changed meanwhile are refused, not accepted."""
    who = _principal(viewer)
    return _run(
        request,
        viewer,
        campaign_id,
        _("You accepted the terms"),
        lambda s, c: campaigns.accept(s, c, who, version),
    )


@router.post("/partner/campaigns/{campaign_id}/decline")
def decline(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    reason: Annotated[str, Form(alias="decline_reason", max_length=4000)] = "",
) -> Response:
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        try:
            body = ReasonIn.model_validate({"reason": reason})
        except ValidationError:
            raise InvalidInput("say why you decline", field="decline_reason") from None
        campaigns.decline(session, campaign, who, body.reason)

    return _run(request, viewer, campaign_id, _("You declined the terms"), act)


@router.post("/partner/campaigns/{campaign_id}/cancel")
def cancel(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    reason: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        body = _validated(ReasonIn, {"reason": reason})
        campaigns.cancel(session, campaign, who, body.reason)

    return _run(request, viewer, campaign_id, _("Campaign cancelled"), act)


@router.post("/partner/campaigns/{campaign_id}/propose")
def propose(request: Request, viewer: PartnerAction, campaign_id: str) -> Response:
    who = _principal(viewer)
    return _run(
        request,
        viewer,
        campaign_id,
        _("Proposed: every party is asked to accept"),
        lambda s, c: campaigns.propose(s, c, who),
    )


@router.post("/partner/campaigns/{campaign_id}/start")
def start(request: Request, viewer: PartnerAction, campaign_id: str) -> Response:
    who = _principal(viewer)
    return _run(
        request,
        viewer,
        campaign_id,
        _("The campaign is live"),
        lambda s, c: campaigns.start(s, c, who),
    )


@router.post("/partner/campaigns/{campaign_id}/complete")
def complete(request: Request, viewer: PartnerAction, campaign_id: str) -> Response:
    who = _principal(viewer)
    return _run(
        request,
        viewer,
        campaign_id,
        _("The campaign is completed"),
        lambda s, c: campaigns.complete(s, c, who),
    )


@router.post("/partner/campaigns/{campaign_id}/slots/{slot_id}/done")
def slot_done(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    slot_id: str,
    url: Annotated[str, Form(max_length=4096)] = "",
) -> Response:
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        body = _validated(DoneIn, {"url": url.strip() or None})
        slot = campaign_schedule.get_slot(session, campaign, slot_id)
        campaign_schedule.mark_slot_done(session, campaign, who, slot, body.url)

    return _run(request, viewer, campaign_id, _("Marked as run"), act, f"#{slot_id}")


@router.post("/partner/campaigns/{campaign_id}/deliverables/{deliverable_id}/submit")
def submit(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    deliverable_id: str,
    url: Annotated[str, Form(max_length=4096)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        body = _validated(SubmitIn, {"url": url.strip() or None, "note": note})
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.submit_deliverable(session, campaign, who, row, body.url, body.note)

    return _run(request, viewer, campaign_id, _("Handed in for review"), act, f"#{deliverable_id}")


@router.post("/partner/campaigns/{campaign_id}/deliverables/{deliverable_id}/review")
def review(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    deliverable_id: str,
    decision: Annotated[str, Form(max_length=20)] = "",
    note: Annotated[str, Form(max_length=4000)] = "",
) -> Response:
    """One form, two buttons: `decision` is approve or changes."""
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        if decision not in ("approve", "changes"):
            raise InvalidInput("choose approve or ask for changes", field="decision")
        body = _validated(ReviewIn, {"note": note})
        row = campaign_schedule.get_deliverable(session, campaign, deliverable_id)
        campaign_schedule.review_deliverable(
            session, campaign, who, row, approve=decision == "approve", note=body.note
        )

    message = _("Approved") if decision == "approve" else _("Changes requested")
    return _run(request, viewer, campaign_id, message, act, f"#{deliverable_id}")


# --- the organiser's forms -----------------------------------------------------------------


def _local_form_time(raw: str, campaign: Campaign, field: str) -> str | None:
    return _parse_local(raw, campaign.time_zone, field)


def _form_run(
    request: Request,
    viewer: Viewer,
    campaign_id: str,
    done: str,
    form_name: str,
    form: dict[str, Any],
    action: Any,
    anchor: str,
) -> Response:
    """Like `_run`, but a refusal keeps what was typed in the form it came from."""
    try:
        with transaction() as session:
            campaign = campaigns.get_campaign(
                session, campaign_id, _principal(viewer), for_update=True
            )
            action(session, campaign)
    except AllianceError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return _campaign_page(
            request,
            viewer,
            campaign_id,
            status=exc.status,
            error=exc.detail,
            error_field=exc.field,
            open_form=form_name,
            form=form,
        )
    return redirect(f"/partner/campaigns/{campaign_id}{anchor}", done)


@router.post("/partner/campaigns/{campaign_id}/parties")
def add_party(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    account_id: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    """A partner (ptn_…) or an advertiser (adv_…) joins; after proposing, a change of terms."""
    who = _principal(viewer)
    text = account_id.strip()

    def act(session: Session, campaign: Campaign) -> None:
        try:
            body = PartyIn.model_validate(
                {"advertiser_id": text} if text.startswith("adv_") else {"partner_id": text}
            )
        except ValidationError:
            raise InvalidInput(
                "give a partner id (ptn_…) or an advertiser id (adv_…)", field="account_id"
            ) from None
        try:
            campaigns.add_party(
                session, campaign, who, campaigns.Invitee(body.partner_id, body.advertiser_id)
            )
        except AllianceError as exc:
            if exc.field and exc.field.startswith("party"):
                raise InvalidInput(exc.detail, field="account_id") from None
            raise

    form = {"account_id": account_id}
    return _form_run(request, viewer, campaign_id, _("Party added"), "party", form, act, "#answer")


@router.post("/partner/campaigns/{campaign_id}/slots")
def add_slot(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    promoter_party_id: Annotated[str, Form(max_length=40)] = "",
    beneficiary_party_id: Annotated[str, Form(max_length=40)] = "",
    program_id: Annotated[str, Form(max_length=40)] = "",
    channel: Annotated[str, Form(max_length=20)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    starts_at: Annotated[str, Form(max_length=40)] = "",
    ends_at: Annotated[str, Form(max_length=40)] = "",
    landing_url: Annotated[str, Form(max_length=4096)] = "",
    notes: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    """A slot with its own tracking link; the times are on the campaign's clock."""
    who = _principal(viewer)
    form = {
        "promoter_party_id": promoter_party_id,
        "beneficiary_party_id": beneficiary_party_id,
        "program_id": program_id.strip(),
        "channel": channel,
        "title": title,
        "starts_at": starts_at,
        "ends_at": ends_at,
        "landing_url": landing_url,
        "notes": notes,
    }

    def act(session: Session, campaign: Campaign) -> None:
        body = _validated(
            SlotIn,
            {
                **form,
                "beneficiary_party_id": beneficiary_party_id or None,
                "landing_url": landing_url.strip() or None,
                "starts_at": _local_form_time(starts_at, campaign, "starts_at"),
                "ends_at": _local_form_time(ends_at, campaign, "ends_at"),
            },
        )
        campaign_schedule.add_slot(session, campaign, who, slot_spec(body))

    return _form_run(
        request, viewer, campaign_id, _("Slot scheduled"), "slot", form, act, "#schedule"
    )


@router.post("/partner/campaigns/{campaign_id}/slots/{slot_id}/delete")
def delete_slot(
    request: Request, viewer: PartnerAction, campaign_id: str, slot_id: str
) -> Response:
    who = _principal(viewer)

    def act(session: Session, campaign: Campaign) -> None:
        campaign_schedule.delete_slot(
            session, campaign, who, campaign_schedule.get_slot(session, campaign, slot_id)
        )

    return _run(request, viewer, campaign_id, _("Slot removed"), act, "#schedule")


@router.post("/partner/campaigns/{campaign_id}/deliverables")
def add_deliverable(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    party_id: Annotated[str, Form(max_length=40)] = "",
    reviewer_party_id: Annotated[str, Form(max_length=40)] = "",
    slot_id: Annotated[str, Form(max_length=40)] = "",
    title: Annotated[str, Form(max_length=400)] = "",
    due_at: Annotated[str, Form(max_length=40)] = "",
    description: Annotated[str, Form(max_length=8000)] = "",
) -> Response:
    who = _principal(viewer)
    form = {
        "party_id": party_id,
        "reviewer_party_id": reviewer_party_id,
        "slot_id": slot_id,
        "title": title,
        "due_at": due_at,
        "description": description,
    }

    def act(session: Session, campaign: Campaign) -> None:
        body = _validated(
            DeliverableIn,
            {
                **form,
                "reviewer_party_id": reviewer_party_id or None,
                "slot_id": slot_id or None,
                "due_at": _local_form_time(due_at, campaign, "due_at"),
            },
        )
        campaign_schedule.add_deliverable(session, campaign, who, deliverable_spec(body))

    return _form_run(
        request,
        viewer,
        campaign_id,
        _("Deliverable requested"),
        "deliverable",
        form,
        act,
        "#deliverables",
    )
