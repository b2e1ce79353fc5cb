// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochVerifier} from "../src/interfaces/IEpochVerifier.sol";

/// @title HashVerifier (TEST ONLY, never deployed by deploy_all)
/// @notice Stands in for the Groth16 verifier in tests and the gas bench. It checks something
/// real: the proof must be exactly `abi.encode(keccak256(abi.encode(key, epoch, rewardsRoot,
/// total)))` for the `key` fixed at construction, so a proof for other public inputs, a wrong key
/// or a malformed proof returns false. It never accepts everything. It ignores `previousRoot`.
contract HashVerifier is IEpochVerifier {
    /// @dev What `verifyEpoch` may take (it needs about 1.5k); a fixed bound like a real
    /// verifier's, so EpochSettlement's gas accounting is exercised.
    uint256 public constant GAS = 50_000;

    bytes32 private immutable _key;

    constructor(bytes32 key) {
        _key = key;
    }

    /// @inheritdoc IEpochVerifier
    function verifyEpoch(
        uint64 epoch,
        bytes32,
        bytes32 rewardsRoot,
        uint256 total,
        bytes calldata proof
    ) external view returns (bool) {
        if (proof.length != 32) return false;
        return bytes32(proof) == keccak256(abi.encode(_key, epoch, rewardsRoot, total));
    }

    /// @inheritdoc IEpochVerifier
    function verificationGas(bytes calldata) external pure returns (uint256) {
        return GAS;
    }
}
