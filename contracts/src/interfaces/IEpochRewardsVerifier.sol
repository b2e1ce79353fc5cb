// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochVerifier} from "./IEpochVerifier.sol";

/// @title IEpochRewardsVerifier
/// @notice Verifies an epoch's reward vector with one Groth16 proof per chunk of 32 nodes and
/// derives the claim root from the data the proofs cover (zk/README.md, "Binding").
/// @dev The `proof` argument of `verifyEpoch` is `abi.encode(pool, totalScore, threshold,
/// entries, chunks)` with the types below (the tuple `Claim`):
///
/// - `entries`: the claim tree's entries in strictly increasing `nodeId` order, each with the
///   cumulative amount of its leaf in the tree of `epoch - 1` (0: no leaf there);
/// - `chunks[k]`: the proof of rows `32k .. 32k + 31` of the epoch's rows, its `scoreCommitment`
///   and `chunkScoreSum` outputs and the rows' `(payee, reward)` in row order (at most 32, trailing
///   rows with payee 0 and reward 0 may be left out); a row with `payee != 0` names the entry it
///   credits (`payee == nodeId << 160 | account` of that entry), a row with payee 0 is paid off
///   chain and its `entry` is ignored.
///
/// Per chunk `k` the challenge is `c = uint256(keccak256(abi.encode(chainid, settlement, epoch,
/// k, pool, totalScore, threshold, scoreCommitment, chunkScoreSum, payee_0, reward_0, ...,
/// payee_{n-1}, reward_{n-1}))) mod r`, where `settlement` is the caller of `verifyEpoch` (the
/// EpochSettlement contract), so a proof is bound to one chain and one deployment; and
/// `rewardsEval = sum_i payee_i c^(2i) + reward_i c^(2i+1) mod r`; the Groth16 public signals
/// are `[scoreCommitment, chunkScoreSum, rewardsEval, epoch, k, pool, totalScore, threshold, c]`.
///
/// Every entry the epoch credits must be paid to its node's operator (`NodeRegistry.nodeIdOf`).
/// The structural checks (order, ranges, payees, sums, both roots, operators) all run before
/// the first Groth16 check. A proof that fails any check reverts with the error that names it; a malformed
/// ABI encoding reverts without data, like `abi.decode`.
interface IEpochRewardsVerifier is IEpochVerifier {
    /// @notice A claim tree entry: a registry node, where it is paid, and its cumulative amount in
    /// the previous epoch's tree (0 when it had no leaf there).
    struct Entry {
        uint64 nodeId;
        address account;
        uint256 previousCumulative;
    }

    /// @notice One row of a chunk as the chain pays it: `payee = nodeId << 160 | account` (0 for a
    /// node without an on-chain identity), its reward, and the index of the entry it credits.
    struct Row {
        uint256 payee;
        uint256 reward;
        uint32 entry;
    }

    /// @notice One chunk: the circuit's outputs, the Groth16 proof words `[A.x, A.y, B.x.c1,
    /// B.x.c0, B.y.c1, B.y.c0, C.x, C.y]` and the chunk's rows.
    struct Chunk {
        uint256 scoreCommitment;
        uint256 chunkScoreSum;
        uint256[8] proof;
        Row[] rows;
    }

    /// @notice The whole `proof` argument of `verifyEpoch`.
    struct Claim {
        uint256 pool;
        uint256 totalScore;
        uint256 threshold;
        Entry[] entries;
        Chunk[] chunks;
    }

    /// @notice The chunk verifier or registry given to the constructor holds no code.
    error EpochRewardsVerifierNotContract(address target);

    /// @notice Entry `nodeId` is paid to `account`, which the registry says operates node
    /// `registered` (0: none).
    error EpochRewardsVerifierPayeeNotOperator(uint64 nodeId, address account, uint64 registered);

    /// @notice Epoch 0 is never settled.
    error EpochRewardsVerifierZeroEpoch();

    /// @notice The proof is shorter than its five head words.
    error EpochRewardsVerifierMalformedProof(uint256 length);

    /// @notice `entries[index]` does not come after the entry before it in node id order.
    error EpochRewardsVerifierEntriesOutOfOrder(uint256 index, uint64 nodeId);

    /// @notice The entries' previous amounts do not rebuild the root of epoch `epoch - 1`.
    error EpochRewardsVerifierPreviousRootMismatch(bytes32 computed, bytes32 expected);

    /// @notice Chunk `chunk` has more than 32 rows.
    error EpochRewardsVerifierChunkTooLarge(uint256 chunk, uint256 rows);

    /// @notice A reward of 2^128 or more (it could alias modulo the scalar field).
    error EpochRewardsVerifierRewardTooLarge(uint256 chunk, uint256 row, uint256 reward);

    /// @notice A payee of 2^224 or more (it could alias modulo the scalar field).
    error EpochRewardsVerifierPayeeTooLarge(uint256 chunk, uint256 row, uint256 payee);

    /// @notice A paid row names an entry index past the end of the entries.
    error EpochRewardsVerifierEntryOutOfRange(uint256 chunk, uint256 row, uint256 entry);

    /// @notice A paid row's payee is not `nodeId << 160 | account` of the entry it names.
    error EpochRewardsVerifierPayeeMismatch(uint256 chunk, uint256 row, uint256 payee, uint256 entryPayee);

    /// @notice The chunks' score sums do not add up to `totalScore`.
    error EpochRewardsVerifierScoreSumMismatch(uint256 sum, uint256 totalScore);

    /// @notice The rows' rewards do not add up to the pool.
    error EpochRewardsVerifierRewardSumMismatch(uint256 sum, uint256 pool);

    /// @notice The paid rows' rewards do not add up to the proposal's total.
    error EpochRewardsVerifierTotalMismatch(uint256 paid, uint256 total);

    /// @notice An entry ends the epoch with nothing (the tree holds no zero leaves).
    error EpochRewardsVerifierEmptyEntry(uint64 nodeId);

    /// @notice The entries' new cumulative amounts do not build the proposal's rewards root.
    error EpochRewardsVerifierRewardsRootMismatch(bytes32 computed, bytes32 expected);

    /// @notice Too little gas is left for a chunk's Groth16 check (the verifier would report a
    /// starved precompile as an invalid proof).
    error EpochRewardsVerifierGasTooLow(uint256 gasLeft, uint256 needed);

    /// @notice The Groth16 proof of chunk `chunk` does not hold for its public signals.
    error EpochRewardsVerifierChunkRejected(uint256 chunk);

    /// @notice The Groth16 verifier of one chunk.
    function chunkVerifier() external view returns (address);

    /// @notice The NodeRegistry whose operators are the accounts paid.
    function registry() external view returns (address);
}
