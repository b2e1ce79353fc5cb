// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IEpochSettlement
/// @notice Settles the marketplace's epochs: a proposal carries the epoch's cumulative rewards
/// root, total, audit CID, reputation words and a proof its verifier must accept; a challenge
/// window follows; `finalize` writes the reputations and makes the rewards claimable by Merkle
/// proof (pull payments, no loop over payees).
///
/// Challenges (optimistic settlement): the proof binds the reward split to the committed scores,
/// not that the scores are what the epoch's judgments imply; anyone holding the audit bundle can
/// check that. A settler proposes only with a free bond of at least `settlerBond()` (posted with
/// `postBond`), locked while its proposal is pending. Anyone may `challenge` a pending epoch
/// inside its window by paying `challengeBond()` and naming its evidence; a challenged epoch
/// cannot finalize until RESOLVER_ROLE `resolve`s it. Upheld: the proposal is cancelled (the epoch
/// may be proposed again), the settler's bond is slashed by `settlerBond()` and the challenger
/// receives its own bond back plus the slashed bond. Rejected: the challenge bond goes to the
/// registry's treasury and the proposal finalizes once its original window has ended. While the
/// window is open after a rejection, another challenge may follow (one open at a time).
/// @dev Epochs are numbered 1, 2, 3 ... and proposed strictly in order, one pending at a time:
/// the epoch number is the proposal's nonce, so a proposal cannot be replayed or reordered.
///
/// Claims are CUMULATIVE: the leaf of epoch `e` for node `id` carries everything node `id` has
/// earned in epochs 1..e, and `claim` pays the difference to what the node already claimed, so
/// one claim covers any number of epochs. Leaf (OpenZeppelin MerkleProof, sorted pairs):
/// `keccak256(bytes.concat(keccak256(abi.encode(uint64 epoch, uint64 nodeId, address account,
/// uint256 cumulativeAmount))))`. Claims may use the latest finalized epoch, or the one before it
/// while no newer epoch is proposed. The sum of all claims never exceeds the sum of finalized
/// totals (`totalSettled()`).
///
/// Reputation words: word `w` packs nodes `16w .. 16w+15` as uint16 basis points, node `id` in
/// bits `16 * (id % 16)` upwards (see INodeRegistry). A proposal commits to
/// `keccak256(abi.encodePacked(firstWord, words))`; `finalize` must be given the same words.
///
/// Gold commitments (commit-then-reveal): before an epoch's first task the marketplace commits
/// the Merkle root of that epoch's hidden gold set (`commitGold`, EXAMINER_ROLE), once per epoch
/// and only while the epoch is not yet proposed. When the gold items are revealed, an auditor
/// checks them against the root and the block timestamp `goldCommitmentOf` returns.
interface IEpochSettlement {
    /// @notice One epoch's proposal, as long as the contract still holds it.
    /// @param rewardsRoot Merkle root of the cumulative reward leaves.
    /// @param reputationHash keccak256(abi.encodePacked(firstWord, words)) of its reputation words.
    /// @param total What this epoch adds to the claimable rewards, in wei.
    /// @param epoch The epoch number (0: no proposal held for the epoch asked about).
    /// @param proposedAt Block timestamp of the proposal.
    /// @param proposer The settler whose bond the proposal locks.
    struct Proposal {
        bytes32 rewardsRoot;
        bytes32 reputationHash;
        uint128 total;
        uint64 epoch;
        uint64 proposedAt;
        address proposer;
    }

    /// @notice Where an epoch's latest challenge stands (None: never challenged).
    enum ChallengeStatus {
        None,
        Open,
        Upheld,
        Rejected
    }

    /// @notice An epoch's latest challenge.
    /// @param challenger Who challenged (and paid `challengeBond()`).
    /// @param status Open until resolved.
    /// @param proposedAt The challenged proposal's `proposedAt` (tells it from a re-proposal).
    /// @param challengedAt Block timestamp of the challenge.
    /// @param evidenceCid CID of the challenger's evidence.
    struct Challenge {
        address challenger;
        ChallengeStatus status;
        uint64 proposedAt;
        uint64 challengedAt;
        string evidenceCid;
    }

