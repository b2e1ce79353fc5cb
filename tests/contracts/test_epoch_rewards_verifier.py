"""EpochRewardsVerifier on a real anvil, behind the real generated RewardChunkVerifier: every
structural refusal names itself before any Groth16 check runs, the public signals it hands the
Groth16 verifier are exactly zk/encoding's, its gas bound covers what it spends, and
EpochSettlement passes it the previous epoch's root and the gas it asks for.

A proof that passes every structural check carries dummy Groth16 words here, so the last word is
always the Groth16 verifier's: EpochRewardsVerifierChunkRejected (real proofs are the end-to-end
test's, tests/integration/test_zk_settlement.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_abi.abi import decode
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

from services.chain.client import decode_revert
from services.chain.compiler import TEST_ARTIFACTS_DIR, load_artifact
from services.chain.deploy import Deployment, _deploy_one, deploy_test_contract
from services.chain.rpc import ChainReverted, account_from_key
from services.core.merkle import Reward, RewardTree
from services.settings import ANVIL_DEV_KEY
from tests.contracts.market import CID, DEPLOYER, MRT, SETTLER, reverts, tx
from tests.fixtures.chain import REPO_ROOT
from zk import encoding as zk
from zk.encoding import ChainRow, Entry, ProofChunk, Row


def account(i: int) -> str:
    return Web3.to_checksum_address(Web3.keccak(text=f"meritswarm payee {i}")[:20])


ACCOUNTS = [account(i) for i in range(4000)]
WORDS = tuple(range(1, 9))  # not a proof: the Groth16 verifier says false


@dataclass(frozen=True)
class Epoch:
    """An epoch that passes every structural check, and the arguments of verifyEpoch."""

    epoch: int
    pool: int
    total_score: int
    threshold: int
    entries: tuple[Entry, ...]
    chunks: tuple[ProofChunk, ...]
    previous_root: bytes
    root: bytes
    total: int
    extra: dict[str, Any] = field(default_factory=dict)

    def proof(self) -> bytes:
        return zk.encode_proof(
            self.pool, self.total_score, self.threshold, self.entries, self.chunks
        )

    def args(self) -> tuple[int, bytes, bytes, int, bytes]:
        return (self.epoch, self.previous_root, self.root, self.total, self.proof())

    def with_row(self, k: int, i: int, **change: int) -> Epoch:
        chunk = self.chunks[k]
        rows = list(chunk.rows)
        rows[i] = rows[i]._replace(**change)
        chunks = list(self.chunks)
        chunks[k] = replace(chunk, rows=tuple(rows))
        return replace(self, chunks=tuple(chunks))


def _root(epoch: int, amounts: list[tuple[int, str, int]]) -> bytes:
    leaves = [Reward(cid, account, amount) for cid, account, amount in amounts if amount > 0]
    return RewardTree.build(epoch, leaves).root if leaves else b"\0" * 32


def make_epoch(epoch: int = 3, n: int = 40, pool: int = 7 * MRT + 13, idle: int = 0) -> Epoch:
    """``n`` rows (node ids 100, 101, ...), two of three paid on chain; registry nodes 1 and 58
    hold leaves from earlier epochs, 58 earns nothing now, and so do ``idle`` more nodes."""
    rows = [
        Row(
            100 + i,
            i % 5 != 0,
            1 + (i * 7919) % 1000,
            i + 1 if i % 3 else None,
            ACCOUNTS[i] if i % 3 else None,
        )
        for i in range(n)
    ]
    previous = {1: (ACCOUNTS[0], 5 * MRT), 58: (ACCOUNTS[57], 2 * MRT)}
    previous.update({10_000 + i: (account(10_000 + i), MRT + i) for i in range(idle)})
    entries = tuple(zk.claim_entries(pool, rows, previous))
    chunks = tuple(
        ProofChunk(
            1000 + k,
            zk.chunk_score_sum(rows, k),
            WORDS,
            tuple(zk.chain_rows(pool, rows, entries, k)),
        )
        for k in range(zk.chunk_count(rows))
    )
    credited = {e.chain_node_id: 0 for e in entries}
    for chunk in chunks:
        for row in chunk.rows:
            if row.payee:
                credited[entries[row.entry].chain_node_id] += row.reward
    return Epoch(
        epoch,
        pool,
        sum(r.score for r in rows),
        zk.threshold(pool, rows),
        entries,
        chunks,
        _root(epoch - 1, [(e.chain_node_id, e.account, e.previous_cumulative) for e in entries]),
        _root(
            epoch,
            [
                (e.chain_node_id, e.account, e.previous_cumulative + credited[e.chain_node_id])
                for e in entries
            ],
        ),
        zk.paid_total(pool, rows),
        {"rows": rows},
    )


@pytest.fixture
def book(chain: Web3) -> Any:
    """A test registry that says every synthetic payee operates the node it is paid for."""
    made = deploy_test_contract(chain, ANVIL_DEV_KEY, "OperatorBook")
    book = chain.eth.contract(address=made.address, abi=load_artifact("OperatorBook", REPO_ROOT / TEST_ARTIFACTS_DIR)["abi"])
    ids = {ACCOUNTS[i]: i + 1 for i in range(300)}
    ids.update({account(10_000 + i): 10_000 + i for i in range(8)})
    ids[ACCOUNTS[57]] = 58
    pairs = sorted(ids.items())
    for start in range(0, len(pairs), 500):
        part = pairs[start : start + 500]
        tx(chain, DEPLOYER, book.functions.setMany([a for a, _ in part], [n for _, n in part]))
    return book


@pytest.fixture
def verifier(chain: Web3, deployment: Deployment, book: Any) -> Any:
    """EpochRewardsVerifier on the deployment's chunk verifier, paying the book's operators."""
    chunks = deployment.address("RewardChunkVerifier")
    made = _deploy_one(chain, account_from_key(ANVIL_DEV_KEY), "EpochRewardsVerifier", chunks, book.address)
    return chain.eth.contract(address=made.address, abi=deployment.contract(chain, "EpochRewardsVerifier").abi)


def test_a_payee_who_does_not_operate_its_node_is_refused(verifier: Any, book: Any, chain: Web3) -> None:
    e = make_epoch()
    paid = next(e for e in e.entries if e.chain_node_id == 2)
    tx(chain, DEPLOYER, book.functions.setMany([paid.account], [0]))
    try:
        assert refusal(verifier, e) == (
            "EpochRewardsVerifierPayeeNotOperator", (2, paid.account, 0)
        )
    finally:
        tx(chain, DEPLOYER, book.functions.setMany([paid.account], [2]))


def refusal(verifier: Any, e: Epoch, gas: int | None = None) -> tuple[str | None, tuple[Any, ...]]:
    """The named error verifyEpoch reverts with (it must revert)."""
    call = verifier.functions.verifyEpoch(*e.args())
    with pytest.raises((ContractCustomError, ContractLogicError)) as caught:
        call.call({"gas": gas} if gas else {})
    return decode_revert(caught.value.data)  # type: ignore[arg-type]


def trace(chain: Web3, verifier: Any, e: Epoch) -> dict[str, Any]:
    """anvil's call trace of verifyEpoch (callTracer)."""
    data = verifier.functions.verifyEpoch(*e.args())._encode_transaction_data()
    reply = chain.provider.make_request(  # type: ignore[arg-type]
        "debug_traceCall",
        [{"from": DEPLOYER.address, "to": verifier.address, "data": data, "gas": hex(29_000_000)}, "latest",
         {"tracer": "callTracer"}],
    )  # fmt: skip
    return dict(reply["result"])


