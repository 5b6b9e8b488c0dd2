"""/partner/contests: the contests of the programs the partner is approved in, each with the
partner's own referral link and the entries that came through it (docs/contests.md).

Scoped by `contests.visible_contests`, as GET /api/v1/contests is for a partner. A partner
approved after a contest was created gets its code on its first visit here (as on its first
API request), while the contest still takes entries; a closed contest makes no new codes.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from alliance.api.pagination import DEFAULT_LIMIT, PageParams, decode_cursor, fetch_page
from alliance.crosspromo import contest_summaries, contests
from alliance.crosspromo.contest_models import Contest, ContestStatus
from alliance.db.engine import reading, transaction
from alliance.programs.models import Program
from alliance.web import contest_labels
from alliance.web.partner_common import query_url
from alliance.web.sessions import PartnerPage
from alliance.web.templating import render

router = APIRouter()

TAKING_ENTRIES = (ContestStatus.scheduled, ContestStatus.open)


@router.get("/partner/contests", response_class=HTMLResponse)
def contests_page(
    request: Request,
    viewer: PartnerPage,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    me = viewer.account_id
    with reading() as session:
        rows, next_cursor = fetch_page(
            session,
            select(Contest).where(contests.visible_contests(viewer.principal)),
            Contest.id,
            PageParams(DEFAULT_LIMIT, decode_cursor(cursor) if cursor else None),
        )
        ids = [row.id for row in rows]
        statuses = contest_summaries.statuses(session, rows)
        codes = contest_summaries.codes_of_partner(session, ids, me)
        counts = contest_summaries.counts_by_contest(session, ids, referrer_partner_id=me)
        names = dict(
            session.execute(
                select(Program.id, Program.name).where(
                    Program.id.in_({row.program_id for row in rows})
                )
            )
            .tuples()
            .all()
        )
    missing = [
        (row.id, me) for row in rows if row.id not in codes and statuses[row.id] in TAKING_ENTRIES
    ]
    if missing:
        # A transaction, not a read: the code is made on first use, under the contest's lock.
        with transaction() as session:
            made = contest_summaries.ensure_partner_codes(session, missing)
        codes.update({contest_id: code for (contest_id, _me), code in made.items()})
    items = [
        {
            "contest": row,
            "program_name": names.get(row.program_id, row.program_id),
            "status": statuses[row.id].value,
            "link": contests.contest_url(row.id, codes[row.id]) if row.id in codes else None,
            "counts": counts[row.id],
        }
        for row in rows
    ]
    context = {
        "contest_rows": items,
        "next_url": query_url("/partner/contests", cursor=next_cursor) if next_cursor else None,
        "first_url": "/partner/contests" if cursor else None,
        **contest_labels.template_helpers(),
    }
    return render(request, "partner/contests.html", context)
