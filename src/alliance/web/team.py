"""The team of an account: members with their roles, invitations. Owners manage it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from alliance.accounts import people
from alliance.accounts.users import Role
from alliance.db.engine import reading, transaction
from alliance.errors import AllianceError
from alliance.web import i18n, sessions
from alliance.web.i18n import _
from alliance.web.sessions import AnyAction, SignedIn, Viewer
from alliance.web.templating import render
from alliance.web.terms import role_label

router = APIRouter()

ROLES = [(r.value, r.label) for r in Role]


def _page(request: Request, viewer: Viewer, status: int = 200, **extra: object) -> Response:
    with reading() as session:
        team = people.team_of(session, viewer.kind.value, viewer.account_id)
        invitations = (
            people.pending_invitations(session, viewer.kind.value, viewer.account_id)
            if viewer.is_owner
            else []
        )
    context = {"team": team, "invitations": invitations, "roles": ROLES, **extra}
    return render(request, "team.html", context, status=status)


@router.get("/team", response_class=HTMLResponse)
def team_page(request: Request, viewer: SignedIn) -> Response:
    return _page(request, viewer)


@router.post("/team/invitations")
def invite(
    request: Request,
    viewer: AnyAction,
    email: Annotated[str, Form(max_length=400)] = "",
    role: Annotated[Role, Form()] = Role.member,
) -> Response:
    viewer.require_owner()
    try:
        with transaction() as session:
            _invitation, token = people.invite(
                session,
                viewer.kind.value,
                viewer.account_id,
                email,
                role,
                viewer.user_id,
                locale=i18n.current(),
            )
    except AllianceError as exc:
        return _page(
            request, viewer, status=exc.status, error=exc.detail, error_field=exc.field, email=email
        )
    # The link is mailed too (queued with the invitation); without a mail server the owner
    # passes it on. It is shown once; only its hash is stored.
    return _page(request, viewer, invite_link=people.invitation_link(token), invited=email)


@router.post("/team/invitations/{invitation_id}/revoke")
def revoke(request: Request, viewer: AnyAction, invitation_id: str) -> Response:
    viewer.require_owner()
    with transaction() as session:
        people.revoke_invitation(session, viewer.kind.value, viewer.account_id, invitation_id)
    response = RedirectResponse("/team", status_code=303)
    sessions.flash(response, _("Invitation revoked."))
    return response


@router.post("/team/members/{membership_id}/role")
def change_role(
    request: Request,
    viewer: AnyAction,
    membership_id: str,
    role: Annotated[Role, Form()],
) -> Response:
    viewer.require_owner()
    try:
        with transaction() as session:
            people.change_role(session, viewer.kind.value, viewer.account_id, membership_id, role)
    except AllianceError as exc:
        return _page(request, viewer, status=exc.status, error=exc.detail, error_field=exc.field)
    response = RedirectResponse("/team", status_code=303)
    sessions.flash(response, _("Role changed to %(role)s.", role=role_label(role)))
    return response


@router.post("/team/members/{membership_id}/remove")
def remove(request: Request, viewer: AnyAction, membership_id: str) -> Response:
    viewer.require_owner()
    try:
        with transaction() as session:
            people.remove_member(session, viewer.kind.value, viewer.account_id, membership_id)
    except AllianceError as exc:
        return _page(request, viewer, status=exc.status, error=exc.detail, error_field=exc.field)
    response = RedirectResponse("/team", status_code=303)
    sessions.flash(response, _("Removed from the team."))
    return response
