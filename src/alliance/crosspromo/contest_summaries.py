"""Contests in bulk, for the dashboards' lists: statuses, entry counts by contest or by
referring partner, and partners' referral codes, each in one query for a whole page rather
than one per row (contests.py has the one-contest versions the API uses).

Reads only, except `ensure_partner_codes`, which makes the missing codes the way the API does
(`contests.partner_code` under the contest lock) and so needs a writing transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.crosspromo import contests
from alliance.crosspromo.contest_models import (
    Contest,
    ContestDraw,
    ContestEntry,
    ContestPartner,
    ContestStatus,
    EntryStatus,
)
from alliance.crosspromo.contests import EntryCounts


def _counts(found: dict[str, int]) -> EntryCounts:
    return EntryCounts(
        pending=found.get(EntryStatus.pending.value, 0),
        verified=found.get(EntryStatus.verified.value, 0),
        rejected=found.get(EntryStatus.rejected.value, 0),
    )


def statuses(
    session: Session, rows: Sequence[Contest], now: datetime | None = None
) -> dict[str, ContestStatus]:
    """Each contest's status now (one query for which of them are drawn)."""
    now = now or utcnow()
    ids = [row.id for row in rows]
    drawn = set(
        session.scalars(select(ContestDraw.contest_id).where(ContestDraw.contest_id.in_(ids)))
    )
    return {row.id: row.status_at(now, row.id in drawn) for row in rows}


def counts_by_contest(
    session: Session, contest_ids: Iterable[str], *, referrer_partner_id: str | None = None
) -> dict[str, EntryCounts]:
    """Entries by status for each contest (only those a partner brought, when given)."""
    ids = list(contest_ids)
    statement = select(ContestEntry.contest_id, ContestEntry.status, func.count()).where(
        ContestEntry.contest_id.in_(ids)
    )
    if referrer_partner_id is not None:
        statement = statement.where(ContestEntry.referrer_partner_id == referrer_partner_id)
    found: dict[str, dict[str, int]] = {contest_id: {} for contest_id in ids}
    for contest_id, status, count in session.execute(
        statement.group_by(ContestEntry.contest_id, ContestEntry.status)
    ).tuples():
        found[contest_id][status] = int(count)
    return {contest_id: _counts(by_status) for contest_id, by_status in found.items()}


def counts_by_partner(session: Session, contest_id: str) -> dict[str, EntryCounts]:
    """Entries by status that came through each partner's link in one contest."""
    found: dict[str, dict[str, int]] = {}
    for partner_id, status, count in session.execute(
        select(ContestEntry.referrer_partner_id, ContestEntry.status, func.count())
        .where(ContestEntry.contest_id == contest_id, ContestEntry.referrer_partner_id.is_not(None))
        .group_by(ContestEntry.referrer_partner_id, ContestEntry.status)
    ).tuples():
        if partner_id is not None:
            found.setdefault(partner_id, {})[status] = int(count)
    return {partner_id: _counts(by_status) for partner_id, by_status in found.items()}


def partner_codes(session: Session, contest_id: str) -> dict[str, str]:
    """partner id -> referral code, for every partner that has one in the contest."""
    return dict(
        session.execute(
            select(ContestPartner.partner_id, ContestPartner.code).where(
                ContestPartner.contest_id == contest_id
            )
        )
        .tuples()
        .all()
    )


def codes_of_partner(
    session: Session, contest_ids: Iterable[str], partner_id: str
) -> dict[str, str]:
    """contest id -> the partner's referral code, for the contests where it has one."""
    return dict(
        session.execute(
            select(ContestPartner.contest_id, ContestPartner.code).where(
                ContestPartner.partner_id == partner_id,
                ContestPartner.contest_id.in_(list(contest_ids)),
            )
        )
        .tuples()
        .all()
    )


def ensure_partner_codes(
    session: Session, wanted: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], str]:
    """The referral code of each (contest id, partner id), made where missing by
    `contests.partner_code` under the contest's lock, as the API makes it. The caller holds a
    writing transaction and has checked that each partner may have one (approved)."""
    made: dict[tuple[str, str], str] = {}
    for contest_id, partner_id in sorted(set(wanted)):  # a fixed order: locks never cross
        contest = contests.lock(session, contest_id)
        made[(contest_id, partner_id)] = contests.partner_code(session, contest, partner_id).code
    return made
