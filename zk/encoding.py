"""What the reward-chunk circuit and EpochRewardsVerifier check, built in pure Python.

See zk/README.md ("The statement", "Binding", "Encodings"). An epoch's rows are ordered by node
id; row ``g`` is ``(node_id, eligible, score, payee_chain_id, payee_account)`` and lies in chunk
``g // 32``. From them and the pool this module builds

- the split the circuit proves (``rewards``, ``threshold``): exactly
  ``services.core.rewards.apportion`` with the ineligible rows rounded down;
- a chunk's circom input (``chunk_inputs``). ``scoreCommitment`` is a circuit OUTPUT and the
  challenge ``c`` hashes it, so a prover goes in two steps: compute the witness of
  ``chunk_inputs(..., challenge=0)`` to read the commitment, then ``bind(...)`` gives ``c`` and
  the final input to prove (the rows, hence the commitment, do not depend on ``c``);
- the contract's side: ``challenge``, ``rewards_eval``, ``public_signals`` and the ``proof``
  argument of ``EpochSettlement.propose`` (``encode_proof``, with ``chain_rows`` and
  ``claim_entries`` for its rows and entries).

Pure: no sockets, no processes; eth_abi and eth_utils only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from eth_abi.abi import decode, encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from services.core.errors import Invalid

R = 21888242871839275222246405745257275088548364400416034343698204186575808495617
CHUNK = 32
NO_THRESHOLD = (1 << 162) - 1  # no row gets a unit: every key is below it
ELIGIBLE_BIT = 1 << 161
INDEX_BASE = 1 << 32  # key = eligible * 2^161 + remainder * 2^32 + (2^32 - 1 - g)
POOL_BOUND = 1 << 96
SCORE_BOUND = 1 << 96
TOTAL_BOUND = 1 << 128
NODE_ID_BOUND = 1 << 64
CHUNK_INDEX_BOUND = 1 << 24
REWARD_BOUND = 1 << 128  # the contract refuses a reward at or above it
PAYEE_BOUND = 1 << 224  # and a payee at or above it
ACCOUNT_BITS = 160

PROOF_TYPES = (
    "uint256",  # pool
    "uint256",  # totalScore
    "uint256",  # threshold
    "(uint64,address,uint256)[]",  # entries
    "(uint256,uint256,uint256[8],(uint256,uint256,uint32)[])[]",  # chunks
)


class Row(NamedTuple):
    """One node's row: off-chain node id, eligibility (positive score, outside any Sybil
    cluster), score, and the registry node id and account it is paid to on chain (None: off
    chain)."""

    node_id: int
    eligible: bool
    score: int
    payee_chain_id: int | None = None
    payee_account: str | None = None


class Domain(NamedTuple):
    """Where a proof is spent: the chain id and the EpochSettlement contract that calls the
    verifier. Both open every chunk's challenge, so a proof made for one deployment is never
    accepted by another (another chain, or another settlement contract on the same chain)."""

    chain_id: int
    settlement: str

    def words(self) -> tuple[int, int]:
        return self.chain_id, int(self.settlement, 16)


class Entry(NamedTuple):
    """A claim-tree entry: registry node id, account, cumulative amount in the previous tree."""

    chain_node_id: int
    account: str
    previous_cumulative: int


class ChainRow(NamedTuple):
    """A row as the chain pays it: payee word, reward, index of the entry it credits."""

    payee: int
    reward: int
    entry: int


@dataclass(frozen=True)
class ProofChunk:
    """One chunk of the ``proof`` argument: the circuit's outputs, the Groth16 proof words
    ``[A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y]`` and the chunk's rows."""

    score_commitment: int
    chunk_score_sum: int
    proof: tuple[int, ...]
    rows: tuple[ChainRow, ...]


# --- the split --------------------------------------------------------------------------------


