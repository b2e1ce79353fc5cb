"""Agreement: a fixed set of valid and tampered reward-chunk proofs gets the same verdict from
snarkjs (inside the warm prover), the Python verifier (zk.verifier) and the generated Solidity
verifier on anvil (eth_call with explicit gas)."""

from __future__ import annotations

import pytest
from web3 import Web3

from services.chain.compiler import load_artifact
from services.chain.deploy import Deployment

from tests.unit.test_zk_verifier import affine_words_g2, outside_g2
from zk import encoding

DOMAIN = encoding.Domain(31337, "0x" + "5e" * 20)  # proofs checked off chain only
from zk.prover import VKEY, Prover
from zk.verifier import FIELD_MODULUS, Proof, load_verifying_key, verify

R = encoding.R
# the one non-canonical encoding snarkjs reduces modulo the base field (and then accepts) where
# the EVM precompiles and zk.verifier refuse it; public inputs at or above r it refuses too
SNARKJS_REDUCES = {"coordinate above the base field"}


@pytest.fixture(scope="module")
def prover() -> Prover:
    p = Prover()
    yield p
    p.close()


@pytest.fixture(scope="module")
def valid(prover: Prover) -> tuple[Proof, list[int]]:
    rows = [
        encoding.Row(3, True, 7, 1, "0x" + "11" * 20),
        encoding.Row(5, False, 2),
        encoding.Row(9, True, 4, 2, "0x" + "22" * 20),
    ]
    epoch, pool = 4, 10**18 + 1
    (commitment,) = prover.outputs(encoding.chunk_inputs(epoch, 0, pool, rows), count=1)
    _, circuit_input = encoding.bind(DOMAIN, epoch, 0, pool, rows, commitment)
    result = prover.prove(circuit_input)
    signals = encoding.public_signals(DOMAIN, epoch, 0, pool, rows, commitment)
    assert list(result.public_signals) == signals
    return Proof.from_snarkjs(result.proof), signals


def _cases(proof: Proof, signals: list[int]) -> dict[str, tuple[Proof, list[int]]]:
    w = list(proof.to_words())
    (x0, x1), (y0, y1) = affine_words_g2(outside_g2(1))
    return {
        "valid": (proof, signals),
        "changed public input": (proof, [*signals[:5], signals[5] + 1, *signals[6:]]),
        "swapped A and C": (Proof.from_words([w[6], w[7], *w[2:6], w[0], w[1]]), signals),
        "A off the curve": (Proof.from_words([w[0], (w[1] + 1) % FIELD_MODULUS, *w[2:]]), signals),
        "B outside the G2 subgroup": (Proof.from_words([w[0], w[1], x1, x0, y1, y0, w[6], w[7]]), signals),
        "public input above the field order": (proof, [*signals[:3], signals[3] + R, *signals[4:]]),
        "coordinate above the base field": (Proof.from_words([w[0] + FIELD_MODULUS, *w[1:]]), signals),
    }  # fmt: skip


def test_snarkjs_python_and_the_contract_agree_on_every_case(
    prover: Prover, valid, chain: Web3, deployment: Deployment
) -> None:
    vk = load_verifying_key(VKEY)
    artifact = load_artifact("RewardChunkVerifier")
    contract = chain.eth.contract(
        address=deployment.address("RewardChunkVerifier"), abi=artifact["abi"]
    )
    verdicts = {}
    for name, (proof, signals) in _cases(*valid).items():
        python = verify(vk, proof, signals)
        w = proof.to_words()
        on_chain = contract.functions.verifyProof(
            [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]], signals
        ).call({"gas": 1_000_000})
        snark = prover.snarkjs_verify(proof.to_snarkjs(), signals)
        verdicts[name] = (python.ok, on_chain, snark)
    # the contract (the EVM precompiles) is the answer of record; the Python verifier matches it
    # on every case
    assert {n: v[0] for n, v in verdicts.items()} == {n: v[1] for n, v in verdicts.items()}
    assert [n for n, v in verdicts.items() if v[1]] == ["valid"]
    # snarkjs agrees except where it reduces a non-canonical encoding before checking: a value
    # at or above its field becomes the same point or scalar, which the EVM refuses
    lenient = {n for n, (_, chain_ok, snark_ok) in verdicts.items() if snark_ok != chain_ok}
    assert lenient == SNARKJS_REDUCES, verdicts
