"""REST shapes of programs, commission terms, enrollments and coupons."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, WithJsonSchema

from alliance.api.fields import (
    AdvertiserId,
    Country,
    Currency,
    Hostname,
    LongText,
    Message,
    Name,
    PartnerId,
    ProgramId,
    ShortText,
    Url,
)
from alliance.commissions.terms import TermsDocument
from alliance.programs.models import (
    AttributionPriority,
    CommissionTerms,
    Coupon,
    Enrollment,
    EnrollmentStatus,
    Program,
)


def _self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """Inline `$defs` so the schema can sit inside OpenAPI, whose refs point elsewhere."""
    definitions = schema.pop("$defs", {})

    def resolve(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return resolve(copy.deepcopy(definitions[ref.removeprefix("#/$defs/")]))
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    resolved: dict[str, Any] = resolve(schema)
    return resolved


def _no_floats(node: Any) -> Any:
    """Decimals validate from numbers in pydantic's schema, but terms refuse floats (they are
    not exact): document them as decimal strings or integers."""
    if isinstance(node, dict):
        if node.get("type") == "number":
            return {"type": "integer"}
        return {key: _no_floats(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_no_floats(item) for item in node]
    return node


_TERMS_SCHEMA: dict[str, Any] = _no_floats(_self_contained(TermsDocument.model_json_schema()))
_TERMS_SCHEMA["description"] = (
    "Commission terms (see alliance.commissions.terms). Amounts are decimal strings in the "
    "program currency with no more decimals than it has; percents are 0-100."
)
_TERMS_SCHEMA["examples"] = [
    {"type": "cps", "percent": "8"},
    {
        "type": "cps",
        "percent": "6",
        "tiers": [{"min_orders": 50, "percent": "8"}],
        "overrides": [{"when": {"customer": "new"}, "percent": "10"}],
        "cap_per_order": "500",
    },
    {"type": "cpl", "amount": "25"},
]

# Accepted as raw JSON and validated by `parse_terms` against the program currency, so that an
# error names the exact input (`commission.tiers.1.percent`) and JPY refuses decimals.
CommissionInput = Annotated[dict[str, Any], WithJsonSchema(_TERMS_SCHEMA)]


class ProgramCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    advertiser_id: AdvertiserId | None = Field(
        default=None, description="Required with an operator key; advertisers create their own"
    )
    name: Name
    currency: Currency | None = Field(default=None, description="Default: the advertiser's")
    landing_url: Url
    cookie_window_days: int = Field(default=30, ge=1, le=365)
    lock_period_days: int = Field(default=30, ge=0, le=365)
    allowed_countries: Annotated[list[Country], Field(max_length=250)] = Field(
        default_factory=list,
        description="ISO alpha-2 codes; empty = every country. Clicks from other countries "
        "go to fallback_url and earn nothing",
    )
    fallback_url: Url | None = Field(
        default=None,
        description="Where visitors from countries outside allowed_countries are sent "
        "(any http(s) URL, e.g. an international store). Default: the landing URL",
    )
    deeplink_domains: Annotated[list[Hostname], Field(max_length=50)] = Field(
        default_factory=list, description="Hosts a deep link may point to besides the landing"
    )
    store_wide: bool = True
    attribution_priority: AttributionPriority = AttributionPriority.coupon
    description: LongText = ""
    category: ShortText = ""
    commission: CommissionInput


class ProgramUpdate(BaseModel):
    """Only the fields sent change. The currency is fixed: amounts already booked are in it."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    landing_url: Url | None = None
    cookie_window_days: int | None = Field(default=None, ge=1, le=365)
    lock_period_days: int | None = Field(default=None, ge=0, le=365)
    allowed_countries: Annotated[list[Country], Field(max_length=250)] | None = None
    fallback_url: Url | None = Field(
        default=None,
        description="null removes it: visitors from other countries then go to the landing URL",
    )
    deeplink_domains: Annotated[list[Hostname], Field(max_length=50)] | None = None
    store_wide: bool | None = None
    attribution_priority: AttributionPriority | None = None
    description: LongText | None = None
    category: ShortText | None = None
    status: Literal["active", "paused"] | None = None


class TermsUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    commission: CommissionInput


class TermsOut(BaseModel):
    id: str
    program_id: str
    version: int
    currency: str = Field(description="The program currency, which the amounts are in")
    commission: CommissionInput
    created_at: datetime

    @classmethod
    def of(cls, row: CommissionTerms, currency: str) -> TermsOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            version=row.version,
            currency=currency,
            commission=dict(row.rules),
            created_at=row.created_at,
        )


class ProgramOut(BaseModel):
    id: str
    advertiser_id: str
    name: str
    currency: str
    landing_url: str
    cookie_window_days: int
    lock_period_days: int
    allowed_countries: list[str]
    fallback_url: str | None = Field(
        description="Where visitors from other countries go; null = the landing URL"
    )
    deeplink_domains: list[str]
    store_wide: bool
    attribution_priority: AttributionPriority
    description: str
    category: str
    status: str
    postback_token: str | None = Field(
        description="Secret for /postback; only shown to the advertiser and the operator"
    )
    terms: TermsOut | None = Field(description="The current (highest) version")
    created_at: datetime

    @classmethod
    def of(cls, row: Program, terms: CommissionTerms | None, *, show_secret: bool) -> ProgramOut:
        return cls(
            id=row.id,
            advertiser_id=row.advertiser_id,
            name=row.name,
            currency=row.currency,
            landing_url=row.landing_url,
            cookie_window_days=row.cookie_window_days,
            lock_period_days=row.lock_period_days,
            allowed_countries=list(row.allowed_countries or []),
            fallback_url=row.fallback_url,
            deeplink_domains=list(row.deeplink_domains or []),
            store_wide=row.store_wide,
            attribution_priority=AttributionPriority(row.attribution_priority),
            description=row.description,
            category=row.category,
            status=row.status,
            postback_token=row.postback_token if show_secret else None,
            terms=TermsOut.of(terms, row.currency) if terms is not None else None,
            created_at=row.created_at,
        )


class EnrollmentApply(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Message = Field(default="", description="A note to the advertiser")


class EnrollmentDecision(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: Message | None = Field(default=None, description="Shown to the partner")
    group: ShortText | None = Field(
        default=None, description="approve only: partner group for commission overrides"
    )


class EnrollmentOut(BaseModel):
    id: str
    program_id: str
    partner_id: str
    status: EnrollmentStatus
    group: str | None
    message: str
    reason: str | None
    created_at: datetime
    decided_at: datetime | None

    @classmethod
    def of(cls, row: Enrollment) -> EnrollmentOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            partner_id=row.partner_id,
            status=EnrollmentStatus(row.status),
            group=row.group,
            message=row.message,
            reason=row.reason,
            created_at=row.created_at,
            decided_at=row.decided_at,
        )


CouponCode = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=3, max_length=64, pattern=r"^[A-Za-z0-9_-]+$"
    ),
]


class CouponCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId
    partner_id: PartnerId
    code: CouponCode = Field(description="3-64 of A-Z a-z 0-9 _ -; unique per program, any case")
    description: Annotated[LongText, Field(max_length=500)] = ""


class CouponOut(BaseModel):
    id: str
    program_id: str
    partner_id: str
    code: str
    description: str
    created_at: datetime

    @classmethod
    def of(cls, row: Coupon) -> CouponOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            partner_id=row.partner_id,
            code=row.code,
            description=row.description,
            created_at=row.created_at,
        )
