"""The pure rules of campaigns: the transitions table, reminders in a time zone across the EU
and US daylight-saving switches (tables), and properties of the schedule (hypothesis)."""

from __future__ import annotations

import ast
import inspect
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo import campaign_rules
from alliance.crosspromo.campaign_rules import (
    DELIVERABLE_TRANSITIONS,
    OPEN_STATES,
    TRANSITIONS,
    CampaignStatus,
    DeliverableStatus,
    can_move,
    due_reminder,
    local_shift,
    percent_of,
    schedule,
    zone,
)
from alliance.errors import InvalidInput

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def local(text: str, tz: ZoneInfo) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=tz)


# --- the state machine -----------------------------------------------------------------------


def test_every_state_is_in_the_table_and_documented() -> None:
    assert set(TRANSITIONS) == set(CampaignStatus)
    assert set(DELIVERABLE_TRANSITIONS) == set(DeliverableStatus)
    # One docstring line per state, as the other status enums have them.
    for enum in (CampaignStatus, DeliverableStatus):
        body = ast.parse(inspect.getsource(enum)).body[0]
        assert isinstance(body, ast.ClassDef)
        documented = {
            target.id
            for statement, after in zip(body.body, body.body[1:], strict=False)
            if isinstance(statement, ast.Assign)
            for target in statement.targets
            if isinstance(target, ast.Name)
            and isinstance(after, ast.Expr)
            and isinstance(after.value, ast.Constant)
        }
        assert documented == {member.name for member in enum}


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("draft", "proposed", True),
        ("draft", "active", False),  # nobody accepted a draft
        ("proposed", "active", True),
        ("proposed", "proposed", True),  # an edit while out for acceptance
        ("proposed", "live", False),
        ("active", "live", True),
        ("active", "proposed", True),  # edited after acceptance
        ("active", "completed", False),
        ("live", "completed", True),
        ("live", "proposed", True),
        ("live", "active", False),
        ("completed", "cancelled", False),
        ("cancelled", "proposed", False),
        ("completed", "live", False),
    ],
)
def test_transitions(current: str, target: str, allowed: bool) -> None:
    assert can_move(CampaignStatus(current), CampaignStatus(target)) is allowed


def test_cancel_from_every_open_state_and_nothing_leaves_a_final_one() -> None:
    assert {"draft", "proposed", "active", "live"} == OPEN_STATES
    for state in OPEN_STATES:
        assert can_move(state, CampaignStatus.cancelled)
    for state in (CampaignStatus.completed, CampaignStatus.cancelled):
        assert not TRANSITIONS[state]


def test_a_deliverable_goes_back_and_forth_until_approved() -> None:
    requested, submitted, approved, changes = (
        DeliverableStatus.requested,
        DeliverableStatus.submitted,
        DeliverableStatus.approved,
        DeliverableStatus.changes_requested,
    )
    assert DELIVERABLE_TRANSITIONS[requested] == {submitted}
    assert DELIVERABLE_TRANSITIONS[submitted] == {approved, changes}
    assert DELIVERABLE_TRANSITIONS[changes] == {submitted}
    assert not DELIVERABLE_TRANSITIONS[approved]


def test_time_zones_are_iana_names() -> None:
    assert zone("Europe/Berlin") == BERLIN
    for bad in ("Mars/Olympus", "", "CEST", "../../etc/passwd"):
        with pytest.raises(InvalidInput) as refused:
            zone(bad, "parties.0.time_zone")
        assert refused.value.field == "parties.0.time_zone"


# --- reminders across daylight-saving switches ------------------------------------------------


def keyed(due: datetime, tz: ZoneInfo, days: int = 3) -> dict[str, datetime]:
    return {r.key: r.at for r in schedule(due, tz, overdue_days=days)}


def test_berlin_spring_forward_keeps_the_local_time() -> None:
    # Due Monday 30 March 2026, 09:00 CEST; clocks went forward on Sunday 29 March.
    found = keyed(local("2026-03-30T09:00", BERLIN), BERLIN)
    assert found["before-3d"] == utc("2026-03-27T08:00")  # Friday 09:00 CET
    assert found["before-1d"] == utc("2026-03-29T07:00")  # Sunday 09:00 CEST: 23 h before
    assert found["before-2h"] == utc("2026-03-30T05:00")  # elapsed hours: 07:00 CEST
    assert found["overdue-1"] == utc("2026-03-31T07:00")


