"""What every chain command shares: the session, the signer, and how writes run.

A write is a plan of contract calls (approve, then register). The whole plan is simulated on top
of the current state first, so a revert anywhere in it prints its one-line message and nothing is
sent. ``--dry-run`` prints each call, its gas and its cost, and stops there. Otherwise each call is
estimated again and sent, one receipt at a time.
"""

from __future__ import annotations

import functools
import inspect
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any, Concatenate, ParamSpec, get_type_hints

import typer
from eth_account.signers.local import LocalAccount
from eth_utils.address import is_address, to_checksum_address
from rich.table import Table

from services.chain.anvil import DEV_CHAIN_ID
from services.chain.contracts import ChainSession
from services.chain.keys import DEV_PREFIX, Keystore, dev_account, resolve_account
from services.chain.reverts import ChainInvalid
from services.chain.tx import ContractCall, DirectSender, Estimate, TxResult, simulate
from services.cli.output import console, err_console, errors_as_one_line, print_json
from services.core.errors import ConfigInvalid, Invalid, NotFound
from services.core.money import format_mrt, parse_mrt
from services.settings import get_settings

RpcUrl = Annotated[
    str | None,
    typer.Option(
        "--rpc-url", help="Chain RPC [default: MERIT_CHAIN_RPC_URL, or the embedded anvil]"
    ),
]
AccountSpec = Annotated[
    str | None,
    typer.Option(
        "--account",
        "-a",
        envvar="MERIT_ACCOUNT",
        help="Who signs: a stored key's name or address (`merit key list`), "
        "or dev:N on chain 31337",
    ),
]
DryRun = Annotated[
    bool, typer.Option("--dry-run", help="Print the calls, gas and cost; send nothing")
]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON")]
Amount = Annotated[str, typer.Argument(help="Amount of MRT, e.g. 90 or 0.5")]
NodeArg = Annotated[
    str | None, typer.Argument(help="Node id or operator address [default: the account's node]")
]
P = ParamSpec("P")


def open_session(rpc_url: str | None) -> ChainSession:
    """The chain at ``rpc_url`` (default from settings) with its recorded deployment."""
    return ChainSession.for_settings(get_settings(), rpc_url)


def keystore() -> Keystore:
    return Keystore.in_data_dir(get_settings().resolved_data_dir)


def keystore_password(*, new: bool = False) -> str:
    """MERIT_KEYSTORE_PASSWORD, else a prompt (never echoed; asked twice for a ``new`` key)."""
    from_env = os.environ.get("MERIT_KEYSTORE_PASSWORD")
    if from_env:
        return from_env
    password: str = typer.prompt(
        "new keystore password" if new else "keystore password",
        hide_input=True,
        confirmation_prompt=new,
    )
    return password


def _need_account(spec: str | None, session: ChainSession) -> str:
    if spec:
        return spec
    hint = "pass --account NAME (see `merit key list`) or set MERIT_ACCOUNT"
    if session.is_dev_chain:
        hint += "; on this dev chain, e.g. --account dev:1"
    raise Invalid("no account to sign with", hint=hint)


def signer(session: ChainSession, spec: str | None) -> LocalAccount:
    return resolve_account(
        _need_account(spec, session),
        chain_id=session.chain_id,
        keystore=keystore(),
        password=keystore_password,
    )


def address_of(session: ChainSession, spec: str | None) -> str:
    """The address an account spec names, without decrypting anything."""
    spec = _need_account(spec, session)
    if is_address(spec):
        return to_checksum_address(spec)
    if spec.startswith(DEV_PREFIX):
        if not session.is_dev_chain:
            raise Invalid(f"{spec} names a dev account, which exists only on chain {DEV_CHAIN_ID}")
        return dev_account(spec).address
    return keystore().find(spec).address


def amount_wei(text: str) -> int:
    wei = parse_mrt(text)
    if wei == 0:
        raise Invalid("the amount must be more than 0 MRT", hint="give a positive amount, e.g. 90")
    return wei