def check_rows(pool: int, rows: Sequence[Row]) -> int:
    """Refuse rows the circuit cannot prove; returns the total score."""
    if not 0 <= pool < POOL_BOUND:
        raise Invalid(f"pool {pool} is outside [0, 2^96)")
    if not rows:
        raise Invalid("an epoch needs at least one row")
    if len(rows) > CHUNK * CHUNK_INDEX_BOUND:
        raise Invalid("too many rows for 2^24 chunks")
    last = -1
    for row in rows:
        if not last < row.node_id < NODE_ID_BOUND:
            raise Invalid("rows must be in strictly increasing node id order, ids below 2^64")
        last = row.node_id
        if not 0 <= row.score < SCORE_BOUND:
            raise Invalid(f"node {row.node_id}: score {row.score} is outside [0, 2^96)")
        if row.eligible and row.score == 0:
            raise Invalid(f"node {row.node_id}: an eligible row needs a positive score")
        if (row.payee_chain_id is None) != (row.payee_account is None):
            raise Invalid(f"node {row.node_id}: a payee needs both a chain node id and an account")
    total = sum(row.score for row in rows)
    if not 0 < total < TOTAL_BOUND:
        raise Invalid(f"total score {total} is outside (0, 2^128)")
    return total


def key(g: int, eligible: bool, remainder: int) -> int:
    """Row ``g``'s place in the order the leftover units follow (larger first)."""
    return int(eligible) * ELIGIBLE_BIT + remainder * INDEX_BASE + (INDEX_BASE - 1 - g)


