"""Sign-in, sessions, CSRF, rate limiting, invitations and roles, against a real server."""

from __future__ import annotations

import re
import time

import httpx
import pytest
from itsdangerous import URLSafeTimedSerializer

from alliance.accounts.service import create_advertiser, create_operator
from alliance.accounts.users import Role
from alliance.db.engine import transaction
from tests.conftest import Server
from tests.web.conftest import PASSWORD, Browser, csrf_of, new_user, signed_in


@pytest.fixture(scope="module")
def advertiser_id(db_url: str) -> str:
    with transaction() as session:
        adv, _ = create_advertiser(session, name="Auth Shop", country="SE", currency="SEK")
        return adv.id


@pytest.fixture(scope="module")
def operator_id(db_url: str) -> str:
    with transaction() as session:
        opr, _ = create_operator(session, name="Auth Ops")
        return opr.id


def test_pages_need_a_session(browser: Browser) -> None:
    answer = browser.get("/team?tab=members")
    assert answer.status_code == 303
    assert answer.headers["location"] == "/login?next=/team%3Ftab%3Dmembers"


def test_sign_in_and_out(server: Server, advertiser_id: str) -> None:
    email = new_user(advertiser_id)
    b = Browser(server.url)
    answer = b.login(email.upper())  # e-mail addresses compare case-insensitively
    assert answer.status_code == 303
    cookie = answer.headers["set-cookie"]
    assert "alliance_session=" in cookie and "HttpOnly" in cookie and "SameSite=lax" in cookie
    home = b.get("/")
    assert home.headers["location"] == "/advertiser"
    team = b.get("/team")
    assert team.status_code == 200 and email in team.text
    assert b.post("/logout", token_from="/team").status_code == 303
    assert b.get("/team").status_code == 303  # signed out


def test_wrong_password_is_401_and_says_nothing_more(server: Server, advertiser_id: str) -> None:
    email = new_user(advertiser_id)
    b = Browser(server.url)
    wrong = b.login(email, "not the password at all")
    unknown = b.login("nobody-" + email, "not the password at all")
    for answer in (wrong, unknown):
        assert answer.status_code == 401
        assert "The e-mail address or the password is wrong." in answer.text
        assert "alliance_session" not in answer.headers.get("set-cookie", "")


def test_login_is_rate_limited_with_retry_after(server: Server, advertiser_id: str) -> None:
    email = new_user(advertiser_id)
    b = Browser(server.url)
    for _ in range(5):
        assert b.login(email, "wrong password 123").status_code == 401
    locked = b.login(email)  # even the right password waits now
    assert locked.status_code == 429
    retry = int(locked.headers["retry-after"])
    assert 0 < retry <= 900
    assert "Too many failed sign-ins" in locked.text
    # Another address from the same client is not locked by these five.
    other = new_user(advertiser_id)
    assert b.login(other).status_code == 303


def test_csrf_token_is_required_and_checked(server: Server, advertiser_id: str) -> None:
    email = new_user(advertiser_id)
    raw = httpx.Client(base_url=server.url)
    raw.get("/login")
    no_token = raw.post("/login", data={"email": email, "password": PASSWORD})
    assert no_token.status_code == 403 and "csrf_token" in no_token.text
    forged = raw.post("/login", data={"email": email, "password": PASSWORD, "csrf_token": "x"})
    assert forged.status_code == 403
    # A valid token from another site's page is still refused by the Origin check.
    token = csrf_of(raw.get("/login").text)
    cross = raw.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers={"Origin": "https://evil.example"},
    )
    assert cross.status_code == 403
    same = raw.post(
        "/login",
        data={"email": email, "password": PASSWORD, "csrf_token": token},
        headers={"Origin": server.url},
    )
    assert same.status_code == 303


def test_signing_in_rotates_the_csrf_token(server: Server, advertiser_id: str) -> None:
    b = Browser(server.url)
    before = b.token("/login")
    b.login(new_user(advertiser_id))
    after = csrf_of(b.get("/team").text)
    assert before != after


