"""/api/v1/fatigue-caps: audience-fatigue cap rules on co-promotion clicks (ADR 0024).

The operator sets network-wide rules (and any other); a campaign's organiser the campaign,
slot and pair rules of its campaign. Every party of a campaign reads its rules; everyone
reads the network's. A rule of someone else's campaign answers 404 (api/scoping.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, ConfigDict, Field

from alliance.api.deps import Anyone, ReadDB
from alliance.crosspromo import caps
from alliance.crosspromo.cap_models import FatigueCapRule
from alliance.crosspromo.caps_report import MAX_DEPTH
from alliance.crosspromo.caps_rules import MAX_EXPOSURES, MAX_WINDOW_HOURS, CapScope, CapWindow
from alliance.crosspromo.variants import Interval
from alliance.db.engine import transaction

router = APIRouter(prefix="/api/v1", tags=["fatigue caps"])

PublicId = Annotated[str, Field(min_length=1, max_length=40)]


class CapRuleIn(BaseModel):
    """At most `maximum` exposures (valid clicks) of one visitor to the co-promotions of the
    scope within the window; the next click goes to the program's plain landing, capped."""

    model_config = ConfigDict(extra="forbid")

    scope: CapScope = Field(description="network, campaign, slot or pair")
    maximum: int = Field(ge=1, le=MAX_EXPOSURES, description="Exposures allowed in the window")
    window: CapWindow = Field(description="rolling, calendar_day or lifetime")
    window_hours: int | None = Field(
        default=None, ge=1, le=MAX_WINDOW_HOURS, description="Length of a rolling window"
    )
    time_zone: str = Field(
        default="UTC", max_length=64, description="The clock of a calendar_day window (IANA)"
    )
    campaign_id: PublicId | None = Field(
        default=None, description="The campaign of a campaign, slot or pair rule"
    )
    slot_id: PublicId | None = Field(default=None, description="The slot of a slot rule")
    partner_ids: Annotated[list[PublicId], Field(max_length=2)] = Field(
        default_factory=list, description="The two partners of a pair rule (campaign parties)"
    )


class CapRuleOut(BaseModel):
    id: str
    scope: CapScope
    maximum: int
    window: CapWindow
    window_hours: int | None
    time_zone: str
    campaign_id: str | None
    slot_id: str | None
    partner_ids: list[str]
    created_at: datetime


def rule_out(row: FatigueCapRule) -> CapRuleOut:
    pair = [p for p in (row.partner_low_id, row.partner_high_id) if p is not None]
    return CapRuleOut(
        id=row.id,
        scope=CapScope(row.scope),
        maximum=row.maximum,
        window=CapWindow(row.window_kind),
        window_hours=row.window_hours,
        time_zone=row.time_zone,
        campaign_id=row.campaign_id,
        slot_id=row.slot_id,
        partner_ids=pair,
        created_at=row.created_at,
    )


@router.post("/fatigue-caps", status_code=status.HTTP_201_CREATED, response_model=CapRuleOut)
def post_rule(body: CapRuleIn, caller: Anyone) -> CapRuleOut:
    """A new rule; links pick it up when the redirect's link cache next reloads them."""
    terms = caps.RuleTerms(
        scope=body.scope,
        maximum=body.maximum,
        window=body.window,
        window_hours=body.window_hours,
        time_zone=body.time_zone,
        campaign_id=body.campaign_id,
        slot_id=body.slot_id,
        partner_ids=tuple(body.partner_ids),
    )
    with transaction() as session:
        return rule_out(caps.create_rule(session, caller, terms))


@router.get("/fatigue-caps", response_model=list[CapRuleOut])
def list_rules(
    caller: Anyone,
    session: ReadDB,
    campaign_id: Annotated[str | None, Query(max_length=40)] = None,
) -> list[CapRuleOut]:
    """Live rules the caller may see (the network's, and those of its campaigns)."""
    return [rule_out(row) for row in caps.list_rules(session, caller, campaign_id)]


@router.get("/fatigue-caps/{rule_id}", response_model=CapRuleOut)
def get_rule(rule_id: str, caller: Anyone, session: ReadDB) -> CapRuleOut:
    return rule_out(caps.get_rule(session, caller, rule_id))


@router.delete("/fatigue-caps/{rule_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_rule(rule_id: str, caller: Anyone) -> Response:
    with transaction() as session:
        caps.delete_rule(session, caller, rule_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


class IntervalOut(BaseModel):
    low: float
    high: float


class ExposureRowOut(BaseModel):
    exposure: int = Field(description="1 = a visitor's first click on the campaign's links")
    visitors: int = Field(description="Visitors with at least this many exposures")
    conversions: int
    rate: float | None = Field(description="Naive: biased towards heavy users at high counts")
    panel_visitors: int = Field(description="Visitors with at least `depth` exposures")
    panel_conversions: int
    panel_rate: float | None
    panel_interval: IntervalOut = Field(description="Wilson 95% interval of panel_rate")
    change_from_first: float | None = Field(
        description="Within each panel visitor: conversion at this exposure minus at the first"
    )
    change_interval: IntervalOut | None = Field(description="Normal 95% interval, paired")


def interval_out(interval: Interval | None) -> IntervalOut | None:
    return None if interval is None else IntervalOut(low=interval.low, high=interval.high)


@router.get("/campaigns/{campaign_id}/exposure-report", response_model=list[ExposureRowOut])
def exposure_report(
    campaign_id: str,
    caller: Anyone,
    session: ReadDB,
    depth: Annotated[int, Query(description=f"Exposures shown, 1..{MAX_DEPTH}")] = 3,
) -> list[ExposureRowOut]:
    """Conversion rate by exposure count on the campaign's links, within visitors."""
    rows = caps.campaign_exposure_report(session, caller, campaign_id, depth)
    return [
        ExposureRowOut(
            exposure=row.exposure,
            visitors=row.visitors,
            conversions=row.conversions,
            rate=row.rate,
            panel_visitors=row.panel_visitors,
            panel_conversions=row.panel_conversions,
            panel_rate=row.panel_rate,
            panel_interval=IntervalOut(low=row.panel_interval.low, high=row.panel_interval.high),
            change_from_first=row.change_from_first,
            change_interval=interval_out(row.change_interval),
        )
        for row in rows
    ]
