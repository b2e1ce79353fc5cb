"""`merit audit epoch N`: recompute an epoch from its audit bundle; PASS or exactly what differs."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from services.cli.output import console, errors_as_one_line, print_json
from services.settings import get_settings

app = typer.Typer(
    help="Check what the marketplace recorded against a recomputation.", no_args_is_help=True
)


@app.command("epoch")
@errors_as_one_line
def epoch(
    epoch_id: Annotated[int, typer.Argument(min=1, help="Epoch number")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Fetch epoch N's bundle by CID, recompute every task's posterior, the rewards, reputations and
    reliability records, check each revealed gold item against the root committed on chain before
    the epoch, recover the signature of every answer and verdict it counted against its node's
    registered signer, and recompute the settlement proof's score commitments from the bundle;
    compare."""
    from services.app.audit import audit_epoch
    from services.bootstrap import bootstrap
    from services.core.types import EpochId
    from zk.epoch_proof import audit_proof
    from zk.prover import VKEY, Prover
    from zk.verifier import load_verifying_key

    provers: list[Prover] = []  # started only when the epoch has a proof to audit

    def proof_audit(
        doc: dict[str, Any], request: Any, proof: bytes
    ) -> list[tuple[str, object, object]]:
        provers.append(Prover())
        return audit_proof(doc, request, proof, provers[0], load_verifying_key(VKEY))

    settings = get_settings()
    with bootstrap(settings) as c:
        try:
            chain = _chain(c)
            report = audit_epoch(
                c.store, c.content, EpochId(epoch_id), proof_audit=proof_audit,
                gold_roots=None if chain is None else chain.gold_commitment,
                settlement_address=None if chain is None else chain.settlement_address,
                domain=_signing_domain(c),
            )  # fmt: skip
        finally:
            for prover in provers:
                prover.close()
    if as_json:
        print_json(
            {
                "epoch": report.epoch_id,
                "audit_cid": report.audit_cid,
                "passed": report.passed,
                "checked": len(report.checked),
                "differences": [vars(d) for d in report.differences],
            }
        )
    elif report.passed:
        console.print(
            f"[green]PASS[/green] epoch {report.epoch_id}: {len(report.checked)} checks against "
            f"bundle {report.audit_cid}"
        )
    else:
        console.print(
            f"[red]FAIL[/red] epoch {report.epoch_id}: {len(report.differences)} of "
            f"{len(report.checked)} checks differ"
        )
        for d in report.differences:
            console.print(
                f"  {d.what}: recomputed {d.expected}, recorded {d.found}", soft_wrap=True
            )
    if not report.passed:
        raise typer.Exit(1)


def _signing_domain(c: Any) -> Any:
    """The deployment's signing domain, to recover every answer's and verdict's signature (else
    the audit says it left them out)."""
    from services.core.errors import MeritError

    try:
        return c.signing_domain()
    except MeritError as exc:
        console.print(f"[yellow]signatures not checked:[/yellow] {exc.detail}")
        return None


def _chain(c: Any) -> Any:
    """The settlement chain, when it is reachable (else the audit says what it left out): its
    gold commitments, and the settlement contract the proof is bound to."""
    from services.core.errors import MeritError

    try:
        return c.chain()
    except MeritError as exc:
        console.print(
            f"[yellow]gold roots and the proof not checked on chain:[/yellow] {exc.detail}"
        )
        return None
