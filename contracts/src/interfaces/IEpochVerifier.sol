// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IEpochVerifier
/// @notice Checks the zero-knowledge proof that an epoch's reward vector follows from its committed
/// scores and pool. EpochSettlement calls this before it accepts a proposal.
interface IEpochVerifier {
    /// @notice Whether `proof` proves the epoch's rewards.
    /// @param epoch The epoch number.
    /// @param rewardsRoot Root committing to the reward vector.
    /// @param total Sum of the reward vector, in wei.
    /// @param proof The encoded proof (its layout belongs to the verifier).
    /// @return ok True only for a valid proof.
    function verifyEpoch(uint256 epoch, bytes32 rewardsRoot, uint256 total, bytes calldata proof)
        external
        view
        returns (bool ok);
}
