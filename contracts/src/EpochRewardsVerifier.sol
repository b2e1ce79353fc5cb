// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {Hashes} from "@openzeppelin/contracts/utils/cryptography/Hashes.sol";

import {IEpochRewardsVerifier} from "./interfaces/IEpochRewardsVerifier.sol";
import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";
import {IRewardChunkVerifier} from "./interfaces/IRewardChunkVerifier.sol";

/// @title EpochRewardsVerifier
/// @notice EpochSettlement's verifier: accepts an epoch only when every chunk's Groth16 proof
/// holds for rows the chain pays, the rows add up to the pool, the paid ones to the proposal's
/// total, and the claim root is the previous epoch's tree plus exactly those rewards.
/// @dev Reads the proof in place from calldata (no `abi.decode` copy). Memory holds two words
/// per entry (the tree being built and the amounts credited), two per chunk (its challenge and
/// evaluation) and one 71-word buffer for the challenge hash, so memory cost stays linear in
/// practice. Costs, measured on anvil (bench/zk_verify.py), are bounded by `verificationGas`.
contract EpochRewardsVerifier is IEpochRewardsVerifier {
    /// @dev BN254 scalar field order r.
    uint256 private constant _R =
        21888242871839275222246405745257275088548364400416507208626245785157510495617;
    uint256 private constant _CHUNK_ROWS = 32;
    /// @dev Words before the rows in the challenge preimage.
    uint256 private constant _PREFIX = 7;
    uint256 private constant _REWARD_BOUND = 1 << 128;
    uint256 private constant _PAYEE_BOUND = 1 << 224;

    /// @dev Gas given to each Groth16 check (4 pairings + 9 scalar multiplications need about
    /// 230k; the rest is margin).
    uint256 private constant _GROTH16_GAS = 300_000;
    /// @dev What `verifyEpoch` needs besides its chunks and entries (head, sums, two roots).
    uint256 private constant _BASE_GAS = 30_000;
    /// @dev Per chunk: 32 rows read, checked and hashed, the challenge and evaluation, and the
    /// Groth16 call with its allowance plus the 1/64 withheld from it.
    uint256 private constant _CHUNK_GAS = 400_000;
    /// @dev Per entry: read twice, two leaves, their share of two trees and of memory.
    uint256 private constant _ENTRY_GAS = 3_000;

    IRewardChunkVerifier private immutable _chunkVerifier;

    /// @param chunkVerifier_ The generated Groth16 verifier of one chunk (must be a contract).
    constructor(IRewardChunkVerifier chunkVerifier_) {
        if (address(chunkVerifier_).code.length == 0) {
            revert EpochRewardsVerifierNotContract(address(chunkVerifier_));
        }
        _chunkVerifier = chunkVerifier_;
    }

    /// @inheritdoc IEpochVerifier
    function verifyEpoch(
        uint64 epoch,
        bytes32 previousRoot,
        bytes32 rewardsRoot,
        uint256 total,
        bytes calldata proof
    ) external view returns (bool) {
        if (epoch == 0) revert EpochRewardsVerifierZeroEpoch();
        if (proof.length < 5 * 32) revert EpochRewardsVerifierMalformedProof(proof.length);
        Claim calldata claim = _claim(proof);
        Entry[] calldata entries = claim.entries;

        bytes32 previous = _previousRoot(epoch - 1, entries);
        if (previous != previousRoot) {
            revert EpochRewardsVerifierPreviousRootMismatch(previous, previousRoot);
        }

        uint256[] memory credited = new uint256[](entries.length);
        (uint256[] memory challenges, uint256[] memory evals) =
            _chunks(epoch, claim, total, credited);

        bytes32 root = _newRoot(epoch, entries, credited);
        if (root != rewardsRoot) revert EpochRewardsVerifierRewardsRootMismatch(root, rewardsRoot);

        _checkProofs(epoch, claim, challenges, evals);
        return true;
    }

    /// @inheritdoc IEpochVerifier
    /// @dev Reads only the two counts behind the head's offsets (clamped to what the proof's
    /// length can hold); a malformed proof gets the bound of what it can encode, and reverts in
    /// `verifyEpoch` before spending it.
    function verificationGas(bytes calldata proof) external pure returns (uint256) {
        return _BASE_GAS + _count(proof, 4) * _CHUNK_GAS + _count(proof, 3) * _ENTRY_GAS;
    }

    /// @inheritdoc IEpochRewardsVerifier
    function chunkVerifier() external view returns (address) {
        return address(_chunkVerifier);
    }

    // --- internals --------------------------------------------------------------------------

    function _claim(bytes calldata proof) private pure returns (Claim calldata claim) {
        assembly ("memory-safe") {
            claim := proof.offset
        }
    }

    /// @dev The length word behind the offset in head word `slot`; 0 when it lies outside the
    /// proof, at most one per word of the proof.
    function _count(bytes calldata proof, uint256 slot) private pure returns (uint256 n) {
        uint256 length = proof.length;
        if (length < 5 * 32) return 0;
        uint256 offset = uint256(bytes32(proof[slot * 32:slot * 32 + 32]));
        if (offset > length - 32) return 0;
        n = uint256(bytes32(proof[offset:offset + 32]));
        if (n > length / 32) n = length / 32;
    }

    /// @dev Checks the entries' order and rebuilds the tree of `previousEpoch` from the entries
    /// with a previous amount (bytes32(0) when there are none).
    function _previousRoot(uint64 previousEpoch, Entry[] calldata entries)
        private
        pure
        returns (bytes32)
    {
        bytes32[] memory nodes = new bytes32[](entries.length);
        uint256 leaves;
        uint64 last;
        for (uint256 i; i < entries.length; ++i) {
            Entry calldata entry = entries[i];
            uint64 nodeId = entry.nodeId;
            if (i != 0 && nodeId <= last) revert EpochRewardsVerifierEntriesOutOfOrder(i, nodeId);
            last = nodeId;
            uint256 amount = entry.previousCumulative;
            if (amount != 0) {
                nodes[leaves++] = _leaf(previousEpoch, nodeId, entry.account, amount);
            }
        }
        return _root(nodes, leaves);
    }

    /// @dev Sums over the rows of all chunks.
    struct Tally {
        uint256 scores; // the chunks' score sums
        uint256 rewards; // every row's reward
        uint256 paid; // the rewards of rows with a payee
    }

    /// @dev Checks every chunk's rows and the sums, credits the paid rows to their entries, and
    /// returns each chunk's challenge and rewards evaluation.
    function _chunks(uint64 epoch, Claim calldata claim, uint256 total, uint256[] memory credited)
        private
        pure
        returns (uint256[] memory challenges, uint256[] memory evals)
    {
        Chunk[] calldata chunks = claim.chunks;
        challenges = new uint256[](chunks.length);
        evals = new uint256[](chunks.length);
        uint256[] memory words = new uint256[](_PREFIX + 2 * _CHUNK_ROWS);
        words[0] = epoch;
        words[2] = claim.pool;
        words[3] = claim.totalScore;
        words[4] = claim.threshold;
        Tally memory tally;
        for (uint256 k; k < chunks.length; ++k) {
            Chunk calldata chunk = chunks[k];
            words[1] = k;
            words[5] = chunk.scoreCommitment;
            words[6] = chunk.chunkScoreSum;
            tally.scores += chunk.chunkScoreSum;
            uint256 n = _rows(k, chunk.rows, claim.entries, credited, words, tally);
            (challenges[k], evals[k]) = _challengeAndEval(words, n);
        }
        if (tally.scores != claim.totalScore) {
            revert EpochRewardsVerifierScoreSumMismatch(tally.scores, claim.totalScore);
        }
        if (tally.rewards != claim.pool) {
            revert EpochRewardsVerifierRewardSumMismatch(tally.rewards, claim.pool);
        }
        if (tally.paid != total) revert EpochRewardsVerifierTotalMismatch(tally.paid, total);
    }

    /// @dev Checks chunk `k`'s rows, credits the paid ones to their entries, adds them to
    /// `tally` and writes them to the challenge preimage `words`; returns the number of rows.
    function _rows(
        uint256 k,
        Row[] calldata rows,
        Entry[] calldata entries,
        uint256[] memory credited,
        uint256[] memory words,
        Tally memory tally
    ) private pure returns (uint256 n) {
        n = rows.length;
        if (n > _CHUNK_ROWS) revert EpochRewardsVerifierChunkTooLarge(k, n);
        for (uint256 i; i < n; ++i) {
            Row calldata row = rows[i];
            uint256 payee = row.payee;
            uint256 reward = row.reward;
            if (reward >= _REWARD_BOUND) revert EpochRewardsVerifierRewardTooLarge(k, i, reward);
            if (payee >= _PAYEE_BOUND) revert EpochRewardsVerifierPayeeTooLarge(k, i, payee);
            if (payee != 0) {
                credited[_entryOf(k, i, row, entries)] += reward;
                tally.paid += reward;
            }
            tally.rewards += reward;
            words[_PREFIX + 2 * i] = payee;
            words[_PREFIX + 2 * i + 1] = reward;
        }
    }

    /// @dev The entry a paid row names, which must exist and be its payee.
    function _entryOf(uint256 k, uint256 i, Row calldata row, Entry[] calldata entries)
        private
        pure
        returns (uint256 e)
    {
        e = row.entry;
        if (e >= entries.length) revert EpochRewardsVerifierEntryOutOfRange(k, i, e);
        Entry calldata entry = entries[e];
        uint256 expected = (uint256(entry.nodeId) << 160) | uint160(entry.account);
        if (row.payee != expected) revert EpochRewardsVerifierPayeeMismatch(k, i, row.payee, expected);
    }

    /// @dev c = keccak256(words[0 .. 7 + 2n]) mod r, and sum_j words[7 + j] c^j mod r (Horner).
    function _challengeAndEval(uint256[] memory words, uint256 rows)
        private
        pure
        returns (uint256 c, uint256 eval)
    {
        uint256 count = _PREFIX + 2 * rows;
        bytes32 digest;
        assembly ("memory-safe") {
            digest := keccak256(add(words, 0x20), shl(5, count))
        }
        c = uint256(digest) % _R;
        for (uint256 j = count; j > _PREFIX;) {
            unchecked {
                --j;
            }
            eval = addmod(mulmod(eval, c, _R), words[j], _R);
        }
    }

    /// @dev Rebuilds the tree of `epoch` over every entry, with its previous amount plus what the
    /// epoch credited it (each must end above zero).
    function _newRoot(uint64 epoch, Entry[] calldata entries, uint256[] memory credited)
        private
        pure
        returns (bytes32)
    {
        uint256 n = entries.length;
        bytes32[] memory nodes = new bytes32[](n);
        for (uint256 i; i < n; ++i) {
            Entry calldata entry = entries[i];
            uint256 amount = entry.previousCumulative + credited[i];
            if (amount == 0) revert EpochRewardsVerifierEmptyEntry(entry.nodeId);
            nodes[i] = _leaf(epoch, entry.nodeId, entry.account, amount);
        }
        return _root(nodes, n);
    }

    /// @dev One Groth16 check per chunk, with a fixed allowance each.
    function _checkProofs(
        uint64 epoch,
        Claim calldata claim,
        uint256[] memory challenges,
        uint256[] memory evals
    ) private view {
        Chunk[] calldata chunks = claim.chunks;
        uint256[9] memory signals;
        signals[3] = epoch;
        signals[5] = claim.pool;
        signals[6] = claim.totalScore;
        signals[7] = claim.threshold;
        uint256[2] memory a;
        uint256[2][2] memory b;
        uint256[2] memory c;
        uint256 needed = _GROTH16_GAS + _GROTH16_GAS / 63 + 5_000;
        for (uint256 k; k < chunks.length; ++k) {
            Chunk calldata chunk = chunks[k];
            uint256[8] calldata w = chunk.proof;
            (a[0], a[1]) = (w[0], w[1]);
            (b[0][0], b[0][1], b[1][0], b[1][1]) = (w[2], w[3], w[4], w[5]);
            (c[0], c[1]) = (w[6], w[7]);
            signals[0] = chunk.scoreCommitment;
            signals[1] = chunk.chunkScoreSum;
            signals[2] = evals[k];
            signals[4] = k;
            signals[8] = challenges[k];
            uint256 left = gasleft();
            if (left < needed) revert EpochRewardsVerifierGasTooLow(left, needed);
            if (!_chunkVerifier.verifyProof{gas: _GROTH16_GAS}(a, b, c, signals)) {
                revert EpochRewardsVerifierChunkRejected(k);
            }
        }
    }

    /// @dev keccak256(bytes.concat(keccak256(abi.encode(epoch, nodeId, account, amount)))),
    /// hashed in scratch memory past the free pointer (nothing allocated).
    function _leaf(uint64 epoch, uint64 nodeId, address account, uint256 amount)
        private
        pure
        returns (bytes32 leaf)
    {
        assembly ("memory-safe") {
            let p := mload(0x40)
            mstore(p, and(epoch, 0xffffffffffffffff))
            mstore(add(p, 0x20), and(nodeId, 0xffffffffffffffff))
            mstore(add(p, 0x40), and(account, 0xffffffffffffffffffffffffffffffffffffffff))
            mstore(add(p, 0x60), amount)
            mstore(0x00, keccak256(p, 0x80))
            leaf := keccak256(0x00, 0x20)
        }
    }

    /// @dev The root over `nodes[0 .. n)` (sorted pairs, an odd node moves up unchanged),
    /// built in place; bytes32(0) for no leaves.
    function _root(bytes32[] memory nodes, uint256 n) private pure returns (bytes32) {
        if (n == 0) return bytes32(0);
        while (n > 1) {
            uint256 half = n >> 1;
            for (uint256 i; i < half; ++i) {
                nodes[i] = Hashes.commutativeKeccak256(nodes[2 * i], nodes[2 * i + 1]);
            }
            if (n & 1 == 1) {
                nodes[half] = nodes[n - 1];
                ++half;
            }
            n = half;
        }
        return nodes[0];
    }
}