# --- what reaches the Groth16 verifier ----------------------------------------------------------


def test_a_structurally_sound_epoch_reaches_the_groth16_check(verifier: Any) -> None:
    e = make_epoch()
    assert len(e.chunks) == 2
    assert refusal(verifier, e) == ("EpochRewardsVerifierChunkRejected", (0,))


def test_the_groth16_verifier_gets_zk_encodings_public_signals(
    chain: Web3, deployment: Deployment, verifier: Any
) -> None:
    e = make_epoch(n=64)  # two full chunks: the Groth16 verifier sees chunk 0 only
    chunk_verifier = deployment.address("RewardChunkVerifier")
    assert verifier.functions.chunkVerifier().call() == chunk_verifier
    calls = [
        c
        for c in trace(chain, verifier, e).get("calls", [])
        if c["to"].lower() == chunk_verifier.lower()
    ]
    assert len(calls) == 1 and calls[0]["type"] == "STATICCALL"
    assert int(calls[0]["gas"], 16) == GROTH16_GAS  # its fixed allowance
    words = decode(
        ["uint256[2]", "uint256[2][2]", "uint256[2]", "uint256[9]"],
        bytes.fromhex(calls[0]["input"][10:]),
    )
    assert [*words[0], *words[1][0], *words[1][1], *words[2]] == list(WORDS)
    rows: list[Row] = e.extra["rows"]
    # the challenge is bound to the chain and to the caller (the settlement contract)
    domain = zk.Domain(chain.eth.chain_id, DEPLOYER.address)
    assert list(words[3]) == zk.public_signals(domain, e.epoch, 0, e.pool, rows, 1000)
    elsewhere = zk.Domain(chain.eth.chain_id, SETTLER.address)
    assert list(words[3]) != zk.public_signals(elsewhere, e.epoch, 0, e.pool, rows, 1000)


