"""/partner/recommendations: programs the partner could join and partners it could promote
with, best first, each with its score broken into components (docs/matching.md).

The lists are the REST API's (crosspromo/matching.py, GET /api/v1/recommendations/programs
and /co-promotion) for the signed-in partner: the same candidates, scores and exclusions.
Explanations are the API's English sentences; component names are translated.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from alliance.crosspromo import matching
from alliance.crosspromo.matching_rules import Component
from alliance.db.engine import reading
from alliance.web.i18n import N_
from alliance.web.sessions import PartnerPage
from alliance.web.templating import render

router = APIRouter()

SHOWN = 10
LABELS: dict[Component, str] = {
    Component.audience_overlap: N_("Audience overlap"),
    Component.category_complementarity: N_("Category complementarity"),
    Component.performance: N_("Performance"),
    Component.stated_fit: N_("Stated categories and audience"),
    Component.popularity: N_("Popularity"),
}


@router.get("/partner/recommendations", response_class=HTMLResponse)
def recommendations(
    request: Request,
    viewer: PartnerPage,
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """`category`: only programs of it and partners stating it."""
    category = category.strip()
    only = [category] if category else None
    with reading() as session:
        programs = matching.programs_for_partner(
            session, viewer.account_id, limit=SHOWN, categories=only
        )
        partners = matching.co_promotion_for_partner(
            session, viewer.account_id, limit=SHOWN, categories=only
        )
    return render(
        request,
        "partner/recommendations.html",
        {"programs": programs, "partners": partners, "labels": LABELS, "category": category},
    )
