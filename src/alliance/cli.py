"""`alliance ...`: the command line. Each capability adds its command here."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from alliance.settings import get_settings

app = typer.Typer(help="Alliance partner-marketing network.", no_args_is_help=True)
console = Console()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic) and store the bundled ECB rates."""
    from alliance.db.migrate import upgrade

    upgrade()
    console.print(f"[green]database is up to date[/] ({get_settings().database_url})")


@app.command()
def serve(
    host: str = typer.Option(None, help="Interface to bind (default ALLIANCE_HOST, 127.0.0.1)"),
    port: int = typer.Option(None, help="Port (default ALLIANCE_PORT, 8000)"),
    workers: int = typer.Option(None, help="Worker processes (default ALLIANCE_WORKERS, 1)"),
) -> None:
    """Serve the network: tracking links, postbacks, the API and the dashboards."""
    from granian import Granian
    from granian.constants import Interfaces, Loops

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    base = f"http://{host}:{port}"
    console.print(f"Alliance on [bold]{base}[/]  (database: {settings.database_url})")
    console.print(f"  dashboard   {base}/")
    console.print(f"  API docs    {base}/api/v1/docs")
    console.print(f"  health      {base}/healthz")
    jobs = None
    if settings.run_jobs:
        # A child process, not a thread: Granian forks its workers from this process, and a
        # fork must not copy a thread that may hold a lock.
        jobs = subprocess.Popen(  # noqa: S603 - our own interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "alliance.cli",
                "jobs",
                "run",
                "--every",
                str(settings.jobs_every_s),
                "--quiet",
            ]
        )
        console.print(
            f"  jobs        every {settings.jobs_every_s:g} s (ALLIANCE_RUN_JOBS=false to turn off)"
        )
    server = Granian(
        "alliance.asgi:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        # uvloop: ~10% more redirects per second than asyncio's loop, and a lower p99.
        loop=Loops.uvloop,
        workers=workers,
        log_access=False,
        backlog=2048,
    )
    try:
        server.serve()
    finally:
        if jobs is not None:
            jobs.terminate()
            try:
                jobs.wait(10)
            except subprocess.TimeoutExpired:
                jobs.kill()


reconcile_app = typer.Typer(help="Pull orders a store failed to deliver by webhook.")
app.add_typer(reconcile_app, name="reconcile")


@reconcile_app.command("woocommerce")
def reconcile_woocommerce(
    program: str = typer.Option(..., help="Program id (prg_...) with a WooCommerce integration"),
    since: datetime = typer.Option(..., help="Orders modified from (UTC), e.g. 2026-11-01"),
    until: datetime | None = typer.Option(None, help="Orders modified before (UTC; default now)"),
) -> None:
    """Import the orders the store changed in a period that no webhook told (run it daily)."""
    from alliance.conversions.reconcile import StoreError
    from alliance.conversions.reconcile import reconcile_woocommerce as run
    from alliance.errors import AllianceError

    def utc(value: datetime | None) -> datetime | None:
        return value.replace(tzinfo=UTC) if value and value.tzinfo is None else value

    start = utc(since)
    assert start is not None
    try:
        report = run(program, start, utc(until))
    except (AllianceError, StoreError) as exc:
        console.print(f"[red]{exc}[/]")
        raise typer.Exit(1) from None
    outcomes = ", ".join(f"{n} {what}" for what, n in sorted(report.outcomes.items()))
    console.print(
        f"{report.fetched} orders in {report.pages} page(s): {outcomes or 'nothing to do'}"
    )


@app.command("create-operator")
def create_operator(
    name: str = typer.Option("Operator", help="Display name"),
    email: str = typer.Option(None, help="Contact e-mail"),
) -> None:
    """Create an operator account and print its API key (shown once)."""
    from alliance.accounts.service import create_operator as create
    from alliance.db.engine import transaction

    with transaction() as session:
        operator, key = create(session, name=name, email=email)
    console.print(f"operator {operator.id}")
    typer.echo(key)


