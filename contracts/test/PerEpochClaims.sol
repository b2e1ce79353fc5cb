// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";

/// @title PerEpochClaims (TEST ONLY: the claim scheme EpochSettlement did not choose)
/// @notice Per-epoch Merkle claims, measured by the gas bench beside EpochSettlement's cumulative
/// claims: leaf `keccak256(bytes.concat(keccak256(abi.encode(epoch, nodeId, account, amount))))`
/// with `amount` earned in that epoch only, a claimed bitmap per epoch indexed by node id, and a
/// per-epoch claimed sum that never exceeds the epoch's total. Anyone may post a root and its
/// funds here (bench only).
contract PerEpochClaims is ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    struct EpochPool {
        bytes32 root;
        uint128 total;
        uint128 claimed;
    }

    IERC20 private immutable _token;
    mapping(uint64 epoch => EpochPool) private _epochs;
    mapping(uint64 epoch => mapping(uint256 word => uint256 bits)) private _claimedBits;

    event EpochPosted(uint64 indexed epoch, bytes32 root, uint256 total);
    event Claimed(uint64 indexed epoch, uint64 indexed nodeId, address account, uint256 amount);

    error PerEpochClaimsAlreadyPosted(uint64 epoch);
    error PerEpochClaimsAlreadyClaimed(uint64 epoch, uint64 nodeId);
    error PerEpochClaimsInvalidProof(uint64 epoch, uint64 nodeId);
    error PerEpochClaimsPoolExceeded(uint64 epoch);

    constructor(IERC20 token_) {
        _token = token_;
    }

    function post(uint64 epoch, bytes32 root, uint128 total) external {
        if (_epochs[epoch].root != bytes32(0)) revert PerEpochClaimsAlreadyPosted(epoch);
        _epochs[epoch] = EpochPool({root: root, total: total, claimed: 0});
        emit EpochPosted(epoch, root, total);
        _token.safeTransferFrom(msg.sender, address(this), total);
    }

    function claim(
        uint64 epoch,
        uint64 nodeId,
        address account,
        uint256 amount,
        bytes32[] calldata proof
    ) external nonReentrant {
        uint256 word = nodeId >> 8;
        uint256 bit = 1 << (nodeId & 0xff);
        uint256 bits = _claimedBits[epoch][word];
        if (bits & bit != 0) revert PerEpochClaimsAlreadyClaimed(epoch, nodeId);
        EpochPool storage pool = _epochs[epoch];
        bytes32 leaf =
            keccak256(bytes.concat(keccak256(abi.encode(epoch, nodeId, account, amount))));
        if (!MerkleProof.verifyCalldata(proof, pool.root, leaf)) {
            revert PerEpochClaimsInvalidProof(epoch, nodeId);
        }
        uint256 claimed = pool.claimed + amount;
        if (claimed > pool.total) revert PerEpochClaimsPoolExceeded(epoch);

        _claimedBits[epoch][word] = bits | bit;
        pool.claimed = uint128(claimed);
        emit Claimed(epoch, nodeId, account, amount);

        _token.safeTransfer(account, amount);
    }
}
