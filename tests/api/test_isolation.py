"""Every account sees only its own data (DESIGN.md section 3).

Two advertisers, each with a program; program A has two partners. For every list and detail
endpoint: advertiser A never sees B's rows, partner A1 never sees partner A2's rows (same
program!) nor B's, and a foreign id answers 404 exactly like a missing one, never 403.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    insert_click,
    insert_commission,
    insert_conversion,
    make_coupon,
    make_link,
    make_network,
    make_partner,
)
from tests.conftest import Server


@dataclass(frozen=True)
class Rows:
    """One partner's rows in one program, keyed by resource."""

    ids: dict[str, str]


@dataclass(frozen=True)
class World:
    adv_a: str
    adv_b: str
    partner_a1: str
    partner_a2: str
    partner_b: str
    a1: Rows  # partner A1 in program A
    a2: Rows  # partner A2 in program A
    b: Rows  # partner B in program B


def _rows(
    net_program: str,
    adv_id: str,
    partner_id: str,
    enrollment: dict[str, str],
    link: dict[str, str],
    coupon: dict[str, str],
) -> Rows:
    click = insert_click(net_program, partner_id, link["id"])
    conversion = insert_conversion(net_program, partner_id)
    commission = insert_commission(net_program, partner_id, conversion)
    return Rows(
        {
            "advertisers": adv_id,
            "partners": partner_id,
            "programs": net_program,
            "enrollments": enrollment["id"],
            "links": link["id"],
            "coupons": coupon["id"],
            "clicks": click,
            "conversions": conversion,
            "commissions": commission,
        }
    )


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> Iterator[World]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        a = make_network(http, operator_key)
        b = make_network(http, operator_key)
        a2_id, a2_key = make_partner(http, operator_key)
        a2_enrollment = enroll_and_approve(http, a.program_id, a2_key, a.advertiser_key)
        a2_link = make_link(http, a2_key, a.program_id)
        a2_coupon = make_coupon(http, a.advertiser_key, a.program_id, a2_id)
        yield World(
            adv_a=a.advertiser_key,
            adv_b=b.advertiser_key,
            partner_a1=a.partner_key,
            partner_a2=a2_key,
            partner_b=b.partner_key,
            a1=_rows(a.program_id, a.advertiser_id, a.partner_id, a.enrollment, a.link, a.coupon),
            a2=_rows(a.program_id, a.advertiser_id, a2_id, a2_enrollment, a2_link, a2_coupon),
            b=_rows(b.program_id, b.advertiser_id, b.partner_id, b.enrollment, b.link, b.coupon),
        )


PROGRAM_DATA = ["enrollments", "links", "coupons", "clicks", "conversions", "commissions"]
ADVERTISER_SEES = ["advertisers", "partners", "programs", *PROGRAM_DATA]
PARTNER_SEES = ["partners", *PROGRAM_DATA]


def _listed(http: httpx.Client, resource: str, key: str) -> set[str]:
    page = expect(http.get(f"{API}/{resource}", params={"limit": 200}, headers=auth(key)), 200)
    return {row["id"] for row in page["data"]}


def _detail_status(http: httpx.Client, resource: str, object_id: str, key: str) -> int:
    return http.get(f"{API}/{resource}/{object_id}", headers=auth(key)).status_code


@pytest.mark.parametrize("resource", ADVERTISER_SEES)
def test_advertiser_never_sees_another_advertisers_data(
    http: httpx.Client, world: World, resource: str
) -> None:
    mine = {world.a1.ids[resource], world.a2.ids[resource]}
    foreign = world.b.ids[resource]
    listed = _listed(http, resource, world.adv_a)
    assert mine <= listed
    assert foreign not in listed
    assert _detail_status(http, resource, world.a1.ids[resource], world.adv_a) == 200
    problem = http.get(f"{API}/{resource}/{foreign}", headers=auth(world.adv_a))
    assert problem.status_code == 404
    assert problem.headers["content-type"] == "application/problem+json"
    # and the other way round
    assert foreign in _listed(http, resource, world.adv_b)
    assert _detail_status(http, resource, world.a1.ids[resource], world.adv_b) == 404


@pytest.mark.parametrize("resource", PARTNER_SEES)
def test_partner_never_sees_another_partners_data(
    http: httpx.Client, world: World, resource: str
) -> None:
    listed = _listed(http, resource, world.partner_a1)
    assert world.a1.ids[resource] in listed
    assert world.a2.ids[resource] not in listed  # same program, other partner
    assert world.b.ids[resource] not in listed
    assert _detail_status(http, resource, world.a1.ids[resource], world.partner_a1) == 200
    for other in (world.a2, world.b):
        assert _detail_status(http, resource, other.ids[resource], world.partner_a1) == 404


@pytest.mark.parametrize("resource", PROGRAM_DATA)
def test_filtering_by_a_foreign_program_finds_nothing(
    http: httpx.Client, world: World, resource: str
) -> None:
    params = {"program_id": world.b.ids["programs"]}
    page = expect(http.get(f"{API}/{resource}", params=params, headers=auth(world.adv_a)), 200)
    assert page["data"] == []
    params = {"partner_id": world.a2.ids["partners"]}
    page = expect(http.get(f"{API}/{resource}", params=params, headers=auth(world.partner_a1)), 200)
    assert page["data"] == []


def test_program_sub_resources_and_writes_on_a_foreign_program_are_404(
    http: httpx.Client, world: World
) -> None:
    foreign_program = world.b.ids["programs"]
    foreign_enrollment = world.b.ids["enrollments"]
    key = auth(world.adv_a)
    assert http.get(f"{API}/programs/{foreign_program}/enrollments", headers=key).status_code == 404
    assert http.get(f"{API}/programs/{foreign_program}/terms", headers=key).status_code == 404
    assert (
        http.patch(
            f"{API}/programs/{foreign_program}", json={"name": "Mine"}, headers=key
        ).status_code
        == 404
    )
    assert (
        http.put(
            f"{API}/programs/{foreign_program}/terms",
            json={"commission": {"type": "cps", "percent": "1"}},
            headers=key,
        ).status_code
        == 404
    )
    for action in ("approve", "reject", "suspend", "ban"):
        assert (
            http.post(f"{API}/enrollments/{foreign_enrollment}/{action}", headers=key).status_code
            == 404
        )
    coupon = {
        "program_id": foreign_program,
        "partner_id": world.b.ids["partners"],
        "code": "STOLEN",
    }
    assert http.post(f"{API}/coupons", json=coupon, headers=key).status_code == 404


def test_partner_sees_no_secrets_of_programs(http: httpx.Client, world: World) -> None:
    program = expect(
        http.get(f"{API}/programs/{world.a1.ids['programs']}", headers=auth(world.partner_a1)), 200
    )
    assert program["postback_token"] is None
    owner = expect(
        http.get(f"{API}/programs/{world.a1.ids['programs']}", headers=auth(world.adv_a)), 200
    )
    assert owner["postback_token"]


def test_partner_cannot_read_program_enrollments(http: httpx.Client, world: World) -> None:
    url = f"{API}/programs/{world.a1.ids['programs']}/enrollments"
    assert http.get(url, headers=auth(world.partner_a1)).status_code == 403
