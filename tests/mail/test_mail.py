"""E-mail (issue 5, point 6): invitations and payout notices queued with the change they tell
about, in the reader's language, and delivered by the `deliver_mail` job to a real SMTP server
on 127.0.0.1 — with retries when it refuses, and nothing lost when there is no server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from alliance.accounts import people
from alliance.accounts.models import Partner
from alliance.accounts.users import Role
from alliance.clock import utcnow
from alliance.db.engine import reading, transaction
from alliance.jobs.runner import TASKS, run_task
from alliance.mail.delivery import deliver_due
from alliance.mail.models import MailKind, MailState, OutgoingMail
from alliance.mail.recipients import language_for
from alliance.payouts import service as payouts
from tests.conversions.factories import World, partner
from tests.mail.smtp import Inbox, body
from tests.payouts.factories import approved, day, payee
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.usefixtures("db_url")


def _address(tag: str) -> str:
    return f"{tag}-{uuid.uuid4().hex[:10]}@example.com"


def _mails(**where: str) -> list[OutgoingMail]:
    with reading() as session:
        query = select(OutgoingMail).order_by(OutgoingMail.created_at, OutgoingMail.id)
        for name, value in where.items():
            query = query.where(getattr(OutgoingMail, name) == value)
        rows = list(session.scalars(query))
        for row in rows:
            session.expunge(row)
        return rows


def _member(w: World, locale: str | None, tag: str = "team") -> str:
    """A user on the partner's team with this language setting; returns the address."""
    address = _address(tag)
    with transaction() as session:
        user = people.create_user(session, address, PASSWORD, "Team member")
        people.add_membership(session, user.id, people.kind_of_account_id(w.partner_id),
                              w.partner_id, Role.member)  # fmt: skip
        if locale is not None:
            people.set_locale(session, user.id, locale, ["de", "sv", "es", "zh_Hans"])
    return address


def _deliver(now: datetime | None = None) -> dict[str, object]:
    """Run the job now; or, for a moment later than now, its work without recording a run
    (a job run recorded in the future would make the job look not due to other tests)."""
    if now is not None:
        return deliver_due(now)
    result = run_task(TASKS["deliver_mail"])
    assert result.ok, result.result
    return result.result


def _invite(address: str, locale: str | None, country: str = "DE") -> str:
    with transaction() as session:
        account = partner(session, name="Fjällbloggen")
        account.country = country
        _invitation, token = people.invite(
            session, "partner", account.id, address, Role.member, None, locale=locale
        )
    return token


# --- invitations ------------------------------------------------------------------------------


def test_an_invitation_is_mailed_in_german_and_the_job_delivers_it(smtp: Inbox) -> None:
    address = _address("eingeladen")
    token = _invite(address, "de")
    [queued] = _mails(to_address=address)
    assert (queued.kind, queued.locale, queued.state) == ("invitation", "de", MailState.queued)

    result = _deliver()
    assert result["sent"] >= 1
    [received] = smtp.to(address)
    assert received["Subject"] == "Treten Sie dem Team von Fjällbloggen auf Testnetz bei"
    assert received["From"] == "Testnetz <no-reply@alliance.test>"
    assert received["Content-Language"] == "de"
    assert received["Message-ID"] == f"<{queued.id}@alliance.test>"
    text = body(received)
    assert "Sie sind in das Team von Fjällbloggen auf Testnetz eingeladen" in text
    assert "mit der Rolle Mitglied" in text
    assert f"http://127.0.0.1:8000/invitations/{token}" in text
    expires = (utcnow() + timedelta(days=7)).date()
    assert f"Der Link kann einmal verwendet werden, bis zum {expires:%d.%m.%Y}." in text
    [sent] = _mails(to_address=address)
    assert sent.state is MailState.sent and sent.attempts == 1 and sent.last_error is None

    # Sent is sent: the next run does not send it again.
    _deliver()
    assert len(smtp.to(address)) == 1


