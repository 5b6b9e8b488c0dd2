"""`alliance ...`: the command line. Each capability adds its command here."""

from __future__ import annotations

import typer
from rich.console import Console

from alliance.settings import get_settings

app = typer.Typer(help="Alliance partner-marketing network.", no_args_is_help=True)
console = Console()


@app.command()
def migrate() -> None:
    """Bring the database schema up to date (Alembic)."""
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
    from granian.constants import Interfaces

    settings = get_settings()
    host = host or settings.host
    port = port or settings.port
    workers = workers or settings.workers
    base = f"http://{host}:{port}"
    console.print(f"Alliance on [bold]{base}[/]  (database: {settings.database_url})")
    console.print(f"  dashboard   {base}/")
    console.print(f"  API docs    {base}/api/v1/docs")
    console.print(f"  health      {base}/healthz")
    Granian(
        "alliance.asgi:create_app",
        factory=True,
        address=host,
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        log_access=False,
        backlog=2048,
    ).serve()


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


if __name__ == "__main__":
    app()
