"""The fair-exchange ledger between co-promoting partners (docs/fair-exchange.md).

What each partner of a campaign delivered to each other partner: unique people (network-wide
visitor ids) sent through the slot links it placed for the other's offer, counted once the
screening period is over, as append-only signed entries (exchange_rules). Balances are sums
of entries; an alert is raised once per crossing of the agreed tolerance and mailed to the
party owed; a party settles by a capped carry-over (the excess over the cap is forgiven and
recorded as an entry).

Campaigns are read only through campaign_exchange (what the ledger reads of them).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.accounts.service import Principal
from alliance.crosspromo import campaigns, exchange_rules
from alliance.crosspromo.campaign_exchange import ExchangeTerms, exchange_terms
from alliance.crosspromo.campaign_models import Campaign, CampaignParty
from alliance.crosspromo.campaign_rules import AGREED_STATES, CampaignStatus, Channel
from alliance.crosspromo.campaign_schedule import SlotSpec, add_slot
from alliance.crosspromo.exchange_models import (
    EntryKind,
    ExchangeAlert,
    ExchangeEntry,
    ExchangeSettlement,
    SettlementMethod,
)
from alliance.crosspromo.exchange_rules import Delivery, Tolerance
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.mail import outbox
from alliance.mail.models import MailKind
from alliance.tracking.models import Click, is_valid_click

# Fraud screening may flag a click as a bot or invalid for this long after it happened
# (docs/fair-exchange.md): only older clicks are counted, and a counted one stays counted.
DEFAULT_SCREENING = timedelta(days=7)
# A carry-over cap, in unique clicks (the column is a 32-bit integer).
MAX_CAP = 10**9


# --- recording deliveries --------------------------------------------------------------------


def _deliveries(session: Session, terms: ExchangeTerms) -> list[Delivery]:
    """Every click through a slot link placed by one partner for another partner's offer,
    inside the campaign's period (links placed for an advertiser party are not an exchange
    between partners)."""
    found: list[Delivery] = []
    for link in terms.links:
        beneficiary = link.beneficiary_partner_id
        if beneficiary is None or beneficiary == link.promoter_partner_id:
            continue
        query = select(
            Click.id, Click.visitor_id, Click.occurred_at, Click.is_bot, Click.invalid_reason
        ).where(Click.link_id == link.link_id, Click.program_id == link.program_id)
        if terms.starts_at is not None:
            query = query.where(Click.occurred_at >= terms.starts_at)
        if terms.ends_at is not None:
            query = query.where(Click.occurred_at < terms.ends_at)
        for click_id, visitor_id, occurred_at, is_bot, invalid_reason in session.execute(query):
            found.append(
                Delivery(
                    click_id=click_id,
                    visitor_id=visitor_id,
                    promoter=link.promoter_partner_id,
                    beneficiary=beneficiary,
                    occurred_at=occurred_at,
                    valid=is_valid_click(is_bot, invalid_reason),
                )
            )
    return found


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert one campaign's entries; one whose (campaign, source) exists already is skipped,
    so a second job run, or two workers at once, change nothing."""
    if not rows:
        return 0
    # Most of a campaign's people were counted by an earlier run: skip them without a write.
    known = set(
        session.scalars(
            select(ExchangeEntry.source_key).where(
                ExchangeEntry.campaign_id == rows[0]["campaign_id"]
            )
        )
    )
    rows = [row for row in rows if row["source_key"] not in known]
    connection = session.connection()
    dialect = connection.dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    # RETURNING rather than rowcount: psycopg reports -1 for a skipped conflict's rowcount.
    statement = (
        insert(ExchangeEntry)
        .on_conflict_do_nothing(index_elements=["campaign_id", "source_key"])
        .returning(ExchangeEntry.id)
    )
    written = 0
    for row in rows:
        written += len(connection.execute(statement, row).all())
    return written


