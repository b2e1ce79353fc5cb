// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title INodeRegistry
/// @notice Model nodes register here with a stake in MeritToken. Each node has a small integer id
/// (1, 2, ...) as well as its operator address, so Merkle leaves, proofs and the packed reputation
/// table can name nodes cheaply.
/// @dev Stake lifecycle: `register` / `stake` add active stake; `requestUnstake` moves stake into
/// unbonding for `unbondingPeriod()` seconds (never shorter than the settlement challenge window);
/// `withdraw` pays unbonded stake out. `slash` (SETTLER_ROLE) takes active stake first, then
/// unbonding stake, and sends it to the treasury. Reputation (basis points, 0..10000) is written
/// only by EpochSettlement (REPUTATION_WRITER_ROLE), once per epoch, with the epoch as a nonce.
///
/// Reputation table layout: node `id` lives in word `id / 16`, lane `id % 16`, i.e. bits
/// `[16 * (id % 16), 16 * (id % 16) + 16)` of that uint256. Lane 0 of word 0 (node id 0) is always 0.
interface INodeRegistry {
    /// @notice What the registry knows about one node.
    /// @param operator The address that registered the node and owns its stake.
    /// @param registeredAt Block timestamp of the registration.
    /// @param modelHash Hash identifying the model the node serves.
    /// @param metadataCid Content id (IPFS CIDv1) of the node's metadata document.
    /// @param stake Active stake, in wei (counts towards `minStake()`).
    /// @param unbonding Stake waiting out the unbonding period, in wei (still slashable).
    /// @param unbondingEnds When `unbonding` may be withdrawn (0: nothing unbonding).
    struct Node {
        address operator;
        uint64 registeredAt;
        bytes32 modelHash;
        string metadataCid;
        uint256 stake;
        uint256 unbonding;
        uint64 unbondingEnds;
    }

    /// @notice A capability attestation (calibration result) for one node.
    /// @param scoreBps Calibration score in basis points (0..10000).
    /// @param validUntil Timestamp after which the attestation no longer counts.
    /// @param attester The account (ATTESTER_ROLE) that attested.
    /// @param attestedAt Block timestamp of the attestation (0: never attested).
    struct Attestation {
        uint16 scoreBps;
        uint64 validUntil;
        address attester;
        uint64 attestedAt;
    }

    /// @notice The operator cannot provide the stake (balance or allowance too low), or registers
    /// with less than the minimum.
    /// @param node The operator address.
    /// @param have What the registry may pull (min(balance, allowance)), or the amount offered.
    /// @param need The amount required.
    error NodeRegistryInsufficientStake(address node, uint256 have, uint256 need);

    /// @notice The address already operates a node.
    error NodeRegistryAlreadyRegistered(address node, uint64 nodeId);

    /// @notice The address operates no node.
    error NodeRegistryNotRegistered(address node);

    /// @notice No node has this id.
    error NodeRegistryUnknownNode(uint64 nodeId);

    /// @notice A zero amount, zero model hash, empty CID or zero address was given.
    error NodeRegistryInvalidInput();

    /// @notice An unstake would leave active stake above zero but below the minimum.
    /// @param remaining The active stake that would remain.
    /// @param minStake The minimum stake.
    error NodeRegistryStakeBelowMinimum(uint256 remaining, uint256 minStake);

    /// @notice More was asked to unstake than the node has staked.
    error NodeRegistryUnstakeExceedsStake(uint64 nodeId, uint256 amount, uint256 staked);

    /// @notice The node has no unbonding stake to withdraw.
    error NodeRegistryNothingToWithdraw(uint64 nodeId);

    /// @notice The unbonding period has not ended yet.
    /// @param endsAt When the unbonding stake may be withdrawn.
    error NodeRegistryStillUnbonding(uint64 nodeId, uint64 endsAt);

    /// @notice A slash larger than the node's active plus unbonding stake.
    error NodeRegistrySlashExceedsStake(uint64 nodeId, uint256 amount, uint256 slashable);

    /// @notice An attestation with a score above 10000 bps or a validity already over.
    error NodeRegistryInvalidAttestation(uint16 scoreBps, uint64 validUntil);

    /// @notice Reputations for an epoch not after the last one written (replay or out of order).
    error NodeRegistryStaleReputationEpoch(uint64 epoch, uint64 lastEpoch);

    /// @notice A reputation lane above 10000 bps, or a non-zero lane for a node id that does not
    /// exist (id 0, or above `nodeCount()`).
    /// @param nodeId The node id of the offending lane.
    /// @param value The lane's value.
    error NodeRegistryInvalidReputation(uint256 nodeId, uint256 value);

    /// @notice Emitted after a node was registered.
    event NodeRegistered(
        uint64 indexed nodeId, address indexed operator, bytes32 modelHash, string metadataCid
    );

    /// @notice Emitted after stake was added to a node (including the stake taken at registration).
    /// @param total The node's active stake afterwards.
    event Staked(uint64 indexed nodeId, address indexed operator, uint256 amount, uint256 total);

    /// @notice Emitted after stake moved from active into unbonding.
    /// @param unbonding The node's unbonding stake afterwards.
    /// @param unbondingEnds When it may be withdrawn (the timer restarts on every request).
    event UnstakeRequested(
        uint64 indexed nodeId,
        address indexed operator,
        uint256 amount,
        uint256 unbonding,
        uint64 unbondingEnds
    );

