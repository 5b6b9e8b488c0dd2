"""Conversion rate by exposure count, within visitors: the pure estimate on constructed
examples and by hypothesis, and the campaign report read from real click and order rows."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from alliance.clock import utcnow
from alliance.crosspromo.caps_report import exposure_report
from alliance.ids import new_id
from tests.api.factories import API, auth, expect, insert_click, insert_conversion

from .campaign_factories import make_world
from .caps_factories import swap_campaign


def test_the_panel_compares_each_visitor_with_itself() -> None:
    sequences = [[True, False], [False, False], [True], [False], [True]]
    first, second = exposure_report(sequences, depth=2)
    # Naive: everybody's first exposure against the two who came back.
    assert (first.visitors, first.conversions, first.rate) == (5, 3, 0.6)
    assert (second.visitors, second.conversions, second.rate) == (2, 0, 0.0)
    # The panel: the two with two exposures, at both counts.
    assert (first.panel_visitors, first.panel_conversions, first.panel_rate) == (2, 1, 0.5)
    assert (second.panel_visitors, second.panel_conversions, second.panel_rate) == (2, 0, 0.0)
    assert first.change_from_first == 0.0
    assert second.change_from_first == -0.5
    assert second.change_interval is not None and second.change_interval.low < -0.5
    assert 0.0 < first.panel_interval.low < 0.5 < first.panel_interval.high < 1.0


def test_heavy_users_do_not_bend_the_panel_curve() -> None:
    # Light visitors convert on their only exposure half the time; heavy ones never convert.
    # Naively, the rate "falls" with exposures; within the heavy visitors it is flat.
    light = [[True], [False]] * 50
    heavy = [[False] * 4] * 20
    rows = exposure_report(light + heavy, depth=4)
    assert rows[0].rate is not None and rows[0].rate > 0.3 and rows[3].rate == 0.0
    assert [row.panel_rate for row in rows] == [0.0] * 4
    assert [row.change_from_first for row in rows] == [0.0] * 4


def test_no_visitors_is_an_empty_curve_not_an_error() -> None:
    (row,) = exposure_report([], depth=1)
    assert (row.visitors, row.rate, row.panel_rate, row.change_from_first) == (0, None, None, None)
    with pytest.raises(ValueError):
        exposure_report([], depth=0)


@given(
    sequences=st.lists(st.lists(st.booleans(), min_size=1, max_size=6), max_size=40),
    depth=st.integers(1, 6),
)
def test_counts_and_intervals_hold_together(sequences: list[list[bool]], depth: int) -> None:
    rows = exposure_report(sequences, depth)
    assert [row.exposure for row in rows] == list(range(1, depth + 1))
    panel = sum(1 for seq in sequences if len(seq) >= depth)
    for row in rows:
        assert row.panel_visitors == panel <= row.visitors
        assert 0 <= row.panel_conversions <= row.panel_visitors
        interval = row.panel_interval
        assert 0.0 <= interval.low <= interval.high <= 1.0
        if row.panel_rate is not None:
            assert interval.low - 1e-12 <= row.panel_rate <= interval.high + 1e-12
        if row.change_interval is not None and row.change_from_first is not None:
            assert row.change_interval.low - 1e-12 <= row.change_from_first
            assert row.change_from_first <= row.change_interval.high + 1e-12
    # Visitors reaching an exposure only ever get fewer.
    assert all(a.visitors >= b.visitors for a, b in pairwise(rows))


def test_the_campaign_report_reads_valid_clicks_and_orders_of_its_links(
    http: httpx.Client, operator_key: str
) -> None:
    world = make_world(http, operator_key)
    campaign, _ = swap_campaign(http, world)
    slot = campaign["slots"][0]
    program_id, partner_id, link_id = slot["program_id"], world.b.id, slot["link"]["id"]
    start = utcnow() - timedelta(hours=6)

    def click(visitor: str, minutes: int, **fields: str) -> str:
        return insert_click(
            program_id,
            partner_id,
            link_id,
            occurred_at=start + timedelta(minutes=minutes),
            visitor_id=visitor,
            **fields,
        )

    x, y, z = new_id("vis"), new_id("vis"), new_id("vis")
    click(x, 1)
    x2 = click(x, 2)
    click(x, 3)
    y1 = click(y, 1)
    y2 = click(y, 2)
    click(z, 1)
    click(z, 2, invalid_reason="capped")  # capped: no exposure
    insert_conversion(program_id, partner_id, currency="EUR", click_id=x2)
    insert_conversion(program_id, partner_id, currency="EUR", click_id=y1, status="completed")
    insert_conversion(program_id, partner_id, currency="EUR", click_id=y2, status="declined")

    url = f"{API}/campaigns/{campaign['id']}/exposure-report"
    first, second = expect(http.get(url, params={"depth": 2}, headers=auth(world.b.key)), 200)
    assert (first["visitors"], first["conversions"]) == (3, 1)
    assert (second["visitors"], second["conversions"]) == (2, 1)
    assert (first["panel_visitors"], first["panel_conversions"]) == (2, 1)
    assert (second["panel_conversions"], second["change_from_first"]) == (1, 0.0)
    assert second["change_interval"]["low"] < 0 < second["change_interval"]["high"]

    refused = http.get(url, params={"depth": 99}, headers=auth(world.a.key))
    assert refused.status_code == 422 and refused.json()["field"] == "depth"
    assert http.get(url, headers=auth(world.c.key)).status_code == 404
