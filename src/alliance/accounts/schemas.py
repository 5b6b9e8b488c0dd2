"""REST shapes of advertisers and partners."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from alliance.accounts.models import Advertiser, Partner, PartnerType, ServiceLevel
from alliance.api.fields import (
    Country,
    Currency,
    Email,
    Message,
    Name,
    OperatorId,
    ShortText,
    Url,
)


class AdvertiserCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    country: Country = Field(description="ISO 3166-1 alpha-2, e.g. SE")
    currency: Currency = Field(description="ISO 4217; the default currency of its programs")
    service_level: ServiceLevel = ServiceLevel.self_service
    account_manager_id: OperatorId | None = Field(
        default=None,
        description="Operator managing the account; managed advertisers default to the caller.",
    )
    website: Url | None = None


class AdvertiserOut(BaseModel):
    id: str
    name: str
    country: str
    currency: str
    service_level: ServiceLevel
    account_manager_id: str | None
    website: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: Advertiser) -> AdvertiserOut:
        return cls(
            id=row.id,
            name=row.name,
            country=row.country,
            currency=row.currency,
            service_level=ServiceLevel(row.service_level),
            account_manager_id=row.account_manager_id,
            website=row.website,
            created_at=row.created_at,
        )


class AdvertiserCreated(AdvertiserOut):
    api_key: str = Field(description="The account's API key. Shown once: store it now.")


class PartnerCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    type: PartnerType
    country: Country
    payout_currency: Currency = Field(description="ISO 4217; payouts are converted to it")
    categories: Annotated[list[ShortText], Field(max_length=20)] = Field(default_factory=list)
    audience: Message = Field(default="", description="Who reads or follows the partner")
    website: Url | None = None
    email: Email | None = None
    recruit_code: (
        Annotated[str, Field(min_length=1, max_length=16, pattern=r"^[A-Za-z0-9]+$")] | None
    ) = Field(
        default=None,
        description="The recruit code of the partner who recruited this one (docs/referrals.md)",
    )

    def account_fields(self) -> dict[str, object]:
        """The partner's own columns (the recruit code makes a referral, not a column)."""
        return self.model_dump(mode="json", exclude={"recruit_code"})


class PartnerOut(BaseModel):
    id: str
    name: str
    type: PartnerType
    country: str
    payout_currency: str
    categories: list[str]
    audience: str
    website: str | None
    email: str | None = Field(description="Only shown to the operator and the partner itself")
    created_at: datetime

    @classmethod
    def of(cls, row: Partner, *, show_email: bool) -> PartnerOut:
        return cls(
            id=row.id,
            name=row.name,
            type=PartnerType(row.type),
            country=row.country,
            payout_currency=row.payout_currency,
            categories=list(row.categories or []),
            audience=row.audience,
            website=row.website,
            email=row.email if show_email else None,
            created_at=row.created_at,
        )


class PartnerCreated(PartnerOut):
    api_key: str = Field(description="The account's API key. Shown once: store it now.")
