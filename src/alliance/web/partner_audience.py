"""/partner/audience: the partner's own audience, the partners sharing the most visitors with
it, a comparison with one partner named by id or name, and how it is all measured.

Everything goes through crosspromo/overlap.py with the viewer's `Principal`, as GET
/api/v1/audience-overlap does: the same visibility (a partner compares itself with anyone,
never two others) and the same suppression (`overlap.present`: counts under 50 as "< 50").
The page takes no partner id of its own: it always shows the signed-in partner's audience.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.crosspromo import overlap, overlap_views
from alliance.db.engine import reading
from alliance.errors import AllianceError
from alliance.web.audience_common import (
    NAME_MATCHES,
    SAMPLE_SIZE,
    Shown,
    partner_names,
    partners_called,
    refresh_text,
    refusal_text,
    share_text,
    shown,
)
from alliance.web.i18n import _
from alliance.web.sessions import PartnerPage, Viewer
from alliance.web.templating import render

router = APIRouter()

TOP = 10


@dataclass(slots=True)
class Comparison:
    """The compare form's answer: a pair, a refusal, or partners to choose between."""

    asked: str
    result: Shown | None = None
    error: str | None = None
    status: int = 200
    choices: list[tuple[str, str]] = field(default_factory=list)


@router.get("/partner/audience", response_class=HTMLResponse)
def audience_page(
    request: Request,
    viewer: PartnerPage,
    compare_with: Annotated[str, Query(alias="with", max_length=200)] = "",
) -> Response:
    me = viewer.account_id
    days = overlap.default_window_days()
    with reading() as session:
        mine = overlap_views.own_audience(session, me, days)
        schedule = overlap_views.refresh_schedule(session)
        found = overlap.top_overlaps(session, me, days, limit=TOP) if mine is not None else []
        names = partner_names(session, {pair.other_partner_id for pair in found})
        top = [shown(pair, names) for pair in found]
        asked = compare_with.strip()
        comparison = _compare(session, viewer, asked, days) if asked else None
    context = {
        "mine": mine,
        "top": top,
        "top_size": TOP,
        "comparison": comparison,
        "days": days,
        "refresh": refresh_text(schedule, utcnow(), measured=mine is not None),
        "share": share_text,
        "sample_size": SAMPLE_SIZE,
        "suppress_below": overlap.SUPPRESS_BELOW,
    }
    status = comparison.status if comparison is not None else 200
    return render(request, "partner/audience.html", context, status=status)


def _compare(session: Session, viewer: Viewer, asked: str, days: int) -> Comparison:
    me = viewer.account_id
    matches = partners_called(session, asked)
    if not matches:
        return Comparison(asked, error=_("No partner has this id or name."), status=404)
    if len(matches) > 1:
        return Comparison(asked, choices=matches[:NAME_MATCHES])
    other_id, other_name = matches[0]
    if other_id == me:
        return Comparison(asked, error=_("That is you: name another partner."), status=422)
    try:
        overlap.check_visible(
            session, viewer.principal, [(me, "partner_id"), (other_id, "other_partner_id")]
        )
        pair = overlap.pair_overlap(session, me, other_id, days)
    except AllianceError as exc:
        text = refusal_text(
            exc,
            not_found=_("No partner has this id or name."),
            names={"partner_id": None, "other_partner_id": other_name},
        )
        return Comparison(asked, error=text, status=exc.status)
    return Comparison(asked, result=shown(pair, {other_id: other_name}))
