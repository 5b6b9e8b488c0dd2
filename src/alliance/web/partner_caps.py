"""/partner/campaigns/{id}/fatigue: a campaign's audience-fatigue caps and the conversion
rate by exposure count on its links (docs/fatigue-caps.md). Read-only: rules are set through
/api/v1/fatigue-caps; every party of the campaign sees this page, others get a 404."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from alliance.crosspromo import campaigns, caps
from alliance.crosspromo.campaign_models import CampaignSlot
from alliance.crosspromo.campaign_rules import PartyRole
from alliance.crosspromo.caps_report import MAX_DEPTH
from alliance.crosspromo.caps_rules import CapScope, CapWindow
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.web.i18n import N_, _
from alliance.web.partner_common import redirect
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import DASH, render

router = APIRouter()

SCOPE_LABELS: dict[str, str] = {
    CapScope.network.value: N_("Whole network"),
    CapScope.campaign.value: N_("This campaign"),
    CapScope.slot.value: N_("One slot"),
    CapScope.pair.value: N_("Partner pair"),
}


def window_text(window: str, hours: int | None, time_zone: str) -> str:
    if window == CapWindow.rolling.value:
        return _("last %(hours)s hours", hours=hours)
    if window == CapWindow.calendar_day.value:
        return _("per calendar day (%(zone)s)", zone=time_zone)
    return _("lifetime")


def percent(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f} %"


@router.get("/partner/campaigns/{campaign_id}/fatigue", response_class=HTMLResponse)
def fatigue_page(
    request: Request,
    viewer: PartnerPage,
    campaign_id: str,
    depth: Annotated[int, Query(ge=1, le=MAX_DEPTH)] = 3,
) -> Response:
    return _page(request, viewer, campaign_id, depth)


def _page(
    request: Request,
    viewer: Viewer,
    campaign_id: str,
    depth: int = 3,
    *,
    status: int = 200,
    **extra: Any,
) -> Response:
    who = viewer.principal
    with reading() as session:
        campaign = campaigns.get_campaign(session, campaign_id, who)
        mine = campaigns.party_of(session, campaign, who)
        is_organiser = mine is not None and mine.role == PartyRole.organiser.value
        parties = campaigns.parties(session, campaign.id)
        names = campaigns.party_names(session, parties)
        # A pair rule pairs the organiser with one of the campaign's other partners.
        partner_options = [
            (p.partner_id, names.get(p.id, p.partner_id))
            for p in parties
            if p.partner_id is not None and p.partner_id != who.id
        ]
        rules = caps.list_rules(session, who, campaign.id)
        rows = caps.campaign_exposure_report(session, who, campaign.id, depth)
        slot_titles = dict(
            session.execute(
                select(CampaignSlot.id, CampaignSlot.title).where(
                    CampaignSlot.campaign_id == campaign.id
                )
            ).all()
        )
    context = {
        "campaign": campaign,
        "rules": rules,
        "rows": rows,
        "depth": depth,
        "max_depth": MAX_DEPTH,
        "slot_titles": slot_titles,
        "scope_text": lambda scope: _(SCOPE_LABELS[scope]),
        "window_text": window_text,
        "percent": percent,
        "is_organiser": is_organiser,
        "partner_options": partner_options,
        "scope_options": [
            (value, _(label)) for value, label in SCOPE_LABELS.items() if value != "network"
        ],
        "window_options": [
            (CapWindow.rolling.value, _("Rolling hours")),
            (CapWindow.calendar_day.value, _("Calendar day")),
            (CapWindow.lifetime.value, _("Lifetime")),
        ],
        "form": extra.pop("form", {"scope": "campaign", "window": "calendar_day"}),
        **extra,
    }
    return render(request, "partner/campaign_fatigue.html", context, status=status)


def _whole_number(raw: str, field: str) -> int | None:
    text = raw.strip()
    if not text:
        return None
    if not text.isdigit() or len(text) > 6:
        raise InvalidInput("a whole number", field=field)
    return int(text)


@router.post("/partner/campaigns/{campaign_id}/fatigue")
def add_rule(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    scope: Annotated[str, Form(max_length=16)] = "",
    maximum: Annotated[str, Form(max_length=16)] = "",
    window: Annotated[str, Form(max_length=16)] = "",
    window_hours: Annotated[str, Form(max_length=16)] = "",
    time_zone: Annotated[str, Form(max_length=64)] = "",
    slot_id: Annotated[str, Form(max_length=40)] = "",
    partner_id: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """The organiser adds a campaign, slot or pair rule; a refusal keeps what was typed."""
    who = viewer.principal
    form = {
        "scope": scope,
        "maximum": maximum,
        "window": window,
        "window_hours": window_hours,
        "time_zone": time_zone,
        "slot_id": slot_id,
        "partner_id": partner_id,
    }
    try:
        if scope not in {s.value for s in CapScope} or scope == CapScope.network.value:
            raise InvalidInput("choose a scope", field="scope")
        if window not in {w.value for w in CapWindow}:
            raise InvalidInput("choose a window", field="window")
        count = _whole_number(maximum, "maximum")
        if count is None:
            raise InvalidInput("how many exposures a visitor may have", field="maximum")
        hours = _whole_number(window_hours, "window_hours") if window == "rolling" else None
        terms = caps.RuleTerms(
            scope=CapScope(scope),
            maximum=count,
            window=CapWindow(window),
            window_hours=hours,
            time_zone=time_zone.strip() or "UTC",
            campaign_id=campaign_id,
            slot_id=slot_id or None,
            partner_ids=(who.id, partner_id) if scope == CapScope.pair.value else (),
        )
        with transaction() as session:
            caps.create_rule(session, who, terms)
    except AllianceError as exc:
        if exc.status == 404 and exc.field is None:
            raise
        return _page(
            request,
            viewer,
            campaign_id,
            status=exc.status,
            error=exc.detail,
            error_field=exc.field,
            form=form,
        )
    return redirect(f"/partner/campaigns/{campaign_id}/fatigue", _("Cap rule added"))


@router.post("/partner/campaigns/{campaign_id}/fatigue/{rule_id}/delete")
def delete_rule(
    request: Request, viewer: PartnerAction, campaign_id: str, rule_id: str
) -> Response:
    try:
        with transaction() as session:
            caps.delete_rule(session, viewer.principal, rule_id)
    except AllianceError as exc:
        if exc.status == 404:
            raise
        return _page(request, viewer, campaign_id, status=exc.status, error=exc.detail)
    return redirect(f"/partner/campaigns/{campaign_id}/fatigue", _("Cap rule removed"))
