"""Rows for tracking tests, written straight through the models (no API involved)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from alliance.accounts.models import Advertiser, Partner
from alliance.db.engine import transaction
from alliance.ids import new_id, new_link_code
from alliance.programs.models import Enrollment, EnrollmentStatus, Program
from alliance.tracking.models import Link


@dataclass(frozen=True)
class LinkSetup:
    program_id: str
    partner_id: str
    link_id: str
    code: str


def make_link(
    *,
    landing_url: str = "https://shop.example/",
    link_landing_url: str | None = None,
    deeplink_domains: list[str] | None = None,
    country_urls: dict[str, Any] | None = None,
    default_subs: dict[str, Any] | None = None,
    cookie_window_days: int = 30,
    allowed_countries: list[str] | None = None,
    fallback_url: str | None = None,
) -> LinkSetup:
    """An advertiser, a program, a partner approved in it and one tracking link."""
    advertiser_id, program_id = new_id("adv"), new_id("prg")
    partner_id, link_id, code = new_id("ptn"), new_id("lnk"), new_link_code()
    with transaction() as session:
        session.add(Advertiser(id=advertiser_id, name="Shop", country="DE", currency="EUR"))
        session.add(
            Partner(id=partner_id, name="Blog", type="content", country="FR", payout_currency="EUR")
        )
        session.flush()
        session.add(
            Program(
                id=program_id,
                advertiser_id=advertiser_id,
                name="Shop partners",
                currency="EUR",
                landing_url=landing_url,
                cookie_window_days=cookie_window_days,
                deeplink_domains=deeplink_domains or [],
                allowed_countries=allowed_countries or [],
                fallback_url=fallback_url,
                postback_token=new_id("tok"),
            )
        )
        session.flush()
        session.add(
            Enrollment(
                id=new_id("enr"),
                program_id=program_id,
                partner_id=partner_id,
                status=EnrollmentStatus.approved,
            )
        )
        session.add(
            Link(
                id=link_id,
                code=code,
                program_id=program_id,
                partner_id=partner_id,
                landing_url=link_landing_url,
                country_urls=country_urls or {},
                default_subs=default_subs or {},
            )
        )
    return LinkSetup(program_id=program_id, partner_id=partner_id, link_id=link_id, code=code)