def record_confirmed(
    session: Session, campaign_id: str, now: datetime, screening: timedelta = DEFAULT_SCREENING
) -> int:
    """Write an entry for every confirmed person not yet counted; returns how many were new."""
    terms = exchange_terms(session, campaign_id)
    counted = exchange_rules.first_per_person(
        exchange_rules.confirmed(_deliveries(session, terms), now, screening)
    )
    rows = []
    for d in counted:
        low, high = exchange_rules.pair_of(d.promoter, d.beneficiary)
        rows.append(
            {
                "id": new_id(PREFIXES["exchange_entry"]),
                "campaign_id": campaign_id,
                "partner_low": low,
                "partner_high": high,
                "kind": EntryKind.click.value,
                "units": exchange_rules.signed_units(d.promoter, d.beneficiary, 1),
                "source_key": f"click:{d.promoter}:{d.visitor_id}",
                "click_id": d.click_id,
                "settlement_id": None,
                "occurred_at": d.occurred_at,
                "recorded_at": now,
            }
        )
    return _insert_ignoring_duplicates(session, rows)


# --- balances --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PairBalance:
    """The exchange between `partner` and `counterpart` in one campaign, from `partner`'s side.

    `balance` > 0: the counterpart owes `partner` that many unique clicks."""

    campaign_id: str
    partner_id: str
    counterpart_id: str
    delivered: int  # unique people partner sent to counterpart
    received: int  # unique people counterpart sent to partner
    adjusted: int  # settlement entries, from partner's side
    balance: int
    tolerance: Tolerance
    exceeded: bool

    @property
    def exchanged(self) -> int:
        return self.delivered + self.received


def partner_pairs(terms: ExchangeTerms) -> list[tuple[str, str]]:
    """Every pair of partner parties of the campaign, canonical order, sorted."""
    partners = sorted({p.partner_id for p in terms.parties if p.partner_id is not None})
    return [(a, b) for i, a in enumerate(partners) for b in partners[i + 1 :]]


def tolerance_of(terms: ExchangeTerms) -> Tolerance:
    if not terms.agreed:
        return Tolerance()
    return Tolerance(percent=terms.tolerance_percent, units=terms.tolerance_clicks)


def pair_balance(
    session: Session, terms: ExchangeTerms, partner_id: str, counterpart_id: str
) -> PairBalance:
    low, high = exchange_rules.pair_of(partner_id, counterpart_id)
    # Per kind: the low partner's side (units > 0) and the high partner's (units < 0).
    positive = func.sum(case((ExchangeEntry.units > 0, ExchangeEntry.units), else_=0))
    negative = func.sum(case((ExchangeEntry.units < 0, ExchangeEntry.units), else_=0))
    sums = {
        kind: (int(plus or 0), int(minus or 0))
        for kind, plus, minus in session.execute(
            select(ExchangeEntry.kind, positive, negative)
            .where(
                ExchangeEntry.campaign_id == terms.campaign_id,
                ExchangeEntry.partner_low == low,
                ExchangeEntry.partner_high == high,
            )
            .group_by(ExchangeEntry.kind)
        )
    }
    clicks_plus, clicks_minus = sums.get(EntryKind.click.value, (0, 0))
    low_delivered, high_delivered = clicks_plus, -clicks_minus
    adjusted_low = sum(
        plus + minus for kind, (plus, minus) in sums.items() if kind != EntryKind.click.value
    )
    signed_total = low_delivered - high_delivered + adjusted_low
    mine_low = partner_id == low
    delivered, received = (
        (low_delivered, high_delivered) if mine_low else (high_delivered, low_delivered)
    )
    balance = exchange_rules.balance_of(partner_id, counterpart_id, signed_total)
    tolerance = tolerance_of(terms)
    return PairBalance(
        campaign_id=terms.campaign_id,
        partner_id=partner_id,
        counterpart_id=counterpart_id,
        delivered=delivered,
        received=received,
        adjusted=adjusted_low if mine_low else -adjusted_low,
        balance=balance,
        tolerance=tolerance,
        exceeded=exchange_rules.exceeds(balance, delivered + received, tolerance),
    )