    /// @notice Where an epoch stands.
    enum EpochStatus {
        None,
        Proposed,
        Finalized
    }

    /// @notice The epoch is already proposed and waiting in its challenge window.
    error EpochSettlementAlreadyProposed(uint64 epoch);

    /// @notice Another epoch is pending; it must be finalized (or challenged) first.
    error EpochSettlementEpochPending(uint64 pending);

    /// @notice Epochs are proposed in order: `expected` is the only one that may come next.
    error EpochSettlementOutOfOrder(uint64 epoch, uint64 expected);

    /// @notice The verifier returned false for the proof.
    error EpochSettlementProofRejected(uint64 epoch);

    /// @notice Too little gas is left to give the verifier the gas its proof needs.
    /// @param gasLeft Gas left before the call.
    /// @param needed The verifier's `verificationGas(proof)` plus the 1/64 the EVM withholds
    /// from a callee and a reserve for the call itself.
    error EpochSettlementVerifierGasTooLow(uint256 gasLeft, uint256 needed);

    /// @notice The proof needs more verification gas than the cap `verifierGas()` allows (too
    /// many chunks or entries for one proposal).
    /// @param gas The verifier's `verificationGas(proof)`.
    /// @param cap `verifierGas()`.
    error EpochSettlementVerifierGasAboveCap(uint256 gas, uint256 cap);

    /// @notice A zero root, an empty CID or a zero amount was given.
    error EpochSettlementInvalidInput();

    /// @notice A constructor argument is unusable (zero address, window of zero, ...).
    error EpochSettlementInvalidConfig();

    /// @notice The verifier address given to the constructor holds no code.
    error EpochSettlementVerifierNotContract(address verifier);

    /// @notice The registry's unbonding period is shorter than the challenge window, so a node
    /// could leave before its misconduct in an epoch can be challenged and slashed.
    error EpochSettlementUnbondingShorterThanWindow(uint64 unbondingPeriod, uint64 challengeWindow);

    /// @notice The total is more than the epoch's pool plus the emission cap.
    /// @param total The proposed total.
    /// @param available Pool (fees and carry) plus `maxEmissionPerEpoch()`.
    error EpochSettlementTotalExceedsPool(uint256 total, uint256 available);

    /// @notice The epoch is not the pending one.
    error EpochSettlementNotPending(uint64 epoch);

    /// @notice The challenge window of the epoch is still open.
    error EpochSettlementChallengeWindowOpen(uint64 epoch, uint64 endsAt);

    /// @notice The challenge window of the epoch is over.
    error EpochSettlementChallengeWindowClosed(uint64 epoch, uint64 endedAt);

    /// @notice The reputation words differ from those the proposal committed to.
    error EpochSettlementReputationMismatch(uint64 epoch);

    /// @notice Fees for an epoch that is already finalized.
    error EpochSettlementEpochClosed(uint64 epoch);

    /// @notice Claims use the latest finalized epoch (or the one before it while nothing newer
    /// is proposed); this epoch is none of those.
    error EpochSettlementEpochNotClaimable(uint64 epoch);

    /// @notice The Merkle proof does not lead from the leaf to the epoch's root.
    error EpochSettlementInvalidProof(uint64 epoch, uint64 nodeId);

    /// @notice The node already claimed at least this cumulative amount.
    error EpochSettlementNothingToClaim(uint64 nodeId, uint256 cumulativeAmount, uint256 claimed);

    /// @notice The claim would take the sum claimed above the sum settled.
    error EpochSettlementPoolExceeded(uint256 amount, uint256 unclaimed);

    /// @notice The proposer's free bond (posted and not locked) is below `settlerBond()`.
    error EpochSettlementBondTooLow(address settler, uint256 free, uint256 needed);

