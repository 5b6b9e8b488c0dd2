"""Fatigue caps as pure rules: windows (rolling, calendar day across DST, lifetime), scopes,
every matching rule enforced together."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.attribution.rules import Attribution, ClickFact, NoAttribution, OrderFacts, attribute
from alliance.crosspromo.caps_rules import (
    CapRule,
    CapScope,
    CapWindow,
    Exposure,
    Placement,
    capping_rule,
    check_rule_terms,
    earliest_start,
    exposures_counted,
    window_start,
)

HERE = Placement(slot_id="slt_1", campaign_id="cmp_1", promoter_id="ptn_a", beneficiary_id="ptn_b")
SAME_CAMPAIGN = Placement("slt_2", "cmp_1", "ptn_b", "ptn_a")
OTHER_CAMPAIGN_SAME_PAIR = Placement("slt_3", "cmp_2", "ptn_b", "ptn_a")
ELSEWHERE = Placement("slt_4", "cmp_3", "ptn_c", None)
NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)


def rule(
    scope: CapScope = CapScope.network,
    target: str | frozenset[str] | None = None,
    maximum: int = 3,
    window: CapWindow = CapWindow.lifetime,
    hours: int | None = None,
    zone: str = "UTC",
) -> CapRule:
    return CapRule("cap_x", scope, target, maximum, window, hours, zone)


@pytest.mark.parametrize(
    ("scope", "target", "covered"),
    [
        (CapScope.network, None, {"slt_1", "slt_2", "slt_3", "slt_4"}),
        (CapScope.campaign, "cmp_1", {"slt_1", "slt_2"}),
        (CapScope.slot, "slt_1", {"slt_1"}),
        (CapScope.pair, frozenset({"ptn_a", "ptn_b"}), {"slt_1", "slt_2", "slt_3"}),
        (CapScope.pair, frozenset({"ptn_a", "ptn_c"}), set()),
    ],
)
def test_each_scope_covers_its_placements(
    scope: CapScope, target: str | frozenset[str] | None, covered: set[str]
) -> None:
    places = (HERE, SAME_CAMPAIGN, OTHER_CAMPAIGN_SAME_PAIR, ELSEWHERE)
    assert {p.slot_id for p in places if rule(scope, target).covers(p)} == covered


def test_an_own_offer_is_no_pair() -> None:
    assert ELSEWHERE.pair() is None
    assert Placement("s", "c", "ptn_a", "ptn_a").pair() is None


@pytest.mark.parametrize(
    ("window", "hours", "zone", "now", "start"),
    [
        (CapWindow.lifetime, None, "UTC", NOW, None),
        (CapWindow.rolling, 24, "UTC", NOW, NOW - timedelta(hours=24)),
        (CapWindow.calendar_day, None, "UTC", NOW, datetime(2026, 3, 29, tzinfo=UTC)),
        # Berlin, the day clocks go forward (29 March 2026): local midnight was 23:00 UTC on
        # the 28th, while at 12:00 UTC it is already CEST (UTC+2).
        (
            CapWindow.calendar_day,
            None,
            "Europe/Berlin",
            NOW,
            datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
        ),
        # The day clocks go back (25 October 2026): midnight CEST = 22:00 UTC the day before.
        (
            CapWindow.calendar_day,
            None,
            "Europe/Berlin",
            datetime(2026, 10, 25, 23, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 23, 0, tzinfo=UTC),
        ),
        (
            CapWindow.calendar_day,
            None,
            "Europe/Berlin",
            datetime(2026, 10, 25, 22, 59, tzinfo=UTC),
            datetime(2026, 10, 24, 22, 0, tzinfo=UTC),
        ),
        # New York at 03:00 UTC is still the evening before.
        (
            CapWindow.calendar_day,
            None,
            "America/New_York",
            datetime(2026, 3, 9, 3, 0, tzinfo=UTC),
            datetime(2026, 3, 8, 5, 0, tzinfo=UTC),
        ),
    ],
)
def test_window_start(
    window: CapWindow, hours: int | None, zone: str, now: datetime, start: datetime | None
) -> None:
    assert window_start(rule(window=window, hours=hours, zone=zone), now) == start


def test_a_dst_day_is_23_or_25_hours_long() -> None:
    berlin = rule(window=CapWindow.calendar_day, zone="Europe/Berlin")
    spring_end = datetime(2026, 3, 29, 21, 59, tzinfo=UTC)  # 23:59 CEST
    start = window_start(berlin, spring_end)
    assert start is not None and spring_end - start == timedelta(hours=22, minutes=59)
    autumn_end = datetime(2026, 10, 25, 22, 59, tzinfo=UTC)  # 23:59 CET
    start = window_start(berlin, autumn_end)
    assert start is not None and autumn_end - start == timedelta(hours=24, minutes=59)


def exposures(place: Placement, *hours_ago: float) -> list[Exposure]:
    return [Exposure(NOW - timedelta(hours=h), place) for h in hours_ago]


def test_counting_respects_scope_and_window() -> None:
    seen = exposures(HERE, 1, 30, 200) + exposures(ELSEWHERE, 2) + exposures(SAME_CAMPAIGN, 3)
    assert exposures_counted(rule(), seen, NOW) == 5
    assert exposures_counted(rule(window=CapWindow.rolling, hours=24), seen, NOW) == 3
    assert exposures_counted(rule(CapScope.campaign, "cmp_1"), seen, NOW) == 4
    assert exposures_counted(rule(CapScope.slot, "slt_1"), seen, NOW) == 3
    # An exposure stamped after `now` (clock skew between servers) does not count yet.
    assert exposures_counted(rule(), exposures(HERE, -1), NOW) == 0


def test_the_visitor_is_capped_once_the_maximum_counts() -> None:
    cap = rule(CapScope.slot, "slt_1", maximum=2)
    assert capping_rule([cap], HERE, exposures(HERE, 1), NOW) is None
    assert capping_rule([cap], HERE, exposures(HERE, 1, 2), NOW) is cap
    # A rule that does not cover the link holds nothing back, however often it was seen.
    assert capping_rule([cap], ELSEWHERE, exposures(HERE, 1, 2, 3), NOW) is None


def test_all_rules_are_enforced_together() -> None:
    daily = CapRule("cap_day", CapScope.network, None, 5, CapWindow.calendar_day, None, "UTC")
    per_slot = CapRule("cap_slot", CapScope.slot, "slt_1", 2, CapWindow.lifetime)
    pair = CapRule("cap_pair", CapScope.pair, frozenset({"ptn_a", "ptn_b"}), 3, CapWindow.lifetime)
    rules = [daily, per_slot, pair]
    assert capping_rule(rules, HERE, exposures(HERE, 1), NOW) is None
    assert capping_rule(rules, HERE, exposures(HERE, 1, 30), NOW) is per_slot
    over_pair = exposures(SAME_CAMPAIGN, 1, 2) + exposures(OTHER_CAMPAIGN_SAME_PAIR, 3)
    assert capping_rule(rules, HERE, over_pair, NOW) is pair
    busy_day = exposures(ELSEWHERE, 1, 2, 3, 4, 5)
    assert capping_rule(rules, HERE, busy_day, NOW) is daily
    assert capping_rule(rules, ELSEWHERE, busy_day, NOW) is daily


def test_earliest_start_reads_back_as_far_as_the_longest_window() -> None:
    day = rule(window=CapWindow.calendar_day)
    week = rule(window=CapWindow.rolling, hours=168)
    assert earliest_start([day, week], NOW) == NOW - timedelta(hours=168)
    assert earliest_start([day, rule()], NOW) is None


@pytest.mark.parametrize(
    ("terms", "field"),
    [
        ((CapScope.network, 0, CapWindow.lifetime, None, "UTC"), "maximum"),
        ((CapScope.network, 1, CapWindow.rolling, None, "UTC"), "window_hours"),
        ((CapScope.network, 1, CapWindow.rolling, 0, "UTC"), "window_hours"),
        ((CapScope.network, 1, CapWindow.lifetime, 5, "UTC"), "window_hours"),
        ((CapScope.network, 1, CapWindow.calendar_day, None, "Mars/Olympus"), "time_zone"),
    ],
)
def test_impossible_terms_name_their_field(
    terms: tuple[CapScope, int, CapWindow, int | None, str], field: str
) -> None:
    problem = check_rule_terms(*terms)
    assert problem is not None and problem[0] == field


PLACES = st.sampled_from([HERE, SAME_CAMPAIGN, OTHER_CAMPAIGN_SAME_PAIR, ELSEWHERE])
RULES = st.builds(
    CapRule,
    id=st.just("cap_h"),
    scope=st.sampled_from(list(CapScope)),
    target=st.sampled_from(["cmp_1", "slt_1", frozenset({"ptn_a", "ptn_b"}), None]),
    maximum=st.integers(1, 6),
    window=st.sampled_from(list(CapWindow)),
    window_hours=st.integers(1, 72),
    time_zone=st.sampled_from(["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata"]),
)
EXPOSURES = st.lists(
    st.builds(
        Exposure,
        at=st.integers(0, 200 * 3600).map(lambda s: NOW - timedelta(seconds=s)),
        place=PLACES,
    ),
    max_size=20,
)


@given(rules=st.lists(RULES, min_size=1, max_size=4), seen=EXPOSURES, place=PLACES)
def test_capped_exactly_when_some_rule_is_at_its_maximum(
    rules: list[CapRule], seen: list[Exposure], place: Placement
) -> None:
    expected = any(r.covers(place) and exposures_counted(r, seen, NOW) >= r.maximum for r in rules)
    assert (capping_rule(rules, place, seen, NOW) is not None) == expected
    # Adding a rule can only cap more; the order of rules never changes the verdict.
    assert (capping_rule(list(reversed(rules)), place, seen, NOW) is not None) == expected


@given(rule_=RULES, seen=EXPOSURES)
def test_a_counted_exposure_is_never_older_than_the_read_window(
    rule_: CapRule, seen: list[Exposure]
) -> None:
    start = earliest_start([rule_], NOW)
    kept = [e for e in seen if start is None or e.at >= start]
    assert exposures_counted(rule_, kept, NOW) == exposures_counted(rule_, seen, NOW)


@given(
    moment=st.datetimes(
        min_value=datetime(2020, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"]),
)
def test_a_calendar_day_starts_at_most_25_hours_back_and_at_local_midnight(
    moment: datetime, zone: str
) -> None:
    start = window_start(rule(window=CapWindow.calendar_day, zone=zone), moment)
    assert start is not None and timedelta(0) <= moment - start <= timedelta(hours=25)
    local = start.astimezone(ZoneInfo(zone))
    assert (local.hour, local.minute) == (0, 0)
    assert local.date() == moment.astimezone(ZoneInfo(zone)).date()


def test_a_capped_click_never_earns_and_says_so_in_the_path() -> None:
    order = OrderFacts(
        program_id="prg_1",
        occurred_at=NOW,
        window=timedelta(days=30),
        coupon_partner_id=None,
        customer_partner_id=None,
    )
    earlier = ClickFact("clk_1", "prg_1", "ptn_a", NOW - timedelta(hours=5), False)
    capped = ClickFact("clk_2", "prg_1", "ptn_b", NOW - timedelta(hours=1), False, "capped")
    won = attribute(order, [earlier, capped])
    assert isinstance(won, Attribution) and won.click_id == "clk_1"
    assert [step["verdict"] for step in won.path] == ["capped", "winner"]
    nobody = attribute(order, [capped])
    assert isinstance(nobody, NoAttribution) and nobody.reason == "capped"
