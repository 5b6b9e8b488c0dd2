"""The pure rules of delivery: what counts as delivered, when to try again, when to give up."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from alliance.notifications.models import DeliveryState


def is_delivered(status_code: int | None) -> bool:
    """Only a 2xx answer delivers. A 3xx is a failure and is not followed: a redirect could
    send the signed event (and our connection) to a host nobody checked."""
    return status_code is not None and 200 <= status_code < 300


def status_error(status_code: int) -> str | None:
    """The log's sentence for a non-2xx answer (None for 2xx)."""
    if is_delivered(status_code):
        return None
    if 300 <= status_code < 400:
        return f"HTTP {status_code}: redirects are not followed"
    return f"HTTP {status_code}"


def backoff_seconds(
    attempts: int, *, base: float, cap: float, rng: Callable[[], float] = random.random
) -> float:
    """Seconds to wait after `attempts` failed attempts: uniform in [0, min(cap, base·2^n)]
    ("full jitter"). Spreading retries at random keeps a receiver that comes back from an
    outage from being hit by every delayed delivery at the same instant."""
    ceiling = min(cap, base * 2.0 ** min(attempts, 60))  # 2**60 · base is past any cap
    return ceiling * rng()


@dataclass(frozen=True, slots=True)
class Verdict:
    state: DeliveryState
    next_attempt_at: datetime | None


def after_attempt(
    delivered: bool,
    attempts: int,
    now: datetime,
    *,
    max_attempts: int,
    base: float,
    cap: float,
    rng: Callable[[], float] = random.random,
) -> Verdict:
    """The delivery's state once its `attempts`-th attempt is over."""
    if delivered:
        return Verdict(DeliveryState.delivered, None)
    if attempts >= max_attempts:
        return Verdict(DeliveryState.dead, None)
    wait = backoff_seconds(attempts, base=base, cap=cap, rng=rng)
    return Verdict(DeliveryState.failed, now + timedelta(seconds=wait))