    /// @notice A withdrawal asks for more than the account's free bond (the rest is locked by
    /// its pending proposal).
    error EpochSettlementBondLocked(address account, uint256 amount, uint256 free);

    /// @notice The epoch has an open challenge: it cannot finalize, nor be challenged again,
    /// until RESOLVER_ROLE resolves it.
    error EpochSettlementUnderChallenge(uint64 epoch, address challenger);

    /// @notice The epoch has no open challenge to resolve.
    error EpochSettlementNoOpenChallenge(uint64 epoch);

    /// @notice The gold set of the epoch is already committed; a commitment is never replaced.
    error EpochSettlementGoldAlreadyCommitted(uint64 epoch);

    /// @notice A gold commitment's root is zero.
    error EpochSettlementInvalidGoldRoot();

    /// @notice The epoch is already proposed (or is epoch 0): its gold set can no longer be
    /// committed before its tasks.
    error EpochSettlementGoldTooLate(uint64 epoch);

    /// @notice Emitted after an epoch's proposal passed its proof check.
    event EpochProposed(
        uint64 indexed epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string auditCid,
        bytes32 reputationHash,
        address indexed proposer
    );

    /// @notice Emitted after a pending epoch was challenged (its challenge bond paid); it cannot
    /// finalize until the challenge is resolved.
    event EpochChallenged(uint64 indexed epoch, address indexed challenger, string evidenceCid);

    /// @notice Emitted after a challenge was upheld: the proposal is cancelled (the epoch may be
    /// proposed again) and the settler's bond slashed.
    /// @param slashed Taken from the settler's bond (`settlerBond()`).
    /// @param paid Sent to the challenger: its challenge bond back plus `slashed`.
    event ChallengeUpheld(
        uint64 indexed epoch,
        address indexed challenger,
        address indexed settler,
        uint256 slashed,
        uint256 paid
    );

    /// @notice Emitted after a challenge was rejected: the proposal stands.
    /// @param forfeited The challenge bond, sent to `treasury`.
    event ChallengeRejected(
        uint64 indexed epoch, address indexed challenger, uint256 forfeited, address treasury
    );

    /// @notice Emitted after `from` added `amount` to `account`'s settler bond.
    /// @param bond The account's bond afterwards.
    event BondPosted(address indexed account, address indexed from, uint256 amount, uint256 bond);

    /// @notice Emitted after `account` took `amount` out of its settler bond.
    /// @param bond The account's bond afterwards.
    event BondWithdrawn(address indexed account, uint256 amount, uint256 bond);

    /// @notice Emitted after an epoch was finalized: its rewards are claimable.
    /// @param emission Tokens minted to cover the total beyond the pool.
    /// @param carry Pool left over, carried into the next epoch's pool.
    event EpochFinalized(uint64 indexed epoch, uint256 total, uint256 emission, uint256 carry);

    /// @notice Emitted after fees were added to an epoch's pool.
    /// @param pool The epoch's pool afterwards (carry not included).
    event PoolFunded(uint64 indexed epoch, address indexed from, uint256 amount, uint256 pool);

    /// @notice Emitted after a reward was paid out.
    /// @param amount Paid now.
    /// @param cumulativeAmount The node's claimed total afterwards.
    event RewardClaimed(
        uint64 indexed epoch,
        uint64 indexed nodeId,
        address indexed account,
        uint256 amount,
        uint256 cumulativeAmount
    );

    /// @notice Emitted after the Merkle root of an epoch's hidden gold set was committed.
    /// @param committedAt Block timestamp of the commitment.
    event GoldCommitted(uint64 indexed epoch, bytes32 root, uint64 committedAt);

