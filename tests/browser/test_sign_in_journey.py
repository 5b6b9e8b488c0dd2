"""Sign-in, team invitation and a read-only teammate, in Chromium (desktop and phone)."""

from __future__ import annotations

import time

from alliance.accounts.service import create_advertiser
from alliance.accounts.users import Role
from alliance.db.engine import transaction
from tests.browser.conftest import Shots, audit, sign_in, watch
from tests.conftest import Server
from tests.web.conftest import PASSWORD, new_user


def test_owner_invites_a_read_only_teammate(server: Server, context: object, shots: Shots) -> None:
    with transaction() as session:
        adv, _ = create_advertiser(
            session, name="Nordic Outdoor <b>AB</b>", country="SE", currency="SEK"
        )
    owner_email = new_user(adv.id, Role.owner)

    page = context.new_page()  # type: ignore[attr-defined]
    problems = watch(page)
    page.goto(f"{server.url}/team")
    assert "/login" in page.url  # not signed in: sent to sign in, and back after
    shots.take(page, "sign-in")
    assert audit(page) == []
    page.get_by_label("E-mail").fill(owner_email)
    page.get_by_label("Password").fill("a wrong password")
    page.get_by_role("button", name="Sign in").click()
    assert page.get_by_role("alert").inner_text().startswith("The e-mail address or the password")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{server.url}/team")
    # The account name is data: shown as text, never as markup.
    assert page.get_by_role("heading", level=1).inner_text() == "Team of Nordic Outdoor <b>AB</b>"
    shots.take(page, "team")
    assert audit(page) == []

    invitee = f"analyst-{time.time_ns()}@example.com"
    page.get_by_label("E-mail").fill(invitee)
    page.get_by_label("Role", exact=True).select_option("read_only")
    page.get_by_role("button", name="Create invitation").click()
    link = page.get_by_label("Invitation link").input_value()
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=server.url)  # type: ignore[attr-defined]
    page.get_by_role("button", name="Copy").click()
    page.get_by_role("button", name="Copied").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == link
    shots.take(page, "invitation-created")

    guest = context.browser.new_context(viewport={"width": 375, "height": 740})  # type: ignore[attr-defined]
    phone = guest.new_page()
    phone_problems = watch(phone)
    # The link is built on the network's public URL; this test server listens elsewhere.
    phone.goto(server.url + "/invitations/" + link.rsplit("/invitations/", 1)[1])
    assert invitee in phone.content()
    phone.get_by_label("Your name").fill("Ana Lyst")
    phone.get_by_label("Choose a password").fill(PASSWORD)
    shots.take(phone, "invitation-phone")
    assert audit(phone) == []
    phone.get_by_role("button", name="Create my user and join").click()
    phone.wait_for_url(f"{server.url}/**")
    phone.goto(f"{server.url}/team")
    assert phone.get_by_text("Ana Lyst").is_visible()
    # Read-only: no invitation form, no role controls.
    assert phone.get_by_role("button", name="Create invitation").count() == 0
    shots.take(phone, "team-read-only-phone")
    assert audit(phone) == []

    phone.locator("summary").first.click()
    phone.get_by_role("button", name="Sign out").click()
    phone.wait_for_url(f"{server.url}/login")
    assert phone.get_by_role("status").inner_text() == "You are signed out."
    guest.close()
    assert problems == [] and phone_problems == []


def test_the_account_switcher(server: Server, context: object, shots: Shots) -> None:
    with transaction() as session:
        first, _ = create_advertiser(session, name="Switch One", country="DE", currency="EUR")
        second, _ = create_advertiser(session, name="Switch Two", country="FR", currency="EUR")
    email = new_user(first.id, Role.owner)
    new_user(second.id, Role.member, email=email)
    page = context.new_page()  # type: ignore[attr-defined]
    problems = watch(page)
    sign_in(page, server.url, email, PASSWORD)
    page.goto(f"{server.url}/team")
    assert page.get_by_role("heading", level=1).inner_text() == "Team of Switch One"
    page.locator("summary").first.click()
    shots.take(page, "switcher-open")
    page.get_by_role("button", name="Switch Two").click()
    page.goto(f"{server.url}/team")
    assert page.get_by_role("heading", level=1).inner_text() == "Team of Switch Two"
    assert problems == []