@app.command("create-user")
def create_user(
    email: str = typer.Argument(..., help="The person's e-mail address (their sign-in)"),
    account: str = typer.Option(
        ..., help="Account id to join: opr_… (operator), adv_… (advertiser) or ptn_… (partner)"
    ),
    role: str = typer.Option("owner", help="owner, member or read_only"),
    name: str = typer.Option("", help="Display name"),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input (scripts)"
    ),
) -> None:
    """Create a dashboard user (or give an existing one a role) on an account."""
    from sqlalchemy import select

    from alliance.accounts import people
    from alliance.accounts.users import Role, User
    from alliance.db.engine import transaction
    from alliance.errors import AllianceError

    try:
        chosen_role = Role(role)
        kind = people.kind_of_account_id(account)
        with transaction() as session:
            user = session.scalar(select(User).where(User.email == people.normalize_email(email)))
            if user is None:
                if password_stdin:
                    password = sys.stdin.readline().rstrip("\n")
                else:
                    password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
                user = people.create_user(session, email, password, name)
            people.add_membership(session, user.id, kind, account, chosen_role)
            user_id = user.id
    except ValueError:
        raise typer.BadParameter("role is one of owner, member, read_only") from None
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    console.print(f"user {user_id} is {chosen_role.value} of {account}; sign in at /login")


@app.command()
def demo(
    if_empty: bool = typer.Option(False, "--if-empty", help="Do nothing if the network has data"),
    days: int = typer.Option(56, min=1, max=365, help="Days of history"),
    scale: float = typer.Option(1.0, min=0.05, max=50.0, help="Traffic multiplier"),
    seed: int = typer.Option(2026, help="Random seed (same seed, same network shape)"),
) -> None:
    """Build a realistic demo network: advertisers, partners, programs and weeks of traffic."""
    from pathlib import Path

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from alliance.db.engine import reading
    from alliance.db.migrate import upgrade
    from alliance.demo.generate import build, network_is_empty, write_credentials

    upgrade()
    with reading() as session:
        empty = network_is_empty(session)
    if if_empty and not empty:
        console.print("demo: the network already has data; keeping it")
        return
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(step, total=total)
            bar.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

        summary = build(days=days, scale=scale, seed=seed, progress=progress)
    credentials = Path("var/demo-credentials.txt")
    write_credentials(summary, credentials)
    console.print(
        f"[green]demo network ready[/]: {summary.programs} programs, "
        f"{len(summary.partner_keys)} partners, {summary.links} links, "
        f"{summary.clicks:,} clicks ({summary.bot_clicks:,} bots, "
        f"{summary.geo_rejected_clicks:,} from countries a program does not allow), "
        f"{summary.conversions:,} conversions ({summary.completed:,} completed, "
        f"{summary.declined} declined, {summary.refunded_full} refunded, "
        f"{summary.refunded_partial} partly refunded; {summary.foreign_orders:,} paid in the "
        f"buyer's currency and priced at the ECB rate; {summary.store_orders:,} of them told "
        f"by Shopify and Stripe webhooks), "
        f"{summary.approved_commissions:,} commissions approved, "
        f"{summary.payouts} payouts in {summary.payout_runs} payout runs "
        f"({summary.payouts_failed} bounced, its money back in the balance; "
        f"{summary.payouts_held} held for missing details), "
        f"{summary.catalog_items} creatives and feed products, "
        f"{summary.validated_orders} orders validated in bulk, "
        f"{summary.subscriptions} outbound webhook subscriptions, "
        f"{summary.pending_applications} applications waiting for an answer, "
        f"{summary.rollup_buckets:,} program-days counted into the report rollups"
    )
    cross = summary.cross_promotion
    console.print(
        f"  cross-promotion:     {cross.referrals} referrals ({cross.refused_referrals} refused "
        f"as a self-referral), {cross.signups} partner sign-up waiting in the review queue, "
        f"a giveaway with {cross.contest_entries} entries ({cross.contest_refused} refused) "
        f"and {cross.contest_winners} winners drawn, {cross.bundles} two-brand bundle, "
        f"{cross.variants} landing variants on one link, a live co-promotion campaign "
        f"with {cross.campaign_slots} slots ({cross.exchange_entries} confirmed deliveries "
        f"in its fair-exchange ledger, {cross.exchange_alerts} over the tolerance), "
        f"{cross.sketches} audience sketches"
    )
    console.print(f"  try a tracking link: {summary.sample_link}")
    console.print("  sign in at /login:   ops@alliance.example (operator), ", end="")
    console.print(f"{summary.users[1].email} (advertiser), ", end="")
    partner = next(u for u in summary.users if u.email.startswith("team@"))
    console.print(f"{partner.email} (partner)")
    console.print(f"  demo password:       {summary.password}")
    console.print(f"  operator API key:    {summary.operator_key}")
    console.print(f"  every user and key:  {credentials}")
    console.print(
        f"  e-mails queued:      {summary.mails_queued} ({summary.invitations} invitations and "
        "payout notices; no SMTP host: see Operator -> E-mail, docs/mail.md)"
    )


