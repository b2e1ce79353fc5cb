// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";

import {IEpochSettlement} from "./interfaces/IEpochSettlement.sol";
import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";

/// @title EpochSettlement
/// @notice Accepts each epoch's reward proposal only with a proof its verifier accepts.
/// @dev Minimal foundation version: the challenge window, finalize and Merkle claims come later.
/// The verifier is fixed at construction. The foundation deployment passes an `UnsetVerifier`,
/// which rejects everything, so nothing can be settled until the real verifier is supplied.
contract EpochSettlement is IEpochSettlement, AccessControl {
    /// @notice Role allowed to propose (the marketplace's single chain writer).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");

    IEpochVerifier private immutable _verifier;
    mapping(uint256 epoch => Proposal) private _proposals;

    /// @param verifier_ The proof verifier (must be a contract).
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant SETTLER_ROLE).
    constructor(IEpochVerifier verifier_, address admin) {
        if (address(verifier_).code.length == 0) {
            revert EpochSettlementVerifierNotContract(address(verifier_));
        }
        _verifier = verifier_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IEpochSettlement
    function propose(
        uint256 epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string calldata auditCid,
        bytes calldata proof
    ) external onlyRole(SETTLER_ROLE) {
        if (rewardsRoot == bytes32(0) || bytes(auditCid).length == 0) {
            revert EpochSettlementInvalidInput();
        }
        if (_proposals[epoch].proposedAt != 0) revert EpochSettlementAlreadyProposed(epoch);
        if (!_verifier.verifyEpoch(epoch, rewardsRoot, total, proof)) {
            revert EpochSettlementProofRejected(epoch);
        }

        _proposals[epoch] = Proposal({
            rewardsRoot: rewardsRoot,
            total: total,
            auditCid: auditCid,
            proposer: msg.sender,
            proposedAt: uint64(block.timestamp)
        });
        emit EpochProposed(epoch, rewardsRoot, total, auditCid, msg.sender);
    }

    /// @inheritdoc IEpochSettlement
    function verifier() external view returns (address) {
        return address(_verifier);
    }

    /// @inheritdoc IEpochSettlement
    function proposalOf(uint256 epoch) external view returns (Proposal memory) {
        return _proposals[epoch];
    }
}
