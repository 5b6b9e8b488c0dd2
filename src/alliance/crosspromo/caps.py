"""Audience-fatigue caps: rules, what the link cache carries, the redirect's exposure read.

Who may set which rule: the operator any (it alone the network's); a campaign's organiser
the campaign, slot and pair rules of its campaign (a pair of two partner parties of it).
The redirect reads nothing here per click except `exposures_of` (one indexed query, run in
a worker thread, only for a returning visitor on a co-promotion link with rules).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache

from sqlalchemy import ColumnElement, Select, bindparam, false, or_, select, true
from sqlalchemy.orm import Session, aliased

from alliance.accounts.service import Principal
from alliance.api.fields import is_public_id
from alliance.clock import utcnow
from alliance.conversions.models import Conversion, ConversionStatus
from alliance.crosspromo import campaign_rules
from alliance.crosspromo.campaign_models import Campaign, CampaignParty, CampaignSlot
from alliance.crosspromo.campaigns import get_campaign, party_of, require_organiser
from alliance.crosspromo.cap_models import FatigueCapRule
from alliance.crosspromo.caps_report import MAX_DEPTH, ExposureRow, exposure_report
from alliance.crosspromo.caps_rules import (
    CapRule,
    CapScope,
    CapWindow,
    Exposure,
    Placement,
    check_rule_terms,
)
from alliance.db.engine import get_engine
from alliance.errors import Forbidden, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.tracking.models import Click

# --- what the redirect carries per co-promotion link ---------------------------------------


@dataclass(frozen=True, slots=True)
class CapTable:
    """The rules holding one co-promotion link, compiled once per link-cache load."""

    place: Placement
    rules: tuple[CapRule, ...]
    # The programs of every link the rules count together: the exposure read walks the
    # clicks index (program_id, visitor_id, occurred_at) once per program, no further.
    program_ids: tuple[str, ...]
    plain_landing: str  # the program's landing page: where a capped visitor goes


def _placements() -> Select[str, str, str | None, str | None, str, str]:
    """Every slot as (slot, campaign, promoter partner, beneficiary partner, link, program)."""
    promoter = aliased(CampaignParty)
    beneficiary = aliased(CampaignParty)
    return (
        select(
            CampaignSlot.id,
            CampaignSlot.campaign_id,
            promoter.partner_id,
            beneficiary.partner_id,
            CampaignSlot.link_id,
            CampaignSlot.program_id,
        )
        .join(promoter, promoter.id == CampaignSlot.promoter_party_id)
        .outerjoin(beneficiary, beneficiary.id == CampaignSlot.beneficiary_party_id)
    )


def _place(row: Sequence[object]) -> Placement:
    slot_id, campaign_id, promoter_id, beneficiary_id = row[0], row[1], row[2], row[3]
    return Placement(
        slot_id=str(slot_id),
        campaign_id=str(campaign_id),
        promoter_id=str(promoter_id or ""),
        beneficiary_id=None if beneficiary_id is None else str(beneficiary_id),
    )


def rule_of(row: FatigueCapRule) -> CapRule:
    scope = CapScope(row.scope)
    target: str | frozenset[str] | None = None
    if scope is CapScope.campaign:
        target = row.campaign_id
    elif scope is CapScope.slot:
        target = row.slot_id
    elif scope is CapScope.pair:
        target = frozenset((str(row.partner_low_id), str(row.partner_high_id)))
    return CapRule(
        id=row.id,
        scope=scope,
        target=target,
        maximum=int(row.maximum),
        window=CapWindow(row.window_kind),
        window_hours=row.window_hours,
        time_zone=row.time_zone,
    )


def _pair_ids(place: Placement) -> tuple[str, str] | None:
    pair = place.pair()
    if pair is None:
        return None
    low, high = sorted(pair)
    return low, high


def cap_table_for_link(session: Session, link_id: str, plain_landing: str) -> CapTable | None:
    """The caps of a link, or None when it is no co-promotion link or no rule holds it.

    Run on a link-cache miss only: one indexed read of the link's slot, one of the rules."""
    slot_row = session.execute(_placements().where(CampaignSlot.link_id == link_id)).first()
    if slot_row is None:
        return None
    place = _place(slot_row)
    pair = _pair_ids(place)
    rows = session.scalars(
        select(FatigueCapRule)
        .where(
            FatigueCapRule.deleted_at.is_(None),
            or_(
                FatigueCapRule.scope == CapScope.network.value,
                (FatigueCapRule.scope == CapScope.campaign.value)
                & (FatigueCapRule.campaign_id == place.campaign_id),
                (FatigueCapRule.scope == CapScope.slot.value)
                & (FatigueCapRule.slot_id == place.slot_id),
                (FatigueCapRule.scope == CapScope.pair.value)
                & (FatigueCapRule.partner_low_id == pair[0])
                & (FatigueCapRule.partner_high_id == pair[1])
                if pair is not None
                else false(),
            ),
        )
        .order_by(FatigueCapRule.created_at, FatigueCapRule.id)
    ).all()
    if not rows:
        return None
    rules = tuple(rule_of(row) for row in rows)
    return CapTable(
        place=place,
        rules=rules,
        program_ids=_programs_in_scope(session, rules),
        plain_landing=plain_landing,
    )


