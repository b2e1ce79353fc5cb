// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochVerifier} from "./IEpochVerifier.sol";

/// @title IUnsetVerifier
/// @notice The verifier deployed while no real proof verifier exists: it accepts nothing.
interface IUnsetVerifier is IEpochVerifier {
    /// @notice No verifier is configured, so no epoch can be settled.
    error UnsetVerifierNoVerifierConfigured();
}
