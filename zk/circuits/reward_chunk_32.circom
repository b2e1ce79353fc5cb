pragma circom 2.1.0;

include "reward_chunk.circom";

// Public signals, in snarkjs order: scoreCommitment, chunkScoreSum, rewardsEval (outputs), then
// epoch, chunkIndex, pool, totalScore, threshold, challenge.
component main {public [epoch, chunkIndex, pool, totalScore, threshold, challenge]} = RewardChunk(32);
