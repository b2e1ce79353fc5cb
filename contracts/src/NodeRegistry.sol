// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";

import {INodeRegistry} from "./interfaces/INodeRegistry.sol";

/// @title NodeRegistry
/// @notice Registration, stake, unbonding, slashing, capability attestations and reputation of
/// model nodes.
contract NodeRegistry is INodeRegistry, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @notice Role allowed to slash (the marketplace's chain writer, acting on evidence).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @notice Role allowed to record capability attestations (calibration rounds).
    bytes32 public constant ATTESTER_ROLE = keccak256("ATTESTER_ROLE");
    /// @notice Role allowed to write reputations: EpochSettlement only.
    bytes32 public constant REPUTATION_WRITER_ROLE = keccak256("REPUTATION_WRITER_ROLE");

    uint256 private constant _MAX_BPS = 10_000;
    uint256 private constant _LANES = 16;
    /// @dev 1 in the lowest bit of each of the 16 lanes.
    uint256 private constant _ALL_LANES =
        0x0001000100010001000100010001000100010001000100010001000100010001;

    IERC20 private immutable _token;
    uint256 private immutable _minStake;
    uint64 private immutable _unbondingPeriod;
    address private immutable _treasury;

    uint64 private _nodeCount;
    uint64 private _reputationEpoch;
    uint256 private _totalStaked;
    uint256 private _totalUnbonding;
    mapping(uint64 nodeId => Node) private _nodes;
    mapping(address operator => uint64 nodeId) private _nodeIds;
    mapping(uint64 nodeId => Attestation) private _attestations;
    mapping(uint256 index => uint256 word) private _reputationWords;

    /// @param token_ The MeritToken staked.
    /// @param minStake_ The stake a node must put up to register, in wei (non-zero).
    /// @param unbondingPeriod_ Seconds from `requestUnstake` to `withdraw` (non-zero; the
    /// settlement contract refuses a registry whose period is shorter than its challenge window).
    /// @param treasury_ Receives slashed stake.
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant the other roles).
    constructor(
        IERC20 token_,
        uint256 minStake_,
        uint64 unbondingPeriod_,
        address treasury_,
        address admin
    ) {
        if (
            address(token_) == address(0) || minStake_ == 0 || unbondingPeriod_ == 0
                || treasury_ == address(0) || admin == address(0)
        ) revert NodeRegistryInvalidInput();
        _token = token_;
        _minStake = minStake_;
        _unbondingPeriod = unbondingPeriod_;
        _treasury = treasury_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // --- operators --------------------------------------------------------------------------

    /// @inheritdoc INodeRegistry
    function register(bytes32 modelHash, string calldata metadataCid, uint256 amount)
        external
        nonReentrant
        returns (uint64 nodeId)
    {
        if (modelHash == bytes32(0) || bytes(metadataCid).length == 0) {
            revert NodeRegistryInvalidInput();
        }
        uint64 existing = _nodeIds[msg.sender];
        if (existing != 0) revert NodeRegistryAlreadyRegistered(msg.sender, existing);
        if (amount < _minStake) revert NodeRegistryInsufficientStake(msg.sender, amount, _minStake);
        _requirePullable(amount);

        nodeId = ++_nodeCount;
        _nodeIds[msg.sender] = nodeId;
        Node storage node = _nodes[nodeId];
        node.operator = msg.sender;
        node.registeredAt = uint64(block.timestamp);
        node.modelHash = modelHash;
        node.metadataCid = metadataCid;
        node.stake = amount;
        _totalStaked += amount;
        emit NodeRegistered(nodeId, msg.sender, modelHash, metadataCid);
        emit Staked(nodeId, msg.sender, amount, amount);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc INodeRegistry
    function stake(uint256 amount) external nonReentrant {
        if (amount == 0) revert NodeRegistryInvalidInput();
        uint64 nodeId = _callerNode();
        _requirePullable(amount);

        uint256 total = _nodes[nodeId].stake + amount;
        _nodes[nodeId].stake = total;
        _totalStaked += amount;
        emit Staked(nodeId, msg.sender, amount, total);

        _token.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc INodeRegistry
    function requestUnstake(uint256 amount) external {
        if (amount == 0) revert NodeRegistryInvalidInput();
        uint64 nodeId = _callerNode();
        Node storage node = _nodes[nodeId];
        uint256 staked = node.stake;
        if (amount > staked) revert NodeRegistryUnstakeExceedsStake(nodeId, amount, staked);
        uint256 remaining = staked - amount;
        if (remaining != 0 && remaining < _minStake) {
            revert NodeRegistryStakeBelowMinimum(remaining, _minStake);
        }

        uint256 unbonding = node.unbonding + amount;
        uint64 endsAt = uint64(block.timestamp) + _unbondingPeriod;
        node.stake = remaining;
        node.unbonding = unbonding;
        node.unbondingEnds = endsAt;
        _totalStaked -= amount;
        _totalUnbonding += amount;
        emit UnstakeRequested(nodeId, msg.sender, amount, unbonding, endsAt);
    }

    /// @inheritdoc INodeRegistry
    function withdraw() external nonReentrant returns (uint256 amount) {
        uint64 nodeId = _callerNode();
        Node storage node = _nodes[nodeId];
        amount = node.unbonding;
        if (amount == 0) revert NodeRegistryNothingToWithdraw(nodeId);
        if (block.timestamp < node.unbondingEnds) {
            revert NodeRegistryStillUnbonding(nodeId, node.unbondingEnds);
        }

        node.unbonding = 0;
        node.unbondingEnds = 0;
        _totalUnbonding -= amount;
        emit Withdrawn(nodeId, msg.sender, amount);

        _token.safeTransfer(msg.sender, amount);
    }

    // --- roles ------------------------------------------------------------------------------

    /// @inheritdoc INodeRegistry
    function slash(uint64 nodeId, uint256 amount, string calldata evidenceCid)
        external
        onlyRole(SETTLER_ROLE)
        nonReentrant
    {
        if (amount == 0 || bytes(evidenceCid).length == 0) revert NodeRegistryInvalidInput();
        Node storage node = _existing(nodeId);
        uint256 staked = node.stake;
        uint256 unbonding = node.unbonding;
        if (amount > staked + unbonding) {
            revert NodeRegistrySlashExceedsStake(nodeId, amount, staked + unbonding);
        }

        uint256 fromStake = amount < staked ? amount : staked;
        uint256 fromUnbonding = amount - fromStake;
        node.stake = staked - fromStake;
        _totalStaked -= fromStake;
        if (fromUnbonding != 0) {
            node.unbonding = unbonding - fromUnbonding;
            _totalUnbonding -= fromUnbonding;
            if (unbonding == fromUnbonding) node.unbondingEnds = 0;
        }
        emit Slashed(nodeId, amount, fromStake, fromUnbonding, evidenceCid, msg.sender);

        _token.safeTransfer(_treasury, amount);
    }

    /// @inheritdoc INodeRegistry
    function attest(uint64 nodeId, uint16 scoreBps, uint64 validUntil)
        external
        onlyRole(ATTESTER_ROLE)
    {
        _existing(nodeId);
        if (scoreBps > _MAX_BPS || validUntil <= block.timestamp) {
            revert NodeRegistryInvalidAttestation(scoreBps, validUntil);
        }
        _attestations[nodeId] = Attestation({
            scoreBps: scoreBps,
            validUntil: validUntil,
            attester: msg.sender,
            attestedAt: uint64(block.timestamp)
        });
        emit CapabilityAttested(nodeId, msg.sender, scoreBps, validUntil);
    }

    /// @inheritdoc INodeRegistry
    function writeReputations(uint64 epoch, uint256 firstWord, uint256[] calldata words)
        external
        onlyRole(REPUTATION_WRITER_ROLE)
    {
        uint64 last = _reputationEpoch;
        if (epoch <= last) revert NodeRegistryStaleReputationEpoch(epoch, last);
        uint256 count = _nodeCount;
        uint256 n = words.length;
        for (uint256 i; i < n; ++i) {
            uint256 index = firstWord + i;
            uint256 word = words[i];
            _checkWord(index, word, count);
            _reputationWords[index] = word;
        }
        _reputationEpoch = epoch;
        emit ReputationsWritten(epoch, firstWord, words);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc INodeRegistry
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc INodeRegistry
    function minStake() external view returns (uint256) {
        return _minStake;
    }

    /// @inheritdoc INodeRegistry
    function unbondingPeriod() external view returns (uint64) {
        return _unbondingPeriod;
    }

    /// @inheritdoc INodeRegistry
    function treasury() external view returns (address) {
        return _treasury;
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

    /// @inheritdoc INodeRegistry
    function unbondingOf(uint64 nodeId) external view returns (uint256 amount, uint64 endsAt) {
        Node storage node = _existing(nodeId);
        return (node.unbonding, node.unbondingEnds);
    }

    /// @inheritdoc INodeRegistry
    function isActive(uint64 nodeId) external view returns (bool) {
        return _existing(nodeId).stake >= _minStake;
    }

    /// @inheritdoc INodeRegistry
    function attestationOf(uint64 nodeId) external view returns (Attestation memory) {
        _existing(nodeId);
        return _attestations[nodeId];
    }

    /// @inheritdoc INodeRegistry
    function isAttested(uint64 nodeId) external view returns (bool) {
        _existing(nodeId);
        return _attestations[nodeId].validUntil >= block.timestamp;
    }

    /// @inheritdoc INodeRegistry
    function reputationOf(uint64 nodeId) external view returns (uint16) {
        _existing(nodeId);
        uint256 word = _reputationWords[nodeId / _LANES];
        return uint16(word >> (16 * (nodeId % _LANES)));
    }

    /// @inheritdoc INodeRegistry
    function reputationWord(uint256 index) external view returns (uint256) {
        return _reputationWords[index];
    }

    /// @inheritdoc INodeRegistry
    function reputationEpoch() external view returns (uint64) {
        return _reputationEpoch;
    }

    /// @inheritdoc INodeRegistry
    function totalStaked() external view returns (uint256) {
        return _totalStaked;
    }

    /// @inheritdoc INodeRegistry
    function totalUnbonding() external view returns (uint256) {
        return _totalUnbonding;
    }

    // --- internals --------------------------------------------------------------------------

    function _callerNode() private view returns (uint64 nodeId) {
        nodeId = _nodeIds[msg.sender];
        if (nodeId == 0) revert NodeRegistryNotRegistered(msg.sender);
    }

    function _existing(uint64 nodeId) private view returns (Node storage node) {
        if (nodeId == 0 || nodeId > _nodeCount) revert NodeRegistryUnknownNode(nodeId);
        node = _nodes[nodeId];
    }

    /// @dev Every lane of word `index` is at most 10000 bps, and lanes of node ids that do not
    /// exist (0 and above `count`) are zero. All 16 lanes are checked at once (SWAR): no lane has
    /// bit 14 or 15 set (so each is below 16384), and adding 22767 (2^15 - 10001) to every lane,
    /// which cannot carry into the next lane, sets bit 15 exactly in lanes above 10000.
    function _checkWord(uint256 index, uint256 word, uint256 count) private pure {
        uint256 top = 0xc000 * _ALL_LANES; // bits 14 and 15 of every lane
        uint256 bias = 22_767 * _ALL_LANES;
        uint256 bit15 = 0x8000 * _ALL_LANES;
        bool bad = word & top != 0 || (word + bias) & bit15 != 0;
        if (index == 0) bad = bad || word & 0xffff != 0; // node id 0
        uint256 lastIndex = count / _LANES;
        if (index > lastIndex) bad = bad || word != 0;
        else if (index == lastIndex) bad = bad || word >> (16 * (count % _LANES + 1)) != 0;
        if (bad) _revertBadLane(index, word, count);
    }

    /// @dev Names the first offending lane of a word `_checkWord` refused.
    function _revertBadLane(uint256 index, uint256 word, uint256 count) private pure {
        for (uint256 lane; lane < _LANES; ++lane) {
            uint256 value = (word >> (16 * lane)) & 0xffff;
            uint256 nodeId = index * _LANES + lane;
            if (value > _MAX_BPS || (value != 0 && (nodeId == 0 || nodeId > count))) {
                revert NodeRegistryInvalidReputation(nodeId, value);
            }
        }
    }

    /// @dev Reverts with the shortfall unless the registry may pull `amount` from the caller.
    function _requirePullable(uint256 amount) private view {
        uint256 balance = _token.balanceOf(msg.sender);
        uint256 allowance = _token.allowance(msg.sender, address(this));
        uint256 have = balance < allowance ? balance : allowance;
        if (have < amount) revert NodeRegistryInsufficientStake(msg.sender, have, amount);
    }
}
