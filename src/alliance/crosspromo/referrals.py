"""Partner refers partner: recruit codes, recording who recruited whom (self-referrals
refused with their reason), the override terms, and who earns what on an approved
commission (docs/referrals.md, docs/adr/0019).

The ledger side (creating the override commission, following the recruit's refunds) lives
with the other ledger operations in commissions/service.py, which asks `override_shares`.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.accounts.models import Partner
from alliance.accounts.users import Membership, User
from alliance.clock import as_utc, utcnow
from alliance.commissions.models import Commission, CommissionKind, LedgerEntry
from alliance.crosspromo import entrants
from alliance.crosspromo import referral_rules as rules
from alliance.crosspromo.referral_models import (
    AccountFingerprint,
    Funding,
    PartnerReferral,
    RecruitCode,
    ReferralStatus,
    ReferralTerms,
    RefusalReason,
)
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id
from alliance.money import round_money
from alliance.payouts.models import PayoutSettings
from alliance.programs.models import Program
from alliance.settings import get_settings
from alliance.tracking.visitor import hash_ip

NETWORK = "network"
# Crockford base32 without look-alikes: codes are typed from printed material too.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTVWXYZ"
_CODE_LENGTH = 8


# --- recruit codes ---------------------------------------------------------------------------


def recruit_code(session: Session, partner_id: str) -> str:
    """The partner's recruit code, made on first use (8 characters: ~6.6e11 codes, so a
    guess hits one with odds below one in a hundred million on a large network)."""
    found = session.get(RecruitCode, partner_id)
    if found is not None:
        return found.code
    if session.get(Partner, partner_id) is None:
        raise NotFound(f"partner {partner_id} does not exist", field="partner_id")
    for _ in range(5):
        code = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(_CODE_LENGTH))
        try:
            with session.begin_nested():
                session.add(RecruitCode(partner_id=partner_id, code=code, created_at=utcnow()))
            return code
        except IntegrityError:
            # Another request made this partner's code, or (rarely) the code is taken.
            found = session.get(RecruitCode, partner_id, populate_existing=True)
            if found is not None:
                return found.code
    raise Conflict("could not make a unique recruit code; try again")


def recruiter_of_code(session: Session, code: str) -> str | None:
    """The partner whose recruit code this is (case-insensitive), or None."""
    text = code.strip().upper()
    if not text or len(text) > 16:
        return None
    return session.scalar(select(RecruitCode.partner_id).where(RecruitCode.code == text))


# --- fingerprints ------------------------------------------------------------------------------


def device_hash(secret_key: str, user_agent: str) -> str:
    """Keyed hash of the user agent (the IP's twin in tracking.visitor.hash_ip)."""
    mac = hmac.new(f"{secret_key}:device".encode(), user_agent.encode(), hashlib.sha256)
    return mac.hexdigest()[:32]


def fingerprint_of(ip: str, user_agent: str) -> rules.Fingerprint:
    """The hashed (IP, device) pair of a request: what sign-in and sign-up compare."""
    key = get_settings().secret_key
    return rules.Fingerprint(hash_ip(key, ip), device_hash(key, user_agent[:512]))


def note_sign_ins(
    session: Session, memberships: Iterable[Membership], fingerprint: rules.Fingerprint
) -> None:
    """After a successful sign-in: the pair, for every partner account of the person."""
    for membership in memberships:
        if membership.account_kind == "partner":
            note_sign_in(session, membership.account_id, fingerprint)


def note_sign_in(session: Session, partner_id: str, fingerprint: rules.Fingerprint) -> None:
    """Remember that one of the partner's people signed in from this (IP, device) pair."""
    row = session.scalar(
        select(AccountFingerprint).where(
            AccountFingerprint.partner_id == partner_id,
            AccountFingerprint.ip_hash == fingerprint.ip_hash,
            AccountFingerprint.device_hash == fingerprint.device_hash,
        )
    )
    if row is not None:
        row.last_seen_at = utcnow()
        return
    try:
        with session.begin_nested():
            session.add(
                AccountFingerprint(
                    id=new_id(PREFIXES["fingerprint"]),
                    partner_id=partner_id,
                    ip_hash=fingerprint.ip_hash,
                    device_hash=fingerprint.device_hash,
                    last_seen_at=utcnow(),
                )
            )
    except IntegrityError:
        pass  # the same sign-in noted by a concurrent request


# --- self-referral -----------------------------------------------------------------------------


def _emails(session: Session, partner_id: str) -> set[str]:
    """Every address of a partner, normalised: the account's and its people's."""
    found = {session.scalar(select(Partner.email).where(Partner.id == partner_id))}
    found.update(
        session.scalars(
            select(User.email)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.account_kind == "partner", Membership.account_id == partner_id)
        )
    )
    return set(entrants.email_keys(found))