@app.command("validate-orders")
def validate_orders(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="CSV (or .json) file"),
    program: str = typer.Option(..., help="Program id (prg_...)"),
    as_csv: bool = typer.Option(False, "--csv", help="Print the per-row report as CSV"),
) -> None:
    """Complete, decline or refund orders in bulk from a file with the header
    order_id,status,refund_amount,reason (docs/validation.md). The same file again applies
    nothing and shows the first run's report."""
    import itertools

    from rich.table import Table
    from rich.text import Text

    from alliance.conversions import validation
    from alliance.conversions.models import OrderValidation
    from alliance.db.engine import reading
    from alliance.errors import AllianceError
    from alliance.reports.export import csv_lines

    notes = Console(stderr=True) if as_csv else console  # stdout stays machine-readable
    try:
        outcome = validation.validate_file(program, file.name, file.read_bytes())
    except AllianceError as exc:
        notes.print(exc.detail, style="red", markup=False)
        raise typer.Exit(1) from None
    with reading() as session:
        found = session.get(OrderValidation, outcome.validation_id)
        assert found is not None
        if as_csv:
            records = map(validation.row_record, validation.iter_rows(session, found.id))
            for line in csv_lines(validation.ROW_COLUMNS, records):
                typer.echo(line, nl=False)
        else:
            table = Table(title=f"{found.id} ({file.name})")
            for column in ("line", "order_id", "status", "refund", "result", "detail"):
                table.add_column(column, no_wrap=column == "result")
            colours = {"applied": "green", "unchanged": "dim"}
            shown = 1000  # a terminal table of 100,000 rows helps nobody: --csv has them all
            for row in itertools.islice(validation.iter_rows(session, found.id), shown):
                cells = (row.line, row.order_id, row.status, row.refund_amount)
                table.add_row(
                    *(Text("" if cell is None else str(cell)) for cell in cells),
                    Text(row.result, style=colours.get(row.result, "red")),
                    Text(row.detail),
                )
            console.print(table)
            if found.row_count > shown:
                console.print(f"… {found.row_count - shown:,} more rows: use --csv for all")
        counts = ", ".join(f"{n} {result}" for result, n in found.counts.items() if n)
        when = found.created_at.isoformat(timespec="seconds")
    summary = {
        "created": "applied now",
        "resumed": f"resumed the interrupted upload of {when}",
        "replayed": f"replay of the upload of {when}: nothing applied now",
    }[outcome.verdict]
    notes.print(f"{outcome.validation_id}: {counts}  ({summary})", markup=False)


from alliance.reports.cli import report_app  # noqa: E402 - sub-apps mount after the commands

app.add_typer(report_app, name="report")

from alliance.crosspromo.contests_cli import contests_app  # noqa: E402

app.add_typer(contests_app, name="contests")


rollups_app = typer.Typer(
    help="Report rollups: rebuild them from the raw tables, or bring them up to date.",
    no_args_is_help=True,
)
app.add_typer(rollups_app, name="rollups")


