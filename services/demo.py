"""`merit demo`: the marketplace end to end on the embedded stack, in one command.

Starts the stack (anvil, PostgreSQL, redis, Celery workers, API) with three local nodes: two
SmolLM2-135M nodes with different system prompts and one Gemma-3-270M node when the model
packages are installed (`make node`), else three labelled TEST NODES (deterministic programs, no
model). Then, through the real parts: each node's operator (anvil dev accounts 1-3) takes MRT
from the dev faucet and registers and stakes in the NodeRegistry; each node is calibrated on the
MMLU calibration split by the marketplace, which found it through the registry's events, and the
result is attested on chain; tasks go in through the REST API
and are answered, judged and ranked by the workers; the epoch is closed, proved (Groth16, one
proof per 32 nodes), checked with py_ecc, proposed to EpochSettlement (which verifies the proof
again), and finalized once the dev chain's clock passes the challenge window. Returns one report
(``DemoReport``) that the CLI prints as a table.
"""

from __future__ import annotations

import importlib.util
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eth_account import Account

from services import devstack
from services.chain.contracts import ChainSession
from services.chain.keys import DEV_REQUESTER, dev_account
from services.chain.operators import pay_fee, register_dev_operator
from services.chain.tx import DirectSender
from services.core.errors import MeritError
from services.core.types import NodeStatus
from services.settings import Settings

DEMO_TASKS = (
    "What is 17 + 25? Answer with the number.",
    "What is 9 * 8? Answer with the number.",
    "What is 100 - 37? Answer with the number.",
    "What is 12 * 12? Answer with the number.",
)
SYSTEM_PROMPTS = (
    "You are a careful assistant. Answer briefly and exactly.",
    "You are a math tutor. Give only the final answer.",
)


@dataclass(frozen=True)
class DemoNodeSpec:
    name: str
    model: str  # a shipped model name, or the test model
    system: str | None = None
    offset: int = 0  # test nodes only
    test: bool = False  # a labelled TEST NODE (deterministic program, no model)


@dataclass
class DemoNode:
    spec: DemoNodeSpec
    url: str
    account: str
    node_id: int = 0
    chain_node_id: int = 0
    calibration: str = ""  # the examiner's result and the attestation on chain


@dataclass
class DemoReport:
    real_models: bool
    nodes: list[DemoNode] = field(default_factory=list)
    tasks: list[dict[str, Any]] = field(default_factory=list)
    epoch: int = 0
    rewards: list[dict[str, Any]] = field(default_factory=list)
    settlement: dict[str, Any] = field(default_factory=dict)
    gold: dict[str, Any] = field(default_factory=dict)
    escrow: dict[str, Any] = field(default_factory=dict)  # the requester's fees, held then pooled
    roles: dict[str, str] = field(default_factory=dict)  # role -> the account that holds it
    seconds: dict[str, float] = field(default_factory=dict)
    stopped: str | None = None  # why the demo stopped early (nodes refused by calibration)


def models_installed() -> bool:
    """Whether `make node` ran: llama-cpp-python and the SmolLM2 / Gemma-3 packages import."""
    from services.nodes.models import get_model

    if importlib.util.find_spec("llama_cpp") is None:
        return False
    for name in ("smollm2-135m", "gemma3-270m"):
        model = get_model(name)
        for package in (model.package, *model.parts):
            if importlib.util.find_spec(package.replace("-", "_")) is None:
                return False
    return True


def node_specs(real_models: bool) -> list[DemoNodeSpec]:
    if real_models:
        return [
            DemoNodeSpec("smollm2-careful", "smollm2-135m", SYSTEM_PROMPTS[0]),
            DemoNodeSpec("smollm2-tutor", "smollm2-135m", SYSTEM_PROMPTS[1]),
            DemoNodeSpec("gemma3", "gemma3-270m"),
        ]
    from services.nodes.testnode import TEST_MODEL

    return [
        DemoNodeSpec("test-exact-1", TEST_MODEL, offset=0, test=True),
        DemoNodeSpec("test-exact-2", TEST_MODEL, offset=0, test=True),
        DemoNodeSpec("test-off-by-3", TEST_MODEL, offset=3, test=True),
    ]


