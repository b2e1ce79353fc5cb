"""Proving an epoch's settlement and checking a proof the way EpochRewardsVerifier does.

``make_proof`` reads the epoch's rows from its audit bundle (``zk.rows``), proves every chunk
with the warm snarkjs prover (two steps: the witness gives the score commitment, the challenge
drawn from it binds the rows the chain pays) and encodes the ``proof`` argument of
``EpochSettlement.propose``. ``check_proof`` is the workers' check before any gas is spent: it
decodes that argument and repeats everything the contract checks (zk/README.md, "Binding"):
challenges and evaluations, the sums, the previous and the new claim tree, then every chunk's
Groth16 proof in one batch with the Python verifier. Its verdict names the first failure.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from services.app.settlement import MadeProof, ProofRequest, ProofVerdict
from services.core.errors import Invalid
from services.core.merkle import Reward, RewardTree
from zk import encoding
from zk.encoding import DecodedProof, decode_proof  # noqa: F401 (re-exported)
from zk.prover import VKEY, Prover, ProverFailed
from zk.rows import rows_from_bundle
from zk.verifier import Proof, VerifyingKey, load_verifying_key, verify_batch

BundleFetch = Callable[[str], dict[str, Any]]  # audit CID -> the bundle document


@dataclass(frozen=True)
class ChunkTiming:
    chunk: int
    rows: int
    prove_ms: int


def _domain(request: ProofRequest) -> encoding.Domain:
    return encoding.Domain(request.chain_id, request.settlement)


def _entries(request: ProofRequest) -> list[encoding.Entry]:
    return [
        encoding.Entry(e.chain_node_id, e.account, int(e.cumulative_wei) - int(e.reward_wei))
        for e in sorted(request.entries, key=lambda e: e.chain_node_id)
    ]


def make_proof(
    request: ProofRequest, fetch: BundleFetch, prover: Prover
) -> tuple[MadeProof, list[ChunkTiming]]:
    """Prove the settlement ``request`` describes from the bundle at its audit CID."""
    epoch = request.epoch
    doc = fetch(request.audit_cid)
    if int(doc["epoch"]) != epoch:
        raise Invalid(f"the bundle at {request.audit_cid} is epoch {doc['epoch']}, not {epoch}")
    er = rows_from_bundle(doc, request.payees)
    rows, pool = list(er.rows), er.pool
    paid = encoding.paid_total(pool, rows)
    if paid != request.total:
        raise Invalid(
            f"epoch {epoch}: the bundle pays {paid} wei on chain, "
            f"the settlement {request.total} wei"
        )
    entries = _entries(request)
    total_score = encoding.check_rows(pool, rows)
    chunks: list[encoding.ProofChunk] = []
    timings: list[ChunkTiming] = []
    for k in range(encoding.chunk_count(rows)):
        t0 = time.perf_counter()
        (commitment,) = prover.outputs(encoding.chunk_inputs(epoch, k, pool, rows), count=1)
        _, circuit_input = encoding.bind(_domain(request), epoch, k, pool, rows, commitment)
        result = prover.prove(circuit_input)
        expected = encoding.public_signals(_domain(request), epoch, k, pool, rows, commitment)
        if list(result.public_signals) != expected:
            raise ProverFailed(
                f"chunk {k}: the prover's public signals differ from the encoding's",
                hint="zk/artifacts do not match zk/circuits; run zk/build",
            )
        words = Proof.from_snarkjs(result.proof).to_words()
        chunks.append(
            encoding.ProofChunk(
                commitment,
                encoding.chunk_score_sum(rows, k),
                words,
                tuple(encoding.chain_rows(pool, rows, entries, k)),
            )
        )
        timings.append(ChunkTiming(k, len(chunks[-1].rows), int((time.perf_counter() - t0) * 1000)))
    proof = encoding.encode_proof(
        pool, total_score, encoding.threshold(pool, rows), entries, chunks
    )
    return MadeProof(proof, len(chunks)), timings


def _root(epoch: int, entries: Sequence[tuple[int, str, int]]) -> bytes:
    live = [Reward(i, a, amount) for i, a, amount in entries if amount > 0]
    return RewardTree.build(epoch, live).root if live else bytes(32)


def check_proof(request: ProofRequest, proof: bytes, vk: VerifyingKey) -> ProofVerdict:
    """Everything EpochRewardsVerifier checks, in Python; the first failure is the reason."""
    try:
        d = decode_proof(proof)
    except Invalid as exc:
        return ProofVerdict(False, exc.detail)
    epoch = request.epoch
    if not d.chunks:
        return ProofVerdict(False, "the proof has no chunks")
    ids = [e.chain_node_id for e in d.entries]
    if any(b <= a for a, b in itertools.pairwise(ids)):
        return ProofVerdict(False, "entries are not in strictly increasing node id order")
    credited = [0] * len(d.entries)
    score_sum = reward_sum = paid = 0
    items: list[tuple[Proof, list[int]]] = []
    for k, chunk in enumerate(d.chunks):
        if not chunk.rows or len(chunk.rows) > encoding.CHUNK:
            return ProofVerdict(False, f"chunk {k} has {len(chunk.rows)} rows (1..32 allowed)")
        for i, row in enumerate(chunk.rows):
            if row.reward >= encoding.REWARD_BOUND or row.payee >= encoding.PAYEE_BOUND:
                return ProofVerdict(False, f"chunk {k} row {i}: value out of range")
            reward_sum += row.reward
            if row.payee:
                if row.entry >= len(d.entries):
                    return ProofVerdict(False, f"chunk {k} row {i}: no entry {row.entry}")
                e = d.entries[row.entry]
                if encoding.payee(e.chain_node_id, e.account) != row.payee:
                    return ProofVerdict(False, f"chunk {k} row {i}: payee is not its entry's")
                credited[row.entry] += row.reward
                paid += row.reward
        score_sum += chunk.chunk_score_sum
        pairs = [(r.payee, r.reward) for r in chunk.rows]
        c = encoding.challenge(
            _domain(request), epoch, k, d.pool, d.total_score, d.threshold, chunk.score_commitment,
            chunk.chunk_score_sum, pairs,
        )  # fmt: skip
        signals = [
            chunk.score_commitment, chunk.chunk_score_sum, encoding.rewards_eval(c, pairs),
            epoch, k, d.pool, d.total_score, d.threshold, c,
        ]  # fmt: skip
        try:
            items.append((Proof.from_words(chunk.proof), signals))
        except Invalid as exc:
            return ProofVerdict(False, f"chunk {k}: {exc.detail}")
    if score_sum != d.total_score:
        return ProofVerdict(False, f"chunk score sums {score_sum} != total score {d.total_score}")
    if reward_sum != d.pool:
        return ProofVerdict(False, f"rewards add up to {reward_sum}, not the pool {d.pool}")
    if paid != request.total:
        return ProofVerdict(False, f"rows paid on chain add up to {paid}, not {request.total}")
    previous = _root(
        epoch - 1, [(e.chain_node_id, e.account, e.previous_cumulative) for e in d.entries]
    )
    if previous != request.previous_root:
        return ProofVerdict(False, "the entries do not rebuild the previous epoch's claim root")
    after = [
        (e.chain_node_id, e.account, e.previous_cumulative + credited[i])
        for i, e in enumerate(d.entries)
    ]
    if any(amount == 0 for _, _, amount in after):
        return ProofVerdict(False, "an entry ends with nothing to claim")
    if _root(epoch, after) != request.root:
        return ProofVerdict(False, "the entries plus the proven rewards do not give the root")
    for k, verdict in enumerate(verify_batch(vk, items)):
        if not verdict.ok:
            return ProofVerdict(False, f"chunk {k}: {verdict.reason}")
    return ProofVerdict(True)


class EpochProver:
    """The zk worker's prover and checker: a warm snarkjs process and the verification key."""

    def __init__(self, fetch: BundleFetch, prover: Prover | None = None) -> None:
        from zk.prover import shared

        self.fetch = fetch
        self.prover = prover or shared()
        self.vk = load_verifying_key(VKEY)
        self.last_timings: list[ChunkTiming] = []

    def prove(self, request: ProofRequest) -> MadeProof:
        made, self.last_timings = make_proof(request, self.fetch, self.prover)
        return made

    def check(self, request: ProofRequest, proof: bytes) -> ProofVerdict:
        return check_proof(request, proof, self.vk)


