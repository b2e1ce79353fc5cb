// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title INodeRegistry
/// @notice Model nodes register here with a stake in MeritToken. Each node has a small integer id
/// (1, 2, ...) as well as its operator address.
interface INodeRegistry {
    /// @notice What the registry knows about one node.
    /// @param operator The address that registered the node and owns its stake.
    /// @param modelHash Hash identifying the model the node serves.
    /// @param metadataCid Content id (IPFS CIDv1) of the node's metadata document.
    /// @param stake Tokens staked, in wei.
    /// @param registeredAt Block timestamp of the registration.
    struct Node {
        address operator;
        bytes32 modelHash;
        string metadataCid;
        uint256 stake;
        uint64 registeredAt;
    }

    /// @notice The operator cannot provide the minimum stake (balance or allowance too low).
    /// @param node The operator address.
    /// @param have What the registry may pull: min(balance, allowance).
    /// @param need The minimum stake.
    error NodeRegistryInsufficientStake(address node, uint256 have, uint256 need);

    /// @notice The address already operates a node.
    /// @param node The operator address.
    /// @param nodeId Its existing node id.
    error NodeRegistryAlreadyRegistered(address node, uint64 nodeId);

    /// @notice The address operates no node.
    /// @param node The address asked about.
    error NodeRegistryNotRegistered(address node);

    /// @notice No node has this id.
    /// @param nodeId The id asked about.
    error NodeRegistryUnknownNode(uint64 nodeId);

    /// @notice A zero amount, model hash or empty CID was given.
    error NodeRegistryInvalidInput();

    /// @notice Emitted after a node was registered.
    event NodeRegistered(
        uint64 indexed nodeId, address indexed operator, bytes32 modelHash, string metadataCid
    );

    /// @notice Emitted after stake was added to a node (including the stake taken at registration).
    event Staked(uint64 indexed nodeId, address indexed operator, uint256 amount, uint256 total);

    /// @notice Registers the caller as a node operator and pulls `minStake()` from the caller.
    /// @dev The caller must have approved the registry for at least `minStake()`.
    /// @param modelHash Hash identifying the served model (non-zero).
    /// @param metadataCid CID of the node metadata (non-empty).
    /// @return nodeId The new node's id.
    function register(bytes32 modelHash, string calldata metadataCid)
        external
        returns (uint64 nodeId);

    /// @notice Adds `amount` to the caller's stake, pulled from the caller.
    /// @param amount The amount, in wei (non-zero).
    function stake(uint256 amount) external;

    /// @notice The token staked.
    function token() external view returns (address);

    /// @notice The stake a node must put up to register, in wei.
    function minStake() external view returns (uint256);

    /// @notice How many nodes registered so far; ids run from 1 to this number.
    function nodeCount() external view returns (uint64);

    /// @notice The node id of `operator`, or 0 when it operates no node.
    function nodeIdOf(address operator) external view returns (uint64);

    /// @notice Everything known about node `nodeId`; reverts for an unknown id.
    function getNode(uint64 nodeId) external view returns (Node memory);

    /// @notice The stake of node `nodeId`, in wei; reverts for an unknown id.
    function stakeOf(uint64 nodeId) external view returns (uint256);
}
