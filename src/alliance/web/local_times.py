"""Moments typed in a form as wall-clock time in a named time zone, and back.

A form's `<input type="datetime-local">` sends "2026-12-24T18:00" with no zone: the page says
which zone it means and sends the zone's IANA name beside it. Turning the pair into a UTC
moment is where daylight saving bites: a spring-forward gap has wall times that never happen
(02:30 in Stockholm on the last Sunday of March) and an autumn fold has wall times that happen
twice. Both are refused, naming the field, rather than silently moved by an hour: a contest
that closes an hour early or late is worse than a form that asks again.

The zones are the tz database's (the one `zoneinfo` reads); `zone.tab` there says which zones
each country has, so a form can offer the advertiser's own country's zones first.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from functools import cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from alliance.clock import as_utc
from alliance.errors import InvalidInput

UTC_NAME = "UTC"
LOCAL_FORMAT = "%Y-%m-%dT%H:%M"  # what <input type="datetime-local"> sends and takes
ZONE_NAME_MAX = 64


def _zone_table_paths() -> list[Path]:
    import zoneinfo

    return [Path(folder) / "zone.tab" for folder in zoneinfo.TZPATH]


@cache
def country_zones() -> dict[str, list[tuple[str, str]]]:
    """Country code -> [(zone, description)] in zone.tab's order; {} when there is no table
    (the zones are then still accepted by name, only not grouped by country)."""
    for path in _zone_table_paths():
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        table: dict[str, list[tuple[str, str]]] = {}
        for line in lines:
            if not line or line.startswith("#"):
                continue
            parts = line.split("\t")
            if len(parts) >= 3:
                comment = parts[3] if len(parts) > 3 else ""
                table.setdefault(parts[0].upper(), []).append((parts[2], comment))
        return table
    return {}


def zones_of(country: str | None) -> list[str]:
    return [zone for zone, _ in country_zones().get((country or "").upper(), [])]


def default_zone(country: str | None) -> str:
    """The zone a form starts with for an account in `country`: its only zone; for a country
    with several, the one zone.tab describes as covering "most" of it (America/New_York,
    Australia/Sydney, America/Toronto), else the first listed; UTC when unknown."""
    listed = country_zones().get((country or "").upper(), [])
    if not listed:
        return UTC_NAME
    most = [zone for zone, comment in listed if "most" in comment.lower()]
    return most[0] if most else listed[0][0]


@cache
def all_zones() -> list[str]:
    """Every zone a form offers: the tz database's country zones (canonical names), sorted;
    every zone `zoneinfo` knows when there is no zone.tab."""
    names = {zone for zones in country_zones().values() for zone, _ in zones}
    if not names:
        names = set(available_timezones())
    names.discard(UTC_NAME)
    return sorted(names)


def zone_named(name: str, field: str) -> tzinfo:
    """The zone called `name`, or a refusal naming `field`."""
    name = name.strip()
    if name == UTC_NAME:
        return UTC
    if not name or len(name) > ZONE_NAME_MAX:
        raise InvalidInput(f"{field}: choose a time zone", field=field)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(f"{field}: {name!r} is not a known time zone", field=field) from None


def parse_local(raw: str, zone: tzinfo, zone_label: str, field: str) -> datetime:
    """The UTC moment of a wall-clock time typed in `zone` ("2026-12-24T18:00", seconds
    allowed). Refused, naming `field`: a malformed value, a time the zone skips (clocks
    going forward) and a time it has twice (clocks going back)."""
    text = raw.strip()
    try:
        wall = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(
            f"{field}: a date and time such as 2026-12-24T18:00 is needed", field=field
        ) from None
    if wall.tzinfo is not None:
        raise InvalidInput(
            f"{field}: give the time without a zone; the zone is {zone_label}", field=field
        )
    first = wall.replace(tzinfo=zone, fold=0)
    second = wall.replace(tzinfo=zone, fold=1)
    if first.utcoffset() != second.utcoffset():
        # The two readings differ only where the offset changes: a gap or a fold.
        back_first = first.astimezone(UTC).astimezone(zone).replace(tzinfo=None)
        if back_first != wall:
            raise InvalidInput(
                f"{field}: {text} does not exist in {zone_label} (the clocks go forward then);"
                " choose another time",
                field=field,
            )
        raise InvalidInput(
            f"{field}: {text} happens twice in {zone_label} (the clocks go back then);"
            " choose another time",
            field=field,
        )
    return first.astimezone(UTC)


def local_input(moment: datetime, zone: tzinfo) -> str:
    """A stored moment as a datetime-local value in `zone` (to fill a form)."""
    return as_utc(moment).astimezone(zone).strftime(LOCAL_FORMAT)
