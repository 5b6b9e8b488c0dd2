"""REST shapes of co-promotion campaigns, their parties, slots, deliverables and progress.

Inputs refuse unknown fields (`extra="forbid"`), so a typo ("start_at") is a 422 naming it
rather than an edit silently not made. Amounts travel as decimal strings, never floats.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from alliance.api.fields import (
    AdvertiserId,
    Currency,
    LongText,
    Message,
    Name,
    PartnerId,
    ProgramId,
    Url,
    amount_text,
)
from alliance.crosspromo.campaign_rules import (
    CampaignKind,
    CampaignStatus,
    Channel,
    DeliverableStatus,
    PartyRole,
    is_zone,
)
from alliance.money import MoneyError, parse_amount


def _time_zone(value: str) -> str:
    text = value.strip()
    if not is_zone(text):
        raise ValueError(
            f"unknown time zone {value[:64]!r}: expected an IANA name such as Europe/Berlin"
        )
    return text


TimeZone = Annotated[
    str, Field(max_length=64, examples=["Europe/Berlin"]), AfterValidator(_time_zone)
]
PartyId = Annotated[str, Field(pattern=r"^cpt_[0-9A-Z]{26}$")]
SlotId = Annotated[str, Field(pattern=r"^slt_[0-9A-Z]{26}$")]
Count = Annotated[int, Field(ge=1, le=10**12)]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid")


# --- terms ---------------------------------------------------------------------------------


class RevenueGoal(_In):
    currency: Currency
    amount: str = Field(description="Decimal text in the currency's minor units: 25000.00")

    @field_validator("amount")
    @classmethod
    def _decimal(cls, value: str, info: ValidationInfo) -> str:
        currency = info.data.get("currency")
        if not isinstance(currency, str):
            return value  # the currency's own error is reported
        try:
            parsed = parse_amount(value, currency, "amount")
        except MoneyError as exc:
            raise ValueError(str(exc)) from None
        if parsed <= 0:
            raise ValueError("a revenue target must be more than zero")
        return str(parsed)

    def money(self) -> Decimal:
        return parse_amount(self.amount, self.currency)


class GoalsIn(_In):
    clicks: Count | None = Field(
        default=None, description="Valid clicks through the campaign's links"
    )
    orders: Count | None = Field(default=None, description="Orders attributed to those clicks")
    revenue: RevenueGoal | None = Field(
        default=None, description="Their order amounts, refunds deducted"
    )


class ToleranceIn(_In):
    """How far the exchange between two parties may be out of balance (fair-exchange ledger)."""

    percent: Annotated[Decimal, Field(ge=0, le=100, max_digits=6, decimal_places=2)] | None = None
    clicks: Annotated[int, Field(ge=0, le=10**9)] | None = None

    @field_validator("percent", mode="before")
    @classmethod
    def _no_float(cls, value: Any) -> Any:
        if isinstance(value, float):
            raise ValueError('give the percent as a decimal string such as "10" or "12.5"')
        return value


class PartyIn(_In):
    partner_id: PartnerId | None = None
    advertiser_id: AdvertiserId | None = None
    time_zone: TimeZone | None = Field(
        default=None, description="Reminders fall at its local times"
    )


class CampaignCreate(_In):
    title: Name
    kind: CampaignKind
    time_zone: TimeZone = Field(description="The organiser's IANA time zone: slots are shown in it")
    description: LongText = ""
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    goals: GoalsIn = GoalsIn()
    tolerance: ToleranceIn = ToleranceIn()
    parties: list[PartyIn] = Field(
        default=[], max_length=49, description="Besides the organiser (you)"
    )


class CampaignPatch(_In):
    """Only the fields given change. A change of kind, time zone, period, goals or tolerance
    after proposing asks every party to accept again."""

    title: Name | None = None
    kind: CampaignKind | None = None
    time_zone: TimeZone | None = None
    description: LongText | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    goals: GoalsIn | None = None
    tolerance: ToleranceIn | None = None


class AcceptIn(_In):
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The terms version you read: refused (409) if it changed since"
    )


class ReasonIn(_In):
    reason: Annotated[Message, Field(min_length=1)]


class PartyZoneIn(_In):
    time_zone: TimeZone | None


# --- slots and deliverables ----------------------------------------------------------------


class SlotIn(_In):
    promoter_party_id: PartyId = Field(description="The partner party that places the promotion")
    beneficiary_party_id: PartyId | None = Field(
        default=None,
        description=(
            "The party whose offer is promoted: a partner (the link is its own) or an advertiser"
            " (its program); defaults to the advertiser party that owns the program"
        ),
    )
    program_id: ProgramId
    channel: Channel
    title: Name
    notes: LongText = ""
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    landing_url: Url | None = None


class SlotPatch(_In):
    promoter_party_id: PartyId | None = None
    beneficiary_party_id: PartyId | None = None
    program_id: ProgramId | None = None
    channel: Channel | None = None
    title: Name | None = None
    notes: LongText | None = None
    starts_at: AwareDatetime | None = None
    ends_at: AwareDatetime | None = None
    landing_url: Url | None = None


class DoneIn(_In):
    url: Url | None = Field(default=None, description="Where the promotion appeared")


class DeliverableIn(_In):
    party_id: PartyId = Field(description="The party that delivers")
    reviewer_party_id: PartyId | None = Field(
        default=None, description="Defaults to the organiser (another party if it delivers)"
    )
    slot_id: SlotId | None = None
    title: Name
    description: LongText = ""
    due_at: AwareDatetime


class DeliverablePatch(_In):
    party_id: PartyId | None = None
    reviewer_party_id: PartyId | None = None
    slot_id: SlotId | None = None
    title: Name | None = None
    description: LongText | None = None
    due_at: AwareDatetime | None = None


class SubmitIn(_In):
    url: Url | None = None
    note: Message = ""


class ReviewIn(_In):
    note: Message = ""


# --- answers -------------------------------------------------------------------------------


class Revenue(BaseModel):
    amount: str
    currency: str


class GoalsOut(BaseModel):
    clicks: int | None
    orders: int | None
    revenue: Revenue | None


class ToleranceOut(BaseModel):
    percent: str | None
    clicks: int | None


class PartyOut(BaseModel):
    id: str
    role: PartyRole
    partner_id: str | None
    advertiser_id: str | None
    name: str
    time_zone: str | None
    accepted: bool = Field(description="Accepted the current terms version")
    accepted_version: int | None
    accepted_at: datetime | None
    declined: bool = Field(description="Declined the current terms version")
    declined_at: datetime | None
    decline_reason: str | None


class LinkOut(BaseModel):
    id: str
    code: str
    url: str
    partner_id: str = Field(description="Whose link: the partner credited with its orders")


class SlotOut(BaseModel):
    id: str
    promoter_party_id: str
    beneficiary_party_id: str | None
    program_id: str
    program_name: str
    channel: Channel
    title: str
    notes: str
    starts_at: datetime
    ends_at: datetime
    starts_local: str = Field(description="starts_at in the campaign's time zone")
    link: LinkOut
    done_at: datetime | None
    done_url: str | None


class DeliverableOut(BaseModel):
    id: str
    slot_id: str | None
    party_id: str
    reviewer_party_id: str
    title: str
    description: str
    due_at: datetime
    due_local: str
    status: DeliverableStatus
    overdue: bool
    submission_url: str | None
    submission_note: str | None
    submissions: int
    submitted_at: datetime | None
    review_note: str | None
    reviewed_at: datetime | None


class DueOut(BaseModel):
    kind: str = Field(description="slot or deliverable")
    id: str
    title: str
    due_at: datetime
    party_id: str
    overdue: bool


class CampaignSummary(BaseModel):
    id: str
    title: str
    kind: CampaignKind
    status: CampaignStatus
    time_zone: str
    starts_at: datetime | None
    ends_at: datetime | None
    terms_version: int
    my_party_id: str | None
    accepted_by_me: bool | None
    parties: int
    next_due: DueOut | None


class CampaignOut(BaseModel):
    id: str
    title: str
    description: str
    kind: CampaignKind
    status: CampaignStatus
    time_zone: str
    starts_at: datetime | None
    ends_at: datetime | None
    goals: GoalsOut
    tolerance: ToleranceOut
    terms_version: int = Field(description="0 for a draft; +1 at each proposal or change of terms")
    organiser_party_id: str | None
    my_party_id: str | None
    parties: list[PartyOut]
    slots: list[SlotOut]
    deliverables: list[DeliverableOut]
    next_due: DueOut | None
    calendar_url: str
    created_by: str
    created_at: datetime
    updated_at: datetime
    proposed_at: datetime | None
    agreed_at: datetime | None
    live_at: datetime | None
    completed_at: datetime | None
    cancelled_at: datetime | None
    cancelled_by: str | None
    cancel_reason: str | None


class GoalOut(BaseModel):
    metric: str
    target: str
    value: str
    percent: str | None
    currency: str | None


class Amounts(BaseModel):
    currency: str
    amount: str


class SlotProgressOut(BaseModel):
    slot_id: str
    link_id: str
    clicks: int
    valid_clicks: int
    orders: int
    revenue: list[Amounts]


class ProgressOut(BaseModel):
    campaign_id: str
    start: datetime | None
    end_before: datetime | None
    clicks: int = Field(description="All clicks through the campaign's links in the period")
    valid_clicks: int = Field(description="What the clicks goal counts: no bots, no refused clicks")
    orders: int
    revenue: Revenue | None = Field(description="In the revenue goal's currency, at ECB rates")
    revenue_by_currency: list[Amounts]
    unconverted: list[Amounts] = Field(description="Revenue in currencies the ECB does not quote")
    goals: list[GoalOut]
    slots: list[SlotProgressOut]


def amounts(values: dict[str, Decimal]) -> list[Amounts]:
    return [Amounts(currency=c, amount=amount_text(v, c)) for c, v in sorted(values.items())]


def decimal_text(value: Decimal | None) -> str | None:
    return None if value is None else f"{value.normalize():f}"
