"""Partners with payout details and approved commissions, driven through the service layer."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select

from alliance.accounts.models import Advertiser
from alliance.commissions import service as ledger
from alliance.commissions.models import Commission
from alliance.conversions import service as conversions
from alliance.db.engine import transaction
from alliance.ids import new_token
from alliance.payouts import profiles
from alliance.payouts.models import NetworkProfile
from alliance.programs.models import Program
from tests.conversions.factories import World, report, world

D = Decimal
# The network's own details, on every invoice (a Swedish operator with its VAT number).
NETWORK = {
    "legal_name": "Alliance Test Network AB",
    "address": "Drottninggatan 1\n111 51 Stockholm",
    "country": "SE",
    "vat_id": "SE556036079301",
}


def payee(
    *,
    currency: str = "EUR",
    payout_currency: str = "EUR",
    percent: str = "10",
    advertiser_country: str = "SE",
    method: str = "bank_transfer",
    threshold: str = "50.00",
    schedule: str = "monthly",
    entity: str | None = "individual",
    tax_country: str = "DE",
) -> World:
    """A program in `currency` (no lock period) and a partner paid in `payout_currency`
    (EUR unless told), with payout details and a tax profile."""
    w = world(currency=currency, terms={"type": "cps", "percent": percent}, lock_days=0)
    with transaction() as session:
        if session.get(NetworkProfile, "network") is None:
            profiles.save_network_profile(session, **NETWORK)
        program = session.get(Program, w.program_id)
        assert program is not None
        advertiser = session.get(Advertiser, program.advertiser_id)
        assert advertiser is not None
        advertiser.country = advertiser_country
        profiles.save_payout_settings(
            session,
            w.partner_id,
            payout_currency=payout_currency,
            schedule=schedule,
            threshold=threshold,
            method=method,
            account_holder="Erika Mustermann",
            iban="DE89 3704 0044 0532 0130 00",
            bic="COBADEFFXXX",
            paypal_email="erika@example.com",
        )
        if entity is not None:
            profiles.save_tax_profile(
                session,
                w.partner_id,
                entity=entity,
                legal_name="Erika Mustermann",
                address="Musterstraße 1\n10115 Berlin",
                country=tax_country,
                vat_id="DE136695976" if entity == "business" else None,
            )
    return w


def approved(w: World, amount: str, at: datetime) -> Commission:
    """An order of `amount` completed at `at` and its commission approved then."""
    with transaction() as session:
        program = session.get(Program, w.program_id)
        assert program is not None
        outcome = conversions.record(
            session,
            program,
            report(w, f"P-{new_token(9)}", amount=D(amount), status="completed"),
            None,
            at,
        )
    with transaction() as session:
        ledger.approve_due(session, at)
    with transaction() as session:
        commission = session.scalars(
            select(Commission).where(Commission.source_key == outcome.conversion_id)
        ).one()
        session.expunge(commission)
        return commission


def day(text: str) -> date:
    return date.fromisoformat(text)
