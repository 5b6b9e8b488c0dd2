"""Contests through the service layer, on the real database: the commitment, partners' codes,
entries accepted and refused (every refusal kept with its reason), verification by the mailed
link, referral bonuses up to the cap, the draw after the close (re-run from the published
values), external randomness, and the job that draws closed contests.

Time is passed in (`now=`), so a contest opens, closes and is drawn within one test.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from alliance.clock import utcnow
from alliance.crosspromo import contests, draw
from alliance.crosspromo.contest_models import Contest, ContestEntry, ContestPartner
from alliance.crosspromo.contests import ContestSpec, Submission
from alliance.crosspromo.entrants import RejectReason
from alliance.db.engine import reading, transaction
from alliance.errors import Conflict, InvalidInput, NotFound
from alliance.mail.models import MailKind, OutgoingMail
from tests.conversions import factories

pytestmark = pytest.mark.xdist_group("contests")

TOKEN = re.compile(r"/verify\?token=([A-Za-z0-9_\-]+)")


@dataclass
class Setup:
    program_id: str
    partner_id: str  # approved in the program, contact address team@blog.example
    applicant_id: str  # applied, not approved
    start: datetime


@pytest.fixture()
def setup(db_url: str) -> Iterator[Setup]:
    with transaction() as session:
        advertiser = factories.advertiser(session)
        program, _ = factories.program(session, advertiser.id)
        approved = factories.partner(session, "Blog")
        approved.email = "Team@Blog.example"
        applicant = factories.partner(session, "Newcomer")
        factories.enroll(session, program.id, approved.id)
        factories.enroll(session, program.id, applicant.id, status="applied")
        found = Setup(program.id, approved.id, applicant.id, utcnow())
    yield found


def _spec(start: datetime, **changes: object) -> ContestSpec:
    values: dict[str, object] = {
        "title": "Win a bike",
        "rules": "One bike.\n\nOpen worldwide.",
        "opens_at": start,
        "closes_at": start + timedelta(hours=1),
        "winners": 2,
        "bonus_per_referral": 2,
        "bonus_cap": 5,
        "per_ip_limit": 3,
        "external_source": None,
    }
    values.update(changes)
    return ContestSpec(**values)  # type: ignore[arg-type]


def _create(setup: Setup, **changes: object) -> str:
    from alliance.programs.models import Program

    with transaction() as session:
        program = session.get(Program, setup.program_id)
        assert program is not None
        contest = contests.create_contest(
            session, program, _spec(setup.start, **changes), "adv_test", now=setup.start
        )
        return contest.id


def _enter(
    contest_id: str,
    email: str,
    *,
    ip: str = "ip-1",
    ref: str | None = None,
    at: datetime | None = None,
    name: str = "Anna Svensson",
) -> tuple[str, RejectReason | None]:
    with transaction() as session:
        outcome = contests.submit_entry(
            session,
            contest_id,
            Submission(email=email, name=name, ref=ref, consent=True),
            ip_hash=hashlib.sha256(ip.encode()).hexdigest()[:32],
            locale="en",
            now=at or utcnow(),
        )
        return outcome.entry.id, outcome.reason


def _token(entry_id: str) -> str:
    with reading() as session:
        mail = session.scalars(select(OutgoingMail).where(OutgoingMail.about == entry_id)).one()
        assert mail.kind == MailKind.contest_verification.value
        found = TOKEN.search(mail.text_body)
        assert found, mail.text_body
        return found.group(1)


def _verify(contest_id: str, entry_id: str, at: datetime | None = None) -> str:
    with transaction() as session:
        done = contests.verify_entry(session, contest_id, _token(entry_id), now=at)
        assert done.entry.referral_code
        return done.entry.referral_code


def _entry(entry_id: str) -> ContestEntry:
    with reading() as session:
        row = session.get(ContestEntry, entry_id)
        assert row is not None
        return row


def test_a_contest_publishes_the_commitment_of_its_seed_and_codes_for_approved_partners(
    setup: Setup,
) -> None:
    contest_id = _create(setup)
    with reading() as session:
        contest = session.get(Contest, contest_id)
        assert contest is not None
        assert contest.commitment == hashlib.sha256(bytes.fromhex(contest.seed)).hexdigest()
        codes = session.scalars(
            select(ContestPartner).where(ContestPartner.contest_id == contest_id)
        ).all()
    assert [c.partner_id for c in codes] == [setup.partner_id]  # not the applicant
    assert re.fullmatch(r"[0-9a-z]{8}", codes[0].code)


def test_closes_at_must_follow_opens_at(setup: Setup) -> None:
    with pytest.raises(InvalidInput) as refused:
        _create(setup, closes_at=setup.start - timedelta(minutes=1))
    assert refused.value.field == "closes_at"


def test_an_entry_is_pending_until_the_mailed_link_confirms_it(setup: Setup) -> None:
    contest_id = _create(setup)
    entry_id, reason = _enter(contest_id, "Anna.Svensson@Example.com")
    assert reason is None
    entry = _entry(entry_id)
    assert (entry.status, entry.email_key) == ("pending", "anna.svensson@example.com")
    with reading() as session:
        mail = session.scalars(select(OutgoingMail).where(OutgoingMail.about == entry_id)).one()
    assert mail.to_address == "Anna.Svensson@Example.com"
    assert "Win a bike" in mail.subject
    assert entry_id in mail.text_body
    assert entry.token_hash == hashlib.sha256(_token(entry_id).encode()).hexdigest()

    code = _verify(contest_id, entry_id)
    entry = _entry(entry_id)
    assert entry.status == "verified" and entry.verified_at is not None
    assert re.fullmatch(r"[0-9a-f]{10}", code)
    # The link again: nothing changes, the entrant is told it was done before.
    with transaction() as session:
        again = contests.verify_entry(session, contest_id, _token(entry_id))
    assert again.already and again.entry.referral_code == code
    with transaction() as session, pytest.raises(NotFound):
        contests.verify_entry(session, contest_id, "not-a-token")


def test_every_refused_entry_is_kept_with_its_reason(setup: Setup) -> None:
    contest_id = _create(setup, per_ip_limit=2)
    start = setup.start
    accepted, _ = _enter(contest_id, "first.last+win@gmail.com", ip="ip-a")
    cases = [
        ("not an address", "ip-b", None, RejectReason.bad_email),
        ("someone@mailinator.com", "ip-b", None, RejectReason.disposable_domain),
        ("First.Last@googlemail.com", "ip-b", None, RejectReason.duplicate),
        ("early@example.com", "ip-b", start - timedelta(seconds=1), RejectReason.not_open),
        ("late@example.com", "ip-b", start + timedelta(hours=1), RejectReason.closed),
    ]
    refused = []
    for email, ip, at, expected in cases:
        entry_id, reason = _enter(contest_id, email, ip=ip, at=at)
        assert reason is expected, email
        refused.append(entry_id)
    # The per-IP limit counts accepted entries only: ip-a has one, a second is fine...
    second, reason = _enter(contest_id, "second@example.com", ip="ip-a")
    assert reason is None
    # ...and a third is not.
    third, reason = _enter(contest_id, "third@example.com", ip="ip-a")
    assert reason is RejectReason.ip_limit
    refused.append(third)
    with reading() as session:
        rows = {
            row.id: row
            for row in session.scalars(
                select(ContestEntry).where(ContestEntry.contest_id == contest_id)
            )
        }
    assert len(rows) == 2 + len(refused)
    for entry_id in refused:
        row = rows[entry_id]
        assert row.status == "rejected" and row.reason is not None and row.mailbox is None
        assert row.token_hash is None  # no mail for a refused entry
    assert rows[accepted].mailbox == "firstlast@gmail.com"
    assert rows[refused[0]].email == "not an address"  # kept as typed
    with reading() as session:
        mailed = set(
            session.scalars(select(OutgoingMail.about).where(OutgoingMail.about.in_(list(rows))))
        )
    assert mailed == {accepted, second}


def test_consent_is_required(setup: Setup) -> None:
    contest_id = _create(setup)
    with transaction() as session, pytest.raises(InvalidInput) as refused:
        contests.submit_entry(
            session,
            contest_id,
            Submission("a@example.com", "A", None, consent=False),
            ip_hash="x",
            locale="en",
        )
    assert refused.value.field == "consent"


def test_self_referrals_earn_nothing(setup: Setup) -> None:
    contest_id = _create(setup)
    referrer, _ = _enter(contest_id, "anna@example.com", ip="home")
    code = _verify(contest_id, referrer)
    # The referrer's second address from the same network: refused.
    sock_puppet, reason = _enter(contest_id, "anna.other@example.com", ip="home", ref=code)
    assert reason is RejectReason.self_referral
    assert _entry(sock_puppet).referrer_entry_id == referrer
    # The partner's own team address through the partner's link: refused too.
    with reading() as session:
        partner_code = session.scalars(
            select(ContestPartner.code).where(
                ContestPartner.contest_id == contest_id,
                ContestPartner.partner_id == setup.partner_id,
            )
        ).one()
    _, reason = _enter(contest_id, "team@blog.example", ip="office", ref=partner_code.upper())
    assert reason is RejectReason.self_referral
    # A reader of the partner's blog: accepted and counted for the partner.
    reader, reason = _enter(contest_id, "reader@example.com", ip="reader", ref=partner_code)
    assert reason is None and _entry(reader).referrer_partner_id == setup.partner_id
    with reading() as session:
        counts = contests.entry_counts(session, contest_id, referrer_partner_id=setup.partner_id)
    assert (counts.total, counts.pending, counts.rejected) == (2, 1, 1)
    # An unknown code keeps nobody out.
    _, reason = _enter(contest_id, "typo@example.com", ip="typo", ref="nosuchcode")
    assert reason is None


def test_verified_referrals_add_bonus_entries_up_to_the_cap(setup: Setup) -> None:
    contest_id = _create(setup, bonus_per_referral=2, bonus_cap=5)
    host, _ = _enter(contest_id, "host@example.com", ip="host")
    code = _verify(contest_id, host)
    friends = [
        _enter(contest_id, f"friend{n}@example.com", ip=f"f{n}", ref=code)[0] for n in range(4)
    ]
    _verify(contest_id, friends[0])
    with reading() as session:
        contest = session.get(Contest, contest_id)
        assert contest is not None
        weights = {t.entry_id: t.weight for t in contests.weights(session, contest)}
    assert weights == {host: 3, friends[0]: 1}  # pending friends count for nothing yet
    for friend in friends[1:]:
        _verify(contest_id, friend)
    with reading() as session:
        assert contest is not None
        weights = {t.entry_id: t.weight for t in contests.weights(session, contest)}
    assert weights[host] == 1 + 5  # 4 friends x 2 = 8 bonus entries, capped at 5


def test_the_draw_comes_after_the_close_once_and_anyone_can_rerun_it(setup: Setup) -> None:
    contest_id = _create(setup, winners=2)
    entries = []
    for n in range(5):
        entry_id, _ = _enter(contest_id, f"person{n}@example.com", ip=f"p{n}", name=f"Per{n} Son")
        entries.append(entry_id)
    for entry_id in entries[:4]:
        _verify(contest_id, entry_id)
    close = setup.start + timedelta(hours=1)
    with transaction() as session, pytest.raises(Conflict):
        contests.draw_contest(
            session, contest_id, external_value=None, drawn_by="t", now=close - timedelta(seconds=1)
        )
    # After the close the unverified entry cannot join any more.
    with transaction() as session, pytest.raises(Conflict):
        contests.verify_entry(session, contest_id, _token(entries[4]), now=close)
    with transaction() as session:
        record = contests.draw_contest(
            session, contest_id, external_value=None, drawn_by="adv_test", now=close
        )
        published = (record.entries_csv.encode(), record.entries_hash, list(record.winners))
        contest = session.get(Contest, contest_id)
        assert contest is not None
        commitment, seed = contest.commitment, contest.seed
    data, list_hash, winners = published
    assert len(winners) == 2 and set(winners) <= set(entries[:4])
    assert hashlib.sha256(data).hexdigest() == list_hash
    assert [t.entry_id for t in draw.parse_entry_list(data)] == sorted(entries[:4])
    check = draw.rerun(commitment, seed, data, None, 2)
    assert check.commitment_matches and list(check.result.winners) == winners
    # Once only; and the contest is closed to entries for good.
    with transaction() as session, pytest.raises(Conflict):
        contests.draw_contest(session, contest_id, external_value=None, drawn_by="t", now=close)
    _, reason = _enter(contest_id, "late@example.com", ip="late", at=close - timedelta(minutes=1))
    assert reason is RejectReason.closed
    with reading() as session:
        record_row = contests.draw_of(session, contest_id)
        assert record_row is not None
        shown = contests.winners_of(session, record_row)
    assert [w.public_name for w in shown] == [f"Per{entries.index(w.entry_id)} S." for w in shown]


def test_the_external_value_is_required_exactly_when_the_rules_announce_it(setup: Setup) -> None:
    announced = _create(setup, external_source="drand mainnet round 5000000")
    plain = _create(setup)
    close = setup.start + timedelta(hours=1)
    with transaction() as session, pytest.raises(InvalidInput) as missing:
        contests.draw_contest(session, announced, external_value=" ", drawn_by="t", now=close)
    assert missing.value.field == "external_value"
    with transaction() as session, pytest.raises(InvalidInput) as unannounced:
        contests.draw_contest(session, plain, external_value="abc", drawn_by="t", now=close)
    assert unannounced.value.field == "external_value"
    value = "a" * 64
    with transaction() as session:
        record = contests.draw_contest(
            session, announced, external_value=value, drawn_by="t", now=close
        )
        assert record.external_value == value
        contest = session.get(Contest, announced)
        assert contest is not None
        expected = draw.randomness(bytes.fromhex(contest.seed), record.entries_hash, value)
        assert record.randomness == expected.hex()


def test_the_job_draws_closed_contests_that_need_no_one(setup: Setup) -> None:
    plain = _create(setup)
    waits = _create(setup, external_source="drand round 7")
    still_open = _create(setup, closes_at=setup.start + timedelta(days=30))
    entry_id, _ = _enter(plain, "solo@example.com", ip="solo")
    _verify(plain, entry_id)
    close = setup.start + timedelta(hours=1)
    with reading() as session:
        due = set(contests.due_for_draw(session, close))
    assert plain in due and waits not in due and still_open not in due
    result = contests.draw_due_contests(close, None)
    assert result["failed"] == 0 and result["drawn"] >= 1
    with reading() as session:
        record = contests.draw_of(session, plain)
        assert record is not None and record.winners == [entry_id]
        assert record.drawn_by == contests.JOB_ACTOR
        assert contests.draw_of(session, waits) is None
        assert plain not in set(contests.due_for_draw(session, close))


def test_concurrent_entries_keep_one_per_mailbox_and_the_ip_limit(setup: Setup) -> None:
    """Eight entrants at once: the contest lock makes the checks exact on both engines."""
    from concurrent.futures import ThreadPoolExecutor

    contest_id = _create(setup, per_ip_limit=3)
    spellings = [f"{'.'.join('samesame')}+{n}@gmail.com" for n in range(8)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        same_mailbox = list(
            pool.map(
                lambda pair: _enter(contest_id, pair[1], ip=f"m{pair[0]}"), enumerate(spellings)
            )
        )
        same_ip = list(
            pool.map(lambda n: _enter(contest_id, f"house{n}@example.com", ip="house"), range(8))
        )
    assert sorted(str(reason) for _, reason in same_mailbox) == ["None"] + ["duplicate"] * 7
    assert sorted(str(reason) for _, reason in same_ip) == ["None"] * 3 + ["ip_limit"] * 5