# --- the structural refusals ----------------------------------------------------------------------


def test_a_reward_or_payee_that_could_alias_is_refused(verifier: Any) -> None:
    e = make_epoch()
    assert refusal(verifier, e.with_row(1, 2, reward=2**128)) == (
        "EpochRewardsVerifierRewardTooLarge", (1, 2, 2**128)
    )  # fmt: skip
    assert refusal(verifier, e.with_row(0, 0, payee=2**224)) == (
        "EpochRewardsVerifierPayeeTooLarge", (0, 0, 2**224)
    )  # fmt: skip


def test_a_paid_row_must_name_its_own_entry(verifier: Any) -> None:
    e = make_epoch()
    row = e.chunks[0].rows[1]
    assert row.payee  # row 1 is paid on chain
    assert refusal(verifier, e.with_row(0, 1, entry=len(e.entries))) == (
        "EpochRewardsVerifierEntryOutOfRange", (0, 1, len(e.entries))
    )  # fmt: skip
    other = e.entries[row.entry + 1]
    assert refusal(verifier, e.with_row(0, 1, entry=row.entry + 1)) == (
        "EpochRewardsVerifierPayeeMismatch",
        (0, 1, row.payee, zk.payee(other.chain_node_id, other.account)),
    )
    # a row paid off chain credits nothing, whatever entry it names
    assert refusal(verifier, e.with_row(0, 0, entry=2**32 - 1))[0] == (
        "EpochRewardsVerifierChunkRejected"
    )


def test_entries_must_be_in_node_id_order(verifier: Any) -> None:
    e = make_epoch()
    entries = list(e.entries)
    entries[2], entries[3] = entries[3], entries[2]
    assert refusal(verifier, replace(e, entries=tuple(entries))) == (
        "EpochRewardsVerifierEntriesOutOfOrder", (3, entries[3].chain_node_id)
    )  # fmt: skip
    entries = list(e.entries)
    entries[3] = entries[2]
    assert refusal(verifier, replace(e, entries=tuple(entries)))[0] == (
        "EpochRewardsVerifierEntriesOutOfOrder"
    )


def test_the_previous_root_must_be_the_previous_epochs_tree(verifier: Any) -> None:
    e = make_epoch()
    wrong = Web3.keccak(text="another tree")
    assert refusal(verifier, replace(e, previous_root=wrong)) == (
        "EpochRewardsVerifierPreviousRootMismatch", (e.previous_root, wrong)
    )  # fmt: skip
    # a leaf of epoch e - 1 is stamped with e - 1: the same amounts one epoch later differ
    assert refusal(verifier, replace(e, epoch=e.epoch + 1))[0] == (
        "EpochRewardsVerifierPreviousRootMismatch"
    )
    # no earlier leaves: the previous root is zero
    first = make_epoch(epoch=1)
    fresh = tuple(en._replace(previous_cumulative=0) for en in first.entries)
    first = replace(first, entries=fresh, previous_root=b"\0" * 32)
    assert refusal(verifier, first)[0] == "EpochRewardsVerifierEmptyEntry"  # 58 earned nothing


