"""/api/v1/links/{link_id}/variants: landing variants of a link, and their report.

The link's partner creates, changes and deletes them; whoever may see the link (its partner,
the program's advertiser, the operator) may read them and the report. A link of someone
else answers 404, as a missing one does (api/scoping.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.api.deps import Anyone, PartnerOnly, ReadDB
from alliance.api.fields import Country, Label, Url, amount_text
from alliance.api.pagination import TimeRangeQuery
from alliance.api.scoping import get_visible, visible_links
from alliance.clock import utcnow
from alliance.crosspromo import variants_service as service
from alliance.crosspromo.variant_models import LinkVariant
from alliance.crosspromo.variants import MAX_COUNTRIES, MAX_WEIGHT, Interval
from alliance.db.engine import transaction
from alliance.errors import InvalidInput
from alliance.programs.models import Program
from alliance.tracking.models import Link

router = APIRouter(prefix="/api/v1", tags=["link variants"])

Device = Literal["desktop", "mobile", "tablet"]
VisitorKind = Literal["new", "returning"]
Weight = Annotated[int, Field(ge=1, le=MAX_WEIGHT, description="Share within its group, 1..10000")]
# The report's default period: the last 30 days (one link's clicks, read raw).
DEFAULT_REPORT_DAYS = 30


class VariantCreate(BaseModel):
    """A landing variant: a page (`landing_url`) or an offer (`creative_id`), conditions on
    the visitor (all must hold; absent = any) and a weight among the variants that match."""

    model_config = ConfigDict(extra="forbid")

    name: Label = ""
    landing_url: Url | None = Field(
        default=None, description="A page on the program's landing host or deep-link domains"
    )
    creative_id: str | None = Field(
        default=None,
        max_length=40,
        description="An active creative of the link's program: visitors land on its page",
    )
    countries: Annotated[list[Country], Field(max_length=MAX_COUNTRIES)] = Field(
        default_factory=list, description="ISO 3166-1 alpha-2 codes; empty = any country"
    )
    devices: Annotated[list[Device], Field(max_length=3)] = Field(
        default_factory=list, description="desktop, mobile, tablet; empty = any device"
    )
    visitor: VisitorKind | None = Field(
        default=None,
        description="new (no alc_ cookie for this program yet) or returning; null = both",
    )
    weight: Weight = 1

    def terms(self) -> service.VariantTerms:
        return service.VariantTerms(**self.model_dump())


class VariantUpdate(BaseModel):
    """Any of the fields of a variant; the ones left out keep their value."""

    model_config = ConfigDict(extra="forbid")

    name: Label | None = None
    landing_url: Url | None = None
    creative_id: str | None = Field(default=None, max_length=40)
    countries: Annotated[list[Country], Field(max_length=MAX_COUNTRIES)] | None = None
    devices: Annotated[list[Device], Field(max_length=3)] | None = None
    visitor: VisitorKind | None = None
    weight: Weight | None = None

    def changes(self) -> dict[str, object]:
        """The fields sent. `visitor: null` clears that condition; no other field may be
        null (to switch a URL to an offer, send `creative_id`, and the other way round)."""
        sent = self.model_dump(include=self.model_fields_set)
        for name, value in sent.items():
            if value is None and name != "visitor":
                hint = ": send the other target instead" if name.endswith(("_url", "_id")) else ""
                raise InvalidInput(f"{name} cannot be null{hint}", field=name)
        return sent


class VariantOut(BaseModel):
    id: str
    link_id: str
    name: str
    landing_url: str | None
    creative_id: str | None
    countries: list[str]
    devices: list[str]
    visitor: str | None
    weight: int
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: LinkVariant) -> VariantOut:
        return cls(
            id=row.id,
            link_id=row.link_id,
            name=row.name,
            landing_url=row.landing_url,
            creative_id=row.creative_id,
            countries=list(row.countries or ()),
            devices=list(row.devices or ()),
            visitor=row.visitor,
            weight=row.weight,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


class VariantList(BaseModel):
    data: list[VariantOut] = Field(description="In creation order; the first is the control")


class IntervalOut(BaseModel):
    low: float
    high: float

    @classmethod
    def of(cls, interval: Interval | None) -> IntervalOut | None:
        return (
            None
            if interval is None
            else cls(low=round(interval.low, 6), high=round(interval.high, 6))
        )


class MoneyOut(BaseModel):
    currency: str
    amount: str


class VariantFiguresOut(BaseModel):
    variant_id: str | None = Field(description="null: the link's normal landing")
    name: str
    deleted: bool
    clicks: int
    valid_clicks: int
    orders: int = Field(description="Attributed orders and leads of these clicks, not declined")
    converting_clicks: int = Field(description="Valid clicks with at least one such order")
    conversion_rate: float | None = Field(description="converting_clicks / valid_clicks")
    conversion_rate_95: IntervalOut | None = Field(description="Wilson score interval, 95%")
    sales: list[MoneyOut] = Field(description="Σ order amounts, per order currency")

    @classmethod
    def of(cls, row: service.VariantFigures) -> VariantFiguresOut:
        rate = row.conversion_rate
        return cls(
            variant_id=row.variant_id,
            name=row.name,
            deleted=row.deleted,
            clicks=row.clicks,
            valid_clicks=row.valid_clicks,
            orders=row.orders,
            converting_clicks=row.converting_clicks,
            conversion_rate=None if rate is None else round(rate, 6),
            conversion_rate_95=IntervalOut.of(row.interval),
            sales=[
                MoneyOut(currency=cur, amount=amount_text(amount, cur))
                for cur, amount in sorted(row.sales.items())
            ],
        )


class ComparisonOut(BaseModel):
    variant_id: str
    control_id: str
    difference: float | None = Field(description="conversion rate - the control's")
    difference_95: IntervalOut | None = Field(description="Newcombe's 95% interval")
    intervals_overlap: bool | None = Field(
        description="The two Wilson intervals overlap (no clear difference); null: no clicks"
    )


class VariantReportOut(BaseModel):
    link_id: str
    start: datetime
    end_before: datetime = Field(description="Exclusive: clicks before this instant")
    variants: list[VariantFiguresOut] = Field(description="The first is the control")
    no_variant: VariantFiguresOut
    comparisons: list[ComparisonOut]

    @classmethod
    def of(cls, report: service.VariantReport) -> VariantReportOut:
        return cls(
            link_id=report.link_id,
            start=report.start,
            end_before=report.end_before,
            variants=[VariantFiguresOut.of(r) for r in report.variants],
            no_variant=VariantFiguresOut.of(report.no_variant),
            comparisons=[
                ComparisonOut(
                    variant_id=c.variant_id,
                    control_id=c.control_id,
                    difference=None if c.difference is None else round(c.difference, 6),
                    difference_95=IntervalOut.of(c.difference_interval),
                    intervals_overlap=c.intervals_overlap,
                )
                for c in report.comparisons
            ],
        )


def _link(session: Session, caller: Principal, link_id: str, *, lock: bool = False) -> Link:
    return get_visible(
        session, Link, link_id, visible_links(caller), prefix="lnk", what="link", for_update=lock
    )


@router.post(
    "/links/{link_id}/variants", status_code=status.HTTP_201_CREATED, response_model=VariantOut
)
def post_variant(link_id: str, body: VariantCreate, caller: PartnerOnly) -> VariantOut:
    with transaction() as session:
        # Locked: the check for the most variants a link may have must not race a second add.
        link = _link(session, caller, link_id, lock=True)
        program = session.get_one(Program, link.program_id)
        row = service.create_variant(session, link, program, body.terms())
    return VariantOut.of(row)


@router.get("/links/{link_id}/variants", response_model=VariantList)
def list_variants(link_id: str, db: ReadDB, caller: Anyone) -> VariantList:
    link = _link(db, caller, link_id)
    return VariantList(data=[VariantOut.of(r) for r in service.live_variants(db, link.id)])


@router.get("/links/{link_id}/variants/report", response_model=VariantReportOut)
def variants_report(
    link_id: str, db: ReadDB, caller: Anyone, period: TimeRangeQuery
) -> VariantReportOut:
    link = _link(db, caller, link_id)
    end_before = period.end_before or utcnow()
    start = period.start or end_before - timedelta(days=DEFAULT_REPORT_DAYS)
    if start >= end_before:
        raise InvalidInput("`from` must be before `to`", field="from")
    return VariantReportOut.of(service.variant_report(db, link, start, end_before))


@router.get("/links/{link_id}/variants/{variant_id}", response_model=VariantOut)
def get_variant(link_id: str, variant_id: str, db: ReadDB, caller: Anyone) -> VariantOut:
    link = _link(db, caller, link_id)
    return VariantOut.of(service.get_variant(db, link, variant_id))


@router.patch("/links/{link_id}/variants/{variant_id}", response_model=VariantOut)
def patch_variant(
    link_id: str, variant_id: str, body: VariantUpdate, caller: PartnerOnly
) -> VariantOut:
    changes = body.changes()
    with transaction() as session:
        link = _link(session, caller, link_id, lock=True)
        program = session.get_one(Program, link.program_id)
        row = service.get_variant(session, link, variant_id)
        service.update_variant(session, link, program, row, changes)
    return VariantOut.of(row)


@router.delete("/links/{link_id}/variants/{variant_id}", status_code=status.HTTP_204_NO_CONTENT)
def delete_variant(link_id: str, variant_id: str, caller: PartnerOnly) -> Response:
    with transaction() as session:
        link = _link(session, caller, link_id, lock=True)
        service.delete_variant(service.get_variant(session, link, variant_id))
    return Response(status_code=status.HTTP_204_NO_CONTENT)
