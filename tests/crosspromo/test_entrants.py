"""One entry per person (crosspromo/entrants.py): e-mail normalisation by table and by
property, throwaway domains, self-referrals and the winners' pseudonyms."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alliance.crosspromo.entrants import (
    BadEmail,
    Referrer,
    email_keys,
    is_disposable,
    is_self_referral,
    normalise_email,
    public_name,
)


@pytest.mark.parametrize(
    ("typed", "key"),
    [
        ("  Anna@Example.com ", "anna@example.com"),
        ("J.Doe+win@gmail.com", "jdoe@gmail.com"),
        ("j.d.o.e@GoogleMail.com", "jdoe@gmail.com"),
        ("jdoe+a+b@googlemail.com", "jdoe@gmail.com"),
        ("first.last+news@outlook.com", "first.last@outlook.com"),
        ("x+y@hotmail.com", "x@hotmail.com"),
        ("me+contest@icloud.com", "me@icloud.com"),
        ("someone+tag@proton.me", "someone@proton.me"),
        ("someone+tag@fastmail.com", "someone@fastmail.com"),
        # Elsewhere "+" and dots may be part of the mailbox: kept.
        ("first.last+news@example.com", "first.last+news@example.com"),
        ("a.b@yahoo.com", "a.b@yahoo.com"),
        # Internationalised domains compare in their ASCII form.
        ("Jörg@Bücher.de", "jörg@xn--bcher-kva.de"),
    ],
)
def test_addresses_of_one_mailbox_share_a_key(typed: str, key: str) -> None:
    normal = normalise_email(typed)
    assert normal.key == key
    assert normal.address == typed.strip()


@pytest.mark.parametrize(
    "typed",
    ["", "   ", "anna", "anna@", "@example.com", "a@@b.com", "a b@example.com", "a@localhost",
     "a@b.test", "+tag@gmail.com", "x" * 300 + "@example.com", "anna@example.com\n"],
)  # fmt: skip
def test_what_is_not_an_address_is_refused(typed: str) -> None:
    if typed == "anna@example.com\n":
        # A trailing line end is trimmed like any white space, not an injection vector.
        assert normalise_email(typed).key == "anna@example.com"
        return
    with pytest.raises(BadEmail):
        normalise_email(typed)


local_parts = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=20)


@settings(max_examples=200)
@given(
    local=local_parts,
    dots=st.lists(st.integers(1, 19), max_size=4),
    tag=st.one_of(st.none(), local_parts),
    domain=st.sampled_from(["gmail.com", "googlemail.com", "GMAIL.COM", "GoogleMail.Com"]),
    upper=st.booleans(),
)
def test_every_gmail_spelling_of_a_mailbox_is_one_key(
    local: str, dots: list[int], tag: str | None, domain: str, upper: bool
) -> None:
    spelled = local
    for position in sorted(set(dots), reverse=True):
        if position < len(spelled):
            spelled = spelled[:position] + "." + spelled[position:]
    if spelled.startswith(".") or spelled.endswith(".") or ".." in spelled:
        return  # not a valid local part anywhere
    spelled = spelled.upper() if upper else spelled
    address = f"{spelled}{'+' + tag if tag else ''}@{domain}"
    assert normalise_email(address).key == f"{local}@gmail.com"


@settings(max_examples=200)
@given(local=local_parts, domain=st.sampled_from(["example.com", "shop.example.org"]))
def test_normalising_is_idempotent(local: str, domain: str) -> None:
    once = normalise_email(f"{local}@{domain}").key
    assert normalise_email(once).key == once


@pytest.mark.parametrize(
    ("domain", "disposable"),
    [
        ("mailinator.com", True),
        ("MAILINATOR.COM", True),
        ("inbox.mailinator.com", True),
        ("guerrillamail.com", True),
        ("10minutemail.com", True),
        ("gmail.com", False),
        ("example.com", False),
        ("mailinator.com.example.org", False),
    ],
)
def test_throwaway_domains_and_their_subdomains_are_known(domain: str, disposable: bool) -> None:
    assert is_disposable(domain) is disposable


def test_an_extra_list_adds_domains() -> None:
    assert is_disposable("burner.example", extra={"burner.example"})
    assert not is_disposable("burner.example")


def test_a_referrer_cannot_refer_its_own_mailbox_or_address() -> None:
    entrant = Referrer(email_keys=frozenset({"anna@gmail.com"}), ip_hash="aaa")
    team = email_keys(["Team@Blog.example", None, "not an address"])
    partner = Referrer(email_keys=team, ip_hash=None)
    assert partner.email_keys == frozenset({"team@blog.example"})
    assert is_self_referral("anna@gmail.com", "bbb", entrant)  # same mailbox
    assert is_self_referral("bob@example.com", "aaa", entrant)  # same IP address
    assert not is_self_referral("bob@example.com", "bbb", entrant)
    assert is_self_referral("team@blog.example", "ccc", partner)
    assert not is_self_referral("reader@example.com", "ccc", partner)  # partners have no IP


@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("Anna Svensson", "Anna S."),
        ("  anna   maria  svensson ", "anna S."),
        ("Björn", "Björn"),
        ("Jean-Luc Picard", "Jean-Luc P."),
        ("", "?"),
        ("王 小明", "王 小."),
    ],
)
def test_winners_are_shown_by_first_name_and_initial(name: str, shown: str) -> None:
    assert public_name(name) == shown
