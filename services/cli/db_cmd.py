"""`merit db ...`: apply and inspect the numbered SQL migrations."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from services.core.errors import MeritError

app = typer.Typer(help="The database: migrations and their state.", no_args_is_help=True)

_URL_HELP = "PostgreSQL URL (default: MERIT_DATABASE_URL, else the embedded server's)"


def _url(database_url: str | None) -> str:
    if database_url:
        return database_url
    from services.settings import get_settings

    return get_settings().effective_database_url


def _fail(exc: MeritError) -> typer.Exit:
    Console(stderr=True).print(
        f"[red]error:[/red] {exc.one_line()}", highlight=False, soft_wrap=True
    )
    return typer.Exit(exc.exit_code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


@app.command()
def migrate(
    database_url: str | None = typer.Option(None, "--database-url", help=_URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the applied versions as JSON"),
) -> None:
    """Apply pending migrations, each in one transaction."""
    from services.store.migrate import migrate as run_migrations
    from services.store.session import describe_url

    url = _url(database_url)
    try:
        applied = run_migrations(url)
    except MeritError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(
            [{"version": m.version, "name": m.name, "checksum": m.checksum} for m in applied]
        )
        return
    console = Console()
    if not applied:
        console.print(f"{describe_url(url)}: up to date", highlight=False)
        return
    table = Table(title=f"applied to {describe_url(url)}")
    table.add_column("version", justify="right")
    table.add_column("name")
    table.add_column("checksum")
    for m in applied:
        table.add_row(f"{m.version:04d}", m.name, m.checksum[:12])
    console.print(table)


@app.command()
def status(
    database_url: str | None = typer.Option(None, "--database-url", help=_URL_HELP),
    as_json: bool = typer.Option(False, "--json", help="Print the migration states as JSON"),
) -> None:
    """Show each migration: applied, pending, changed since applied, or unknown to this code.

    Exits 0 when the database is up to date, 1 when migrations are pending, 78 when an applied
    file was changed or the database is newer than this code.
    """
    from services.store.migrate import status as migration_status
    from services.store.session import describe_url

    url = _url(database_url)
    try:
        states = migration_status(url)
    except MeritError as exc:
        raise _fail(exc) from None
    if as_json:
        _print_json(
            [
                {"version": s.version, "name": s.name, "state": s.state, "applied_at": s.applied_at}
                for s in states
            ]
        )
    else:
        colour = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "red"}
        table = Table(title=f"migrations of {describe_url(url)}")
        table.add_column("version", justify="right")
        table.add_column("name")
        table.add_column("state")
        table.add_column("applied at")
        for s in states:
            table.add_row(
                f"{s.version:04d}",
                s.name,
                f"[{colour[s.state]}]{s.state}[/{colour[s.state]}]",
                s.applied_at.isoformat(timespec="seconds") if s.applied_at else "",
            )
        Console().print(table)
    found = {s.state for s in states}
    if found & {"changed", "unknown"}:
        raise typer.Exit(78)
    if "pending" in found:
        if not as_json:
            Console(stderr=True).print(
                "pending migrations; run `merit db migrate`", highlight=False
            )
        raise typer.Exit(1)
