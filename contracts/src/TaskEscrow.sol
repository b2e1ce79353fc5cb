// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {IEpochSettlement} from "./interfaces/IEpochSettlement.sol";
import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title TaskEscrow
/// @notice Holds task fees; refunds a failed task's fee to its payer and moves settled tasks'
/// fees into an epoch's reward pool.
contract TaskEscrow is ITaskEscrow, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to refund and settle tasks (the marketplace's chain writer).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    IERC20 private immutable _token;
    IEpochSettlement private immutable _settlement;
    mapping(bytes32 taskId => Escrow) private _escrows;

    /// @param token_ The MeritToken fees are paid in.
    /// @param settlement_ The EpochSettlement whose pools receive settled fees.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant OPERATOR_ROLE).
    constructor(IERC20 token_, IEpochSettlement settlement_, address admin) {
        if (
            address(token_) == address(0) || address(settlement_) == address(0)
                || admin == address(0)
        ) revert TaskEscrowInvalidInput();
        _token = token_;
        _settlement = settlement_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc ITaskEscrow
    function fund(bytes32 taskId, uint256 amount) external nonReentrant {
        if (amount == 0) revert TaskEscrowZeroAmount();
        if (_escrows[taskId].status != EscrowStatus.None) revert TaskEscrowAlreadyFunded(taskId);

        _escrows[taskId] = Escrow({payer: msg.sender, amount: amount, status: EscrowStatus.Funded});
        emit TaskFunded(taskId, msg.sender, amount);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ITaskEscrow
    function refund(bytes32 taskId) external onlyRole(OPERATOR_ROLE) nonReentrant {
        Escrow storage escrow = _escrows[taskId];
        if (escrow.status != EscrowStatus.Funded) revert TaskEscrowNotFunded(taskId);

        escrow.status = EscrowStatus.Refunded;
        emit TaskRefunded(taskId, escrow.payer, escrow.amount);

        _token.safeTransfer(escrow.payer, escrow.amount);
    }

    /// @inheritdoc ITaskEscrow
    function settleTasks(uint64 epoch, bytes32[] calldata taskIds)
        external
        onlyRole(OPERATOR_ROLE)
        nonReentrant
        returns (uint256 amount)
    {
        uint256 n = taskIds.length;
        if (n == 0) revert TaskEscrowInvalidInput();
        for (uint256 i; i < n; ++i) {
            bytes32 taskId = taskIds[i];
            Escrow storage escrow = _escrows[taskId];
            if (escrow.status != EscrowStatus.Funded) revert TaskEscrowNotFunded(taskId);
            escrow.status = EscrowStatus.Settled;
            amount += escrow.amount;
            emit TaskSettled(taskId, epoch, escrow.amount);
        }

        _token.forceApprove(address(_settlement), amount);
        _settlement.fund(epoch, amount);
    }

    /// @inheritdoc ITaskEscrow
    function settlement() external view returns (address) {
        return address(_settlement);
    }

    /// @inheritdoc ITaskEscrow
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ITaskEscrow
    function escrowOf(bytes32 taskId) external view returns (Escrow memory) {
        return _escrows[taskId];
    }
}
