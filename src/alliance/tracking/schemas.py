"""REST shapes of tracking links and clicks."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from alliance.api.fields import Country, Label, ProgramId, SubId, Url
from alliance.tracking.models import Click, Link


class SubIds(BaseModel):
    """Sub-ids recorded on a click when the visitor's URL carries none."""

    model_config = ConfigDict(extra="forbid")

    sub1: SubId | None = None
    sub2: SubId | None = None
    sub3: SubId | None = None
    sub4: SubId | None = None
    sub5: SubId | None = None


class LinkCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId
    landing_url: Url | None = Field(
        default=None,
        description="Default: the program's landing URL. Must be on its host or deep-link domains",
    )
    label: Label = ""
    default_subs: SubIds = Field(default_factory=SubIds)
    country_urls: Annotated[dict[Country, Url], Field(max_length=250)] = Field(
        default_factory=dict, description='Per-country landing pages: {"DE": "https://..."}'
    )


class LinkOut(BaseModel):
    id: str
    code: str
    url: str = Field(description="The tracking link to share: {public_url}/c/{code}")
    program_id: str
    partner_id: str
    landing_url: str | None
    label: str
    default_subs: dict[str, str]
    country_urls: dict[str, str]
    created_at: datetime

    @classmethod
    def of(cls, row: Link, url: str) -> LinkOut:
        return cls(
            id=row.id,
            code=row.code,
            url=url,
            program_id=row.program_id,
            partner_id=row.partner_id,
            landing_url=row.landing_url,
            label=row.label,
            default_subs={k: str(v) for k, v in (row.default_subs or {}).items()},
            country_urls={k: str(v) for k, v in (row.country_urls or {}).items()},
            created_at=row.created_at,
        )


class ClickOut(BaseModel):
    """One visit. The hashed IP and the visitor id stay inside: reports count them."""

    id: str
    occurred_at: datetime
    link_id: str
    program_id: str
    partner_id: str
    sub1: str | None
    sub2: str | None
    sub3: str | None
    sub4: str | None
    sub5: str | None
    landing_url: str
    country: str | None
    device: str
    user_agent: str | None
    referrer: str | None
    is_bot: bool
    invalid_reason: str | None = Field(
        description="Why a click that is not a bot earns nothing: country_not_allowed (the "
        "visitor's country is not among the program's; sent to its fallback URL), capped (over "
        "an audience-fatigue cap of a co-promotion; sent to the program's landing). None: "
        "valid unless is_bot"
    )

    @classmethod
    def of(cls, row: Click) -> ClickOut:
        return cls(
            id=row.id,
            occurred_at=row.occurred_at,
            link_id=row.link_id,
            program_id=row.program_id,
            partner_id=row.partner_id,
            sub1=row.sub1,
            sub2=row.sub2,
            sub3=row.sub3,
            sub4=row.sub4,
            sub5=row.sub5,
            landing_url=row.landing_url,
            country=row.country,
            device=row.device,
            user_agent=row.user_agent,
            referrer=row.referrer,
            is_bot=row.is_bot,
            invalid_reason=row.invalid_reason,
        )
