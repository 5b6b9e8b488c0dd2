"""Words the contest pages show for stored values (contest and entry statuses, refusal
reasons), translated when shown, and the badge colour of each. The database and the API keep
the English identifiers (`scheduled`, `disposable_domain`).

Kept beside the contest pages rather than in web/terms.py: these values appear only here.
"""

from __future__ import annotations

from typing import Any

from alliance.crosspromo.contest_models import ContestStatus, EntryStatus
from alliance.crosspromo.entrants import RejectReason
from alliance.web.i18n import N_, gettext

CONTEST_STATUS: dict[str, str] = {
    ContestStatus.scheduled.value: N_("scheduled"),
    ContestStatus.open.value: N_("open"),
    ContestStatus.closed.value: N_("closed"),
    ContestStatus.drawn.value: N_("drawn"),
}
ENTRY_STATUS: dict[str, str] = {
    EntryStatus.pending.value: N_("pending"),
    EntryStatus.verified.value: N_("verified"),
    EntryStatus.rejected.value: N_("refused"),
}
REASONS: dict[str, str] = {
    RejectReason.bad_email.value: N_("not a valid e-mail address"),
    RejectReason.disposable_domain.value: N_("throwaway mailbox"),
    RejectReason.duplicate.value: N_("already entered"),
    RejectReason.not_open.value: N_("before the opening"),
    RejectReason.closed.value: N_("after the close"),
    RejectReason.ip_limit.value: N_("too many from one IP address"),
    RejectReason.self_referral.value: N_("own referral link"),
}
# Badge colours: the status classes of static/css/app.css and advertiser.css.
BADGES: dict[str, str] = {
    ContestStatus.scheduled.value: "pending",
    ContestStatus.open.value: "active",
    ContestStatus.closed.value: "inactive",
    ContestStatus.drawn.value: "completed",
    EntryStatus.pending.value: "pending",
    EntryStatus.verified.value: "approved",
    EntryStatus.rejected.value: "rejected",
}


def _label(table: dict[str, str], value: object) -> str:
    key = str(getattr(value, "value", value))
    label = table.get(key)
    return gettext(label) if label else key.replace("_", " ")


def contest_status(value: object) -> str:
    return _label(CONTEST_STATUS, value)


def entry_status(value: object) -> str:
    return _label(ENTRY_STATUS, value)


def reason(value: object) -> str:
    return _label(REASONS, value)


def badge(value: object) -> str:
    return BADGES.get(str(getattr(value, "value", value)), "inactive")


def template_helpers() -> dict[str, Any]:
    """What the contest templates call: `contest_label(s)`, `entry_label(s)`,
    `reason_label(r)`, `badge(s)`."""
    return {
        "contest_label": contest_status,
        "entry_label": entry_status,
        "reason_label": reason,
        "badge": badge,
    }
