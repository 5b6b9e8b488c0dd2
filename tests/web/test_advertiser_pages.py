"""The advertiser dashboard against a real server: each page shows the advertiser's own data
and nothing of another advertiser's; forms change what they should through the same services
as the REST API; read-only members and forged forms are refused; user data renders escaped.

Two advertisers are built through the REST API (tests/api/factories.py); their orders come in
through the real postback, attributed by coupon.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts.users import Role
from alliance.commissions.models import Commission
from alliance.conversions.models import Conversion, InboundEvent
from alliance.db.engine import reading
from alliance.programs.models import CommissionTerms, Enrollment, Program
from tests.api.factories import (
    API,
    apply,
    auth,
    expect,
    make_advertiser,
    make_coupon,
    make_partner,
    make_program,
    unique,
)
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

XSS = "<img src=x onerror=alert(1)>"
XSS_ESCAPED = "&lt;img src=x onerror=alert(1)&gt;"


@dataclass
class Shop:
    advertiser_id: str
    key: str
    program: dict[str, Any]
    partner_id: str
    partner_name: str
    coupon: str
    applicant_enrollment: str
    applicant_name: str

    @property
    def program_id(self) -> str:
        return str(self.program["id"])

    @property
    def token(self) -> str:
        return str(self.program["postback_token"])


def _shop(http: httpx.Client, operator_key: str, *, applicant_name: str) -> Shop:
    advertiser_id, key = make_advertiser(http, operator_key, currency="SEK")
    program = make_program(
        http, key, name=unique("Program"), commission={"type": "cps", "percent": "8"}
    )
    partner_name = unique("Earner")
    partner_id, partner_key = make_partner(http, operator_key, name=partner_name)
    enrollment = apply(http, program["id"], partner_key)
    expect(http.post(f"{API}/enrollments/{enrollment['id']}/approve", headers=auth(key)), 200)
    coupon = make_coupon(http, key, program["id"], partner_id)["code"]
    _, applicant_key = make_partner(
        http,
        operator_key,
        name=applicant_name,
        website="https://blog.example/",
        audience="Hikers in the Nordics",
        categories=["outdoor"],
    )
    applicant = apply(http, program["id"], applicant_key, message="We review tents")
    return Shop(
        advertiser_id,
        key,
        program,
        partner_id,
        partner_name,
        coupon,
        applicant["id"],
        applicant_name,
    )


def order(
    http: httpx.Client, shop: Shop, order_id: str | None = None, amount: str = "100.00"
) -> str:
    """A pending order through the real postback, attributed by coupon; its conversion id."""
    params = {
        "program": shop.program_id,
        "token": shop.token,
        "order_id": order_id or f"SO-{uuid.uuid4().hex[:8]}",
        "amount": amount,
        "currency": "SEK",
        "coupon": shop.coupon,
    }
    answer = expect(http.get("/postback", params=params), 200)
    assert answer["status"] == "accepted", answer
    return str(answer["conversion_id"])


@pytest.fixture(scope="module")
def shops(server: Server, operator_key: str) -> tuple[Shop, Shop]:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        mine = _shop(http, operator_key, applicant_name=XSS)
        other = _shop(http, operator_key, applicant_name=unique("Other applicant"))
        order(http, mine, order_id=XSS)
        order(http, other, order_id="OTHER-ORDER-1")
        # A refused postback: the wrong token (kept in the inbox with its reason).
        bad = {
            "program": mine.program_id,
            "token": "not-the-token-at-all",
            "order_id": "SO-BADTOKEN",
            "amount": "10.00",
            "currency": "SEK",
        }
        assert http.get("/postback", params=bad).status_code >= 400
    return mine, other


@pytest.fixture(scope="module")
def owner(server: Server, shops: tuple[Shop, Shop]) -> Browser:
    return signed_in(server, shops[0].advertiser_id, Role.owner)


@pytest.fixture(scope="module")
def reader(server: Server, shops: tuple[Shop, Shop]) -> Browser:
    return signed_in(server, shops[0].advertiser_id, Role.read_only)


def _conversion(conversion_id: str) -> Conversion:
    with reading() as session:
        row = session.get(Conversion, conversion_id)
        assert row is not None
        return row


# --- pages and isolation ---------------------------------------------------------------------


PAGES = (
    "/advertiser",
    "/advertiser/programs",
    "/advertiser/programs/{program_id}",
    "/advertiser/applications",
    "/advertiser/partners",
    "/advertiser/orders",
    "/advertiser/rejected",
    "/advertiser/creatives",
    "/advertiser/webhooks",
    "/advertiser/integration",
    "/advertiser/programs/new",
)


@pytest.mark.parametrize("page", PAGES)
def test_every_page_renders_its_own_data_only(
    owner: Browser, shops: tuple[Shop, Shop], page: str
) -> None:
    mine, other = shops
    answer = owner.get(page.format(program_id=mine.program_id))
    assert answer.status_code == 200, answer.text
    html = answer.text
    assert html.count("<h1") == 1
    assert other.program["name"] not in html
    assert other.program_id not in html
    assert other.applicant_name not in html
    assert "OTHER-ORDER-1" not in html
    assert other.token not in html
    if page not in ("/advertiser/webhooks", "/advertiser/programs/new"):
        assert mine.program["name"] in html or mine.program_id in html
    # The strict CSP forbids inline script and style: none may sneak in.
    assert "<script>" not in html and " style=" not in html and XSS not in html


def test_pages_show_their_figures(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    mine, _ = shops
    applications = owner.get("/advertiser/applications").text
    assert "We review tents" in applications and "Hikers in the Nordics" in applications
    assert f"/advertiser/enrollments/{mine.applicant_enrollment}/approve" in applications
    partners = owner.get("/advertiser/partners").text
    assert mine.partner_name in partners
    assert re.search(r"SEK\xa0[1-9][0-9,]*\.00", partners)  # its sales of the last 30 days
    overview = owner.get("/advertiser").text
    assert "awaiting validation" in overview and re.search(r"SEK\xa0[1-9][0-9,]*\.00", overview)
    orders = owner.get("/advertiser/orders?status=pending").text
    assert XSS_ESCAPED in orders and "SEK\xa08.00" in orders  # 8 % commission
    sorted_page = owner.get("/advertiser/partners?sort=orders&dir=asc")
    assert sorted_page.status_code == 200 and 'aria-sort="ascending"' in sorted_page.text


def test_another_advertisers_rows_are_404(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    _, other = shops
    with reading() as session:
        foreign = session.scalar(
            select(Conversion.id).where(Conversion.program_id == other.program_id)
        )
    assert owner.get(f"/advertiser/programs/{other.program_id}").status_code == 404
    assert owner.get(f"/advertiser/orders/{foreign}").status_code == 404
    assert owner.get(f"/advertiser/orders?program_id={other.program_id}").status_code == 404
    answer = owner.post(
        f"/advertiser/enrollments/{other.applicant_enrollment}/approve",
        token_from="/advertiser/applications",
    )
    assert answer.status_code == 404
    answer = owner.post(f"/advertiser/orders/{foreign}/complete", token_from="/advertiser/orders")
    assert answer.status_code == 404
    assert _conversion(str(foreign)).status == "pending"


def test_other_roles_get_403(server: Server, shops: tuple[Shop, Shop]) -> None:
    partner = signed_in(server, shops[0].partner_id)
    assert partner.get("/advertiser/orders").status_code == 403
    assert partner.get("/advertiser").status_code == 403


def test_user_data_renders_escaped(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    for page in ("/advertiser/applications", "/advertiser/orders"):
        html = owner.get(page).text
        assert XSS_ESCAPED in html
        assert XSS not in html


# --- programs and terms ----------------------------------------------------------------------


def _program_form(**overrides: str) -> dict[str, str]:
    form = {
        "name": unique("Web program"),
        "landing_url": "https://shop.example/",
        "currency": "SEK",
        "cookie_window_days": "30",
        "lock_period_days": "14",
        "allowed_countries": "SE, NO",
        "deeplink_domains": "blog.shop.example\nhelp.shop.example",
        "attribution_priority": "coupon",
        "store_wide": "on",
        "type": "cps",
        "rate": "8",
        "example_amount": "100",
    }
    form.update(overrides)
    return form


def _versions(program_id: str) -> list[int]:
    with reading() as session:
        return list(
            session.scalars(
                select(CommissionTerms.version)
                .where(CommissionTerms.program_id == program_id)
                .order_by(CommissionTerms.version)
            )
        )


def test_create_then_edit_makes_a_new_terms_version(
    owner: Browser, shops: tuple[Shop, Shop]
) -> None:
    form = _program_form()
    answer = owner.post("/advertiser/programs/new", form, token_from="/advertiser/programs/new")
    assert answer.status_code == 303, answer.text
    program_id = answer.headers["location"].rsplit("/", 1)[-1]
    with reading() as session:
        program = session.get(Program, program_id)
        assert program is not None
        assert program.advertiser_id == shops[0].advertiser_id
        assert program.allowed_countries == ["SE", "NO"]
        assert program.deeplink_domains == ["blog.shop.example", "help.shop.example"]
        assert program.lock_period_days == 14
    assert _versions(program_id) == [1]
    page = owner.get(f"/advertiser/programs/{program_id}").text
    assert form["name"] in page and "SEK\xa08.00" in page

    edit = {**form, "status": "active", "rate": "10", "cookie_window_days": "45"}
    answer = owner.post(
        f"/advertiser/programs/{program_id}", edit, token_from="/advertiser/programs"
    )
    assert answer.status_code == 303, answer.text
    assert _versions(program_id) == [1, 2]
    with reading() as session:
        program = session.get(Program, program_id)
        assert program is not None and program.cookie_window_days == 45
    # Saving the same terms again makes no version.
    answer = owner.post(
        f"/advertiser/programs/{program_id}", edit, token_from="/advertiser/programs"
    )
    assert answer.status_code == 303
    assert _versions(program_id) == [1, 2]
    page = owner.get(f"/advertiser/programs/{program_id}").text
    assert "SEK\xa010.00" in page and "(current)" in page


def test_live_example_prices_cps_8_percent(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    mine, _ = shops
    page = owner.get(f"/advertiser/programs/{mine.program_id}").text
    assert re.search(
        r"On an order of <strong>SEK\xa0100.00</strong> a partner earns <strong[^>]*>SEK\xa08.00<",
        page,
    )
    assert 'hx-post="/advertiser/programs/preview"' in page and 'hx-trigger="change"' in page
    form = {**_program_form(rate="8", example_amount="250"), "program_id": mine.program_id}
    fragment = owner.post(
        "/advertiser/programs/preview",
        form,
        token_from="/advertiser/programs",
        headers={"HX-Request": "true"},
    )
    assert fragment.status_code == 200
    assert "<h1" not in fragment.text  # a fragment, not a page
    assert "SEK\xa0250.00" in fragment.text and "SEK\xa020.00" in fragment.text
    # Without JavaScript the preview button gets the whole form back, with the example.
    full = owner.post("/advertiser/programs/preview", form, token_from="/advertiser/programs")
    assert full.status_code == 200 and "<h1" in full.text and "SEK\xa020.00" in full.text
    refused = owner.post(
        "/advertiser/programs/preview",
        {**form, "rate": "abc"},
        token_from="/advertiser/programs",
        headers={"HX-Request": "true"},
    )
    assert refused.status_code == 200 and "No example" in refused.text and "percent" in refused.text
    assert _versions(mine.program_id) == [1]  # a preview saves nothing


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("cookie_window_days", "0"),
        ("landing_url", "ftp://shop.example/"),
        ("allowed_countries", "SE, XX"),
        ("rate", "abc"),
        ("tiers", "[not json"),
        ("currency", "ZZZ"),
    ],
)
def test_bad_program_input_names_the_field(owner: Browser, field: str, value: str) -> None:
    answer = owner.post(
        "/advertiser/programs/new",
        _program_form(**{field: value}),
        token_from="/advertiser/programs/new",
    )
    assert answer.status_code == 422, answer.text
    assert f"(field: {field})" in answer.text
    assert f'id="f-{field}"' in answer.text and 'aria-invalid="true"' in answer.text


# --- applications ----------------------------------------------------------------------------


def test_approving_an_application_enrolls_the_partner(
    http: httpx.Client, operator_key: str, owner: Browser, shops: tuple[Shop, Shop]
) -> None:
    mine, _ = shops
    _, partner_key = make_partner(http, operator_key)
    applied = apply(http, mine.program_id, partner_key)
    _, rejected_key = make_partner(http, operator_key)
    to_reject = apply(http, mine.program_id, rejected_key)
    answer = owner.post(
        f"/advertiser/enrollments/{applied['id']}/approve",
        {"group": "vip", "next": "/advertiser/applications"},
        token_from="/advertiser/applications",
    )
    assert answer.status_code == 303 and answer.headers["location"] == "/advertiser/applications"
    answer = owner.post(
        f"/advertiser/enrollments/{to_reject['id']}/reject",
        {"reason": "Not our audience"},
        token_from="/advertiser/applications",
    )
    assert answer.status_code == 303
    with reading() as session:
        approved = session.get(Enrollment, applied["id"])
        refused = session.get(Enrollment, to_reject["id"])
        assert approved is not None and approved.status == "approved" and approved.group == "vip"
        assert refused is not None and refused.status == "rejected"
        assert refused.reason == "Not our audience"
    # Deciding again is a conflict, not a silent change.
    again = owner.post(
        f"/advertiser/enrollments/{applied['id']}/reject", token_from="/advertiser/applications"
    )
    assert again.status_code == 409


# --- orders ----------------------------------------------------------------------------------


def test_one_order_completed_and_another_declined(
    http: httpx.Client, owner: Browser, shops: tuple[Shop, Shop]
) -> None:
    mine, _ = shops
    first, second = order(http, mine), order(http, mine)
    answer = owner.post(f"/advertiser/orders/{first}/complete", token_from="/advertiser/orders")
    assert answer.status_code == 303
    assert _conversion(first).status == "completed"
    empty = owner.post(
        f"/advertiser/orders/{second}/decline", {"reason": " "}, token_from="/advertiser/orders"
    )
    assert empty.status_code == 422 and "(field: reason)" in empty.text
    answer = owner.post(
        f"/advertiser/orders/{second}/decline",
        {"reason": "Test order"},
        token_from="/advertiser/orders",
    )
    assert answer.status_code == 303
    declined = _conversion(second)
    assert declined.status == "declined" and declined.decline_reason == "Test order"
    with reading() as session:
        commission = session.scalar(select(Commission).where(Commission.conversion_id == second))
        assert commission is not None and commission.status == "declined"
    # A declined order cannot be completed: the page says why, with the order's status.
    refused = owner.post(f"/advertiser/orders/{second}/complete", token_from="/advertiser/orders")
    assert refused.status_code in (409, 422) and "declined" in refused.text


def test_bulk_complete_and_decline_ticked_orders(
    http: httpx.Client, owner: Browser, shops: tuple[Shop, Shop]
) -> None:
    mine, _ = shops
    a, b, c = order(http, mine), order(http, mine), order(http, mine)
    answer = owner.post(
        "/advertiser/orders/bulk",
        {"action": "complete", "conversion_id": [a, b]},
        token_from="/advertiser/orders",
    )
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].startswith("/advertiser/orders/validations/val_")
    assert [_conversion(x).status for x in (a, b, c)] == ["completed", "completed", "pending"]
    report = owner.get(answer.headers["location"])
    assert report.status_code == 200 and "applied" in report.text
    no_reason = owner.post(
        "/advertiser/orders/bulk",
        {"action": "decline", "conversion_id": [c]},
        token_from="/advertiser/orders",
    )
    assert no_reason.status_code == 422 and "reason" in no_reason.text
    answer = owner.post(
        "/advertiser/orders/bulk",
        {"action": "decline", "conversion_id": [c], "reason": "Fraud"},
        token_from="/advertiser/orders",
    )
    assert answer.status_code == 303
    assert _conversion(c).status == "declined" and _conversion(c).decline_reason == "Fraud"


def test_bulk_refuses_another_advertisers_orders(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    _, other = shops
    with reading() as session:
        foreign = session.scalar(
            select(Conversion.id).where(Conversion.program_id == other.program_id)
        )
    answer = owner.post(
        "/advertiser/orders/bulk",
        {"action": "complete", "conversion_id": [foreign]},
        token_from="/advertiser/orders",
    )
    assert answer.status_code == 404
    assert _conversion(str(foreign)).status == "pending"


def test_csv_upload_validates_orders(
    http: httpx.Client, owner: Browser, shops: tuple[Shop, Shop]
) -> None:
    mine, _ = shops
    done_id, gone_id = f"CSV-{uuid.uuid4().hex[:6]}", f"CSV-{uuid.uuid4().hex[:6]}"
    done, gone = order(http, mine, done_id), order(http, mine, gone_id)
    body = (
        "order_id,status,refund_amount,reason\n"
        f"{done_id},completed,,\n{gone_id},declined,,dup\nNOPE,completed,,\n"
    )
    token = owner.token("/advertiser/orders")
    answer = owner.client.post(
        "/advertiser/orders/upload",
        data={"csrf_token": token, "program_id": mine.program_id},
        files={"file": ("orders.csv", body.encode(), "text/csv")},
    )
    assert answer.status_code == 303, answer.text
    assert _conversion(done).status == "completed" and _conversion(gone).status == "declined"
    report = owner.get(answer.headers["location"]).text
    assert "unknown order" in report and "NOPE" in report
    broken = owner.client.post(
        "/advertiser/orders/upload",
        data={"csrf_token": token, "program_id": mine.program_id},
        files={"file": ("orders.csv", b"nothing,here\n1,2\n", "text/csv")},
    )
    assert broken.status_code == 422 and "<code>file</code>" in broken.text


def test_rejected_events_list_the_reason(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    mine, _ = shops
    with reading() as session:
        event = session.scalars(
            select(InboundEvent).where(
                InboundEvent.program_id == mine.program_id, InboundEvent.status == "rejected"
            )
        ).first()
    assert event is not None and event.reason
    html = owner.get("/advertiser/rejected").text
    assert event.reason in html and event.id in html
    assert "not-the-token-at-all" not in html  # the token in the raw query is masked
    assert (
        owner.get(f"/advertiser/rejected?source=postback&program_id={mine.program_id}").status_code
        == 200
    )
    assert owner.get("/advertiser/rejected?source=fax").status_code == 422


# --- who may post ----------------------------------------------------------------------------


def _posts(shop: Shop) -> list[tuple[str, dict[str, Any]]]:
    with reading() as session:
        conversion = session.scalar(
            select(Conversion.id).where(Conversion.program_id == shop.program_id)
        )
    return [
        ("/advertiser/programs/new", _program_form()),
        (f"/advertiser/programs/{shop.program_id}", _program_form()),
        ("/advertiser/programs/preview", _program_form()),
        (f"/advertiser/enrollments/{shop.applicant_enrollment}/approve", {}),
        (f"/advertiser/orders/{conversion}/complete", {}),
        (f"/advertiser/orders/{conversion}/decline", {"reason": "x"}),
        ("/advertiser/orders/bulk", {"action": "complete", "conversion_id": [conversion]}),
        ("/advertiser/orders/upload", {"program_id": shop.program_id}),
        ("/advertiser/rejected/evt_00000000000000000000000000/retry", {}),
        ("/advertiser/creatives", {"program_id": shop.program_id, "kind": "text_link"}),
        ("/advertiser/creatives/crv_00000000000000000000000000/deactivate", {}),
        ("/advertiser/feed", {"program_id": shop.program_id}),
        ("/advertiser/webhooks/endpoints", {"url": "https://1.1.1.1/hook"}),
        ("/advertiser/webhooks/endpoints/wep_00000000000000000000000000/rotate", {}),
        (
            "/advertiser/webhooks/endpoints/wep_00000000000000000000000000/active",
            {"active": "false"},
        ),
        ("/advertiser/webhooks/endpoints/wep_00000000000000000000000000/delete", {}),
        ("/advertiser/webhooks/deliveries/wdl_00000000000000000000000000/retry", {}),
        (
            "/advertiser/webhooks/stores",
            {"program_id": shop.program_id, "platform": "shopify", "secret": "s" * 20},
        ),
        (f"/advertiser/webhooks/stores/{shop.program_id}/shopify/delete", {}),
    ]


def test_read_only_members_get_403_on_every_post(reader: Browser, shops: tuple[Shop, Shop]) -> None:
    mine, _ = shops
    for path, data in _posts(mine):
        answer = reader.post(path, data, token_from="/advertiser")
        assert answer.status_code == 403, (path, answer.status_code)
    with reading() as session:
        enrollment = session.get(Enrollment, mine.applicant_enrollment)
        assert enrollment is not None and enrollment.status == "applied"
    # They still read every page, without the forms that would change anything.
    page = reader.get("/advertiser/orders").text
    assert "Complete selected" not in page


def test_posts_without_the_csrf_token_are_refused(owner: Browser, shops: tuple[Shop, Shop]) -> None:
    mine, _ = shops
    for path, data in _posts(mine):
        answer = owner.client.post(path, data=data)
        assert answer.status_code == 403, (path, answer.status_code)
        assert "This form has expired" in answer.text
