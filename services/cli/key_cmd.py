"""`merit key new | import | list`: encrypted keystores in the data directory."""

from __future__ import annotations

import os
from typing import Annotated

import typer
from rich.table import Table

from services.cli.chain_cmds import AsJson, keystore
from services.cli.output import console, errors_as_one_line, print_json

app = typer.Typer(help="Signing keys (encrypted keystores).", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="A name for the key, e.g. my-node")]


def _new_password() -> str:
    """MERIT_KEYSTORE_PASSWORD, else a prompt asked twice."""
    from_env = os.environ.get("MERIT_KEYSTORE_PASSWORD")
    if from_env:
        return from_env
    password: str = typer.prompt("new keystore password", hide_input=True, confirmation_prompt=True)
    return password


@app.command("new")
@errors_as_one_line
def new(name: Name, as_json: AsJson = False) -> None:
    """Create a random key, stored encrypted under NAME."""
    info = keystore().new(name, _new_password())
    if as_json:
        print_json({"name": info.name, "address": info.address, "path": str(info.path)})
        return
    console.print(
        f"key {info.name}: {info.address}  ({info.path})", highlight=False, soft_wrap=True
    )


@app.command("import")
@errors_as_one_line
def import_(
    name: Name,
    private_key_file: Annotated[
        typer.FileText | None,
        typer.Option(help="Read the 0x-hex private key from this file ('-' for stdin)"),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Import a private key (prompted, never echoed), stored encrypted under NAME."""
    if private_key_file is not None:
        secret = private_key_file.read().strip()
    else:
        secret = typer.prompt("private key (0x...)", hide_input=True)
    info = keystore().import_key(name, secret, _new_password())
    if as_json:
        print_json({"name": info.name, "address": info.address, "path": str(info.path)})
        return
    console.print(
        f"key {info.name}: {info.address}  ({info.path})", highlight=False, soft_wrap=True
    )


@app.command("list")
@errors_as_one_line
def list_keys(as_json: AsJson = False) -> None:
    """List stored keys (names and addresses; nothing is decrypted)."""
    keys = keystore().list()
    if as_json:
        print_json([{"name": k.name, "address": k.address, "path": str(k.path)} for k in keys])
        return
    if not keys:
        console.print("no keys yet: `merit key new NAME` or `merit key import NAME`; "
                      "on the dev chain, --account dev:1 .. dev:9 need none")  # fmt: skip
        return
    table = Table()
    table.add_column("name")
    table.add_column("address")
    for k in keys:
        table.add_row(k.name, k.address)
    console.print(table)
