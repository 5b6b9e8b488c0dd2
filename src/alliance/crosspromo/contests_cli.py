"""`alliance contests …`: re-run a draw from its published values (no database needed), and
draw the contests that are due."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from alliance.crosspromo import draw

contests_app = typer.Typer(
    help="Contests: re-run a published draw, or draw the contests that have closed.",
    no_args_is_help=True,
)


@contests_app.command("verify")
def verify(
    commitment: str = typer.Option(..., help="The commitment published before entries opened"),
    seed: str = typer.Option(..., help="The seed revealed after the draw (64 hex characters)"),
    entries: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="The published entry list (entries.csv)"
    ),
    winners: int = typer.Option(1, min=1, help="How many winners the contest draws"),
    external: str = typer.Option(
        None, help="The external public value, exactly as published (if the contest has one)"
    ),
    entries_hash: str = typer.Option(
        None, "--entries-hash", help="Also check the file against the published list hash"
    ),
) -> None:
    """Re-run a draw: checks the seed against the commitment and prints the winners.

    Needs no database and no network: the published values are enough (docs/contests.md).
    Exit status 1 when the seed does not match the commitment or the file its hash."""
    console = Console(highlight=False)
    try:
        check = draw.rerun(commitment, seed, entries.read_bytes(), external, winners)
    except draw.DrawError as exc:
        console.print(f"[red]cannot re-run:[/] {exc}")
        raise typer.Exit(2) from None
    result = check.result
    console.print(f"commitment  {'matches' if check.commitment_matches else 'DOES NOT MATCH'}")
    console.print(f"list hash   {result.list_hash}")
    console.print(f"randomness  {result.randomness}")
    for place, entry_id in enumerate(result.winners, start=1):
        console.print(f"winner {place:<4} {entry_id}")
    if not result.winners:
        console.print("no entries: no winners")
    hash_ok = entries_hash is None or entries_hash.strip().lower() == result.list_hash
    if not hash_ok:
        console.print("[red]the file's SHA-256 is not the published list hash[/]")
    if not check.commitment_matches or not hash_ok:
        raise typer.Exit(1)


@contests_app.command("draw-due")
def draw_due() -> None:
    """Draw every closed contest that needs no external value (the `draw_contests` job)."""
    from alliance.clock import utcnow
    from alliance.crosspromo.contests import draw_due_contests

    result = draw_due_contests(utcnow(), None)
    Console(highlight=False).print(f"drawn: {result['drawn']}, failed: {result['failed']}")
