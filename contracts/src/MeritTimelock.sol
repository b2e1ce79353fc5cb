// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title MeritTimelock
/// @notice OpenZeppelin's TimelockController, unchanged: outside the dev chain it holds
/// DEFAULT_ADMIN_ROLE of every meritswarm contract, so a parameter or role change is scheduled in
/// public and executes only after `getMinDelay()` seconds. The admin address proposes, executes
/// and cancels; the timelock administers itself (no extra admin).
contract MeritTimelock is TimelockController {
    /// @param minDelay Seconds between scheduling an operation and its earliest execution.
    /// @param proposers Accounts that may schedule (and cancel) operations.
    /// @param executors Accounts that may execute a ready operation.
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors)
        TimelockController(minDelay, proposers, executors, address(0))
    {}
}