def _programs_in_scope(session: Session, rules: Sequence[CapRule]) -> tuple[str, ...]:
    """The programs of the slots any of `rules` counts (sorted, distinct)."""
    promoter = aliased(CampaignParty)
    beneficiary = aliased(CampaignParty)
    conditions: list[ColumnElement[bool]] = []
    for rule in rules:
        if rule.scope is CapScope.network:
            conditions = [true()]
            break
        if rule.scope is CapScope.campaign:
            conditions.append(CampaignSlot.campaign_id == rule.target)
        elif rule.scope is CapScope.slot:
            conditions.append(CampaignSlot.id == rule.target)
        else:
            assert isinstance(rule.target, frozenset)
            a, b = sorted(rule.target)
            conditions.append(
                or_(
                    (promoter.partner_id == a) & (beneficiary.partner_id == b),
                    (promoter.partner_id == b) & (beneficiary.partner_id == a),
                )
            )
    found = session.scalars(
        select(CampaignSlot.program_id)
        .join(promoter, promoter.id == CampaignSlot.promoter_party_id)
        .outerjoin(beneficiary, beneficiary.id == CampaignSlot.beneficiary_party_id)
        .where(or_(*conditions))
        .distinct()
    ).all()
    return tuple(sorted(found))


# Since ever, for a lifetime window: one statement serves every rule.
_EVER = datetime(2000, 1, 1, tzinfo=UTC)


@cache
def _exposure_statements() -> tuple[
    Select[str, datetime], Select[str, str, str | None, str | None, str, str]
]:
    """The two statements of the exposure read, built once: building a select with aliased
    parties costs milliseconds, more than running it (bench/fatigue_caps.py)."""
    clicks = select(Click.link_id, Click.occurred_at).where(
        Click.program_id.in_(bindparam("programs", expanding=True)),
        Click.visitor_id == bindparam("visitor"),
        Click.occurred_at >= bindparam("since"),
        Click.is_bot.is_(False),
        Click.invalid_reason.is_(None),
    )
    places = _placements().where(CampaignSlot.link_id.in_(bindparam("links", expanding=True)))
    return clicks, places


def exposures_of(
    visitor_id: str, table: CapTable, since: datetime | None, database_url: str | None = None
) -> list[Exposure]:
    """The visitor's valid clicks on co-promotion links of the table's programs since
    `since` (blocking: run it in a thread). Two small reads: the visitor's clicks through
    the (program_id, visitor_id, occurred_at) index, bounded by one visitor's activity in a
    few programs; then where those links sit, through campaign_slots.link_id. (One join
    would let the planner drive from the slots into clicks, which has no link_id index.)"""
    clicks, places_of = _exposure_statements()
    # A Core connection, not an ORM session: per click, the session's set-up costs more
    # than the indexed query itself.
    with get_engine(database_url, readonly=True).connect() as connection:
        seen = connection.execute(
            clicks,
            {"programs": list(table.program_ids), "visitor": visitor_id, "since": since or _EVER},
        ).all()
        if not seen:
            return []
        links = sorted({link_id for link_id, _ in seen})
        places = {row[4]: _place(row) for row in connection.execute(places_of, {"links": links})}
    return [Exposure(at=at, place=places[link_id]) for link_id, at in seen if link_id in places]


# --- the rules, as accounts set them -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RuleTerms:
    """A rule as asked for (validated by `create_rule`)."""

    scope: CapScope
    maximum: int
    window: CapWindow
    window_hours: int | None = None
    time_zone: str = "UTC"
    campaign_id: str | None = None
    slot_id: str | None = None
    partner_ids: tuple[str, ...] = ()


def _check(terms: RuleTerms) -> None:
    problem = check_rule_terms(
        terms.scope, terms.maximum, terms.window, terms.window_hours, terms.time_zone
    )
    if problem is not None:
        raise InvalidInput(problem[1], field=problem[0])
    if terms.window is CapWindow.calendar_day:
        campaign_rules.zone(terms.time_zone)


def _require_campaign(session: Session, who: Principal, campaign_id: str | None) -> Campaign:
    if not campaign_id:
        raise InvalidInput("a campaign, slot or pair rule names its campaign", field="campaign_id")
    campaign = get_campaign(session, campaign_id, who, for_update=True)
    if not who.is_operator:
        require_organiser(session, campaign, who)
    return campaign


def _pair_in(session: Session, campaign: Campaign, partner_ids: tuple[str, ...]) -> tuple[str, str]:
    if len(partner_ids) != 2 or partner_ids[0] == partner_ids[1]:
        raise InvalidInput("a pair is two different partners", field="partner_ids")
    parties = set(
        session.scalars(
            select(CampaignParty.partner_id).where(
                CampaignParty.campaign_id == campaign.id,
                CampaignParty.partner_id.in_(partner_ids),
            )
        ).all()
    )
    if parties != set(partner_ids):
        raise InvalidInput("both partners must be parties of the campaign", field="partner_ids")
    low, high = sorted(partner_ids)
    return low, high


