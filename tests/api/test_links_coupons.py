"""Tracking links (approved partners, landing pages on the program's hosts) and coupons."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from alliance.db.engine import transaction
from alliance.programs.models import Program
from alliance.tracking import service as tracking_service
from tests.api.factories import (
    API,
    apply,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_coupon,
    make_link,
    make_partner,
    make_program,
)


def _approved(http: httpx.Client, operator_key: str, **program: Any) -> tuple[str, str, str, str]:
    _, adv_key = make_advertiser(http, operator_key)
    prog = make_program(http, adv_key, **program)
    partner_id, partner_key = make_partner(http, operator_key)
    enroll_and_approve(http, prog["id"], partner_key, adv_key)
    return prog["id"], adv_key, partner_id, partner_key


def test_link_for_an_approved_partner(
    http: httpx.Client, operator_key: str, server: object
) -> None:
    program_id, _, partner_id, partner_key = _approved(
        http, operator_key, deeplink_domains=["blog.example"]
    )
    link = make_link(
        http,
        partner_key,
        program_id,
        landing_url="https://shop.example/sale?x=1",
        label="Summer post",
        default_subs={"sub1": "summer", "sub3": "footer"},
        country_urls={"de": "https://www.blog.example/de"},
    )
    assert link["partner_id"] == partner_id and link["program_id"] == program_id
    assert len(link["code"]) == 8
    assert link["url"].endswith(f"/c/{link['code']}")
    assert link["default_subs"] == {"sub1": "summer", "sub3": "footer"}
    assert link["country_urls"] == {"DE": "https://www.blog.example/de"}
    again = expect(http.get(f"{API}/links/{link['id']}", headers=auth(partner_key)), 200)
    assert again == link


def test_link_needs_an_approved_enrollment(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, partner_key = make_partner(http, operator_key)
    body = {"program_id": program["id"]}
    not_enrolled = expect(http.post(f"{API}/links", json=body, headers=auth(partner_key)), 403)
    assert not_enrolled["field"] == "program_id" and "apply" in not_enrolled["detail"]
    apply(http, program["id"], partner_key)
    pending = expect(http.post(f"{API}/links", json=body, headers=auth(partner_key)), 403)
    assert "applied" in pending["detail"]
    assert http.post(f"{API}/links", json=body, headers=auth(adv_key)).status_code == 403


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("landing_url", "https://evil.example/phish"),
        ("landing_url", "https://shop.example.evil.example/"),
        ("landing_url", "javascript:alert(1)"),
        ("country_urls", {"SE": "https://elsewhere.example/"}),
    ],
)
def test_link_landing_pages_stay_on_the_program_hosts(
    http: httpx.Client, operator_key: str, field: str, value: object
) -> None:
    program_id, _, _, partner_key = _approved(http, operator_key)
    body = {"program_id": program_id, field: value}
    problem = expect(http.post(f"{API}/links", json=body, headers=auth(partner_key)), 422)
    assert problem["field"].startswith(field)


def test_link_code_collision_is_retried(
    db_url: str, http: httpx.Client, operator_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    program_id, _, partner_id, partner_key = _approved(http, operator_key)
    taken = make_link(http, partner_key, program_id)["code"]
    codes = iter([taken, taken, "fresh123"])
    monkeypatch.setattr(tracking_service, "new_link_code", lambda: next(codes))
    with transaction() as session:
        program = session.get(Program, program_id)
        assert program is not None
        link = tracking_service.create_link(
            session,
            program,
            partner_id,
            landing_url=None,
            label="",
            default_subs={},
            country_urls={},
        )
    assert link.code == "fresh123"


def test_coupon_for_an_approved_partner_unique_in_any_case(
    http: httpx.Client, operator_key: str
) -> None:
    program_id, adv_key, partner_id, partner_key = _approved(http, operator_key)
    coupon = make_coupon(http, adv_key, program_id, partner_id, code="Summer-10")
    assert coupon["code"] == "Summer-10" and coupon["partner_id"] == partner_id
    body = {"program_id": program_id, "partner_id": partner_id, "code": "SUMMER-10"}
    dup = expect(http.post(f"{API}/coupons", json=body, headers=auth(adv_key)), 409)
    assert dup["field"] == "code"
    mine = expect(http.get(f"{API}/coupons", headers=auth(partner_key)), 200)["data"]
    assert [c["id"] for c in mine] == [coupon["id"]]
    assert http.post(f"{API}/coupons", json=body, headers=auth(partner_key)).status_code == 403


def test_coupon_needs_an_approved_partner(http: httpx.Client, operator_key: str) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    partner_id, partner_key = make_partner(http, operator_key)
    body = {"program_id": program["id"], "partner_id": partner_id, "code": "WELCOME"}
    problem = expect(http.post(f"{API}/coupons", json=body, headers=auth(adv_key)), 409)
    assert problem["field"] == "partner_id"
    apply(http, program["id"], partner_key)
    assert http.post(f"{API}/coupons", json=body, headers=auth(adv_key)).status_code == 409


@pytest.mark.parametrize("code", ["ab", "x" * 65, "SAVE 10", "SAVE\r\n10", "ÄPFEL", "10%OFF"])
def test_coupon_code_shape(http: httpx.Client, operator_key: str, code: str) -> None:
    program_id, adv_key, partner_id, _ = _approved(http, operator_key)
    body = {"program_id": program_id, "partner_id": partner_id, "code": code}
    problem = expect(http.post(f"{API}/coupons", json=body, headers=auth(adv_key)), 422)
    assert problem["field"] == "code"
