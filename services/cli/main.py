"""The `merit` command: one group per noun."""

from __future__ import annotations

import logging

import typer

from services import logs
from services.cli import (
    audit_cmd,
    chain_cmds,
    challenge_cmd,
    claim_cmd,
    contracts_cmd,
    db_cmd,
    demo_cmd,
    epoch_cmd,
    key_cmd,
    node_cmd,
    node_register_cmd,
    reputation_cmd,
    stack_cmd,
    stake_cmd,
    task_cmd,
    watch_cmd,
)

app = typer.Typer(
    name="merit",
    help="meritswarm: swarm inference with peer-ranked consensus, settled on an EVM chain.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
app.command("up")(stack_cmd.up)
app.command("status")(stack_cmd.status)
app.command("down")(stack_cmd.down)
app.command("demo")(demo_cmd.demo)
app.add_typer(task_cmd.app, name="task")
app.add_typer(node_cmd.app, name="node")
node_cmd.app.command("register")(node_register_cmd.register)
app.add_typer(stake_cmd.app, name="stake")
app.add_typer(key_cmd.app, name="key")
app.command("faucet")(chain_cmds.faucet)
app.command("reputation")(reputation_cmd.reputation)
app.command("leaderboard")(reputation_cmd.leaderboard)
app.add_typer(epoch_cmd.app, name="epoch")
app.add_typer(audit_cmd.app, name="audit")
app.command("claim")(claim_cmd.claim)
app.command("watch")(watch_cmd.watch)
app.add_typer(challenge_cmd.bond_app, name="bond")
app.add_typer(challenge_cmd.challenge_app, name="challenge")

api_app = typer.Typer(help="The REST API.", no_args_is_help=True)


@api_app.command("serve")
def api_serve(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    port: int = typer.Option(8000, help="Port to listen on"),
) -> None:
    """Serve the REST API and explorer (settings from MERIT_* variables)."""
    import uvicorn

    uvicorn.run("services.api.app:create_app_from_env", factory=True, host=host, port=port)


app.add_typer(api_app, name="api")
app.add_typer(contracts_cmd.app, name="contracts")
app.add_typer(db_cmd.app, name="db")


def main() -> None:
    logs.configure(logging.WARNING)
    app()
