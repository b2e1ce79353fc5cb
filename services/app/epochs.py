"""Use cases of an epoch: close it (rewards, reputations, audit bundle) and read it back."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from services.app.bundles import put_bundle
from services.app.escrow import move_fees
from services.app.gold import Revealed, reveal
from services.app.ports import ContentStore, Escrow, QuestionBank, Store
from services.app.rounds import FIT_METHOD
from services.core import epoch as core_epoch
from services.core import reputation
from services.core.errors import ConfigInvalid, Conflict, Invalid
from services.core.types import (
    AnswerStatus,
    Epoch,
    EpochId,
    EpochNode,
    FeeState,
    GoldTask,
    JudgmentStatus,
    NodeId,
    Reliability,
    Task,
    TaskId,
    TaskStatus,
    Wei,
)
from services.core.work import Signed
from zk.encoding import POOL_BOUND

log = logging.getLogger(__name__)
BUNDLE_VERSION = 5  # 5: every counted answer and verdict carries its signed message


class EpochEmpty(Conflict):
    code = "epoch-empty"


@dataclass(frozen=True)
class ClosedEpoch:
    epoch: Epoch
    result: core_epoch.EpochResult
    tasks: int


def close_epoch(
    store: Store,
    content: ContentStore,
    *,
    emission_wei: int = 0,
    bank: QuestionBank | None = None,
    escrow: Escrow | None = None,
) -> ClosedEpoch:
    """Close the open epoch: one exact reward vector over the fees moved into its pool plus
    emission, reputation updates, and an audit bundle in the content store whose CID the epoch
    records.

    The pool holds only money the escrow held: first the held fees of finished tasks move into
    the epoch's pool (``escrow.move_fees``; without an ``escrow`` nothing moves), then the close
    pools exactly what moved into this epoch. A finished task whose fee did not move with it
    (it finished after the move, or its escrow was gone) weighs nothing in this split; a fee that
    moved late (its task finished in an earlier epoch) is swept into this pool beside emission.

    Runs in one transaction holding the open epoch's row lock; a second closer waits, then closes
    the next epoch only if that one has finished tasks.
    """
    if escrow is not None:
        move_fees(store, escrow, store.epochs.current().id)
    with store.transaction() as tx:
        ep = tx.epochs.lock_current()
        moved = {t.id: t for t in tx.tasks.with_fee(FeeState.MOVED, fee_epoch=ep.id)}
        swept = sum(int(t.fee_wei) for t in moved.values() if t.epoch_id != ep.id)
        tasks = [t for t in tx.tasks.list_for_epoch(ep.id) if t.status is TaskStatus.DONE]
        if not tasks:
            raise EpochEmpty(
                f"epoch {ep.id} has no finished tasks yet", hint="submit tasks, then close"
            )
        finished = []
        weights: dict[str, dict[str, list[int]] | None] = {}
        signed: dict[TaskId, dict[NodeId, Signed | None]] = {}
        reveals = _reveal_gold(tx, bank, tx.gold.for_tasks(t.id for t in tasks))
        for t in tasks:
            shown = reveals.get(t.id)
            rnd = tx.rounds.get(t.id)
            if rnd is None:
                continue
            weights[t.id] = (
                None if rnd.weights is None else {str(k): list(v) for k, v in rnd.weights.items()}
            )
            counted = [a for a in tx.answers.list_for_task(t.id) if a.status is AnswerStatus.OK]
            answers = {a.node_id: a.content or "" for a in counted}
            signed[t.id] = {a.node_id: a.signed for a in counted}
            finished.append(
                core_epoch.FinishedTask(
                    # only a fee moved into this pool weighs (never a gold task's declared one)
                    t.id,
                    Wei(0) if shown or t.id not in moved else t.fee_wei,
                    rnd.ranking,
                    answers,
                    tuple(
                        j for j in tx.judgments.list_for_task(t.id) if j.status is JudgmentStatus.OK
                    ),
                    shown.item.question.answer if shown else None,
                    tuple(rnd.node_ids) if shown else (),
                    rnd.candidates,
                    dict(rnd.seats or {}),
                    t.options,
                )
            )
        nodes = {n.id: n for n in tx.nodes.list()}
        reps = {
            n.id: reputation.Reputation(n.reputation_bp, n.reputation_anchor_bp)
            for n in nodes.values()
        }
        known = {n.id: n.reliability for n in nodes.values()}
        result = core_epoch.close(
            ep.id, finished, reps, Wei(emission_wei + swept), reliabilities=known
        )
        if not 0 <= result.pool < POOL_BOUND:  # the proof could never settle it: nothing is stored
            raise Invalid(
                f"epoch {ep.id}'s pool would be {result.pool} wei, outside the proof's bound 2^96",
                hint="close with less emission (--emission, MERIT_EPOCH_EMISSION_WEI)",
            )
        addresses = {n.id: n.address for n in nodes.values()}
        signers = {n.id: n.signer for n in nodes.values()}
        doc = bundle(ep.id, finished, result, weights, reveals, addresses, signed, signers)
        doc.update(
            fee_section(emission_wei, moved.values(), [t for t in tasks if t.id not in moved])
        )
        cid = put_bundle(content, doc)
        for n in result.nodes:
            if n.node_id in nodes:
                tx.nodes.set_reputation(n.node_id, n.after.score_bp, n.after.anchor_bp)
                tx.nodes.set_reliability(n.node_id, n.reliability_after)
        tx.epochs.record_nodes(
            [
                EpochNode(
                    ep.id,
                    n.node_id,
                    n.reward,
                    n.before.score_bp,
                    n.after.score_bp,
                    n.after.anchor_bp,
                    n.withheld,
                )
                for n in result.nodes
                if n.node_id in nodes
            ]
        )
        closed = tx.epochs.close(ep.id, result.pool, cid)
        tx.epochs.record_clusters(ep.id, [sorted(c) for c in result.clusters])
    log.info(
        "epoch closed",
        extra={"epoch": ep.id, "tasks": len(finished), "pool_wei": result.pool, "cid": cid},
    )
    return ClosedEpoch(closed, result, len(finished))


def bundle(
    epoch_id: EpochId,
    tasks: list[core_epoch.FinishedTask],
    result: core_epoch.EpochResult,
    weights: dict[str, dict[str, list[int]] | None],
    reveals: Mapping[TaskId, Revealed] | None = None,
    addresses: Mapping[NodeId, str | None] | None = None,  # each node's operator (its payee)
    signed: Mapping[TaskId, Mapping[NodeId, Signed | None]]
    | None = None,  # each answer's signature
    signers: Mapping[NodeId, str | None] | None = None,  # each node's registered signing key
) -> dict[str, Any]:
    """Everything an auditor needs to recompute the epoch (stored by ``bundles.put_bundle``).
    Each counted answer (``signed_answers``) and verdict (``signed``) carries the message its node
    signed (``services.core.work``: kind, task, round, left, right, request, reply), the signature
    and the address it recovers to; each node its registered ``signer``."""
    doc: dict[str, Any] = {
        "version": BUNDLE_VERSION,
        "epoch": epoch_id,
        "method": FIT_METHOD,
        "pool_wei": str(result.pool),
        "emission_wei": str(result.pool - sum(t.fee for t in tasks)),
        "carried_wei": str(result.carried),
        "tasks": [
            {
                "task_id": t.task_id,
                "fee_wei": str(t.fee),
                "ranking": [
                    {"node_id": e.node_id, "rank": e.rank, "score": e.score} for e in t.ranking
                ],
                "answers": {str(k): v for k, v in sorted(t.answers.items())},
                "signed_answers": {
                    str(k): _signed(v) for k, v in sorted((signed or {}).get(t.task_id, {}).items())
                },
                "judgments": [
                    {
                        "judge_id": j.judge_id,
                        "left_id": j.left_id,
                        "right_id": j.right_id,
                        "outcome": j.outcome.value,
                        "signed": _signed(j.signed),
                    }
                    for j in t.judgments
                ],
                "weights": weights.get(t.task_id),
                "candidates": [
                    {"id": c.id, "supporters": list(c.supporters)} for c in t.candidates
                ],
                "seats": {str(k): v for k, v in sorted(t.seats.items())},
                "options": None if t.options is None else list(t.options),
                "gold_answer": t.gold,
                "swarm": list(t.swarm),
                "rewards_wei": {
                    str(k): str(v) for k, v in sorted(result.task_rewards[t.task_id].items())
                },
                "gold": None
                if t.task_id not in (reveals or {})
                else _revealed((reveals or {})[t.task_id]),
            }
            for t in tasks
        ],
        "clusters": [sorted(c) for c in result.clusters],
        "outliers": [
            {
                "judge_id": o.judge_id,
                "agreed": o.agreed,
                "judged": o.judged,
                "deviation": str(o.deviation),
                "p_value": str(o.p_value),
            }
            for o in result.outliers
        ],
        "nodes": [
            {
                "node_id": n.node_id,
                "address": (addresses or {}).get(n.node_id),
                "signer": (signers or {}).get(n.node_id),
                "reward_wei": str(n.reward),
                "reputation_before_bp": n.before.score_bp,
                "anchor_before_bp": n.before.anchor_bp,
                "reputation_after_bp": n.after.score_bp,
                "anchor_after_bp": n.after.anchor_bp,
                "withheld": n.withheld,
                "reliability_before": _record(n.reliability_before),
                "reliability_after": _record(n.reliability_after),
            }
            for n in result.nodes
        ],
    }
    return doc


def fee_section(
    emission_wei: int, moved: Iterable[Task], unpooled: Iterable[Task]
) -> dict[str, Any]:
    """Where the pool's money came from: each fee moved into it from the escrow (with its payer
    and the epoch its task finished in), the emission minted beside them, and each finished task
    whose fee is not in this pool, with why. Top-level lists, so the bundle stores them in chunks
    like the tasks (an epoch of 100,000 paid tasks lists 100,000 fees)."""
    return {
        "minted_wei": str(emission_wei),
        "fees_moved": [
            {"task_id": t.id, "payer": t.payer, "fee_wei": str(t.fee_wei), "task_epoch": t.epoch_id}
            for t in sorted(moved, key=lambda t: t.id)
        ],
        "fees_unpooled": [
            {
                "task_id": t.id,
                "fee_wei": str(t.fee_wei),
                "fee_state": t.fee_state.value,
                "note": t.fee_note,
            }
            for t in sorted(unpooled, key=lambda t: t.id)
            if t.fee_state is not FeeState.FREE
        ],
    }


def _signed(s: Signed | None) -> dict[str, object] | None:
    return None if s is None else s.fields()


def _record(r: Reliability) -> list[int]:
    """The record's eight counts, then 1 when the node is distrusted."""
    return [*r.values(), int(r.distrusted)]