def create_rule(session: Session, who: Principal, terms: RuleTerms) -> FatigueCapRule:
    """A new rule; it holds clicks once the link cache reloads the links (its TTL)."""
    _check(terms)
    row = FatigueCapRule(
        id=new_id("cap"),
        scope=terms.scope.value,
        maximum=terms.maximum,
        window_kind=terms.window.value,
        window_hours=terms.window_hours,
        time_zone=terms.time_zone if terms.window is CapWindow.calendar_day else "UTC",
        created_by=who.id,
        created_at=utcnow(),
    )
    if terms.scope is CapScope.network:
        if not who.is_operator:
            raise Forbidden("only the operator sets network-wide caps")
    else:
        campaign = _require_campaign(session, who, terms.campaign_id)
        row.campaign_id = campaign.id
        if terms.scope is CapScope.slot:
            known = terms.slot_id and is_public_id(terms.slot_id, PREFIXES["campaign_slot"])
            slot = session.get(CampaignSlot, terms.slot_id) if known else None
            if slot is None or slot.campaign_id != campaign.id:
                raise InvalidInput("no such slot in this campaign", field="slot_id")
            row.slot_id = slot.id
        elif terms.scope is CapScope.pair:
            row.partner_low_id, row.partner_high_id = _pair_in(session, campaign, terms.partner_ids)
    session.add(row)
    session.flush()
    return row


def _may_read(session: Session, who: Principal, row: FatigueCapRule) -> bool:
    if who.is_operator or row.scope == CapScope.network.value:
        return True
    if row.campaign_id is None:
        return False
    campaign = session.get(Campaign, row.campaign_id)
    return campaign is not None and party_of(session, campaign, who) is not None


def list_rules(
    session: Session, who: Principal, campaign_id: str | None = None
) -> list[FatigueCapRule]:
    """Live rules `who` may see: the network's, and those of its campaigns (or of one)."""
    query = select(FatigueCapRule).where(FatigueCapRule.deleted_at.is_(None))
    if campaign_id is not None:
        campaign = get_campaign(session, campaign_id, who)
        query = query.where(
            or_(
                FatigueCapRule.campaign_id == campaign.id,
                FatigueCapRule.scope == CapScope.network.value,
            )
        )
    rows = session.scalars(query.order_by(FatigueCapRule.created_at, FatigueCapRule.id)).all()
    return [row for row in rows if _may_read(session, who, row)]


def get_rule(session: Session, who: Principal, rule_id: str) -> FatigueCapRule:
    known = is_public_id(rule_id, PREFIXES["cap_rule"])
    row = session.get(FatigueCapRule, rule_id) if known else None
    if row is None or row.deleted_at is not None or not _may_read(session, who, row):
        raise NotFound("no such cap rule", field="rule_id")
    return row


def delete_rule(session: Session, who: Principal, rule_id: str) -> None:
    """Marked deleted (kept: clicks it capped can still be explained)."""
    row = get_rule(session, who, rule_id)
    if not who.is_operator:
        if row.campaign_id is None:
            raise Forbidden("only the operator removes network-wide caps")
        campaign = get_campaign(session, row.campaign_id, who, for_update=True)
        require_organiser(session, campaign, who)
    row.deleted_at = utcnow()
    session.flush()


# --- the report ----------------------------------------------------------------------------


def exposure_sequences(session: Session, campaign: Campaign) -> list[list[bool]]:
    """Each visitor's valid clicks on the campaign's links in the campaign's period, in
    order, True where the click brought a conversion that was not declined. Reads clicks
    through (program_id, occurred_at) for the slots' programs, conversions by click_id."""
    slots = select(CampaignSlot.link_id).where(CampaignSlot.campaign_id == campaign.id)
    programs = select(CampaignSlot.program_id).where(CampaignSlot.campaign_id == campaign.id)
    converted = (
        select(Conversion.id)
        .where(
            Conversion.click_id == Click.id,
            Conversion.status != ConversionStatus.declined.value,
        )
        .exists()
    )
    rows = session.execute(
        select(Click.visitor_id, converted)
        .where(
            Click.program_id.in_(programs),
            Click.occurred_at >= campaign.starts_at,
            Click.occurred_at < campaign.ends_at,
            Click.link_id.in_(slots),
            Click.is_bot.is_(False),
            Click.invalid_reason.is_(None),
        )
        .order_by(Click.visitor_id, Click.occurred_at, Click.id)
    ).all()
    sequences: dict[str, list[bool]] = {}
    for visitor_id, did_convert in rows:
        sequences.setdefault(visitor_id, []).append(bool(did_convert))
    return list(sequences.values())


def campaign_exposure_report(
    session: Session, who: Principal, campaign_id: str, depth: int
) -> list[ExposureRow]:
    """The campaign's conversion rate by exposure count (any party, the operator)."""
    if not 1 <= depth <= MAX_DEPTH:
        raise InvalidInput(f"depth must be between 1 and {MAX_DEPTH}", field="depth")
    campaign = get_campaign(session, campaign_id, who)
    return exposure_report(exposure_sequences(session, campaign), depth)
