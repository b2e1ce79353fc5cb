"""`merit key new | import | list`: encrypted keystores in the data directory."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from services.chain.keys import KeyInfo
from services.cli.chain_cmds import AsJson, keystore, keystore_password
from services.cli.output import console, errors_as_one_line, print_json

app = typer.Typer(help="Signing keys (encrypted keystores).", no_args_is_help=True)
Name = Annotated[str, typer.Argument(help="A name for the key, e.g. my-node")]


def _record(info: KeyInfo) -> dict[str, str]:
    return {"name": info.name, "address": info.address, "path": str(info.path)}


def _show(info: KeyInfo, as_json: bool) -> None:
    """The key just stored: its name, address and file."""
    if as_json:
        print_json(_record(info))
        return
    console.print(
        f"key {info.name}: {info.address}  ({info.path})", highlight=False, soft_wrap=True
    )


@app.command("new")
@errors_as_one_line
def new(name: Name, as_json: AsJson = False) -> None:
    """Create a random key, stored encrypted under NAME."""
    _show(keystore().new(name, keystore_password(new=True)), as_json)


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
    _show(keystore().import_key(name, secret, keystore_password(new=True)), as_json)


@app.command("list")
@errors_as_one_line
def list_keys(as_json: AsJson = False) -> None:
    """List stored keys (names and addresses; nothing is decrypted)."""
    keys = keystore().list()
    if as_json:
        print_json([_record(k) for k in keys])
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