@rollups_app.command("rebuild")
def rollups_rebuild(
    start: str = typer.Option(None, "--from", help="First UTC day (YYYY-MM-DD); default: all"),
    end: str = typer.Option(None, "--to", help="Last UTC day, inclusive; default: all"),
) -> None:
    """Recount the rollups of a period (default: every day with data) from clicks and orders.

    Safe while the network runs (one short transaction per week). Run it once after
    upgrading a database that has data, and after importing clicks or orders around the
    usual paths; reports are exact without it, only slower."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from alliance.errors import AllianceError
    from alliance.reports.rollups import rebuild
    from alliance.reports.schemas import parse_day

    try:
        first, last = parse_day(start, "from"), parse_day(end, "to")
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    if first and last and first > last:
        console.print("[red]--from must be on or before --to[/]")
        raise typer.Exit(2)
    labels = {
        "watermark": "clicks up to now",
        "traffic": "traffic by week",
        "orders": "orders by week",
        "customers": "customers by program",
    }
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
    ) as bar:
        tasks: dict[str, object] = {}

        def progress(step: str, done: int, total: int) -> None:
            if step not in tasks:
                tasks[step] = bar.add_task(labels.get(step, step), total=total)
            bar.update(tasks[step], completed=done, total=total)  # type: ignore[arg-type]

        summary = rebuild(start=first, end=last, progress=progress)
    period = f"{summary.start} .. {summary.end}" if summary.start else "nothing to count"
    console.print(
        f"[green]rollups rebuilt[/] ({period}) in {summary.seconds:.1f} s: "
        f"{summary.traffic_buckets:,} traffic and {summary.orders_buckets:,} orders "
        f"(program, day) buckets, customers of {summary.customers_programs} programs"
    )


@rollups_app.command("refresh")
def rollups_refresh() -> None:
    """Add what changed since the last refresh (the `refresh_rollups` job does it)."""
    from alliance.reports.rollups import refresh

    summary = refresh(budget_seconds=float("inf"))
    detail = ", ".join(f"{k}={v}" for k, v in summary.as_result().items())
    console.print(f"[green]rollups refreshed[/]: {detail}")


fx_app = typer.Typer(
    help="Exchange rates: the ECB euro reference rates every conversion of money uses.",
    no_args_is_help=True,
)
app.add_typer(fx_app, name="fx")


@fx_app.command("import")
def fx_import(
    file: Path = typer.Argument(
        ..., help="An ECB reference-rate file: eurofxref-hist.csv, eurofxref.csv or their zip"
    ),
) -> None:
    """Store the rates of an ECB file (from ecb.europa.eu); they win over the bundled history
    for the same days. Amounts converted earlier keep the rate they were converted at."""
    from alliance.db.engine import transaction
    from alliance.payouts import fx

    try:
        rates = fx.read_ecb_file(file)
    except (OSError, fx.FxFileError) as exc:
        console.print(f"[red]{file}: {exc}[/]")
        raise typer.Exit(2) from None
    if not rates:
        console.print(f"[red]{file}: no rates in the file[/]")
        raise typer.Exit(2)
    with transaction() as session:
        fx.store(session, rates, fx.IMPORTED, replace=True)
    days = sorted({day for day, _, _ in rates})
    currencies = len({code for _, code, _ in rates})
    console.print(
        f"[green]imported[/] {len(rates):,} rates of {currencies} currencies "
        f"for {len(days):,} days ({days[0]} .. {days[-1]})"
    )


@fx_app.command("rate")
def fx_rate(
    base: str = typer.Argument(..., help="From currency, e.g. SEK"),
    quote_currency: str = typer.Argument(..., metavar="QUOTE", help="To currency, e.g. USD"),
    on: str = typer.Option(None, "--on", help="The day (YYYY-MM-DD); default today (UTC)"),
) -> None:
    """The rate a conversion on that day would use, and the ECB day it comes from."""
    from alliance.clock import utcnow
    from alliance.db.engine import reading
    from alliance.errors import AllianceError
    from alliance.payouts import fx
    from alliance.reports.schemas import parse_day

    try:
        day = parse_day(on, "on") or utcnow().date()
        with reading() as session:
            found = fx.quote(session, base.upper(), quote_currency.upper(), day)
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    console.print(f"1 {found.base} = {found.rate} {found.quote} (ECB, {found.day.isoformat()})")


payouts_app = typer.Typer(
    help="Pay partners: preview and run payouts, follow them, write payment files.",
    no_args_is_help=True,
)
app.add_typer(payouts_app, name="payouts")


def _through_option(through: str | None) -> date:
    from alliance.errors import AllianceError
    from alliance.payouts import service as payouts
    from alliance.reports.schemas import parse_day

    try:
        return payouts.closed_through(parse_day(through, "through"))
    except AllianceError as exc:
        console.print(f"[red]{exc.field}: {exc.detail}[/]")
        raise typer.Exit(2) from None


def _decisions_table(title: str, rows: list[dict[str, Any]]) -> Any:
    from rich.table import Table

    table = Table(title=title)
    for column in ("partner", "period", "outcome", "amount", "threshold", "why"):
        table.add_column(column, justify="right" if column in ("amount", "threshold") else "left")
    for row in rows:
        table.add_row(
            row["partner_name"],
            row["period"],
            row["outcome"],
            f"{row['amount']} {row['currency']}",
            row["threshold"],
            "; ".join(row["reasons"]),
        )
    return table


@payouts_app.command("preview")
def payouts_preview(
    through: str = typer.Option(None, help="Periods closed by this day (default yesterday)"),
    partner: list[str] = typer.Option(None, "--partner", help="Only these partners"),
) -> None:
    """What a run would do now, per partner: pay (how much), hold (why), or wait."""
    from alliance.db.engine import reading
    from alliance.payouts import service as payouts

    day = _through_option(through)
    with reading() as session:
        rows = [d.as_dict() for d in payouts.preview(session, day, partner or None)]
    console.print(_decisions_table(f"payouts through {day}", rows))


@payouts_app.command("run")
def payouts_run(
    through: str = typer.Option(None, help="Periods closed by this day (default yesterday)"),
    partner: list[str] = typer.Option(None, "--partner", help="Only these partners"),
) -> None:
    """Pay every partner whose approved balance passes its threshold, once per period (safe
    to start again, or twice at once); hold those whose details are missing, saying why."""
    import getpass

    from alliance.payouts import service as payouts

    day = _through_option(through)
    run = payouts.run(day, f"cli:{getpass.getuser()}", partners=partner or None)
    detail = ", ".join(f"{k}={v}" for k, v in run.outcome.items())
    console.print(f"[green]payout run {run.id}[/] through {day}: {detail}")


@payouts_app.command("mark")
def payouts_mark(
    payout_id: str = typer.Argument(..., help="pay_..."),
    status: str = typer.Argument(..., help="sent, paid or failed"),
    reason: str = typer.Option(None, help="Why it failed (required for failed)"),
) -> None:
    """Follow a payout; a failed one returns its money to the partner's balance."""
    from alliance.db.engine import transaction
    from alliance.errors import AllianceError
    from alliance.payouts import service as payouts

    try:
        with transaction() as session:
            payout = payouts.mark(session, payout_id, status, reason=reason)
            result = f"{payout.id} is {payout.status}"
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    console.print(result)