def _payout_account(session: Session, partner_id: str) -> str | None:
    settings = session.get(PayoutSettings, partner_id)
    if settings is None:
        return None
    if settings.iban:
        return f"iban:{settings.iban.upper()}"
    if settings.paypal_email:
        keys = entrants.email_keys([settings.paypal_email])
        return f"paypal:{min(keys)}" if keys else None
    return None


def same_payout_account(session: Session, one: str, other: str) -> bool:
    mine = _payout_account(session, one)
    return mine is not None and mine == _payout_account(session, other)


def self_referral(
    session: Session, recruit_id: str, recruiter_id: str, fingerprint: rules.Fingerprint | None
) -> tuple[RefusalReason | None, dict[str, Any]]:
    """Why recruiting `recruit_id` by `recruiter_id` is the recruiter recruiting itself, if
    it is, and what was compared (yes/no answers only, never an address or a hash)."""
    if recruit_id == recruiter_id:
        return RefusalReason.own_code, {"same_partner": True}
    # The same mailbox however it is spelled (case, Gmail's dots, +tags): contests'
    # normalisation (crosspromo/entrants.py).
    same_email = bool(_emails(session, recruit_id) & _emails(session, recruiter_id))
    same_account = same_payout_account(session, recruit_id, recruiter_id)
    same_device = False
    if fingerprint is not None:
        same_device = (
            session.scalar(
                select(AccountFingerprint.id).where(
                    AccountFingerprint.partner_id == recruiter_id,
                    AccountFingerprint.ip_hash == fingerprint.ip_hash,
                    AccountFingerprint.device_hash == fingerprint.device_hash,
                )
            )
            is not None
        )
    evidence = {
        "same_email": same_email,
        "same_payout_account": same_account,
        "same_device": same_device,
        "device_checked": fingerprint is not None,
    }
    if same_email:
        return RefusalReason.same_email, evidence
    if same_account:
        return RefusalReason.same_payout_account, evidence
    if same_device:
        return RefusalReason.same_device, evidence
    return None, evidence


# --- recording a referral ------------------------------------------------------------------


def record(
    session: Session,
    recruit_id: str,
    code: str,
    *,
    fingerprint: rules.Fingerprint | None = None,
    at: datetime | None = None,
) -> PartnerReferral:
    """`recruit_id` was recruited with `code`. A self-referral is recorded as refused with
    its reason (it earns nothing, and the recruiter's page shows why). A partner has one
    recruiter: recording again with the same code returns the first record; another code is
    a conflict. A chain that would loop (a partner recruiting its own recruiter) is refused."""
    recruiter_id = recruiter_of_code(session, code)
    if recruiter_id is None:
        raise InvalidInput(f"unknown recruit code {code!r}", field="recruit_code")
    if session.get(Partner, recruit_id) is None:
        raise NotFound(f"partner {recruit_id} does not exist", field="recruit_id")
    existing = session.scalar(
        select(PartnerReferral).where(PartnerReferral.recruit_id == recruit_id)
    )
    if existing is not None:
        if existing.recruiter_id == recruiter_id:
            return existing
        raise Conflict(
            f"partner {recruit_id} was already recruited by another partner",
            field="recruit_code",
        )
    if recruit_id in chain(session, recruiter_id, rules.MAX_LEVELS * 4):
        raise Conflict(
            f"partner {recruit_id} recruited this recruiter: a referral cannot loop",
            field="recruit_code",
        )
    reason, evidence = self_referral(session, recruit_id, recruiter_id, fingerprint)
    referral = PartnerReferral(
        id=new_id(PREFIXES["referral"]),
        recruit_id=recruit_id,
        recruiter_id=recruiter_id,
        recruited_at=at or utcnow(),
        status=(ReferralStatus.refused if reason else ReferralStatus.active).value,
        reason=reason.value if reason else None,
        evidence=evidence,
        created_at=utcnow(),
    )
    session.add(referral)
    session.flush()
    return referral


