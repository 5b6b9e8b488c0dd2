"""The operator pages against a real server: the overview (the report API's numbers), the
advertisers and partners with their account managers, the review queue and system health,
and /metrics.

Other modules add accounts, clicks and orders to the same database, so network-wide figures
are compared with the report API at the same moment, and everything else is found by ids
this module made.
"""

from __future__ import annotations

import html
import re
import uuid
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import select

from alliance.accounts.models import Advertiser, Partner
from alliance.accounts.service import create_operator
from alliance.accounts.users import Invitation, Role
from alliance.clock import utcnow
from alliance.conversions.models import InboundEvent
from alliance.db.engine import reading, transaction
from alliance.ids import new_id
from alliance.jobs.models import JobRun
from alliance.notifications.models import WebhookDelivery, WebhookEndpoint, WebhookEvent
from alliance.notifications.signing import new_secret
from alliance.programs.models import Enrollment
from alliance.tracking.models import Click
from alliance.web.templating import money, number
from tests.api.factories import (
    API,
    apply,
    auth,
    expect,
    insert_click,
    insert_commission,
    insert_conversion,
    make_advertiser,
    make_network,
    make_partner,
    make_program,
)
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("operator-pages")

XSS = "<img src=x onerror=alert(1)>"
PAGES = (
    "/operator",
    "/operator/advertisers",
    "/operator/partners",
    "/operator/review",
    "/operator/health",
)


@dataclass(frozen=True)
class Staff:
    operator_id: str
    other_operator_id: str
    other_operator_name: str


@pytest.fixture(scope="module")
def staff(db_url: str) -> Staff:
    with transaction() as session:
        ops, _ = create_operator(session, name="Network ops")
        name = f"Anna {uuid.uuid4().hex[:6]}"
        other, _ = create_operator(session, name=name)
    return Staff(ops.id, other.id, name)


@pytest.fixture(scope="module")
def ops(server: Server, staff: Staff) -> Browser:
    return signed_in(server, staff.operator_id)


def row_of(page: str, row_id: str) -> str:
    found = re.search(rf'<tr id="{re.escape(row_id)}".*?</tr>', page, re.S)
    assert found, f"no row {row_id}"
    return found.group(0)


def cell(row: str, name: str) -> str:
    found = re.search(rf'data-field="{name}">([^<]*)<', row)
    assert found, f"no cell {name}"
    return html.unescape(found.group(1))


def kpi(page: str, name: str) -> str:
    found = re.search(rf'id="kpi-{name}">.*?class="kpi-value">([^<]*)<', page, re.S)
    assert found, f"no KPI {name}"
    return html.unescape(found.group(1))


# --- who may see ------------------------------------------------------------------------------


