"""What the partner's Audience page and the advertiser's shared-audience view have in common:
the numbers of a pair as the pages show them, refusals told in words, and when the sketches
are refreshed next.

The numbers come from `overlap.present` (counts under 50 already "< 50"); this module only
formats them. No visitor id and no hash ever reaches it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.crosspromo import overlap
from alliance.crosspromo.overlap import PairOverlap
from alliance.crosspromo.overlap_views import RefreshSchedule
from alliance.crosspromo.sketches import SKETCH_K
from alliance.errors import AllianceError, Conflict, NotFound
from alliance.web.i18n import _
from alliance.web.templating import percent, when

# Values each sketch keeps: audiences smaller than this are counted exactly (the pages say so).
SAMPLE_SIZE = SKETCH_K
PARTNER_ID = re.compile(r"^ptn_[0-9A-Z]{26}$")
# A name typed in a compare form matches at most this many partners before we ask for an id.
NAME_MATCHES = 10


@dataclass(frozen=True, slots=True)
class Shown:
    """One pair as a page shows it: `numbers` is `overlap.present(pair)` (suppressed)."""

    other_partner_id: str
    other_name: str
    numbers: dict[str, Any]


def shown(pair: PairOverlap, names: dict[str, str]) -> Shown:
    other = pair.other_partner_id
    return Shown(other, names.get(other, other), overlap.present(pair))


def partner_names(session: Session, partner_ids: set[str]) -> dict[str, str]:
    if not partner_ids:
        return {}
    return dict(
        session.execute(select(Partner.id, Partner.name).where(Partner.id.in_(partner_ids))).all()
    )


def share_text(value: float | str | None) -> str:
    """A Jaccard index as a percentage; a suppressed one ("< 0.16") as "< 16 %"."""
    if value is None:
        return "\u2013"
    if isinstance(value, str):
        bound = value.removeprefix("< ").strip()
        decimals = len(bound.partition(".")[2])
        return "< " + percent(Decimal(bound), digits=max(0, decimals - 2))
    return percent(value, digits=2)


def partners_called(session: Session, text: str) -> list[tuple[str, str]]:
    """(id, name) of the partners a compare form's text names: an id, else the exact name,
    else the name in any case (Unicode case folding on PostgreSQL, ASCII on SQLite)."""
    text = text.strip()
    if PARTNER_ID.match(text):
        name = session.scalar(select(Partner.name).where(Partner.id == text))
        return [(text, name)] if name is not None else []
    for condition in (Partner.name == text, func.lower(Partner.name) == text.lower()):
        found = session.execute(
            select(Partner.id, Partner.name)
            .where(condition)
            .order_by(Partner.id)
            .limit(NAME_MATCHES + 1)
        ).all()
        if found:
            return [(partner_id, name) for partner_id, name in found]
    return []


def refusal_text(exc: AllianceError, *, not_found: str, names: Mapping[str, str | None]) -> str:
    """A refusal of the overlap service in words (the service's own text is for the API).
    `not_found` says it for a partner the viewer may not compare (a 404 either way); `names`
    names the partner of each form field, None for the viewer itself."""
    if isinstance(exc, NotFound):
        return not_found
    if isinstance(exc, Conflict):
        name = names.get(exc.field or "")
        if name is None:
            return _("Your audience has not been measured yet; try after the next refresh.")
        return _(
            "The audience of %(name)s has not been measured yet; try after the next refresh.",
            name=name,
        )
    return _("This comparison is not possible: %(reason)s", reason=exc.detail)


def refresh_text(schedule: RefreshSchedule, now: datetime, *, measured: bool = False) -> str:
    """When the next daily refresh of the sketches runs, in a sentence. `measured`: the
    sketches exist though the job never ran (made by the CLI or the demo): the runner then
    takes the job as due at once."""
    if schedule.next_run_at is None and not measured:
        return _(
            "The daily refresh has not run on this network yet. The operator can run it now "
            "with “alliance crosspromo sketches refresh”."
        )
    if schedule.next_run_at is None or schedule.next_run_at <= now:
        return _(
            "The daily refresh is due now and runs with the next background jobs (the "
            "operator can also run “alliance crosspromo sketches refresh”)."
        )
    return _("The next daily refresh is due at %(when)s.", when=when(schedule.next_run_at))