def _keys_and_quotients(pool: int, rows: Sequence[Row]) -> tuple[list[int], list[int], int]:
    total = check_rows(pool, rows)
    quotients = [pool * row.score // total for row in rows]
    keys = [key(g, row.eligible, pool * row.score % total) for g, row in enumerate(rows)]
    return keys, quotients, pool - sum(quotients)


def threshold(pool: int, rows: Sequence[Row]) -> int:
    """The key of the last row that gets a leftover unit; ``NO_THRESHOLD`` when none does."""
    keys, _, left = _keys_and_quotients(pool, rows)
    if left == 0:
        return NO_THRESHOLD
    return sorted(keys, reverse=True)[left - 1]


def rewards(pool: int, rows: Sequence[Row]) -> list[int]:
    """Each row's reward by the circuit's rule: quotient plus one where key >= threshold."""
    keys, quotients, left = _keys_and_quotients(pool, rows)
    cut = NO_THRESHOLD if left == 0 else sorted(keys, reverse=True)[left - 1]
    return [q + (k >= cut) for q, k in zip(quotients, keys, strict=True)]


# --- the chain's side -------------------------------------------------------------------------


def payee(chain_id: int | None, account: str | None) -> int:
    """``chainNodeId * 2^160 + account``; 0 for a node paid off chain."""
    if chain_id is None or account is None:
        return 0
    if not 0 < chain_id < NODE_ID_BOUND:
        raise Invalid(f"registry node id {chain_id} is outside (0, 2^64)")
    value = int(account, 16)
    if not 0 <= value < 1 << ACCOUNT_BITS:
        raise Invalid(f"{account} is not an address")
    return (chain_id << ACCOUNT_BITS) | value


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big")


def challenge(
    domain: Domain,
    epoch: int,
    k: int,
    pool: int,
    total_score: int,
    threshold: int,
    score_commitment: int,
    chunk_score_sum: int,
    rows_payee_reward: Sequence[tuple[int, int]],
) -> int:
    """keccak256 over the 32-byte words [chainId, settlement, epoch, k, pool, totalScore,
    threshold, scoreCommitment, chunkScoreSum, payee_0, reward_0, ...] mod r, as the contract
    draws it."""
    head = (
        *domain.words(),
        epoch,
        k,
        pool,
        total_score,
        threshold,
        score_commitment,
        chunk_score_sum,
    )
    body = [v for pair in rows_payee_reward for v in pair]
    return int.from_bytes(keccak(b"".join(_word(v) for v in (*head, *body))), "big") % R


def rewards_eval(c: int, payees_rewards: Sequence[tuple[int, int]]) -> int:
    """sum_i payee_i c^(2i) + reward_i c^(2i+1) mod r."""
    acc = 0
    for p, r in reversed(payees_rewards):
        acc = ((acc * c + r) * c + p) % R
    return acc


def chunk_count(rows: Sequence[Row]) -> int:
    return (len(rows) + CHUNK - 1) // CHUNK


def _chunk(rows: Sequence[Row], k: int) -> Sequence[Row]:
    if not 0 <= k < chunk_count(rows):
        raise Invalid(f"chunk {k} is outside the epoch's {chunk_count(rows)} chunks")
    return rows[CHUNK * k : CHUNK * (k + 1)]


def payees_rewards(pool: int, rows: Sequence[Row], k: int) -> list[tuple[int, int]]:
    """Chunk ``k``'s ``(payee, reward)`` pairs, as the chain pays them and the challenge hashes
    them (every real row, padding left out)."""
    chunk = _chunk(rows, k)
    paid = rewards(pool, rows)[CHUNK * k : CHUNK * k + len(chunk)]
    return [(payee(r.payee_chain_id, r.payee_account), w) for r, w in zip(chunk, paid, strict=True)]


def chunk_score_sum(rows: Sequence[Row], k: int) -> int:
    return sum(row.score for row in _chunk(rows, k))


def chunk_inputs(
    epoch: int, k: int, pool: int, rows: Sequence[Row], challenge: int = 0
) -> dict[str, str | list[str]]:
    """The circom input of chunk ``k`` (decimal strings; padding rows all zero)."""
    total = check_rows(pool, rows)
    if not 0 <= challenge < R:
        raise Invalid("the challenge must be a field element")
    chunk = list(_chunk(rows, k))
    pad = CHUNK - len(chunk)

    def column(values: list[int]) -> list[str]:
        return [str(v) for v in values + [0] * pad]

    return {
        "epoch": str(epoch),
        "chunkIndex": str(k),
        "pool": str(pool),
        "totalScore": str(total),
        "threshold": str(threshold(pool, rows)),
        "challenge": str(challenge),
        "nodeId": column([r.node_id for r in chunk]),
        "eligible": column([int(r.eligible) for r in chunk]),
        "score": column([r.score for r in chunk]),
        "payee": column([payee(r.payee_chain_id, r.payee_account) for r in chunk]),
    }


def chunk_challenge(
    domain: Domain, epoch: int, k: int, pool: int, rows: Sequence[Row], score_commitment: int
) -> int:
    """The challenge the contract draws for chunk ``k`` once its commitment is known."""
    return challenge(
        domain,
        epoch,
        k,
        pool,
        check_rows(pool, rows),
        threshold(pool, rows),
        score_commitment,
        chunk_score_sum(rows, k),
        payees_rewards(pool, rows, k),
    )


def bind(
    domain: Domain, epoch: int, k: int, pool: int, rows: Sequence[Row], score_commitment: int
) -> tuple[int, dict[str, str | list[str]]]:
    """Step two of proving chunk ``k``: given the ``scoreCommitment`` output of the witness of
    ``chunk_inputs(epoch, k, pool, rows)``, the challenge and the input to prove."""
    c = chunk_challenge(domain, epoch, k, pool, rows, score_commitment)
    return c, chunk_inputs(epoch, k, pool, rows, c)


def public_signals(
    domain: Domain, epoch: int, k: int, pool: int, rows: Sequence[Row], score_commitment: int
) -> list[int]:
    """Chunk ``k``'s public signals in snarkjs order: [scoreCommitment, chunkScoreSum,
    rewardsEval, epoch, chunkIndex, pool, totalScore, threshold, challenge]."""
    c = chunk_challenge(domain, epoch, k, pool, rows, score_commitment)
    return [
        score_commitment,
        chunk_score_sum(rows, k),
        rewards_eval(c, payees_rewards(pool, rows, k)),
        epoch,
        k,
        pool,
        check_rows(pool, rows),
        threshold(pool, rows),
        c,
    ]


def claim_entries(
    pool: int, rows: Sequence[Row], previous: Mapping[int, tuple[str, int]]
) -> list[Entry]:
    """The claim tree's entries after the epoch: every registry node of the previous tree
    (``previous``: registry node id -> (account, cumulative amount)) and every payee with a
    positive reward, in registry node id order, each with its previous amount (0 if new).

    Invalid when a payee is paid to another account than in the previous tree, or when a row has
    a payee but neither a reward nor a previous leaf (its entry would be empty: pay it off chain,
    i.e. give it no payee).
    """
    accounts = {cid: acct for cid, (acct, _) in previous.items()}
    for row, reward in zip(rows, rewards(pool, rows), strict=True):
        if row.payee_chain_id is None or row.payee_account is None:
            continue
        cid, acct = row.payee_chain_id, row.payee_account
        known = accounts.get(cid)
        if known is not None and known.lower() != acct.lower():
            raise Invalid(
                f"registry node {cid} is paid to {known} in the previous tree, not {acct}"
            )
        if known is None and reward == 0:
            raise Invalid(
                f"node {row.node_id} has a payee but no reward and no earlier leaf",
                hint="give rows without a reward or earlier leaf no payee (paid off chain)",
            )
        if known is None:
            accounts[cid] = acct
    return [
        Entry(cid, accounts[cid], previous[cid][1] if cid in previous else 0)
        for cid in sorted(accounts)
    ]


def chain_rows(pool: int, rows: Sequence[Row], entries: Sequence[Entry], k: int) -> list[ChainRow]:
    """Chunk ``k``'s rows as the ``proof`` argument carries them, each paid row naming its
    entry (a row paid off chain names entry 0, which the contract ignores)."""
    index = {e.chain_node_id: i for i, e in enumerate(entries)}
    out = []
    for (p, reward), row in zip(payees_rewards(pool, rows, k), _chunk(rows, k), strict=True):
        if p == 0:
            out.append(ChainRow(0, reward, 0))
            continue
        assert row.payee_chain_id is not None
        if row.payee_chain_id not in index:
            raise Invalid(f"registry node {row.payee_chain_id} has no claim entry")
        out.append(ChainRow(p, reward, index[row.payee_chain_id]))
    return out


def paid_total(pool: int, rows: Sequence[Row]) -> int:
    """What the epoch adds on chain: the rewards of rows with a payee (the proposal's total)."""
    return sum(
        w
        for row, w in zip(rows, rewards(pool, rows), strict=True)
        if row.payee_chain_id is not None
    )


def encode_proof(
    pool: int,
    total_score: int,
    threshold: int,
    entries: Sequence[Entry],
    chunks: Sequence[ProofChunk],
) -> bytes:
    """The ``proof`` argument of ``EpochSettlement.propose`` (zk/README.md, "Encodings")."""
    for chunk in chunks:
        if len(chunk.proof) != 8:
            raise Invalid("a Groth16 proof has 8 words")
    values = [
        pool,
        total_score,
        threshold,
        [(e.chain_node_id, e.account, e.previous_cumulative) for e in entries],
        [
            (c.score_commitment, c.chunk_score_sum, list(c.proof), [tuple(r) for r in c.rows])
            for c in chunks
        ],
    ]
    return encode(list(PROOF_TYPES), values)


@dataclass(frozen=True)
class DecodedProof:
    """The ``proof`` argument of ``EpochSettlement.propose``, read back (``encode_proof``'s
    inverse): what a watcher compares row by row with the epoch's bundle."""

    pool: int
    total_score: int
    threshold: int
    entries: tuple[Entry, ...]
    chunks: tuple[ProofChunk, ...]


def decode_proof(proof: bytes) -> DecodedProof:
    """Invalid when ``proof`` is not an encoded claim."""
    try:
        pool, total, cut, entries, chunks = decode(list(PROOF_TYPES), proof)
    except Exception as exc:  # eth_abi raises several types for malformed input
        raise Invalid(f"the proof does not decode: {exc}") from exc
    return DecodedProof(
        int(pool),
        int(total),
        int(cut),
        tuple(Entry(int(i), to_checksum_address(a), int(p)) for i, a, p in entries),
        tuple(
            ProofChunk(
                int(sc), int(ss), tuple(int(w) for w in words),
                tuple(ChainRow(int(p), int(r), int(e)) for p, r, e in rows),
            )
            for sc, ss, words, rows in chunks
        ),
    )  # fmt: skip