def _reveal_gold(
    store: Store, bank: QuestionBank | None, gold: Mapping[TaskId, GoldTask]
) -> dict[TaskId, Revealed]:
    """Each gold task's item with its proof against its set's root."""
    if not gold:
        return {}
    if bank is None:
        raise ConfigInvalid(
            "the epoch holds gold tasks but no question bank was given to reveal them",
            hint="close epochs through the container (merit epoch close, or the worker)",
        )
    out = {}
    for set_epoch in sorted({g.set_epoch for g in gold.values()}):
        gold_set = store.gold.set_of(set_epoch)
        if gold_set is None:
            raise ConfigInvalid(f"epoch {set_epoch}'s gold set was never committed")
        mine = {t: g for t, g in gold.items() if g.set_epoch == set_epoch}
        shown = reveal(bank, gold_set, {g.index for g in mine.values()})
        out.update({t: shown[g.index] for t, g in mine.items()})
    return out


def _revealed(r: Revealed) -> dict[str, Any]:
    q = r.item.question
    return {
        "set_epoch": r.set_epoch,
        "index": r.index,
        "salt": r.item.salt.hex(),
        "text": q.text,
        "options": list(q.options),
        "answer": q.answer,
        "free_answer": r.item.free.answer,
        "prompt": q.prompt(),
        "proof": [p.hex() for p in r.proof],
        "root": r.root.hex(),
    }
