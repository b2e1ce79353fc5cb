"""What EpochSettlement and NodeRegistry check, in pure Python: reward leaves, the Merkle tree
(OpenZeppelin MerkleProof, sorted pairs), reputation words and their hash.

Layout (see contracts/README.md):
- leaf = keccak256(keccak256(abi.encode(uint64 epoch, uint64 nodeId, address account,
  uint256 cumulativeAmount))), the amount being everything the node earned in epochs 1..epoch;
- parent = keccak256(min(a, b) ++ max(a, b)) (bytes compared as big-endian numbers); a node with no
  sibling on its level moves up unchanged; leaves are in node-id order (so the settlement's
  verifier contract can rebuild the tree from entries it receives in that order, see zk/README.md);
- reputation word w = sum(bps[id] << (16 * (id % 16))) over node ids 16w .. 16w + 15;
  reputation hash = keccak256(firstWord as 32 bytes ++ each word as 32 bytes).

No sockets, no web3 objects: eth_abi and eth_utils only. ``hash_verifier_proof`` is what the
test-only contracts/test/HashVerifier accepts (tests and benches use it; production proofs come
from the zk prover).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_abi.abi import encode
from eth_utils.crypto import keccak

LANES = 16
MAX_BPS = 10_000


@dataclass(frozen=True)
class Reward:
    """One node's cumulative reward entry of an epoch."""

    node_id: int
    account: str
    cumulative_amount: int


def leaf(epoch: int, node_id: int, account: str, cumulative_amount: int) -> bytes:
    inner = keccak(
        encode(
            ["uint64", "uint64", "address", "uint256"], [epoch, node_id, account, cumulative_amount]
        )
    )
    return keccak(inner)


def _parent(a: bytes, b: bytes) -> bytes:
    return keccak(a + b) if a <= b else keccak(b + a)


@dataclass(frozen=True)
class RewardTree:
    """The Merkle tree of one epoch's reward entries."""

    epoch: int
    rewards: tuple[Reward, ...]
    layers: tuple[tuple[bytes, ...], ...]  # layers[0]: leaves by node id; layers[-1]: (root,)

    @classmethod
    def build(cls, epoch: int, rewards: Sequence[Reward]) -> RewardTree:
        if not rewards:
            raise ValueError("a reward tree needs at least one entry")
        ids = [r.node_id for r in rewards]
        if len(set(ids)) != len(ids):
            raise ValueError("one entry per node id")
        leaves = [
            leaf(epoch, r.node_id, r.account, r.cumulative_amount)
            for r in sorted(rewards, key=lambda r: r.node_id)
        ]
        return cls(epoch, tuple(rewards), layers_of(leaves))

    @property
    def root(self) -> bytes:
        return self.layers[-1][0]

    @property
    def cumulative_total(self) -> int:
        """Sum of the entries: everything settled in epochs 1..epoch when every earner is in."""
        return sum(r.cumulative_amount for r in self.rewards)

    def entry(self, node_id: int) -> Reward:
        for reward in self.rewards:
            if reward.node_id == node_id:
                return reward
        raise KeyError(node_id)

    def index_of(self, node_id: int) -> int:
        """The position of ``node_id``'s leaf among the leaves; KeyError when absent."""
        r = self.entry(node_id)
        return self.layers[0].index(leaf(self.epoch, r.node_id, r.account, r.cumulative_amount))

    def proof(self, node_id: int) -> list[bytes]:
        """The sibling hashes that prove ``node_id``'s leaf against ``root``."""
        return self.proof_at(self.index_of(node_id))

    def proof_at(self, index: int) -> list[bytes]:
        """The proof of the leaf at ``index`` of ``layers[0]`` (the leaves, by node id)."""
        return proof_in(self.layers, index)


def layers_of(leaves: Sequence[bytes]) -> tuple[tuple[bytes, ...], ...]:
    """Every level of the tree over ``leaves`` (in their order), the leaves first, the root last."""
    if not leaves:
        raise ValueError("a Merkle tree needs at least one leaf")
    level = tuple(leaves)
    layers = [level]
    while len(level) > 1:
        level = tuple(
            _parent(level[i], level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        )
        layers.append(level)
    return tuple(layers)


def proof_in(layers: Sequence[Sequence[bytes]], index: int) -> list[bytes]:
    """The sibling hashes that prove the leaf at ``index`` against the root of ``layers``."""
    if not 0 <= index < len(layers[0]):
        raise IndexError(index)
    siblings: list[bytes] = []
    for level in layers[:-1]:
        sibling = index ^ 1
        if sibling < len(level):
            siblings.append(level[sibling])
        index //= 2
    return siblings


def verify(proof: Sequence[bytes], root: bytes, leaf_hash: bytes) -> bool:
    """OpenZeppelin MerkleProof.verify with sorted pairs."""
    node = leaf_hash
    for sibling in proof:
        node = _parent(node, sibling)
    return node == root


def reputation_words(bps: Mapping[int, int]) -> tuple[int, list[int]]:
    """(firstWord, words) covering every node id in ``bps``; ids in between keep 0 bps, so pass
    every node whose reputation should be kept."""
    if not bps:
        return 0, []
    if any(node_id <= 0 for node_id in bps) or any(not 0 <= v <= MAX_BPS for v in bps.values()):
        raise ValueError("node ids start at 1 and reputations lie in 0..10000 bps")
    first = min(bps) // LANES
    last = max(bps) // LANES
    words = [0] * (last - first + 1)
    for node_id, value in bps.items():
        words[node_id // LANES - first] |= value << (LANES * (node_id % LANES))
    return first, words


def reputation_hash(first_word: int, words: Sequence[int]) -> bytes:
    return keccak(b"".join(w.to_bytes(32, "big") for w in (first_word, *words)))


def lane(words_by_index: Mapping[int, int], node_id: int) -> int:
    """The reputation of ``node_id`` in a table of words."""
    return (words_by_index.get(node_id // LANES, 0) >> (LANES * (node_id % LANES))) & 0xFFFF


def hash_verifier_proof(key: bytes, epoch: int, rewards_root: bytes, total: int) -> bytes:
    """The proof contracts/test/HashVerifier.sol accepts."""
    return keccak(
        encode(["bytes32", "uint256", "bytes32", "uint256"], [key, epoch, rewards_root, total])
    )