def test_the_invitation_speaks_the_invitees_own_language_else_the_accounts_country() -> None:
    # An address that already has a user with a setting: theirs beats the inviter's.
    existing = _address("svensk")
    with transaction() as session:
        user = people.create_user(session, existing, PASSWORD, "Sven")
        people.set_locale(session, user.id, "sv", ["sv"])
    _invite(existing, "de")
    # No setting and no inviter's language: the account's country (Spain), else English.
    spanish, nowhere = _address("es"), _address("en")
    _invite(spanish, None, country="ES")
    _invite(nowhere, None, country="FR")
    [sv], [es], [en] = (
        _mails(to_address=existing),
        _mails(to_address=spanish),
        _mails(to_address=nowhere),
    )
    assert (sv.locale, sv.subject) == ("sv", "Gå med i teamet för Fjällbloggen på Alliance")
    assert (es.locale, es.subject) == ("es", "Únete al equipo de Fjällbloggen en Alliance")
    assert (en.locale, en.subject) == ("en", "Join the team of Fjällbloggen on Alliance")
    assert language_for("zh_Hans", "DE") == "zh_Hans" and language_for("xx", "CN") == "zh_Hans"


def test_a_rolled_back_invitation_queues_nothing() -> None:
    address = _address("rollback")
    with pytest.raises(RuntimeError), transaction() as session:
        account = partner(session)
        people.invite(session, "partner", account.id, address, Role.member, None, locale="de")
        assert len(session.scalars(select(OutgoingMail).where(
            OutgoingMail.to_address == address)).all()) == 1  # fmt: skip
        raise RuntimeError("the change fails after the mail was queued")
    assert _mails(to_address=address) == []


# --- payouts ------------------------------------------------------------------------------------


def test_a_payout_run_mails_each_member_in_their_language() -> None:
    w = payee(payout_currency="SEK", currency="SEK")  # a German partner (factories)
    swede = _member(w, "sv", "svensk")
    follows_browser = _member(w, None, "browser")  # no setting: the country's language
    approved(w, "1000.00", datetime(2031, 3, 3, 10, tzinfo=UTC))  # 100.00 SEK
    assert payouts.run(day("2031-04-02"), "test", partners=[w.partner_id]).outcome["create"] == 1

    [sv] = _mails(to_address=swede)
    [de] = _mails(to_address=follows_browser)
    assert (sv.kind, sv.locale, de.locale) == ("payout_created", "sv", "de")
    assert sv.subject == "Utbetalning på 100,00\u00a0kr för 1\u201331 mars 2031"
    assert "Vi har gjort en utbetalning på 100,00\u00a0kr till Blog" in sv.text_body
    assert f"http://127.0.0.1:8000/partner/payouts/{sv.about}" in sv.text_body
    assert "Självfaktura: SB-000001." in sv.text_body
    assert de.subject == "Auszahlung von 100,00\u00a0SEK für 1.\u201331. März 2031"


def test_a_held_payout_mail_names_the_reason_once() -> None:
    w = payee(entity=None)  # no tax profile: held
    reader = _member(w, "es")
    approved(w, "800.00", datetime(2031, 9, 9, tzinfo=UTC))
    assert payouts.run(day("2031-09-30"), "test", partners=[w.partner_id]).outcome["hold"] == 1
    [held] = _mails(to_address=reader)
    assert (
        held.kind == MailKind.payout_held
        and held.subject == "Tu pago de 80,00\u00a0€ está retenido"
    )
    # The service's English reason, told in the reader's language by the pages' table.
    assert "- Aún no hay perfil fiscal" in held.text_body, held.text_body
    assert "http://127.0.0.1:8000/partner/payouts/settings" in held.text_body

    # The next run finds the same reason: the partner is not told again.
    assert payouts.run(day("2031-10-02"), "test", partners=[w.partner_id]).outcome["hold"] == 1
    assert len(_mails(to_address=reader)) == 1


