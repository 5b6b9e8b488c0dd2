"""Contests over HTTP on a real server: /api/v1/contests for the advertiser, the operator and
partners (each sees only what is theirs), the public page and entry endpoint (JSON and the
page's form), the mailed verification link, the draw, the published entry list and values,
and `alliance contests verify` re-running the draw from what was published."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update

from alliance.clock import utcnow
from alliance.crosspromo.contest_models import Contest
from alliance.db.engine import reading, transaction
from alliance.mail.models import OutgoingMail
from tests.api.factories import (
    API,
    auth,
    enroll_and_approve,
    expect,
    make_advertiser,
    make_partner,
    make_program,
)
from tests.conftest import ROOT, Server
from tests.web.conftest import csrf_of

pytestmark = pytest.mark.xdist_group("contests")

TOKEN = re.compile(r"/verify\?token=([A-Za-z0-9_\-]+)")


def _contest_body(program_id: str, **changes: Any) -> dict[str, Any]:
    now = utcnow()
    body = {
        "program_id": program_id,
        "title": "Win a year of coffee",
        "rules": "One prize: a year of coffee.\n\nEntrants must be 18 or older.",
        "opens_at": now.isoformat(),
        "closes_at": (now + timedelta(days=7)).isoformat(),
        "winners": 1,
        "bonus_per_referral": 1,
        "bonus_cap": 3,
        "per_ip_limit": 1000,
    }
    body.update(changes)
    return body


@pytest.fixture(scope="module")
def network(server: Server, operator_key: str) -> dict[str, Any]:
    with httpx.Client(base_url=server.url, timeout=15) as http:
        _, adv_key = make_advertiser(http, operator_key, currency="EUR", country="DE")
        program = make_program(http, adv_key, currency="EUR")
        _, other_adv_key = make_advertiser(http, operator_key)
        partner_id, partner_key = make_partner(http, operator_key)
        enroll_and_approve(http, program["id"], partner_key, adv_key)
        _, outsider_key = make_partner(http, operator_key)
    return {
        "adv_key": adv_key,
        "other_adv_key": other_adv_key,
        "program_id": program["id"],
        "partner_id": partner_id,
        "partner_key": partner_key,
        "outsider_key": outsider_key,
    }


def _create(http: httpx.Client, network: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = _contest_body(network["program_id"], **changes)
    data: dict[str, Any] = expect(
        http.post(f"{API}/contests", json=body, headers=auth(network["adv_key"])), 201
    )
    return data


def _token(entry_id: str) -> str:
    with reading() as session:
        body = session.scalars(
            select(OutgoingMail.text_body).where(OutgoingMail.about == entry_id)
        ).one()
    found = TOKEN.search(body)
    assert found, body
    return found.group(1)


def _close(contest_id: str) -> None:
    """Move the contest's close into the past (the server reads the real clock)."""
    with transaction() as session:
        session.execute(
            update(Contest)
            .where(Contest.id == contest_id)
            .values(closes_at=utcnow() - timedelta(seconds=1))
        )


def _enter(http: httpx.Client, contest_id: str, email: str, **extra: Any) -> httpx.Response:
    body = {"email": email, "name": "Anna Svensson", "consent": True, **extra}
    return http.post(f"/contests/{contest_id}/entries", json=body)


