"""`merit contracts build | check | deploy`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from services.chain import compiler
from services.chain.anvil import DEV_CHAIN_ID
from services.chain.client import chain_id_of, connect
from services.chain.deploy import CONTRACTS, RECORDS_DIR, deploy_for, load_deployment
from services.core.errors import MeritError
from services.resources import repo_root
from services.settings import get_settings

app = typer.Typer(help="Compile, check and deploy the Solidity contracts.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)


def _fail(exc: MeritError) -> typer.Exit:
    err.print(f"[red]{exc.one_line()}[/red]", highlight=False, soft_wrap=True)
    return typer.Exit(exc.exit_code)


@app.command()
def build() -> None:
    """Compile contracts/src into services/chain/artifacts (one JSON per contract)."""
    try:
        root = repo_root()
        with err.status("compiling contracts/src ..."):
            paths = compiler.build(root)
    except MeritError as exc:
        raise _fail(exc) from exc
    table = Table(title=f"solc {compiler.SOLC_VERSION} artifacts")
    table.add_column("contract")
    table.add_column("runtime bytes", justify="right")
    table.add_column("artifact")
    for path in paths:
        artifact = json.loads(path.read_text(encoding="utf-8"))
        size = (len(artifact["deployedBytecode"]) - 2) // 2
        table.add_row(artifact["contractName"], f"{size:,}", str(path.relative_to(root)))
    out.print(table)


@app.command()
def check() -> None:
    """Exit 1 when a committed artifact is missing or older than its sources (no compile)."""
    try:
        problems = compiler.check(repo_root())
    except MeritError as exc:
        raise _fail(exc) from exc
    if problems:
        for problem in problems:
            err.print(f"[red]stale[/red] {problem}", highlight=False)
        err.print(
            "run `merit contracts build` and commit services/chain/artifacts", highlight=False
        )
        raise typer.Exit(1)
    out.print("artifacts are up to date")


@app.command()
def deploy(
    rpc_url: Annotated[
        str | None, typer.Option(help="chain RPC (default: MERIT_CHAIN_RPC_URL or embedded anvil)")
    ] = None,
    records_dir: Annotated[
        Path | None,
        typer.Option(
            help=f"where deployment records go (default: {RECORDS_DIR}; for the dev chain "
            "31337, the data directory of `merit up`)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the record as JSON")] = False,
) -> None:
    """Deploy the contract set unless this chain already has a current deployment."""
    try:
        settings = get_settings()
        w3 = connect(rpc_url or settings.effective_chain_rpc_url)
        if records_dir is None and chain_id_of(w3) == DEV_CHAIN_ID:
            records_dir = settings.dev_records_dir
        existing = load_deployment(w3, records_dir)
        if existing is None:
            with err.status(f"deploying {len(CONTRACTS)} contracts ..."):
                deployment = deploy_for(w3, settings, records_dir)
        else:
            deployment = deploy_for(w3, settings, records_dir)  # production checks it
    except MeritError as exc:
        raise _fail(exc) from exc
    if as_json:
        typer.echo(json.dumps(deployment.to_record(), indent=2, sort_keys=True))
        return
    state = "already deployed" if existing else "deployed"
    table = Table(title=f"chain {deployment.chain_id}: {state}")
    table.add_column("contract")
    table.add_column("address")
    table.add_column("block", justify="right")
    for name, contract in sorted(deployment.contracts.items()):
        table.add_row(name, contract.address, str(contract.block_number))
    out.print(table)
    if deployment.roles is not None:
        roles = Table(title="roles (the deployer holds none)")
        roles.add_column("role")
        roles.add_column("account")
        for role, address in deployment.roles.to_record().items():
            roles.add_row(role, address)
        if deployment.timelock:
            roles.add_row(
                "admin's timelock", f"{deployment.timelock} ({deployment.timelock_delay_s}s delay)"
            )
        out.print(roles)
