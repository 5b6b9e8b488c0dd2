"""Audience overlap end to end: sketches built from clicks, the API, the CLI and the job."""

from __future__ import annotations

import tracemalloc
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from alliance.cli import app
from alliance.clock import utcnow
from alliance.crosspromo import overlap
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.crosspromo.sketches import Sketch
from alliance.db.engine import reading
from alliance.ids import PREFIXES, new_id
from alliance.jobs.runner import TASKS, run_task
from tests.api.factories import API, auth, expect
from tests.crosspromo.overlap_factories import (
    Account,
    Audience,
    advertiser_with_program,
    partner_in,
    visit,
    visitors,
)

URL = f"{API}/audience-overlap"
FIELDS = {
    "partner_id",
    "other_partner_id",
    "window_days",
    "computed_at",
    "audience",
    "other_audience",
    "shared",
    "shared_low",
    "shared_high",
    "jaccard",
    "jaccard_low",
    "jaccard_high",
    "confidence",
    "exact",
}


@dataclass(frozen=True)
class Scene:
    advertiser: Account
    a: Audience  # 300 visitors
    b: Audience  # 300 visitors, 100 of them A's
    c: Audience  # applied, not approved: 60 of A's visitors
    d: Audience  # 30 visitors, 10 of them A's
    elsewhere: Audience  # approved in another advertiser's program, 80 of A's visitors


@pytest.fixture(scope="module")
def scene(db_url: str) -> Scene:
    advertiser, program_id = advertiser_with_program()
    a, b, d = (partner_in(program_id) for _ in range(3))
    c = partner_in(program_id, status="applied")
    _, other_program = advertiser_with_program()
    elsewhere = partner_in(other_program)
    p = "p"
    visit(a, visitors(p, range(0, 300)))
    visit(a, visitors(p, range(0, 50)))  # a second visit counts once
    visit(b, visitors(p, range(200, 500)))
    # Clicks that are not B's audience: bots, invalid clicks, and clicks older than the window.
    visit(b, visitors(p, range(0, 100)), is_bot=True)
    visit(b, visitors(p, range(100, 150)), invalid_reason="country_not_allowed")
    visit(b, visitors(p, range(150, 200)), at=utcnow() - timedelta(days=91))
    visit(c, visitors(p, range(0, 60)))
    visit(d, visitors(p, range(290, 320)))
    visit(elsewhere, visitors(p, range(100, 180)))
    ids = [x.partner.id for x in (a, b, c, d, elsewhere)]
    done = overlap.refresh_sketches(partner_ids=ids)
    assert done.partners == 5 and done.window_days == 90
    return Scene(advertiser, a, b, c, d, elsewhere)


def get(http: httpx.Client, key: str, **params: Any) -> httpx.Response:
    return http.get(URL, params=params, headers=auth(key))


def pair(http: httpx.Client, key: str, first: Audience, second: Audience) -> dict[str, Any]:
    found: dict[str, Any] = expect(
        get(http, key, partner_id=first.partner.id, other_partner_id=second.partner.id), 200
    )
    return found


# --- sketches from clicks --------------------------------------------------------------------


def test_sketches_count_distinct_valid_visitors_in_the_window(scene: Scene) -> None:
    with reading() as session:
        rows = {
            row.partner_id: row
            for row in session.scalars(
                select(AudienceSketch).where(
                    AudienceSketch.partner_id.in_([scene.a.partner.id, scene.b.partner.id])
                )
            )
        }
    a, b = rows[scene.a.partner.id], rows[scene.b.partner.id]
    assert (a.distinct_estimate, a.clicks_read) == (300, 350)
    assert (b.distinct_estimate, b.clicks_read) == (300, 300)
    assert Sketch.from_bytes(a.sketch).is_exact


def test_the_overlap_of_small_audiences_is_exact(scene: Scene) -> None:
    with reading() as session:
        found = overlap.pair_overlap(session, scene.a.partner.id, scene.b.partner.id, 90)
    assert found.overlap.shared.value == 100 and found.overlap.shared.exact
    assert found.overlap.jaccard.value == pytest.approx(100 / 500)


