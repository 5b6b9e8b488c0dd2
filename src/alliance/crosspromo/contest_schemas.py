"""REST shapes of contests, their entries and their draws."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints
from pydantic.functional_validators import AfterValidator

from alliance.api.fields import Label, Name, ProgramId, multiline_text, plain_text
from alliance.crosspromo.contest_models import (
    Contest,
    ContestDraw,
    ContestEntry,
    ContestStatus,
    EntryStatus,
)
from alliance.crosspromo.contests import EntryCounts, Winner
from alliance.crosspromo.entrants import RejectReason

RulesText = Annotated[
    str,
    StringConstraints(min_length=1, max_length=20_000),
    AfterValidator(multiline_text),
]
ExternalValue = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=500), AfterValidator(plain_text)
]
RefCode = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=64), AfterValidator(plain_text)
]


class ContestCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    program_id: ProgramId
    title: Name
    rules: RulesText = Field(description="The official rules, shown on the public page.")
    opens_at: AwareDatetime = Field(
        description="When entries open (with a time zone). A moment in the past means now."
    )
    closes_at: AwareDatetime = Field(description="When entries close; the draw follows.")
    winners: int = Field(default=1, ge=1, le=1000, description="Prizes: entries drawn.")
    bonus_per_referral: int = Field(
        default=1, ge=0, le=100, description="Extra entries per verified friend referred."
    )
    bonus_cap: int = Field(default=10, ge=0, le=1000, description="Most extra entries in all.")
    per_ip_limit: int = Field(
        default=3, ge=1, le=1000, description="Entries accepted from one IP address."
    )
    external_source: Label | None = Field(
        default=None,
        description=(
            "Public randomness mixed into the draw, as the rules name it (e.g. 'drand "
            "mainnet round 5000000'); its value is given when drawing."
        ),
    )


class PartnerView(BaseModel):
    """What a partner sees of its part in a contest."""

    referral_code: str
    referral_link: str
    entries: int
    verified: int
    rejected: int


class Counts(BaseModel):
    total: int
    pending: int
    verified: int
    rejected: int

    @classmethod
    def of(cls, counts: EntryCounts) -> Counts:
        return cls(
            total=counts.total,
            pending=counts.pending,
            verified=counts.verified,
            rejected=counts.rejected,
        )


class ContestOut(BaseModel):
    id: str
    program_id: str
    campaign_id: str | None
    title: str
    rules: str
    status: ContestStatus
    opens_at: datetime
    closes_at: datetime
    winners: int
    bonus_per_referral: int
    bonus_cap: int
    per_ip_limit: int
    external_source: str | None
    commitment: str = Field(description="SHA-256 of the secret seed, published at creation.")
    public_url: str
    created_at: datetime
    counts: Counts | None = Field(description="Entries by status (the owner and the operator).")
    partner: PartnerView | None = Field(description="The calling partner's link and counts.")

    @classmethod
    def of(
        cls,
        row: Contest,
        status: ContestStatus,
        public_url: str,
        counts: EntryCounts | None = None,
        partner: PartnerView | None = None,
    ) -> ContestOut:
        return cls(
            id=row.id,
            program_id=row.program_id,
            campaign_id=row.campaign_id,
            title=row.title,
            rules=row.rules,
            status=status,
            opens_at=row.opens_at,
            closes_at=row.closes_at,
            winners=row.winners,
            bonus_per_referral=row.bonus_per_referral,
            bonus_cap=row.bonus_cap,
            per_ip_limit=row.per_ip_limit,
            external_source=row.external_source,
            commitment=row.commitment,
            public_url=public_url,
            created_at=row.created_at,
            counts=Counts.of(counts) if counts is not None else None,
            partner=partner,
        )


class EntryOut(BaseModel):
    """An entry as its contest's owner sees it (the public never sees addresses)."""

    id: str
    contest_id: str
    status: EntryStatus
    reason: RejectReason | None
    email: str
    name: str
    ref_code: str | None
    referrer_partner_id: str | None
    referrer_entry_id: str | None
    referral_code: str | None
    created_at: datetime
    verified_at: datetime | None

    @classmethod
    def of(cls, row: ContestEntry) -> EntryOut:
        return cls(
            id=row.id,
            contest_id=row.contest_id,
            status=EntryStatus(row.status),
            reason=RejectReason(row.reason) if row.reason else None,
            email=row.email,
            name=row.name,
            ref_code=row.ref_code,
            referrer_partner_id=row.referrer_partner_id,
            referrer_entry_id=row.referrer_entry_id,
            referral_code=row.referral_code,
            created_at=row.created_at,
            verified_at=row.verified_at,
        )


class DrawRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    external_value: ExternalValue | None = Field(
        default=None,
        description="The public randomness the rules announced (required exactly then).",
    )


class WinnerOut(BaseModel):
    place: int
    entry_id: str
    name: str = Field(description="First name and the last name's initial.")

    @classmethod
    def of(cls, winner: Winner) -> WinnerOut:
        return cls(place=winner.place, entry_id=winner.entry_id, name=winner.public_name)


class ResultsOut(BaseModel):
    """Everything needed to re-run the draw (docs/contests.md); before it, the commitment."""

    contest_id: str
    status: ContestStatus
    commitment: str
    external_source: str | None
    drawn_at: datetime | None = None
    seed: str | None = Field(default=None, description="Revealed after the draw.")
    entries_hash: str | None = None
    entries_url: str | None = Field(default=None, description="The hashed entry list (CSV).")
    entry_count: int | None = None
    total_weight: int | None = None
    external_value: str | None = None
    randomness: str | None = None
    winners_count: int
    winners: list[WinnerOut] = Field(default_factory=list)
    verify_command: str | None = None

    @classmethod
    def of(
        cls,
        contest: Contest,
        status: ContestStatus,
        record: ContestDraw | None,
        winners: list[Winner],
        entries_url: str,
        command: str | None,
    ) -> ResultsOut:
        base = cls(
            contest_id=contest.id,
            status=status,
            commitment=contest.commitment,
            external_source=contest.external_source,
            winners_count=contest.winners,
        )
        if record is None:
            return base
        return base.model_copy(
            update={
                "drawn_at": record.drawn_at,
                "seed": contest.seed,
                "entries_hash": record.entries_hash,
                "entries_url": entries_url,
                "entry_count": record.entry_count,
                "total_weight": record.total_weight,
                "external_value": record.external_value,
                "randomness": record.randomness,
                "winners": [WinnerOut.of(w) for w in winners],
                "verify_command": command,
            }
        )


class EntryForm(BaseModel):
    """The public entry form, as JSON or as the page's form fields."""

    model_config = ConfigDict(extra="forbid")

    email: Annotated[str, StringConstraints(min_length=1, max_length=320)] = Field(
        description="Checked and normalised by the contest (a bad one is a refused entry)."
    )
    name: Name
    ref: RefCode | None = Field(default=None, description="A partner's or entrant's code.")
    consent: bool = Field(description="Must be true: the entrant accepts the rules.")


class EntryAnswer(BaseModel):
    entry_id: str
    status: EntryStatus
    message: str
