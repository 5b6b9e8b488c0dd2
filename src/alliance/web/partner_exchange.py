"""The fair-exchange ledger of a co-promotion campaign in the partner dashboard
(docs/fair-exchange.md).

- /partner/campaigns/{id}/exchange         each counterpart: what went each way, the balance,
                                           the agreed tolerance, alerts, and the settle form
- POST /partner/campaigns/{id}/exchange/settle  a capped carry-over, as the API's settle

The page reads and acts through crosspromo/exchange.py, so it sees and refuses exactly what
/api/v1/campaigns/{id}/exchange does; a refusal re-renders the page with the sentence and the
field at fault.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from alliance.clock import utcnow
from alliance.crosspromo import campaigns, exchange
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, InvalidInput
from alliance.web.i18n import _
from alliance.web.partner_common import redirect
from alliance.web.sessions import PartnerAction, PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()


def _page(
    request: Request, viewer: Viewer, campaign_id: str, status: int = 200, **extra: Any
) -> Response:
    who = viewer.principal
    with reading() as session:
        campaign = exchange.campaign_for(session, campaign_id, who)
        parties = campaigns.parties(session, campaign.id)
        names = campaigns.party_names(session, parties)
        partner_names = {p.partner_id: names.get(p.id, "") for p in parties if p.partner_id}
        context = {
            "campaign": campaign,
            "pairs": exchange.balances(session, campaign.id, who),
            "alerts": exchange.alerts(session, campaign.id, who),
            "names": partner_names,
            "error": None,
            "error_field": None,
            "form": {},
            **extra,
        }
    return render(request, "partner/exchange.html", context, status=status)


@router.get("/partner/campaigns/{campaign_id}/exchange", response_class=HTMLResponse)
def exchange_page(request: Request, viewer: PartnerPage, campaign_id: str) -> Response:
    return _page(request, viewer, campaign_id)


@router.post("/partner/campaigns/{campaign_id}/exchange/settle")
def settle(
    request: Request,
    viewer: PartnerAction,
    campaign_id: str,
    counterpart_id: Annotated[str, Form(max_length=64)],
    cap: Annotated[str, Form(max_length=20)],
) -> Response:
    """The partner owed keeps at most `cap` unique clicks owed and forgives the rest."""
    form = {"counterpart_id": counterpart_id, "cap": cap}
    try:
        if not cap.strip().isdigit():
            raise InvalidInput(_("The cap is a whole number of unique clicks."), field="cap")
        with transaction() as session:
            exchange.settle_carry_over(
                session, campaign_id, viewer.principal, counterpart_id, int(cap), utcnow()
            )
    except AllianceError as exc:
        if exc.status == 404:
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
    return redirect(f"/partner/campaigns/{campaign_id}/exchange", _("The balance was settled"))