def _start_node(
    stack: devstack.Stack, spec: DemoNodeSpec, port: int, signer: str, registry: str
) -> str:
    """Start a demo node signing its work as ``signer`` (its operator's dev account)."""
    from services.processes import http_ok, python_module, spawn, wait_ready

    log = stack.data_dir / "logs" / f"{spec.name}.log"
    if spec.test:
        child = devstack.start_test_node(
            spec.name,
            port,
            spec.offset,
            log,
            env=stack.child_env(),
            oracle=True,
            signer=signer,
            registry=registry,
        )
    else:
        args = python_module(
            "services.cli", "node", "serve", "--model", spec.model, "--port", str(port),
            *(["--system", spec.system] if spec.system else []),
            "--dev-account", signer, "--registry", registry,
        )  # fmt: skip
        child = spawn(spec.name, args, url=f"http://127.0.0.1:{port}/v1", log=log,
                      env=stack.child_env())  # fmt: skip
        wait_ready(child, http_ok(f"http://127.0.0.1:{port}/health"), timeout=120)
    stack.add(devstack.Part(spec.name, child.url, child, child.log))
    return child.url


def _calibration(node: Any) -> str:
    """The examiner's result in a few words: passed 20/20 (pass mark 11), or why not."""
    import re

    note = node.status_note or ""
    m = re.search(r"(\d+)/(\d+) correct; the pass mark is (\d+)", note)
    if m is None:
        return note
    verdict = "passed" if node.status is NodeStatus.ACTIVE else "FAILED"
    return f"{verdict} {m[1]}/{m[2]} (pass mark {m[3]})"


def _attestation(session: Any, node: Any, chain_node_id: int, timeout_s: float = 60) -> Any:
    """The examiner's attestation of a node as the chain holds it: (score in basis points, valid
    until). A node that passed is attested through the chain writer's outbox, so its attestation
    may still be in flight when its record turns active; wait for it to be mined."""
    deadline = time.monotonic() + timeout_s
    while True:
        score, until = session.registry.attestation_of(chain_node_id)
        if until or node.status is not NodeStatus.ACTIVE or time.monotonic() > deadline:
            return score, until
        time.sleep(0.5)


def _signed_work(store: Any, task_id: Any) -> str:
    """How much of a task's round came signed by its nodes' keys and verified (EIP-712)."""
    from services.core.types import AnswerStatus, JudgmentStatus

    answers = store.answers.list_for_task(task_id)
    verdicts = store.judgments.list_for_task(task_id)
    ok = sum(a.status is AnswerStatus.OK and a.signed is not None for a in answers)
    judged = sum(j.status is JudgmentStatus.OK and j.signed is not None for j in verdicts)
    rejected = sum(a.status is AnswerStatus.REJECTED for a in answers) + sum(
        j.status is JudgmentStatus.REJECTED for j in verdicts
    )
    return f"{ok}/{len(answers)} answers, {judged}/{len(verdicts)} verdicts" + (
        f", {rejected} rejected" if rejected else ""
    )


def _confidence(view: dict[str, Any]) -> str | None:
    """The winner's posterior, its supporters, and the runner-up's posterior."""
    ranking = view["ranking"]
    if not ranking:
        return None
    top = ranking[0]
    backers = ", ".join(s["node_name"] or str(s["node_id"]) for s in top.get("supporters", []))
    mine = f"P(right) {top['score']:.3f} ({len(top.get('supporters', []))} supporters: {backers})"
    if len(ranking) == 1:
        return f"{mine}; every answer agrees"
    verdict = "confident" if view.get("separated") else "not confident"
    return f"{verdict}: {mine} vs {ranking[1]['score']:.3f} for the next answer"


