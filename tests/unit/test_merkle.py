"""services.core.merkle: reward leaves, the sorted-pair Merkle tree and reputation words, checked
by hand on small cases (no sockets; the contract tests check the same functions on anvil)."""

from __future__ import annotations

import pytest
from eth_abi.abi import encode
from eth_utils.crypto import keccak

from services.core.merkle import (
    Reward,
    RewardTree,
    lane,
    leaf,
    reputation_hash,
    reputation_words,
    verify,
)

A = "0x00000000000000000000000000000000000000aa"
B = "0x00000000000000000000000000000000000000bb"
C = "0x00000000000000000000000000000000000000cc"


def _pair(a: bytes, b: bytes) -> bytes:
    lo, hi = sorted((a, b))
    return keccak(lo + hi)


def test_a_leaf_is_the_double_keccak_of_the_abi_encoded_fields() -> None:
    word = (
        (7).to_bytes(32, "big")
        + (3).to_bytes(32, "big")
        + bytes.fromhex(A[2:]).rjust(32, b"\0")
        + (12 * 10**18).to_bytes(32, "big")
    )
    assert encode(["uint64", "uint64", "address", "uint256"], [7, 3, A, 12 * 10**18]) == word
    assert leaf(7, 3, A, 12 * 10**18) == keccak(keccak(word))
    assert leaf(7, 3, A, 1) != leaf(8, 3, A, 1) != leaf(7, 4, A, 1)


def test_one_leaf_is_its_own_root_with_an_empty_proof() -> None:
    tree = RewardTree.build(1, [Reward(1, A, 5)])
    assert tree.root == leaf(1, 1, A, 5)
    assert tree.proof(1) == [] and tree.proof_at(0) == []


def test_three_leaves_hand_built() -> None:
    rewards = [Reward(1, A, 10), Reward(2, B, 20), Reward(3, C, 30)]
    tree = RewardTree.build(4, rewards)
    la, lb, lc = (leaf(4, r.node_id, r.account, r.cumulative_amount) for r in rewards)
    s0, s1, s2 = la, lb, lc  # leaves stay in node-id order
    # level 1: (s0, s1) pair up; s2 has no sibling and moves up unchanged
    assert tree.root == _pair(_pair(s0, s1), s2)
    assert tree.proof_at(0) == [s1, s2] and tree.proof_at(2) == [_pair(s0, s1)]
    assert tree.cumulative_total == 60
    for r in rewards:
        proof = tree.proof(r.node_id)
        assert proof == tree.proof_at(tree.index_of(r.node_id))
        assert verify(proof, tree.root, leaf(4, r.node_id, r.account, r.cumulative_amount))
    assert not verify(tree.proof(1), tree.root, leaf(4, 1, A, 11))  # a bigger amount fails


def test_every_leaf_of_a_larger_tree_verifies_and_the_order_given_does_not_matter() -> None:
    rewards = [Reward(i, f"0x{i:040x}", i * 1000) for i in range(1, 12)]
    tree = RewardTree.build(9, rewards)
    assert RewardTree.build(9, list(reversed(rewards))).root == tree.root
    for r in rewards:
        assert verify(
            tree.proof(r.node_id), tree.root, leaf(9, r.node_id, r.account, r.cumulative_amount)
        )
    with pytest.raises(IndexError):
        tree.proof_at(11)
    with pytest.raises(KeyError):
        tree.proof(12)


def test_a_tree_refuses_no_entries_and_duplicate_nodes() -> None:
    with pytest.raises(ValueError):
        RewardTree.build(1, [])
    with pytest.raises(ValueError):
        RewardTree.build(1, [Reward(1, A, 1), Reward(1, B, 2)])


def test_reputation_words_pack_16_lanes_of_16_bits() -> None:
    first, words = reputation_words({1: 9000, 2: 5500, 15: 1})
    assert first == 0
    assert words == [9000 << 16 | 5500 << 32 | 1 << 240]
    first, words = reputation_words({17: 10_000, 40: 7})
    assert first == 1
    assert words == [10_000 << 16, 7 << (16 * 8)]  # id 40: word 2, lane 8
    table = {first + i: w for i, w in enumerate(words)}
    assert lane(table, 17) == 10_000 and lane(table, 40) == 7 and lane(table, 18) == 0
    assert reputation_words({}) == (0, [])


def test_reputation_words_refuse_node_zero_and_values_out_of_range() -> None:
    for bad in ({0: 1}, {1: 10_001}, {2: -1}):
        with pytest.raises(ValueError):
            reputation_words(bad)


def test_the_reputation_hash_is_keccak_of_packed_words() -> None:
    assert reputation_hash(1, [2, 3]) == keccak(
        (1).to_bytes(32, "big") + (2).to_bytes(32, "big") + (3).to_bytes(32, "big")
    )
