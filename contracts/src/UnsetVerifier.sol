// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";
import {IUnsetVerifier} from "./interfaces/IUnsetVerifier.sol";

/// @title UnsetVerifier
/// @notice Placeholder verifier: it ALWAYS reverts with `UnsetVerifierNoVerifierConfigured()`,
/// so an EpochSettlement built on it settles nothing. It never accepts a proof. The dev
/// deployment uses EpochRewardsVerifier; this one stays for a chain whose verifying key is not
/// settled yet.
contract UnsetVerifier is IUnsetVerifier {
    /// @dev Enough for the call to reach its revert.
    uint256 private constant _GAS = 1_000;

    /// @inheritdoc IEpochVerifier
    function verifyEpoch(uint64, bytes32, bytes32, uint256, bytes calldata)
        external
        pure
        returns (bool)
    {
        revert UnsetVerifierNoVerifierConfigured();
    }

    /// @inheritdoc IEpochVerifier
    function verificationGas(bytes calldata) external pure returns (uint256) {
        return _GAS;
    }
}