def audit_proof(
    doc: dict[str, Any], request: ProofRequest, proof: bytes, prover: Prover, vk: VerifyingKey
) -> list[tuple[str, object, object]]:
    """What an auditor checks of a settlement's proof against the epoch's bundle: the pool, the
    total score, the threshold and every chunk's score commitment and paid rows recomputed from
    the bundle's scores (the link the proof itself cannot make), then the proof as the contract
    checks it. (what, recomputed, recorded) triples."""
    checks: list[tuple[str, object, object]] = []
    try:
        er = rows_from_bundle(doc, request.payees)
    except Invalid as exc:
        return [("the bundle's rewards are the protocol's split of its scores", "yes", exc.detail)]
    try:
        d = decode_proof(proof)
    except Invalid as exc:
        return [("the settlement's proof decodes", "yes", exc.detail)]
    rows, epoch = list(er.rows), request.epoch
    checks.append(("proof pool", er.pool, d.pool))
    checks.append(("proof total score", encoding.check_rows(er.pool, rows), d.total_score))
    checks.append(("proof threshold", encoding.threshold(er.pool, rows), d.threshold))
    checks.append(("proof chunks", encoding.chunk_count(rows), len(d.chunks)))
    for k, chunk in enumerate(d.chunks[: encoding.chunk_count(rows)]):
        (commitment,) = prover.outputs(encoding.chunk_inputs(epoch, k, er.pool, rows), count=1)
        checks.append(
            (f"chunk {k} score commitment (bundle scores)", commitment, chunk.score_commitment)
        )
        paid = [(r.payee, r.reward) for r in chunk.rows]
        checks.append((f"chunk {k} paid rows", encoding.payees_rewards(er.pool, rows, k), paid))
    verdict = check_proof(request, proof, vk)
    checks.append(
        ("proof verifies and binds the claim root", "ok", "ok" if verdict.ok else verdict.reason)
    )
    return checks