    /// @notice Proposes epoch `epoch`. Only SETTLER_ROLE, with a free bond of at least
    /// `settlerBond()` (else `EpochSettlementBondTooLow`), which the proposal locks until it is
    /// finalized or cancelled by an upheld challenge.
    /// @dev Asks `verifier().verificationGas(proof)` how much gas the check needs (at most
    /// `verifierGas()`, else `EpochSettlementVerifierGasAboveCap`), then calls
    /// `verifier().verifyEpoch(epoch, previousRoot, rewardsRoot, total, proof)` with exactly that
    /// gas, `previousRoot` being the rewards root of epoch `epoch - 1` (zero for epoch 1), and
    /// reverts unless it returns true; a verifier that reverts makes this revert with the
    /// verifier's error.
    /// @param epoch Must be `lastFinalizedEpoch() + 1`, with no epoch pending.
    /// @param rewardsRoot Root of the cumulative reward leaves (non-zero).
    /// @param total What this epoch adds to the rewards, in wei (<= pool + emission cap).
    /// @param auditCid CID of the epoch's audit bundle (non-empty; kept in the event only).
    /// @param reputationFirstWord Index of the first reputation word.
    /// @param reputationWords The reputation words written at finalize.
    /// @param proof The proof passed on to the verifier.
    function propose(
        uint64 epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string calldata auditCid,
        uint256 reputationFirstWord,
        uint256[] calldata reputationWords,
        bytes calldata proof
    ) external;

    /// @notice Challenges the pending epoch `epoch` inside its challenge window. Anyone may call;
    /// the caller pays `challengeBond()` (approve it first). One open challenge per epoch.
    /// @param evidenceCid CID of the evidence (non-empty): what the audit bundle implies and
    /// what the proposal says instead.
    function challenge(uint64 epoch, string calldata evidenceCid) external;

    /// @notice Decides the open challenge of `epoch`. Only RESOLVER_ROLE.
    /// @param upheld True: the proposal is cancelled, the settler's bond slashed by
    /// `settlerBond()` and the challenger paid its bond plus the slashed amount (all of it: the
    /// treasury is the marketplace's, the settler's own side, so a slash paid there would cost
    /// the marketplace nothing). False: the challenge bond goes to the registry's treasury (not
    /// to the settler, whose key then earns nothing from challenges it wins) and the proposal
    /// may finalize once its original window has ended.
    function resolve(uint64 epoch, bool upheld) external;

    /// @notice Adds `amount`, pulled from the caller (approve it first), to `account`'s settler
    /// bond: a settler may post its own, or be funded by another account (the marketplace's
    /// treasury, say); only `account` may withdraw it.
    function postBond(address account, uint256 amount) external;

    /// @notice Takes `amount` of the caller's free bond back (the part its pending proposal does
    /// not lock).
    function withdrawBond(uint256 amount) external;

    /// @notice Finalizes the pending epoch once its challenge window is over and no challenge is
    /// open: writes its reputations, mints any emission and makes its rewards claimable. Anyone
    /// may call.
    /// @param epoch The pending epoch.
    /// @param reputationFirstWord The first word index given to `propose`.
    /// @param reputationWords The words given to `propose`.
    function finalize(uint64 epoch, uint256 reputationFirstWord, uint256[] calldata reputationWords)
        external;

    /// @notice Pulls `amount` from the caller into the pool of `epoch` (not yet finalized).
    function fund(uint64 epoch, uint256 amount) external;

    /// @notice Pays node `nodeId`'s unclaimed rewards to `account` (anyone may submit).
    /// @param epoch A claimable epoch (see `EpochSettlementEpochNotClaimable`).
    /// @param cumulativeAmount The node's earnings in epochs 1..epoch, as in the leaf.
    /// @param proof Sibling hashes from the leaf to the epoch's root.
    /// @return paid `cumulativeAmount` minus what the node had claimed before.
    function claim(
        uint64 epoch,
        uint64 nodeId,
        address account,
        uint256 cumulativeAmount,
        bytes32[] calldata proof
    ) external returns (uint256 paid);