@payouts_app.command("files")
def payouts_files(
    run_id: str = typer.Argument(..., help="prn_..."),
    out: Path = typer.Option(Path("."), help="Directory to write the files to"),
) -> None:
    """Write a run's payment files: SEPA XML (EUR bank payouts), PayPal CSV per currency,
    and the generic CSV of every payout."""
    from alliance.db.engine import reading
    from alliance.errors import AllianceError
    from alliance.payouts import files, paperwork

    try:
        with reading() as session:
            found = paperwork.run_files(session, run_id)
    except (AllianceError, files.FileRefused) as exc:
        console.print(f"[red]{getattr(exc, 'detail', exc)}[/]")
        raise typer.Exit(2) from None
    out.mkdir(parents=True, exist_ok=True)
    for name, content in sorted(found.files.items()):
        (out / name).write_bytes(content)
        console.print(f"wrote {out / name} ({len(content):,} bytes)")
    for note in found.notes:
        console.print(f"[yellow]{note}[/]")


@payouts_app.command("network")
def payouts_network(
    legal_name: str = typer.Option(..., help="The operator's legal name"),
    address: str = typer.Option(..., help="Address lines separated by '\\n' or ' | '"),
    country: str = typer.Option(..., help="ISO 3166 code, e.g. SE"),
    vat_id: str = typer.Option(None, help="The operator's VAT number"),
    iban: str = typer.Option(None, help="The account payouts are sent from"),
    bic: str = typer.Option(None, help="Its bank's BIC"),
) -> None:
    """Set the network's legal details (on every invoice) and paying account (SEPA)."""
    from alliance.db.engine import transaction
    from alliance.errors import AllianceError
    from alliance.payouts import profiles

    try:
        with transaction() as session:
            profiles.save_network_profile(
                session,
                legal_name=legal_name,
                address=address.replace(" | ", "\n").replace("\\n", "\n"),
                country=country,
                vat_id=vat_id,
                payer_iban=iban,
                payer_bic=bic,
            )
    except AllianceError as exc:
        console.print(f"[red]{exc.field}: {exc.detail}[/]")
        raise typer.Exit(2) from None
    console.print("[green]network details saved[/]")


mail_app = typer.Typer(
    help="E-mail: list the outbox, send what is due (docs/mail.md).", no_args_is_help=True
)
app.add_typer(mail_app, name="mail")


