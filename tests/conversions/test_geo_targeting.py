"""Geo-targeting end to end: clicks through the real redirect (visitor country from a trusted
X-Forwarded-For), orders through the real /postback, then commissions, CPC and the traffic
report read back from the database. See docs/geo-targeting.md and ADR 0011."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.commissions.models import Commission
from alliance.commissions.service import accrue_clicks, commission_value
from alliance.db.engine import reading, transaction
from alliance.programs.models import Program
from alliance.reports import queries, rollups
from alliance.reports.schemas import TrafficGroup
from alliance.tracking.models import Click, Link
from tests.conftest import Server

from .factories import World, world

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/128.0"}
DE_IP, GB_IP, US_IP = "85.214.132.117", "81.2.69.142", "8.8.8.8"
D = Decimal


@pytest.fixture(scope="module")
def proxied(db_url: str) -> Iterator[httpx.Client]:
    """A server behind a (pretend) reverse proxy: it trusts X-Forwarded-For."""
    server = Server(db_url, env={"ALLIANCE_TRUST_FORWARDED_FOR": "true"}).start()
    with httpx.Client(base_url=server.url, timeout=10) as client:
        yield client
    server.stop()


def limit_to(w: World, countries: list[str], fallback: str | None) -> str:
    """Limit the world's program to `countries`; returns its link's code."""
    with transaction() as session:
        program = session.get_one(Program, w.program_id)
        program.allowed_countries = countries
        program.fallback_url = fallback
        return session.get_one(Link, w.link_id).code


def visit(proxied: httpx.Client, code: str, ip: str) -> tuple[str, str]:
    """(click id, Location) of one visit from `ip`."""
    response = proxied.get(f"/c/{code}", headers={**BROWSER, "X-Forwarded-For": ip})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    (click_id,) = parse_qs(urlsplit(location).query)["alclid"]
    return click_id, location


def postback(proxied: httpx.Client, w: World, **params: Any) -> httpx.Response:
    query = {"program": w.program_id, "token": w.token, "currency": w.currency, **params}
    return proxied.get("/postback", params=query)


def commission_for(conversion_id: str) -> Commission:
    with reading() as session:
        row = session.scalars(
            select(Commission).where(Commission.conversion_id == conversion_id)
        ).one()
        session.expunge(row)
        return row


def test_an_order_after_a_click_from_another_country_earns_nothing(
    proxied: httpx.Client,
) -> None:
    w = world(terms={"type": "cps", "percent": "10"})
    code = limit_to(w, ["DE", "AT"], "https://intl.example/")

    rejected, location = visit(proxied, code, US_IP)
    assert location.startswith("https://intl.example/?alclid=")
    refused = postback(proxied, w, click_id=rejected, order_id="GEO-US-1", amount="100.00")
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    body = refused.json()
    assert (body["reason"], body["field"]) == ("country_not_allowed", "click_id")

    # The same program, an allowed country: the order is attributed and earns 10 %.
    allowed, _ = visit(proxied, code, DE_IP)
    accepted = postback(proxied, w, click_id=allowed, order_id="GEO-DE-1", amount="100.00")
    assert accepted.status_code == 200, accepted.text
    commission = commission_for(accepted.json()["conversion_id"])
    assert (commission.partner_id, commission.amount) == (w.partner_id, D("10.00"))


def test_buyer_country_override_pays_its_rate_through_the_postback(
    proxied: httpx.Client,
) -> None:
    w = world(
        terms={
            "type": "cps",
            "percent": "10",
            "overrides": [{"when": {"buyer_country": "AT"}, "percent": "15"}],
        }
    )
    code = limit_to(w, [], None)
    paid: dict[str, Decimal] = {}
    for order_id, country in (("OV-AT", "AT"), ("OV-DE", "DE"), ("OV-NONE", None)):
        click_id, _ = visit(proxied, code, DE_IP)
        params = {"click_id": click_id, "order_id": order_id, "amount": "200.00"}
        if country:
            params["country"] = country
        response = postback(proxied, w, **params)
        assert response.status_code == 200, response.text
        commission = commission_for(response.json()["conversion_id"])
        with reading() as session:
            assert commission_value(session, commission.id) == commission.amount
        paid[order_id] = commission.amount
    assert paid == {"OV-AT": D("30.00"), "OV-DE": D("20.00"), "OV-NONE": D("20.00")}
    # A lower-case code in the postback is the same country.
    click_id, _ = visit(proxied, code, DE_IP)
    lower = postback(proxied, w, click_id=click_id, order_id="OV-at", amount="200.00", country="at")
    assert commission_for(lower.json()["conversion_id"]).amount == D("30.00")


def test_rejected_clicks_are_invalid_in_the_traffic_report_and_for_cpc(
    proxied: httpx.Client,
) -> None:
    w = world(terms={"type": "cpc", "amount": "0.50"})
    code = limit_to(w, ["GB"], None)
    visit(proxied, code, GB_IP)
    visit(proxied, code, US_IP)
    visit(proxied, code, DE_IP)
    today = utcnow().date()
    with reading() as session:
        reasons = sorted(
            (c.country, c.invalid_reason or "")
            for c in session.scalars(select(Click).where(Click.program_id == w.program_id))
        )
    assert reasons == [("DE", "country_not_allowed"), ("GB", ""), ("US", "country_not_allowed")]

    q = queries.ReportQuery(today, today, queries.operator_scope(w.program_id))
    with reading() as session:
        raw = queries.traffic_report_raw(session, q, TrafficGroup.country)
    rollups.refresh(now=utcnow() + rollups.WATERMARK_LAG)  # the rollups' path too
    with reading() as session:
        rolled = queries.traffic_report(session, q, TrafficGroup.country)
    for report in (raw, rolled):
        by_country = {r.group: (r.clicks, r.valid_clicks, r.invalid_clicks) for r in report.rows}
        assert by_country == {"GB": (1, 1, 0), "US": (1, 0, 1), "DE": (1, 0, 1)}
        totals = report.totals
        assert (totals.clicks, totals.valid_clicks, totals.invalid_clicks) == (3, 1, 2)
        assert totals.unique_valid_visitors == 1

    # CPC pays the one valid visitor, not the two sent to the fallback.
    with transaction() as session:
        accrue_clicks(session, today)
    with reading() as session:
        amounts = session.scalars(
            select(Commission.amount).where(Commission.program_id == w.program_id)
        ).all()
    assert amounts == [D("0.50")]
