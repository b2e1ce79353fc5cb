// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title ITaskEscrow
/// @notice Holds each task's fee, per payer, until the task is settled (the fee moves into an
/// epoch's reward pool in EpochSettlement), refunded (the task failed) or reclaimed by its payer
/// (nobody settled or refunded it before the escrow expired). Only money a payer put in is ever
/// paid out, and at most once.
interface ITaskEscrow {
    /// @notice Where an escrowed fee stands.
    enum EscrowStatus {
        None,
        Funded,
        Refunded,
        Settled,
        Reclaimed
    }

    /// @notice One payer's escrowed fee for one task.
    /// @param amount The fee, in wei.
    /// @param fundedAt When it was funded (block timestamp, unix seconds).
    /// @param status Where the fee stands.
    struct Escrow {
        uint256 amount;
        uint64 fundedAt;
        EscrowStatus status;
    }

    /// @notice `payer` already has an escrow (in any status) for task `taskId`.
    error TaskEscrowAlreadyFunded(address payer, bytes32 taskId);

    /// @notice `payer`'s fee for task `taskId` is not held (never funded, or already refunded,
    /// settled or reclaimed).
    error TaskEscrowNotFunded(address payer, bytes32 taskId);

    /// @notice A fee outside the accepted range [minFee, maxFee].
    error TaskEscrowFeeOutOfRange(uint256 amount, uint256 minFee, uint256 maxFee);

    /// @notice The escrow cannot be reclaimed before `expiresAt` (unix seconds).
    error TaskEscrowNotExpired(address payer, bytes32 taskId, uint64 expiresAt);

    /// @notice Unequal or empty batch lists; or, at construction, a zero address, a zero expiry
    /// or a fee range that is not 0 < minFee <= maxFee.
    error TaskEscrowInvalidInput();

    /// @notice Emitted after `payer`'s fee for task `taskId` was taken into escrow.
    event TaskFunded(address indexed payer, bytes32 indexed taskId, uint256 amount);

    /// @notice Emitted after a failed task's fee was returned to its payer.
    event TaskRefunded(address indexed payer, bytes32 indexed taskId, uint256 amount);

    /// @notice Emitted after a payer took back its expired escrow.
    event TaskReclaimed(address indexed payer, bytes32 indexed taskId, uint256 amount);

    /// @notice Emitted after a settled task's fee moved into the pool of `epoch`.
    event TaskSettled(
        uint64 indexed epoch, address indexed payer, bytes32 indexed taskId, uint256 amount
    );

    /// @notice Emitted when a task in a settlement batch had no fee held for its payer (refunded,
    /// reclaimed, settled or never funded): it was skipped and moved nothing.
    event TaskFeeMissing(uint64 indexed epoch, address indexed payer, bytes32 indexed taskId);

    /// @notice Pulls `amount` from the caller as its fee for task `taskId`.
    /// @dev The caller must have approved the escrow for `amount`; `amount` must lie in
    /// `feeRange()`. Each (payer, task) is funded once.
    function fund(bytes32 taskId, uint256 amount) external;

    /// @notice Returns `payer`'s fee for failed task `taskId` to it. Only OPERATOR_ROLE.
    function refund(address payer, bytes32 taskId) external;

    /// @notice The caller takes back its own fee for task `taskId`, still held `expiry()` seconds
    /// after it was funded (nobody settled or refunded it).
    function reclaim(bytes32 taskId) external;

    /// @notice Moves the held fees of (`payers[i]`, `taskIds[i]`) into the reward pool of `epoch`
    /// (`EpochSettlement.fund`). Only OPERATOR_ROLE.
    /// @dev An entry whose fee is not held is skipped with `TaskFeeMissing`, so one bad task never
    /// blocks an epoch; the pool is funded only when something moved. The loop runs over the
    /// caller's batch, never over payees.
    /// @return amount The fees moved, in wei.
    function settleTasks(uint64 epoch, address[] calldata payers, bytes32[] calldata taskIds)
        external
        returns (uint256 amount);

    /// @notice `payer`'s escrow for task `taskId` (status None when never funded).
    function escrowOf(address payer, bytes32 taskId) external view returns (Escrow memory);

    /// @notice The fees `fund` accepts, in wei, inclusive at both ends.
    function feeRange() external view returns (uint256 minFee, uint256 maxFee);

    /// @notice Seconds after funding from which a payer may reclaim a fee still held.
    function expiry() external view returns (uint64);

    /// @notice The sum of every fee still held (Funded): what the escrow's token balance holds
    /// (more only when someone sends it tokens directly, which nobody can take out).
    function held() external view returns (uint256);

    /// @notice The EpochSettlement whose pools receive settled fees.
    function settlement() external view returns (address);

    /// @notice The token fees are paid in.
    function token() external view returns (address);
}
