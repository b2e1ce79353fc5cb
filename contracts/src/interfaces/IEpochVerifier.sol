// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IEpochVerifier
/// @notice Checks the zero-knowledge proof that an epoch's reward vector follows from its committed
/// scores and pool. EpochSettlement calls this before it accepts a proposal.
interface IEpochVerifier {
    /// @notice Whether `proof` proves the epoch's rewards.
    /// @param epoch The epoch number.
    /// @param previousRoot The rewards root of epoch `epoch - 1` (bytes32(0) for epoch 1): the
    /// new cumulative amounts must extend the ones it commits to.
    /// @param rewardsRoot Root committing to the cumulative reward vector after `epoch`.
    /// @param total What `epoch` adds to the claimable rewards, in wei.
    /// @param proof The encoded proof (its layout belongs to the verifier).
    /// @return ok True only for a valid proof.
    function verifyEpoch(
        uint64 epoch,
        bytes32 previousRoot,
        bytes32 rewardsRoot,
        uint256 total,
        bytes calldata proof
    ) external view returns (bool ok);

    /// @notice An upper bound on the gas `verifyEpoch` needs for `proof`; EpochSettlement gives
    /// the call exactly this much (and refuses a proof whose bound exceeds its cap).
    /// @dev Must be cheap (EpochSettlement calls it with a small fixed allowance) and must not
    /// revert on a malformed proof.
    function verificationGas(bytes calldata proof) external view returns (uint256 gas);
}