def test_only_operator_users_reach_the_pages(
    server: Server, http: httpx.Client, operator_key: str, ops: Browser
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    partner_id, _ = make_partner(http, operator_key)
    for account in (advertiser_id, partner_id):
        user = signed_in(server, account)
        for path in PAGES:
            assert user.get(path).status_code == 403, path
        refused = user.post(
            "/operator/advertisers",
            {"name": "Sneaky", "country": "SE", "currency": "SEK"},
            token_from="/account",
        )
        assert refused.status_code == 403
    stranger = Browser(server.url)
    answer = stranger.get("/operator/health")
    assert answer.status_code == 303 and answer.headers["location"].startswith("/login")
    for path in PAGES:
        page = ops.get(path)
        assert page.status_code == 200, (path, page.text[:500])
        assert page.text.count("<h1") == 1
        assert "style=" not in page.text and "<script>" not in page.text


def test_a_read_only_operator_sees_but_cannot_change(
    server: Server, http: httpx.Client, operator_key: str, staff: Staff
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    partner_id, _ = make_partner(http, operator_key)
    viewer = signed_in(server, staff.operator_id, Role.read_only)
    page = viewer.get(f"/operator/advertisers?q={advertiser_id}")
    assert page.status_code == 200 and advertiser_id in page.text
    assert "Create advertiser" not in page.text and "/manage" not in page.text
    posts: list[tuple[str, dict[str, object]]] = [
        ("/operator/advertisers", {"name": "No", "country": "SE", "currency": "SEK"}),
        ("/operator/partners", {"name": "No", "type": "content", "country": "DE"}),
        (
            f"/operator/advertisers/{advertiser_id}/manage",
            {"service_level": "managed", "account_manager_id": staff.other_operator_id},
        ),
        (f"/operator/partners/{partner_id}/manage", {"account_manager_id": ""}),
        (f"/operator/advertisers/{advertiser_id}/invite", {"email": "x@example.com"}),
        ("/operator/review/enrollments/enr_x/approve", {}),
        ("/operator/review/deliveries/wdl_x/retry", {}),
    ]
    for path, data in posts:
        assert viewer.post(path, data, token_from="/account").status_code == 403, path
    with reading() as session:
        advertiser = session.get(Advertiser, advertiser_id)
        assert advertiser is not None and advertiser.account_manager_id is None


def test_a_post_without_the_csrf_token_is_refused(ops: Browser) -> None:
    answer = ops.client.post(
        "/operator/advertisers", data={"name": "No token", "country": "SE", "currency": "SEK"}
    )
    assert answer.status_code == 403
    page = ops.get("/operator/advertisers?q=No+token")
    assert "No advertiser matches" in page.text


# --- overview ---------------------------------------------------------------------------------


def test_overview_numbers_equal_the_report_api(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key, currency="CHF")
    prg, ptn, link = net.program_id, net.partner_id, net.link["id"]
    day = utcnow() - timedelta(days=2)
    for i in range(4):
        insert_click(prg, ptn, link, occurred_at=day, is_bot=i == 0)
    big = insert_conversion(prg, ptn, currency="CHF", amount="900.00", occurred_at=day)
    insert_commission(prg, ptn, big, currency="CHF", entries=(("accrual", "pending", "90.00"),))
    done = insert_conversion(
        prg, ptn, currency="CHF", amount="100.00", status="completed", occurred_at=day
    )
    insert_commission(
        prg,
        ptn,
        done,
        currency="CHF",
        status="approved",
        entries=(("accrual", "pending", "10.00"), ("approval", "approved", "0")),
    )
    period = {"from": (utcnow() - timedelta(days=6)).date().isoformat(), "to": None}
    period["to"] = utcnow().date().isoformat()

    page = ops.get("/operator", params={**period, "currency": "CHF", "rank": "sales"})
    assert page.status_code == 200, page.text[:500]
    traffic = expect(
        http.get(f"{API}/reports/traffic", params=period, headers=auth(operator_key)), 200
    )
    orders = expect(
        http.get(
            f"{API}/reports/orders",
            params={**period, "group_by": "program"},
            headers=auth(operator_key),
        ),
        200,
    )
    totals = traffic["totals"]
    text = page.text
    assert kpi(text, "clicks") == number(totals["clicks"])
    assert kpi(text, "valid-clicks") == number(totals["valid_clicks"])
    assert kpi(text, "orders") == number(sum(t["orders"] for t in orders["totals"]))
    assert orders["totals"], "the report has this test's orders at least"
    for t in orders["totals"]:
        row = row_of(text, f"totals-{t['currency']}")
        cur = t["currency"]
        assert cell(row, "orders") == number(t["orders"])
        assert cell(row, "sales") == money(Decimal(t["sales"]), cur)
        assert cell(row, "net_sales") == money(Decimal(t["net_sales"]), cur)
        for status in ("pending", "approved", "paid", "declined", "reversed", "value"):
            assert cell(row, status) == money(Decimal(t["commission"][status]), cur), status
    # The top programs in CHF are the report's CHF rows by sales, ours among them.
    chf = sorted(
        (r for r in orders["rows"] if r["currency"] == "CHF"),
        key=lambda r: (-Decimal(r["sales"]), -r["orders"], r["label"] or r["group"]),
    )[:10]
    table = re.search(r'<table id="top-programs">.*?</table>', text, re.S)
    assert table is not None
    shown = re.findall(r'<tr data-id="([^"]+)"', table.group(0))
    assert shown == [r["group"] for r in chf]
    assert prg in shown
    ours = row_of(text.replace(f'data-id="{prg}"', f'id="p-{prg}"'), f"p-{prg}")
    assert money(Decimal("1000.00"), "CHF") in ours
    partners = re.search(r'<table id="top-partners">.*?</table>', text, re.S)
    assert partners is not None and ptn in partners.group(0)


def test_overview_refuses_a_bad_period(ops: Browser) -> None:
    answer = ops.get("/operator", params={"from": "2024-13-01"})
    assert answer.status_code == 422 and "from" in answer.text
    answer = ops.get("/operator", params={"from": "2024-05-10", "to": "2024-05-01"})
    assert answer.status_code == 422


# --- advertisers and partners -----------------------------------------------------------------


def test_creating_an_advertiser_shows_its_api_key_once(
    ops: Browser, http: httpx.Client, staff: Staff
) -> None:
    name = f"Fjällräv {uuid.uuid4().hex[:6]}"
    answer = ops.post(
        "/operator/advertisers",
        {
            "name": name,
            "country": "se",
            "currency": "sek",
            "service_level": "managed",
            "account_manager_id": staff.other_operator_id,
            "website": "https://shop.example/",
        },
        token_from="/operator/advertisers",
    )
    assert answer.status_code == 201, answer.text[:1000]
    key = re.search(r'id="api-key" type="text" readonly value="(ala_[^"]+)"', answer.text)
    assert key, "the new key is on the page"
    advertiser_id = re.search(r"<code>(adv_[0-9A-Z]+)</code>", answer.text)
    assert advertiser_id
    me = expect(
        http.get(f"{API}/advertisers/{advertiser_id.group(1)}", headers=auth(key.group(1))), 200
    )
    assert me["name"] == name and me["country"] == "SE" and me["currency"] == "SEK"
    assert me["service_level"] == "managed"
    assert me["account_manager_id"] == staff.other_operator_id
    again = ops.get(f"/operator/advertisers?q={advertiser_id.group(1)}")
    assert name in again.text and key.group(1) not in again.text and "ala_" not in again.text


def test_bad_advertiser_input_is_a_4xx_naming_the_field(ops: Browser) -> None:
    answer = ops.post(
        "/operator/advertisers",
        {"name": "Bad country", "country": "XX", "currency": "SEK"},
        token_from="/operator/advertisers",
    )
    assert answer.status_code == 422
    assert "country" in answer.text and 'aria-invalid="true"' in answer.text
    answer = ops.post(
        "/operator/advertisers",
        {"name": "Bad manager", "country": "SE", "currency": "SEK", "account_manager_id": "x"},
        token_from="/operator/advertisers",
    )
    assert answer.status_code == 422 and "account_manager_id" in answer.text


def test_creating_a_partner_with_an_account_manager(
    ops: Browser, http: httpx.Client, staff: Staff
) -> None:
    name = f"Outdoor blog {uuid.uuid4().hex[:6]}"
    answer = ops.post(
        "/operator/partners",
        {
            "name": name,
            "type": "content",
            "country": "DE",
            "payout_currency": "EUR",
            "categories": "outdoor, hiking",
            "email": "blog@example.com",
            "account_manager_id": staff.other_operator_id,
        },
        token_from="/operator/partners",
    )
    assert answer.status_code == 201, answer.text[:1000]
    key = re.search(r'id="api-key" type="text" readonly value="(alp_[^"]+)"', answer.text)
    partner_id = re.search(r"<code>(ptn_[0-9A-Z]+)</code>", answer.text)
    assert key and partner_id
    me = expect(http.get(f"{API}/partners/{partner_id.group(1)}", headers=auth(key.group(1))), 200)
    assert me["name"] == name and me["categories"] == ["outdoor", "hiking"]
    with reading() as session:
        row = session.get(Partner, partner_id.group(1))
        assert row is not None and row.account_manager_id == staff.other_operator_id
    bad = ops.post(
        "/operator/partners",
        {"name": "No type", "type": "spam", "country": "DE", "payout_currency": "EUR"},
        token_from="/operator/partners",
    )
    assert bad.status_code == 422 and "type" in bad.text


def test_changing_the_account_manager_persists(
    ops: Browser, http: httpx.Client, operator_key: str, staff: Staff
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    partner_id, _ = make_partner(http, operator_key)
    saved = ops.post(
        f"/operator/advertisers/{advertiser_id}/manage",
        {"service_level": "managed", "account_manager_id": staff.other_operator_id},
        token_from="/operator/advertisers",
    )
    assert saved.status_code == 303
    saved = ops.post(
        f"/operator/partners/{partner_id}/manage",
        {"account_manager_id": staff.other_operator_id, "back": "https://evil.example/"},
        token_from="/operator/partners",
    )
    assert saved.status_code == 303 and saved.headers["location"] == "/operator/partners"
    with reading() as session:
        advertiser = session.get(Advertiser, advertiser_id)
        partner = session.get(Partner, partner_id)
        assert advertiser is not None and partner is not None
        assert advertiser.service_level == "managed"
        assert advertiser.account_manager_id == staff.other_operator_id
        assert partner.account_manager_id == staff.other_operator_id
    page = ops.get(f"/operator/advertisers?manager={staff.other_operator_id}&q={advertiser_id}")
    row = row_of(page.text, f"row-{advertiser_id}")
    assert f'<option value="{staff.other_operator_id}" selected>' in row
    # Managed with nobody named: the operator making the change manages it.
    ops.post(
        f"/operator/advertisers/{advertiser_id}/manage",
        {"service_level": "managed", "account_manager_id": ""},
        token_from="/operator/advertisers",
    )
    ops.post(
        f"/operator/partners/{partner_id}/manage",
        {"account_manager_id": ""},
        token_from="/operator/partners",
    )
    with reading() as session:
        advertiser = session.get(Advertiser, advertiser_id)
        partner = session.get(Partner, partner_id)
        assert advertiser is not None and advertiser.account_manager_id == staff.operator_id
        assert partner is not None and partner.account_manager_id is None
    unknown = ops.post(
        f"/operator/partners/{partner_id}/manage",
        {"account_manager_id": "opr_NOPE"},
        token_from="/operator/partners",
    )
    assert unknown.status_code == 422 and "account_manager_id" in unknown.text


def test_inviting_the_first_user_shows_the_link_once(
    server: Server, ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    email = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    answer = ops.post(
        f"/operator/advertisers/{advertiser_id}/invite",
        {"email": email},
        token_from="/operator/advertisers",
    )
    assert answer.status_code == 200
    link = re.search(
        r'id="invite-link" type="text" readonly value="([^"]+/invitations/[^"]+)"', answer.text
    )
    assert link
    with reading() as session:
        invitation = session.scalar(select(Invitation).where(Invitation.email == email))
        assert invitation is not None
        assert invitation.account_id == advertiser_id and invitation.role == Role.owner.value
    token = link.group(1).rsplit("/", 1)[1]
    assert Browser(server.url).get(f"/invitations/{token}").status_code == 200
    assert token not in ops.get(f"/operator/advertisers?q={advertiser_id}").text
    again = ops.post(
        f"/operator/advertisers/{advertiser_id}/invite",
        {"email": "not-an-address"},
        token_from="/operator/advertisers",
    )
    assert again.status_code == 422 and "email" in again.text
    partner_id, _ = make_partner(http, operator_key)
    partner_invite = ops.post(
        f"/operator/partners/{partner_id}/invite",
        {"email": f"p-{uuid.uuid4().hex[:8]}@example.com"},
        token_from="/operator/partners",
    )
    assert partner_invite.status_code == 200 and 'id="invite-link"' in partner_invite.text


def test_list_figures_and_an_escaped_name(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key, currency="DKK")
    conversion = insert_conversion(net.program_id, net.partner_id, currency="DKK", amount="250.00")
    insert_commission(
        net.program_id,
        net.partner_id,
        conversion,
        currency="DKK",
        entries=(("accrual", "pending", "25.00"),),
    )
    advertisers = ops.get(f"/operator/advertisers?q={net.advertiser_id}").text
    row = row_of(advertisers, f"row-{net.advertiser_id}")
    assert money(Decimal("250.00"), "DKK") in row
    assert re.search(r'class="num">1</td>', row), "one program"
    partners = ops.get(f"/operator/partners?q={net.partner_id}").text
    row = row_of(partners, f"row-{net.partner_id}")
    assert money(Decimal("25.00"), "DKK") in row
    assert re.search(r'class="num">1</td>', row), "one program joined"

    evil_id, _ = make_advertiser(http, operator_key, name=XSS)
    page = ops.get(f"/operator/advertisers?q={evil_id}").text
    assert XSS not in page
    assert html.escape(XSS, quote=False) in page
    evil_partner, _ = make_partner(http, operator_key, name=XSS + " partner")
    assert XSS not in ops.get(f"/operator/partners?q={evil_partner}").text


# --- review queue -----------------------------------------------------------------------------


def test_a_stale_application_is_approved_from_the_queue(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    stale_id, stale_key = make_partner(http, operator_key, name=f"Stale {XSS}")
    fresh_id, fresh_key = make_partner(http, operator_key)
    stale = apply(http, program["id"], stale_key, message="Please")
    fresh = apply(http, program["id"], fresh_key)
    with transaction() as session:
        row = session.get(Enrollment, stale["id"])
        assert row is not None
        row.created_at = utcnow() - timedelta(days=4)

    page = ops.get("/operator/review").text
    assert f'id="enrollment-{stale["id"]}"' in page
    assert f'id="enrollment-{fresh["id"]}"' not in page
    assert XSS not in page
    approved = ops.post(
        f"/operator/review/enrollments/{stale['id']}/approve", {}, token_from="/operator/review"
    )
    assert approved.status_code == 303 and approved.headers["location"] == "/operator/review"
    mine = expect(http.get(f"{API}/enrollments/{stale['id']}", headers=auth(stale_key)), 200)
    assert mine["status"] == "approved"
    # The partner can now get a link: it is enrolled.
    expect(
        http.post(f"{API}/links", json={"program_id": program["id"]}, headers=auth(stale_key)),
        201,
    )
    assert f'id="enrollment-{stale["id"]}"' not in ops.get("/operator/review").text
    twice = ops.post(
        f"/operator/review/enrollments/{stale['id']}/reject", {}, token_from="/operator/review"
    )
    assert twice.status_code == 409
    assert fresh_id and stale_id


def dead_delivery(owner_id: str, error: str) -> tuple[str, str]:
    """An endpoint of `owner_id` with one dead delivery; returns (endpoint id, delivery id)."""
    now = utcnow()
    endpoint_id, event_id, delivery_id = new_id("wep"), new_id("msg"), new_id("wdl")
    with transaction() as session:
        session.add(
            WebhookEndpoint(
                id=endpoint_id,
                owner_kind="advertiser",
                owner_id=owner_id,
                url="https://hooks.example/alliance",
                secret=new_secret(),
            )
        )
        session.add(
            WebhookEvent(
                id=event_id,
                type="conversion.created",
                data={},
                body="{}",
                occurred_at=now,
                routed_at=now,
            )
        )
        session.flush()
        session.add(
            WebhookDelivery(
                id=delivery_id,
                event_id=event_id,
                endpoint_id=endpoint_id,
                owner_kind="advertiser",
                owner_id=owner_id,
                event_type="conversion.created",
                state="dead",
                attempts=8,
                last_attempt_at=now,
                last_status_code=500,
                last_error=error,
            )
        )
    return endpoint_id, delivery_id


def test_a_dead_delivery_is_sent_again_from_the_queue(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    _, delivery_id = dead_delivery(advertiser_id, "HTTP 500 from the receiver")
    page = ops.get("/operator/review").text
    assert f'id="delivery-{delivery_id}"' in page
    answer = ops.post(
        f"/operator/review/deliveries/{delivery_id}/retry", {}, token_from="/operator/review"
    )
    assert answer.status_code == 303
    with reading() as session:
        delivery = session.get(WebhookDelivery, delivery_id)
        assert delivery is not None and delivery.state == "pending"
    assert f'id="delivery-{delivery_id}"' not in ops.get("/operator/review").text


def test_rejected_events_are_grouped_and_listed_with_secrets_masked(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key)
    reason = f"unknown_click_{uuid.uuid4().hex[:6]}"
    with transaction() as session:
        for i in range(3):
            session.add(
                InboundEvent(
                    id=new_id("evt"),
                    source="postback",
                    program_id=net.program_id,
                    method="GET",
                    query=f"program={net.program_id}&click_id=nope{i}&token=s3cret&order_id={XSS}",
                    status="rejected",
                    reason=reason,
                    detail="no click with this id",
                    field="click_id",
                    received_at=utcnow() - timedelta(hours=1),
                )
            )
    page = ops.get("/operator/review").text
    group = re.search(rf"<tr>(?:(?!</tr>).)*{reason}(?:(?!</tr>).)*</tr>", page, re.S)
    assert group, "the group is listed"
    assert '<td class="num">3</td>' in group.group(0)
    details = re.search(r'href="(/operator/review/rejected\?[^"]+)"', group.group(0))
    assert details
    listed = ops.get(html.unescape(details.group(1)))
    assert listed.status_code == 200
    assert listed.text.count('<tr id="event-') == 3
    assert "s3cret" not in listed.text and "token=***" in listed.text
    assert XSS not in listed.text


def test_partners_with_many_bot_clicks_or_refunds_are_flagged(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key)
    clean = make_network(http, operator_key)
    at = utcnow() - timedelta(days=1)
    with transaction() as session:
        for i in range(120):
            for n, bot in ((net, i % 2 == 0), (clean, i % 20 == 0)):
                session.add(
                    Click(
                        id=new_id("clk"),
                        occurred_at=at,
                        link_id=n.link["id"],
                        program_id=n.program_id,
                        partner_id=n.partner_id,
                        visitor_id=new_id("vis"),
                        landing_url="https://shop.example/",
                        ip_hash="0" * 32,
                        device="bot" if bot else "desktop",
                        is_bot=bot,
                    )
                )
    # 12 orders for the clean partner, 4 of them refunded: a third, above the 25 % limit.
    for i in range(12):
        insert_conversion(
            clean.program_id,
            clean.partner_id,
            status="refunded" if i < 4 else "completed",
            refunded_amount=Decimal("1000.00") if i < 4 else Decimal(0),
            occurred_at=at,
        )
    page = ops.get("/operator/review").text
    row = row_of(page, f"signal-{net.partner_id}")
    assert "bot-click share" in row and "50.00 %" in row and "refund" not in row
    refunds = row_of(page, f"signal-{clean.partner_id}")
    assert "refund rate" in refunds and "33.33 %" in refunds and "bot-click" not in refunds
    assert "30 %" in page and "25 %" in page, "the limits are explained"


# --- system health and /metrics ----------------------------------------------------------------


def test_health_shows_a_failed_job_and_adead_delivery(
    ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    advertiser_id, _ = make_advertiser(http, operator_key)
    marker = uuid.uuid4().hex[:8]
    endpoint_id, _ = dead_delivery(advertiser_id, f"connection refused {marker}")
    with transaction() as session:
        session.add(
            JobRun(
                id=new_id("job"),
                name="purge_webhook_log",
                started_at=utcnow(),
                finished_at=utcnow(),
                ok=False,
                result={"error": f"RuntimeError: disk full {marker} {XSS}"},
            )
        )
    page = ops.get("/operator/health").text
    task = row_of(page, "task-purge_webhook_log")
    assert "failing" in task and f"disk full {marker}" in task and XSS not in task
    dead = re.search(r'id="deliveries-dead">([^<]+)<', page)
    assert dead and int(dead.group(1).replace(",", "")) >= 1
    target = row_of(page, f"target-{endpoint_id}")
    assert f"connection refused {marker}" in target and "HTTP 500" in target
    assert 'id="task-deliver_webhooks"' in page
    assert 'id="newest-click"' in page


def test_metrics_and_the_click_writer_figures(
    server: Server, ops: Browser, http: httpx.Client, operator_key: str
) -> None:
    net = make_network(http, operator_key)
    # A real redirect, so this worker's click writer has committed a batch.
    click = http.get(f"/c/{net.link['code']}")
    assert click.status_code == 302
    answer = http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    body = answer.text
    for name in (
        'alliance_job_lag_seconds{task="deliver_webhooks"}',
        'alliance_job_lag_seconds{task="reprocess_inbound"}',
        'alliance_webhook_deliveries{state="dead"}',
        'alliance_webhook_deliveries{state="pending"}',
        "alliance_webhook_deliveries_due ",
        "alliance_webhook_outbox_unrouted ",
        "alliance_inbound_backlog ",
        "alliance_click_writer_queue_depth{pid=",
        "alliance_click_writer_last_flush_seconds{pid=",
        "alliance_click_writer_flush_seconds_total{pid=",
        "alliance_click_newest_age_seconds ",
    ):
        assert name in body, name
    assert "# TYPE alliance_click_writer_batches_total counter" in body
    batches = re.search(r"alliance_click_writer_batches_total\{pid=\"\d+\"\} (\d+)", body)
    assert batches and int(batches.group(1)) >= 1
    for line in body.splitlines():
        assert line.startswith("#") or re.fullmatch(
            r'[a-z_]+(\{[a-z]+="[^"]*"(,[a-z]+="[^"]*")*\})? (-?[0-9.e+-]+|\+Inf|NaN)', line
        ), line
    page = ops.get("/operator/health").text
    assert 'id="writer-queue"' in page and 'id="writer-last-batch"' in page
    assert "none yet" not in re.search(r'id="writer-commit">.*?</div>\s*</div>', page, re.S).group(
        0
    )  # type: ignore[union-attr]
