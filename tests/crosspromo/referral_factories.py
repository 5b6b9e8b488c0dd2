"""Recruiters and recruits: partners in one program, a referral between them, terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from alliance.crosspromo import referrals
from alliance.db.engine import transaction
from tests.conversions.factories import World, partner, world


@dataclass
class Chain:
    w: World  # the program and the recruit (w.partner_id), who earns the commissions
    recruit: str
    recruiter: str
    top: str  # who recruited the recruiter


def recruited(
    *,
    percents: tuple[str, ...] = ("10",),
    months: int = 12,
    funded_by: str = "advertiser",
    at: datetime,
    currency: str = "EUR",
) -> Chain:
    """A program (CPS 10%, no lock period) whose partner (the recruit) was recruited at `at`
    by a recruiter, itself recruited by a top partner; the program's own referral terms."""
    w = world(currency=currency, terms={"type": "cps", "percent": "10"}, lock_days=0)
    with transaction() as session:
        top = partner(session, "Top recruiter").id
        recruiter = partner(session, "Recruiter").id
        referrals.record(session, recruiter, referrals.recruit_code(session, top), at=at)
        referrals.record(session, w.partner_id, referrals.recruit_code(session, recruiter), at=at)
        referrals.set_terms(
            session,
            w.program_id,
            referrals.parse_terms(
                {"percents": list(percents), "months": months, "funded_by": funded_by}
            ),
        )
    return Chain(w, w.partner_id, recruiter, top)
