"""The alliance order rule (DESIGN §2, Attribution) as a pure function over clicks.

No database, no clock: the caller loads the visitor's clicks and the order's facts and gets
back who earns the order and why. The decisions (ADR 0004):

* **Window edge.** A click counts when ``0 <= order.occurred_at - click.occurred_at <= window``:
  inclusive at exactly W (a 30-day cookie set at 12:00:00 still counts for an order at
  12:00:00 thirty days later, as the cookie's ``Max-Age`` = W would), one microsecond later
  it does not. A click at the very instant of the order counts; a click after it never does.
* **Last click wins.** The most recent valid click within W wins. "A new click restarts the
  window" needs no separate code: the newest click is the one the window is measured from.
* **Ties.** Clicks with identical timestamps are ordered by ``click_id``; the larger wins
  (ids are time-ordered ULID/UUIDv7, so the larger id is the later click). The result never
  depends on the order of the input sequence.
* **Coupon.** With ``coupon_beats_click`` (the default) a coupon owner wins over any click.
  Otherwise the click winner wins and the coupon owner is the fallback when no valid click.
* **Customer binding.** Only when there is neither a valid click nor a coupon.
* **No attribution.** The most specific reason: some non-bot click of the program before the
  order exists but all are older than W → ``outside_window``; otherwise some click from a
  country the program does not allow → ``country_not_allowed``; otherwise some bot click of
  the program before the order exists → ``bot_only``; otherwise ``no_click``.
* **Invalid clicks.** A click stored with an ``invalid_reason`` (the redirect sent a visitor
  from a country outside the program's countries to its fallback URL, ADR 0011) is never
  valid, exactly like a bot click; its verdict is the reason.

Every click passed in appears in ``path``, newest first (ties: larger id first), with one
verdict each, decided in this order: ``other_program``, ``after_order``, ``bot``,
``country_not_allowed``, ``outside_window``, then ``winner`` for the click that earned the
order and ``superseded`` for valid clicks that lost (to a newer click, or to a coupon that
beats clicks).
Callers normally pass only the program's own clicks: ``path`` is shown to the program's
advertiser in the transaction report, so clicks of other programs should not be handed in
when the path is stored (they never change the outcome either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Verdict = Literal[
    "winner",
    "superseded",
    "bot",
    "country_not_allowed",
    "capped",  # over an audience-fatigue cap (docs/adr/0024): stored, never earns
    "outside_window",
    "other_program",
    "after_order",
]
NoAttributionReason = Literal[
    "no_click", "outside_window", "country_not_allowed", "capped", "bot_only"
]
AttributionMethod = Literal["click", "coupon", "customer"]


@dataclass(frozen=True, slots=True)
class ClickFact:
    """One click as attribution sees it. ``occurred_at`` is timezone-aware UTC."""

    click_id: str
    program_id: str
    partner_id: str
    occurred_at: datetime
    is_bot: bool
    # tracking.models.InvalidReason of a non-bot click that must earn nothing, else None.
    invalid_reason: str | None = None


@dataclass(frozen=True, slots=True)
class OrderFacts:
    """What attribution needs to know about one order (or lead) of one program."""

    program_id: str
    occurred_at: datetime  # when the order happened (aware UTC)
    window: timedelta  # program cookie window (``cookie_window_days``)
    coupon_partner_id: str | None  # owner of the coupon code on the order, if any
    customer_partner_id: str | None  # partner the customer id is bound to (recurring orders)
    coupon_beats_click: bool = True  # program.attribution_priority == "coupon"


@dataclass(frozen=True, slots=True)
class Attribution:
    """The order belongs to ``partner_id``; ``click_id`` is set only for method ``click``."""

    partner_id: str
    method: AttributionMethod
    click_id: str | None
    # Every click considered, newest first:
    # {"click_id", "partner_id", "occurred_at" (ISO 8601), "verdict"}.
    path: tuple[dict[str, object], ...]


@dataclass(frozen=True, slots=True)
class NoAttribution:
    """Nobody earns the order. ``detail`` is a sentence for the operator; ``path`` as above."""

    reason: NoAttributionReason
    detail: str
    path: tuple[dict[str, object], ...]


def _newest_first_key(click: ClickFact) -> tuple[datetime, str]:
    return (click.occurred_at, click.click_id)


def _verdict_before_choice(order: OrderFacts, click: ClickFact) -> Verdict | None:
    """The verdict that rules the click out, or None when the click is valid for the order."""
    if click.program_id != order.program_id:
        return "other_program"
    age = order.occurred_at - click.occurred_at
    if age < timedelta(0):
        return "after_order"
    if click.is_bot:
        return "bot"
    if click.invalid_reason == "capped":
        return "capped"
    if click.invalid_reason is not None:
        # An unknown reason is still never valid.
        return "country_not_allowed"
    if age > order.window:
        return "outside_window"
    return None


def _path_entry(click: ClickFact, verdict: Verdict) -> dict[str, object]:
    return {
        "click_id": click.click_id,
        "partner_id": click.partner_id,
        "occurred_at": click.occurred_at.isoformat(),
        "verdict": verdict,
    }


def attribute(order: OrderFacts, clicks: Sequence[ClickFact]) -> Attribution | NoAttribution:
    """Apply the alliance order rule: who earns ``order`` given the visitor's ``clicks``.

    ``clicks`` may come in any order and may include clicks of other programs, bot clicks
    and clicks after the order; all of them are reported in ``path`` and only valid ones
    count. All datetimes must be timezone-aware (comparing naive and aware raises TypeError).
    ``order.window`` must not be negative.
    """
    if order.window < timedelta(0):
        raise ValueError("attribution window must not be negative")
    ordered = sorted(clicks, key=_newest_first_key, reverse=True)
    verdicts: list[Verdict | None] = [_verdict_before_choice(order, c) for c in ordered]

    # The newest valid click: the first None verdict in newest-first order.
    click_winner = next((i for i, v in enumerate(verdicts) if v is None), None)

    partner_id: str | None = None
    method: AttributionMethod | None = None
    winner_index: int | None = None
    if order.coupon_partner_id is not None and order.coupon_beats_click:
        partner_id, method = order.coupon_partner_id, "coupon"
    elif click_winner is not None:
        winner_index = click_winner
        partner_id, method = ordered[click_winner].partner_id, "click"
    elif order.coupon_partner_id is not None:
        partner_id, method = order.coupon_partner_id, "coupon"
    elif order.customer_partner_id is not None:
        partner_id, method = order.customer_partner_id, "customer"

    path = tuple(
        _path_entry(
            click,
            verdict if verdict is not None else ("winner" if i == winner_index else "superseded"),
        )
        for i, (click, verdict) in enumerate(zip(ordered, verdicts, strict=True))
    )

    if partner_id is not None and method is not None:
        click_id = ordered[winner_index].click_id if winner_index is not None else None
        return Attribution(partner_id=partner_id, method=method, click_id=click_id, path=path)

    if "outside_window" in verdicts:
        days = order.window / timedelta(days=1)
        return NoAttribution(
            reason="outside_window",
            detail=f"the program's clicks are all older than the {days:g}-day window",
            path=path,
        )
    if "country_not_allowed" in verdicts:
        return NoAttribution(
            reason="country_not_allowed",
            detail="the program's clicks before the order came from countries it does not allow",
            path=path,
        )
    if "capped" in verdicts:
        return NoAttribution(
            reason="capped",
            detail="the program's clicks before the order were held back by fatigue caps",
            path=path,
        )
    if "bot" in verdicts:
        return NoAttribution(
            reason="bot_only",
            detail="the only clicks of the program before the order were flagged as bots",
            path=path,
        )
    return NoAttribution(
        reason="no_click",
        detail="no click of the program before the order, no coupon, no bound customer",
        path=path,
    )
