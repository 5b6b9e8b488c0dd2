"""The contest pages of the dashboards against a real server: the advertiser lists, creates
(times read in a named zone), watches entries (refused ones with their reason, names as the
public page shows them, addresses to the owner) and draws after the close; a read-only member
sees but cannot act; another advertiser gets 404; a partner finds its own referral link.

Accounts come from the REST API (tests/api/factories.py), entries through the public JSON
endpoint, as in tests/crosspromo/test_contests_api.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from alliance.accounts.users import Role
from alliance.clock import as_utc, utcnow
from alliance.crosspromo.contest_models import Contest, ContestDraw, ContestPartner
from alliance.db.engine import reading, transaction
from alliance.mail.models import OutgoingMail
from tests.api.factories import (
    enroll_and_approve,
    make_advertiser,
    make_partner,
    make_program,
    unique,
)
from tests.conftest import Server
from tests.web.conftest import Browser, signed_in

pytestmark = pytest.mark.xdist_group("contest-pages")

CONTEST_ID = re.compile(r"/advertiser/contests/(cst_[0-9A-Za-z]+)")
TOKEN = re.compile(r"/verify\?token=([A-Za-z0-9_\-]+)")
WINTER_CLOSE = "2031-01-15T18:00"  # Stockholm, CET: 17:00 UTC


@dataclass
class World:
    program_id: str
    program_name: str
    partner_id: str
    owner: Browser
    read_only: Browser
    other_advertiser: Browser
    partner: Browser
    outsider: Browser


@pytest.fixture(scope="module")
def world(server: Server, operator_key: str) -> Any:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        advertiser_id, adv_key = make_advertiser(http, operator_key, currency="SEK", country="SE")
        program_name = unique("Coffee club")
        program = make_program(http, adv_key, name=program_name)
        other_id, _ = make_advertiser(http, operator_key)
        partner_id, partner_key = make_partner(http, operator_key, name=unique("Brew blog"))
        enroll_and_approve(http, program["id"], partner_key, adv_key)
        outsider_id, _ = make_partner(http, operator_key)
    browsers = World(
        program_id=program["id"],
        program_name=program_name,
        partner_id=partner_id,
        owner=signed_in(server, advertiser_id),
        read_only=signed_in(server, advertiser_id, Role.read_only),
        other_advertiser=signed_in(server, other_id),
        partner=signed_in(server, partner_id),
        outsider=signed_in(server, outsider_id),
    )
    yield browsers
    for browser in (
        browsers.owner,
        browsers.read_only,
        browsers.other_advertiser,
        browsers.partner,
        browsers.outsider,
    ):
        browser.close()


def _form(program: str, **changes: str) -> dict[str, object]:
    values: dict[str, object] = {
        "program_id": program,
        "title": unique("Win a year of coffee"),
        "rules": "One prize: a year of coffee.\r\n\r\nEntrants must be 18 or older.",
        "time_zone": "Europe/Stockholm",
        "opens_at": "",
        "closes_at": WINTER_CLOSE,
        "winners": "1",
        "bonus_per_referral": "1",
        "bonus_cap": "3",
        "per_ip_limit": "1000",
        "external_source": "",
    }
    values.update(changes)
    return values


def _create(world: World, **changes: str) -> str:
    answer = world.owner.post(
        "/advertiser/contests/new",
        _form(world.program_id, **changes),
        token_from="/advertiser/contests/new",
    )
    assert answer.status_code == 303, answer.text
    found = CONTEST_ID.search(answer.headers["location"])
    assert found, answer.headers["location"]
    return found.group(1)


def _enter(http: httpx.Client, contest_id: str, email: str, **extra: Any) -> httpx.Response:
    body = {"email": email, "name": "Anna Maria Svensson", "consent": True, **extra}
    return http.post(f"/contests/{contest_id}/entries", json=body)


def _verify(http: httpx.Client, contest_id: str, entry_id: str) -> None:
    with reading() as session:
        body = session.scalars(
            select(OutgoingMail.text_body).where(OutgoingMail.about == entry_id)
        ).one()
    found = TOKEN.search(body)
    assert found, body
    assert http.get(f"/contests/{contest_id}/verify", params={"token": found.group(1)}).is_success


def _close(contest_id: str) -> None:
    """Move the close into the past (the server reads the real clock)."""
    with transaction() as session:
        session.execute(
            update(Contest)
            .where(Contest.id == contest_id)
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )


def _partner_code(contest_id: str, partner_id: str) -> str:
    with reading() as session:
        return session.scalars(
            select(ContestPartner.code).where(
                ContestPartner.contest_id == contest_id, ContestPartner.partner_id == partner_id
            )
        ).one()


def test_create_reads_the_times_in_the_named_zone_and_lists_the_contest(world: World) -> None:
    form = world.owner.get("/advertiser/contests/new")
    assert form.status_code == 200
    # The advertiser is in Sweden: its zone is chosen, and the labels say which it is.
    assert '<option value="Europe/Stockholm" selected>' in form.text
    assert "Entries close (in Europe/Stockholm)" in form.text

    contest_id = _create(world)
    with reading() as session:
        contest = session.get_one(Contest, contest_id)
    assert as_utc(contest.closes_at) == datetime(2031, 1, 15, 17, 0, tzinfo=UTC)
    assert as_utc(contest.opens_at) <= utcnow()  # empty: open now
    assert contest.rules == "One prize: a year of coffee.\n\nEntrants must be 18 or older."

    listing = world.owner.get("/advertiser/contests")
    assert listing.status_code == 200
    assert 'href="/advertiser/contests"' in listing.text  # in the navigation
    row = listing.text[listing.text.index(contest_id) - 400 :]
    assert contest.title in row and ">open<" in row
    assert re.search(r"Jan 15, 2031, 5:00\sPM UTC", row)

    page = world.owner.get(f"/advertiser/contests/{contest_id}")
    assert page.status_code == 200
    assert contest.commitment in page.text
    assert f"/contests/{contest_id}" in page.text
    assert f"/contests/{contest_id}?ref={_partner_code(contest_id, world.partner_id)}" in page.text
    assert contest.seed not in page.text  # secret until the draw


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"winners": "0"}, "winners"),
        ({"per_ip_limit": "many"}, "per_ip_limit"),
        ({"title": ""}, "title"),
        ({"closes_at": "2001-01-01T12:00"}, "closes_at"),
        ({"closes_at": ""}, "closes_at"),
        ({"closes_at": "2030-03-31T02:30"}, "closes_at"),  # skipped by daylight saving
        ({"opens_at": "2030-10-27T02:30"}, "opens_at"),  # happens twice
        ({"time_zone": "Mars/Olympus_Mons"}, "time_zone"),
        ({"program_id": "prg_00000000000000000000000000"}, "program_id"),
        ({"program_id": ""}, "program_id"),
    ],
)
def test_a_bad_field_is_a_4xx_page_naming_it(
    world: World, changes: dict[str, str], field: str
) -> None:
    values = _form(world.program_id, **changes)
    answer = world.owner.post(
        "/advertiser/contests/new", values, token_from="/advertiser/contests/new"
    )
    assert answer.status_code == 422, answer.text[:500]
    assert f"(field: {field})" in answer.text
    assert f'id="f-{field}"' in answer.text and 'aria-invalid="true"' in answer.text
    # The form comes back with what was typed.
    assert f'value="{values["title"]}"' in answer.text


def test_another_advertisers_program_is_refused(world: World) -> None:
    answer = world.other_advertiser.post(
        "/advertiser/contests/new",
        _form(world.program_id),
        token_from="/advertiser/contests/new",
    )
    assert answer.status_code == 422 and "(field: program_id)" in answer.text


def test_entries_show_status_and_reason_with_names_as_published(
    world: World, http: httpx.Client
) -> None:
    contest_id = _create(world)
    code = _partner_code(contest_id, world.partner_id)
    accepted = _enter(http, contest_id, "anna@example.com", ref=code)
    assert accepted.status_code == 201, accepted.text
    refused = _enter(http, contest_id, "x@mailinator.com")
    assert refused.status_code == 422 and refused.json()["reason"] == "disposable_domain"

    page = world.owner.get(f"/advertiser/contests/{contest_id}")
    assert "Anna S." in page.text and "Anna Maria Svensson" not in page.text
    assert "anna@example.com" in page.text  # the owner sees addresses
    assert "throwaway mailbox" in page.text

    only_refused = world.owner.get(f"/advertiser/contests/{contest_id}?status=rejected")
    assert "x@mailinator.com" in only_refused.text and "anna@example.com" not in only_refused.text
    by_reason = world.owner.get(f"/advertiser/contests/{contest_id}?reason=duplicate")
    assert "x@mailinator.com" not in by_reason.text and "No entry matches." in by_reason.text
    assert world.owner.get(f"/advertiser/contests/{contest_id}?reason=nope").status_code == 422

    listing = world.owner.get("/advertiser/contests").text
    row = listing[listing.index(contest_id) :]
    row = row[: row.index("</tr>")]
    assert re.findall(r'class="num">(\d+)<', row) == ["0", "1", "1"]  # verified, pending, refused

    mine = world.partner.get("/partner/contests")
    assert mine.status_code == 200
    row = mine.text[mine.text.index(f'id="ref-{contest_id}"') :]
    assert f"/contests/{contest_id}?ref={code}" in row
    row = row[: row.index("</tr>")]
    assert re.findall(r'class="num">(\d+)<', row) == ["0", "1"]  # verified, pending
    assert 'href="/partner/contests"' in mine.text  # in the navigation

    outsider = world.outsider.get("/partner/contests")
    assert outsider.status_code == 200 and contest_id not in outsider.text


def test_draw_after_close_with_the_announced_external_value(
    world: World, http: httpx.Client
) -> None:
    contest_id = _create(world, external_source="drand quicknet, the first round after the close")
    entries = [_enter(http, contest_id, f"entrant{i}@example.com").json() for i in range(3)]
    for entry in entries:
        _verify(http, contest_id, entry["entry_id"])

    page = world.owner.get(f"/advertiser/contests/{contest_id}")
    assert "Draw the winners" not in page.text  # not before the close
    early = world.owner.post(
        f"/advertiser/contests/{contest_id}/draw",
        {"external_value": "abc"},
        token_from="/advertiser/contests",
    )
    assert early.status_code == 409

    _close(contest_id)
    page = world.owner.get(f"/advertiser/contests/{contest_id}")
    assert "Draw the winners" in page.text and 'name="external_value"' in page.text
    watching = world.read_only.get(f"/advertiser/contests/{contest_id}")
    assert watching.status_code == 200 and "Draw the winners" not in watching.text
    refused = world.read_only.post(
        f"/advertiser/contests/{contest_id}/draw",
        {"external_value": "abc"},
        token_from="/advertiser/contests",
    )
    assert refused.status_code == 403

    missing = world.owner.post(
        f"/advertiser/contests/{contest_id}/draw",
        {"external_value": " "},
        token_from="/advertiser/contests",
    )
    assert missing.status_code == 422 and "(field: external_value)" in missing.text

    drawn = world.owner.post(
        f"/advertiser/contests/{contest_id}/draw",
        {"external_value": "a3f1c0ffee"},
        token_from="/advertiser/contests",
    )
    assert drawn.status_code == 303, drawn.text[:500]
    with reading() as session:
        record = session.get_one(ContestDraw, contest_id)
        contest = session.get_one(Contest, contest_id)
    page = world.owner.get(f"/advertiser/contests/{contest_id}")
    assert ">drawn<" in page.text
    winner = record.winners[0]
    assert winner in page.text and "Anna S." in page.text
    assert contest.seed in page.text and record.entries_hash in page.text
    assert "alliance contests verify --commitment " + contest.commitment in page.text
    assert "--external a3f1c0ffee" in page.text

    again = world.owner.post(
        f"/advertiser/contests/{contest_id}/draw",
        {"external_value": "a3f1c0ffee"},
        token_from="/advertiser/contests",
    )
    assert again.status_code == 409


def test_another_advertiser_gets_404(world: World) -> None:
    contest_id = _create(world)
    other = world.other_advertiser
    assert other.get(f"/advertiser/contests/{contest_id}").status_code == 404
    assert contest_id not in other.get("/advertiser/contests").text
    _close(contest_id)
    drawn = other.post(
        f"/advertiser/contests/{contest_id}/draw", {}, token_from="/advertiser/contests"
    )
    assert drawn.status_code == 404
    assert world.partner.get(f"/advertiser/contests/{contest_id}").status_code == 403
    assert world.owner.get("/advertiser/contests/cst_nonsense").status_code == 404


def test_a_read_only_member_sees_the_form_but_cannot_create(world: World) -> None:
    page = world.read_only.get("/advertiser/contests/new")
    assert page.status_code == 200 and "Create contest" not in page.text
    assert "New contest" not in world.read_only.get("/advertiser/contests").text.split("<main")[1]
    answer = world.read_only.post(
        "/advertiser/contests/new", _form(world.program_id), token_from="/advertiser/contests"
    )
    assert answer.status_code == 403