def test_an_advertiser_creates_a_contest_and_each_account_sees_its_part(
    http: httpx.Client, network: dict[str, Any], operator_key: str
) -> None:
    contest = _create(http, network)
    assert contest["status"] == "open"
    assert re.fullmatch(r"[0-9a-f]{64}", contest["commitment"])
    assert contest["public_url"].endswith(f"/contests/{contest['id']}")
    assert contest["counts"] == {"total": 0, "pending": 0, "verified": 0, "rejected": 0}
    assert "seed" not in contest

    mine = expect(
        http.get(f"{API}/contests/{contest['id']}", headers=auth(network["partner_key"])), 200
    )
    assert mine["counts"] is None
    link = mine["partner"]["referral_link"]
    assert link.endswith(f"/contests/{contest['id']}?ref={mine['partner']['referral_code']}")
    listed = expect(http.get(f"{API}/contests", headers=auth(network["partner_key"])), 200)
    assert contest["id"] in [c["id"] for c in listed["data"]]

    for key in (network["outsider_key"], network["other_adv_key"]):
        assert http.get(f"{API}/contests/{contest['id']}", headers=auth(key)).status_code == 404
        listed = expect(http.get(f"{API}/contests", headers=auth(key)), 200)
        assert contest["id"] not in [c["id"] for c in listed["data"]]
    assert (
        http.get(
            f"{API}/contests/{contest['id']}/entries", headers=auth(network["partner_key"])
        ).status_code
        == 403
    )
    seen = expect(http.get(f"{API}/contests/{contest['id']}", headers=auth(operator_key)), 200)
    assert seen["commitment"] == contest["commitment"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"closes_at": "2000-01-01T00:00:00+00:00"}, "closes_at"),
        ({"opens_at": "2030-01-01T00:00:00"}, "opens_at"),  # no time zone
        ({"winners": 0}, "winners"),
        ({"per_ip_limit": 0}, "per_ip_limit"),
        ({"title": ""}, "title"),
        ({"rules": "a\x00b"}, "rules"),
        ({"program_id": "prg_00000000000000000000000000"}, "program_id"),
        ({"program_id": "nonsense"}, "program_id"),
        ({"seed": "00"}, "seed"),
    ],
)
def test_bad_contest_input_is_a_4xx_naming_the_field(
    http: httpx.Client, network: dict[str, Any], changes: dict[str, Any], field: str
) -> None:
    body = {**_contest_body(network["program_id"]), **changes}
    answer = http.post(f"{API}/contests", json=body, headers=auth(network["adv_key"]))
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field


def test_another_advertisers_program_is_not_found(
    http: httpx.Client, network: dict[str, Any]
) -> None:
    body = _contest_body(network["program_id"])
    answer = http.post(f"{API}/contests", json=body, headers=auth(network["other_adv_key"]))
    assert answer.status_code == 422 and answer.json()["field"] == "program_id"


