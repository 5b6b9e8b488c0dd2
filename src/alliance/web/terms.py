"""Words the pages show for stored values: statuses, roles, account kinds.

The database and the API keep the English identifiers (`pending`, `read_only`); the pages
show them through these labels, translated when shown. They are literal strings here so the
catalog extraction finds them; tests/web/test_i18n.py checks every status enum is covered.
"""

from __future__ import annotations

from alliance.web.i18n import N_, gettext

STATUS_LABELS: dict[str, str] = {
    "accepted": N_("accepted"),
    "active": N_("active"),
    "applied": N_("applied"),
    "approved": N_("approved"),
    "bad_amount": N_("bad amount"),
    "bad_status": N_("bad status"),
    "banned": N_("banned"),
    "cancelled": N_("cancelled"),
    "changes_requested": N_("changes requested"),
    "completed": N_("completed"),
    "connected": N_("connected"),
    "created": N_("created"),
    "dead": N_("dead"),
    "declined": N_("declined"),
    "delivered": N_("delivered"),
    "disabled": N_("disabled"),
    "done": N_("done"),
    "draft": N_("draft"),
    "duplicate": N_("duplicate"),
    "duplicate_row": N_("duplicate row"),
    "failed": N_("failed"),
    "held": N_("held"),
    "ignored": N_("ignored"),
    "illegal_transition": N_("illegal transition"),
    "inactive": N_("inactive"),
    "invited": N_("invited"),
    "refused": N_("refused"),
    "live": N_("live"),
    "not_connected": N_("not connected"),
    "paid": N_("paid"),
    "parked": N_("parked"),
    "paused": N_("paused"),
    "pending": N_("pending"),
    "proposed": N_("proposed"),
    "queued": N_("queued"),
    "retrying": N_("retrying"),
    "received": N_("received"),
    "refunded": N_("refunded"),
    "rejected": N_("rejected"),
    "removed": N_("removed"),
    "requested": N_("requested"),
    "reversed": N_("reversed"),
    "running": N_("running"),
    "sent": N_("sent"),
    "submitted": N_("submitted"),
    "suspended": N_("suspended"),
    "unchanged": N_("unchanged"),
    "unknown_order": N_("unknown order"),
}

ROLE_LABELS: dict[str, str] = {
    "owner": N_("Owner"),
    "member": N_("Member"),
    "read_only": N_("Read-only"),
}

KIND_LABELS: dict[str, str] = {
    "operator": N_("operator"),
    "advertiser": N_("advertiser"),
    "partner": N_("partner"),
}


def status_label(value: object) -> str:
    """A status in the reader's language; an unknown one as its identifier, spaced."""
    key = str(getattr(value, "value", value))
    label = STATUS_LABELS.get(key)
    return gettext(label) if label else key.replace("_", " ")


def role_label(value: object) -> str:
    key = str(getattr(value, "value", value))
    label = ROLE_LABELS.get(key)
    return gettext(label) if label else key.replace("_", "-")


def kind_label(value: object) -> str:
    key = str(getattr(value, "value", value))
    label = KIND_LABELS.get(key)
    return gettext(label) if label else key
