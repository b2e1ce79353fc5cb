"""`merit node ...`: nodes of the swarm."""

from __future__ import annotations

import typer
from rich.table import Table

from services.api_client import ApiClient
from services.cli.output import console, errors_as_one_line, print_json
from services.settings import get_settings

app = typer.Typer(help="Nodes of the swarm.", no_args_is_help=True)


@app.command("serve")
@errors_as_one_line
def serve(
    model: str = typer.Option(..., help="A shipped model: smollm2-135m or gemma3-270m"),
    port: int = typer.Option(8201, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    threads: int = typer.Option(2, min=1, help="CPU threads for llama.cpp"),
    system: str | None = typer.Option(None, help="Your own system prompt, used in place of the caller's"),
) -> None:
    """Serve a small GGUF model on CPU behind the OpenAI-compatible chat API (llama.cpp)."""
    import uvicorn

    from services.nodes.server import build
    from services.ports_free import ensure_free

    ensure_free(port, "--port", host)
    app_ = build(model, get_settings().resolved_data_dir / "models", n_threads=threads, system=system)
    console.print(f"serving {model} on http://{host}:{port}/v1")
    uvicorn.run(app_, host=host, port=port, log_level="warning")


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
    from services.chain.settlement import open_chain_settlement
    from services.core.errors import MeritError

    c = bootstrap(get_settings())
    try:
        result = calibrate_node(c.store, c.nodes, c.store.nodes.get_by_name(name).id, questions=questions, bank=c.bank)
        try:
            tx = attest_calibration(c.store, open_chain_settlement(c.settings, c.store), result)
            attested = f"attested on chain (tx {tx})" if tx else "not attested: register the node on chain first"
        except MeritError as exc:
            tx, attested = None, f"not attested: {exc.one_line()}"
    finally:
        c.close()
    if as_json:
        print_json({**vars(result), "attestation_tx": tx})
    else:
        verdict = "[green]passed[/green]" if result.passed else "[red]failed[/red]"
        console.print(f"{name} {verdict}: {result.reason}; starting reputation {result.reputation_bp / 100:.2f}%")
        console.print(attested, highlight=False, soft_wrap=True)
    if not result.passed:
        raise typer.Exit(1)


@app.command("serve-test")
def serve_test(
    name: str = typer.Option(..., help="Node name"),
    port: int = typer.Option(8101, help="Port to listen on"),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on"),
    offset: int = typer.Option(0, help="Added to every arithmetic result: 0 answers correctly"),
    fault: str = typer.Option("none", help="Misbehave for tests: none, empty, wrong-model, garbage, slow"),
    delay: float = typer.Option(30.0, help="Seconds a slow node takes per reply"),
    oracle: bool = typer.Option(False, help="Look up MMLU answers (passes calibration; tests only)"),
) -> None:
    """Serve a TEST NODE: a deterministic arithmetic program behind the OpenAI chat API (no model)."""
    import uvicorn

    from services.nodes.testnode import TestNode, create_app

    app_ = create_app(TestNode(name, offset, fault, delay, oracle))
    uvicorn.run(app_, host=host, port=port, log_level="warning", timeout_graceful_shutdown=1)


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
        table.add_row(str(n["id"]), n["name"], kind, n["model"], n["status"],
                      f"{n['reputation_bp'] / 100:.2f}%", n["endpoint_url"])
    console.print(table)