@mail_app.command("list")
def mail_list(
    limit: int = typer.Option(20, min=1, max=1000, help="How many, newest first"),
    waiting: bool = typer.Option(False, help="Only mails not sent yet"),
) -> None:
    """The newest e-mails: when, to whom, what, and whether they were sent."""
    from rich.table import Table
    from sqlalchemy import select

    from alliance.db.engine import reading
    from alliance.mail.models import OutgoingMail

    with reading() as session:
        query = select(OutgoingMail).order_by(
            OutgoingMail.created_at.desc(), OutgoingMail.id.desc()
        )
        if waiting:
            query = query.where(OutgoingMail.next_attempt_at.is_not(None))
        rows = list(session.scalars(query.limit(limit)))
    table = Table(title="alliance mail")
    for column in ("id", "queued (UTC)", "to", "kind", "locale", "subject", "state"):
        table.add_column(column)
    for m in rows:
        state = m.state.value + (f" ({m.attempts}: {m.last_error})" if m.last_error else "")
        table.add_row(
            m.id,
            f"{m.created_at:%Y-%m-%d %H:%M}",
            m.to_address,
            m.kind,
            m.locale,
            m.subject,
            state,
        )
    console.print(table)


@mail_app.command("send")
def mail_send() -> None:
    """Send the due e-mails now (what the deliver_mail job does); says so when no SMTP host
    is configured."""
    from alliance.mail.delivery import deliver_due

    result = deliver_due()
    console.print(", ".join(f"{k}={v}" for k, v in result.items()))
    if result.get("failed"):
        raise typer.Exit(1)


crosspromo_app = typer.Typer(
    help="Cross-promotion between partners: audience overlap, referral terms.",
    no_args_is_help=True,
)
app.add_typer(crosspromo_app, name="crosspromo")
sketches_app = typer.Typer(
    help="Audience sketches (docs/audience-overlap.md).", no_args_is_help=True
)
crosspromo_app.add_typer(sketches_app, name="sketches")


@sketches_app.command("refresh")
def sketches_refresh(
    window_days: int = typer.Option(
        None,
        min=1,
        max=3650,
        help="Days of clicks (default ALLIANCE_CROSSPROMO_SKETCH_WINDOW_DAYS)",
    ),
    partner: list[str] = typer.Option(None, "--partner", help="Only these partners (repeatable)"),
) -> None:
    """Rebuild audience sketches from the valid clicks of the window (the daily job's work)."""
    from alliance.crosspromo.overlap import refresh_sketches
    from alliance.errors import AllianceError

    try:
        done = refresh_sketches(window_days=window_days, partner_ids=partner or None)
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    console.print(
        f"[green]refreshed[/] {done.partners:,} partners' sketches over {done.window_days} days "
        f"from {done.clicks_read:,} clicks in {done.seconds:.1f} s"
    )


@crosspromo_app.command("overlap")
def crosspromo_overlap(
    partner_id: str = typer.Argument(..., help="A partner (ptn_...)"),
    other_partner_id: str = typer.Argument(
        None, help="The other partner; without it, the partners sharing the most visitors"
    ),
    window_days: int = typer.Option(None, min=1, max=3650, help="Days of clicks"),
    limit: int = typer.Option(10, min=1, max=100, help="How many partners without OTHER"),
    csv: bool = typer.Option(False, "--csv", help="CSV instead of a table"),
) -> None:
    """How many visitors two partners share (estimates with 95% bounds; counts under 50 are
    shown as "< 50", as in the API)."""
    from rich.table import Table

    from alliance.crosspromo import overlap
    from alliance.crosspromo.overlap_api import CSV_COLUMNS
    from alliance.db.engine import reading
    from alliance.errors import AllianceError
    from alliance.reports.export import to_csv

    try:
        days = overlap.check_window(window_days)
        with reading() as session:
            if other_partner_id:
                pairs = [overlap.pair_overlap(session, partner_id, other_partner_id, days)]
            else:
                pairs = overlap.top_overlaps(session, partner_id, days, limit=limit)
    except AllianceError as exc:
        console.print(f"[red]{exc.detail}[/]")
        raise typer.Exit(2) from None
    rows = [overlap.present(pair) for pair in pairs]
    for row in rows:
        row["computed_at"] = row["computed_at"].isoformat()
    if csv:
        typer.echo(to_csv(CSV_COLUMNS, rows), nl=False)
        return
    if not rows:
        console.print(
            f"no partner shares {overlap.SUPPRESS_BELOW} or more visitors with {partner_id}"
        )
        return
    if other_partner_id:
        table = Table(title=f"audience overlap, {days} days")
        table.add_column("")
        table.add_column("value")
        for column in CSV_COLUMNS:
            table.add_row(column, str(rows[0][column]))
    else:
        table = Table(title=f"partners sharing the most visitors with {partner_id}, {days} days")
        for column in ("other_partner_id", "other_audience", "shared", "95% bounds", "jaccard"):
            table.add_column(column)
        for row in rows:
            bounds = f"{row['shared_low']} - {row['shared_high']}"
            cells = (row["other_partner_id"], row["other_audience"], row["shared"], bounds)
            table.add_row(*(str(cell) for cell in (*cells, row["jaccard"])))
    console.print(table)


