"""Partners with audiences: accounts with API keys, links, and clicks of chosen visitors,
inserted in bulk the way the click writer stores them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import insert

from alliance.accounts.service import create_advertiser, create_partner
from alliance.clock import utcnow
from alliance.db.engine import transaction
from alliance.ids import PREFIXES, new_id
from alliance.tracking.models import Click, Link
from tests.conversions.factories import enroll, link, program


@dataclass(frozen=True)
class Account:
    id: str
    key: str


@dataclass(frozen=True)
class Audience:
    """A partner with one link in one program: the clicks of `visit` land there."""

    partner: Account
    link: Link


def advertiser_with_program() -> tuple[Account, str]:
    """An advertiser (with its API key) and one program of it; returns (account, program)."""
    with transaction() as session:
        row, key = create_advertiser(session, name="Shop", country="SE", currency="EUR")
        prog, _ = program(session, row.id)
        return Account(row.id, key), prog.id


def partner_in(program_id: str, *, status: str = "approved", name: str = "Blog") -> Audience:
    """A partner (with its API key) enrolled in the program with `status`, and its link."""
    with transaction() as session:
        row, key = create_partner(
            session, name=name, type="content", country="DE", payout_currency="EUR"
        )
        enroll(session, program_id, row.id, status=status)
        tracking_link = link(session, program_id, row.id)
        session.expunge(tracking_link)
        return Audience(Account(row.id, key), tracking_link)


def visitors(prefix: str, numbers: Iterable[int]) -> list[str]:
    """Visitor ids shaped like real ones (vis_ + 26 characters), one per number."""
    return [f"vis_{prefix}{n:0{26 - len(prefix)}d}" for n in numbers]


def visit(
    audience: Audience,
    visitor_ids: Iterable[str],
    *,
    at: datetime | None = None,
    is_bot: bool = False,
    invalid_reason: str | None = None,
    batch: int = 5_000,
) -> int:
    """One click of each visitor through the audience's link; returns how many."""
    when = at or utcnow() - timedelta(hours=1)
    base: dict[str, Any] = {
        "occurred_at": when,
        "link_id": audience.link.id,
        "program_id": audience.link.program_id,
        "partner_id": audience.partner.id,
        "landing_url": "https://shop.example/",
        "device": "desktop",
        "ip_hash": "0" * 32,
        "is_bot": is_bot,
        "invalid_reason": invalid_reason,
    }
    rows = [{**base, "id": new_id(PREFIXES["click"]), "visitor_id": v} for v in visitor_ids]
    for start in range(0, len(rows), batch):
        with transaction() as session:
            session.execute(insert(Click), rows[start : start + batch])
    return len(rows)
