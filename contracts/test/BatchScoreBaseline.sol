// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title BatchScoreBaseline (TEST ONLY: gas bench peer)
/// @notice Reliable-dRAG's reputation scheme, for the gas bench: an updater writes one score per
/// node address in one batched call. Scores carry no nonce (a replayed batch is accepted).
contract BatchScoreBaseline {
    address private immutable _updater;
    mapping(address node => uint256 score) public scoreOf;

    event ScoresUpdated(uint256 count);

    error BatchScoreBaselineUnauthorized(address caller);
    error BatchScoreBaselineLengthMismatch();

    constructor(address updater) {
        _updater = updater;
    }

    function updateScores(address[] calldata nodes, uint256[] calldata scores) external {
        if (msg.sender != _updater) revert BatchScoreBaselineUnauthorized(msg.sender);
        uint256 n = nodes.length;
        if (scores.length != n) revert BatchScoreBaselineLengthMismatch();
        for (uint256 i; i < n; ++i) {
            scoreOf[nodes[i]] = scores[i];
        }
        emit ScoresUpdated(n);
    }
}