@crosspromo_app.command("referral-terms")
def crosspromo_referral_terms(
    percents: str = typer.Option(
        None, help="Percent per level, comma-separated: 10 or 10,2; omit to show the terms"
    ),
    months: int = typer.Option(12, help="How long after recruitment overrides are earned"),
    funded_by: str = typer.Option("network", help="network or advertiser"),
    program: str = typer.Option(None, help="A program's own terms (prg_...) instead"),
    inactive: bool = typer.Option(False, "--inactive", help="Switch overrides off"),
) -> None:
    """Show or set the referral overrides' terms: the network's, or one program's
    (docs/referrals.md)."""
    from alliance.crosspromo import referrals
    from alliance.db.engine import transaction
    from alliance.errors import AllianceError

    scope = program or referrals.NETWORK
    try:
        with transaction() as session:
            if percents is None:
                row = referrals.terms_of(session, scope)
            else:
                body = {
                    "percents": [p.strip() for p in percents.split(",")],
                    "months": months,
                    "funded_by": funded_by,
                    "active": not inactive,
                }
                row = referrals.set_terms(session, scope, referrals.parse_terms(body))
            if row is None:
                console.print(f"no referral terms for {scope}")
                return
            levels = " / ".join(f"{p}%" for p in row.percents)
            state = "active" if row.active else "switched off"
            console.print(
                f"{row.scope}: {levels} for {row.months} months, funded by {row.funded_by} "
                f"({state})"
            )
    except AllianceError as exc:
        console.print(f"[red]{exc.field or 'error'}: {exc.detail}[/]")
        raise typer.Exit(2) from None


matching_app = typer.Typer(
    help="Partner matching: recommendations with reasons (docs/matching.md).",
    no_args_is_help=True,
)
crosspromo_app.add_typer(matching_app, name="matching")


@matching_app.command("refresh")
def matching_refresh() -> None:
    """Recount co-purchases and partners' category mixes (the daily job's work)."""
    from alliance.crosspromo.matching import refresh_co_purchases

    done = refresh_co_purchases()
    console.print(
        f"[green]counted[/] {done.baskets:,} baskets from {done.orders_read:,} orders of the "
        f"last {done.window_days} days: {done.categories:,} categories, {done.pairs:,} pairs, "
        f"{done.partners:,} partners, in {done.seconds:.1f} s"
    )


@matching_app.command("show")
def matching_show(
    kind: str = typer.Argument(..., help="programs | partners | co-promotion"),
    for_id: str = typer.Argument(..., help="The partner (programs, co-promotion) or program"),
    limit: int = typer.Option(10, min=1, max=50),
    category: list[str] = typer.Option(None, help="Only candidates of this category (repeatable)"),
) -> None:
    """Recommendations with each component's value and weight (as the API answers)."""
    from rich.table import Table

    from alliance.crosspromo import matching
    from alliance.db.engine import reading
    from alliance.programs.models import Program

    with reading() as session:
        if kind == "partners":
            program = session.get(Program, for_id)
            if program is None:
                console.print(f"[red]no program {for_id!r}[/]")
                raise typer.Exit(2)
            found = matching.partners_for_program(
                session, program, limit=limit, categories=category
            )
        elif kind in ("programs", "co-promotion"):
            from alliance.accounts.models import Partner

            if session.get(Partner, for_id) is None:
                console.print(f"[red]no partner {for_id!r}[/]")
                raise typer.Exit(2)
            pick = (
                matching.programs_for_partner
                if kind == "programs"
                else matching.co_promotion_for_partner
            )
            found = pick(session, for_id, limit=limit, categories=category)
        else:
            console.print("[red]KIND is programs, partners or co-promotion[/]")
            raise typer.Exit(2)
    weights = ", ".join(f"{c.value} {w:.2f}" for c, w in found.weights.items())
    console.print(f"{found.kind.value} for {for_id} ({found.basis.value}): {weights}")
    for component, reason in found.unavailable.items():
        console.print(f"  left out: {component.value}: {reason}")
    table = Table()
    table.add_column("id", no_wrap=True, min_width=30)  # whole, to copy into other commands
    for column in ("name", "score", *(c.value for c in found.weights)):
        table.add_column(column)
    for item in found.items:
        values = {p.name: f"{p.value:.2f}" for p in item.parts}
        cells = [values.get(c, "") for c in found.weights]
        table.add_row(item.id, item.name, f"{item.score:.3f}", *cells)
    console.print(table)


