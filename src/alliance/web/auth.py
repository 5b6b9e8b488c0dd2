"""Sign-in, sign-out, switching account, accepting an invitation, and the user's own settings."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alliance.accounts import people
from alliance.accounts.users import Invitation
from alliance.crosspromo import referrals
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError, Forbidden
from alliance.settings import get_settings
from alliance.tracking.visitor import client_ip
from alliance.web import i18n, sessions
from alliance.web.i18n import _, ngettext
from alliance.web.sessions import CsrfChecked, MaybeSignedIn, SignedIn
from alliance.web.templating import render

router = APIRouter()

Text = Annotated[str, Form(max_length=1024)]
OptionalText = Annotated[str, Form(max_length=1024)]


def client_address(request: Request) -> str:
    """The caller's IP, through trusted proxies when the settings say so."""
    peer = request.client.host if request.client else None
    forwarded = [v.encode("latin-1") for v in request.headers.getlist("x-forwarded-for")]
    return client_ip(peer, forwarded, trust_forwarded_for=get_settings().trust_forwarded_for)


@router.get("/", include_in_schema=False)
def home(request: Request, viewer: MaybeSignedIn) -> Response:
    return RedirectResponse(viewer.home if viewer else "/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, viewer: MaybeSignedIn, next: str = "/") -> Response:
    if viewer is not None:
        return RedirectResponse(sessions.local_path(next, viewer.home), status_code=303)
    return render(request, "login.html", {"next": sessions.local_path(next), "email": ""})


@router.post("/login", dependencies=[CsrfChecked])
def login(
    request: Request,
    email: Annotated[str, Form(max_length=400)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
    next: Annotated[str, Form(max_length=2048)] = "/",
) -> Response:
    target = sessions.local_path(next)
    context = {"next": target, "email": email}
    try:
        with transaction() as session:
            try:
                result = people.sign_in(session, email, password, client_address(request))
            except people.WrongCredentials:
                failed = True
            else:
                failed = False
                user_id = result.user.id
                memberships = [m.id for m in result.memberships]
                # Where partners sign in from tells a self-referral later (crosspromo).
                referrals.note_sign_ins(
                    session,
                    result.memberships,
                    referrals.fingerprint_of(
                        client_address(request), request.headers.get("user-agent", "")
                    ),
                )
    except people.TooManyAttempts as exc:
        context["error"] = ngettext(
            "Too many failed sign-ins. Wait a few minutes and try again (in %(num)s second).",
            "Too many failed sign-ins. Wait a few minutes and try again (in %(num)s seconds).",
            exc.retry_after,
        )
        return render(
            request,
            "login.html",
            context,
            status=429,
            headers={"Retry-After": str(exc.retry_after)},
        )
    if failed:
        context["error"] = _("The e-mail address or the password is wrong.")
        return render(request, "login.html", context, status=401)
    if not memberships:
        context["error"] = _("This user is not on any account's team yet.")
        return render(request, "login.html", context, status=403)
    response = RedirectResponse(target, status_code=303)
    sessions.write_session(response, user_id, memberships[0])
    sessions.rotate_csrf(request)
    sessions.set_pending_cookies(request, response)
    return response


@router.post("/logout", dependencies=[CsrfChecked])
def logout(request: Request) -> Response:
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_session(response)
    sessions.flash(response, _("You are signed out."))
    return response


@router.post("/account/switch", dependencies=[CsrfChecked])
def switch_account(
    request: Request, viewer: SignedIn, membership_id: Annotated[str, Form(max_length=40)]
) -> Response:
    membership = sessions.membership_for(viewer.user_id, membership_id)
    if membership is None:
        raise Forbidden("you are not on that account's team", field="membership_id")
    response = RedirectResponse(f"/{membership.account_kind}", status_code=303)
    sessions.write_session(response, viewer.user_id, membership.id)
    return response


@router.get("/account", response_class=HTMLResponse)
def account_page(request: Request, viewer: SignedIn) -> Response:
    return render(request, "account.html", {"languages": i18n.LANGUAGES})


@router.post("/account/password", dependencies=[CsrfChecked])
def change_password(
    request: Request,
    viewer: SignedIn,
    current_password: Annotated[str, Form(max_length=2048)] = "",
    new_password: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    try:
        with transaction() as session:
            people.change_password(session, viewer.user_id, current_password, new_password)
    except AllianceError as exc:
        return render(
            request,
            "account.html",
            {"error": exc.detail, "error_field": exc.field, "languages": i18n.LANGUAGES},
            status=exc.status,
        )
    # The password change ended every session, this one included: issue a fresh one.
    response = RedirectResponse("/account", status_code=303)
    sessions.write_session(response, viewer.user_id, viewer.membership_id)
    sessions.flash(response, _("Password changed. Other browsers are signed out."))
    return response


@router.post("/account/language", dependencies=[CsrfChecked])
def change_language(
    request: Request,
    viewer: SignedIn,
    locale: Annotated[str, Form(max_length=16)] = "",
) -> Response:
    """The user's language; the empty choice means "follow the browser"."""
    with transaction() as session:
        people.set_locale(session, viewer.user_id, locale or None, i18n.LANGUAGES)
    # The confirmation is in the language just chosen (or the browser's, for "automatic").
    i18n.activate(locale or i18n.negotiate(request.headers.get("accept-language")))
    response = RedirectResponse("/account", status_code=303)
    sessions.flash(response, _("Language saved."))
    return response


@router.post("/account/sign-out-everywhere", dependencies=[CsrfChecked])
def sign_out_everywhere(request: Request, viewer: SignedIn) -> Response:
    with transaction() as session:
        people.end_all_sessions(session, viewer.user_id)
    response = RedirectResponse("/login", status_code=303)
    sessions.clear_session(response)
    sessions.flash(response, _("You are signed out on every browser."))
    return response


# --- invitations ----------------------------------------------------------------------------


def _invitation_context(token: str) -> tuple[Invitation, str]:
    with reading() as session:
        invitation = people.open_invitation(session, token)
        name = people.account_name(session, invitation.account_kind, invitation.account_id)
        return invitation, name or invitation.account_id


@router.get("/invitations/{token}", response_class=HTMLResponse)
def invitation_page(request: Request, token: str, viewer: MaybeSignedIn) -> Response:
    invitation, account = _invitation_context(token)
    return render(
        request,
        "invitation.html",
        {"invitation": invitation, "account": account, "token": token},
    )


@router.post("/invitations/{token}", dependencies=[CsrfChecked])
def accept_invitation(
    request: Request,
    token: str,
    viewer: MaybeSignedIn,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    invitation, account = _invitation_context(token)
    try:
        with transaction() as session:
            user, membership = people.accept_invitation(
                session,
                token,
                user_id=viewer.user_id if viewer else None,
                name=name,
                password=password,
            )
            user_id, membership_id, kind = user.id, membership.id, membership.account_kind
    except AllianceError as exc:
        context = {
            "invitation": invitation,
            "account": account,
            "token": token,
            "error": exc.detail,
            "error_field": exc.field,
            "name": name,
        }
        return render(request, "invitation.html", context, status=exc.status)
    response = RedirectResponse(f"/{kind}", status_code=303)
    sessions.write_session(response, user_id, membership_id)
    sessions.rotate_csrf(request)
    sessions.set_pending_cookies(request, response)
    sessions.flash(response, _("Welcome to %(account)s.", account=account))
    return response