def _require_dev_chain_at(rpc_url: str | None) -> None:
    """The faucet exists only on the dev chain: say so before looking for a deployment."""
    from services.chain.rpc import chain_id_of, connect

    settings = get_settings()
    if not settings.is_dev:
        raise ConfigInvalid(
            "MERIT_ENV=production has no faucet: MRT comes only from stake, fees and rewards",
            hint="set MERIT_ENV=dev to use the dev chain's faucet",
        )
    chain_id = chain_id_of(connect(rpc_url or settings.effective_chain_rpc_url))
    if chain_id != DEV_CHAIN_ID:
        raise ChainInvalid(
            f"the faucet exists only on the dev chain {DEV_CHAIN_ID}; this is chain {chain_id}",
            hint="get MRT from an operator of this chain",
        )


def format_eth(wei: int) -> str:
    value = Decimal(wei).scaleb(-18)
    return f"{value:.8f}".rstrip("0").rstrip(".") + " ETH"


# --- running a plan -----------------------------------------------------------------------------


def with_approval(
    session: ChainSession, owner: str, amount: int, call: ContractCall, spender: str | None = None
) -> list[ContractCall]:
    """``call``, preceded by an approval of ``amount`` to ``spender`` (default: the registry)
    when the allowance is short."""
    token = session.token
    spender = spender or session.registry.address
    if token.allowance(owner, spender) < amount:
        return [token.approve(spender, amount), call]
    return [call]


def run_plan(
    session: ChainSession,
    account: LocalAccount,
    calls: list[ContractCall],
    *,
    dry_run: bool,
    as_json: bool,
) -> list[TxResult]:
    """Simulate ``calls`` in order (a revert raises its named error: nothing sent), then print
    them (``dry_run``) or send them one by one. Returns what was mined."""
    sender = DirectSender(session.w3, account, session.events)
    planned: list[Estimate | None] = list(simulate(session.w3, sender.address, calls) or [])
    if not planned:  # no eth_simulateV1: the first call is estimated, the rest after it is mined
        planned = [sender.estimate(calls[0]), *([None] * (len(calls) - 1))]
    if dry_run:
        _print_dry_run(session, sender.address, calls, planned, as_json)
        return []
    results = []
    for call in calls:
        status = err_console.status(f"sending {call.describe()} ...") if not as_json else None
        if status is not None:
            with status:
                results.append(sender.send(call))
        else:
            results.append(sender.send(call))
    if as_json:
        print_json(
            {
                "dry_run": False,
                "from": sender.address,
                "transactions": [r.as_dict() for r in results],
            }
        )
    else:
        for r in results:
            console.print(
                f"[green]mined[/green] {r.call.describe()}  block {r.block_number}  "
                f"gas {r.gas_used:,}  tx {r.tx_hash}",
                highlight=False,
                soft_wrap=True,
            )
    return results


def _print_dry_run(
    session: ChainSession,
    sender: str,
    calls: list[ContractCall],
    planned: list[Estimate | None],
    as_json: bool,
) -> None:
    if as_json:
        print_json(
            {
                "dry_run": True,
                "chain_id": session.chain_id,
                "from": sender,
                "calls": [
                    e.as_dict() if e else {**c.as_dict(), "from": sender, "gas": None}
                    for c, e in zip(calls, planned, strict=True)
                ],
            }
        )
        return
    table = Table(title=f"dry run from {sender} on chain {session.chain_id}: nothing sent")
    for col, justify in (("#", "right"), ("call", "left"), ("to", "left"), ("gas", "right"),
                         ("cost", "right"), ("at most", "right")):  # fmt: skip
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for i, (call, est) in enumerate(zip(calls, planned, strict=True), 1):
        if est is None:
            table.add_row(str(i), call.describe(), call.to, "after step 1", "", "")
        else:
            table.add_row(
                str(i), call.describe(), call.to, f"{est.gas:,}",
                format_eth(est.expected_cost_wei), format_eth(est.max_cost_wei),
            )  # fmt: skip
    console.print(table)


def node_id_of_arg(session: ChainSession, node: str | None, account: str | None) -> int:
    """NODE as an id or an operator address; default: the account's node."""
    if node is not None and node.isdigit():
        return int(node)
    operator = node if node is not None and is_address(node) else address_of(session, account)
    node_id = session.registry.node_id_of(operator)
    if node_id is None:
        raise NotFound(
            f"{operator} operates no node",
            hint="register one with `merit node register --model ...`",
        )
    return int(node_id)


