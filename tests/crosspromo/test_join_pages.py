"""A partner recruits another through the real server: the recruit link, the public sign-up
form, the operator's approval in the review queue, the referral it records (refused when
the sign-up comes from the recruiter's own device), and the recruiter's referrals page."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from alliance.accounts.models import Partner, PartnerApplication
from alliance.accounts.service import create_operator
from alliance.accounts.users import Invitation
from alliance.crosspromo import referrals
from alliance.crosspromo.referral_models import PartnerReferral
from alliance.db.engine import reading, transaction
from tests.conftest import Server
from tests.conversions.factories import partner
from tests.web.conftest import Browser, signed_in


def _recruiter() -> tuple[str, str]:
    with transaction() as session:
        row = partner(session, "Recruiting Blog")
        return row.id, referrals.recruit_code(session, row.id)


def _apply(b: Browser, email: str, code: str = "", **extra: str) -> tuple[int, str]:
    form = {
        "name": "New Deals Site",
        "email": email,
        "type": "deals",
        "country": "FR",
        "payout_currency": "EUR",
        "website": "https://deals.example",
        "audience": "Bargain hunters in France",
        "recruit_code": code,
        **extra,
    }
    answer = b.post("/join", form, token_from="/join")
    return answer.status_code, answer.text


def _operator(server: Server) -> Browser:
    with transaction() as session:
        operator, _key = create_operator(session, "Ops")
    return signed_in(server, operator.id)


def test_a_recruit_link_leads_to_an_application_the_operator_approves(server: Server) -> None:
    recruiter, code = _recruiter()
    visitor = Browser(server.url)
    landing = visitor.get(f"/r/{code.lower()}")
    assert landing.status_code == 302 and landing.headers["location"] == f"/join?ref={code}"
    assert visitor.client.cookies.get("alliance_recruit") == code
    form = visitor.get("/join")  # the cookie fills the code in
    assert f'value="{code}"' in form.text and "Recommended by Recruiting Blog" in form.text
    assert visitor.get("/r/NOSUCHCODE").status_code == 404

    email = f"deals-{uuid.uuid4().hex[:8]}@example.com"
    status, page = _apply(visitor, email, code)
    assert status == 201, page
    with reading() as session:
        application = session.scalars(
            select(PartnerApplication).where(PartnerApplication.email == email)
        ).one()
    assert application.recruit_code == code and application.status == "pending"
    assert application.ip_hash and application.device_hash  # hashes, never the raw values
    assert _apply(visitor, email, code)[0] == 201  # a double submit: the same application

    ops = _operator(server)
    queue = ops.get("/operator/review")
    assert f"signup-{application.id}" in queue.text and "Recruiting Blog" in queue.text
    decided = ops.post(
        f"/operator/review/signups/{application.id}/approve", token_from="/operator/review"
    )
    assert decided.status_code == 303
    with reading() as session:
        application = session.get(PartnerApplication, application.id)
        assert application is not None and application.status == "approved"
        new = session.get(Partner, application.partner_id)
        assert new is not None and new.email == email and new.type == "deals"
        referral = session.scalars(
            select(PartnerReferral).where(PartnerReferral.recruit_id == new.id)
        ).one()
        assert (referral.recruiter_id, referral.status) == (recruiter, "active")
        assert referral.evidence["device_checked"] is True
        assert session.scalars(select(Invitation).where(Invitation.email == email)).first()
    again = ops.post(
        f"/operator/review/signups/{application.id}/approve", token_from="/operator/review"
    )
    assert again.status_code == 303  # refused with a message, nothing created twice
    with reading() as session:
        assert len(session.scalars(select(Partner).where(Partner.email == email)).all()) == 1

    # The recruiter sees its recruit.
    page = signed_in(server, recruiter).get("/partner/referrals")
    assert page.status_code == 200
    assert f"/r/{code}" in page.text and "New Deals Site" in page.text


def test_signing_up_from_the_recruiters_own_browser_earns_nothing(server: Server) -> None:
    recruiter, code = _recruiter()
    me = signed_in(server, recruiter)  # the sign-in notes this browser's hashed pair
    email = f"me-again-{uuid.uuid4().hex[:8]}@example.com"
    status, page = _apply(me, email, code)
    assert status == 201, page
    with reading() as session:
        application_id = session.scalars(
            select(PartnerApplication.id).where(PartnerApplication.email == email)
        ).one()
    ops = _operator(server)
    ops.post(f"/operator/review/signups/{application_id}/approve", token_from="/operator/review")
    with reading() as session:
        new_id = session.scalars(select(Partner.id).where(Partner.email == email)).one()
        referral = session.scalars(
            select(PartnerReferral).where(PartnerReferral.recruit_id == new_id)
        ).one()
    assert (referral.status, referral.reason) == ("refused", "same_device")
    page = me.get("/partner/referrals")
    assert "signed up from your own device" in page.text


def test_the_form_names_the_field_at_fault(server: Server) -> None:
    b = Browser(server.url)
    status, page = _apply(b, "not-an-address")
    assert status == 422 and "field: email" in page
    status, page = _apply(b, f"x-{uuid.uuid4().hex[:8]}@example.com", country="France")
    assert status == 422 and "field: country" in page
    status, page = _apply(b, f"y-{uuid.uuid4().hex[:8]}@example.com", "ZZZZ2345")
    assert status == 422 and "field: recruit_code" in page
    no_token = b.client.post("/join", data={"name": "x"})
    assert no_token.status_code == 403


def test_the_operator_rejects_with_a_reason(server: Server) -> None:
    b = Browser(server.url)
    email = f"spam-{uuid.uuid4().hex[:8]}@example.com"
    assert _apply(b, email)[0] == 201
    with reading() as session:
        application_id = session.scalars(
            select(PartnerApplication.id).where(PartnerApplication.email == email)
        ).one()
    ops = _operator(server)
    ops.post(f"/operator/review/signups/{application_id}/reject", token_from="/operator/review")
    with reading() as session:
        assert session.get(PartnerApplication, application_id).status == "pending"  # type: ignore[union-attr]
    ops.post(
        f"/operator/review/signups/{application_id}/reject",
        {"reason": "no website content"},
        token_from="/operator/review",
    )
    with reading() as session:
        application = session.get(PartnerApplication, application_id)
        assert application is not None
        assert (application.status, application.reason) == ("rejected", "no website content")


def test_an_advertiser_sets_its_programs_referral_terms(server: Server) -> None:
    from tests.conversions.factories import world

    w = world(terms={"type": "cps", "percent": "10"}, lock_days=0)
    page = f"/advertiser/programs/{w.program_id}"
    adv = signed_in(server, w.advertiser_id)
    assert "Referral overrides" in adv.get(page).text
    refused = adv.post(
        f"{page}/referral-terms",
        {"percents": "150", "months": "6", "funded_by": "advertiser"},
        token_from=page,
    )
    assert refused.status_code == 303
    assert "percents" in adv.get(page).text or "at most 100" in adv.get(page).text
    saved = adv.post(
        f"{page}/referral-terms",
        {"percents": "5, 1", "months": "6", "funded_by": "advertiser"},
        token_from=page,
    )
    assert saved.status_code == 303
    with reading() as session:
        terms = referrals.terms_of(session, w.program_id)
        assert terms is not None
        assert (terms.percents, terms.months, terms.funded_by) == (["5", "1"], 6, "advertiser")
    shown = adv.get(page).text
    assert "This program" in shown and "5% / 1%" in shown, shown[shown.find('id="referrals"') :][
        :900
    ]
    adv.post(f"{page}/referral-terms", {"use_network": "1"}, token_from=page)
    with reading() as session:
        assert referrals.terms_of(session, w.program_id) is None
