"""The public way in for partners: `/r/{code}` (a partner's recruit link: remembers the code
and opens the sign-up form) and `/join` (the form; it files an application the operator
approves on /operator/review). docs/referrals.md."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError

from alliance.accounts import applications
from alliance.accounts.models import Partner, PartnerType
from alliance.accounts.schemas import PartnerCreate
from alliance.crosspromo import referrals
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError
from alliance.web.auth import client_address
from alliance.web.i18n import _
from alliance.web.sessions import CsrfChecked
from alliance.web.templating import render

router = APIRouter(include_in_schema=False)

# The recruit code rides along for 90 days: a partner often signs up days after a click.
RECRUIT_COOKIE = "alliance_recruit"
RECRUIT_COOKIE_DAYS = 90
PARTNER_TYPES = [(t.value, t.value.capitalize()) for t in PartnerType]


def _recruiter_name(code: str | None) -> str | None:
    if not code:
        return None
    with reading() as session:
        recruiter = referrals.recruiter_of_code(session, code)
        if recruiter is None:
            return None
        partner = session.get(Partner, recruiter)
        return partner.name if partner else None


@router.get("/r/{code}")
def recruit_link(request: Request, code: str) -> Response:
    """A partner's recruit link: the code is kept in a cookie, then the sign-up form."""
    name = _recruiter_name(code[:16])
    if name is None:
        return render(request, "join/unknown.html", {}, status=404)
    clean = code[:16].strip().upper()
    response = RedirectResponse(f"/join?ref={clean}", status_code=302)
    response.set_cookie(
        RECRUIT_COOKIE,
        clean,
        max_age=RECRUIT_COOKIE_DAYS * 86400,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
    )
    return response


def _form_page(
    request: Request,
    values: dict[str, str],
    *,
    status: int = 200,
    error: str | None = None,
    error_field: str | None = None,
) -> Response:
    context = {
        "form": values,
        "partner_types": PARTNER_TYPES,
        "recruiter": _recruiter_name(values.get("recruit_code")),
        "error": error,
        "error_field": error_field,
    }
    return render(request, "join/form.html", context, status=status)


@router.get("/join", response_class=HTMLResponse)
def join_form(
    request: Request, ref: Annotated[str | None, Query(max_length=16)] = None
) -> Response:
    code = ref or request.cookies.get(RECRUIT_COOKIE, "")[:16]
    return _form_page(request, {"recruit_code": code.upper(), "payout_currency": "EUR"})


@router.post("/join", response_class=HTMLResponse, dependencies=[CsrfChecked])
def join(
    request: Request,
    name: Annotated[str, Form(max_length=400)] = "",
    email: Annotated[str, Form(max_length=400)] = "",
    type: Annotated[str, Form(max_length=32)] = "",
    country: Annotated[str, Form(max_length=8)] = "",
    payout_currency: Annotated[str, Form(max_length=8)] = "",
    website: Annotated[str, Form(max_length=2100)] = "",
    audience: Annotated[str, Form(max_length=2100)] = "",
    recruit_code: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    values = {
        "name": name,
        "email": email,
        "type": type,
        "country": country,
        "payout_currency": payout_currency,
        "website": website,
        "audience": audience,
        "recruit_code": recruit_code,
    }
    try:
        # The operator's own rules for a partner profile, field by field.
        checked = PartnerCreate.model_validate(
            {
                "name": name,
                "type": type,
                "country": country,
                "payout_currency": payout_currency,
                "website": website or None,
                "audience": audience,
                "email": email,
                "recruit_code": recruit_code or None,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else None
        return _form_page(
            request, values, status=422, error=_("Please check this field."), error_field=field
        )
    if checked.email is None:
        return _form_page(
            request,
            values,
            status=422,
            error=_("Please give your e-mail address."),
            error_field="email",
        )
    fingerprint = referrals.fingerprint_of(
        client_address(request), request.headers.get("user-agent", "")
    )
    try:
        with transaction() as session:
            application = applications.submit(
                session,
                applications.Signup(
                    name=checked.name,
                    email=checked.email,
                    type=checked.type,
                    country=checked.country,
                    payout_currency=checked.payout_currency,
                    website=checked.website,
                    audience=checked.audience,
                    recruit_code=checked.recruit_code,
                ),
                fingerprint,
            )
            application_id = application.id
    except AllianceError as exc:
        return _form_page(
            request, values, status=exc.status, error=exc.detail, error_field=exc.field
        )
    response = render(request, "join/thanks.html", {"application_id": application_id}, status=201)
    response.delete_cookie(RECRUIT_COOKIE)
    return response
