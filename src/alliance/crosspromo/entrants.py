"""Who an entrant is, for one-entry-per-person: e-mail normalisation, throwaway mailboxes,
self-referrals, and the pseudonym winners are shown under. Pure.

Normalisation (docs/contests.md): trim, lower-case, the domain in its ASCII (IDNA) form; at
the providers below, the parts of the local part that reach the same mailbox are removed:

* Gmail (gmail.com, googlemail.com): dots are ignored and `+tag` is dropped, and googlemail.com
  is gmail.com — `J.Doe+win@googlemail.com` is `jdoe@gmail.com`.
* `+tag` (sub-addressing) is dropped at the providers that document it: Microsoft (outlook.com,
  hotmail.com, live.com, msn.com), Apple iCloud (icloud.com, me.com, mac.com), Proton
  (proton.me, protonmail.com, protonmail.ch, pm.me), Fastmail (fastmail.com, fastmail.fm),
  Yandex (yandex.com, yandex.ru), Zoho (zoho.com), HEY (hey.com).

Everywhere else `+` is kept: a mail server may treat it as an ordinary character, and merging
two real people would take an entry from one of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from disposable_email_domains import blocklist
from email_validator import EmailNotValidError, validate_email

GMAIL = "gmail.com"
GMAIL_DOMAINS = frozenset({"gmail.com", "googlemail.com"})
PLUS_TAG_DOMAINS = frozenset(
    {
        "outlook.com", "hotmail.com", "live.com", "msn.com",
        "icloud.com", "me.com", "mac.com",
        "proton.me", "protonmail.com", "protonmail.ch", "pm.me",
        "fastmail.com", "fastmail.fm",
        "yandex.com", "yandex.ru",
        "zoho.com",
        "hey.com",
    }
)  # fmt: skip
EMAIL_MAX = 320


class BadEmail(ValueError):
    """Not an address anyone could receive mail at (the entry is refused as bad_email)."""


@dataclass(frozen=True, slots=True)
class NormalisedEmail:
    address: str  # as typed, trimmed: where the verification mail goes
    key: str  # the person's mailbox: one entry per key and contest
    domain: str  # ASCII (IDNA) domain of the key


def normalise_email(raw: str) -> NormalisedEmail:
    """The mailbox behind an address; BadEmail when it is not a deliverable-looking address."""
    address = raw.strip()
    if not address or len(address) > EMAIL_MAX:
        raise BadEmail("not an e-mail address")
    try:
        # Syntax only (no DNS): the verification mail proves the mailbox exists.
        checked = validate_email(address, check_deliverability=False)
    except EmailNotValidError as exc:
        raise BadEmail(str(exc)) from None
    local = checked.local_part.lower()
    domain = checked.ascii_domain.lower().rstrip(".")
    if domain in GMAIL_DOMAINS:
        domain = GMAIL
        local = local.split("+", 1)[0].replace(".", "")
    elif domain in PLUS_TAG_DOMAINS:
        local = local.split("+", 1)[0]
    if not local:
        raise BadEmail("the part before the @-sign is empty once its +tag is dropped")
    return NormalisedEmail(address=address, key=f"{local}@{domain}", domain=domain)


def is_disposable(domain: str, extra: Iterable[str] = ()) -> bool:
    """A throwaway-mailbox domain, or a subdomain of one (`x.mailinator.com`)."""
    listed = set(extra)
    labels = domain.lower().rstrip(".").split(".")
    for start in range(len(labels) - 1):
        candidate = ".".join(labels[start:])
        if candidate in blocklist or candidate in listed:
            return True
    return False


class RejectReason(StrEnum):
    """Why an entry was refused; every refused entry is kept with one of these."""

    bad_email = "bad_email"
    """The address is not a syntactically valid e-mail address."""
    disposable_domain = "disposable_domain"
    """The address is at a throwaway-mailbox provider (disposable-email-domains list)."""
    duplicate = "duplicate"
    """This mailbox (after normalisation) already has an entry in the contest."""
    not_open = "not_open"
    """The entry came before the contest opened."""
    closed = "closed"
    """The entry came after the contest closed (or after its draw)."""
    ip_limit = "ip_limit"
    """The contest's limit of entries from one (hashed) IP address was reached."""
    self_referral = "self_referral"
    """The referral code is the entrant's own: the referrer's address or IP address."""


@dataclass(frozen=True, slots=True)
class Referrer:
    """Who a referral code belongs to, as far as self-referral is concerned."""

    email_keys: frozenset[str]  # normalised addresses (an entrant's; a partner's and its team's)
    ip_hash: str | None  # an entrant's hashed IP; partners have none we know of


def is_self_referral(email_key: str, ip_hash: str, referrer: Referrer) -> bool:
    """The entrant is the referrer: the same mailbox, or the same (hashed) IP address."""
    return email_key in referrer.email_keys or (
        referrer.ip_hash is not None and referrer.ip_hash == ip_hash
    )


def email_keys(addresses: Iterable[str | None]) -> frozenset[str]:
    """The normalised forms of those addresses that are addresses at all."""
    keys: set[str] = set()
    for address in addresses:
        if not address:
            continue
        try:
            keys.add(normalise_email(address).key)
        except BadEmail:
            continue
    return frozenset(keys)


def public_name(name: str) -> str:
    """How a winner is shown publicly: the first name and the last name's initial ("Anna S.")."""
    words = name.split()
    if not words:
        return "?"
    if len(words) == 1:
        return words[0]
    return f"{words[0]} {words[-1][0].upper()}."