def _advance_past_window(session: ChainSession) -> None:
    """Dev chain only: move anvil's clock past the challenge window and mine a block."""
    seconds = int(session.settlement.challenge_window_s()) + 1
    session.w3.provider.make_request("evm_increaseTime", [seconds])  # type: ignore[arg-type]
    session.w3.provider.make_request("evm_mine", [])  # type: ignore[arg-type]


def run(
    settings: Settings,  # the demo runs in <data_dir>/demo, removed and made afresh each run
    *,
    tasks: tuple[str, ...] = DEMO_TASKS,
    real_models: bool = False,
    emission_wei: int = 10 * 10**18,
    fee_wei: int = 10**18,  # each demo task's fee, escrowed by the dev requester
    calibration_questions: int = 20,
    on_step: Callable[[str], None] = lambda _: None,
) -> DemoReport:
    """Run the demo on a fresh embedded stack (stopped again on return)."""
    from services.api_client import FINISHED, ApiClient
    from services.app.audit import audit_epoch
    from services.app.bundles import load_bundle
    from services.app.epochs import close_epoch
    from services.app.gold import commit_gold_set
    from services.app.settlement import finalize_epoch, settle_epoch
    from services.bootstrap import bootstrap
    from services.core.types import EpochId, TaskId
    from zk.epoch_proof import EpochProver

    # its own directory, fresh each run: a demo leaves the user's `merit up` state alone and can be
    # run again after a failure
    demo_dir = settings.resolved_data_dir / "demo"
    if (demo_dir / "stack.json").exists():
        devstack.down(settings.model_copy(update={"data_dir": demo_dir}))
    shutil.rmtree(demo_dir, ignore_errors=True)
    # every demo task brings a hidden gold task along, so the reveal and its audit can be shown
    settings = settings.model_copy(
        update={
            "test_nodes": 0,
            "data_dir": demo_dir,
            "gold_every": 1,
            "gold_delay_s": 2.0,
            "calibration_questions": calibration_questions,
        }
    )
    report = DemoReport(real_models)
    t0 = time.monotonic()
    with devstack.running(settings, on_step) as stack:
        report.seconds["stack"] = time.monotonic() - t0
        report.roles = {**(stack.deployment or {}).get("roles", {})}
        if (stack.deployment or {}).get("timelock"):
            report.roles["admin (timelock)"] = str(stack.deployment["timelock"])
        with bootstrap(settings) as c:
            writer = c.chain()  # the marketplace's chain writer; the operators sign on its session
            session = writer.session

            t = time.monotonic()
            on_step(
                "nodes: serve, register and stake on chain; "
                "the marketplace finds, calibrates and attests them"
            )
            registered: list[tuple[DemoNodeSpec, str, str, int]] = []
            for i, spec in enumerate(node_specs(real_models)):
                url = _start_node(
                    stack,
                    spec,
                    settings.test_node_base_port + i,
                    f"dev:{i + 1}",
                    session.registry.address,
                )
                address, chain_node_id = register_dev_operator(
                    session, c.content, i + 1, spec.model, url, name=spec.name
                )  # the operator's whole part: the chain and its metadata document
                registered.append((spec, url, address, chain_node_id))
            examined = devstack.wait_examined(settings, [r[3] for r in registered])
            for (spec, url, address, chain_node_id), node in zip(registered, examined, strict=True):
                score, until = _attestation(session, node, chain_node_id)
                attested = f"attested {score / 100:.0f}% on chain" if until else "not attested"
                report.nodes.append(
                    DemoNode(spec, url, address, int(node.id), chain_node_id,
                             f"{_calibration(node)}; {attested}")
                )  # fmt: skip
            report.seconds["nodes"] = time.monotonic() - t
            active = list(c.store.nodes.list(status=NodeStatus.ACTIVE))
            if len(active) < 2:
                report.stopped = (
                    f"only {len(active)} node(s) passed calibration and a round needs two; "
                    "failing nodes stay inactive (the small models are near chance on MMLU): "
                    "run the demo with test nodes (the default) or serve stronger models"
                )
                return report

            t = time.monotonic()
            on_step("hidden gold set: drawn from the secret, its Merkle root committed on chain")
            gold_tx = commit_gold_set(c.store, writer, c.bank)
            gold_set = c.store.gold.set_of(c.store.epochs.current().id)
            if gold_set is not None:
                on_chain = writer.gold_commitment(int(gold_set.epoch_id))
                report.gold = {"epoch": int(gold_set.epoch_id), "items": gold_set.size,
                               "root": "0x" + gold_set.root.hex(), "tx": gold_tx,
                               "on_chain": on_chain is not None
                               and on_chain[0] == gold_set.root}  # fmt: skip

            on_step("tasks through the REST API, each fee escrowed by the requester")
            api = ApiClient(settings)
            requester = Account.from_key(dev_account(DEV_REQUESTER).private_key)
            report.escrow = {"payer": f"{DEV_REQUESTER} {requester.address}", "fee_wei": fee_wei,
                             "funded": [],
                             "refused": _refused_fee(api, requester.address)}  # fmt: skip
            for prompt in tasks:
                accepted = api.submit_task(
                    prompt, len(report.nodes), fee_wei=fee_wei, payer=requester.address
                )
                report.escrow["funded"].append(pay_fee(session, requester, accepted["id"], fee_wei))
                view = api.wait_task(accepted["id"], 300)
                if view["status"] not in FINISHED:
                    raise MeritError(
                        f"task {accepted['id']} did not finish in 300 s",
                        hint=f"see the worker logs in {settings.resolved_data_dir / 'logs'}",
                    )
                top = view["ranking"][0] if view["ranking"] else None
                report_confidence = _confidence(view)
                signed = _signed_work(c.store, TaskId(accepted["id"]))
                report.tasks.append(
                    {"id": accepted["id"], "prompt": prompt, "status": view["status"],
                     "answer": view["answer"], "winner": top["node_name"] if top else None,
                     "confidence": report_confidence, "task": TaskId(accepted["id"]),
                     "signed": signed}
                )  # fmt: skip
            for entry in report.tasks:  # the gold tasks come a little later: wait for them too
                deadline = time.monotonic() + 120
                while (
                    made := c.store.gold.beside(entry["task"])
                ) is None and time.monotonic() < deadline:
                    time.sleep(0.2)
                # read from the store: no requester may read gold
                finish_by = time.monotonic() + 300
                while made is not None and not c.store.tasks.get(made.task_id).status.finished:
                    if time.monotonic() > finish_by:
                        break
                    time.sleep(0.2)
            report.seconds["tasks"] = time.monotonic() - t

            t = time.monotonic()
            on_step("epoch: close, prove, check, propose, finalize, claim")
            closed = close_epoch(
                c.store, c.content, emission_wei=emission_wei, bank=c.bank, escrow=writer
            )
            epoch = int(closed.epoch.id)
            report.epoch = epoch
            moved = c.store.outbox.get_by_intent(f"fees:{writer.chain_id}:{epoch}")
            report.escrow.update({
                "moved_tx": moved.tx_hash if moved else None,
                "pool_on_chain_wei": int(session.settlement.pool_of(epoch)),
                "held_after_wei": int(session.escrow.held_total()),
            })  # fmt: skip
            names = {n.node_id: n.spec.name for n in report.nodes}
            for line in closed.result.nodes:
                report.rewards.append(
                    {"node": names.get(int(line.node_id), str(line.node_id)),
                     "reward_wei": int(line.reward), "reputation_before_bp": line.before.score_bp,
                     "reputation_after_bp": line.after.score_bp}
                )  # fmt: skip
            prover = EpochProver(lambda cid: load_bundle(c.content, cid))
            settled = settle_epoch(c.store, writer, epoch, prove=prover.prove, check=prover.check)
            if not settled.sent:
                raise MeritError(f"epoch {epoch} was not proposed: {settled.message}")
            receipt = session.w3.eth.get_transaction_receipt(settled.tx_hash)  # type: ignore[arg-type]
            watched = _watch_once(session, c.content)
            on_step(f"merit watch: {watched}")
            _advance_past_window(session)
            supply = session.token.total_supply()
            finalized = finalize_epoch(c.store, writer, epoch)
            report.escrow["minted_wei"] = int(session.token.total_supply() - supply)
            claims = []
            for i, n in enumerate(report.nodes):
                leaf = c.store.settlements.claim_of(account=n.account, epoch_id=EpochId(epoch))
                if leaf is None:
                    continue
                account = Account.from_key(dev_account(f"dev:{i + 1}").private_key)
                sender = DirectSender(session.w3, account, session.events)
                paid = sender.send(session.settlement.claim_entry(leaf))
                claims.append({"node": n.spec.name, "amount_wei": int(leaf.cumulative_wei),
                               "tx": paid.tx_hash, "gas": paid.gas_used})  # fmt: skip
            # every counted answer and verdict's signature recovered
            audit = audit_epoch(
                c.store,
                c.content,
                EpochId(epoch),
                gold_roots=writer.gold_commitment,
                domain=c.nodes.domain,
            )
            revealed = [
                t
                for t in load_bundle(c.content, closed.epoch.audit_cid or "")["tasks"]
                if t["gold"]
            ]
            report.gold.update({
                "revealed": len(revealed),
                "gold_tasks": len(c.store.gold.for_tasks(
                    t.id for t in c.store.tasks.list_for_epoch(EpochId(epoch))
                )),
                "audit": "PASS" if audit.passed
                else "FAIL: " + "; ".join(d.what for d in audit.differences),
                "checks": len(audit.checked),
                "signatures": sum("signature recovers" in what for what in audit.checked),
            })  # fmt: skip
            report.settlement = {
                "epoch": epoch,
                "pool_wei": int(closed.result.pool),
                "total_wei": int(settled.settlement.total_wei),
                "proof_chunks": settled.settlement.proof_chunks,
                "proof": settled.settlement.proof_status.value,
                "prove_ms": sum(x.prove_ms for x in prover.last_timings),
                "propose_tx": settled.tx_hash,
                "propose_gas": int(receipt["gasUsed"]),
                "finalize_tx": finalized.tx_hash,
                "watch": watched,
                "claims": claims,
            }
            report.seconds["settlement"] = time.monotonic() - t
    report.seconds["total"] = time.monotonic() - t0
    return report


