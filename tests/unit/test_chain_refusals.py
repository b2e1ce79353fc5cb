"""A chain refusal a use case acts on arrives as its typed MeritError, decoded from revert data."""

from __future__ import annotations

from eth_abi.abi import encode
from eth_utils.abi import function_signature_to_4byte_selector

from services.chain.reverts import ChainInvalid, ChainReverted, revert_error
from services.core.errors import ChallengeWindowOpen, VerifierRefused


def _data(signature: str, types: list[str], values: list[int]) -> str:
    return "0x" + (function_signature_to_4byte_selector(signature) + encode(types, values)).hex()


def test_an_open_window_says_when_it_ends() -> None:
    data = _data("EpochSettlementChallengeWindowOpen(uint64,uint64)", ["uint64", "uint64"], [3, 12_345])
    refused = revert_error(data, function="finalize", what="finalize")
    assert isinstance(refused, ChallengeWindowOpen) and isinstance(refused, ChainReverted)
    assert refused.ends_at == 12_345
    assert refused.error_name == "EpochSettlementChallengeWindowOpen"


def test_every_verifier_refusal_is_one_type_named_by_the_contract() -> None:
    missing = revert_error(
        _data("UnsetVerifierNoVerifierConfigured()", [], []), function="propose", what="propose"
    )
    rejected = revert_error(
        _data("EpochSettlementProofRejected(uint64)", ["uint64"], [2]), function="propose", what="propose"
    )
    shape = revert_error(_data("EpochRewardsVerifierZeroEpoch()", [], []), function="propose", what="propose")
    assert [r.reason for r in (missing, rejected, shape) if isinstance(r, VerifierRefused)] == [
        "UnsetVerifierNoVerifierConfigured", "EpochSettlementProofRejected", "EpochRewardsVerifierZeroEpoch",
    ]
    assert isinstance(rejected, ChainInvalid)  # still a 422 for whoever shows it


def test_other_refusals_are_not_mistaken_for_them() -> None:
    other = revert_error(
        _data("EpochSettlementAlreadyProposed(uint64)", ["uint64"], [1]), function="propose", what="propose"
    )
    assert not isinstance(other, (ChallengeWindowOpen, VerifierRefused))
