"""Co-promotion campaigns, the pure part: states and their transitions, the reminder schedule
in a time zone, progress against a target. No database, no clock: tested by tables and by
hypothesis (tests/crosspromo/test_campaign_rules.py).

The reminder schedule is where time zones matter. A reminder "a day before" and the daily
reminders of an overdue item are meant at the same *local* time as the item is due (a slot
due at 09:00 in Berlin is reminded at 09:00 Berlin time the day before, even when a
daylight-saving change falls in between, which makes that day 23 or 25 hours long). So offsets
in whole days move the wall-clock date in the zone and convert back to UTC; offsets in hours
("2 h before") are elapsed time, which is what a person means by them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from alliance.errors import InvalidInput

# --- states --------------------------------------------------------------------------------


class CampaignStatus(enum.StrEnum):
    """Where a campaign stands. Changes only through `TRANSITIONS` (campaigns.move)."""

    draft = "draft"
    """Being written by its organiser; nothing is asked of the other parties yet."""
    proposed = "proposed"
    """The terms are out for acceptance: every party must accept this version of them."""
    active = "active"
    """Every party accepted the current terms; no slot has started yet."""
    live = "live"
    """Running: its first slot started (or the organiser started it early)."""
    completed = "completed"
    """Over: its period ended or the organiser closed it. Final."""
    cancelled = "cancelled"
    """Stopped before completion by a party or the operator, with a reason. Final."""


TRANSITIONS: dict[CampaignStatus, frozenset[CampaignStatus]] = {
    CampaignStatus.draft: frozenset({CampaignStatus.proposed, CampaignStatus.cancelled}),
    # proposed -> proposed: the terms were edited while out, acceptances start over.
    CampaignStatus.proposed: frozenset(
        {CampaignStatus.proposed, CampaignStatus.active, CampaignStatus.cancelled}
    ),
    # active/live -> proposed: terms edited after acceptance must be accepted again.
    CampaignStatus.active: frozenset(
        {CampaignStatus.live, CampaignStatus.proposed, CampaignStatus.cancelled}
    ),
    CampaignStatus.live: frozenset(
        {CampaignStatus.completed, CampaignStatus.proposed, CampaignStatus.cancelled}
    ),
    CampaignStatus.completed: frozenset(),
    CampaignStatus.cancelled: frozenset(),
}

OPEN_STATES = frozenset(s for s, targets in TRANSITIONS.items() if targets)
# The terms were agreed: work happens (links are placed, deliverables submitted, reminders go).
AGREED_STATES = frozenset({CampaignStatus.active, CampaignStatus.live})


def can_move(current: CampaignStatus, target: CampaignStatus) -> bool:
    return target in TRANSITIONS[current]


class CampaignKind(enum.StrEnum):
    """What the partners do together."""

    content = "content"  # a guest post, an article, a review on each other's sites
    social = "social"  # posts, stories, videos on social networks
    email = "email"  # a mailing to each other's lists
    bundle = "bundle"  # an offer bundling products of several programs
    event = "event"  # an event or a webinar
    podcast = "podcast"  # an episode, a sponsored segment
    contest = "contest"  # a giveaway collecting entries through the partners' links


class Channel(enum.StrEnum):
    """Where a slot's promotion appears."""

    website = "website"
    blog = "blog"
    newsletter = "newsletter"
    instagram = "instagram"
    tiktok = "tiktok"
    youtube = "youtube"
    facebook = "facebook"
    x = "x"
    linkedin = "linkedin"
    pinterest = "pinterest"
    podcast = "podcast"
    webinar = "webinar"
    other = "other"


class PartyRole(enum.StrEnum):
    organiser = "organiser"  # wrote the campaign: edits its terms, proposes, starts, completes
    participant = "participant"  # accepts or declines the terms, does its part


class DeliverableStatus(enum.StrEnum):
    """A piece of work one party owes (a draft post, a video), reviewed by another."""

    requested = "requested"
    """Asked for; the delivering party has not submitted anything yet."""
    submitted = "submitted"
    """Handed in; waiting for the reviewing party."""
    approved = "approved"
    """Accepted by the reviewing party. Final."""
    changes_requested = "changes_requested"
    """Sent back with a note; the delivering party submits again."""


