"""Audience-fatigue caps on co-promotion clicks, as pure functions (docs/fatigue-caps.md).

A cap rule says: a visitor may be exposed at most `maximum` times to the co-promotions in its
scope within its window. A click is an exposure while it is valid (capped clicks are stored
invalid, so they never count). Every rule that matches a link is enforced together: a visitor
at or over ANY of them is capped. Times are aware datetimes in UTC; calendar days are read on
the rule's clock (an IANA zone), so a day across a daylight-saving change is 23 or 25 hours.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


class CapScope(enum.StrEnum):
    """Which co-promotions a rule counts together."""

    network = "network"  # every co-promotion link of the network
    campaign = "campaign"  # the links of one campaign's slots
    slot = "slot"  # the link of one slot
    pair = "pair"  # the slots of any campaign where two partners promote each other


class CapWindow(enum.StrEnum):
    """Which past exposures count."""

    rolling = "rolling"  # the last `window_hours` hours before the click
    calendar_day = "calendar_day"  # since local midnight of the rule's time zone
    lifetime = "lifetime"  # every exposure ever


MAX_WINDOW_HOURS = 24 * 366
MAX_EXPOSURES = 10_000


@dataclass(frozen=True, slots=True)
class Placement:
    """Where a co-promotion link sits: its slot, campaign and the two partners of the slot
    (promoter and the partner whose offer it carries; the same one for an own offer)."""

    slot_id: str
    campaign_id: str
    promoter_id: str
    beneficiary_id: str | None

    def pair(self) -> frozenset[str] | None:
        """The two partners promoting each other here, or None for an own offer."""
        if self.beneficiary_id is None or self.beneficiary_id == self.promoter_id:
            return None
        return frozenset((self.promoter_id, self.beneficiary_id))


@dataclass(frozen=True, slots=True)
class CapRule:
    """One rule, as the redirect sees it. `target` names the scope's subject: the campaign
    or slot id, a frozenset of two partner ids for a pair, None for the network."""

    id: str
    scope: CapScope
    target: str | frozenset[str] | None
    maximum: int
    window: CapWindow
    window_hours: int | None = None  # rolling only
    time_zone: str = "UTC"  # calendar_day only

    def covers(self, place: Placement) -> bool:
        """Whether a click on a link placed at `place` counts for (and is held by) this rule."""
        if self.scope is CapScope.network:
            return True
        if self.scope is CapScope.campaign:
            return place.campaign_id == self.target
        if self.scope is CapScope.slot:
            return place.slot_id == self.target
        return place.pair() == self.target


@dataclass(frozen=True, slots=True)
class Exposure:
    """A past valid click of the visitor on a co-promotion link."""

    at: datetime
    place: Placement


def window_start(rule: CapRule, now: datetime) -> datetime | None:
    """The earliest moment an exposure counts for `rule` at `now` (None: since ever)."""
    if rule.window is CapWindow.lifetime:
        return None
    if rule.window is CapWindow.rolling:
        assert rule.window_hours is not None
        return now - timedelta(hours=rule.window_hours)
    zone = ZoneInfo(rule.time_zone)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone)
    return midnight.astimezone(UTC)


def earliest_start(rules: Iterable[CapRule], now: datetime) -> datetime | None:
    """How far back the redirect must read the visitor's exposures for all `rules`."""
    starts = [window_start(rule, now) for rule in rules]
    if any(start is None for start in starts):
        return None
    return min((s for s in starts if s is not None), default=now)


def exposures_counted(rule: CapRule, exposures: Iterable[Exposure], now: datetime) -> int:
    """The visitor's exposures that count for `rule` at `now`."""
    start = window_start(rule, now)
    return sum(
        1
        for e in exposures
        if rule.covers(e.place) and (start is None or e.at >= start) and e.at <= now
    )


def capping_rule(
    rules: Sequence[CapRule], place: Placement, exposures: Sequence[Exposure], now: datetime
) -> CapRule | None:
    """The first rule (in the given order) that holds back a click at `place` now, or None
    when the visitor may see the co-promotion: a rule caps once `maximum` exposures count."""
    for rule in rules:
        if rule.covers(place) and exposures_counted(rule, exposures, now) >= rule.maximum:
            return rule
    return None


def check_rule_terms(
    scope: CapScope, maximum: int, window: CapWindow, window_hours: int | None, time_zone: str
) -> tuple[str, str] | None:
    """(field, problem) for terms a rule cannot have, or None when they are fine."""
    if not 1 <= maximum <= MAX_EXPOSURES:
        return "maximum", f"must be between 1 and {MAX_EXPOSURES}"
    if window is CapWindow.rolling:
        if window_hours is None or not 1 <= window_hours <= MAX_WINDOW_HOURS:
            return "window_hours", f"a rolling window needs 1..{MAX_WINDOW_HOURS} hours"
    elif window_hours is not None:
        return "window_hours", "only a rolling window has a length"
    if window is CapWindow.calendar_day:
        try:
            ZoneInfo(time_zone)
        except (ValueError, KeyError, OSError):
            return "time_zone", "unknown time zone"
    return None