def test_sums_must_add_up(verifier: Any) -> None:
    e = make_epoch()
    assert refusal(verifier, replace(e, total_score=e.total_score + 1)) == (
        "EpochRewardsVerifierScoreSumMismatch", (e.total_score, e.total_score + 1)
    )  # fmt: skip
    assert refusal(verifier, replace(e, pool=e.pool - 1)) == (
        "EpochRewardsVerifierRewardSumMismatch", (e.pool, e.pool - 1)
    )  # fmt: skip
    assert refusal(verifier, replace(e, total=e.total + 1)) == (
        "EpochRewardsVerifierTotalMismatch", (e.total, e.total + 1)
    )  # fmt: skip
    # moving a unit from an off-chain row to a paid one keeps the pool but not the total
    moved = e.with_row(0, 0, reward=e.chunks[0].rows[0].reward - 1)
    moved = moved.with_row(0, 1, reward=e.chunks[0].rows[1].reward + 1)
    assert refusal(verifier, moved) == ("EpochRewardsVerifierTotalMismatch", (e.total + 1, e.total))


def test_the_new_root_must_be_the_old_leaves_plus_the_proven_rewards(verifier: Any) -> None:
    e = make_epoch()
    wrong = Web3.keccak(text="a root paying someone else")
    assert refusal(verifier, replace(e, root=wrong)) == (
        "EpochRewardsVerifierRewardsRootMismatch", (e.root, wrong)
    )  # fmt: skip
    # an entry that ends with nothing has no leaf
    empty = Entry(e.entries[-1].chain_node_id + 1, ACCOUNTS[-1], 0)
    assert refusal(verifier, replace(e, entries=(*e.entries, empty))) == (
        "EpochRewardsVerifierEmptyEntry", (empty.chain_node_id,)
    )  # fmt: skip


def test_chunks_hold_at_most_32_rows(verifier: Any) -> None:
    e = make_epoch()
    rows = e.chunks[0].rows + (ChainRow(0, 0, 0),)
    chunks = (replace(e.chunks[0], rows=rows), *e.chunks[1:])
    assert refusal(verifier, replace(e, chunks=chunks)) == (
        "EpochRewardsVerifierChunkTooLarge", (0, 33)
    )  # fmt: skip


def test_epoch_zero_and_malformed_proofs_are_refused(verifier: Any) -> None:
    e = make_epoch()
    args = e.args()
    with pytest.raises(ContractCustomError) as caught:
        verifier.functions.verifyEpoch(0, *args[1:]).call()
    assert decode_revert(caught.value.data)[0] == "EpochRewardsVerifierZeroEpoch"  # type: ignore[arg-type]
    with pytest.raises(ContractCustomError) as caught:
        verifier.functions.verifyEpoch(*args[:4], b"\x01" * 159).call()
    assert decode_revert(caught.value.data) == (  # type: ignore[arg-type]
        "EpochRewardsVerifierMalformedProof",
        (159,),
    )
    # an offset past the end is an ABI error: a revert without a name, like abi.decode's
    broken = bytearray(e.proof())
    broken[4 * 32 : 5 * 32] = (len(broken) + 64).to_bytes(32, "big")
    with pytest.raises(ContractLogicError) as caught:
        verifier.functions.verifyEpoch(*args[:4], bytes(broken)).call()
    assert decode_revert(caught.value.data)[0] is None  # type: ignore[arg-type]


def test_too_little_gas_for_a_groth16_check_is_not_a_rejected_proof(verifier: Any) -> None:
    e = make_epoch()
    name, args = refusal(verifier, e, gas=250_000)
    assert name == "EpochRewardsVerifierGasTooLow"
    assert args[1] == GROTH16_NEEDED