def _caller_partner(session: Session, campaign: Campaign, who: Principal) -> str | None:
    """The partner whose side the caller reads; None for the operator (every pair). Anyone
    else (an advertiser party) does not see the partners' exchange: 404, as a missing id."""
    if who.is_operator:
        return None
    if who.is_partner:
        return who.id
    raise NotFound(f"no campaign {campaign.id!r}", field="campaign_id")


def campaign_for(session: Session, campaign_id: str, who: Principal) -> Campaign:
    campaign = campaigns.get_campaign(session, campaign_id, who)
    _caller_partner(session, campaign, who)
    return campaign


def balances(session: Session, campaign_id: str, who: Principal) -> list[PairBalance]:
    """The caller's pairs in the campaign (every pair, from the low side, for the operator)."""
    campaign = campaign_for(session, campaign_id, who)
    me = _caller_partner(session, campaign, who)
    terms = exchange_terms(session, campaign.id)
    result = []
    for low, high in partner_pairs(terms):
        if me is None:
            result.append(pair_balance(session, terms, low, high))
        elif me in (low, high):
            result.append(pair_balance(session, terms, me, high if me == low else low))
    return result


def _partner_parties(session: Session, campaign: Campaign) -> set[str]:
    return {
        p.partner_id for p in campaigns.parties(session, campaign.id) if p.partner_id is not None
    }


def _counterpart(
    session: Session, campaign: Campaign, me: str | None, counterpart: str, field: str
) -> str:
    """A partner party of the campaign other than `me`, or 422 naming the field."""
    if counterpart not in _partner_parties(session, campaign) or counterpart == me:
        raise InvalidInput(
            f"{str(counterpart)[:40]!r} is not another partner of this campaign", field=field
        )
    return counterpart


def entries(
    session: Session, campaign_id: str, who: Principal, counterpart_id: str, partner_id: str | None
) -> list[ExchangeEntry]:
    """The pair's entries, oldest first. The operator names both partners."""
    campaign = campaign_for(session, campaign_id, who)
    me = _caller_partner(session, campaign, who)
    if me is None:
        if partner_id is None:
            raise InvalidInput("the operator names the pair's first partner", field="partner_id")
        me = _counterpart(session, campaign, None, partner_id, "partner_id")
    other = _counterpart(session, campaign, me, counterpart_id, "counterpart_id")
    low, high = exchange_rules.pair_of(me, other)
    return list(
        session.scalars(
            select(ExchangeEntry)
            .where(
                ExchangeEntry.campaign_id == campaign.id,
                ExchangeEntry.partner_low == low,
                ExchangeEntry.partner_high == high,
            )
            .order_by(ExchangeEntry.occurred_at, ExchangeEntry.id)
        )
    )


# --- alerts ----------------------------------------------------------------------------------


def _open_alert(session: Session, campaign_id: str, low: str, high: str) -> ExchangeAlert | None:
    return session.scalars(
        select(ExchangeAlert).where(
            ExchangeAlert.campaign_id == campaign_id,
            ExchangeAlert.partner_low == low,
            ExchangeAlert.partner_high == high,
            ExchangeAlert.resolved_at.is_(None),
        )
    ).first()


def _last_crossing(session: Session, campaign_id: str, low: str, high: str) -> int:
    found = session.scalar(
        select(func.max(ExchangeAlert.crossing)).where(
            ExchangeAlert.campaign_id == campaign_id,
            ExchangeAlert.partner_low == low,
            ExchangeAlert.partner_high == high,
        )
    )
    return int(found or 0)