DELIVERABLE_TRANSITIONS: dict[DeliverableStatus, frozenset[DeliverableStatus]] = {
    DeliverableStatus.requested: frozenset({DeliverableStatus.submitted}),
    DeliverableStatus.submitted: frozenset(
        {DeliverableStatus.approved, DeliverableStatus.changes_requested}
    ),
    DeliverableStatus.changes_requested: frozenset({DeliverableStatus.submitted}),
    DeliverableStatus.approved: frozenset(),
}
# Still owed by the delivering party: these are reminded and can be overdue.
OWED = frozenset({DeliverableStatus.requested, DeliverableStatus.changes_requested})


# --- time zones ----------------------------------------------------------------------------


@cache
def _zone_names() -> frozenset[str]:
    return frozenset(available_timezones())


def is_zone(name: str) -> bool:
    return name in _zone_names()


def zone(name: str, field: str = "time_zone") -> ZoneInfo:
    """An IANA time zone by name (Europe/Berlin), or a 422 naming `field`."""
    text = (name or "").strip()
    if text not in _zone_names():
        raise InvalidInput(
            f"unknown time zone {name[:64]!r}: expected an IANA name such as Europe/Berlin",
            field=field,
        )
    try:
        return ZoneInfo(text)
    except (ZoneInfoNotFoundError, ValueError):  # pragma: no cover - listed but unreadable
        raise InvalidInput(f"time zone {text!r} cannot be read", field=field) from None


def local_shift(moment: datetime, tz: ZoneInfo, days: int) -> datetime:
    """`moment` moved by whole days on the wall clock of `tz` (same local time), in UTC.

    A local time that does not exist on the target day (it falls in a spring-forward gap)
    comes out shifted forward by the gap, 02:30 -> 03:30; one that exists twice (autumn) is
    the first of the two. Both are zoneinfo's fold=0 reading of the wall time."""
    wall = moment.astimezone(tz).replace(tzinfo=None) + timedelta(days=days)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


# --- reminders -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Offset:
    """A reminder before the due moment: whole local days, or elapsed hours."""

    key: str  # stored in campaign_reminders.offset_key: "before-3d", "before-2h"
    days: int = 0
    hours: int = 0

    def moment(self, due: datetime, tz: ZoneInfo) -> datetime:
        if self.days:
            return local_shift(due, tz, -self.days)
        return due.astimezone(UTC) - timedelta(hours=self.hours)


# 72 h, 24 h and 2 h before: the first two as local days (same time of day as the item).
BEFORE: tuple[Offset, ...] = (
    Offset("before-3d", days=3),
    Offset("before-1d", days=1),
    Offset("before-2h", hours=2),
)
# Overdue reminders go daily at the due time of day, for at most this many days (a
# campaign's completion or cancellation stops them sooner).
OVERDUE_DAYS = 30


@dataclass(frozen=True, slots=True)
class Reminder:
    key: str  # "before-3d" ... "overdue-1" (the first day after the due moment) ...
    at: datetime  # UTC
    overdue: bool


def schedule(due: datetime, tz: ZoneInfo, *, overdue_days: int = OVERDUE_DAYS) -> list[Reminder]:
    """Every reminder of an item due at `due`, in time order: BEFORE, then one a day at the
    due local time while overdue."""
    found = [Reminder(o.key, o.moment(due, tz), False) for o in BEFORE]
    found += [
        Reminder(f"overdue-{n}", local_shift(due, tz, n), True) for n in range(1, overdue_days + 1)
    ]
    return sorted(found, key=lambda r: r.at)


def due_reminder(
    due: datetime,
    tz: ZoneInfo,
    now: datetime,
    *,
    owed: bool = True,
    not_before: datetime | None = None,
) -> Reminder | None:
    """The one reminder to send at `now`, or None: the latest scheduled at or before `now`.

    Only the latest: a job that did not run for a while (or a campaign agreed 10 hours before
    a slot) sends one current reminder, not the 72-hour one late. `owed=False` (the item was
    done) sends nothing; reminders scheduled before `not_before` (when the campaign was
    agreed) are not sent either. The caller records what it sent under (item, due, key), so
    each reminder goes once."""
    if not owed:
        return None
    passed = [r for r in schedule(due, tz) if r.at <= now]
    if not passed:
        return None
    latest = passed[-1]
    if not_before is not None and latest.at < not_before:
        return None
    return latest


# --- progress ------------------------------------------------------------------------------


def percent_of(value: Decimal | int, target: Decimal | int | None) -> Decimal | None:
    """How far `value` is towards `target`, in percent with one decimal (can pass 100)."""
    if target is None or target <= 0:
        return None
    return (Decimal(value) * 100 / Decimal(target)).quantize(Decimal("0.1"))