def test_entries_by_json_accepted_refused_and_listed_for_the_owner(
    http: httpx.Client, network: dict[str, Any]
) -> None:
    contest = _create(http, network, per_ip_limit=3)
    cid = contest["id"]
    first = _enter(http, cid, "Coffee.Lover+x@gmail.com")
    assert first.status_code == 201, first.text
    entry_id = first.json()["entry_id"]
    assert first.json()["status"] == "pending"

    refusals = [
        ("coffeelover@googlemail.com", 409, "duplicate", "email"),
        ("x@mailinator.com", 422, "disposable_domain", "email"),
        ("not-an-address", 422, "bad_email", "email"),
    ]
    for email, status, reason, field in refusals:
        answer = _enter(http, cid, email)
        assert answer.status_code == status, answer.text
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert (problem["reason"], problem["field"]) == (reason, field)
        assert problem["entry_id"].startswith("ent_")
    assert _enter(http, cid, "second@example.com").status_code == 201
    assert _enter(http, cid, "third@example.com").status_code == 201
    limited = _enter(http, cid, "fourth@example.com")  # all tests come from 127.0.0.1
    assert limited.status_code == 429 and limited.json()["reason"] == "ip_limit"

    headers = auth(network["adv_key"])
    everything = expect(http.get(f"{API}/contests/{cid}/entries", headers=headers), 200)
    assert len(everything["data"]) == 7
    rejected = expect(
        http.get(f"{API}/contests/{cid}/entries?status=rejected", headers=headers), 200
    )
    assert {e["reason"] for e in rejected["data"]} == {
        "duplicate",
        "disposable_domain",
        "bad_email",
        "ip_limit",
    }
    dup = expect(http.get(f"{API}/contests/{cid}/entries?reason=duplicate", headers=headers), 200)
    assert [e["email"] for e in dup["data"]] == ["coffeelover@googlemail.com"]
    assert http.get(f"{API}/contests/{cid}/entries?reason=nope", headers=headers).status_code == 422
    counts = expect(http.get(f"{API}/contests/{cid}", headers=headers), 200)["counts"]
    assert counts == {"total": 7, "pending": 3, "verified": 0, "rejected": 4}
    assert any(e["id"] == entry_id for e in everything["data"])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"email": "a@example.com", "name": "A", "consent": False}, "consent"),
        ({"email": "a@example.com", "name": "A"}, "consent"),
        ({"email": "a@example.com", "name": "", "consent": True}, "name"),
        ({"email": "a@example.com", "name": "A\nB", "consent": True}, "name"),
        ({"email": "a@example.com", "name": "A", "consent": True, "x": 1}, "x"),
        ({"email": "a" * 400, "name": "A", "consent": True}, "email"),
        ([1, 2], "body"),
    ],
)
def test_bad_entry_input_is_a_4xx_naming_the_field(
    http: httpx.Client, network: dict[str, Any], body: Any, field: str
) -> None:
    contest = _create(http, network)
    answer = http.post(f"/contests/{contest['id']}/entries", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert answer.json()["field"] == field


def test_malformed_requests_to_the_entry_endpoint_are_4xx(
    http: httpx.Client, network: dict[str, Any]
) -> None:
    contest = _create(http, network)
    path = f"/contests/{contest['id']}/entries"
    broken = http.post(path, content=b"{", headers={"content-type": "application/json"})
    assert broken.status_code == 422 and broken.json()["field"] == "body"
    wrong_type = http.post(path, content=b"email=a", headers={"content-type": "text/plain"})
    assert wrong_type.status_code == 415
    missing = http.post(
        "/contests/cst_00000000000000000000000000/entries",
        json={"email": "a@example.com", "name": "A", "consent": True},
    )
    assert missing.status_code == 404
    assert http.get("/contests/nonsense").status_code == 404


def test_the_public_page_form_and_verification(http: httpx.Client, network: dict[str, Any]) -> None:
    contest = _create(http, network)
    cid = contest["id"]
    partner = expect(http.get(f"{API}/contests/{cid}", headers=auth(network["partner_key"])), 200)[
        "partner"
    ]
    page = http.get(f"/contests/{cid}?ref={partner['referral_code']}")
    assert page.status_code == 200
    assert contest["commitment"] in page.text and "Win a year of coffee" in page.text
    assert f'value="{partner["referral_code"]}"' in page.text

    form = {
        "email": "Reader@Example.com",
        "name": "Ulla Reader",
        "ref": partner["referral_code"],
        "consent": "1",
    }
    # Without the page's CSRF token the form is refused (another site cannot post it).
    with httpx.Client(base_url=str(http.base_url), timeout=15) as stranger:
        assert stranger.post(f"/contests/{cid}/entries", data=form).status_code == 403
    token = csrf_of(page.text)
    entered = http.post(f"/contests/{cid}/entries", data={**form, "csrf_token": token})
    assert entered.status_code == 201, entered.text
    entry_id = re.search(r"ent_[0-9A-Z]{26}", entered.text)
    assert entry_id is not None
    again = http.post(f"/contests/{cid}/entries", data={**form, "csrf_token": token})
    assert again.status_code == 409 and "already entered" in again.text

    verified = http.get(f"/contests/{cid}/verify", params={"token": _token(entry_id.group())})
    assert verified.status_code == 200, verified.text
    assert "Your entry is confirmed" in verified.text
    assert re.search(rf"/contests/{cid}\?ref=[0-9a-f]{{10}}", verified.text)
    assert http.get(f"/contests/{cid}/verify", params={"token": "wrong"}).status_code == 404

    counts = expect(http.get(f"{API}/contests/{cid}", headers=auth(network["partner_key"])), 200)[
        "partner"
    ]
    assert (counts["entries"], counts["verified"], counts["rejected"]) == (2, 1, 1)


def test_the_draw_is_published_and_reruns_from_the_published_values(
    http: httpx.Client, network: dict[str, Any], tmp_path: Path
) -> None:
    contest = _create(http, network, winners=2)
    cid = contest["id"]
    ids = []
    for n in range(4):
        answer = _enter(http, cid, f"drawn{n}@example.com", name=f"Drawn{n} Person")
        ids.append(answer.json()["entry_id"])
    for entry_id in ids[:3]:
        assert (
            http.get(f"/contests/{cid}/verify", params={"token": _token(entry_id)}).status_code
            == 200
        )
    headers = auth(network["adv_key"])
    early = http.post(f"{API}/contests/{cid}/draw", headers=headers)
    assert early.status_code == 409
    assert http.get(f"/contests/{cid}/entries.csv").status_code == 404
    before = expect(http.get(f"/contests/{cid}/draw.json"), 200)
    assert before["seed"] is None and before["commitment"] == contest["commitment"]

    _close(cid)
    assert (
        http.post(f"{API}/contests/{cid}/draw", headers=auth(network["partner_key"])).status_code
        == 403
    )
    results = expect(http.post(f"{API}/contests/{cid}/draw", headers=headers), 201)
    assert results["status"] == "drawn"
    assert hashlib.sha256(bytes.fromhex(results["seed"])).hexdigest() == contest["commitment"]
    assert len(results["winners"]) == 2
    assert {w["entry_id"] for w in results["winners"]} <= set(ids[:3])
    assert all(re.fullmatch(r"Drawn\d P\.", w["name"]) for w in results["winners"])
    assert http.post(f"{API}/contests/{cid}/draw", headers=headers).status_code == 409

    csv = http.get(f"/contests/{cid}/entries.csv")
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert hashlib.sha256(csv.content).hexdigest() == results["entries_hash"]
    assert "@" not in csv.text and ids[3] not in csv.text  # no addresses; unverified left out
    published = expect(http.get(f"/contests/{cid}/draw.json"), 200)
    assert published["winners"] == results["winners"]
    public = expect(
        http.get(f"{API}/contests/{cid}/results", headers=auth(network["partner_key"])), 200
    )
    assert public["randomness"] == results["randomness"]
    page = http.get(f"/contests/{cid}")
    assert results["seed"] in page.text
    for winner in results["winners"]:
        assert winner["name"] in page.text
    assert "@example.com" not in page.text

    # Anyone re-runs it: the CLI, from the published values only.
    entries = tmp_path / f"{cid}-entries.csv"
    entries.write_bytes(csv.content)
    command = [
        sys.executable, "-m", "alliance.cli", "contests", "verify",
        "--commitment", published["commitment"], "--seed", published["seed"],
        "--entries", str(entries), "--winners", "2",
        "--entries-hash", published["entries_hash"],
    ]  # fmt: skip
    ran = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert "commitment  matches" in ran.stdout
    drawn = re.findall(r"winner \d+\s+(ent_\w+)", ran.stdout)
    assert drawn == [w["entry_id"] for w in results["winners"]]
    tampered = tmp_path / "tampered.csv"
    tampered.write_bytes(csv.content.replace(b",1\n", b",2\n", 1))
    wrong = subprocess.run(
        [*command[:10], str(tampered), *command[11:]],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert wrong.returncode == 1 and "not the published list hash" in wrong.stdout


def test_external_randomness_is_given_at_the_draw(
    http: httpx.Client, network: dict[str, Any]
) -> None:
    contest = _create(http, network, external_source="drand quicknet round 9000000")
    cid = contest["id"]
    _close(cid)
    headers = auth(network["adv_key"])
    missing = http.post(f"{API}/contests/{cid}/draw", json={}, headers=headers)
    assert missing.status_code == 422 and missing.json()["field"] == "external_value"
    value = "b" * 64
    drawn = expect(
        http.post(f"{API}/contests/{cid}/draw", json={"external_value": value}, headers=headers),
        201,
    )
    assert drawn["external_value"] == value
    assert drawn["winners"] == []  # nobody entered
    assert f"--external {value}" in drawn["verify_command"]