def check_alerts(session: Session, campaign_id: str, now: datetime) -> int:
    """Raise an alert for each pair newly beyond the tolerance (once per crossing, mailed
    to the partner owed); resolve open alerts of pairs back within it. Returns raised."""
    terms = exchange_terms(session, campaign_id)
    raised = 0
    for low, high in partner_pairs(terms):
        state = pair_balance(session, terms, low, high)
        open_alert = _open_alert(session, campaign_id, low, high)
        if not state.exceeded:
            if open_alert is not None:
                open_alert.resolved_at = now
            continue
        if open_alert is not None:
            continue
        owed = low if state.balance > 0 else high
        try:
            # The alert row and its mail together: another worker winning the unique
            # (pair, crossing) rolls back both, so the party owed hears it once.
            with session.begin_nested():
                session.add(
                    ExchangeAlert(
                        campaign_id=campaign_id,
                        partner_low=low,
                        partner_high=high,
                        crossing=_last_crossing(session, campaign_id, low, high) + 1,
                        owed_partner_id=owed,
                        balance=abs(state.balance),
                        exchanged=state.exchanged,
                        raised_at=now,
                    )
                )
                session.flush()
                _mail_owed(session, campaign_id, owed, abs(state.balance))
        except IntegrityError:
            continue
        raised += 1
    return raised


def _mail_owed(session: Session, campaign_id: str, owed: str, balance: int) -> None:
    campaign = session.get(Campaign, campaign_id)
    party = session.scalars(
        select(CampaignParty).where(
            CampaignParty.campaign_id == campaign_id, CampaignParty.partner_id == owed
        )
    ).first()
    if campaign is None or party is None:
        return
    outbox.queue_all(
        session,
        campaigns.party_recipients(session, party),
        MailKind.exchange_alert,
        about=campaign.id,
        title=campaign.title,
        balance=balance,
        link=campaigns.campaign_page_url(campaign.id, party),
    )


def alerts(session: Session, campaign_id: str, who: Principal) -> list[ExchangeAlert]:
    """The caller's pairs' alerts (every pair's for the operator), newest first."""
    campaign = campaign_for(session, campaign_id, who)
    me = _caller_partner(session, campaign, who)
    query = select(ExchangeAlert).where(ExchangeAlert.campaign_id == campaign.id)
    if me is not None:
        query = query.where((ExchangeAlert.partner_low == me) | (ExchangeAlert.partner_high == me))
    return list(session.scalars(query.order_by(ExchangeAlert.raised_at.desc())))


# --- settlement ------------------------------------------------------------------------------


def settle_carry_over(
    session: Session, campaign_id: str, who: Principal, counterpart_id: str, cap: int, now: datetime
) -> ExchangeSettlement:
    """The partner owed carries at most `cap` unique clicks of what it is owed into the next
    period and forgives the excess, posted as one entry. Only the partner owed may: the one
    owing cannot write off its own debt."""
    if isinstance(cap, bool) or not isinstance(cap, int) or not 0 <= cap <= MAX_CAP:
        raise InvalidInput(
            f"the cap is a whole number of unique clicks, from 0 to {MAX_CAP}", field="cap"
        )
    campaign = campaigns.get_campaign(session, campaign_id, who, for_update=True)
    me = _caller_partner(session, campaign, who)
    if me is None:
        raise Conflict("a settlement is made by one of the pair's partners", field="counterpart_id")
    other = _counterpart(session, campaign, me, counterpart_id, "counterpart_id")
    terms = exchange_terms(session, campaign.id)
    state = pair_balance(session, terms, me, other)
    if state.balance < 0:
        raise Conflict(
            "only the partner owed may forgive part of the balance", field="counterpart_id"
        )
    outcome = exchange_rules.carry_over(state.balance, cap)
    if outcome.forgiven == 0:
        raise Conflict(
            f"the balance ({state.balance}) is within the cap: nothing to forgive", field="cap"
        )
    low, high = exchange_rules.pair_of(me, other)
    sign = 1 if me == low else -1
    settlement = ExchangeSettlement(
        id=new_id(PREFIXES["exchange_settlement"]),
        campaign_id=campaign.id,
        partner_low=low,
        partner_high=high,
        method=SettlementMethod.carry_over.value,
        balance_before=sign * state.balance,
        cap=cap,
        carried=sign * outcome.carried,
        forgiven=sign * outcome.forgiven,
        created_by=who.id,
        created_at=now,
    )
    session.add(settlement)
    session.add(
        ExchangeEntry(
            id=new_id(PREFIXES["exchange_entry"]),
            campaign_id=campaign.id,
            partner_low=low,
            partner_high=high,
            kind=EntryKind.carry_over.value,
            units=-sign * outcome.forgiven,
            source_key=f"settlement:{settlement.id}",
            click_id=None,
            settlement_id=settlement.id,
            occurred_at=now,
            recorded_at=now,
        )
    )
    session.flush()
    return settlement


