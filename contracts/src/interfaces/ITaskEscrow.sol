// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ITaskEscrow
/// @notice Holds each task's fee until the task is settled (the fee moves into an epoch's reward
/// pool in EpochSettlement) or refunded (the task failed).
interface ITaskEscrow {
    /// @notice Where a task's fee stands.
    enum EscrowStatus {
        None,
        Funded,
        Refunded,
        Settled
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

    /// @notice The task's fee is not held (never funded, already refunded or settled).
    error TaskEscrowNotFunded(bytes32 taskId);

    /// @notice A zero fee was given.
    error TaskEscrowZeroAmount();

    /// @notice An empty task list, or a zero address at construction.
    error TaskEscrowInvalidInput();

    /// @notice Emitted after a task's fee was taken into escrow.
    event TaskFunded(bytes32 indexed taskId, address indexed payer, uint256 amount);

    /// @notice Emitted after a task's fee was returned to its payer.
    event TaskRefunded(bytes32 indexed taskId, address indexed payer, uint256 amount);

    /// @notice Emitted after a settled task's fee moved into the pool of `epoch`.
    event TaskSettled(bytes32 indexed taskId, uint64 indexed epoch, uint256 amount);

    /// @notice Pulls `amount` from the caller as the fee of task `taskId`.
    /// @dev The caller must have approved the escrow for `amount`.
    function fund(bytes32 taskId, uint256 amount) external;

    /// @notice Returns a failed task's fee to its payer. Only accounts holding OPERATOR_ROLE.
    function refund(bytes32 taskId) external;

    /// @notice Moves the fees of settled tasks into the reward pool of `epoch`
    /// (`EpochSettlement.fund`). Only accounts holding OPERATOR_ROLE.
    /// @dev Every task must be Funded; the loop runs over the caller's batch, never over payees.
    /// @return amount The fees moved, in wei.
    function settleTasks(uint64 epoch, bytes32[] calldata taskIds)
        external
        returns (uint256 amount);

    /// @notice The EpochSettlement whose pools receive settled fees.
    function settlement() external view returns (address);

    /// @notice The token fees are paid in.
    function token() external view returns (address);

    /// @notice The escrow of task `taskId` (status None when never funded).
    function escrowOf(bytes32 taskId) external view returns (Escrow memory);
}
