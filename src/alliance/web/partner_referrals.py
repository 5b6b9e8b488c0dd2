"""/partner/referrals: the partner's recruit link, the partners it recruited (with what each
earned it, or why a referral earns nothing), who recruited it, and the terms that apply.
Everything goes through crosspromo/referrals.py, as the REST API does."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import or_, select

from alliance.accounts.models import Partner
from alliance.crosspromo import referrals
from alliance.crosspromo.referral_models import PartnerReferral
from alliance.db.engine import transaction
from alliance.settings import get_settings
from alliance.web.sessions import PartnerPage
from alliance.web.templating import render

router = APIRouter()

LIST_SIZE = 200


@router.get("/partner/referrals", response_class=HTMLResponse)
def referrals_page(request: Request, viewer: PartnerPage) -> Response:
    me = viewer.account_id
    # A transaction, not a read: the recruit code is made on first use.
    with transaction() as session:
        code = referrals.recruit_code(session, me)
        rows = session.scalars(
            select(PartnerReferral)
            .where(or_(PartnerReferral.recruiter_id == me, PartnerReferral.recruit_id == me))
            .order_by(PartnerReferral.recruited_at.desc())
            .limit(LIST_SIZE)
        ).all()
        names = dict(
            session.execute(
                select(Partner.id, Partner.name).where(
                    Partner.id.in_({r.recruit_id for r in rows} | {r.recruiter_id for r in rows})
                )
            ).all()
        )
        earned = referrals.earned(session, rows)
        network = referrals.terms_of(session, referrals.NETWORK)
        recruits = [
            {
                "referral": row,
                "name": names.get(row.recruit_id, row.recruit_id),
                "earned": earned.get(row.id, []),
            }
            for row in rows
            if row.recruiter_id == me
        ]
        recruiter = next((row for row in rows if row.recruit_id == me), None)
        context = {
            "code": code,
            "link": f"{get_settings().public_url.rstrip('/')}/r/{code}",
            "recruits": recruits,
            "recruiter": recruiter,
            "recruiter_name": names.get(recruiter.recruiter_id) if recruiter else None,
            "terms": network,
        }
    return render(request, "partner/referrals.html", context)