campaigns_app = typer.Typer(
    help="Co-promotion campaigns (docs/copromotion-campaigns.md).", no_args_is_help=True
)
app.add_typer(campaigns_app, name="campaigns")


@campaigns_app.command("calendar")
def campaigns_calendar(
    campaign_id: str = typer.Argument(..., help="A campaign (cmp_...)"),
    output: Path = typer.Option(None, "--output", "-o", help="Write here instead of stdout"),
) -> None:
    """A campaign's schedule as iCalendar (the file GET .../calendar.ics answers)."""
    from alliance.crosspromo.campaign_ical import ics_bytes
    from alliance.crosspromo.campaign_models import Campaign
    from alliance.db.engine import reading

    with reading() as session:
        campaign = session.get(Campaign, campaign_id)
        if campaign is None:
            console.print(f"[red]no campaign {campaign_id!r}[/]")
            raise typer.Exit(2)
        data = ics_bytes(session, campaign)
    if output is None:
        sys.stdout.buffer.write(data)
        return
    output.write_bytes(data)
    console.print(f"[green]wrote[/] {output} ({len(data):,} bytes)")


@campaigns_app.command("remind")
def campaigns_remind() -> None:
    """Move campaigns with the clock and send the reminders due now (the two jobs' work)."""
    from alliance.clock import utcnow
    from alliance.crosspromo.campaign_reminders import advance_campaigns, send_due_reminders

    now = utcnow()
    moved = advance_campaigns(now, None)
    sent = send_due_reminders(now, None)
    console.print(", ".join(f"{k}={v}" for k, v in {**moved, **sent}.items()))
    if sent.get("failed"):
        raise typer.Exit(1)


jobs_app = typer.Typer(help="Periodic jobs: approvals, CPC accrual, inbound reprocessing.")
app.add_typer(jobs_app, name="jobs")


@jobs_app.command("run")
def jobs_run(
    task: list[str] = typer.Option(None, "--task", "-t", help="Only these tasks (repeatable)"),
    force: bool = typer.Option(False, help="Run the tasks even if they are not due"),
    every: float = typer.Option(
        0.0, help="Keep running: start the due jobs again every this many seconds"
    ),
    quiet: bool = typer.Option(False, help="Print only failures (for --every)"),
) -> None:
    """Run every due job once and print what each did (or keep running with --every)."""
    import time

    from rich.table import Table

    from alliance.jobs.runner import TASKS, run_due

    unknown = [name for name in task or [] if name not in TASKS]
    if unknown:
        raise typer.BadParameter(f"unknown task {unknown[0]!r}; known: {', '.join(TASKS)}")
    if every > 0:
        try:
            while True:
                started = time.monotonic()
                for r in run_due(only=task or None, force=force):
                    if r.ran and (not r.ok or not quiet):
                        console.print(f"jobs: {r.name} {'ok' if r.ok else 'FAILED'} {r.result}")
                time.sleep(max(0.0, every - (time.monotonic() - started)))
        except KeyboardInterrupt:
            return
    results = run_due(only=task or None, force=force)
    table = Table(title="alliance jobs")
    for column in ("task", "status", "seconds", "result"):
        table.add_column(column)
    for r in results:
        status = "[dim]not due[/]" if not r.ran else ("[green]ok[/]" if r.ok else "[red]failed[/]")
        detail = ", ".join(f"{k}={v}" for k, v in r.result.items())
        table.add_row(r.name, status, f"{r.seconds:.3f}", detail)
    console.print(table)
    if any(r.ran and not r.ok for r in results):
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
