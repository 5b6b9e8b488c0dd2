"""The mail a team invitation sends is in the inviter's language (their browser's here), the
link is still shown once on the page, and the operator's E-mail page lists what waits."""

from __future__ import annotations

import html
import re
import uuid

from sqlalchemy import select

from alliance.accounts.service import create_operator
from alliance.db.engine import reading, transaction
from alliance.mail.models import OutgoingMail
from tests.conftest import Server
from tests.conversions.factories import partner
from tests.web.conftest import signed_in


def test_a_team_invitation_is_mailed_in_the_inviters_language_and_listed_for_the_operator(
    server: Server,
) -> None:
    with transaction() as session:
        account = partner(session, name="Nordlicht")
        account.country = "FR"  # not German: the inviter's language decides, not the country
        partner_id = account.id
        ops, _ = create_operator(session, name="Mail ops")
        operator_id = ops.id
    owner = signed_in(server, partner_id)
    owner.client.headers["Accept-Language"] = "de-DE,de;q=0.9,en;q=0.5"
    address = f"kollegin-{uuid.uuid4().hex[:8]}@example.com"
    answer = owner.post(
        "/team/invitations", {"email": address, "role": "member"}, token_from="/team"
    )
    assert answer.status_code == 200, answer.text
    shown = re.search(r"(http://[^\"<\s]+/invitations/[^\"<\s]+)", answer.text)
    assert shown, "the link is shown to the inviter as before"

    with reading() as session:
        [mail] = session.scalars(select(OutgoingMail).where(OutgoingMail.to_address == address))
    assert (mail.kind, mail.locale) == ("invitation", "de")
    assert mail.subject == "Treten Sie dem Team von Nordlicht auf Alliance bei"
    assert "Test User hat Sie in das Team von Nordlicht auf Alliance eingeladen" in mail.text_body
    assert shown.group(1) in mail.text_body

    ops_browser = signed_in(server, operator_id)
    page = ops_browser.get("/operator/mail")
    assert page.status_code == 200
    assert 'href="/operator/mail"' in page.text  # in the operator's navigation
    assert 'id="no-smtp"' in page.text  # the server runs without a mail server
    row = page.text.split(f'id="mail-{mail.id}"', 1)[1].split("</tr>", 1)[0]
    assert address in row and html.escape(mail.subject) in row and "queued" in row
    assert shown.group(1).rsplit("/", 1)[1] not in page.text  # the token stays the invitee's
    assert signed_in(server, partner_id).get("/operator/mail").status_code in (303, 403, 404)
