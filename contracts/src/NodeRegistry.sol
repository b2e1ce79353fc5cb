// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";

import {INodeRegistry} from "./interfaces/INodeRegistry.sol";

/// @title NodeRegistry
/// @notice Registration and stake of model nodes.
/// @dev Minimal foundation version: unbonding, slashing, attestations and reputation come later.
contract NodeRegistry is INodeRegistry {
    using SafeERC20 for IERC20;

    IERC20 private immutable _token;
    uint256 private immutable _minStake;

    uint64 private _nodeCount;
    mapping(uint64 nodeId => Node) private _nodes;
    mapping(address operator => uint64 nodeId) private _nodeIds;

    /// @param token_ The MeritToken staked.
    /// @param minStake_ The stake a node must put up to register, in wei (non-zero).
    constructor(IERC20 token_, uint256 minStake_) {
        if (address(token_) == address(0) || minStake_ == 0) revert NodeRegistryInvalidInput();
        _token = token_;
        _minStake = minStake_;
    }

    /// @inheritdoc INodeRegistry
    function register(bytes32 modelHash, string calldata metadataCid)
        external
        returns (uint64 nodeId)
    {
        if (modelHash == bytes32(0) || bytes(metadataCid).length == 0) {
            revert NodeRegistryInvalidInput();
        }
        uint64 existing = _nodeIds[msg.sender];
        if (existing != 0) revert NodeRegistryAlreadyRegistered(msg.sender, existing);
        uint256 have = _pullable(msg.sender);
        if (have < _minStake) revert NodeRegistryInsufficientStake(msg.sender, have, _minStake);

        nodeId = ++_nodeCount;
        _nodeIds[msg.sender] = nodeId;
        _nodes[nodeId] = Node({
            operator: msg.sender,
            modelHash: modelHash,
            metadataCid: metadataCid,
            stake: _minStake,
            registeredAt: uint64(block.timestamp)
        });
        emit NodeRegistered(nodeId, msg.sender, modelHash, metadataCid);
        emit Staked(nodeId, msg.sender, _minStake, _minStake);

        _token.safeTransferFrom(msg.sender, address(this), _minStake);
    }

    /// @inheritdoc INodeRegistry
    function stake(uint256 amount) external {
        if (amount == 0) revert NodeRegistryInvalidInput();
        uint64 nodeId = _nodeIds[msg.sender];
        if (nodeId == 0) revert NodeRegistryNotRegistered(msg.sender);
        uint256 have = _pullable(msg.sender);
        if (have < amount) revert NodeRegistryInsufficientStake(msg.sender, have, amount);

        uint256 total = _nodes[nodeId].stake + amount;
        _nodes[nodeId].stake = total;
        emit Staked(nodeId, msg.sender, amount, total);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc INodeRegistry
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc INodeRegistry
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc INodeRegistry
    function nodeCount() external view returns (uint64) {
        return _nodeCount;
    }

    /// @inheritdoc INodeRegistry
    function nodeIdOf(address operator) external view returns (uint64) {
        return _nodeIds[operator];
    }

    /// @inheritdoc INodeRegistry
    function getNode(uint64 nodeId) external view returns (Node memory) {
        return _existing(nodeId);
    }

    /// @inheritdoc INodeRegistry
    function stakeOf(uint64 nodeId) external view returns (uint256) {
        return _existing(nodeId).stake;
    }

    function _existing(uint64 nodeId) private view returns (Node storage node) {
        if (nodeId == 0 || nodeId > _nodeCount) revert NodeRegistryUnknownNode(nodeId);
        node = _nodes[nodeId];
    }

    /// @dev What the registry can pull from `account`: the smaller of its balance and allowance.
    function _pullable(address account) private view returns (uint256) {
        uint256 balance = _token.balanceOf(account);
        uint256 allowance = _token.allowance(account, address(this));
        return balance < allowance ? balance : allowance;
    }
}
