// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IEpochRewardsVerifier} from "./interfaces/IEpochRewardsVerifier.sol";
import {IEpochVerifier} from "./interfaces/IEpochVerifier.sol";
import {INodeRegistry} from "./interfaces/INodeRegistry.sol";
import {IRewardChunkVerifier} from "./interfaces/IRewardChunkVerifier.sol";

/// @title EpochRewardsVerifier
/// @notice EpochSettlement's verifier: accepts an epoch only when every chunk's Groth16 proof
/// holds for rows the chain pays, the rows add up to the pool, the paid ones to the proposal's
/// total, every paid account is the registered operator of the node it is paid for, and the
/// claim root is the previous epoch's tree plus exactly those rewards. Each chunk's challenge
/// is bound to the chain id and to the calling settlement contract, so a proof made for one
/// deployment is never accepted by another.
/// @dev Reads the proof in place from calldata (no `abi.decode` copy). Memory holds two words
/// per entry (the tree being built and the amounts credited), two per chunk (its challenge and
/// evaluation) and one 71-word buffer for the challenge hash, so memory cost stays linear in
/// practice. Costs, measured on anvil (bench/zk_verify.py), are bounded by `verificationGas`.
contract EpochRewardsVerifier is IEpochRewardsVerifier {
    /// @dev BN254 scalar field order r.
    uint256 private constant _R =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 private constant _CHUNK_ROWS = 32;
    /// @dev Words before the rows in the challenge preimage: chain id, settlement (the caller),
    /// epoch, chunk, pool, total score, threshold, score commitment, chunk score sum.
    uint256 private constant _PREFIX = 9;
    uint256 private constant _REWARD_BOUND = 1 << 128;
    uint256 private constant _PAYEE_BOUND = 1 << 224;

    /// @dev Gas given to each Groth16 check (4 pairings + 9 scalar multiplications need about
    /// 245k; the rest is margin).
    uint256 private constant _GROTH16_GAS = 300_000;
    /// @dev Left before each Groth16 call: its allowance, the 1/64 withheld from it, the call.
    uint256 private constant _GROTH16_NEEDED = _GROTH16_GAS + _GROTH16_GAS / 63 + 5_000;
    /// @dev The gas bound, from anvil measurements with margin: the fixed part (about 5k), per
    /// chunk its Groth16 call plus about 10k (32 rows read, checked and hashed, the evaluation,
    /// the call's arguments), per entry about 1.2k (two leaves, the nodes of two trees, memory;
    /// it grows slowly with memory, about 1.25k at 4000 entries) plus, per credited entry, the
    /// registry lookup of its operator (a cold storage read and a warm call, about 3k; the base covers
    /// the first, cold, call).
    uint256 private constant _BASE_GAS = 30_000;
    uint256 private constant _CHUNK_GAS = _GROTH16_NEEDED + 20_000;
    uint256 private constant _ENTRY_GAS = 5_000;

    IRewardChunkVerifier private immutable _chunkVerifier;
    INodeRegistry private immutable _registry;

    /// @param chunkVerifier_ The generated Groth16 verifier of one chunk (must be a contract).
    /// @param registry_ The NodeRegistry whose operators are the only accounts paid (a contract).
    constructor(IRewardChunkVerifier chunkVerifier_, INodeRegistry registry_) {
        if (address(chunkVerifier_).code.length == 0) {
            revert EpochRewardsVerifierNotContract(address(chunkVerifier_));
        }
        if (address(registry_).code.length == 0) {
            revert EpochRewardsVerifierNotContract(address(registry_));
        }
        _chunkVerifier = chunkVerifier_;
        _registry = registry_;
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
        _requireOperators(entries, credited);

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

    /// @inheritdoc IEpochRewardsVerifier
    function registry() external view returns (address) {
        return address(_registry);
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

    /// @dev Checks the entries (node id order, clean fields) and rebuilds the tree of
    /// `previousEpoch` from the entries with a previous amount (bytes32(0) when there are none).
    function _previousRoot(uint64 previousEpoch, Entry[] calldata entries)
        private
        pure
        returns (bytes32)
    {
        bytes32[] memory nodes = new bytes32[](entries.length);
        uint256 leaves;
        uint256 unordered; // 1 + the index of the first entry out of order, 0 if none
        assembly ("memory-safe") {
            let scratch := mload(0x40)
            let out := add(nodes, 0x20)
            let last := 0
            for { let i := 0 } lt(i, entries.length) { i := add(i, 1) } {
                let q := add(entries.offset, mul(i, 0x60))
                let nodeId := calldataload(q)
                let account := calldataload(add(q, 0x20))
                // not an ABI encoding of (uint64, address, ...): revert without data, as
                // abi.decode does
                if or(shr(64, nodeId), shr(160, account)) { revert(0, 0) }
                if and(gt(i, 0), iszero(gt(nodeId, last))) {
                    unordered := add(i, 1)
                    break
                }
                last := nodeId
                let amount := calldataload(add(q, 0x40))
                if amount {
                    mstore(scratch, previousEpoch)
                    mstore(add(scratch, 0x20), nodeId)
                    mstore(add(scratch, 0x40), account)
                    mstore(add(scratch, 0x60), amount)
                    mstore(0x00, keccak256(scratch, 0x80))
                    mstore(add(out, shl(5, leaves)), keccak256(0x00, 0x20))
                    leaves := add(leaves, 1)
                }
            }
        }
        if (unordered != 0) {
            revert EpochRewardsVerifierEntriesOutOfOrder(unordered - 1, entries[unordered - 1].nodeId);
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
        view
        returns (uint256[] memory challenges, uint256[] memory evals)
    {
        Chunk[] calldata chunks = claim.chunks;
        challenges = new uint256[](chunks.length);
        evals = new uint256[](chunks.length);
        uint256[] memory words = new uint256[](_PREFIX + 2 * _CHUNK_ROWS);
        words[0] = block.chainid;
        words[1] = uint256(uint160(msg.sender));
        words[2] = epoch;
        words[4] = claim.pool;
        words[5] = claim.totalScore;
        words[6] = claim.threshold;
        Tally memory tally;
        for (uint256 k; k < chunks.length; ++k) {
            Chunk calldata chunk = chunks[k];
            words[3] = k;
            words[7] = chunk.scoreCommitment;
            words[8] = chunk.chunkScoreSum;
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
        uint256 credits;
        uint256 out;
        assembly ("memory-safe") {
            credits := add(credited, 0x20)
            out := add(words, add(0x20, shl(5, _PREFIX)))
        }
        (uint256 rewardSum, uint256 paid, uint256 failed) = _scanRows(rows, entries, credits, out);
        if (failed != 0) _refuseRow(k, failed - 1, rows[failed - 1], entries);
        tally.rewards += rewardSum;
        tally.paid += paid;
    }

    /// @dev The loop of `_rows` over raw pointers: `credits` and `out` point at the data of
    /// `credited` and at `words[_PREFIX]`. `failed` is 1 + the index of the first bad row (0: none).
    /// No sum can overflow: rewards are below 2^128 and calldata holds far fewer than 2^64 rows.
    function _scanRows(Row[] calldata rows, Entry[] calldata entries, uint256 credits, uint256 out)
        private
        pure
        returns (uint256 rewardSum, uint256 paid, uint256 failed)
    {
        assembly ("memory-safe") {
            for { let i := 0 } lt(i, rows.length) { i := add(i, 1) } {
                let p := add(rows.offset, mul(i, 0x60))
                let payee := calldataload(p)
                let reward := calldataload(add(p, 0x20))
                // reward >= 2^128 or payee >= 2^224
                if or(shr(128, reward), shr(224, payee)) {
                    failed := add(i, 1)
                    break
                }
                if payee {
                    let e := calldataload(add(p, 0x40))
                    if iszero(lt(e, entries.length)) {
                        failed := add(i, 1)
                        break
                    }
                    // entries are clean (checked by _previousRoot)
                    let q := add(entries.offset, mul(e, 0x60))
                    if iszero(eq(payee, or(shl(160, calldataload(q)), calldataload(add(q, 0x20))))) {
                        failed := add(i, 1)
                        break
                    }
                    let slot := add(credits, shl(5, e))
                    mstore(slot, add(mload(slot), reward))
                    paid := add(paid, reward)
                }
                rewardSum := add(rewardSum, reward)
                mstore(add(out, shl(6, i)), payee)
                mstore(add(out, add(shl(6, i), 0x20)), reward)
            }
        }
    }

    /// @dev Reverts with the error of row `i` of chunk `k`, the first that failed in `_rows`.
    function _refuseRow(uint256 k, uint256 i, Row calldata row, Entry[] calldata entries)
        private
        pure
    {
        uint256 payee = row.payee;
        uint256 reward = row.reward;
        if (reward >= _REWARD_BOUND) revert EpochRewardsVerifierRewardTooLarge(k, i, reward);
        if (payee >= _PAYEE_BOUND) revert EpochRewardsVerifierPayeeTooLarge(k, i, payee);
        uint256 e = row.entry;
        if (e >= entries.length) revert EpochRewardsVerifierEntryOutOfRange(k, i, e);
        Entry calldata entry = entries[e];
        revert EpochRewardsVerifierPayeeMismatch(
            k, i, payee, (uint256(entry.nodeId) << 160) | uint160(entry.account)
        );
    }

    /// @dev c = keccak256(words[0 .. 9 + 2n]) mod r, and sum_j words[9 + j] c^j mod r (Horner,
    /// one row (reward, then payee) per step).
    function _challengeAndEval(uint256[] memory words, uint256 rows)
        private
        pure
        returns (uint256 c, uint256 eval)
    {
        assembly ("memory-safe") {
            let r := _R // once: the optimizer may fetch a 32-byte constant with CODECOPY
            let start := add(words, 0x20)
            let end := add(start, shl(5, add(_PREFIX, shl(1, rows))))
            c := mod(keccak256(start, sub(end, start)), r)
            let first := add(start, shl(5, _PREFIX))
            for { let p := end } gt(p, first) { p := sub(p, 0x40) } {
                eval := addmod(mulmod(eval, c, r), mload(sub(p, 0x20)), r)
                eval := addmod(mulmod(eval, c, r), mload(sub(p, 0x40)), r)
            }
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
        uint256 failed; // 1 + the index of the first entry ending empty (or overflowing)
        assembly ("memory-safe") {
            let scratch := mload(0x40)
            let out := add(nodes, 0x20)
            let credits := add(credited, 0x20)
            for { let i := 0 } lt(i, n) { i := add(i, 1) } {
                let q := add(entries.offset, mul(i, 0x60))
                let previous := calldataload(add(q, 0x40))
                let amount := add(previous, mload(add(credits, shl(5, i))))
                if or(iszero(amount), lt(amount, previous)) {
                    failed := add(i, 1)
                    break
                }
                mstore(scratch, epoch)
                calldatacopy(add(scratch, 0x20), q, 0x40) // nodeId, account (clean)
                mstore(add(scratch, 0x60), amount)
                mstore(0x00, keccak256(scratch, 0x80))
                mstore(add(out, shl(5, i)), keccak256(0x00, 0x20))
            }
        }
        if (failed != 0) {
            Entry calldata entry = entries[failed - 1];
            // an overflow panics here, as checked arithmetic does
            if (entry.previousCumulative + credited[failed - 1] == 0) {
                revert EpochRewardsVerifierEmptyEntry(entry.nodeId);
            }
        }
        return _root(nodes, n);
    }

    /// @dev Every entry this epoch credits is paid to the account that operates its node in the
    /// registry (entries carried over unchanged were checked when they were credited).
    function _requireOperators(Entry[] calldata entries, uint256[] memory credited) private view {
        uint256 n = entries.length;
        for (uint256 i; i < n; ++i) {
            if (credited[i] == 0) continue;
            Entry calldata entry = entries[i];
            uint64 registered = _registry.nodeIdOf(entry.account);
            if (registered != entry.nodeId) {
                revert EpochRewardsVerifierPayeeNotOperator(entry.nodeId, entry.account, registered);
            }
        }
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
        uint256 needed = _GROTH16_NEEDED;
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

    /// @dev The root over `nodes[0 .. n)` (sorted pairs, an odd node moves up unchanged),
    /// built in place; bytes32(0) for no leaves.
    function _root(bytes32[] memory nodes, uint256 n) private pure returns (bytes32 root) {
        if (n == 0) return bytes32(0);
        assembly ("memory-safe") {
            let base := add(nodes, 0x20)
            for {} gt(n, 1) {} {
                let half := shr(1, n)
                for { let i := 0 } lt(i, half) { i := add(i, 1) } {
                    let a := mload(add(base, shl(6, i)))
                    let b := mload(add(base, add(shl(6, i), 0x20)))
                    if gt(a, b) {
                        let t := a
                        a := b
                        b := t
                    }
                    mstore(0x00, a)
                    mstore(0x20, b)
                    mstore(add(base, shl(5, i)), keccak256(0x00, 0x40))
                }
                if and(n, 1) {
                    mstore(add(base, shl(5, half)), mload(add(base, shl(5, sub(n, 1)))))
                    half := add(half, 1)
                }
                n := half
            }
            root := mload(base)
        }
    }
}
