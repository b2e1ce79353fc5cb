// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ITaskEscrow
/// @notice Holds each task's fee until the task is paid out or refunded.
interface ITaskEscrow {
    /// @notice Where a task's fee stands.
    enum EscrowStatus {
        None,
        Funded,
        Refunded
    }

    /// @notice One task's escrowed fee.
    /// @param payer The account that paid the fee and receives a refund.
    /// @param amount The fee, in wei.
    /// @param status Where the fee stands.
    struct Escrow {
        address payer;
        uint256 amount;
        EscrowStatus status;
    }

    /// @notice The task already has an escrow.
    error TaskEscrowAlreadyFunded(bytes32 taskId);

    /// @notice The task's fee is not held (never funded, or already refunded).
    error TaskEscrowNotFunded(bytes32 taskId);

    /// @notice A zero fee was given.
    error TaskEscrowZeroAmount();

    /// @notice Emitted after a task's fee was taken into escrow.
    event TaskFunded(bytes32 indexed taskId, address indexed payer, uint256 amount);

    /// @notice Emitted after a task's fee was returned to its payer.
    event TaskRefunded(bytes32 indexed taskId, address indexed payer, uint256 amount);

    /// @notice Pulls `amount` from the caller as the fee of task `taskId`.
    /// @dev The caller must have approved the escrow for `amount`.
    function fund(bytes32 taskId, uint256 amount) external;

    /// @notice Returns a failed task's fee to its payer. Only accounts holding OPERATOR_ROLE.
    function refund(bytes32 taskId) external;

    /// @notice The token fees are paid in.
    function token() external view returns (address);

    /// @notice The escrow of task `taskId` (status None when never funded).
    function escrowOf(bytes32 taskId) external view returns (Escrow memory);
}
