"""Helpers shared by the operator pages: the report period, the operators list, paging."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from sqlalchemy import select
from sqlalchemy.orm import Session

from alliance.accounts.models import Operator
from alliance.clock import utcnow
from alliance.reports.schemas import parse_day, resolve_period

PAGE_SIZE = 50


def period(from_: str | None, to: str | None) -> tuple[date, date]:
    """Inclusive UTC days from the page's `from`/`to` (YYYY-MM-DD); the last 30 days by
    default, with the report API's limits (a refusal names the field)."""
    return resolve_period(parse_day(from_, "from"), parse_day(to, "to"), utcnow().date())


def operators(session: Session) -> list[tuple[str, str]]:
    """(id, name) of every operator account: the network's staff, who manage accounts."""
    rows = session.execute(select(Operator.id, Operator.name).order_by(Operator.name, Operator.id))
    return [(r[0], r[1]) for r in rows]


def page_url(path: str, params: dict[str, str | int | None]) -> str:
    query = urlencode({k: v for k, v in params.items() if v not in (None, "")})
    return f"{path}?{query}" if query else path
