"""GET /api/v1/audience-overlap (one pair) and /api/v1/audience-overlap/top (a partner's
nearest audiences): numbers only, counts under 50 as "< 50" (docs/audience-overlap.md).

Who may ask: the operator about any partners; an advertiser about partners approved in its
programs; a partner about itself and any other partner. Anything else answers 404, like a
partner that does not exist.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from alliance.api.deps import Anyone, ReadDB
from alliance.api.fields import PartnerId
from alliance.crosspromo import overlap
from alliance.errors import InvalidInput
from alliance.reports import export
from alliance.reports.schemas import ReportFormat

router = APIRouter(prefix="/api/v1/audience-overlap", tags=["cross-promotion"])

Count = int | str
Share = float | str
_COUNT = 'Estimated visitors, or "< 50"'
_SHARE = 'Jaccard index (shared / union), or "< t" when the overlap it implies is under 50'


class AudienceOverlap(BaseModel):
    partner_id: str
    other_partner_id: str
    window_days: int = Field(description="Days of valid clicks the audiences cover")
    computed_at: datetime = Field(description="When the older of the two sketches was made")
    audience: Count = Field(description=f"partner_id's distinct visitors. {_COUNT}")
    other_audience: Count = Field(description=f"other_partner_id's distinct visitors. {_COUNT}")
    shared: Count = Field(description=f"Visitors in both audiences. {_COUNT}")
    shared_low: Count = Field(description=f"Lower bound of shared. {_COUNT}")
    shared_high: Count = Field(description=f"Upper bound of shared. {_COUNT}")
    jaccard: Share = Field(description=_SHARE)
    jaccard_low: Share
    jaccard_high: Share
    confidence: str = Field(description="Of the bounds: 95% (two standard errors)")
    exact: bool = Field(description="Both audiences were small enough to be counted whole")


class TopOverlaps(BaseModel):
    partner_id: str
    window_days: int
    note: str
    items: list[AudienceOverlap]


CSV_COLUMNS = tuple(AudienceOverlap.model_fields)
_CSV: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with format=csv"}
}

WindowDays = Annotated[
    int | None,
    Query(
        ge=1, le=3650, description="Days of clicks (default ALLIANCE_CROSSPROMO_SKETCH_WINDOW_DAYS)"
    ),
]
Format = Annotated[ReportFormat, Query(alias="format")]


@router.get("", response_model=AudienceOverlap, responses=_CSV)
def audience_overlap(
    session: ReadDB,
    who: Anyone,
    partner_id: Annotated[PartnerId, Query(description="One partner (ptn_...)")],
    other_partner_id: Annotated[PartnerId, Query(description="The other partner")],
    window_days: WindowDays = None,
    format_: Format = ReportFormat.json,
) -> Any:
    """How many visitors two partners share, with 95% bounds. 409 when a sketch is not
    computed yet."""
    if partner_id == other_partner_id:
        raise InvalidInput("must differ from partner_id", field="other_partner_id")
    overlap.check_visible(
        session, who, [(partner_id, "partner_id"), (other_partner_id, "other_partner_id")]
    )
    days = overlap.check_window(window_days)
    pair = overlap.pair_overlap(session, partner_id, other_partner_id, days)
    answer = AudienceOverlap(**overlap.present(pair))
    if format_ is ReportFormat.csv:
        return _csv(f"audience-overlap-{partner_id}-{other_partner_id}", [answer])
    return answer


@router.get("/top", response_model=TopOverlaps, responses=_CSV)
def top(
    session: ReadDB,
    who: Anyone,
    partner_id: Annotated[PartnerId, Query(description="The partner to compare everyone with")],
    limit: Annotated[int, Query(ge=1, le=100)] = 10,
    window_days: WindowDays = None,
    format_: Format = ReportFormat.json,
) -> Any:
    """The partners sharing the most visitors with `partner_id`, most first (those sharing
    fewer than 50 are not listed). An advertiser sees only partners approved in its programs."""
    overlap.check_visible(session, who, [(partner_id, "partner_id")])
    days = overlap.check_window(window_days)
    found = overlap.top_overlaps(
        session, partner_id, days, limit=limit, candidates=overlap.comparable_partners(who)
    )
    items = [AudienceOverlap(**overlap.present(pair)) for pair in found]
    if format_ is ReportFormat.csv:
        return _csv(f"audience-overlap-top-{partner_id}", items)
    return TopOverlaps(
        partner_id=partner_id,
        window_days=days,
        note=f"partners sharing fewer than {overlap.SUPPRESS_BELOW} visitors are not listed",
        items=items,
    )


def _csv(name: str, rows: list[AudienceOverlap]) -> Response:
    body = export.to_csv(CSV_COLUMNS, (row.model_dump(mode="json") for row in rows))
    headers = {"content-disposition": f'attachment; filename="{name}.csv"'}
    return Response(body, media_type="text/csv; charset=utf-8", headers=headers)
