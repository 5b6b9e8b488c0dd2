"""/advertiser/recommendations: partners the advertiser could invite into one of its
programs, best first, each score broken into components (docs/matching.md).

The list is the REST API's (GET /api/v1/recommendations/partners) for the chosen program,
which must be the advertiser's own (another's answers 404, like a missing one): the same
candidates, scores and exclusions. Explanations are the API's English sentences.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from alliance.crosspromo import matching
from alliance.db.engine import reading
from alliance.web.advertiser_common import own_program, own_programs
from alliance.web.partner_recommendations import LABELS, SHOWN
from alliance.web.sessions import AdvertiserPage
from alliance.web.templating import render

router = APIRouter()


@router.get("/advertiser/recommendations", response_class=HTMLResponse)
def recommendations(
    request: Request,
    viewer: AdvertiserPage,
    program_id: Annotated[str, Query(max_length=40)] = "",
    category: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """`program_id`: which program (default: the first by name); `category`: only partners
    stating it."""
    category = category.strip()
    with reading() as session:
        programs = own_programs(session, viewer)
        found = None
        chosen = None
        if program_id:
            chosen = own_program(session, viewer, program_id)
        elif programs:
            chosen = programs[0]
        if chosen is not None:
            found = matching.partners_for_program(
                session, chosen, limit=SHOWN, categories=[category] if category else None
            )
    return render(
        request,
        "advertiser/recommendations.html",
        {
            "programs": programs,
            "chosen": chosen,
            "found": found,
            "labels": LABELS,
            "category": category,
        },
    )