def chain(session: Session, partner_id: str, levels: int) -> list[str]:
    """The recruiters above a partner, nearest first, at most `levels` (refused referrals
    included: the caller decides what they earn)."""
    found: list[str] = []
    current = partner_id
    for _ in range(levels):
        above = session.scalar(
            select(PartnerReferral.recruiter_id).where(PartnerReferral.recruit_id == current)
        )
        if above is None or above in found or above == partner_id:
            break
        found.append(above)
        current = above
    return found


# --- terms -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TermsInput:
    percents: list[Decimal]
    months: int
    funded_by: Funding
    active: bool = True


def parse_terms(body: dict[str, Any]) -> TermsInput:
    """Checked terms from an API body or a CLI: 1-5 levels of 0 < percent <= 100, at most 10
    decimals; 1-120 months; funded by the network or the advertiser."""
    raw = body.get("percents")
    if not isinstance(raw, list) or not 1 <= len(raw) <= rules.MAX_LEVELS:
        raise InvalidInput(
            f"percents must be a list of 1 to {rules.MAX_LEVELS} levels", field="percents"
        )
    percents = []
    for i, value in enumerate(raw):
        try:
            percent = Decimal(str(value))
        except InvalidOperation:
            raise InvalidInput(f"level {i + 1}: not a number", field="percents") from None
        if not percent.is_finite() or not 0 < percent <= 100 or percent.as_tuple().exponent < -4:  # type: ignore[operator]
            raise InvalidInput(
                f"level {i + 1}: a percent above 0 and at most 100, 4 decimals at most",
                field="percents",
            )
        percents.append(percent)
    months = body.get("months")
    if isinstance(months, bool) or not isinstance(months, int) or not 1 <= months <= 120:
        raise InvalidInput("months must be a whole number from 1 to 120", field="months")
    try:
        funded_by = Funding(body.get("funded_by", Funding.network.value))
    except ValueError:
        raise InvalidInput("funded_by is network or advertiser", field="funded_by") from None
    active = body.get("active", True)
    if not isinstance(active, bool):
        raise InvalidInput("active is true or false", field="active")
    return TermsInput(percents, months, funded_by, active)


def set_terms(session: Session, scope: str, terms: TermsInput) -> ReferralTerms:
    """The network's default terms (scope "network") or a program's (scope = its id)."""
    program_id = None if scope == NETWORK else scope
    if program_id is not None and session.get(Program, program_id) is None:
        raise NotFound(f"program {program_id} does not exist", field="program_id")
    row = session.scalar(select(ReferralTerms).where(ReferralTerms.scope == scope))
    if row is None:
        row = ReferralTerms(id=new_id(PREFIXES["referral_terms"]), scope=scope)
        session.add(row)
    row.program_id = program_id
    row.percents = [f"{p.normalize():f}" for p in terms.percents]
    row.months = terms.months
    row.funded_by = terms.funded_by.value
    row.active = terms.active
    row.updated_at = utcnow()
    session.flush()
    return row


def terms_of(session: Session, scope: str) -> ReferralTerms | None:
    return session.scalar(select(ReferralTerms).where(ReferralTerms.scope == scope))


def terms_for(session: Session, program_id: str) -> ReferralTerms | None:
    """The terms that apply to a program's commissions: its own, else the network's; None
    when neither exists or the applicable ones are switched off (a program can opt out)."""
    found = terms_of(session, program_id) or terms_of(session, NETWORK)
    if found is None or not found.active:
        return None
    return found