def _refused_fee(api: Any, payer: str) -> str:
    """What the API answers a fee of 2^256 wei (nothing is stored)."""
    from services.core.errors import MeritError as Refused

    try:
        api.submit_task("What is 2+2?", None, fee_wei=2**256, payer=payer)
    except Refused as exc:
        return exc.detail
    raise MeritError("the API accepted a fee of 2^256 wei", hint="check TaskIn.fee_wei's bound")


WATCHER = "dev:15"  # neither a node, a requester nor one of the marketplace's roles


def _watch_once(session: ChainSession, content: Any) -> str:
    """One `merit watch` pass by an account of its own (holding a challenge bond from the
    faucet) over the proposal just made; its verdict line."""
    import tempfile
    from pathlib import Path

    from services.app.watch import WatchState, watch_once
    from services.chain.challenges import ChainChallenges

    account = Account.from_key(dev_account(WATCHER).private_key)
    bond = int(session.settlement.challenge_bond())
    DirectSender(session.w3, account).send(session.token.faucet(account.address, bond))
    with tempfile.TemporaryDirectory() as tmp:
        verdicts = watch_once(
            ChainChallenges(session, account), content, WatchState(Path(tmp) / "watch.json")
        )
    return "; ".join(v.line() for v in verdicts) or "no proposal seen"
