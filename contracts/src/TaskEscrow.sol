// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IEpochSettlement} from "./interfaces/IEpochSettlement.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title TaskEscrow
/// @notice Holds task fees per (payer, task); refunds a failed task's fee to its payer, lets a
/// payer reclaim a fee nobody settled before it expired, and moves settled tasks' fees into an
/// epoch's reward pool.
contract TaskEscrow is ITaskEscrow, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to refund and settle tasks (the marketplace's settler).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    IERC20 private immutable _token;
    IEpochSettlement private immutable _settlement;
    uint256 private immutable _minFee;
    uint256 private immutable _maxFee;
    uint64 private immutable _expiry;
    mapping(address payer => mapping(bytes32 taskId => Escrow)) private _escrows;
    uint256 private _held;

    /// @param token_ The MeritToken fees are paid in.
    /// @param settlement_ The EpochSettlement whose pools receive settled fees.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant OPERATOR_ROLE).
    /// @param minFee The smallest fee `fund` accepts, in wei (> 0).
    /// @param maxFee The largest fee `fund` accepts, in wei (>= minFee).
    /// @param expiry_ Seconds after funding from which a payer may reclaim a held fee (> 0).
    constructor(
        IERC20 token_,
        IEpochSettlement settlement_,
        address admin,
        uint256 minFee,
        uint256 maxFee,
        uint64 expiry_
    ) {
        if (
            address(token_) == address(0) || address(settlement_) == address(0)
                || admin == address(0) || minFee == 0 || minFee > maxFee || expiry_ == 0
        ) revert TaskEscrowInvalidInput();
        _token = token_;
        _settlement = settlement_;
        _minFee = minFee;
        _maxFee = maxFee;
        _expiry = expiry_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ITaskEscrow
    function fund(bytes32 taskId, uint256 amount) external nonReentrant {
        if (amount < _minFee || amount > _maxFee) {
            revert TaskEscrowFeeOutOfRange(amount, _minFee, _maxFee);
        }
        Escrow storage escrow = _escrows[msg.sender][taskId];
        if (escrow.status != EscrowStatus.None) revert TaskEscrowAlreadyFunded(msg.sender, taskId);

        escrow.amount = amount;
        escrow.fundedAt = uint64(block.timestamp);
        escrow.status = EscrowStatus.Funded;
        _held += amount;
        emit TaskFunded(msg.sender, taskId, amount);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ITaskEscrow
    function refund(address payer, bytes32 taskId) external onlyRole(OPERATOR_ROLE) nonReentrant {
        Escrow storage escrow = _escrows[payer][taskId];
        if (escrow.status != EscrowStatus.Funded) revert TaskEscrowNotFunded(payer, taskId);

        uint256 amount = escrow.amount;
        escrow.status = EscrowStatus.Refunded;
        _held -= amount;
        emit TaskRefunded(payer, taskId, amount);

        _token.safeTransfer(payer, amount);
    }

    /// @inheritdoc ITaskEscrow
    function reclaim(bytes32 taskId) external nonReentrant {
        Escrow storage escrow = _escrows[msg.sender][taskId];
        if (escrow.status != EscrowStatus.Funded) revert TaskEscrowNotFunded(msg.sender, taskId);
        uint256 expiresAt = uint256(escrow.fundedAt) + _expiry;
        if (block.timestamp < expiresAt) {
            uint64 shown = expiresAt > type(uint64).max ? type(uint64).max : uint64(expiresAt);
            revert TaskEscrowNotExpired(msg.sender, taskId, shown);
        }

        uint256 amount = escrow.amount;
        escrow.status = EscrowStatus.Reclaimed;
        _held -= amount;
        emit TaskReclaimed(msg.sender, taskId, amount);

        _token.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ITaskEscrow
    function settleTasks(uint64 epoch, address[] calldata payers, bytes32[] calldata taskIds)
        external
        onlyRole(OPERATOR_ROLE)
        nonReentrant
        returns (uint256 amount)
    {
        uint256 n = taskIds.length;
        if (n == 0 || payers.length != n) revert TaskEscrowInvalidInput();
        for (uint256 i; i < n; ++i) {
            address payer = payers[i];
            bytes32 taskId = taskIds[i];
            Escrow storage escrow = _escrows[payer][taskId];
            if (escrow.status != EscrowStatus.Funded) {
                emit TaskFeeMissing(epoch, payer, taskId);
                continue;
            }
            escrow.status = EscrowStatus.Settled;
            amount += escrow.amount;
            emit TaskSettled(epoch, payer, taskId, escrow.amount);
        }
        if (amount == 0) return 0;
        _held -= amount;

        _token.forceApprove(address(_settlement), amount);
        _settlement.fund(epoch, amount);
    }

    /// @inheritdoc ITaskEscrow
    function escrowOf(address payer, bytes32 taskId) external view returns (Escrow memory) {
        return _escrows[payer][taskId];
    }

    /// @inheritdoc ITaskEscrow
    function feeRange() external view returns (uint256 minFee, uint256 maxFee) {
        return (_minFee, _maxFee);
    }

    /// @inheritdoc ITaskEscrow
    function expiry() external view returns (uint64) {
        return _expiry;
    }

    /// @inheritdoc ITaskEscrow
    function held() external view returns (uint256) {
        return _held;
    }

    /// @inheritdoc ITaskEscrow
    function settlement() external view returns (address) {
        return address(_settlement);
    }

    /// @inheritdoc ITaskEscrow
    function token() external view returns (address) {
        return address(_token);
    }
}