    /// @notice Commits the Merkle root of epoch `epoch`'s hidden gold set, before the epoch's
    /// first task, so that the gold items revealed later can be checked against it. Only
    /// EXAMINER_ROLE.
    /// @dev Checked in this order: a zero root (`EpochSettlementInvalidGoldRoot`), an epoch
    /// already committed (`EpochSettlementGoldAlreadyCommitted`), an epoch already proposed,
    /// i.e. `epoch <= lastProposedEpoch()`, which includes epoch 0 (`EpochSettlementGoldTooLate`).
    /// An epoch cancelled by an upheld challenge is no longer proposed, so it may still be
    /// committed if it never was.
    /// @param epoch The epoch whose gold set `root` commits to.
    /// @param root The gold set's Merkle root (non-zero; its leaf layout is the marketplace's).
    function commitGold(uint64 epoch, bytes32 root) external;

    /// @notice The token rewards are paid in.
    function token() external view returns (address);

    /// @notice The registry whose reputations settlement writes.
    function registry() external view returns (address);

    /// @notice The verifier every proposal must satisfy.
    function verifier() external view returns (address);

    /// @notice The most gas one proof verification may take (the cap on the verifier's
    /// `verificationGas(proof)`); it bounds how many chunks and entries one proposal can carry.
    function verifierGas() external view returns (uint256);

    /// @notice Seconds between a proposal and the earliest finalize.
    function challengeWindow() external view returns (uint64);

    /// @notice The most one epoch may mint beyond its pool, in wei.
    function maxEmissionPerEpoch() external view returns (uint256);

    /// @notice The free bond a settler needs to propose; what an upheld challenge slashes.
    function settlerBond() external view returns (uint256);

    /// @notice What a challenger pays to challenge; returned when upheld, forfeited when not.
    function challengeBond() external view returns (uint256);

    /// @notice `account`'s settler bond and the part of it its pending proposal locks.
    function bondOf(address account) external view returns (uint256 bond, uint256 locked);

    /// @notice The latest challenge of `epoch` (all zero when never challenged).
    function challengeOf(uint64 epoch) external view returns (Challenge memory);

    /// @notice The last epoch proposed and not cancelled (equals the last finalized when none
    /// is pending).
    function lastProposedEpoch() external view returns (uint64);

    /// @notice The last finalized epoch (0: none).
    function lastFinalizedEpoch() external view returns (uint64);

    /// @notice Where epoch `epoch` stands.
    function statusOf(uint64 epoch) external view returns (EpochStatus);

    /// @notice The proposal of `epoch` while the contract holds it (the pending epoch, the latest
    /// finalized and, while none is pending, the one before it); all zero otherwise.
    function proposalOf(uint64 epoch) external view returns (Proposal memory);

    /// @notice When the challenge window of the pending epoch `epoch` ends (0 when not pending).
    function challengeEndsAt(uint64 epoch) external view returns (uint64);

    /// @notice Fees funded into `epoch`'s pool, in wei (carry not included).
    function poolOf(uint64 epoch) external view returns (uint256);

    /// @notice Pool left over by finalized epochs, added to the next epoch's pool.
    function carry() external view returns (uint256);

    /// @notice Sum of the totals of all finalized epochs.
    function totalSettled() external view returns (uint256);

    /// @notice Sum of all claims paid.
    function totalClaimed() external view returns (uint256);

    /// @notice What node `nodeId` has claimed so far (its cumulative claimed amount).
    function claimedOf(uint64 nodeId) external view returns (uint256);

    /// @notice The gold commitment of `epoch`; both zero when none was made.
    /// @return root The committed Merkle root of the epoch's gold set.
    /// @return committedAt Block timestamp of the commitment.
    function goldCommitmentOf(uint64 epoch)
        external
        view
        returns (bytes32 root, uint64 committedAt);

    /// @notice The Merkle leaf of a reward entry (for off-chain builders to check against).
    function leafOf(uint64 epoch, uint64 nodeId, address account, uint256 cumulativeAmount)
        external
        pure
        returns (bytes32);
}
