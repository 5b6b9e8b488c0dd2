"""What the audience pages compute around overlap.py: each partner's best match (pruned by an
upper bound, checked against comparing every pair), the bound itself, a partner's own audience,
the refresh schedule, and the formatting of suppressed numbers."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo import overlap, overlap_views
from alliance.crosspromo.overlap_models import AudienceSketch
from alliance.crosspromo.overlap_views import RefreshSchedule, best_matches, overlap_ceiling
from alliance.crosspromo.sketches import Sketch, estimate_overlap
from alliance.db.engine import reading, transaction
from alliance.ids import PREFIXES, new_id
from alliance.jobs.models import JobRun
from alliance.web import i18n
from alliance.web.audience_common import refresh_text, share_text
from tests.crosspromo.overlap_factories import (
    advertiser_with_program,
    partner_in,
    visit,
    visitors,
)

KEY_ID = 7
DASH = "\u2013"


def brute_force_best(sketches: dict[str, Sketch], min_shared: float) -> dict[str, str]:
    """Every pair estimated: the answer best_matches must give."""
    best: dict[str, str] = {}
    for first in sorted(sketches):
        found: tuple[float, str] | None = None
        for second in sorted(sketches):
            if second == first:
                continue
            shared = estimate_overlap(sketches[first], sketches[second]).shared.value
            if shared >= min_shared and (found is None or shared > found[0]):
                found = (shared, second)
        if found is not None:
            best[first] = found[1]
    return best


@st.composite
def audiences(draw: st.DrawFn) -> dict[str, Sketch]:
    """2-8 audiences drawn from one pool of visitors (so they overlap), with a small k so
    both the exact and the estimated paths of the sketches are taken."""
    k = draw(st.sampled_from([8, 16, 64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = random.Random(seed)
    pool = [rng.getrandbits(64) for _ in range(400)]
    found: dict[str, Sketch] = {}
    for n in range(draw(st.integers(2, 8))):
        size = draw(st.integers(0, 300))
        start = draw(st.integers(0, 399))
        hashes = (pool + pool)[start : start + size]
        found[f"p{n}"] = Sketch.of_hashes(hashes, KEY_ID, k=k)
    return found


@settings(max_examples=150, deadline=None)
@given(audiences(), st.sampled_from([0.5, 5, 50]))
def test_the_pruned_search_finds_what_comparing_every_pair_finds(
    sketches: dict[str, Sketch], min_shared: float
) -> None:
    assert best_matches(sketches, min_shared) == brute_force_best(sketches, min_shared)


@settings(max_examples=200, deadline=None)
@given(audiences())
def test_the_ceiling_is_never_below_the_estimate(sketches: dict[str, Sketch]) -> None:
    ids = sorted(sketches)
    for first in ids:
        for second in ids:
            if first == second:
                continue
            a, b = sketches[first], sketches[second]
            common = len(set(a.values[: min(a.k, b.k)]) & set(b.values[: min(a.k, b.k)]))
            shared = estimate_overlap(a, b).shared.value
            if common:
                assert overlap_ceiling(a, b, common) >= shared
            else:
                assert shared == 0


def test_ties_go_to_the_smaller_id() -> None:
    pool = list(range(1, 201))
    sketches = {
        "a": Sketch.of_hashes(pool[:100], KEY_ID),
        "c": Sketch.of_hashes(pool[:100], KEY_ID),  # the same audience as "a" and "b"
        "b": Sketch.of_hashes(pool[:100], KEY_ID),
    }
    assert best_matches(sketches, 50) == {"a": "b", "b": "a", "c": "a"}


def test_large_audiences_prune_most_pairs() -> None:
    """Twelve audiences of 20,000 visitors at k = 4096, overlapping by 0 to 45%: the search
    estimates far fewer pairs than the 66 there are, and still finds what brute force finds."""
    rng = random.Random(5)
    pool = [rng.getrandbits(64) for _ in range(140_000)]
    sketches = {
        f"p{n:02d}": Sketch.of_hashes(pool[n * 11_000 : n * 11_000 + 20_000], KEY_ID)
        for n in range(12)
    }
    calls = 0
    original = estimate_overlap

    def counted(a: Sketch, b: Sketch) -> object:
        nonlocal calls
        calls += 1
        return original(a, b)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(overlap_views, "estimate_overlap", counted)
        found = best_matches(sketches, 50)
    assert found == brute_force_best(sketches, 50)
    assert calls <= 24, calls  # 11 measured: about one per partner


# --- a partner's own audience ----------------------------------------------------------------


def test_own_audience_is_suppressed_and_needs_this_networks_key(db_url: str) -> None:
    _, program_id = advertiser_with_program()
    small, large = partner_in(program_id), partner_in(program_id)
    tag = random.randbytes(4).hex()
    visit(small, visitors(f"s{tag}", range(20)))
    visit(large, visitors(f"l{tag}", range(120)))
    visit(large, visitors(f"l{tag}", range(20)))
    overlap.refresh_sketches(partner_ids=[small.partner.id, large.partner.id])
    days = overlap.default_window_days()
    with reading() as session:
        few = overlap_views.own_audience(session, small.partner.id, days)
        many = overlap_views.own_audience(session, large.partner.id, days)
    assert few is not None and many is not None
    assert (few.audience, few.audience_low, few.audience_high) == ("< 50", "< 50", "< 50")
    assert (many.audience, many.exact, many.clicks_read) == (120, True, 140)
    # A sketch made with another key (the secret key changed) is as good as none.
    with transaction() as session:
        row = session.get(AudienceSketch, (large.partner.id, days))
        assert row is not None
        row.sketch = Sketch.of_hashes([1, 2, 3], key_id=12345).to_bytes()
    with reading() as session:
        assert overlap_views.own_audience(session, large.partner.id, days) is None
        assert overlap_views.own_audience(session, "ptn_" + "0" * 26, days) is None


# --- the words -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (0.4, "40.00 %"),
        (0.123456, "12.35 %"),
        (0.000123, "0.01 %"),
        ("< 0.16", "< 16 %"),
        ("< 0.0016", "< 0.16 %"),
        ("< 1", "< 100 %"),
        (None, DASH),
    ],
)
def test_shares_read_as_percentages(value: float | str | None, text: str) -> None:
    i18n.activate("en")
    assert share_text(value) == text


def test_the_refresh_is_told_in_words() -> None:
    i18n.activate("en")
    now = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
    never = refresh_text(RefreshSchedule(None, None), now)
    assert never.startswith("The daily refresh has not run on this network yet.")
    assert "alliance crosspromo sketches refresh" in never
    # Sketches made by the CLI or the demo, the job never run: the runner takes it as due.
    made_by_hand = refresh_text(RefreshSchedule(None, None), now, measured=True)
    assert made_by_hand.startswith("The daily refresh is due now")
    late = RefreshSchedule(now - timedelta(days=2), now - timedelta(days=1))
    assert refresh_text(late, now).startswith("The daily refresh is due now")
    soon = RefreshSchedule(now - timedelta(hours=20), now + timedelta(hours=4))
    assert (
        refresh_text(soon, now)
        == "The next daily refresh is due at Mar 29, 2026, 4:00\u202fPM UTC."
    )


def test_the_schedule_follows_the_last_successful_refresh(db_url: str) -> None:
    with transaction() as session:
        started = datetime(2000, 1, 1, 3, 0, tzinfo=UTC)
        for ok in (True, False):  # a failed run does not count
            session.add(
                JobRun(
                    id=new_id(PREFIXES["job_run"]),
                    name=overlap_views.REFRESH_TASK,
                    started_at=started + timedelta(hours=0 if ok else 5),
                    ok=ok,
                    result={},
                )
            )
    with reading() as session:
        schedule = overlap_views.refresh_schedule(session)
    # Other tests may have run the job later: the last success is at least ours.
    assert schedule.last_run_at is not None and schedule.last_run_at >= started
    assert schedule.last_run_at != started + timedelta(hours=5)
    assert schedule.next_run_at == schedule.last_run_at + timedelta(days=1)


def test_best_overlaps_are_kept_until_a_sketch_changes(
    db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, program_id = advertiser_with_program()
    trio = [partner_in(program_id) for _ in range(3)]
    tag = random.randbytes(4).hex()
    for n, audience in enumerate(trio):
        visit(audience, visitors(f"c{tag}", range(60 * n, 60 * n + 120)))
    ids = [a.partner.id for a in trio]
    overlap.refresh_sketches(partner_ids=ids)
    searches = 0
    original = overlap_views.best_matches

    def counted(sketches: dict[str, Sketch], min_shared: float) -> dict[str, str]:
        nonlocal searches
        searches += 1
        return original(sketches, min_shared)

    monkeypatch.setattr(overlap_views, "best_matches", counted)
    days = overlap.default_window_days()
    with reading() as session:
        first = overlap_views.best_overlaps(session, ids, days)
        again = overlap_views.best_overlaps(session, ids, days)
    # Each shares 60 with its neighbours; the middle one's tie goes to the smaller id.
    assert {pid: pair.other_partner_id for pid, pair in first.items()} == {
        ids[0]: ids[1],
        ids[1]: min(ids[0], ids[2]),
        ids[2]: ids[1],
    }
    assert first[ids[0]].overlap.shared.value == 60
    assert again == first and searches == 1
    visit(trio[2], visitors(f"c{tag}", range(0, 120)))  # now shares 120 with the first
    overlap.refresh_sketches(partner_ids=[trio[2].partner.id])
    with reading() as session:
        changed = overlap_views.best_overlaps(session, ids, days)
    assert searches == 2
    assert changed[ids[0]].other_partner_id == ids[2]
    assert changed[ids[0]].overlap.shared.value == 120
