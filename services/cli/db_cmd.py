"""`merit db ...`: apply and inspect the numbered SQL migrations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from services.cli.output import console, err_console, errors_as_one_line, print_json

app = typer.Typer(help="The database: migrations and their state.", no_args_is_help=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="PostgreSQL URL (default: MERIT_DATABASE_URL, else the embedded server's)",
    ),
]


def _url(database_url: str | None) -> str:
    if database_url:
        return database_url
    from services.settings import get_settings

    return get_settings().effective_database_url


@app.command()
@errors_as_one_line
def migrate(
    database_url: DatabaseUrl = None,
    as_json: bool = typer.Option(False, "--json", help="Print the applied versions as JSON"),
) -> None:
    """Apply pending migrations, each in one transaction."""
    from services.store.migrate import migrate as run_migrations
    from services.store.session import describe_url

    url = _url(database_url)
    applied = run_migrations(url)
    if as_json:
        print_json(
            [{"version": m.version, "name": m.name, "checksum": m.checksum} for m in applied]
        )
        return
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
@errors_as_one_line
def status(
    database_url: DatabaseUrl = None,
    as_json: bool = typer.Option(False, "--json", help="Print the migration states as JSON"),
) -> None:
    """Show each migration: applied, pending, changed since applied, or unknown to this code.

    Exits 0 when the database is up to date, 1 when migrations are pending, 78 when an applied
    file was changed or the database is newer than this code.
    """
    from services.store.migrate import status as migration_status
    from services.store.session import describe_url

    url = _url(database_url)
    states = migration_status(url)
    if as_json:
        print_json(
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
        console.print(table)
    found = {s.state for s in states}
    if found & {"changed", "unknown"}:
        raise typer.Exit(78)
    if "pending" in found:
        if not as_json:
            err_console.print("pending migrations; run `merit db migrate`", highlight=False)
        raise typer.Exit(1)
