"""Tracking links: creation, short codes and the URL a partner shares."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from alliance.clock import utcnow
from alliance.errors import Conflict
from alliance.ids import PREFIXES, new_id, new_link_code
from alliance.programs.models import Program
from alliance.programs.service import approved_enrollment, check_landing
from alliance.settings import get_settings
from alliance.tracking.models import Link

# 40-bit codes: even with millions of links a collision is rare, and five in a row means
# something else is wrong (a broken random source), which should fail loudly.
_CODE_ATTEMPTS = 5


def link_url(code: str) -> str:
    """The tracking URL shown to the partner."""
    return f"{get_settings().public_url.rstrip('/')}/c/{code}"


def create_link(
    session: Session,
    program: Program,
    partner_id: str,
    *,
    landing_url: str | None,
    label: str,
    default_subs: dict[str, str],
    country_urls: dict[str, str],
) -> Link:
    """A link for an approved partner. Landing pages must stay on the program's hosts, so a
    link can never become an open redirect."""
    approved_enrollment(session, program.id, partner_id, field="program_id")
    if landing_url is not None:
        check_landing(program, landing_url, "landing_url")
    for country, url in country_urls.items():
        check_landing(program, url, f"country_urls.{country}")
    for _ in range(_CODE_ATTEMPTS):
        code = new_link_code()
        if session.scalar(select(Link.id).where(Link.code == code)) is not None:
            continue
        link = Link(
            id=new_id(PREFIXES["link"]),
            code=code,
            program_id=program.id,
            partner_id=partner_id,
            landing_url=landing_url,
            country_urls=dict(country_urls),
            default_subs=dict(default_subs),
            label=label,
            created_at=utcnow(),
        )
        try:
            # A savepoint: losing the unique-code race to a concurrent insert costs one retry,
            # not the whole transaction.
            with session.begin_nested():
                session.add(link)
            return link
        except IntegrityError:
            continue
    raise Conflict("could not allocate a unique link code; please retry")