# --- reads shown by several commands -------------------------------------------------------------


def stake_view(session: ChainSession, node_id: int) -> dict[str, Any]:
    """What `merit stake show` prints for one node (optional parts where the registry has them)."""
    registry, token = session.registry, session.token
    node = registry.node(node_id)
    view: dict[str, Any] = {
        **node.as_dict(),
        "min_stake_wei": str(registry.min_stake()),
        "balance_wei": str(token.balance_of(node.operator)),
        "allowance_wei": str(token.allowance(node.operator, registry.address)),
    }
    view.update(registry.extras(node_id))
    return view


# --- write commands ------------------------------------------------------------------------------


class ChainWrite:
    """What a command that writes to the chain is given: the chain and who signs (both found at
    first use, after the command's own checks; a stored key asks for its password), and how its
    plan runs under --dry-run and --json."""

    def __init__(
        self, account: str | None, rpc_url: str | None, *, dry_run: bool, as_json: bool
    ) -> None:
        self.account, self.rpc_url = account, rpc_url
        self.dry_run, self.as_json = dry_run, as_json

    @functools.cached_property
    def _opened(self) -> tuple[ChainSession, LocalAccount]:
        session = open_session(self.rpc_url)
        return session, signer(session, self.account)

    @property
    def session(self) -> ChainSession:
        return self._opened[0]

    @property
    def signer(self) -> LocalAccount:
        return self._opened[1]

    @property
    def shows_result(self) -> bool:
        """Whether the plan is sent and the output is read by a person (neither --dry-run nor
        --json): then a command may say what the chain holds now."""
        return not self.dry_run and not self.as_json

    def approving(
        self, amount: int, call: ContractCall, spender: str | None = None
    ) -> list[ContractCall]:
        """``call``, after the signer's approval of ``amount`` to ``spender`` when needed."""
        return with_approval(self.session, self.signer.address, amount, call, spender)

    def run(self, calls: list[ContractCall]) -> list[TxResult]:
        return run_plan(
            self.session, self.signer, calls, dry_run=self.dry_run, as_json=self.as_json
        )


_WRITE_OPTIONS = (
    ("account", AccountSpec, None),
    ("rpc_url", RpcUrl, None),
    ("dry_run", DryRun, False),
    ("as_json", AsJson, False),
)


def chain_write(command: Callable[Concatenate[ChainWrite, P], None]) -> Callable[..., None]:
    """``command(write, ...)`` as a command that takes its own arguments and options, then
    --account, --rpc-url, --dry-run and --json, which it is handed as ``write``."""
    own = list(inspect.signature(command).parameters.values())[1:]
    hints = get_type_hints(command, include_extras=True)
    added = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=kind)
        for name, kind, default in _WRITE_OPTIONS
    ]

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        options = {name: kwargs.pop(name, default) for name, _, default in _WRITE_OPTIONS}
        command(ChainWrite(**options), *args, **kwargs)

    parameters = [p.replace(annotation=hints[p.name]) for p in own] + added
    wrapper.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters} | {"return": None}
    return wrapper


# --- commands -----------------------------------------------------------------------------------


@errors_as_one_line
@chain_write
def faucet(
    write: ChainWrite,
    amount: Annotated[str, typer.Argument(help="MRT to mint")] = "1000",
    to: Annotated[str | None, typer.Option(help="Recipient [default: the account]")] = None,
) -> None:
    """Mint test MRT on the dev chain (chain id 31337 only)."""
    _require_dev_chain_at(write.rpc_url)
    session, signing = write.session, write.signer
    recipient = to_checksum_address(to) if to else signing.address
    wei = amount_wei(amount)
    write.run([session.token.faucet(recipient, wei)])
    if write.shows_result:
        balance = session.token.balance_of(recipient)
        console.print(
            f"{recipient} now holds {format_mrt(balance)}", highlight=False, soft_wrap=True
        )


__all__ = [
    "AccountSpec",
    "AsJson",
    "ChainWrite",
    "DryRun",
    "RpcUrl",
    "address_of",
    "amount_wei",
    "chain_write",
    "faucet",
    "format_eth",
    "format_mrt",
    "open_session",
    "run_plan",
    "signer",
    "stake_view",
]