def test_berlin_overdue_days_across_the_switch_are_23_hours_apart_once() -> None:
    # Due Saturday 28 March 09:00 CET: overdue daily at 09:00 Berlin, before and after.
    found = keyed(local("2026-03-28T09:00", BERLIN), BERLIN)
    assert found["overdue-1"] == utc("2026-03-29T07:00")  # 09:00 CEST, 23 h after the due
    assert found["overdue-2"] == utc("2026-03-30T07:00")
    # Autumn: due Saturday 24 October 09:00 CEST; clocks go back on Sunday 25 October.
    autumn = keyed(local("2026-10-24T09:00", BERLIN), BERLIN)
    assert autumn["overdue-1"] == utc("2026-10-25T08:00")  # 09:00 CET, 25 h after
    assert autumn["before-1d"] == utc("2026-10-23T07:00")


def test_new_york_switches() -> None:
    # Spring: clocks forward on Sunday 8 March 2026. Due Monday 9 March 09:00 EDT.
    spring = keyed(local("2026-03-09T09:00", NEW_YORK), NEW_YORK)
    assert spring["before-3d"] == utc("2026-03-06T14:00")  # Friday 09:00 EST
    assert spring["before-1d"] == utc("2026-03-08T13:00")  # Sunday 09:00 EDT
    assert spring["before-2h"] == utc("2026-03-09T11:00")
    # Autumn: clocks back on Sunday 1 November. Due Saturday 31 October 09:00 EDT.
    autumn = keyed(local("2026-10-31T09:00", NEW_YORK), NEW_YORK)
    assert autumn["overdue-1"] == utc("2026-11-01T14:00")  # 09:00 EST, 25 h later
    assert autumn["overdue-2"] == utc("2026-11-02T14:00")


def test_the_same_moment_in_two_zones_is_reminded_at_each_ones_local_time() -> None:
    # 15:00 UTC on 30 March 2026 (after the EU switch, and the US one): 17:00 in Berlin,
    # 11:00 in New York. Between 9 and 28 March only the US had switched, so "three days
    # before" in Berlin is an hour off from three days before in New York in UTC terms.
    due = utc("2026-03-30T15:00")
    berlin = keyed(due, BERLIN)
    york = keyed(due, NEW_YORK)
    assert berlin["before-3d"] == utc("2026-03-27T16:00")  # 17:00 CET
    assert york["before-3d"] == utc("2026-03-27T15:00")  # 11:00 EDT
    assert berlin["before-1d"] == york["before-1d"] == utc("2026-03-29T15:00")


def test_gaps_and_repeated_hours() -> None:
    # 02:30 does not exist in New York on 8 March 2026: the reminder goes at 03:30 EDT.
    due = local("2026-03-09T02:30", NEW_YORK)
    assert local_shift(due, NEW_YORK, -1) == utc("2026-03-08T07:30")
    # 01:30 happens twice on 1 November: the first one (EDT).
    due = local("2026-11-02T01:30", NEW_YORK)
    assert local_shift(due, NEW_YORK, -1) == utc("2026-11-01T05:30")


def test_only_the_latest_reminder_goes_and_none_before_the_agreement() -> None:
    due = local("2026-03-30T09:00", BERLIN)
    assert due_reminder(due, BERLIN, utc("2026-03-27T07:59")) is None
    first = due_reminder(due, BERLIN, utc("2026-03-27T08:00"))
    assert first is not None and first.key == "before-3d" and not first.overdue
    # Ten hours before, with the job down since Friday: one reminder, the day-before one.
    late = due_reminder(due, BERLIN, utc("2026-03-29T21:00"))
    assert late is not None and late.key == "before-1d"
    # Agreed at 22:00 on Sunday: the day-before reminder predates it and is not sent.
    assert (
        due_reminder(due, BERLIN, utc("2026-03-29T22:00"), not_before=utc("2026-03-29T21:30"))
        is None
    )
    overdue = due_reminder(due, BERLIN, utc("2026-04-02T10:00"))
    assert overdue is not None and overdue.key == "overdue-3" and overdue.overdue
    assert due_reminder(due, BERLIN, utc("2026-04-02T10:00"), owed=False) is None


