"""Benchmark payout runs: preview, run, a second run, the run's files, a statement, an invoice.

    .venv/bin/python bench/payouts.py [--db sqlite|postgresql] [--partners N] [--commissions N]

It creates a fresh database (a temp SQLite file, or the PostgreSQL database
`alliance_bench_payouts`), migrates it, and adds the network's details and N partners with
payout details and a tax profile (a third paid by PayPal, the others by SEPA transfer), each
with `--commissions` commissions approved last month in SEK and fixed to EUR at an ECB rate,
written straight to the ledger as approval writes them. Then it times, as an operator would
use them:

- `preview` of the run (reads only),
- `run` (one transaction per partner: lock, read, move every commission approved -> paid,
  number the invoice),
- a second `run` (every period is paid: nothing moves),
- the run's payment files (SEPA pain.001 validated against its XSD, PayPal CSV, CSV),
- the statement and the invoice PDF of one payout,

and checks the money: Σ approved = Σ payouts + what stays below a threshold, and the second
run makes nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import redirect  # noqa: E402  (the benchmarks' shared helpers)


def fresh_database(kind: str, pg_url: str, workdir: Path) -> str:
    return redirect.fresh_database(kind, pg_url, workdir, "alliance_bench_payouts")


def seed(database_url: str, partners: int, commissions: int) -> tuple[Decimal, datetime]:
    """The network, the partners and their approved commissions; returns Σ approved EUR."""
    os.environ["ALLIANCE_DATABASE_URL"] = database_url
    from alliance.settings import get_settings

    get_settings.cache_clear()
    from schwifty import IBAN

    from alliance.accounts.models import Advertiser, Partner
    from alliance.commissions.models import Commission, LedgerEntry
    from alliance.db.engine import transaction
    from alliance.db.migrate import upgrade
    from alliance.ids import new_id
    from alliance.money import round_money
    from alliance.payouts import profiles
    from alliance.payouts.models import PayoutSettings, TaxProfile
    from alliance.programs.models import Program

    upgrade(database_url)
    now = datetime.now(UTC)
    approved_at = (now.replace(day=1) - timedelta(days=10)).replace(hour=12)
    rate = Decimal("0.08771929825")  # SEK -> EUR
    total = Decimal(0)
    with transaction(database_url) as session:
        profiles.save_network_profile(
            session,
            legal_name="Bench Network AB",
            address="Drottninggatan 1\nStockholm",
            country="SE",
            vat_id="SE556036079301",
            payer_iban="SE4550000000058398257466",
            payer_bic="ESSESESS",
        )
        adv = Advertiser(id=new_id("adv"), name="Bench shop", country="SE", currency="SEK")
        session.add(adv)
        session.flush()
        program = Program(
            id=new_id("prg"),
            advertiser_id=adv.id,
            name="Bench program",
            currency="SEK",
            landing_url="https://shop.example/",
            postback_token="x" * 32,
        )
        session.add(program)
        session.flush()
        for n in range(partners):
            partner = Partner(
                id=new_id("ptn"),
                name=f"Bench partner {n}",
                type="content",
                country="DE",
                payout_currency="EUR",
            )
            session.add(partner)
            paypal = n % 3 == 0
            iban = IBAN.generate("DE", bank_code="37040044", account_code=f"{n:010d}")
            session.add(
                PayoutSettings(
                    partner_id=partner.id,
                    schedule="monthly",
                    threshold=Decimal("10.00"),
                    method="paypal" if paypal else "bank_transfer",
                    account_holder=None if paypal else partner.name,
                    iban=None if paypal else iban.compact,
                    bic=None if paypal else "COBADEFFXXX",
                    paypal_email=f"p{n}@bench.example" if paypal else None,
                    updated_at=now,
                )
            )
            session.add(
                TaxProfile(
                    partner_id=partner.id,
                    entity="individual",
                    legal_name=partner.name,
                    address="Musterstraße 1\nBerlin",
                    country="DE",
                    updated_at=now,
                )
            )
            for c in range(commissions):
                amount = Decimal(100 + (n * 7 + c * 13) % 900) / 4  # 25.00 .. 249.75 SEK
                payout_amount = round_money(amount * rate, "EUR")
                total += payout_amount
                cid = new_id("com")
                session.add(
                    Commission(
                        id=cid,
                        source_key=f"bench:{cid}",
                        kind="sale",
                        program_id=program.id,
                        partner_id=partner.id,
                        status="approved",
                        currency="SEK",
                        amount=amount,
                        rule={},
                        arithmetic="",
                        occurred_at=approved_at - timedelta(days=5),
                        approvable_at=approved_at,
                        approved_at=approved_at,
                        payout_currency="EUR",
                        payout_rate=rate,
                        payout_rate_day=approved_at.date(),
                    )
                )
                for bucket, sign in (("pending", 1), ("pending", -1), ("approved", 1)):
                    session.add(
                        LedgerEntry(
                            id=new_id("led"),
                            commission_id=cid,
                            program_id=program.id,
                            partner_id=partner.id,
                            currency="SEK",
                            bucket=bucket,
                            entry_type="accrual"
                            if sign > 0 and bucket == "pending"
                            else "approval",
                            amount=amount * sign,
                            payout_amount=payout_amount if bucket == "approved" else None,
                            idempotency_key=f"{cid}:{bucket}:{sign}",
                            created_at=approved_at,
                        )
                    )
            if n % 200 == 199:
                session.flush()
    return total, now


def timed(label: str, rows: list[tuple[str, str, str]], action):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    result = action()
    elapsed = time.perf_counter() - started
    rows.append((label, f"{elapsed:8.2f} s", ""))
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--commissions", type=int, default=20, help="per partner")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir:
        url = fresh_database(args.db, args.pg_url, Path(workdir))
        started = time.perf_counter()
        expected, now = seed(url, args.partners, args.commissions)
        seeded = time.perf_counter() - started

        from sqlalchemy import select

        from alliance.commissions.models import LedgerEntry
        from alliance.db.engine import dispose_all, reading
        from alliance.payouts import paperwork
        from alliance.payouts import service as payouts
        from alliance.payouts.models import Payout

        through = payouts.default_through(now)
        rows: list[tuple[str, str, str]] = []
        with reading() as session:
            decisions, _ = timed("preview", rows, lambda: payouts.preview(session, through))
        run, elapsed = timed("run", rows, lambda: payouts.run(through, "bench"))
        lines = args.partners * args.commissions
        rows[-1] = (
            rows[-1][0],
            rows[-1][1],
            f"{args.partners / elapsed:,.0f} payouts/s, {lines / elapsed:,.0f} lines/s",
        )
        again, _ = timed("second run (nothing to pay)", rows, lambda: payouts.run(through, "bench"))
        with reading() as session:
            found, _ = timed("payment files", rows, lambda: paperwork.run_files(session, run.id))
            sizes = ", ".join(
                f"{name.split('-')[0]} {len(c):,} B" for name, c in found.files.items()
            )
            rows[-1] = (rows[-1][0], rows[-1][1], sizes)
            one = session.scalars(select(Payout.id).limit(1)).one()
            timed(
                f"statement PDF ({args.commissions} lines)",
                rows,
                lambda: paperwork.statement_pdf(session, one),
            )
            timed("invoice PDF", rows, lambda: paperwork.invoice_pdf(session, one))
            paid = sum((p.amount for p in session.scalars(select(Payout))), Decimal(0))
            left = sum(
                (
                    e.payout_amount or Decimal(0)
                    for e in session.scalars(
                        select(LedgerEntry).where(LedgerEntry.bucket == "approved")
                    )
                ),
                Decimal(0),
            )
        dispose_all()

    print(
        f"\npayout runs on {args.db}: {args.partners:,} partners x {args.commissions} commissions"
    )
    print(f"(seeded in {seeded:.1f} s; preview found {len(decisions):,} decisions)\n")
    width = max(len(r[0]) for r in rows)
    for label, seconds, note in rows:
        print(f"  {label:<{width}}  {seconds}  {note}")
    # Every cent approved is paid or still in the balance (partners below the threshold),
    # and the second run made nothing.
    made = run.outcome.get("create", 0)
    ok = paid + left == expected and again.outcome.get("already_made") == made
    verdict = "OK" if ok else "WRONG"
    print(
        f"\n  money: approved {expected} EUR = paid {paid} + left below threshold {left}: {verdict}"
    )
    if not ok:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