def test_paid_and_failed_payouts_are_told_and_a_partner_without_users_gets_its_contact_mail() -> (
    None
):
    w = payee(threshold="1.00")
    contact = _address("contact")
    with transaction() as session:
        found = session.get(Partner, w.partner_id)
        assert found is not None
        found.email = contact  # no users: the contact address, in the country's language
    approved(w, "100.00", datetime(2031, 5, 5, tzinfo=UTC))
    approved(w, "200.00", datetime(2031, 6, 5, tzinfo=UTC))
    payouts.run(day("2031-05-31"), "test", partners=[w.partner_id])
    payouts.run(day("2031-06-30"), "test", partners=[w.partner_id])
    with reading() as session:
        may, june = payouts_of(session, w)
    paid_at = datetime(2031, 6, 3, 12, tzinfo=UTC)
    with transaction() as session:
        payouts.mark(session, may, "sent", now=paid_at)
        payouts.mark(session, may, "paid", now=paid_at)
        payouts.mark(session, june, "sent", now=paid_at)
        payouts.mark(session, june, "failed", reason="AC04 Konto erloschen", now=paid_at)
    kinds = [(m.kind, m.locale, m.about) for m in _mails(to_address=contact)]
    assert kinds == [
        ("payout_created", "de", may),
        ("payout_created", "de", june),
        ("payout_paid", "de", may),
        ("payout_failed", "de", june),
    ]
    paid, failed = _mails(to_address=contact)[2:]
    assert paid.subject == "Ihre Auszahlung von 10,00\u00a0€ wurde bezahlt"
    assert "am 03.06.2031 als bezahlt bestätigt" in paid.text_body
    assert "Grund: AC04 Konto erloschen" in failed.text_body
    assert "Das Geld ist wieder in Ihrem Guthaben" in failed.text_body


def payouts_of(session: object, w: World) -> list[str]:
    from alliance.payouts.models import Payout

    return list(
        session.scalars(  # type: ignore[attr-defined]
            select(Payout.id).where(Payout.partner_id == w.partner_id).order_by(Payout.period)
        )
    )


# --- delivery -----------------------------------------------------------------------------------


def test_without_an_smtp_host_mails_stay_queued_and_the_job_says_so() -> None:
    address = _address("waiting")
    _invite(address, None)
    result = _deliver()
    assert result["sent"] == 0 and "ALLIANCE_SMTP_HOST" in str(result["note"])
    assert int(str(result["queued"])) >= 1
    [mail] = _mails(to_address=address)
    assert (mail.state, mail.attempts, mail.last_error) == (MailState.queued, 0, None)


def test_a_refusal_is_retried_later_with_its_error_and_a_permanent_one_is_given_up(
    smtp: Inbox,
) -> None:
    later, never = _address("later"), _address("never")
    _invite(later, "en")
    smtp.refuse = "451 4.3.0 Mailbox busy, try again later"
    started = utcnow()
    _deliver()
    [mail] = _mails(to_address=later)
    assert mail.state is MailState.retrying and mail.attempts == 1
    assert mail.last_error == "SMTP 451: 4.3.0 Mailbox busy, try again later"
    assert mail.next_attempt_at is not None and mail.next_attempt_at >= started
    assert smtp.to(later) == []

    # The server takes mail again; once the backoff is over the job sends it.
    smtp.refuse = None
    _deliver(started + timedelta(hours=7))  # past the longest wait (6 h cap)
    [mail] = _mails(to_address=later)
    assert mail.state is MailState.sent and mail.attempts == 2 and mail.last_error is None
    assert len(smtp.to(later)) == 1

    _invite(never, "en")
    smtp.refuse = "550 5.1.1 No such user"
    _deliver(started + timedelta(hours=8))
    [gone] = _mails(to_address=never)
    assert gone.state is MailState.failed and gone.next_attempt_at is None
    assert gone.last_error == "SMTP 550: 5.1.1 No such user"


def test_an_unreachable_server_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    from alliance.settings import get_settings
    from tests.conftest import free_port

    address = _address("unreachable")
    _invite(address, "en")
    monkeypatch.setenv("ALLIANCE_SMTP_HOST", "127.0.0.1")
    monkeypatch.setenv("ALLIANCE_SMTP_PORT", str(free_port()))  # nobody listens
    monkeypatch.setenv("ALLIANCE_SMTP_STARTTLS", "false")
    get_settings.cache_clear()
    try:
        _deliver()
    finally:
        get_settings.cache_clear()
    [mail] = _mails(to_address=address)
    assert mail.state is MailState.retrying
    assert mail.last_error is not None and "cannot connect to 127.0.0.1" in mail.last_error
