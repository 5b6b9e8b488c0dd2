"""The demo's payouts: the network's legal and paying details, each partner's payout and tax
details, and the payout runs of the weeks the demo covers (docs/payouts.md).

Details are made as a real partner would type them and go through the same checks
(alliance.payouts.profiles): IBANs from SWIFT's bank registry (schwifty), VAT numbers and tax
ids with valid check digits (python-stdnum), all fictional. Two partners are left with
something missing, so the demo shows payouts held with their reason.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from schwifty import IBAN
from sqlalchemy import select
from sqlalchemy.orm import Session
from stdnum.eu import vat as eu_vat
from stdnum.us import ein

from alliance.db.engine import transaction
from alliance.demo.network import DemoPartner
from alliance.payouts import profiles
from alliance.payouts import service as payouts
from alliance.payouts.details import EU_COUNTRIES, required_us_form
from alliance.payouts.models import Payout, PayoutStatus

# A bank per country the demo's partners bank in: (bank code, digits of an account number).
_BANKS: dict[str, tuple[str, int]] = {
    "DE": ("37040044", 10),
    "AT": ("12000", 11),
    "GB": ("NWBK601613", 8),
    "SE": ("500", 16),
    "NO": ("8601", 6),
    "ES": ("21000418", 10),
    "NL": ("ABNA", 10),
    "FR": ("3000400001", 11),
    "FI": ("123", 10),
}
# VAT number shapes ('#' a digit) whose check digits random tries satisfy quickly.
_VAT_SHAPES = {
    "DE": "DE#########",
    "AT": "ATU########",
    "NL": "NL#########B01",
    "FR": "FR###########",
    "ES": "ESA########",
    "SE": "SE##########01",
    "FI": "FI########",
}
THRESHOLDS = {"SEK": "500", "NOK": "500", "JPY": "5000", "CAD": "75"}
# Left with something missing on purpose: the demo shows their payouts held.
NO_TAX_PROFILE = "Polar Pixel"
NO_US_FORM = "PointsPlus Loyalty"  # a Canadian business in US programs: needs a W-8BEN-E

NETWORK = {
    "legal_name": "Alliance Demo Network AB",
    "address": "Drottninggatan 1\n111 51 Stockholm\nSweden",
    "country": "SE",
}


def _digits(shape: str, rng: random.Random) -> str:
    return "".join(str(rng.randrange(10)) if c == "#" else c for c in shape)


def _vat_id(country: str, rng: random.Random) -> str:
    shape = _VAT_SHAPES[country]
    for _ in range(50_000):
        candidate = _digits(shape, rng)
        if eu_vat.is_valid(candidate):
            return candidate
    raise RuntimeError(f"no valid demo VAT number for {country}")  # pragma: no cover


def _ein(rng: random.Random) -> str:
    while True:
        candidate = _digits("#########", rng)
        if ein.is_valid(candidate):
            return ein.format(candidate)


def _iban(country: str, rng: random.Random) -> IBAN:
    bank, length = _BANKS[country]
    return IBAN.generate(country, bank_code=bank, account_code=_digits("#" * length, rng))


def _slug(name: str) -> str:
    return "".join(c for c in name.lower() if c.isalnum()) or "partner"


def add_details(
    session: Session, partners: dict[str, DemoPartner], now: datetime, rng: random.Random
) -> None:
    """The network's details, and every partner's payout settings and tax profile."""
    payer = _iban("SE", rng)
    profiles.save_network_profile(
        session,
        **NETWORK,
        vat_id=_vat_id("SE", rng),
        payer_iban=payer.compact,
        payer_bic=str(payer.bic),
        now=now,
    )
    for partner_id, spec in partners.items():
        influencer = spec.type == "influencer"
        banked = spec.country in _BANKS and not influencer
        iban = _iban(spec.country, rng) if banked else None
        profiles.save_payout_settings(
            session,
            partner_id,
            payout_currency=spec.payout_currency,
            schedule="twice_monthly" if spec.type == "deals" else "monthly",
            threshold=THRESHOLDS.get(spec.payout_currency, "50"),
            method="bank_transfer" if banked else "paypal",
            account_holder=spec.name if banked else None,
            iban=iban.compact if iban else None,
            bic=str(iban.bic) if iban else None,
            paypal_email=None if banked else f"payouts@{_slug(spec.name)}.example",
            now=now,
        )
        if spec.name == NO_TAX_PROFILE:
            continue
        entity = "individual" if influencer else "business"
        form = None if spec.name == NO_US_FORM else required_us_form(spec.country, entity)
        business_in_eu = entity == "business" and spec.country in EU_COUNTRIES
        tax_id = _ein(rng) if spec.country == "US" else None
        profiles.save_tax_profile(
            session,
            partner_id,
            entity=entity,
            legal_name=spec.name if influencer else f"{spec.name} Ltd",
            address=f"{spec.name}\n1 Demo Street\n{spec.country}",
            country=spec.country,
            vat_id=_vat_id(spec.country, rng) if business_in_eu else None,
            tax_id=tax_id,
            # The Swedish businesses invoice the Swedish network with Swedish VAT.
            vat_rate=Decimal(25) if business_in_eu and spec.country == "SE" else None,
            us_tax_form=form.value if form else None,
            us_tax_form_signed_on=(now - timedelta(days=90)).date() if form else None,
            now=now,
        )


@dataclass
class PayoutHistory:
    runs: int = 0
    created: int = 0
    paid: int = 0
    failed: int = 0
    held: int = 0


def period_ends(start: date, before: date) -> list[date]:
    """Every 15th and month end from `start` up to the day before `before`."""
    found, day = [], start
    while day < before:
        if day.day == 15 or (day + timedelta(days=1)).day == 1:
            found.append(day)
        day += timedelta(days=1)
    return found


def pay(
    partner_ids: list[str],
    start: date,
    now: datetime,
    rng: random.Random,
    report: Callable[[str, int, int], None],
) -> PayoutHistory:
    """Run payouts for the demo's partners at every period end the demo covers, two days
    after it, as an operator would; the payouts of earlier runs were sent and paid (one
    bounced: its money went back to the balance for the partner's next period), the last
    run's wait to be sent. Only the demo's partners: a database with other partners keeps
    their balances as they are."""
    history = PayoutHistory()
    ends = period_ends(start, now.date())
    for index, through in enumerate(ends):
        at = datetime.combine(through + timedelta(days=2), time(9), tzinfo=UTC)
        at = min(at, now)
        run = payouts.run(through, "demo", partners=partner_ids, now=at)
        history.runs += 1
        report("payout runs", index + 1, len(ends))
        if index == len(ends) - 1:
            break
        with transaction() as session:
            made = session.scalars(
                select(Payout).where(
                    Payout.run_id == run.id, Payout.status == PayoutStatus.created.value
                )
            ).all()
            bounced = rng.choice(made).id if made and index == len(ends) - 2 else None
            for payout in made:
                payouts.mark(session, payout.id, "sent", now=at + timedelta(hours=2))
                if payout.id == bounced:
                    payouts.mark(
                        session,
                        payout.id,
                        "failed",
                        reason="returned by the bank: AC04 account closed",
                        now=at + timedelta(days=3),
                    )
                else:
                    payouts.mark(session, payout.id, "paid", now=at + timedelta(days=1))
    with transaction() as session:
        demo_payouts = select(Payout.status).where(Payout.partner_id.in_(partner_ids))
        for status in session.scalars(demo_payouts):
            history.created += status != PayoutStatus.held and status != PayoutStatus.cancelled
            history.paid += status == PayoutStatus.paid
            history.failed += status == PayoutStatus.failed
            history.held += status == PayoutStatus.held
    return history