def test_percent_of_a_target() -> None:
    assert percent_of(3, 4) == Decimal("75.0")
    assert percent_of(Decimal("170.00"), Decimal("500.00")) == Decimal("34.0")
    assert percent_of(5, 2) == Decimal("250.0")
    assert percent_of(1, 3) == Decimal("33.3")
    assert percent_of(5, None) is None


# --- properties ------------------------------------------------------------------------------

ZONES = [
    "Europe/Berlin",
    "America/New_York",
    "Europe/London",
    "America/Los_Angeles",
    "Australia/Sydney",
    "Australia/Lord_Howe",  # a half-hour switch
    "Asia/Kolkata",
    "UTC",
]
moments = st.datetimes(
    min_value=datetime(2020, 1, 1), max_value=datetime(2036, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(due=moments, name=st.sampled_from(ZONES))
def test_day_reminders_fall_at_the_due_local_time(due: datetime, name: str) -> None:
    tz = ZoneInfo(name)
    wall = due.astimezone(tz).replace(tzinfo=None)
    found = schedule(due, tz, overdue_days=5)
    assert [r.at for r in found] == sorted(r.at for r in found)
    assert len({r.key for r in found}) == len(found)
    for reminder in found:
        if reminder.key == "before-2h":
            assert due - reminder.at == timedelta(hours=2)
            continue
        days = int(reminder.key.rsplit("-", 1)[1].rstrip("d"))
        days = -days if reminder.key.startswith("before") else days
        expected = wall + timedelta(days=days)
        got = reminder.at.astimezone(tz).replace(tzinfo=None)
        # The same local time, unless that time does not exist that day (a gap): then
        # moved forward by the gap, never by more than an hour.
        assert timedelta(0) <= got - expected <= timedelta(hours=1)
        # And a day is 24 hours give or take the switch.
        assert abs((reminder.at - due) - timedelta(days=days)) <= timedelta(hours=1)


@settings(max_examples=200, deadline=None)
@given(
    due=moments,
    name=st.sampled_from(ZONES),
    gaps=st.lists(st.integers(min_value=1, max_value=36 * 60), min_size=1, max_size=60),
)
def test_a_job_at_any_pace_sends_each_reminder_once_and_never_early(
    due: datetime, name: str, gaps: list[int]
) -> None:
    tz = ZoneInfo(name)
    now = due - timedelta(days=4)
    sent: dict[str, datetime] = {}  # key -> when it went (the unique table)
    for minutes in gaps:
        now += timedelta(minutes=minutes)
        reminder = due_reminder(due, tz, now)
        if reminder is None or reminder.key in sent:
            continue
        assert reminder.at <= now
        sent[reminder.key] = now
    planned = {r.key: r.at for r in schedule(due, tz)}
    for key, at in sent.items():
        assert planned[key] <= at


@settings(max_examples=30, deadline=None)
@given(due=moments, name=st.sampled_from(ZONES))
def test_a_job_every_five_minutes_sends_every_reminder_within_five_minutes(
    due: datetime, name: str
) -> None:
    tz = ZoneInfo(name)
    planned = schedule(due, tz, overdue_days=3)
    sent: dict[str, datetime] = {}
    now = planned[0].at - timedelta(minutes=7)
    while now <= planned[-1].at + timedelta(minutes=5):
        reminder = due_reminder(due, tz, now)
        if reminder is not None and reminder.key not in sent:
            sent[reminder.key] = now
        now += timedelta(minutes=5)
    for reminder in planned:
        assert reminder.key in sent
        assert timedelta(0) <= sent[reminder.key] - reminder.at < timedelta(minutes=5)


def test_the_module_is_pure() -> None:
    source = inspect.getsource(campaign_rules)
    for forbidden in ("sqlalchemy", "utcnow", "datetime.now", "Session"):
        assert forbidden not in source
