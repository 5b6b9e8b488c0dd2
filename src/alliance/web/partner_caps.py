"""/partner/campaigns/{id}/fatigue: a campaign's audience-fatigue caps and the conversion
rate by exposure count on its links (docs/fatigue-caps.md). Read-only: rules are set through
/api/v1/fatigue-caps; every party of the campaign sees this page, others get a 404."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from alliance.crosspromo import campaigns, caps
from alliance.crosspromo.campaign_models import CampaignSlot
from alliance.crosspromo.caps_report import MAX_DEPTH
from alliance.crosspromo.caps_rules import CapScope, CapWindow
from alliance.db.engine import reading
from alliance.web.i18n import N_, _
from alliance.web.sessions import PartnerPage
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
    who = viewer.principal
    with reading() as session:
        campaign = campaigns.get_campaign(session, campaign_id, who)
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
    }
    return render(request, "partner/campaign_fatigue.html", context)
