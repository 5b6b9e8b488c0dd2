"""The shared-audience view of the advertiser's Partners page (advertiser_partners.py): for
each partner approved in its programs, the one of them it shares the most visitors with; and
a form comparing two of them, or listing the ten a partner shares the most with.

The advertiser sees what GET /api/v1/audience-overlap lets it see: partners approved in its
own programs (overlap.check_visible / comparable_partners), anyone else answering 404 as if
absent; counts under 50 as "< 50" (overlap.present).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.api.scoping import visible_enrollments
from alliance.crosspromo import overlap, overlap_views
from alliance.errors import AllianceError
from alliance.programs.models import Enrollment, EnrollmentStatus
from alliance.web.audience_common import Shown, refusal_text, shown
from alliance.web.i18n import _
from alliance.web.sessions import Viewer

# Partners listed for one partner when the form names only it.
TOP = 10
# Above this many measured partners the per-row best match is not computed on the page: the
# search intersects every pair's samples, 0.1 s for 25 partners, 0.8 s for 50, 2.2 s
# for 100 (bench/overlap_best_matches.py, docs/audience-pages.md); its answer is then kept
# until the next refresh. The compare form works at any size (one partner against the rest).
BEST_PER_ROW_MAX = 50


@dataclass(slots=True)
class SharedAudience:
    window_days: int
    partners: list[tuple[str, str]]  # (id, name) approved in the advertiser's programs
    best: dict[str, Shown] = field(default_factory=dict)  # partner id -> its best match
    best_skipped: bool = False  # too many partners to find each one's best on the page
    partner_id: str = ""
    other_partner_id: str = ""
    pair: Shown | None = None
    top: list[Shown] | None = None  # the form named one partner: its nearest audiences
    error: str | None = None
    status: int = 200
    suppress_below: int = overlap.SUPPRESS_BELOW  # counts under it are shown as "< 50"


def approved_partners(session: Session, viewer: Viewer) -> list[tuple[str, str]]:
    """(id, name) of the partners approved in at least one of the viewer's programs, by name."""
    approved = (
        select(Enrollment.partner_id)
        .where(
            visible_enrollments(viewer.principal),
            Enrollment.status == EnrollmentStatus.approved.value,
        )
        .distinct()
    )
    rows = session.execute(
        select(Partner.id, Partner.name)
        .where(Partner.id.in_(approved))
        .order_by(Partner.name, Partner.id)
    )
    return [(partner_id, name) for partner_id, name in rows]


def shared_audience(
    session: Session, viewer: Viewer, partner_id: str, other_partner_id: str
) -> SharedAudience:
    days = overlap.default_window_days()
    partners = approved_partners(session, viewer)
    names = dict(partners)
    view = SharedAudience(days, partners)
    measured = overlap_views.measured_partners(session, list(names), days)
    if len(measured) > BEST_PER_ROW_MAX:
        view.best_skipped = True
    else:
        found = overlap_views.best_overlaps(session, measured, days)
        view.best = {pid: shown(pair, names) for pid, pair in found.items()}
    first, second = partner_id.strip(), other_partner_id.strip()
    if not first and second:
        first, second = second, ""
    view.partner_id, view.other_partner_id = first, second
    if first:
        _compare(session, viewer, view, names)
    return view


def _compare(session: Session, viewer: Viewer, view: SharedAudience, names: dict[str, str]) -> None:
    first, second = view.partner_id, view.other_partner_id
    if first == second:
        view.error, view.status = _("Choose two different partners."), 422
        return
    named = [(first, "partner_id")] + ([(second, "other_partner_id")] if second else [])
    try:
        overlap.check_visible(session, viewer.principal, named)
        if second:
            view.pair = shown(overlap.pair_overlap(session, first, second, view.window_days), names)
        else:
            found = overlap.top_overlaps(
                session,
                first,
                view.window_days,
                limit=TOP,
                candidates=overlap.comparable_partners(viewer.principal),
            )
            view.top = [shown(pair, names) for pair in found]
    except AllianceError as exc:
        not_found = _("This partner is not approved in any of your programs.")
        fields = {
            "partner_id": names.get(first, first),
            "other_partner_id": names.get(second, second),
        }
        view.error = refusal_text(exc, not_found=not_found, names=fields)
        view.status = exc.status
