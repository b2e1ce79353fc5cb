// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuard} from "@openzeppelin/contracts/utils/ReentrancyGuard.sol";

import {ITaskEscrow} from "./interfaces/ITaskEscrow.sol";

/// @title TaskEscrow
/// @notice Holds task fees; refunds a failed task's fee to its payer.
/// @dev Minimal foundation version: moving fees into an epoch's pool comes later.
contract TaskEscrow is ITaskEscrow, AccessControl, ReentrancyGuard {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to refund failed tasks (the marketplace's chain writer).
    bytes32 public constant OPERATOR_ROLE = keccak256("OPERATOR_ROLE");

    IERC20 private immutable _token;
    mapping(bytes32 taskId => Escrow) private _escrows;

    /// @param token_ The MeritToken fees are paid in.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant OPERATOR_ROLE).
    constructor(IERC20 token_, address admin) {
        _token = token_;
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
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc ITaskEscrow
    function escrowOf(bytes32 taskId) external view returns (Escrow memory) {
        return _escrows[taskId];
    }
}
