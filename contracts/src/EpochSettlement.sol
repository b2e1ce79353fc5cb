// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {ReentrancyGuardTransient} from "@openzeppelin/contracts/utils/ReentrancyGuardTransient.sol";
import {MerkleProof} from "@openzeppelin/contracts/utils/cryptography/MerkleProof.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";

import {IEpochSettlement} from "./interfaces/IEpochSettlement.sol";
import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";
import {IMeritToken} from "./interfaces/IMeritToken.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";

/// @title EpochSettlement
/// @notice Proposes, challenges, finalizes and pays out the marketplace's epochs.
/// @dev Per-epoch gas does not depend on the number of nodes except for the reputation words
/// (one storage word per 16 nodes): the reward vector is one Merkle root, and each node pulls its
/// rewards with one claim that covers every epoch since its last claim. Proposals live in a ring
/// of two slots (the latest finalized epoch and the pending one), so steady-state settlement
/// rewrites warm-able storage instead of allocating new slots each epoch.
///
/// Bonds: a settler's bond is one storage word; the part a pending proposal locks is not stored
/// but follows from the pending proposal's proposer (exactly `settlerBond`, one proposal pending
/// at a time), so finalize releases it without a write. Bonds, challenge bonds and reward pools
/// share this contract's balance; claims are bounded by the settled totals, bonds by `_bonds`.
contract EpochSettlement is IEpochSettlement, AccessControl, ReentrancyGuardTransient {
    using SafeERC20 for IERC20;

    /// @dev An epoch's gold commitment: a zero root means none.
    struct GoldCommitment {
        bytes32 root;
        uint64 committedAt;
    }

    /// @notice Role allowed to propose (the marketplace's single chain writer).
    bytes32 public constant SETTLER_ROLE = keccak256("SETTLER_ROLE");
    /// @notice Role allowed to decide challenges (upheld or rejected).
    bytes32 public constant RESOLVER_ROLE = keccak256("RESOLVER_ROLE");
    /// @notice Role allowed to commit an epoch's gold set root (the marketplace's examiner, the
    /// chain writer that also holds NodeRegistry's ATTESTER_ROLE).
    bytes32 public constant EXAMINER_ROLE = keccak256("EXAMINER_ROLE");

    /// @dev Gas kept back for the call itself on top of the verifier's allowance, the 1/64
    /// the EVM withholds from a callee (EIP-150) and the copy of the proof into the call.
    uint256 private constant _CALL_RESERVE = 10_000;
    /// @dev Gas allowed for the verifier's `verificationGas(proof)` answer.
    uint256 private constant _GAS_QUERY = 100_000;

    IMeritToken private immutable _token;
    INodeRegistry private immutable _registry;
    IEpochVerifier private immutable _verifier;
    uint64 private immutable _challengeWindow;
    uint256 private immutable _maxEmission;
    uint256 private immutable _verifierGas;
    uint256 private immutable _settlerBond;
    uint256 private immutable _challengeBond;

    Proposal[2] private _slots; // epoch e lives in _slots[e & 1]
    // one storage word: everything finalize updates and a claim checks
    uint32 private _lastProposed;
    uint32 private _lastFinalized;
    uint96 private _carry;
    uint96 private _totalSettled;
    uint128 private _totalClaimed;
    mapping(uint64 epoch => uint256 fees) private _pools;
    mapping(uint64 nodeId => uint256 claimed) private _claimed;
    mapping(uint64 epoch => GoldCommitment commitment) private _gold;
    mapping(address account => uint256 bond) private _bonds;
    mapping(uint64 epoch => Challenge challenge) private _challenges;

    /// @param token_ The MeritToken paid out (this contract needs its MINTER_ROLE for emission).
    /// @param registry_ The NodeRegistry (this contract needs its REPUTATION_WRITER_ROLE); its
    /// unbonding period must be at least `challengeWindow_`.
    /// @param verifier_ The proof verifier (must be a contract).
    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant SETTLER_ROLE, RESOLVER_ROLE and
    /// EXAMINER_ROLE).
    /// @param challengeWindow_ Seconds between a proposal and its earliest finalize (non-zero).
    /// @param maxEmissionPerEpoch_ The most one epoch may mint beyond its pool, in wei.
    /// @param verifierGas_ The most gas one verification may take (non-zero): each call gets what
    /// the verifier's `verificationGas(proof)` says, and a proof that needs more is refused.
    /// @param settlerBond_ The free bond a settler needs to propose, in wei (non-zero).
    /// @param challengeBond_ What a challenge costs, in wei (non-zero).
    constructor(
        IMeritToken token_,
        INodeRegistry registry_,
        IEpochVerifier verifier_,
        address admin,
        uint64 challengeWindow_,
        uint256 maxEmissionPerEpoch_,
        uint256 verifierGas_,
        uint256 settlerBond_,
        uint256 challengeBond_
    ) {
        if (
            address(token_) == address(0) || address(registry_) == address(0)
                || admin == address(0) || challengeWindow_ == 0 || verifierGas_ == 0
                || settlerBond_ == 0 || challengeBond_ == 0
        ) revert EpochSettlementInvalidConfig();
        if (address(verifier_).code.length == 0) {
            revert EpochSettlementVerifierNotContract(address(verifier_));
        }
        if (registry_.token() != address(token_)) revert EpochSettlementInvalidConfig();
        uint64 unbonding = registry_.unbondingPeriod();
        if (unbonding < challengeWindow_) {
            revert EpochSettlementUnbondingShorterThanWindow(unbonding, challengeWindow_);
        }
        _token = token_;
        _registry = registry_;
        _verifier = verifier_;
        _challengeWindow = challengeWindow_;
        _maxEmission = maxEmissionPerEpoch_;
        _verifierGas = verifierGas_;
        _settlerBond = settlerBond_;
        _challengeBond = challengeBond_;
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    // --- settlement -------------------------------------------------------------------------

    /// @inheritdoc IEpochSettlement
    function propose(
        uint64 epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string calldata auditCid,
        uint256 reputationFirstWord,
        uint256[] calldata reputationWords,
        bytes calldata proof
    ) external onlyRole(SETTLER_ROLE) {
        if (rewardsRoot == bytes32(0) || bytes(auditCid).length == 0) {
            revert EpochSettlementInvalidInput();
        }
        _requireNext(epoch, total);
        uint256 bond = _bonds[msg.sender]; // nothing is locked: no epoch is pending
        if (bond < _settlerBond) revert EpochSettlementBondTooLow(msg.sender, bond, _settlerBond);
        _verify(epoch, rewardsRoot, total, proof);

        bytes32 reputationHash = _reputationHash(reputationFirstWord, reputationWords);
        _slots[epoch & 1] = Proposal({
            rewardsRoot: rewardsRoot,
            reputationHash: reputationHash,
            total: SafeCast.toUint128(total),
            epoch: epoch,
            proposedAt: uint64(block.timestamp),
            proposer: msg.sender
        });
        _lastProposed = SafeCast.toUint32(epoch);
        emit EpochProposed(epoch, rewardsRoot, total, auditCid, reputationHash, msg.sender);
    }

    /// @inheritdoc IEpochSettlement
    function challenge(uint64 epoch, string calldata evidenceCid) external nonReentrant {
        if (bytes(evidenceCid).length == 0) revert EpochSettlementInvalidInput();
        _requirePending(epoch);
        uint64 proposedAt = _slots[epoch & 1].proposedAt;
        uint64 endsAt = proposedAt + _challengeWindow;
        if (block.timestamp >= endsAt) revert EpochSettlementChallengeWindowClosed(epoch, endsAt);
        Challenge storage held = _challenges[epoch];
        if (held.status == ChallengeStatus.Open) {
            revert EpochSettlementUnderChallenge(epoch, held.challenger);
        }

        _challenges[epoch] = Challenge({
            challenger: msg.sender,
            status: ChallengeStatus.Open,
            proposedAt: proposedAt,
            challengedAt: uint64(block.timestamp),
            evidenceCid: evidenceCid
        });
        emit EpochChallenged(epoch, msg.sender, evidenceCid);

        IERC20(address(_token)).safeTransferFrom(msg.sender, address(this), _challengeBond);
    }

    /// @inheritdoc IEpochSettlement
    function resolve(uint64 epoch, bool upheld) external onlyRole(RESOLVER_ROLE) nonReentrant {
        Challenge storage held = _challenges[epoch];
        if (held.status != ChallengeStatus.Open) revert EpochSettlementNoOpenChallenge(epoch);
        address challenger = held.challenger;
        // an open challenge keeps its epoch pending: nothing finalizes or is proposed over it
        if (upheld) {
            held.status = ChallengeStatus.Upheld;
            address settler = _slots[epoch & 1].proposer;
            _bonds[settler] -= _settlerBond; // locked by this proposal, so it is there
            _lastProposed = uint32(epoch - 1); // epoch == _lastProposed, a uint32
            uint256 paid = _challengeBond + _settlerBond;
            emit ChallengeUpheld(epoch, challenger, settler, _settlerBond, paid);
            IERC20(address(_token)).safeTransfer(challenger, paid);
        } else {
            held.status = ChallengeStatus.Rejected;
            address treasury = _registry.treasury();
            emit ChallengeRejected(epoch, challenger, _challengeBond, treasury);
            IERC20(address(_token)).safeTransfer(treasury, _challengeBond);
        }
    }

    /// @inheritdoc IEpochSettlement
    function postBond(address account, uint256 amount) external nonReentrant {
        if (amount == 0 || account == address(0)) revert EpochSettlementInvalidInput();
        uint256 bond = _bonds[account] + amount;
        _bonds[account] = bond;
        emit BondPosted(account, msg.sender, amount, bond);

        IERC20(address(_token)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEpochSettlement
    function withdrawBond(uint256 amount) external nonReentrant {
        if (amount == 0) revert EpochSettlementInvalidInput();
        uint256 bond = _bonds[msg.sender];
        uint256 free = bond - _lockedOf(msg.sender);
        if (amount > free) revert EpochSettlementBondLocked(msg.sender, amount, free);
        bond -= amount;
        _bonds[msg.sender] = bond;
        emit BondWithdrawn(msg.sender, amount, bond);

        IERC20(address(_token)).safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc IEpochSettlement
    function finalize(uint64 epoch, uint256 reputationFirstWord, uint256[] calldata reputationWords)
        external
        nonReentrant
    {
        _requirePending(epoch);
        Proposal storage proposal = _slots[epoch & 1];
        uint64 endsAt = proposal.proposedAt + _challengeWindow;
        if (block.timestamp < endsAt) revert EpochSettlementChallengeWindowOpen(epoch, endsAt);
        Challenge storage held = _challenges[epoch];
        if (held.status == ChallengeStatus.Open) {
            revert EpochSettlementUnderChallenge(epoch, held.challenger);
        }
        if (_reputationHash(reputationFirstWord, reputationWords) != proposal.reputationHash) {
            revert EpochSettlementReputationMismatch(epoch);
        }

        uint256 total = proposal.total;
        uint256 pool = _pools[epoch] + _carry;
        uint256 emission;
        uint256 left;
        if (total > pool) {
            emission = total - pool;
            if (emission > _maxEmission) {
                revert EpochSettlementTotalExceedsPool(total, pool + _maxEmission);
            }
        } else {
            left = pool - total;
        }
        _lastFinalized = uint32(epoch); // epoch == _lastProposed, a uint32
        _carry = SafeCast.toUint96(left);
        _totalSettled = SafeCast.toUint96(_totalSettled + total);
        emit EpochFinalized(epoch, total, emission, left);

        _registry.writeReputations(epoch, reputationFirstWord, reputationWords);
        if (emission != 0) _token.mint(address(this), emission);
    }

    /// @inheritdoc IEpochSettlement
    function fund(uint64 epoch, uint256 amount) external nonReentrant {
        if (amount == 0) revert EpochSettlementInvalidInput();
        if (epoch <= _lastFinalized) revert EpochSettlementEpochClosed(epoch);

        uint256 pool = _pools[epoch] + amount;
        _pools[epoch] = pool;
        emit PoolFunded(epoch, msg.sender, amount, pool);

        IERC20(address(_token)).safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IEpochSettlement
    function claim(
        uint64 epoch,
        uint64 nodeId,
        address account,
        uint256 cumulativeAmount,
        bytes32[] calldata proof
    ) external nonReentrant returns (uint256 paid) {
        Proposal storage proposal = _slots[epoch & 1];
        _requireClaimable(epoch, proposal);
        bytes32 leaf = _leaf(epoch, nodeId, account, cumulativeAmount);
        if (!MerkleProof.verifyCalldata(proof, proposal.rewardsRoot, leaf)) {
            revert EpochSettlementInvalidProof(epoch, nodeId);
        }
        uint256 already = _claimed[nodeId];
        if (cumulativeAmount <= already) {
            revert EpochSettlementNothingToClaim(nodeId, cumulativeAmount, already);
        }
        paid = cumulativeAmount - already;
        uint256 settled = _totalSettled;
        uint256 claimedTotal = _totalClaimed + paid;
        if (claimedTotal > settled) {
            revert EpochSettlementPoolExceeded(paid, settled - _totalClaimed);
        }

        _claimed[nodeId] = cumulativeAmount;
        _totalClaimed = uint128(claimedTotal); // <= _totalSettled, a uint128
        emit RewardClaimed(epoch, nodeId, account, paid, cumulativeAmount);

        IERC20(address(_token)).safeTransfer(account, paid);
    }

    // --- gold commitments -------------------------------------------------------------------

    /// @inheritdoc IEpochSettlement
    function commitGold(uint64 epoch, bytes32 root) external onlyRole(EXAMINER_ROLE) {
        if (root == bytes32(0)) revert EpochSettlementInvalidGoldRoot();
        GoldCommitment storage commitment = _gold[epoch];
        if (commitment.root != bytes32(0)) revert EpochSettlementGoldAlreadyCommitted(epoch);
        if (epoch <= _lastProposed) revert EpochSettlementGoldTooLate(epoch);

        uint64 committedAt = uint64(block.timestamp);
        commitment.root = root;
        commitment.committedAt = committedAt;
        emit GoldCommitted(epoch, root, committedAt);
    }

    // --- views ------------------------------------------------------------------------------

    /// @inheritdoc IEpochSettlement
    function token() external view returns (address) {
        return address(_token);
    }

    /// @inheritdoc IEpochSettlement
    function registry() external view returns (address) {
        return address(_registry);
    }

    /// @inheritdoc IEpochSettlement
    function verifier() external view returns (address) {
        return address(_verifier);
    }

    /// @inheritdoc IEpochSettlement
    function verifierGas() external view returns (uint256) {
        return _verifierGas;
    }

    /// @inheritdoc IEpochSettlement
    function challengeWindow() external view returns (uint64) {
        return _challengeWindow;
    }

    /// @inheritdoc IEpochSettlement
    function maxEmissionPerEpoch() external view returns (uint256) {
        return _maxEmission;
    }

    /// @inheritdoc IEpochSettlement
    function settlerBond() external view returns (uint256) {
        return _settlerBond;
    }

    /// @inheritdoc IEpochSettlement
    function challengeBond() external view returns (uint256) {
        return _challengeBond;
    }

    /// @inheritdoc IEpochSettlement
    function bondOf(address account) external view returns (uint256 bond, uint256 locked) {
        return (_bonds[account], _lockedOf(account));
    }

    /// @inheritdoc IEpochSettlement
    function challengeOf(uint64 epoch) external view returns (Challenge memory) {
        return _challenges[epoch];
    }

    /// @inheritdoc IEpochSettlement
    function lastProposedEpoch() external view returns (uint64) {
        return _lastProposed;
    }

    /// @inheritdoc IEpochSettlement
    function lastFinalizedEpoch() external view returns (uint64) {
        return _lastFinalized;
    }

    /// @inheritdoc IEpochSettlement
    function statusOf(uint64 epoch) external view returns (EpochStatus) {
        if (epoch == 0) return EpochStatus.None;
        if (epoch <= _lastFinalized) return EpochStatus.Finalized;
        if (epoch <= _lastProposed) return EpochStatus.Proposed;
        return EpochStatus.None;
    }

    /// @inheritdoc IEpochSettlement
    function proposalOf(uint64 epoch) external view returns (Proposal memory proposal) {
        Proposal storage held = _slots[epoch & 1];
        if (epoch != 0 && epoch <= _lastProposed && held.epoch == epoch) proposal = held;
    }

    /// @inheritdoc IEpochSettlement
    function challengeEndsAt(uint64 epoch) external view returns (uint64) {
        if (epoch == 0 || epoch != _lastProposed || epoch == _lastFinalized) return 0;
        return _slots[epoch & 1].proposedAt + _challengeWindow;
    }

    /// @inheritdoc IEpochSettlement
    function poolOf(uint64 epoch) external view returns (uint256) {
        return _pools[epoch];
    }

    /// @inheritdoc IEpochSettlement
    function carry() external view returns (uint256) {
        return _carry;
    }

    /// @inheritdoc IEpochSettlement
    function totalSettled() external view returns (uint256) {
        return _totalSettled;
    }

    /// @inheritdoc IEpochSettlement
    function totalClaimed() external view returns (uint256) {
        return _totalClaimed;
    }

    /// @inheritdoc IEpochSettlement
    function claimedOf(uint64 nodeId) external view returns (uint256) {
        return _claimed[nodeId];
    }

    /// @inheritdoc IEpochSettlement
    function goldCommitmentOf(uint64 epoch)
        external
        view
        returns (bytes32 root, uint64 committedAt)
    {
        GoldCommitment storage commitment = _gold[epoch];
        return (commitment.root, commitment.committedAt);
    }

    /// @inheritdoc IEpochSettlement
    function leafOf(uint64 epoch, uint64 nodeId, address account, uint256 cumulativeAmount)
        external
        pure
        returns (bytes32)
    {
        return _leaf(epoch, nodeId, account, cumulativeAmount);
    }

    // --- internals --------------------------------------------------------------------------

    /// @dev `epoch` is the next one (none pending) and `total` fits its pool plus emission.
    function _requireNext(uint64 epoch, uint256 total) private view {
        uint64 lastFinalized = _lastFinalized;
        uint64 lastProposed = _lastProposed;
        if (lastProposed != lastFinalized) {
            if (epoch == lastProposed) revert EpochSettlementAlreadyProposed(epoch);
            revert EpochSettlementEpochPending(lastProposed);
        }
        if (epoch != lastFinalized + 1) revert EpochSettlementOutOfOrder(epoch, lastFinalized + 1);
        uint256 available = _pools[epoch] + _carry + _maxEmission;
        if (total > available) revert EpochSettlementTotalExceedsPool(total, available);
    }

    /// @dev The latest finalized epoch is always held (a pending proposal uses the other slot);
    /// the one before it only while its slot was not reused by a newer (possibly challenged)
    /// proposal, which the slot's epoch number tells.
    function _requireClaimable(uint64 epoch, Proposal storage proposal) private view {
        uint64 lastFinalized = _lastFinalized;
        if (epoch == lastFinalized && epoch != 0) return;
        if (epoch + 1 == lastFinalized && proposal.epoch == epoch) return;
        revert EpochSettlementEpochNotClaimable(epoch);
    }

    /// @dev The pending proposal's proposer has `_settlerBond` locked; nobody else has any.
    function _lockedOf(address account) private view returns (uint256) {
        uint64 pending = _lastProposed;
        if (pending == _lastFinalized || _slots[pending & 1].proposer != account) return 0;
        return _settlerBond;
    }

    function _requirePending(uint64 epoch) private view {
        if (epoch == 0 || epoch != _lastProposed || epoch == _lastFinalized) {
            revert EpochSettlementNotPending(epoch);
        }
    }

    /// @dev Calls the verifier with exactly the gas it says `proof` needs (at most the cap
    /// `_verifierGas`), against the root of epoch `epoch - 1`; a `false` reverts.
    function _verify(uint64 epoch, bytes32 rewardsRoot, uint256 total, bytes calldata proof)
        private
        view
    {
        // epoch - 1 is the last finalized epoch (_requireNext), held in the other slot
        bytes32 previousRoot = epoch == 1 ? bytes32(0) : _slots[(epoch - 1) & 1].rewardsRoot;
        uint256 gas = _verifier.verificationGas{gas: _GAS_QUERY}(proof);
        if (gas > _verifierGas) revert EpochSettlementVerifierGasAboveCap(gas, _verifierGas);
        uint256 needed = gas + gas / 63 + _CALL_RESERVE + _copyCost(proof.length);
        uint256 left = gasleft();
        if (left < needed) revert EpochSettlementVerifierGasTooLow(left, needed);
        bool ok = _verifier.verifyEpoch{gas: gas}(epoch, previousRoot, rewardsRoot, total, proof);
        if (!ok) revert EpochSettlementProofRejected(epoch);
    }

    /// @dev An upper bound on encoding the verifier call's arguments (`proof` of `length`
    /// bytes plus six words): memory expansion to that many words from nothing plus the copy.
    function _copyCost(uint256 length) private pure returns (uint256) {
        uint256 words = length / 32 + 8;
        return 6 * words + (words * words) / 512;
    }

    function _reputationHash(uint256 firstWord, uint256[] calldata words)
        private
        pure
        returns (bytes32)
    {
        return keccak256(abi.encodePacked(firstWord, words));
    }

    function _leaf(uint64 epoch, uint64 nodeId, address account, uint256 cumulativeAmount)
        private
        pure
        returns (bytes32)
    {
        return keccak256(bytes.concat(keccak256(abi.encode(epoch, nodeId, account, cumulativeAmount))));
    }
}
