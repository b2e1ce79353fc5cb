// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";
import {IUnsetVerifier} from "./interfaces/IUnsetVerifier.sol";

/// @title UnsetVerifier
/// @notice Placeholder verifier of the foundation deployment: it ALWAYS reverts with
/// `UnsetVerifierNoVerifierConfigured()`, so no epoch can be settled until the real Groth16
/// verifier (generated from the circuit's key) is deployed and EpochSettlement is deployed
/// against it. It never accepts a proof.
contract UnsetVerifier is IUnsetVerifier {
    /// @inheritdoc IEpochVerifier
    function verifyEpoch(uint256, bytes32, uint256, bytes calldata)
        external
        pure
        returns (bool)
    {
        revert UnsetVerifierNoVerifierConfigured();
    }
}
