"""Contests and giveaways: creating one, taking entries, verifying them, drawing winners.

Functions take an open session (the caller owns the transaction) and rows the caller may see
(api/scoping.py, `visible_contests` below). Every write to a contest's entries and its draw
first locks the contest row (`FOR UPDATE` on PostgreSQL; SQLite serialises writers with
BEGIN IMMEDIATE), so the per-IP limit and one-entry-per-mailbox are exact under concurrent
submissions, and no entry or verification can slip in between hashing the entry list and
storing the draw.

A refused entry is not an exception: it is a row with its reason, committed like an accepted
one, so the owner sees what was turned away (`EntryOutcome`).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import shlex
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

from sqlalchemy import ColumnElement, Select, and_, false, func, select, true
from sqlalchemy.orm import Session, aliased

from alliance.accounts.models import Partner
from alliance.accounts.service import Principal
from alliance.accounts.users import Membership, User
from alliance.api.scoping import programs_of
from alliance.clock import as_utc, utcnow
from alliance.crosspromo import draw, entrants
from alliance.crosspromo.contest_models import (
    Contest,
    ContestDraw,
    ContestEntry,
    ContestPartner,
    ContestStatus,
    EntryStatus,
)
from alliance.crosspromo.entrants import Referrer, RejectReason
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.ids import PREFIXES, new_id, new_link_code
from alliance.mail import outbox
from alliance.mail.models import MailKind
from alliance.mail.recipients import Recipient
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.settings import get_settings

log = logging.getLogger(__name__)

ENTRANT_CODE_BYTES = 5  # 10 hex characters: never the length of a partner's 8-character code
TOKEN_BYTES = 24
JOB_ACTOR = "job"


# --- who sees what ------------------------------------------------------------------------------


def approved_programs(partner_id: str) -> ColumnElement[bool]:
    return Contest.program_id.in_(
        select(Enrollment.program_id).where(
            Enrollment.partner_id == partner_id,
            Enrollment.status == EnrollmentStatus.approved.value,
        )
    )


def visible_contests(who: Principal) -> ColumnElement[bool]:
    """The operator: all; an advertiser: its programs' contests; a partner: the contests of
    programs it is approved in."""
    if who.is_operator:
        return true()
    if who.is_advertiser:
        return Contest.program_id.in_(programs_of(who.id))
    if who.is_partner:
        return approved_programs(who.id)
    return false()


def lock(session: Session, contest_id: str) -> Contest:
    contest = session.scalars(
        select(Contest).where(Contest.id == contest_id).with_for_update()
    ).first()
    if contest is None:
        raise NotFound(f"no contest {contest_id!r}")
    return contest


def draw_of(session: Session, contest_id: str) -> ContestDraw | None:
    return session.get(ContestDraw, contest_id)


def status_of(session: Session, contest: Contest, now: datetime | None = None) -> ContestStatus:
    return contest.status_at(now or utcnow(), draw_of(session, contest.id) is not None)


# --- creating a contest -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ContestSpec:
    title: str
    rules: str
    opens_at: datetime
    closes_at: datetime
    winners: int
    bonus_per_referral: int
    bonus_cap: int
    per_ip_limit: int
    external_source: str | None


def create_contest(
    session: Session,
    program: Program,
    spec: ContestSpec,
    created_by: str,
    now: datetime | None = None,
) -> Contest:
    """A contest with a fresh secret seed and its published commitment, and a referral code
    for every partner approved in the program.

    An `opens_at` in the past means "open now": entries cannot predate the contest, so the
    commitment, published at creation, is still out before the first entry."""
    now = now or utcnow()
    opens_at = max(as_utc(spec.opens_at), now)
    closes_at = as_utc(spec.closes_at)
    if closes_at <= opens_at:
        raise InvalidInput("closes_at must be after opens_at (and after now)", field="closes_at")
    seed = draw.new_seed()
    contest = Contest(
        id=new_id(PREFIXES["contest"]),
        program_id=program.id,
        campaign_id=None,
        title=spec.title,
        rules=spec.rules,
        opens_at=opens_at,
        closes_at=closes_at,
        winners=spec.winners,
        bonus_per_referral=spec.bonus_per_referral,
        bonus_cap=spec.bonus_cap,
        per_ip_limit=spec.per_ip_limit,
        external_source=spec.external_source or None,
        seed=seed.hex(),
        commitment=draw.commitment(seed),
        created_by=created_by,
        created_at=now,
    )
    session.add(contest)
    session.flush()
    approved = session.scalars(
        select(Enrollment.partner_id)
        .where(
            Enrollment.program_id == program.id,
            Enrollment.status == EnrollmentStatus.approved.value,
        )
        .order_by(Enrollment.partner_id)
    ).all()
    taken: set[str] = set()
    for partner_id in approved:
        code = _unused(taken, new_link_code)
        taken.add(code)
        session.add(
            ContestPartner(contest_id=contest.id, partner_id=partner_id, code=code, created_at=now)
        )
    return contest


def _unused(taken: set[str], make: Callable[[], str]) -> str:
    """A fresh code not in `taken` (random codes; a repeat is rare, and tried again)."""
    while True:
        code = make()
        if code not in taken:
            return code


def _fresh_code(
    session: Session, make: Callable[[], str], holder: Callable[[str], Select[Any]]
) -> str:
    """A random code no row of the contest holds yet (asked of the database, under the
    contest lock, so no concurrent writer can take it in between)."""
    while True:
        code = make()
        if session.scalars(holder(code)).first() is None:
            return code


def partner_code(session: Session, contest: Contest, partner_id: str) -> ContestPartner:
    """The partner's referral code, made on first request for a partner approved after the
    contest was created. The caller holds the contest lock (`lock`)."""
    found = session.get(ContestPartner, (contest.id, partner_id))
    if found is not None:
        return found
    code = _fresh_code(
        session,
        new_link_code,
        lambda code: select(ContestPartner.code).where(
            ContestPartner.contest_id == contest.id, ContestPartner.code == code
        ),
    )
    row = ContestPartner(
        contest_id=contest.id,
        partner_id=partner_id,
        code=code,
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def contest_url(contest_id: str, ref: str | None = None) -> str:
    base = f"{get_settings().public_url.rstrip('/')}/contests/{contest_id}"
    return f"{base}?ref={quote(ref)}" if ref else base


# --- entries ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Submission:
    email: str
    name: str
    ref: str | None
    consent: bool


@dataclass(frozen=True, slots=True)
class EntryOutcome:
    entry: ContestEntry
    reason: RejectReason | None  # None: accepted, a verification mail is queued

    @property
    def accepted(self) -> bool:
        return self.reason is None


@dataclass(frozen=True, slots=True)
class ResolvedReferral:
    partner_id: str | None
    entry_id: str | None
    referrer: Referrer


def _resolve_referral(
    session: Session, contest: Contest, ref: str | None
) -> ResolvedReferral | None:
    """Whose code `ref` is: a partner's (8 characters) or a verified entrant's (10); None for
    no code or a code nobody has (a typo does not keep anyone out)."""
    code = (ref or "").strip().lower()
    if not code:
        return None
    partner = session.scalars(
        select(ContestPartner).where(
            ContestPartner.contest_id == contest.id, ContestPartner.code == code
        )
    ).first()
    if partner is not None:
        return ResolvedReferral(
            partner.partner_id, None, _partner_referrer(session, partner.partner_id)
        )
    entry = session.scalars(
        select(ContestEntry).where(
            ContestEntry.contest_id == contest.id, ContestEntry.referral_code == code
        )
    ).first()
    if entry is not None:
        keys = frozenset({entry.email_key}) if entry.email_key else frozenset()
        return ResolvedReferral(None, entry.id, Referrer(keys, entry.ip_hash))
    return None


def _partner_referrer(session: Session, partner_id: str) -> Referrer:
    """A partner's own mailboxes: its contact address and its team's sign-in addresses."""
    partner = session.get(Partner, partner_id)
    team = session.scalars(
        select(User.email)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.account_kind == "partner", Membership.account_id == partner_id)
    ).all()
    contact = partner.email if partner is not None else None
    return Referrer(entrants.email_keys([contact, *team]), None)


def _refusal(
    session: Session,
    contest: Contest,
    now: datetime,
    ip_hash: str,
    normal: entrants.NormalisedEmail | None,
    referral: ResolvedReferral | None,
) -> RejectReason | None:
    """Why this entry is refused, checked in a fixed order (the first that applies)."""
    if draw_of(session, contest.id) is not None or now >= contest.closes_at:
        return RejectReason.closed
    if now < contest.opens_at:
        return RejectReason.not_open
    if normal is None:
        return RejectReason.bad_email
    if entrants.is_disposable(normal.domain):
        return RejectReason.disposable_domain
    taken = session.scalar(
        select(func.count())
        .select_from(ContestEntry)
        .where(ContestEntry.contest_id == contest.id, ContestEntry.mailbox == normal.key)
    )
    if taken:
        return RejectReason.duplicate
    if referral is not None and entrants.is_self_referral(normal.key, ip_hash, referral.referrer):
        return RejectReason.self_referral
    from_ip = session.scalar(
        select(func.count())
        .select_from(ContestEntry)
        .where(
            ContestEntry.contest_id == contest.id,
            ContestEntry.ip_hash == ip_hash,
            ContestEntry.status != EntryStatus.rejected.value,
        )
    )
    if (from_ip or 0) >= contest.per_ip_limit:
        return RejectReason.ip_limit
    return None


def submit_entry(
    session: Session,
    contest_id: str,
    submission: Submission,
    *,
    ip_hash: str,
    locale: str,
    now: datetime | None = None,
) -> EntryOutcome:
    """Take one entry: accepted as `pending` with a verification mail queued, or refused and
    kept with its reason. `consent` must be true (the edge refuses the request otherwise)."""
    if not submission.consent:
        raise InvalidInput("entering needs consent to the rules", field="consent")
    now = now or utcnow()
    contest = lock(session, contest_id)
    try:
        normal: entrants.NormalisedEmail | None = entrants.normalise_email(submission.email)
    except entrants.BadEmail:
        normal = None
    referral = _resolve_referral(session, contest, submission.ref)
    reason = _refusal(session, contest, now, ip_hash, normal, referral)
    token = secrets.token_urlsafe(TOKEN_BYTES) if reason is None else None
    entry = ContestEntry(
        id=new_id(PREFIXES["contest_entry"], at=now),
        contest_id=contest.id,
        status=EntryStatus.pending.value if reason is None else EntryStatus.rejected.value,
        reason=reason.value if reason is not None else None,
        email=submission.email.strip()[: entrants.EMAIL_MAX],
        email_key=normal.key if normal is not None else None,
        mailbox=normal.key if normal is not None and reason is None else None,
        name=submission.name,
        ip_hash=ip_hash,
        locale=locale,
        ref_code=(submission.ref or "").strip()[:64] or None,
        referrer_partner_id=referral.partner_id if referral else None,
        referrer_entry_id=referral.entry_id if referral else None,
        referral_code=None,
        token_hash=_token_hash(token) if token is not None else None,
        consent_at=now,
        created_at=now,
    )
    session.add(entry)
    session.flush()
    if token is not None:
        _queue_verification(session, contest, entry, token)
    return EntryOutcome(entry, reason)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _queue_verification(
    session: Session, contest: Contest, entry: ContestEntry, token: str
) -> None:
    link = f"{contest_url(contest.id)}/verify?token={quote(token)}"
    outbox.queue(
        session,
        Recipient(entry.email, None, entry.locale),
        MailKind.contest_verification,
        about=entry.id,
        title=contest.title,
        name=entry.name,
        entry_id=entry.id,
        link=link,
        closes=contest.closes_at.strftime("%Y-%m-%d %H:%M UTC"),
    )


@dataclass(frozen=True, slots=True)
class Verified:
    entry: ContestEntry
    contest: Contest
    already: bool  # the link was opened before: nothing changed this time


def verify_entry(
    session: Session, contest_id: str, token: str, now: datetime | None = None
) -> Verified:
    """Confirm the mailbox behind a pending entry: it joins the draw and gets its own
    referral code. The link works until the contest closes; opening it again changes nothing."""
    now = now or utcnow()
    contest = lock(session, contest_id)
    entry = session.scalars(
        select(ContestEntry).where(
            ContestEntry.contest_id == contest.id,
            ContestEntry.token_hash == _token_hash(token),
        )
    ).first()
    if entry is None:
        raise NotFound("this confirmation link is not valid for this contest", field="token")
    if entry.status == EntryStatus.verified.value:
        return Verified(entry, contest, already=True)
    if draw_of(session, contest.id) is not None or now >= contest.closes_at:
        raise Conflict("the contest is closed: entries can no longer be confirmed", field="token")
    entry.status = EntryStatus.verified.value
    entry.verified_at = now
    entry.referral_code = _fresh_code(
        session,
        lambda: secrets.token_hex(ENTRANT_CODE_BYTES),
        lambda code: select(ContestEntry.id).where(
            ContestEntry.contest_id == contest.id, ContestEntry.referral_code == code
        ),
    )
    session.flush()
    return Verified(entry, contest, already=False)


# --- weights and the draw -----------------------------------------------------------------------


def weights(session: Session, contest: Contest) -> list[draw.Ticket]:
    """Every verified entry with 1 + min(cap, bonus x its verified referrals)."""
    referred = aliased(ContestEntry)
    referrals = (
        select(referred.referrer_entry_id, func.count().label("n"))
        .where(
            referred.contest_id == contest.id,
            referred.status == EntryStatus.verified.value,
            referred.referrer_entry_id.is_not(None),
        )
        .group_by(referred.referrer_entry_id)
        .subquery()
    )
    rows = session.execute(
        select(ContestEntry.id, func.coalesce(referrals.c.n, 0))
        .outerjoin(referrals, referrals.c.referrer_entry_id == ContestEntry.id)
        .where(
            ContestEntry.contest_id == contest.id,
            ContestEntry.status == EntryStatus.verified.value,
        )
    ).all()
    return [
        draw.Ticket(entry_id, 1 + min(contest.bonus_cap, contest.bonus_per_referral * int(n)))
        for entry_id, n in rows
    ]


def draw_contest(
    session: Session,
    contest_id: str,
    *,
    external_value: str | None,
    drawn_by: str,
    now: datetime | None = None,
) -> ContestDraw:
    """Draw the winners once the contest has closed, and publish the record (seed included).

    The external value is required exactly when the rules announced a source for it: adding
    one that was not announced would let whoever draws try values until one suits them."""
    now = now or utcnow()
    contest = lock(session, contest_id)
    if draw_of(session, contest.id) is not None:
        raise Conflict("this contest has been drawn already", contest_id=contest.id)
    if now < contest.closes_at:
        raise Conflict(
            f"the contest closes at {contest.closes_at.isoformat()}: draw after that",
            field="closes_at",
        )
    value = (external_value or "").strip() or None
    if contest.external_source and value is None:
        raise InvalidInput(
            f"the rules mix in an external value ({contest.external_source}): give it",
            field="external_value",
        )
    if not contest.external_source and value is not None:
        raise InvalidInput(
            "the contest announced no external randomness source", field="external_value"
        )
    tickets = weights(session, contest)
    data, result = draw.run_draw(bytes.fromhex(contest.seed), tickets, value, contest.winners)
    record = ContestDraw(
        contest_id=contest.id,
        entries_csv=data.decode(),
        entries_hash=result.list_hash,
        entry_count=len(tickets),
        total_weight=sum(t.weight for t in tickets),
        external_value=value,
        randomness=result.randomness,
        winners=list(result.winners),
        drawn_by=drawn_by,
        drawn_at=now,
    )
    session.add(record)
    session.flush()
    return record


def due_for_draw(session: Session, now: datetime) -> Sequence[str]:
    """Closed contests with no draw yet that need nothing from a person (no external value)."""
    return session.scalars(
        select(Contest.id)
        .outerjoin(ContestDraw, ContestDraw.contest_id == Contest.id)
        .where(
            Contest.closes_at <= now,
            ContestDraw.contest_id.is_(None),
            Contest.external_source.is_(None),
        )
        .order_by(Contest.closes_at)
    ).all()


# --- what the owner, the partners and the public see ---------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryCounts:
    pending: int = 0
    verified: int = 0
    rejected: int = 0

    @property
    def total(self) -> int:
        return self.pending + self.verified + self.rejected


def entry_counts(
    session: Session, contest_id: str, *, referrer_partner_id: str | None = None
) -> EntryCounts:
    conditions = [ContestEntry.contest_id == contest_id]
    if referrer_partner_id is not None:
        conditions.append(ContestEntry.referrer_partner_id == referrer_partner_id)
    rows = session.execute(
        select(ContestEntry.status, func.count())
        .where(and_(*conditions))
        .group_by(ContestEntry.status)
    ).all()
    found = {status: int(count) for status, count in rows}
    return EntryCounts(
        pending=found.get(EntryStatus.pending.value, 0),
        verified=found.get(EntryStatus.verified.value, 0),
        rejected=found.get(EntryStatus.rejected.value, 0),
    )


@dataclass(frozen=True, slots=True)
class Winner:
    place: int
    entry_id: str
    public_name: str


def winners_of(session: Session, record: ContestDraw) -> list[Winner]:
    names = dict(
        session.execute(
            select(ContestEntry.id, ContestEntry.name).where(ContestEntry.id.in_(record.winners))
        ).all()
    )
    return [
        Winner(place, entry_id, entrants.public_name(names.get(entry_id, "")))
        for place, entry_id in enumerate(record.winners, start=1)
    ]


def verify_command(contest: Contest, record: ContestDraw) -> str:
    """The command line that re-runs this draw from its published values."""
    parts = [
        "alliance contests verify",
        f"--commitment {contest.commitment}",
        f"--seed {contest.seed}",
        f"--entries {contest.id}-entries.csv",
        f"--winners {contest.winners}",
    ]
    if record.external_value is not None:
        parts.append(f"--external {shlex.quote(record.external_value)}")
    return " ".join(parts)


# --- the job ------------------------------------------------------------------------------------


def draw_due_contests(now: datetime, _last: dict[str, Any] | None) -> dict[str, Any]:
    """The `draw_contests` job: draw each closed contest that needs no external value, each
    in its own transaction (one that fails is logged and tried again at the next run)."""
    from alliance.db.engine import reading, transaction

    with reading() as session:
        due = list(due_for_draw(session, now))
    drawn, failed = 0, 0
    for contest_id in due:
        try:
            with transaction() as session:
                draw_contest(session, contest_id, external_value=None, drawn_by=JOB_ACTOR, now=now)
            drawn += 1
        except Conflict:
            continue  # drawn meanwhile by its owner or another worker
        except Exception:
            log.exception("drawing contest %s failed", contest_id)
            failed += 1
    return {"drawn": drawn, "failed": failed}