def test_the_chunk_verifier_must_be_a_contract(chain: Web3) -> None:
    me = account_from_key(ANVIL_DEV_KEY)
    with pytest.raises(ChainReverted) as caught:
        _deploy_one(chain, me, "EpochRewardsVerifier", me.address, me.address)
    assert caught.value.error_name == "EpochRewardsVerifierNotContract"
    assert caught.value.error_args == (me.address,)


# --- gas ------------------------------------------------------------------------------------------


GROTH16_GAS = 300_000  # EpochRewardsVerifier: each Groth16 call's allowance
GROTH16_NEEDED = GROTH16_GAS + GROTH16_GAS // 63 + 5_000  # left before each call


def structural_gas(chain: Web3, verifier: Any, e: Epoch) -> int:
    """Gas verifyEpoch spends before its first Groth16 call (anvil's opcode trace)."""
    data = verifier.functions.verifyEpoch(*e.args())._encode_transaction_data()
    reply = chain.provider.make_request(  # type: ignore[arg-type]
        "debug_traceCall",
        [{"from": DEPLOYER.address, "to": verifier.address, "data": data, "gas": hex(29_000_000)}, "latest",
         {"disableStack": True, "disableStorage": True, "enableMemory": False}],
    )  # fmt: skip
    steps = reply["result"]["structLogs"]
    call = next(s for s in steps if s["op"] == "STATICCALL" and s["depth"] == 1)
    return int(steps[0]["gas"]) - int(call["gas"])


@pytest.mark.parametrize(("n", "idle"), [(1, 0), (32, 0), (128, 0), (40, 400)])
def test_the_gas_bound_covers_the_checks_and_every_groth16_call(
    chain: Web3, verifier: Any, n: int, idle: int
) -> None:
    e = make_epoch(n=n, idle=idle)
    bound = verifier.functions.verificationGas(e.proof()).call()
    chunks, entries = len(e.chunks), len(e.entries)
    assert bound == 30_000 + chunks * (GROTH16_NEEDED + 20_000) + entries * 5_000
    # everything before the first Groth16 call (all of it but the calls' argument building),
    # then each call's allowance with what it needs left, and 5k per chunk for its arguments
    assert structural_gas(chain, verifier, e) + chunks * (GROTH16_NEEDED + 5_000) < bound


def test_a_malformed_proofs_gas_bound_is_what_its_length_can_hold(verifier: Any) -> None:
    gas = verifier.functions.verificationGas
    assert gas(b"").call() == 30_000
    head = b"".join(w.to_bytes(32, "big") for w in (0, 0, 0, 2**255, 160))
    assert gas(head + (2**255).to_bytes(32, "big")).call() == 30_000 + 6 * (GROTH16_NEEDED + 20_000)


# --- through EpochSettlement --------------------------------------------------------------------


def test_settlement_passes_the_previous_root_and_caps_the_gas(
    chain: Web3, deployment: Deployment
) -> None:
    settlement = deployment.contract(chain, "EpochSettlement")
    e = make_epoch(epoch=1)  # entries claim earlier leaves, but epoch 1 has no previous root
    with reverts("EpochRewardsVerifierPreviousRootMismatch", e.previous_root, b"\0" * 32):
        tx(chain, SETTLER, settlement.functions.propose(1, e.root, e.total, CID, 0, [], e.proof()))
    # the proof below asks for more gas than the cap
    many = replace(e, chunks=e.chunks * 30)
    cap = deployment.params.verifier_gas
    asked = 30_000 + 60 * (GROTH16_NEEDED + 20_000) + len(e.entries) * 5_000
    assert asked > cap
    with reverts("EpochSettlementVerifierGasAboveCap", asked, cap):
        tx(
            chain,
            SETTLER,
            settlement.functions.propose(1, e.root, e.total, CID, 0, [], many.proof()),
        )
    assert settlement.functions.lastProposedEpoch().call() == 0
