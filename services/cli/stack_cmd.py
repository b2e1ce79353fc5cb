"""`merit up`, `merit status`, `merit down`: the embedded stack."""

from __future__ import annotations

import time
from typing import Any

import httpx
import typer
from rich.table import Table

from services import devstack
from services.chain.anvil import DEV_CHAIN_ID
from services.chain.keys import dev_accounts
from services.cli.output import console, err_console, errors_as_one_line, fail, print_json
from services.processes import pid_alive
from services.settings import get_settings


@errors_as_one_line
def up(
    test_nodes: int | None = typer.Option(
        None, min=0, max=16, help="Test nodes to start [default: MERIT_TEST_NODES=4]"
    ),
) -> None:
    """Start chain, database, broker, workers, API and test nodes; Ctrl-C stops them all."""
    settings = get_settings()
    if test_nodes is not None:
        settings = settings.model_copy(update={"test_nodes": test_nodes})
    started = time.monotonic()
    spinner = console.status("starting", spinner="dots")

    def on_step(label: str) -> None:
        spinner.update(f"starting {label}  [dim]{time.monotonic() - started:.1f}s[/dim]")

    spinner.start()
    try:
        with devstack.running(settings, on_step) as stack:
            spinner.stop()
            console.print(
                f"[green]meritswarm is up[/green] in {time.monotonic() - started:.1f}s "
                f"(data in {settings.resolved_data_dir})"
            )
            print_status(devstack.read_state(settings) or {})
            console.print(
                'Try: [bold]merit task submit "What is 2+2?" --wait[/bold]    '
                "Stop: Ctrl-C or [bold]merit down[/bold]"
            )
            code = devstack.wait_for_signal(
                stack, lambda msg: err_console.print(f"[yellow]{msg}[/yellow]")
            )
            console.print("stopping ...")
    finally:
        spinner.stop()
    console.print("stopped")
    raise typer.Exit(code)


@errors_as_one_line
def status(as_json: bool = typer.Option(False, "--json", help="Print JSON")) -> None:
    """Show the running stack: parts, pids, restarts, URLs and whether each answers."""
    settings = get_settings()
    state = devstack.read_state(settings)
    if state is None or not pid_alive(int(state["pid"])):
        if as_json:
            print_json({"running": False, "data_dir": str(settings.resolved_data_dir)})
        raise fail(
            f"no stack is running from {settings.resolved_data_dir}; start one with `merit up`", 3
        )
    state["running"] = True
    try:
        state["api_healthy"] = (
            httpx.get(state["api_url"] + "/healthz", timeout=2).status_code == 200
        )
    except httpx.HTTPError:
        state["api_healthy"] = False
    healths = devstack.health(state)
    for part in state.get("parts", []):
        part["health"] = healths.get(part["name"], "")
    if as_json:
        print_json(state)
    else:
        print_status(state)


@errors_as_one_line
def down() -> None:
    """Stop the stack started by `merit up` (from any shell)."""
    for what in devstack.down(get_settings()):
        console.print(f"stopped {what}")


def print_status(state: dict[str, Any]) -> None:
    urls = Table(show_header=False, box=None)
    urls.add_column(style="bold")
    urls.add_column()
    for label, key in (
        ("API", "api_url"),
        ("OpenAPI docs", "docs_url"),
        ("explorer", "explorer_url"),
        ("chain RPC", "chain_rpc_url"),
        ("database", "database_url"),
        ("broker", "broker_url"),
    ):
        urls.add_row(label, state.get(key, ""))
    for name, addr in (state.get("deployment") or {}).get("addresses", {}).items():
        urls.add_row(name, addr)
    console.print(urls)
    parts = Table(title="parts")
    for col in ("part", "pid", "health", "restarts", "where"):
        parts.add_column(col)
    for p in state.get("parts", []):
        health = p.get("health") or ("running" if pid_alive(int(p["pid"])) else "stopped")
        colour = (
            "green"
            if health.startswith(("ok", "running"))
            else "yellow"
            if health == "restarting"
            else "red"
        )
        restarts = str(p.get("restarts", 0)) + (
            f" (last: {p['last_exit']})" if p.get("last_exit") else ""
        )
        parts.add_row(
            p["name"], str(p["pid"]), f"[{colour}]{health}[/{colour}]", restarts, p["url"]
        )
    console.print(parts)
    deployment = state.get("deployment") or {}
    roles = {str(a).lower(): role for role, a in (deployment.get("roles") or {}).items()}
    if deployment.get("chain_id") == DEV_CHAIN_ID:
        accounts = Table(title="dev accounts (use with --account dev:N)", show_header=True)
        for col in ("account", "address", "role"):
            accounts.add_column(col)
        for acct in dev_accounts():
            if acct.address == deployment.get("deployer"):
                role = "deployer (deployed, then renounced every role)"
            elif acct.address.lower() in roles:
                role = roles[acct.address.lower()]
            elif acct.index < 4:
                role = "operator / requester"
            else:
                continue
            accounts.add_row(f"dev:{acct.index}", acct.address, role)
        console.print(accounts)
        console.print(
            "[dim]anvil's public test mnemonic 'test test ... junk': "
            "never use these keys elsewhere[/dim]"
        )
    elif roles:
        held = Table(title="roles (each its own account)", show_header=True)
        for col in ("role", "address"):
            held.add_column(col)
        for address, role in roles.items():
            held.add_row(role, address)
        console.print(held)
    if deployment.get("timelock"):
        console.print(f"admin actions go through the timelock at {deployment['timelock']}")
