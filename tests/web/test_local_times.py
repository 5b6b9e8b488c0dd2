"""Wall-clock times typed in a named zone (web/local_times.py): turned into UTC, with the
daylight-saving gap and fold refused rather than moved, and back into a form's value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.errors import InvalidInput
from alliance.web import local_times

STOCKHOLM = ZoneInfo("Europe/Stockholm")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("raw", "zone", "utc"),
    [
        ("2030-12-24T18:00", STOCKHOLM, datetime(2030, 12, 24, 17, 0, tzinfo=UTC)),  # CET
        ("2030-06-24T18:00", STOCKHOLM, datetime(2030, 6, 24, 16, 0, tzinfo=UTC)),  # CEST
        ("2030-03-31T01:59", STOCKHOLM, datetime(2030, 3, 31, 0, 59, tzinfo=UTC)),  # before gap
        ("2030-03-31T03:00", STOCKHOLM, datetime(2030, 3, 31, 1, 0, tzinfo=UTC)),  # after gap
        ("2030-10-27T03:00", STOCKHOLM, datetime(2030, 10, 27, 2, 0, tzinfo=UTC)),  # after fold
        ("2030-11-03T00:30", NEW_YORK, datetime(2030, 11, 3, 4, 30, tzinfo=UTC)),
        ("2030-12-24T18:00:30", UTC, datetime(2030, 12, 24, 18, 0, 30, tzinfo=UTC)),
    ],
)
def test_a_wall_time_in_a_zone_is_one_utc_moment(raw: str, zone: ZoneInfo, utc: datetime) -> None:
    assert local_times.parse_local(raw, zone, str(zone), "closes_at") == utc


@pytest.mark.parametrize(
    ("raw", "zone", "words"),
    [
        ("2030-03-31T02:30", STOCKHOLM, "does not exist"),  # spring forward: 02:00 -> 03:00
        ("2030-10-27T02:30", STOCKHOLM, "happens twice"),  # fall back: 03:00 -> 02:00
        ("2030-03-10T02:15", NEW_YORK, "does not exist"),
        ("2030-11-03T01:30", NEW_YORK, "happens twice"),
        ("24.12.2030 18:00", STOCKHOLM, "such as"),
        ("", STOCKHOLM, "such as"),
        ("2030-12-24T18:00+01:00", STOCKHOLM, "without a zone"),
        ("2030-12-24T18:00Z", STOCKHOLM, "without a zone"),
    ],
)
def test_a_time_the_zone_skips_repeats_or_cannot_read_is_refused_naming_the_field(
    raw: str, zone: ZoneInfo, words: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        local_times.parse_local(raw, zone, str(zone), "opens_at")
    assert refused.value.field == "opens_at"
    assert words in refused.value.detail


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../../etc/passwd", "/etc/passwd"])
def test_an_unknown_zone_is_refused_naming_the_field(name: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        local_times.zone_named(name, "time_zone")
    assert refused.value.field == "time_zone"


def test_zones_by_country() -> None:
    assert local_times.default_zone("SE") == "Europe/Stockholm"
    assert local_times.default_zone("se") == "Europe/Stockholm"
    assert local_times.default_zone("US") == "America/New_York"
    assert local_times.default_zone("AU") == "Australia/Sydney"
    assert local_times.default_zone("ZZ") == local_times.UTC_NAME
    assert local_times.default_zone(None) == local_times.UTC_NAME
    assert "America/Chicago" in local_times.zones_of("US")
    assert local_times.zone_named("UTC", "time_zone") is UTC
    zones = local_times.all_zones()
    assert zones == sorted(zones) and "Europe/Berlin" in zones and "UTC" not in zones
    for zone in zones:
        local_times.zone_named(zone, "time_zone")  # every offered zone is accepted


ZONES = st.sampled_from(["Europe/Stockholm", "America/New_York", "Australia/Lord_Howe", "UTC"])


@given(
    zone_name=ZONES,
    minutes=st.integers(min_value=0, max_value=60 * 24 * 366 * 3),
)
def test_a_moment_shown_in_a_form_reads_back_as_itself(zone_name: str, minutes: int) -> None:
    """local_input then parse_local is the identity on whole minutes, except at the moments
    whose wall time happens twice (the fold), which are refused, never misread."""
    zone = local_times.zone_named(zone_name, "time_zone")
    moment = datetime(2030, 1, 1, tzinfo=UTC) + timedelta(minutes=minutes)
    shown = local_times.local_input(moment, zone)
    try:
        back = local_times.parse_local(shown, zone, zone_name, "closes_at")
    except InvalidInput as refused:
        assert "happens twice" in refused.detail
        return
    assert back == moment
