"""`merit task ...`: submit a task to the swarm and read its result."""

from __future__ import annotations

from typing import Any

import typer
from rich.table import Table

from services.api_client import FINISHED, ApiClient
from services.chain.keys import DEV_REQUESTER
from services.cli.output import console, errors_as_one_line, fail, print_json
from services.core.errors import Invalid
from services.core.money import format_mrt, parse_mrt
from services.settings import get_settings

app = typer.Typer(help="Submit tasks and read their answers.", no_args_is_help=True)


@app.command()
@errors_as_one_line
def submit(
    prompt: str = typer.Argument(..., help="The question for the swarm"),
    wait: bool = typer.Option(False, "--wait", "-w", help="Wait for the ranked answer"),
    swarm_size: int | None = typer.Option(None, min=3, max=64, help="Nodes that answer"),
    timeout: float = typer.Option(300.0, help="Seconds to wait with --wait"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    api_url: str | None = typer.Option(None, help="API base URL [default: MERIT_API_URL]"),
    fee: str | None = typer.Option(
        None,
        help="The fee in MRT, escrowed before the task is dispatched "
        "[default: MERIT_DEFAULT_FEE_WEI]",
    ),
    free: bool = typer.Option(
        False, "--free", help="Submit without a fee (where the marketplace takes free tasks)"
    ),
    fund: bool = typer.Option(
        True,
        "--fund/--no-fund",
        help="Escrow the fee now from --account (--no-fund: the payer funds it later)",
    ),
    account: str | None = typer.Option(
        None,
        envvar="MERIT_ACCOUNT",
        help="The payer: a stored key's name or address, or dev:N "
        f"[default on the dev chain: {DEV_REQUESTER}]",
    ),
    option: list[str] | None = typer.Option(
        None,
        "--option",
        "-o",
        help="A multiple-choice option (repeat: A, B, ...); nodes answer by letter",
    ),
) -> None:
    """Submit PROMPT and pay its fee into escrow (refunded if the task fails); with --wait,
    follow the round and print the ranked answer."""
    settings = get_settings()
    client = ApiClient(settings, api_url)
    fee_wei = 0 if free else (settings.default_fee_wei if fee is None else parse_mrt(fee))
    payer = _Payer.open(account, fee_wei, fund=fund) if fee_wei else None
    accepted = client.submit_task(
        prompt, swarm_size, option or None, fee_wei=fee_wei, payer=payer.address if payer else None
    )
    if payer is not None and fund:
        payer.fund(accepted["id"], fee_wei, quiet=as_json)
    elif payer is not None and not as_json:
        e = accepted["escrow"]
        console.print(
            f"task {accepted['id'][:8]} waits {e['pay_within_s']} s for its fee: "
            f"from {e['payer']}, "
            f"call fund({e['task_key']}, {e['amount_wei']}) on TaskEscrow {e['address']}"
        )
    if not wait:
        print_json(accepted) if as_json else console.print(
            f"task [bold]{accepted['id']}[/bold] queued"
        )
        return
    task = follow(client, accepted["id"], timeout, quiet=as_json)
    if as_json:
        print_json(task)
    else:
        render(task)
    if task["status"] != "done":
        raise typer.Exit(1)


class _Payer:
    """The account that pays a task's fee into TaskEscrow, checked before anything is submitted:
    the fee within the escrow's range and the balance to pay it."""

    def __init__(self, session: Any, address: str, signing: Any) -> None:
        self.session, self.address, self.signing = session, address, signing

    @classmethod
    def open(cls, spec: str | None, fee_wei: int, *, fund: bool) -> _Payer:
        from services.cli.chain_cmds import address_of, open_session, signer

        session = open_session(None)
        spec = spec or (DEV_REQUESTER if session.is_dev_chain else None)
        low, high = session.escrow.fee_range()
        if not low <= fee_wei <= high:
            raise Invalid(
                f"the fee {format_mrt(fee_wei)} is outside the escrow's range",
                hint=f"give --fee between {format_mrt(low)} and {format_mrt(high)}",
            )
        if not fund:
            return cls(session, address_of(session, spec), None)
        signing = signer(session, spec)
        balance = session.token.balance_of(signing.address)
        if balance < fee_wei:
            hint = (
                f"`merit faucet {format_mrt(fee_wei).split()[0]} --account {spec}`"
                if session.is_dev_chain
                else (f"send MRT to {signing.address}")
            )
            raise Invalid(
                f"{spec} ({signing.address}) holds {format_mrt(balance)}, "
                f"less than the fee {format_mrt(fee_wei)}",
                hint=f"{hint}, or pay from another --account",
            )
        return cls(session, signing.address, signing)

    def fund(self, task_id: str, fee_wei: int, *, quiet: bool) -> None:
        """Approve (when short) and fund TaskEscrow for ``task_id``."""
        from services.chain.operators import pay_fee

        # a revert raises its named error
        tx_hash = pay_fee(self.session, self.signing, task_id, fee_wei)
        _keep(self.session, tx_hash)
        if not quiet:
            console.print(
                f"escrowed {format_mrt(fee_wei)} from {self.address} for task {task_id[:8]} "
                "(refunded if it fails)"
            )


def _keep(session: Any, tx_hash: str) -> None:
    """On `merit up`'s dev chain, save the chain with the fee's block before the task goes on, so
    an anvil killed now does not lose a fee its payer was told is escrowed
    (services.chain.durable)."""
    from services.chain.durable import persister_for

    s = get_settings()
    persister = (
        persister_for(s.effective_chain_rpc_url, s.effective_chain_state_file)
        if session.is_dev_chain
        else None
    )
    if persister is not None and persister.state_file.parent.is_dir():
        persister.persist(int(session.w3.eth.get_transaction_receipt(tx_hash)["blockNumber"]))


@app.command()
@errors_as_one_line
def reclaim(
    task_id: str = typer.Argument(..., help="The task whose fee you escrowed"),
    account: str | None = typer.Option(
        None, envvar="MERIT_ACCOUNT", help="The payer that escrowed the fee"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Take back a fee you escrowed for TASK_ID that was never settled or refunded, once the
    escrow's expiry has passed (TaskEscrow.reclaim)."""
    from services.chain.tx import DirectSender
    from services.cli.chain_cmds import open_session, signer

    session = open_session(None)
    signing = signer(session, account or (DEV_REQUESTER if session.is_dev_chain else None))
    held = session.escrow.escrow_of(signing.address, task_id).held_wei
    result = DirectSender(session.w3, signing, session.events).send(session.escrow.reclaim(task_id))
    if as_json:
        print_json({"task_id": task_id, "amount_wei": str(held), "tx": result.tx_hash})
    else:
        console.print(f"reclaimed {format_mrt(held)} for task {task_id[:8]} to {signing.address}")


@app.command()
@errors_as_one_line
def show(
    task_id: str,
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    api_url: str | None = typer.Option(None, help="API base URL [default: MERIT_API_URL]"),
) -> None:
    """Show a task: status, answer, ranking and every answer."""
    task = ApiClient(get_settings(), api_url).get_task(task_id)
    print_json(task) if as_json else render(task)


def follow(client: ApiClient, task_id: str, timeout: float, *, quiet: bool) -> dict[str, Any]:
    with console.status(f"task {task_id[:8]}: waiting", spinner="dots") as status:

        def show(task: dict[str, Any]) -> None:
            if not quiet:
                n_ans = sum(a["status"] == "ok" for a in task["answers"])
                status.update(
                    f"task {task_id[:8]}: {task['status']} "
                    f"({n_ans} answers, {len(task['judgments'])} judgments)"
                )

        task = client.wait_task(task_id, timeout, show)
    if task["status"] not in FINISHED:
        raise fail(
            f"task {task_id} is still {task['status']} after {timeout:.0f}s; "
            f"check later with `merit task show {task_id}`",
            75,
        )
    return task


def render(task: dict[str, Any]) -> None:
    console.print(f"task [bold]{task['id']}[/bold]  status [bold]{task['status']}[/bold]")
    if task.get("error"):
        console.print(f"[red]{task['error']}[/red]")
    console.print(f"[dim]prompt:[/dim] {task['prompt']}")
    if task.get("answer") is not None:
        winner = next((r for r in task["ranking"] if r["node_id"] == task["winner_node_id"]), None)
        console.print(f"[green bold]answer:[/green bold] {task['answer']}")
        if winner:
            console.print(f"[dim]by {winner['node_name']} ({task['method']})[/dim]")
        if task.get("separated") is not None:
            extra = (
                f" after {task['recruits']} extra judging pass(es)" if task.get("recruits") else ""
            )
            unanimous = len(task["ranking"]) == 1
            console.print(
                f"[green]confident:[/green] P(right) = {task['confidence']:.3f}"
                + (", the whole swarm agreed" if unanimous else "")
                + extra
                if task["separated"]
                else f"[yellow]not confident:[/yellow] P(right) = {task['confidence']:.3f}; "
                f"the 95% credible set holds {len(task['credible_set'])} answers" + extra
            )
    answers = {a["node_id"]: a for a in task["answers"]}
    test_nodes = {n for n, a in answers.items() if a.get("node_kind") == "test"}
    table = Table(title="candidates", show_lines=False)
    for col in ("rank", "answer", "supporters (seats)", "P(right)", "wins / judged"):
        table.add_column(col)
    for r in task["ranking"]:
        backers = ", ".join(
            f"{s['node_name'] or s['node_id']}"
            f"{' [yellow](test node)[/yellow]' if s['node_id'] in test_nodes else ''}"
            f" ({s['seats']})"
            for s in r.get("supporters", [])
        )
        table.add_row(
            str(r["rank"]),
            answers[r["node_id"]]["content"] or "",
            backers,
            f"{r['score']:.3f}",
            f"{r['wins']:g} / {r['judged']}",
        )
    for a in task["answers"]:
        if a["status"] != "ok":
            table.add_row(
                "-", f"[red]{a['status']}[/red]", a["node_name"] or str(a["node_id"]), "", ""
            )
    if task["ranking"] or task["answers"]:
        console.print(table)
