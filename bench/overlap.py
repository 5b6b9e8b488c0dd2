"""Benchmark the audience-overlap estimates against planted truth.

    .venv/bin/python bench/overlap.py [--seeds 100] [--audience 100000] [--jaccard 0.01,0.1,0.5]

For each planted Jaccard J, two synthetic audiences of `--audience` visitors each share
exactly s = 2nJ / (1 + J) of them (rounded; the true J is then s / (2n - s)). Every seed is
another network: another secret key, so the hashes of the same visitor ids are independent,
which is the only randomness a KMV sketch has. Both sketches are built the way the refresh
job builds them (`SketchBuilder.add_visitors`: keyed BLAKE2b of each id, then the k smallest),
and `estimate_overlap` gives the overlap and the Jaccard with their 2-sigma bounds.

Printed per planted J: how often the bounds cover the true overlap and the true Jaccard
(target >= 90%), the mean and max relative error of each, the mean half-width of the
overlap's bounds relative to the truth, and the relative standard error of the overlap that
theory predicts for a union of N: sqrt((1 - J) / (J k) * (N - k) / (N - 1) + (N - k + 1) /
(N (k - 2))), the sample's hypergeometric share and the KMV count. Then the sketch size and
the time to build one.
Pure Python, one core; about a minute with the defaults.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.crosspromo.sketches import (  # noqa: E402
    SKETCH_K,
    Sketch,
    SketchBuilder,
    derive_sketch_key,
    estimate_overlap,
    key_fingerprint,
    visitor_hasher,
)


@dataclass
class Tally:
    planted: float
    audience: int
    shared: int
    true_jaccard: float
    covered_shared: int = 0
    covered_jaccard: int = 0
    shared_errors: list[float] = field(default_factory=list)
    jaccard_errors: list[float] = field(default_factory=list)
    half_widths: list[float] = field(default_factory=list)

    @property
    def trials(self) -> int:
        return len(self.shared_errors)


def visitor_ids(start: int, stop: int) -> list[str]:
    """Ids shaped like the click writer's (vis_ + 26 characters)."""
    return [f"vis_01BENCH{n:019d}" for n in range(start, stop)]


def build(ids: list[str], seed: int, k: int) -> tuple[Sketch, float]:
    key = derive_sketch_key(f"bench-overlap network {seed}")
    began = time.perf_counter()
    builder = SketchBuilder(key_fingerprint(key), k)
    builder.add_visitors(ids, visitor_hasher(key))
    sketch = builder.sketch()
    return sketch, time.perf_counter() - began


def run(planted: float, n: int, seeds: int, k: int, build_times: list[float]) -> Tally:
    shared = round(2 * n * planted / (1 + planted))
    tally = Tally(planted, n, shared, shared / (2 * n - shared))
    first = visitor_ids(0, n)
    second = visitor_ids(n - shared, 2 * n - shared)
    for seed in range(seeds):
        a, took_a = build(first, seed, k)
        b, took_b = build(second, seed, k)
        build_times += [took_a, took_b]
        o = estimate_overlap(a, b)
        tally.covered_shared += o.shared.low <= shared <= o.shared.high
        tally.covered_jaccard += o.jaccard.low <= tally.true_jaccard <= o.jaccard.high
        tally.shared_errors.append(abs(o.shared.value - shared) / shared)
        tally.jaccard_errors.append(abs(o.jaccard.value - tally.true_jaccard) / tally.true_jaccard)
        tally.half_widths.append((o.shared.high - o.shared.low) / 2 / shared)
    return tally


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=100, help="networks (keys) per planted J")
    parser.add_argument("--audience", type=int, default=100_000, help="visitors per audience")
    parser.add_argument("--jaccard", default="0.01,0.1,0.5", help="planted Jaccard values")
    parser.add_argument("--k", type=int, default=SKETCH_K, help="values kept per sketch")
    args = parser.parse_args()
    planted = [float(text) for text in args.jaccard.split(",")]

    began = time.perf_counter()
    build_times: list[float] = []
    tallies = [run(j, args.audience, args.seeds, args.k, build_times) for j in planted]
    sketch_bytes = len(build(visitor_ids(0, args.audience), 0, args.k)[0].to_bytes())

    print(
        f"audience overlap: two audiences of {args.audience:,} visitors, k = {args.k}, "
        f"{args.seeds} seeds (network keys) per planted Jaccard, bounds at 2 sigma\n"
    )
    header = (
        "| planted J | true shared | coverage shared | coverage J "
        "| shared err mean | shared err max | J err mean | J err max "
        "| bounds +- (mean) | theory sigma |"
    )
    print(header)
    print("|" + "|".join(["---"] * 10) + "|")
    for t in tallies:
        union = 2 * t.audience - t.shared
        theory = math.sqrt(
            (1 - t.true_jaccard) / (t.true_jaccard * args.k) * (union - args.k) / (union - 1)
            + (union - args.k + 1) / (union * (args.k - 2))
        )
        print(
            f"| {t.planted:g} | {t.shared:,} "
            f"| {t.covered_shared / t.trials:.0%} | {t.covered_jaccard / t.trials:.0%} "
            f"| {statistics.fmean(t.shared_errors):.2%} | {max(t.shared_errors):.2%} "
            f"| {statistics.fmean(t.jaccard_errors):.2%} | {max(t.jaccard_errors):.2%} "
            f"| {statistics.fmean(t.half_widths):.2%} | {theory:.2%} |"
        )
    print(
        f"\nsketch: {sketch_bytes:,} bytes; build from {args.audience:,} visitor ids: "
        f"median {statistics.median(build_times) * 1000:.0f} ms, "
        f"max {max(build_times) * 1000:.0f} ms ({len(build_times)} builds); "
        f"total {time.perf_counter() - began:.0f} s"
    )
    short = [t for t in tallies if min(t.covered_shared, t.covered_jaccard) < 0.9 * t.trials]
    if short:
        print(
            f"\nBELOW TARGET (90% coverage): planted J {', '.join(f'{t.planted:g}' for t in short)}"
        )
        raise SystemExit(1)


if __name__ == "__main__":
    main()
