"""`merit node ...`: nodes of the swarm."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table

from services.api_client import ApiClient
from services.cli.chain_cmds import AccountSpec, AsJson, RpcUrl
from services.cli.output import console, errors_as_one_line, print_json
from services.settings import get_settings

if TYPE_CHECKING:
    from services.nodes.signing import NodeSigner

app = typer.Typer(help="Nodes of the swarm.", no_args_is_help=True)

SIGNING_KEY_HELP = (
    "A file holding the node's signing key (0x-hex): the key its registered signer is"
)
CHAIN_ID_HELP = "The deployment's chain id (its signing domain) [default: the dev chain]"
REGISTRY_HELP = (
    "The NodeRegistry address (its signing domain) [default: the chain's deployment record]"
)

# the options a signing node is started with: its key and its own signing domain
SigningKey = Annotated[Path | None, typer.Option(help=SIGNING_KEY_HELP)]
DevAccount = Annotated[
    str | None, typer.Option(help="Sign with anvil's dev:N key (dev chain only)")
]
SigningChainId = Annotated[int | None, typer.Option(help=CHAIN_ID_HELP)]
SigningRegistry = Annotated[str | None, typer.Option(help=REGISTRY_HELP)]


def node_signer(
    key_file: Path | None, dev: str | None, chain_id: int | None, registry: str | None
) -> NodeSigner | None:
    """The node's signer from its options: its key (a file, or ``dev:N`` on the dev chain) and its
    own signing domain (the chain id, and the NodeRegistry address given or read from the chain's
    deployment record); None without a key (the node then signs nothing and earns nothing). What
    it signs is journaled in the data dir (``signed-work/ADDRESS.sqlite``), so that a restart
    never makes it sign a second reply to one piece of work."""
    from services.chain.anvil import DEV_CHAIN_ID
    from services.chain.deploy import public_records_dir, read_record
    from services.chain.keys import dev_account
    from services.core.errors import ConfigInvalid, Invalid
    from services.core.work import SigningDomain, address_of
    from services.nodes.signing import NodeSigner

    if key_file is None and dev is None:
        return None
    chain = DEV_CHAIN_ID if chain_id is None else chain_id
    if dev is not None:
        if chain != DEV_CHAIN_ID:
            raise Invalid(
                f"{dev} is a public dev key; it signs only on the dev chain ({DEV_CHAIN_ID})"
            )
        key = bytes.fromhex(dev_account(dev).private_key.removeprefix("0x"))
    else:
        assert key_file is not None
        try:
            key = bytes.fromhex(key_file.read_text().strip().removeprefix("0x"))
        except (OSError, ValueError) as exc:
            raise ConfigInvalid(f"cannot read a hex signing key from {key_file}: {exc}") from exc
        if len(key) != 32:
            raise ConfigInvalid(
                f"{key_file} does not hold a 32-byte key", hint="write the key as 0x-hex"
            )
    if registry is None:
        records = get_settings().dev_records_dir if chain == DEV_CHAIN_ID else public_records_dir()
        record = read_record(records, chain)
        if record is None:
            raise ConfigInvalid(
                f"no deployment record for chain {chain}", hint="pass --registry 0x..."
            )
        registry = record.address("NodeRegistry")
    journal = get_settings().resolved_data_dir / "signed-work" / f"{address_of(key)}.sqlite"
    return NodeSigner(key, SigningDomain(chain, registry), journal=journal)


@app.command("serve")
@errors_as_one_line
def serve(
    model: str = typer.Option(..., help="A shipped model: smollm2-135m or gemma3-270m"),
    port: int = typer.Option(8201, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    threads: int = typer.Option(2, min=1, help="CPU threads for llama.cpp"),
    system: str | None = typer.Option(
        None, help="Your own system prompt, used in place of the caller's"
    ),
    signing_key: SigningKey = None,
    dev_account: DevAccount = None,
    chain_id: SigningChainId = None,
    registry: SigningRegistry = None,
) -> None:
    """Serve a small GGUF model on CPU behind the OpenAI-compatible chat API (llama.cpp); with
    --signing-key, every answer and verdict is signed (unsigned work is never paid)."""
    import uvicorn

    from services.nodes.server import build
    from services.ports_free import ensure_free

    ensure_free(port, "--port", host)
    signer = node_signer(signing_key, dev_account, chain_id, registry)
    app_ = build(model, get_settings().resolved_data_dir / "models", n_threads=threads,
                 system=system, signer=signer)  # fmt: skip
    if signer is None:
        console.print(
            "[yellow]no --signing-key: replies are unsigned, and unsigned work is not paid[/yellow]"
        )
    console.print(f"serving {model} on http://{host}:{port}/v1")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


@app.command("proxy")
@errors_as_one_line
def proxy(
    upstream: str = typer.Option(
        ...,
        help="Your OpenAI-compatible server's base URL (vLLM, llama.cpp, Ollama), "
        "e.g. http://127.0.0.1:8000/v1",
    ),
    port: int = typer.Option(8301, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    signing_key: SigningKey = None,
    dev_account: DevAccount = None,
    chain_id: SigningChainId = None,
    registry: SigningRegistry = None,
) -> None:
    """Serve any OpenAI-compatible server as a node whose work is signed: its replies pass through
    unchanged, each reply to a work order signed with your key (register this proxy's URL)."""
    import uvicorn

    from services.core.errors import Invalid
    from services.nodes.proxy import create_proxy
    from services.ports_free import ensure_free

    signer = node_signer(signing_key, dev_account, chain_id, registry)
    if signer is None:
        raise Invalid(
            "the proxy signs work: give --signing-key FILE", hint="make a key with `merit key new`"
        )
    ensure_free(port, "--port", host)
    console.print(f"signing the work of {upstream} as {signer.address} on http://{host}:{port}/v1")
    uvicorn.run(create_proxy(upstream, signer), host=host, port=port, log_level="warning")


@app.command("calibrate")
@errors_as_one_line
def calibrate(
    name: str = typer.Argument(..., help="The node's name"),
    questions: int = typer.Option(40, min=10, max=500, help="Calibration questions to ask"),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Proof of capability: questions with known answers; the node is active only if it passes."""
    from services.app.calibration import attest_calibration, calibrate_node
    from services.bootstrap import bootstrap
    from services.core.errors import MeritError

    with bootstrap(get_settings()) as c:
        result = calibrate_node(
            c.store, c.nodes, c.store.nodes.get_by_name(name).id, questions=questions, bank=c.bank
        )
        try:
            tx = attest_calibration(c.store, c.chain(), result)
            attested = (
                f"attested on chain (tx {tx})"
                if tx
                else "not attested: register the node on chain first"
            )
        except MeritError as exc:
            tx, attested = None, f"not attested: {exc.one_line()}"
    if as_json:
        print_json({**vars(result), "attestation_tx": tx})
    else:
        verdict = "[green]passed[/green]" if result.passed else "[red]failed[/red]"
        console.print(
            f"{name} {verdict}: {result.reason}; "
            f"starting reputation {result.reputation_bp / 100:.2f}%"
        )
        console.print(attested, highlight=False, soft_wrap=True)
    if not result.passed:
        raise typer.Exit(1)


def _wei(mrt: str) -> int:
    from decimal import Decimal, InvalidOperation

    from services.core.errors import Invalid

    try:
        wei = Decimal(mrt) * 10**18
    except InvalidOperation as exc:
        raise Invalid(f"--amount {mrt!r} is not a number of MRT", hint="e.g. --amount 25") from exc
    if wei <= 0 or wei != wei.to_integral_value():
        raise Invalid(f"--amount {mrt!r} is not a positive amount of MRT (at most 18 decimals)")
    return int(wei)


@app.command("slash")
@errors_as_one_line
def slash(
    evidence: Path = typer.Option(
        ..., exists=True, dir_okay=False, help="The evidence document (JSON)"
    ),
    amount: str | None = typer.Option(
        None, help="MRT to take, e.g. 25 or 0.5 [default: all the node's stake]"
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
) -> None:
    """Slash a node on its own signatures: two different signed answers to one request of one
    task (see services/app/evidence.py for the document's form)."""
    import json

    from services.app.evidence import slash_with_evidence
    from services.bootstrap import bootstrap
    from services.core.errors import Invalid

    settings = get_settings()
    try:
        doc = json.loads(evidence.read_text())
    except ValueError as exc:
        raise Invalid(
            f"{evidence} is not JSON: {exc}", hint="pass the evidence document as JSON"
        ) from exc
    with bootstrap(settings) as c:
        done = slash_with_evidence(
            c.store, c.content, c.chain(), c.signing_domain(), doc,
            amount_wei=None if amount is None else _wei(amount),
        )  # fmt: skip
    if as_json:
        print_json({"kind": done.proven.kind, "chain_node_id": done.proven.chain_node_id,
                    "signer": done.proven.signer, "amount_wei": str(done.amount_wei),
                    "evidence_cid": done.evidence_cid, "tx": done.tx_hash})  # fmt: skip
    else:
        console.print(f"node {done.proven.chain_node_id} slashed {done.amount_wei / 10**18:g} MRT "
                      f"for {done.proven.kind} (signer {done.proven.signer}); "
                      f"evidence {done.evidence_cid}, tx {done.tx_hash}")  # fmt: skip


@app.command("serve-test")
def serve_test(
    name: str = typer.Option(..., help="Node name"),
    port: int = typer.Option(8101, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    offset: int = typer.Option(0, help="Added to every arithmetic result: 0 answers correctly"),
    fault: str = typer.Option(
        "none",
        help="Misbehave for tests: none, empty, wrong-model, garbage, slow, bad-signature, "
        "unsigned",
    ),
    delay: float = typer.Option(30.0, help="Seconds a slow node takes per reply"),
    oracle: bool = typer.Option(
        False, help="Look up MMLU answers (passes calibration; tests only)"
    ),
    signing_key: SigningKey = None,
    dev_account: DevAccount = None,
    chain_id: SigningChainId = None,
    registry: SigningRegistry = None,
) -> None:
    """Serve a TEST NODE: a deterministic arithmetic program behind OpenAI's chat API (no model)."""
    import uvicorn

    from services.nodes.testnode import TestNode, create_app

    signer = node_signer(signing_key, dev_account, chain_id, registry)
    app_ = create_app(TestNode(name, offset, fault, delay, oracle), signer)
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)


@app.command("status")
@errors_as_one_line
def status(
    node: Annotated[
        str | None,
        typer.Argument(help="Registry node id or operator address [default: the account's node]"),
    ] = None,
    account: AccountSpec = None,
    rpc_url: RpcUrl = None,
    api_url: Annotated[
        str | None, typer.Option(help="API base URL [default: MERIT_API_URL]")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Where your node stands in the marketplace: found on chain, examined, active or why not,
    its stake as followed from the chain, and its reputation (over the REST API)."""
    from services.cli.chain_cmds import node_id_of_arg, open_session
    from services.core.money import format_mrt

    chain_node_id = (
        int(node)
        if node is not None and node.isdigit()
        else node_id_of_arg(open_session(rpc_url), node, account)
    )
    row = ApiClient(get_settings(), api_url).registry_node(chain_node_id)
    if as_json:
        print_json(row)
        return
    colour = "green" if row["status"] == "active" else "yellow"
    console.print(
        f"node {chain_node_id} ({row['name']}, operator {row['address']}): "
        f"[{colour}]{row['status']}[/{colour}]"
        + (f": {row['status_note']}" if row.get("status_note") else ""),
        highlight=False, soft_wrap=True,
    )  # fmt: skip
    console.print(
        f"stake {format_mrt(int(row['stake_wei']))}, "
        f"unbonding {format_mrt(int(row['unbonding_wei']))} "
        f"(as of block {row['synced_block']}); reputation {row['reputation_bp'] / 100:.2f}%; "
        f"work signed by {row['signer']}; endpoint {row['endpoint_url'] or '-'}",
        highlight=False, soft_wrap=True,
    )  # fmt: skip


@app.command("list")
@errors_as_one_line
def list_nodes(
    as_json: bool = typer.Option(False, "--json", help="Print JSON"),
    api_url: str | None = typer.Option(None, help="API base URL [default: MERIT_API_URL]"),
) -> None:
    """List registered nodes."""
    nodes = ApiClient(get_settings(), api_url).nodes()
    if as_json:
        print_json(nodes)
        return
    table = Table()
    for col in ("id", "name", "kind", "model", "status", "reputation", "endpoint"):
        table.add_column(col)
    for n in nodes:
        kind = "[yellow]test node[/yellow]" if n["kind"] == "test" else n["kind"]
        table.add_row(
            str(n["id"]),
            n["name"],
            kind,
            n["model"],
            n["status"],
            f"{n['reputation_bp'] / 100:.2f}%",
            n["endpoint_url"],
        )
    console.print(table)
