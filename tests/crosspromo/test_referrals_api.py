"""The referrals API through the real server: recruit links, recording a referral when the
operator creates a partner, terms and who may set them, who sees which override."""

from __future__ import annotations

from datetime import timedelta

import httpx

from alliance.accounts.models import AccountKind
from alliance.accounts.service import issue_api_key
from alliance.db.engine import transaction
from tests.api.factories import API, auth, expect, make_advertiser, make_partner, make_program
from tests.conftest import Server
from tests.crosspromo.referral_factories import recruited
from tests.crosspromo.test_referrals import RECRUITED, _order
from tests.web.conftest import signed_in


def _key(kind: AccountKind, account_id: str) -> dict[str, str]:
    with transaction() as session:
        return auth(issue_api_key(session, kind, account_id))


def test_a_partner_recruits_through_its_code(http: httpx.Client, operator_key: str) -> None:
    recruiter, recruiter_key = make_partner(http, operator_key)
    mine = expect(http.get(f"{API}/referrals/me", headers=auth(recruiter_key)), 200)
    code = mine["code"]
    assert mine["url"].endswith(f"/r/{code}") and mine["recruits"] == 0
    assert expect(http.get(f"{API}/referrals/me", headers=auth(recruiter_key)), 200) == mine

    bad = http.post(
        f"{API}/partners",
        json={
            "name": "Typo",
            "type": "deals",
            "country": "FR",
            "payout_currency": "EUR",
            "recruit_code": "ZZZZ9999",
        },
        headers=auth(operator_key),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "recruit_code"

    recruit, recruit_key = make_partner(http, operator_key, recruit_code=code.lower())
    [row] = expect(http.get(f"{API}/referrals", headers=auth(recruit_key)), 200)["data"]
    assert (row["recruiter_id"], row["recruit_id"], row["status"]) == (recruiter, recruit, "active")
    assert row["earned"] == []
    mine = expect(http.get(f"{API}/referrals/me", headers=auth(recruiter_key)), 200)
    assert (mine["recruits"], mine["active_recruits"]) == (1, 1)
    assert (
        expect(http.get(f"{API}/referrals/me", headers=auth(recruit_key)), 200)["recruiter_id"]
        == recruiter
    )

    # Somebody else sees neither the referral nor its id.
    _, stranger_key = make_partner(http, operator_key)
    assert expect(http.get(f"{API}/referrals", headers=auth(stranger_key)), 200)["data"] == []
    assert http.get(f"{API}/referrals/{row['id']}", headers=auth(stranger_key)).status_code == 404
    seen = expect(http.get(f"{API}/referrals/{row['id']}", headers=auth(operator_key)), 200)
    assert seen["id"] == row["id"]

    # Recording a second recruiter for the same partner is a conflict.
    _, other_key = make_partner(http, operator_key)
    other_code = expect(http.get(f"{API}/referrals/me", headers=auth(other_key)), 200)["code"]
    clash = http.post(
        f"{API}/referrals",
        json={"recruit_id": recruit, "recruit_code": other_code},
        headers=auth(operator_key),
    )
    assert clash.status_code == 409 and clash.json()["field"] == "recruit_code"
    assert http.post(
        f"{API}/referrals",
        json={"recruit_id": recruit, "recruit_code": code},
        headers=auth(recruiter_key),
    ).status_code in (401, 403)


def test_terms_are_checked_and_set_by_those_allowed(http: httpx.Client, operator_key: str) -> None:
    bad = http.put(
        f"{API}/referral-terms",
        json={"percents": ["150"], "months": 12},
        headers=auth(operator_key),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "percents"
    bad = http.put(
        f"{API}/referral-terms",
        json={"percents": ["5"], "months": 0},
        headers=auth(operator_key),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "months"
    bad = http.put(
        f"{API}/referral-terms",
        json={"percents": ["5"], "months": 6, "funded_by": "partner"},
        headers=auth(operator_key),
    )
    assert bad.status_code == 422 and bad.json()["field"] == "funded_by"

    _, adv_key = make_advertiser(http, operator_key)
    program = make_program(http, adv_key)
    _, other_adv_key = make_advertiser(http, operator_key)
    _, partner_key = make_partner(http, operator_key)
    url = f"{API}/programs/{program['id']}/referral-terms"
    body = {"percents": ["12.5", "2"], "months": 24, "funded_by": "advertiser"}
    saved = expect(http.put(url, json=body, headers=auth(adv_key)), 200)
    assert saved == {**saved, "scope": program["id"], "percents": ["12.5", "2"], "months": 24}
    assert http.put(url, json=body, headers=auth(other_adv_key)).status_code == 404
    assert http.put(url, json=body, headers=auth(partner_key)).status_code == 403
    # Partners read the terms of programs they can see (an active program).
    assert expect(http.get(url, headers=auth(partner_key)), 200)["percents"] == ["12.5", "2"]
    assert http.delete(url, headers=auth(adv_key)).status_code == 204
    gone = http.get(f"{url}?effective=false", headers=auth(adv_key))
    assert gone.status_code == 404


def test_a_network_funded_override_is_hidden_from_the_advertiser(
    http: httpx.Client, operator_key: str
) -> None:
    c = recruited(funded_by="network", at=RECRUITED)
    _order(c, "300.00", RECRUITED + timedelta(days=2))
    recruiter_key = _key(AccountKind.partner, c.recruiter)
    adv_key = _key(AccountKind.advertiser, c.w.advertiser_id)
    query = f"{API}/commissions?program_id={c.w.program_id}"
    overrides = expect(http.get(query, headers=recruiter_key), 200)["data"]
    assert [(row["kind"], row["amount"]) for row in overrides] == [("referral", "3.00")]
    kinds = {row["kind"] for row in expect(http.get(query, headers=adv_key), 200)["data"]}
    assert kinds == {"sale"}
    both = expect(http.get(query, headers=auth(operator_key)), 200)["data"]
    assert {row["kind"] for row in both} == {"sale", "referral"}
    [row] = expect(
        http.get(f"{API}/referrals?recruiter_id={c.recruiter}", headers=recruiter_key), 200
    )["data"]
    assert row["earned"] == [{"currency": "EUR", "amount": "3.00"}]


def test_both_partners_statements_show_the_override(server: Server) -> None:
    c = recruited(funded_by="network", at=RECRUITED)
    _order(c, "400.00", RECRUITED + timedelta(days=2))
    recruit_page = signed_in(server, c.recruit).get("/partner/statement")
    assert recruit_page.status_code == 200
    assert "Your recruiter (level 1) earns" in recruit_page.text
    assert "paid by the network: not taken from you" in recruit_page.text
    recruiter_page = signed_in(server, c.recruiter).get("/partner/statement")
    assert f"your recruit {c.recruit}&#39;s approved commission) = 4.00 EUR" in recruiter_page.text