def test_next_never_leaves_the_site(server: Server, advertiser_id: str) -> None:
    b = Browser(server.url)
    for target in ("//evil.example/x", "https://evil.example", "/\\evil.example"):
        token = b.token("/login")  # signing in rotates it
        answer = b.client.post(
            "/login",
            data={
                "email": new_user(advertiser_id),
                "password": PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert answer.status_code == 303
        assert answer.headers["location"] == "/"
        b.client.cookies.delete("alliance_session")


def test_a_tampered_or_foreign_session_cookie_is_refused(
    server: Server, advertiser_id: str
) -> None:
    b = signed_in(server, advertiser_id)
    cookie = b.client.cookies["alliance_session"]
    b.client.cookies.set("alliance_session", cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert b.get("/team").status_code == 303
    forged = URLSafeTimedSerializer("not-our-secret", salt="alliance.session.v1").dumps(
        {"u": "usr_x", "m": "mbr_x", "t": time.time()}
    )
    b.client.cookies.set("alliance_session", forged)
    assert b.get("/team").status_code == 303


def test_sign_out_everywhere_ends_other_sessions(server: Server, advertiser_id: str) -> None:
    email = new_user(advertiser_id)
    laptop, phone = Browser(server.url), Browser(server.url)
    laptop.login(email)
    time.sleep(0.01)
    phone.login(email)
    assert laptop.get("/team").status_code == 200
    assert phone.post("/account/sign-out-everywhere").status_code == 303
    assert laptop.get("/team").status_code == 303


def test_pages_carry_a_strict_content_security_policy(server: Server) -> None:
    answer = httpx.get(f"{server.url}/login")
    csp = answer.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    assert answer.headers["x-content-type-options"] == "nosniff"
    assert answer.headers["cache-control"] == "no-store"
    assert "<script>" not in answer.text and " style=" not in answer.text
    # The API keeps its own answers (JSON problems), untouched by the page headers.
    api = httpx.get(f"{server.url}/api/v1/programs")
    assert api.status_code == 401 and api.headers["content-type"].startswith(
        "application/problem+json"
    )


def test_unknown_page_is_a_404_page(server: Server) -> None:
    answer = httpx.get(f"{server.url}/no/such/page")
    assert answer.status_code == 404 and "Page not found" in answer.text


def test_invitation_makes_a_read_only_member(server: Server, advertiser_id: str) -> None:
    owner = signed_in(server, advertiser_id, Role.owner)
    email = f"invitee-{time.time_ns()}@example.com"
    page = owner.post(
        "/team/invitations", {"email": email, "role": "read_only"}, token_from="/team"
    )
    assert page.status_code == 200
    link = re.search(r'value="(http[^"]+/invitations/[^"]+)"', page.text)
    assert link, page.text
    path = "/invitations/" + link.group(1).rsplit("/invitations/", 1)[1]

    guest = Browser(server.url)
    invite_page = guest.get(path)
    assert invite_page.status_code == 200 and email in invite_page.text
    weak = guest.post(path, {"name": "Ann", "password": "short"}, token_from=path)
    assert weak.status_code == 422 and "at least 10 characters" in weak.text
    joined = guest.post(path, {"name": "Ann", "password": PASSWORD}, token_from=path)
    assert joined.status_code == 303 and joined.headers["location"] == "/advertiser"
    assert guest.get("/team").status_code == 200
    # Read-only: sees the team, may not change it (nor anything else).
    denied = guest.post("/team/invitations", {"email": "x@example.com"}, token_from="/team")
    assert denied.status_code == 403 and "read-only" in denied.text
    # The link works once.
    again = Browser(server.url).get(path)
    assert again.status_code == 409


def test_members_cannot_manage_the_team_and_the_last_owner_stays(
    server: Server, advertiser_id: str
) -> None:
    member = signed_in(server, advertiser_id, Role.member)
    denied = member.post("/team/invitations", {"email": "y@example.com"}, token_from="/team")
    assert denied.status_code == 403

    with transaction() as session:
        adv, _ = create_advertiser(session, name="Solo Shop", country="DE", currency="EUR")
    owner = signed_in(server, adv.id, Role.owner)
    team = owner.get("/team").text
    membership = re.search(r"/team/members/(mbr_[0-9A-Z]+)/role", team)
    assert membership
    demote = owner.post(
        f"/team/members/{membership.group(1)}/role", {"role": "member"}, token_from="/team"
    )
    assert demote.status_code == 409 and "at least one owner" in demote.text


def test_operator_pages_are_closed_to_advertisers(
    server: Server, advertiser_id: str, operator_id: str
) -> None:
    adv = signed_in(server, advertiser_id)
    assert adv.get("/operator").status_code == 403
    ops = signed_in(server, operator_id)
    assert ops.get("/").headers["location"] == "/operator"


def test_switching_account(server: Server, advertiser_id: str, operator_id: str) -> None:
    email = new_user(advertiser_id)
    new_user(operator_id, Role.read_only, email=email)
    b = Browser(server.url)
    b.login(email)
    page = b.get("/team").text
    choices = re.findall(r'name="membership_id" value="(mbr_[0-9A-Z]+)"', page)
    assert len(choices) == 2
    for choice in choices:
        answer = b.post("/account/switch", {"membership_id": choice}, token_from="/team")
        assert answer.status_code == 303
    stranger = b.post("/account/switch", {"membership_id": "mbr_NOTMINE"}, token_from="/team")
    assert stranger.status_code == 403
