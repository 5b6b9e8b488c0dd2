"""Conversion rate by exposure count, estimated within visitors (pure; docs/fatigue-caps.md).

The naive curve (the k-th exposures of everybody who had k) is biased: only heavy users
reach exposure 5, and heavy users convert differently, so the curve mixes the effect of
repetition with who repeats. The within-visitor estimate keeps one panel, the visitors
with at least `depth` exposures, and compares each visitor with itself: the rate at each
exposure k over the same people (a Wilson interval), and the paired difference from that
visitor's first exposure (a first-difference, fixed-effects estimate, normal interval).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from alliance.crosspromo.variants import Z_95, Interval, wilson_interval

MAX_DEPTH = 20


@dataclass(frozen=True, slots=True)
class ExposureRow:
    """One exposure number (1 = a visitor's first co-promotion click in the scope)."""

    exposure: int
    # Everybody who had this many exposures (the naive, heavy-user-biased view).
    visitors: int
    conversions: int
    rate: float | None
    # The panel: visitors with at least `depth` exposures, the same people at every k.
    panel_visitors: int
    panel_conversions: int
    panel_rate: float | None
    panel_interval: Interval
    # Within each panel visitor: rate at k minus rate at its first exposure.
    change_from_first: float | None
    change_interval: Interval | None


def _paired_change(panel: Sequence[Sequence[bool]], k: int) -> tuple[float | None, Interval | None]:
    n = len(panel)
    if n == 0:
        return None, None
    diffs = [int(seq[k - 1]) - int(seq[0]) for seq in panel]
    mean = sum(diffs) / n
    if n < 2:
        return mean, None
    variance = sum((d - mean) ** 2 for d in diffs) / (n - 1)
    half = Z_95 * math.sqrt(variance / n)
    return mean, Interval(max(-1.0, mean - half), min(1.0, mean + half))


def exposure_report(sequences: Sequence[Sequence[bool]], depth: int) -> list[ExposureRow]:
    """Rows 1..depth from each visitor's exposures in order (True: that click converted)."""
    if not 1 <= depth <= MAX_DEPTH:
        raise ValueError(f"depth must be between 1 and {MAX_DEPTH}")
    panel = [seq for seq in sequences if len(seq) >= depth]
    rows = []
    for k in range(1, depth + 1):
        reached = [seq for seq in sequences if len(seq) >= k]
        converted = sum(1 for seq in reached if seq[k - 1])
        panel_converted = sum(1 for seq in panel if seq[k - 1])
        change, change_interval = _paired_change(panel, k)
        rows.append(
            ExposureRow(
                exposure=k,
                visitors=len(reached),
                conversions=converted,
                rate=converted / len(reached) if reached else None,
                panel_visitors=len(panel),
                panel_conversions=panel_converted,
                panel_rate=panel_converted / len(panel) if panel else None,
                panel_interval=wilson_interval(panel_converted, len(panel)),
                change_from_first=change,
                change_interval=change_interval,
            )
        )
    return rows
