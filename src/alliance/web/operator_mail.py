"""The operator's e-mail page: what was sent, what waits, what failed (newest first).

With no SMTP host configured nothing leaves the server, and this page is where an operator
sees what would go out (docs/mail.md). Bodies are not shown: an invitation's carries its
one-time link, which is the invitee's.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select

from alliance.db.engine import reading
from alliance.mail.models import MailKind, MailState, OutgoingMail
from alliance.settings import get_settings
from alliance.web.i18n import N_, _
from alliance.web.operator_common import PAGE_SIZE, page_url
from alliance.web.sessions import OperatorPage
from alliance.web.templating import render

router = APIRouter()
PATH = "/operator/mail"

KINDS = {
    MailKind.invitation.value: N_("Invitation"),
    MailKind.payout_created.value: N_("Payout made"),
    MailKind.payout_held.value: N_("Payout held"),
    MailKind.payout_paid.value: N_("Payout paid"),
    MailKind.payout_failed.value: N_("Payout failed"),
}


def kind_label(kind: str) -> str:
    found = KINDS.get(kind)
    return _(found) if found else kind.replace("_", " ")


@router.get(PATH, response_class=HTMLResponse)
def mail_page(
    request: Request,
    viewer: OperatorPage,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    with reading() as session:
        rows = list(
            session.scalars(
                select(OutgoingMail)
                .order_by(OutgoingMail.created_at.desc(), OutgoingMail.id.desc())
                .offset((page - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
            )
        )
        waiting = int(
            session.scalar(
                select(func.count()).where(
                    OutgoingMail.next_attempt_at.is_not(None), OutgoingMail.sent_at.is_(None)
                )
            )
            or 0
        )
    more = len(rows) > PAGE_SIZE
    context = {
        "mails": rows[:PAGE_SIZE],
        "waiting": waiting,
        "smtp_host": get_settings().smtp_host,
        "kind_label": kind_label,
        "states": MailState,
        "prev_url": page_url(PATH, {"page": page - 1}) if page > 1 else None,
        "next_url": page_url(PATH, {"page": page + 1}) if more else None,
    }
    return render(request, "operator/mail.html", context)