@dataclass(frozen=True, slots=True)
class MakeGood:
    """A slot asked of the partner owing, for the partner owed: what, where, when."""

    owing_partner_id: str
    owed_partner_id: str
    program_id: str  # the owed partner's offer (the slot's link is the owed partner's)
    channel: Channel
    title: str
    starts_at: datetime
    ends_at: datetime


def settle_make_good(
    session: Session, campaign_id: str, who: Principal, terms: MakeGood, now: datetime
) -> ExchangeSettlement:
    """Add a slot in which the partner owing promotes the partner owed's offer, through the
    campaigns service (so only the organiser may, and the changed terms go back to every party
    for acceptance). The balance moves as the slot's clicks are confirmed, not before."""
    campaign = campaigns.get_campaign(session, campaign_id, who, for_update=True)
    _caller_partner(session, campaign, who)
    owed = _counterpart(session, campaign, None, terms.owed_partner_id, "owed_partner_id")
    owing = _counterpart(session, campaign, owed, terms.owing_partner_id, "owing_partner_id")
    state = pair_balance(session, exchange_terms(session, campaign.id), owed, owing)
    if state.balance <= 0:
        raise Conflict(
            f"{owing} owes {owed} nothing in this campaign (balance {state.balance})",
            field="owing_partner_id",
        )
    by_partner = {
        p.partner_id: p.id for p in campaigns.parties(session, campaign.id) if p.partner_id
    }
    slot = add_slot(
        session,
        campaign,
        who,
        SlotSpec(
            promoter_party_id=by_partner[owing],
            beneficiary_party_id=by_partner[owed],
            program_id=terms.program_id,
            channel=terms.channel,
            title=terms.title,
            starts_at=terms.starts_at,
            ends_at=terms.ends_at,
            notes="make-good",
        ),
        now,
    )
    low, high = exchange_rules.pair_of(owed, owing)
    settlement = ExchangeSettlement(
        id=new_id(PREFIXES["exchange_settlement"]),
        campaign_id=campaign.id,
        partner_low=low,
        partner_high=high,
        method=SettlementMethod.make_good.value,
        balance_before=state.balance if owed == low else -state.balance,
        slot_id=slot.id,
        created_by=who.id,
        created_at=now,
    )
    session.add(settlement)
    session.flush()
    return settlement


# --- the periodic job ------------------------------------------------------------------------


def ledger_campaigns(session: Session, now: datetime, screening: timedelta) -> list[str]:
    """Agreed campaigns, and completed ones while their last clicks may still be confirmed."""
    still_screening = now - screening - timedelta(days=1)
    return list(
        session.scalars(
            select(Campaign.id)
            .where(
                Campaign.status.in_([s.value for s in AGREED_STATES])
                | (
                    (Campaign.status == CampaignStatus.completed.value)
                    & (Campaign.completed_at >= still_screening)
                )
            )
            .order_by(Campaign.id)
        )
    )
