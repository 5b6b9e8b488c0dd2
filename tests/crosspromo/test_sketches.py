"""The pure sketch arithmetic: hashing, KMV sketches, union, overlap and Jaccard bounds."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo.sketches import (
    HASH_SPACE,
    SKETCH_K,
    Sketch,
    SketchBuilder,
    SketchError,
    derive_sketch_key,
    estimate_overlap,
    key_fingerprint,
    kmv_standard_error,
    visitor_hasher,
    wilson_interval,
)

KEY = derive_sketch_key("test network secret")
KEY_ID = key_fingerprint(KEY)
HASH = visitor_hasher(KEY)

hashes = st.sets(st.integers(min_value=0, max_value=HASH_SPACE - 1), max_size=120)
small_k = st.integers(min_value=3, max_value=40)


def sketch_of(ids: list[str], k: int = SKETCH_K) -> Sketch:
    builder = SketchBuilder(KEY_ID, k)
    builder.add_visitors(ids, HASH)
    return builder.sketch()


def ids(prefix: str, numbers: range) -> list[str]:
    return [f"vis_{prefix}{n:020d}" for n in numbers]


# --- hashing ---------------------------------------------------------------------------------


def test_the_key_comes_from_the_network_secret_and_a_purpose() -> None:
    assert derive_sketch_key("secret one") == derive_sketch_key("secret one")
    assert derive_sketch_key("secret one") != derive_sketch_key("secret two")
    assert len(KEY) == 32 and b"test network secret" not in KEY
    # Another network (another secret) hashes the same visitor to an unrelated value.
    other = visitor_hasher(derive_sketch_key("another network"))
    assert HASH("vis_A") == HASH("vis_A") != other("vis_A")
    assert key_fingerprint(KEY) != key_fingerprint(derive_sketch_key("another network"))


def test_hashes_are_64_bit_and_spread_over_the_space() -> None:
    values = [HASH(v) for v in ids("h", range(20_000))]
    assert all(0 <= v < HASH_SPACE for v in values)
    assert len(set(values)) == len(values)
    # Uniform: each eighth of the space holds ~1/8 of the values (2,500 +- ~5 sigma).
    eighths = [0] * 8
    for v in values:
        eighths[v >> 61] += 1
    assert all(2_250 < count < 2_750 for count in eighths)


# --- exact below k ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("a", "b", "shared", "jaccard"),
    [
        (range(0), range(0), 0, 0.0),
        (range(10), range(0), 0, 0.0),
        (range(10), range(10), 10, 1.0),
        (range(0, 300), range(200, 500), 100, 0.2),
        (range(0, 1000), range(1000, 2000), 0, 0.0),
        (range(0, 2000), range(1500, 2047), 500, 500 / 2047),
    ],
)
def test_small_audiences_are_counted_exactly(
    a: range, b: range, shared: int, jaccard: float
) -> None:
    left, right = sketch_of(ids("x", a)), sketch_of(ids("x", b))
    overlap = estimate_overlap(left, right)
    assert overlap.audience.exact and overlap.audience.value == len(a)
    assert overlap.other_audience.value == len(b)
    assert overlap.shared.exact
    assert overlap.shared.value == overlap.shared.low == overlap.shared.high == shared
    assert overlap.jaccard.value == pytest.approx(jaccard)
    assert overlap.union.value == len(set(a) | set(b))


def test_repeat_visits_count_once() -> None:
    sketch = sketch_of(ids("r", range(50)) * 7)
    assert sketch.distinct().value == 50 and sketch.is_exact


def test_k_distinct_values_are_no_longer_exact() -> None:
    assert sketch_of(ids("k", range(15)), k=16).is_exact
    full = sketch_of(ids("k", range(16)), k=16)
    assert not full.is_exact and not full.distinct().exact
    assert full.distinct().low >= 16


# --- merging ---------------------------------------------------------------------------------


@given(a=hashes, b=hashes, k=small_k)
def test_merge_is_the_sketch_of_the_union(a: set[int], b: set[int], k: int) -> None:
    left = Sketch.of_hashes(a, KEY_ID, k)
    right = Sketch.of_hashes(b, KEY_ID, k)
    assert left.merge(right) == Sketch.of_hashes(a | b, KEY_ID, k)


@given(a=hashes, b=hashes, c=hashes, k=small_k)
def test_merge_is_commutative_and_associative(
    a: set[int], b: set[int], c: set[int], k: int
) -> None:
    x, y, z = (Sketch.of_hashes(s, KEY_ID, k) for s in (a, b, c))
    assert x.merge(y) == y.merge(x)
    assert x.merge(y).merge(z) == x.merge(y.merge(z))
    assert x.merge(x) == x


@given(values=st.lists(st.integers(min_value=0, max_value=HASH_SPACE - 1), max_size=300), k=small_k)
def test_the_builder_ignores_order_repeats_and_batches(values: list[int], k: int) -> None:
    expected = Sketch(k, KEY_ID, tuple(sorted(set(values))[:k]))
    assert Sketch.of_hashes(values, KEY_ID, k) == expected
    builder = SketchBuilder(KEY_ID, k)
    for start in range(0, len(values), 7):
        builder.add_hashes(reversed(values[start : start + 7]))
        builder.add_hashes(values[start : start + 3])
    assert builder.sketch() == expected


@given(a=hashes, b=hashes, k=small_k)
def test_the_overlap_reads_the_union_sketch(a: set[int], b: set[int], k: int) -> None:
    """estimate_overlap finds the union's k-th value and shared count without merging;
    it must say what the merged sketch says."""
    left, right = Sketch.of_hashes(a, KEY_ID, k), Sketch.of_hashes(b, KEY_ID, k)
    union = left.merge(right)
    overlap = estimate_overlap(left, right)
    assert overlap.union == union.distinct()
    assert overlap.sample_size == len(union.values)
    in_both = set(left.values) & set(right.values)
    assert overlap.sample_shared == sum(1 for v in union.values if v in in_both)


def test_sketches_of_different_keys_are_never_compared() -> None:
    theirs = Sketch.of_hashes([1, 2, 3], key_fingerprint(derive_sketch_key("elsewhere")))
    with pytest.raises(SketchError):
        Sketch.of_hashes([1, 2, 3], KEY_ID).merge(theirs)


def test_different_k_merge_at_the_smaller_k() -> None:
    big = Sketch.of_hashes(range(100), KEY_ID, 64)
    small = Sketch.of_hashes(range(50, 150), KEY_ID, 16)
    merged = big.merge(small)
    assert merged.k == 16 and merged.values == tuple(range(16))


def test_k_below_3_is_refused() -> None:
    with pytest.raises(SketchError):
        SketchBuilder(KEY_ID, 2)
    with pytest.raises(SketchError):
        Sketch(2, KEY_ID, ())


# --- bytes -----------------------------------------------------------------------------------


@given(a=hashes, k=st.integers(min_value=3, max_value=200))
def test_bytes_round_trip(a: set[int], k: int) -> None:
    sketch = Sketch.of_hashes(a, KEY_ID, k)
    data = sketch.to_bytes()
    assert len(data) == 17 + 8 * len(sketch.values)
    assert Sketch.from_bytes(data) == sketch


def test_a_full_sketch_is_32_kib() -> None:
    assert len(sketch_of(ids("b", range(10_000))).to_bytes()) == 17 + 8 * SKETCH_K


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"AKMV",
        b"XKMV\x01" + bytes(12),
        b"AKMV\x02" + bytes(12),
        # one value announced, none present
        b"AKMV\x01\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x01",
        # two values, not ascending
        b"AKMV\x01\x00\x00\x00\x10\x00\x00\x00\x00\x00\x00\x00\x02"
        + (5).to_bytes(8, "little")
        + (3).to_bytes(8, "little"),
        # more values than k
        b"AKMV\x01\x00\x00\x00\x03\x00\x00\x00\x00\x00\x00\x00\x04"
        + b"".join(n.to_bytes(8, "little") for n in (1, 2, 3, 4)),
        # k below 3
        b"AKMV\x01\x00\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\x00",
    ],
)
def test_bytes_that_are_not_a_sketch_are_refused(data: bytes) -> None:
    with pytest.raises(SketchError):
        Sketch.from_bytes(data)


# --- intervals -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "population", "low", "high"),
    [
        # Wilson at z = 2: centre (p + 2/n) / (1 + 4/n), half-width 2/(1+4/n) sqrt(pq/n + 1/n^2)
        (0, 100, None, 0.0, 0.038462),
        (50, 100, None, 0.401942, 0.598058),
        (100, 100, None, 0.961538, 1.0),
        (10, 1000, None, 0.005375, 0.018529),
        # Drawing the whole population: the share is known.
        (30, 100, 100, 0.3, 0.3),
        # Half of the population drawn: the variance halves (n_eff = 100 * 199 / 100).
        (50, 100, 200, 0.429814, 0.570186),
    ],
)
def test_wilson_interval(
    successes: int, n: int, population: float | None, low: float, high: float
) -> None:
    got = wilson_interval(successes, n, 2.0, population)
    assert got == pytest.approx((low, high), abs=1e-6)


def test_kmv_standard_error() -> None:
    # sqrt(N (N - k + 1) / (k - 2)) at N = 100,000, k = 4096: ~1.53% of N.
    assert kmv_standard_error(100_000, 4096) == pytest.approx(1_530.55, abs=0.01)
    # Near k the sample is most of the audience and the error vanishes.
    assert kmv_standard_error(4095, 4096) == 0.0
    assert math.isinf(kmv_standard_error(10, 2))


# --- estimates -------------------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(
    only_a=st.integers(0, 3_000),
    only_b=st.integers(0, 3_000),
    both=st.integers(0, 3_000),
    k=st.sampled_from([16, 64, 256]),
    seed=st.integers(0, 2**32),
)
def test_estimates_are_ordered_and_respect_what_is_known(
    only_a: int, only_b: int, both: int, k: int, seed: int
) -> None:
    rng = random.Random(seed)
    universe = [rng.getrandbits(64) for _ in range(only_a + only_b + both)]
    a = universe[: only_a + both]
    b = universe[only_a:]
    overlap = estimate_overlap(Sketch.of_hashes(a, KEY_ID, k), Sketch.of_hashes(b, KEY_ID, k))
    for estimate in (overlap.audience, overlap.other_audience, overlap.union, overlap.shared):
        assert 0 <= estimate.low <= estimate.value <= estimate.high
    assert 0 <= overlap.jaccard.low <= overlap.jaccard.value <= overlap.jaccard.high <= 1
    assert overlap.shared.value <= min(overlap.audience.value, overlap.other_audience.value)
    # Every shared value seen in the sample is a real shared visitor.
    assert overlap.sample_shared <= overlap.shared.low
    assert overlap.sample_shared <= both
    if len(set(a) | set(b)) < k:
        assert overlap.shared.exact and overlap.shared.value == both


@pytest.mark.parametrize("planted_jaccard", [0.02, 0.2, 0.6])
def test_bounds_cover_the_truth_on_seeded_audiences(planted_jaccard: float) -> None:
    """40 networks (keys), two audiences of 20,000 with a planted overlap, k = 1024: the 2-sigma
    bounds hold the true overlap and Jaccard in at least 90% of them (expected ~95%), and
    the estimate is within the error the theory gives. Deterministic: the keys are fixed."""
    n, k, trials = 20_000, 1024, 40
    shared = round(2 * n * planted_jaccard / (1 + planted_jaccard))
    true_jaccard = shared / (2 * n - shared)
    first = ids("s", range(n))
    second = ids("s", range(n - shared, 2 * n - shared))
    covered_shared = covered_jaccard = 0
    errors = []
    for trial in range(trials):
        key = derive_sketch_key(f"network {trial}")
        hash_visitor, key_id = visitor_hasher(key), key_fingerprint(key)
        sketches = []
        for audience in (first, second):
            builder = SketchBuilder(key_id, k)
            builder.add_visitors(audience, hash_visitor)
            sketches.append(builder.sketch())
        overlap = estimate_overlap(*sketches)
        covered_shared += overlap.shared.low <= shared <= overlap.shared.high
        covered_jaccard += overlap.jaccard.low <= true_jaccard <= overlap.jaccard.high
        errors.append(abs(overlap.shared.value - shared) / shared)
    assert covered_shared >= 0.9 * trials
    assert covered_jaccard >= 0.9 * trials
    # Relative error of J x N: sqrt((1-J)/(J k) + 1/k); the mean |error| is ~0.8 of that.
    expected = math.sqrt((1 - true_jaccard) / (true_jaccard * k) + 1 / k)
    assert sum(errors) / trials < 1.2 * expected
