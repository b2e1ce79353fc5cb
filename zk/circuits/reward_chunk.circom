pragma circom 2.1.0;

include "../../node_modules/circomlib/circuits/bitify.circom";
include "../../node_modules/circomlib/circuits/comparators.circom";
include "../../node_modules/circomlib/circuits/poseidon.circom";

// One chunk of an epoch's reward split (see README.md for the statement and the binding argument).
//
// The epoch's pool is apportioned over every paid row's score by largest remainder:
//   quotient_i = floor(pool * score_i / totalScore), remainder_i = pool * score_i mod totalScore,
// and the units rounding leaves go one each to the rows first in the order
//   (eligible first, larger remainder first, smaller global row index first).
// A chunk proves its rows' rewards given the public threshold key: a row gets the extra unit iff
// its key >= threshold. The verifier contract checks that the rewards of all chunks add up to the
// pool, which pins the threshold to the one the protocol defines.
//
// Bounds: pool, score, quotient < 2^96; totalScore, remainder < 2^128; nodeId < 2^64;
// so pool * score < 2^192 and quotient * totalScore + remainder < 2^225: nothing wraps mod p.
template RewardChunk(N) {
    // public
    signal input epoch;
    signal input chunkIndex;
    signal input pool;
    signal input totalScore;
    signal input threshold;
    signal input challenge;
    // public outputs (snarkjs lists them first among the public signals)
    signal output scoreCommitment;
    signal output chunkScoreSum;
    signal output rewardsEval;
    // private: one row per node, padding rows all zero
    signal input nodeId[N];
    signal input eligible[N];
    signal input score[N];
    signal input payee[N];  // chainNodeId * 2^160 + account; 0 when the node is not paid on chain

    component poolBits = Num2Bits(96);
    poolBits.in <== pool;
    component totalBits = Num2Bits(128);
    totalBits.in <== totalScore;
    component thresholdBits = Num2Bits(162);
    thresholdBits.in <== threshold;
    component chunkBits = Num2Bits(24);
    chunkBits.in <== chunkIndex;

    signal quotient[N];
    signal remainder[N];
    signal product[N];
    signal quotientTimesTotal[N];
    signal reward[N];
    component idBits[N];
    component scoreBits[N];
    component quotientBits[N];
    component remainderBits[N];
    component belowTotal[N];
    component getsUnit[N];
    var scoreSum = 0;
    for (var i = 0; i < N; i++) {
        idBits[i] = Num2Bits(64);
        idBits[i].in <== nodeId[i];
        eligible[i] * (eligible[i] - 1) === 0;
        scoreBits[i] = Num2Bits(96);
        scoreBits[i].in <== score[i];
        scoreSum += score[i];

        product[i] <== pool * score[i];
        quotient[i] <-- product[i] \ totalScore;
        remainder[i] <-- product[i] % totalScore;
        quotientTimesTotal[i] <== quotient[i] * totalScore;
        product[i] === quotientTimesTotal[i] + remainder[i];
        quotientBits[i] = Num2Bits(96);
        quotientBits[i].in <== quotient[i];
        remainderBits[i] = Num2Bits(128);
        remainderBits[i].in <== remainder[i];
        belowTotal[i] = Num2Bits(128);  // remainder < totalScore
        belowTotal[i].in <== totalScore - 1 - remainder[i];

        getsUnit[i] = GreaterEqThan(162);
        getsUnit[i].in[0] <== eligible[i] * (1 << 161) + remainder[i] * (1 << 32)
            + (1 << 32) - 1 - (chunkIndex * N + i);
        getsUnit[i].in[1] <== threshold;
        reward[i] <== quotient[i] + getsUnit[i].out;
    }
    chunkScoreSum <== scoreSum;

    // Poseidon chain over (epoch, chunkIndex) then each row's packed (nodeId, eligible, score)
    // and payee, fifteen field elements per permutation.
    var M = 2 * N;
    var B = (M + 14) \ 15;
    component hash[B];
    for (var b = 0; b < B; b++) {
        hash[b] = Poseidon(16);
        if (b == 0) {
            hash[b].inputs[0] <== epoch * (1 << 24) + chunkIndex;
        } else {
            hash[b].inputs[0] <== hash[b - 1].out;
        }
        for (var k = 0; k < 15; k++) {
            var e = b * 15 + k;
            if (e < M) {
                var row = e \ 2;
                if (e % 2 == 0) {
                    hash[b].inputs[k + 1] <== nodeId[row] * (1 << 97) + eligible[row] * (1 << 96) + score[row];
                } else {
                    hash[b].inputs[k + 1] <== payee[row];
                }
            } else {
                hash[b].inputs[k + 1] <== 0;
            }
        }
    }
    scoreCommitment <== hash[B - 1].out;

    // rewardsEval = sum_i payee_i * c^(2i) + reward_i * c^(2i+1): binds the rows the contract
    // pays (it computes the same sum from its calldata, with c drawn from a hash of that calldata).
    signal power[M];
    signal term[M];
    power[0] <== 1;
    for (var e = 1; e < M; e++) {
        power[e] <== power[e - 1] * challenge;
    }
    var acc = 0;
    for (var i = 0; i < N; i++) {
        term[2 * i] <== payee[i] * power[2 * i];
        term[2 * i + 1] <== reward[i] * power[2 * i + 1];
        acc += term[2 * i] + term[2 * i + 1];
    }
    rewardsEval <== acc;
}