# --- overrides -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class OverrideShare:
    """What one recruiter earns on one approved commission."""

    recruiter_id: str
    level: int
    percent: Decimal
    amount: Decimal
    funded_by: Funding
    months: int
    recruited_at: datetime
    arithmetic: str


def override_shares(
    session: Session, commission: Commission, value: Decimal
) -> list[OverrideShare]:
    """The overrides an approved commission worth `value` earns, level by level up the
    earning partner's chain of recruiters. Nothing for an override itself (no override on
    overrides), outside the term (counted from the earning partner's recruitment), for a
    refused referral, or when the two partners share a payout account (checked now: payout
    details usually come after sign-up; the direct referral is then refused, with that
    reason); a level without a percent ends the chain."""
    if commission.kind == CommissionKind.referral or value <= 0:
        return []
    # PostgreSQL hands NUMERIC back with six decimals: the amount as the partner reads it.
    value = round_money(value, commission.currency)
    # Most earning partners were recruited by nobody: one look-up by the unique recruit id
    # settles it before the terms (two more) are read, on every approval the job makes.
    referral = session.scalar(
        select(PartnerReferral).where(PartnerReferral.recruit_id == commission.partner_id)
    )
    if referral is None:
        return []
    terms = terms_for(session, commission.program_id)
    if terms is None:
        return []
    occurred = as_utc(commission.occurred_at)
    if not rules.within_term(as_utc(referral.recruited_at), terms.months, occurred):
        return []
    shares: list[OverrideShare] = []
    recruit, link = commission.partner_id, referral
    for level in range(1, len(terms.percents) + 1):
        percent = terms.percent_at(level)
        if percent is None:
            break
        recruiter = link.recruiter_id
        if link.status == ReferralStatus.active and same_payout_account(
            session, commission.partner_id, recruiter
        ):
            if link is referral:
                # Found now, not at sign-up (payout details come later): refused from here
                # on, with its reason, as it would have been at sign-up.
                link.status = ReferralStatus.refused.value
                link.reason = RefusalReason.same_payout_account.value
                link.evidence = {**(link.evidence or {}), "same_payout_account": True}
        elif link.status == ReferralStatus.active:
            amount = rules.override_amount(value, percent, commission.currency)
            if amount > 0:
                shares.append(
                    OverrideShare(
                        recruiter_id=recruiter,
                        level=level,
                        percent=percent,
                        amount=amount,
                        funded_by=Funding(terms.funded_by),
                        months=terms.months,
                        recruited_at=as_utc(referral.recruited_at),
                        arithmetic=rules.arithmetic(
                            percent,
                            value,
                            commission.currency,
                            amount,
                            level,
                            commission.partner_id,
                        ),
                    )
                )
        above = session.scalar(
            select(PartnerReferral).where(PartnerReferral.recruit_id == recruiter)
        )
        if above is None or above.recruiter_id in (recruit, commission.partner_id):
            break
        recruit, link = recruiter, above
    return shares


def earned(
    session: Session, rows: Sequence[PartnerReferral]
) -> dict[str, list[tuple[str, Decimal]]]:
    """Per referral: Σ the current ledger values of the recruiter's overrides on its
    recruit's commissions, per currency (one query for all the rows' recruiters)."""
    recruiters = {row.recruiter_id for row in rows}
    if not recruiters:
        return {}
    sums: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    found = session.execute(
        select(
            Commission.partner_id,
            Commission.rule,
            Commission.currency,
            func.sum(LedgerEntry.amount),
        )
        .join(LedgerEntry, LedgerEntry.commission_id == Commission.id)
        .where(
            Commission.kind == CommissionKind.referral.value,
            Commission.partner_id.in_(recruiters),
        )
        # By the primary key alone: PostgreSQL cannot group a JSON column, and the other
        # columns depend on the key.
        .group_by(Commission.id)
    )
    for recruiter, rule, currency, value in found:
        sums[(recruiter, str((rule or {}).get("recruit_id")), currency)] += value or 0
    result: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for row in rows:
        for (recruiter, recruit, currency), value in sorted(sums.items()):
            if recruiter == row.recruiter_id and recruit == row.recruit_id:
                result[row.id].append((currency, round_money(value, currency)))
    return result