    /// @notice Emitted after unbonded stake was paid out to the operator.
    event Withdrawn(uint64 indexed nodeId, address indexed operator, uint256 amount);

    /// @notice Emitted after a node was slashed; the amount went to the treasury.
    /// @param fromStake Taken from active stake.
    /// @param fromUnbonding Taken from unbonding stake.
    /// @param evidenceCid CID of the evidence bundle.
    event Slashed(
        uint64 indexed nodeId,
        uint256 amount,
        uint256 fromStake,
        uint256 fromUnbonding,
        string evidenceCid,
        address indexed slasher
    );

    /// @notice Emitted after a capability attestation was recorded.
    event CapabilityAttested(
        uint64 indexed nodeId, address indexed attester, uint16 scoreBps, uint64 validUntil
    );

    /// @notice Emitted after an epoch's reputations were written.
    /// @param firstWord Index of the first reputation word written.
    /// @param words The words written (16 lanes of uint16 bps each).
    event ReputationsWritten(uint64 indexed epoch, uint256 firstWord, uint256[] words);

    /// @notice Registers the caller as a node operator and pulls `amount` (at least `minStake()`).
    /// @dev The caller must have approved the registry for at least `amount`.
    /// @param modelHash Hash identifying the served model (non-zero).
    /// @param metadataCid CID of the node metadata (non-empty).
    /// @param amount Initial stake in wei (>= `minStake()`).
    /// @return nodeId The new node's id.
    function register(bytes32 modelHash, string calldata metadataCid, uint256 amount)
        external
        returns (uint64 nodeId);

    /// @notice Adds `amount` to the caller's active stake, pulled from the caller.
    function stake(uint256 amount) external;

    /// @notice Moves `amount` of the caller's active stake into unbonding and (re)starts the
    /// unbonding timer. The remaining active stake must be 0 or at least `minStake()`.
    function requestUnstake(uint256 amount) external;

    /// @notice Pays the caller's unbonding stake out once the unbonding period is over.
    /// @return amount The amount paid.
    function withdraw() external returns (uint256 amount);

    /// @notice Takes `amount` from node `nodeId` (active stake first, then unbonding stake) and
    /// sends it to the treasury. Only accounts holding SETTLER_ROLE.
    /// @param evidenceCid CID of the evidence bundle (non-empty).
    function slash(uint64 nodeId, uint256 amount, string calldata evidenceCid) external;

    /// @notice Records a capability attestation for node `nodeId`. Only ATTESTER_ROLE.
    /// @param scoreBps Calibration score (0..10000).
    /// @param validUntil Expiry timestamp (in the future).
    function attest(uint64 nodeId, uint16 scoreBps, uint64 validUntil) external;

    /// @notice Writes the reputation words `firstWord .. firstWord + words.length - 1` for `epoch`.
    /// Only REPUTATION_WRITER_ROLE (EpochSettlement, when an epoch is finalized).
    /// @dev Word `w` holds nodes `16w .. 16w + 15`, node `id` in bits `16 * (id % 16)` upwards.
    /// `epoch` must be greater than `reputationEpoch()` (a nonce: no replay, no reordering).
    function writeReputations(uint64 epoch, uint256 firstWord, uint256[] calldata words) external;

    /// @notice The token staked.
    function token() external view returns (address);

    /// @notice The stake a node must put up to register, and keep to count as active, in wei.
    function minStake() external view returns (uint256);

    /// @notice Seconds between `requestUnstake` and the earliest `withdraw`.
    function unbondingPeriod() external view returns (uint64);

    /// @notice Where slashed stake goes.
    function treasury() external view returns (address);

    /// @notice How many nodes registered so far; ids run from 1 to this number.
    function nodeCount() external view returns (uint64);

    /// @notice The node id of `operator`, or 0 when it operates no node.
    function nodeIdOf(address operator) external view returns (uint64);

    /// @notice Everything known about node `nodeId`; reverts for an unknown id.
    function getNode(uint64 nodeId) external view returns (Node memory);

    /// @notice The active stake of node `nodeId`, in wei; reverts for an unknown id.
    function stakeOf(uint64 nodeId) external view returns (uint256);

    /// @notice The unbonding stake of node `nodeId` and when it may be withdrawn.
    function unbondingOf(uint64 nodeId) external view returns (uint256 amount, uint64 endsAt);

    /// @notice Whether node `nodeId` has at least `minStake()` active stake.
    function isActive(uint64 nodeId) external view returns (bool);

    /// @notice The latest capability attestation of node `nodeId` (attestedAt 0: none).
    function attestationOf(uint64 nodeId) external view returns (Attestation memory);

    /// @notice Whether node `nodeId` holds an attestation that has not expired.
    function isAttested(uint64 nodeId) external view returns (bool);

    /// @notice The reputation of node `nodeId` in basis points (0 until the first write).
    function reputationOf(uint64 nodeId) external view returns (uint16);

    /// @notice The packed reputation word `index` (nodes 16*index .. 16*index + 15).
    function reputationWord(uint256 index) external view returns (uint256);

    /// @notice The epoch of the last reputation write (0: none yet).
    function reputationEpoch() external view returns (uint64);

    /// @notice Sum of all nodes' active stake, in wei.
    function totalStaked() external view returns (uint256);

    /// @notice Sum of all nodes' unbonding stake, in wei.
    function totalUnbonding() external view returns (uint256);
}
