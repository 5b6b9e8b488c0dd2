"""Benchmark the search behind the "Shares most visitors with" column of the advertiser's
Partners page (`overlap_views.best_matches`) against estimating every pair.

    .venv/bin/python bench/overlap_best_matches.py [--partners 25,50,100] [--brute-up-to 25]

A synthetic network of N partners with 100,000-visitor audiences drawn from ten communities
of 60,000 people each (30,000 from their own community, 10,000 from another, 60,000 of their
own), so many pairs overlap and many overlaps are alike: a hard case for pruning. Each
audience is sketched at k = 4,096 as the refresh job does (from 64-bit hashes drawn
uniformly, which is what keyed BLAKE2b gives). Printed per N: pairs, pairs estimated by the
pruned search, its time, and, up to --brute-up-to partners, the time of estimating every
pair and whether both agree. Pure Python, one core.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from alliance.crosspromo import overlap_views  # noqa: E402
from alliance.crosspromo.overlap import SUPPRESS_BELOW  # noqa: E402
from alliance.crosspromo.sketches import Overlap, Sketch, estimate_overlap  # noqa: E402

COMMUNITIES = 10
COMMUNITY_SIZE = 60_000


def network(partners: int, seed: int = 11) -> dict[str, Sketch]:
    rng = random.Random(seed)
    communities = [[rng.getrandbits(64) for _ in range(COMMUNITY_SIZE)] for _ in range(COMMUNITIES)]
    sketches = {}
    for n in range(partners):
        home = communities[n % COMMUNITIES]
        other = communities[(n * 7 + 3) % COMMUNITIES]
        audience = rng.sample(home, 30_000) + rng.sample(other, 10_000)
        audience += [rng.getrandbits(64) for _ in range(60_000)]
        sketches[f"ptn_{n:04d}"] = Sketch.of_hashes(audience, key_id=1)
    return sketches


def brute_force(sketches: dict[str, Sketch]) -> dict[str, str]:
    best: dict[str, tuple[float, str]] = {}
    ids = sorted(sketches)
    for i, first in enumerate(ids):
        for second in ids[i + 1 :]:
            shared = estimate_overlap(sketches[first], sketches[second]).shared.value
            if shared < SUPPRESS_BELOW:
                continue
            for mine, theirs in ((first, second), (second, first)):
                held = best.get(mine)
                if held is None or shared > held[0]:
                    best[mine] = (shared, theirs)
    return {mine: theirs for mine, (_, theirs) in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--partners", default="25,50,100")
    parser.add_argument("--brute-up-to", type=int, default=25)
    args = parser.parse_args()
    print("| partners | pairs | estimated | pruned search | every pair | same answer |")
    print("|---|---|---|---|---|---|")
    for partners in (int(n) for n in args.partners.split(",")):
        sketches = network(partners)
        calls = 0

        def counted(a: Sketch, b: Sketch) -> Overlap:
            nonlocal calls
            calls += 1
            return estimate_overlap(a, b)

        overlap_views.estimate_overlap = counted  # type: ignore[assignment]
        began = time.perf_counter()
        found = overlap_views.best_matches(sketches, SUPPRESS_BELOW)
        pruned = time.perf_counter() - began
        overlap_views.estimate_overlap = estimate_overlap  # type: ignore[assignment]
        brute, same = "-", "-"
        if partners <= args.brute_up_to:
            began = time.perf_counter()
            every = brute_force(sketches)
            brute = f"{time.perf_counter() - began:.2f} s"
            same = "yes" if every == found else "NO"
        pairs = partners * (partners - 1) // 2
        print(f"| {partners} | {pairs:,} | {calls:,} | {pruned:.2f} s | {brute} | {same} |")


if __name__ == "__main__":
    main()