def test_a_partner_without_clicks_has_an_empty_audience(db_url: str) -> None:
    _, program_id = advertiser_with_program()
    quiet = partner_in(program_id)
    overlap.refresh_sketches(partner_ids=[quiet.partner.id])
    with reading() as session:
        row = session.get(AudienceSketch, (quiet.partner.id, 90))
    assert row is not None and row.distinct_estimate == 0 and row.clicks_read == 0


def test_refresh_streams_clicks_in_bounded_memory(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """40,000 clicks of 20,000 visitors: more than k, so the sketch estimates. Read in
    batches of 2,000, the refresh peaks at ~2 MB of Python memory on both engines; the same
    clicks read at once peak at ~10.5 MB (measured), so streaming is what keeps it low."""
    monkeypatch.setattr(overlap, "CLICK_BATCH", 2_000)
    _, program_id = advertiser_with_program()
    busy = partner_in(program_id)
    crowd = visitors("m", range(20_000))
    visit(busy, crowd)
    visit(busy, crowd, at=utcnow() - timedelta(days=3))
    tracemalloc.start()
    try:
        done = overlap.refresh_sketches(partner_ids=[busy.partner.id])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert done.clicks_read == 40_000
    assert peak < 4_000_000, f"peak {peak:,} bytes"
    with reading() as session:
        stored = overlap.load_sketch(session, busy.partner.id, 90)
    audience = stored.sketch.distinct()
    assert not audience.exact and audience.low <= 20_000 <= audience.high


def test_the_job_refreshes_every_partner(scene: Scene) -> None:
    result = run_task(TASKS["refresh_audience_sketches"])
    assert result.ok, result.result
    assert result.result["partners"] >= 5 and result.result["window_days"] == 90
    with reading() as session:
        row = session.get(AudienceSketch, (scene.a.partner.id, 90))
    assert row is not None and row.distinct_estimate == 300


# --- the API ---------------------------------------------------------------------------------


def test_the_operator_sees_any_pair(scene: Scene, http: httpx.Client, operator_key: str) -> None:
    found = pair(http, operator_key, scene.a, scene.b)
    assert set(found) == FIELDS
    assert found["partner_id"] == scene.a.partner.id
    assert found["other_partner_id"] == scene.b.partner.id
    assert found["window_days"] == 90 and found["confidence"] == "95%" and found["exact"] is True
    assert (found["audience"], found["other_audience"]) == (300, 300)
    assert (found["shared"], found["shared_low"], found["shared_high"]) == (100, 100, 100)
    assert found["jaccard"] == found["jaccard_low"] == found["jaccard_high"] == 0.2
    assert pair(http, operator_key, scene.c, scene.a)["shared"] == 60


def test_small_overlaps_are_shown_as_under_50(
    scene: Scene, http: httpx.Client, operator_key: str
) -> None:
    found = pair(http, operator_key, scene.a, scene.d)
    assert found["audience"] == 300
    assert found["other_audience"] == "< 50"
    assert found["shared"] == found["shared_low"] == found["shared_high"] == "< 50"
    # Ten shared of a union of 320: the Jaccard would give the ten away; 50/320 = 0.156...
    assert found["jaccard"] == found["jaccard_low"] == found["jaccard_high"] == "< 0.16"
    csv = http.get(
        URL,
        params={
            "partner_id": scene.a.partner.id,
            "other_partner_id": scene.d.partner.id,
            "format": "csv",
        },
        headers=auth(operator_key),
    )
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    header, line = csv.text.splitlines()
    assert header.split(",")[:3] == ["partner_id", "other_partner_id", "window_days"]
    assert "< 50" in line and "< 0.16" in line


def test_no_visitor_id_or_hash_leaves_the_server(
    scene: Scene, http: httpx.Client, operator_key: str
) -> None:
    answers = [
        get(http, operator_key, partner_id=scene.a.partner.id, other_partner_id=scene.b.partner.id),
        http.get(
            f"{URL}/top", params={"partner_id": scene.a.partner.id}, headers=auth(operator_key)
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200
        assert "vis_" not in answer.text
        # Hashes are 64-bit integers: nothing in an answer is anywhere near that large.
        numbers = [v for v in _leaves(answer.json()) if isinstance(v, int | float)]
        assert all(abs(v) < 10**9 for v in numbers)


def _leaves(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [leaf for v in value.values() for leaf in _leaves(v)]
    if isinstance(value, list):
        return [leaf for v in value for leaf in _leaves(v)]
    return [value]


def test_a_partner_sees_only_pairs_with_itself(scene: Scene, http: httpx.Client) -> None:
    key = scene.a.partner.key
    assert pair(http, key, scene.a, scene.b)["shared"] == 100
    # Itself on either side; any other partner, even one outside its programs.
    assert pair(http, key, scene.b, scene.a)["shared"] == 100
    assert pair(http, key, scene.a, scene.elsewhere)["shared"] == 80
    foreign = get(http, key, partner_id=scene.b.partner.id, other_partner_id=scene.d.partner.id)
    assert foreign.status_code == 404
    assert foreign.headers["content-type"].startswith("application/problem+json")
    top = http.get(f"{URL}/top", params={"partner_id": scene.b.partner.id}, headers=auth(key))
    assert top.status_code == 404


def test_an_advertiser_sees_pairs_of_its_approved_partners(
    scene: Scene, http: httpx.Client
) -> None:
    key = scene.advertiser.key
    assert pair(http, key, scene.a, scene.b)["shared"] == 100
    for outsider in (scene.c, scene.elsewhere):  # applied only; another advertiser's partner
        answer = get(http, key, partner_id=scene.a.partner.id, other_partner_id=outsider.partner.id)
        assert answer.status_code == 404, answer.text
        assert answer.json()["field"] == "other_partner_id"
    top = expect(
        http.get(f"{URL}/top", params={"partner_id": scene.a.partner.id}, headers=auth(key)), 200
    )
    assert [item["other_partner_id"] for item in top["items"]] == [scene.b.partner.id]


def test_top_lists_the_largest_overlaps_above_50(
    scene: Scene, http: httpx.Client, operator_key: str
) -> None:
    top = expect(
        http.get(
            f"{URL}/top", params={"partner_id": scene.a.partner.id}, headers=auth(operator_key)
        ),
        200,
    )
    assert top["partner_id"] == scene.a.partner.id and top["window_days"] == 90
    assert "fewer than 50" in top["note"]
    listed = [(item["other_partner_id"], item["shared"]) for item in top["items"]]
    # B 100, `elsewhere` 80, C 60; D shares 10 and is not listed; A is never its own match.
    ours = {scene.b.partner.id, scene.elsewhere.partner.id, scene.c.partner.id}
    assert [entry for entry in listed if entry[0] in ours] == [
        (scene.b.partner.id, 100),
        (scene.elsewhere.partner.id, 80),
        (scene.c.partner.id, 60),
    ]
    assert scene.d.partner.id not in dict(listed) and scene.a.partner.id not in dict(listed)
    assert all(shared != "< 50" and shared >= 50 for _, shared in listed)
    one = http.get(
        f"{URL}/top",
        params={"partner_id": scene.a.partner.id, "limit": 1},
        headers=auth(operator_key),
    )
    assert len(expect(one, 200)["items"]) == 1


def test_large_audiences_are_estimated_with_bounds(
    db_url: str, http: httpx.Client, operator_key: str
) -> None:
    _, program_id = advertiser_with_program()
    f, g = partner_in(program_id), partner_in(program_id)
    visit(f, visitors("q", range(0, 6_000)))
    visit(g, visitors("q", range(3_000, 9_000)))
    overlap.refresh_sketches(partner_ids=[f.partner.id, g.partner.id])
    found = pair(http, operator_key, f, g)
    assert found["exact"] is False
    assert found["shared_low"] < found["shared"] < found["shared_high"]
    assert found["jaccard_low"] < found["jaccard"] < found["jaccard_high"]
    # Relative standard error ~2.7% here; 25% is nine of them.
    assert abs(found["shared"] - 3_000) < 750
    assert abs(found["audience"] - 6_000) < 1_500


@pytest.mark.parametrize(
    ("params", "status", "field"),
    [
        ({"other_partner_id": "A"}, 422, "partner_id"),
        ({"partner_id": "A"}, 422, "other_partner_id"),
        ({"partner_id": "ptn_nope", "other_partner_id": "A"}, 422, "partner_id"),
        ({"partner_id": "A", "other_partner_id": "A"}, 422, "other_partner_id"),
        ({"partner_id": "A", "other_partner_id": "B", "window_days": "0"}, 422, "window_days"),
        ({"partner_id": "A", "other_partner_id": "B", "window_days": "x"}, 422, "window_days"),
        ({"partner_id": "A", "other_partner_id": "UNKNOWN"}, 404, "other_partner_id"),
        # No sketch over 7 days was ever made.
        ({"partner_id": "A", "other_partner_id": "B", "window_days": "7"}, 409, "partner_id"),
        ({"partner_id": "A", "other_partner_id": "B", "format": "xml"}, 422, "format"),
    ],
)
def test_bad_requests_name_the_field(
    scene: Scene,
    http: httpx.Client,
    operator_key: str,
    params: dict[str, str],
    status: int,
    field: str,
) -> None:
    names = {
        "A": scene.a.partner.id,
        "B": scene.b.partner.id,
        "UNKNOWN": new_id(PREFIXES["partner"]),
    }
    answer = get(http, operator_key, **{k: names.get(v, v) for k, v in params.items()})
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field


def test_top_refuses_bad_limits_and_strangers(
    scene: Scene, http: httpx.Client, operator_key: str
) -> None:
    for limit in ("0", "101", "ten"):
        answer = http.get(
            f"{URL}/top",
            params={"partner_id": scene.a.partner.id, "limit": limit},
            headers=auth(operator_key),
        )
        assert answer.status_code == 422 and answer.json()["field"] == "limit"
    unknown = http.get(
        f"{URL}/top",
        params={"partner_id": new_id(PREFIXES["partner"])},
        headers=auth(operator_key),
    )
    assert unknown.status_code == 404
    assert http.get(f"{URL}/top", params={"partner_id": scene.a.partner.id}).status_code == 401


# --- the CLI ---------------------------------------------------------------------------------


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, ["crosspromo", *args])
    assert result.exit_code == 0, result.output
    return result.output


def test_the_cli_prints_the_same_numbers(scene: Scene) -> None:
    a, b, d = scene.a.partner.id, scene.b.partner.id, scene.d.partner.id
    assert "refreshed 2 partners" in _cli("sketches", "refresh", "--partner", a, "--partner", b)
    csv = _cli("overlap", a, b, "--csv").splitlines()
    assert csv[0].startswith("partner_id,other_partner_id,window_days,computed_at,audience")
    assert f"{a},{b},90," in csv[1] and ",300,300,100,100,100,0.2,0.2,0.2,95%,true" in csv[1]
    small = _cli("overlap", a, d, "--csv").splitlines()[1]
    assert small.endswith(",300,< 50,< 50,< 50,< 50,< 0.16,< 0.16,< 0.16,95%,true")
    table = _cli("overlap", a, d)
    assert "shared" in table and "< 50" in table and "< 0.16" in table
    top = _cli("overlap", a, "--csv").splitlines()
    assert top[0] == csv[0]
    listed = [line.split(",")[1] for line in top[1:]]
    assert b in listed and d not in listed
    missing = CliRunner().invoke(app, ["crosspromo", "overlap", a, b, "--window-days", "7"])
    assert missing.exit_code == 2 and "no audience sketch" in missing.output
    stranger = new_id(PREFIXES["partner"])
    unknown = CliRunner().invoke(app, ["crosspromo", "sketches", "refresh", "--partner", stranger])
    assert unknown.exit_code == 2 and "no partner" in unknown.output
