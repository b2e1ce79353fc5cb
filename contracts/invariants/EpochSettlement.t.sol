// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {EpochSettlement} from "../src/EpochSettlement.sol";
import {MeritToken} from "../src/MeritToken.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";

import {Base} from "./Base.sol";
import {Stack} from "./Stack.sol";

/// @notice Random pool funding, epochs proposed and finalized with random rewards for four nodes
/// (claim trees of cumulative amounts), honest claims of the last two finalized epochs (repeats
/// included) and greedy claims above a node's leaf.
contract SettlementHandler is Base {
    uint256 internal constant NODES = 4;

    MeritToken internal immutable _token;
    EpochSettlement internal immutable _settlement;
    bytes32 internal immutable _key;
    address[NODES] public accounts = [address(0xC1), address(0xC2), address(0xC3), address(0xC4)];
    uint64[NODES] public nodeIds;

    uint256[NODES] public earned; // cumulative entitlement after the last finalized epoch
    uint256[NODES] public received;
    mapping(uint64 epoch => uint256[NODES] cumulative) internal _leaves;
    mapping(uint64 epoch => uint256 fees) public pools;
    uint256 public openPools; // fees in epochs not yet finalized
    uint256 public carry;
    uint256 public settled;
    uint256 public minted;
    uint256 public funded;
    uint256 public greedyPaid; // claims above the leaf that went through
    uint256 public stoppedAtPool; // claims refused because the settled total would not cover them
    uint256 public mismatches;

    constructor(MeritToken token_, NodeRegistry registry, EpochSettlement settlement_, bytes32 key) {
        _token = token_;
        _settlement = settlement_;
        _key = key;
        for (uint256 i; i < NODES; ++i) {
            uint256 minimum = registry.minStake();
            _token.faucet(accounts[i], minimum);
            vm.startPrank(accounts[i]);
            _token.approve(address(registry), minimum);
            nodeIds[i] = registry.register(keccak256("model"), "cid", minimum);
            vm.stopPrank();
        }
        _token.faucet(address(this), 1_000_000 ether);
        _token.approve(address(settlement_), type(uint256).max);
        _settlement.postBond(address(this), settlement_.settlerBond()); // this handler settles
    }

    function fund(uint256 ahead, uint256 amount) external {
        uint64 epoch = _settlement.lastFinalizedEpoch() + 1 + uint64(bound(ahead, 0, 2));
        amount = bound(amount, 1, 100 ether);
        _settlement.fund(epoch, amount);
        pools[epoch] += amount;
        openPools += amount;
        funded += amount;
    }

    /// @dev Propose the next epoch with random increments (up to 60 MRT a node, so the total
    /// may exceed the pool and carry: the difference is minted), then finalize it. One epoch in
    /// four promises one node more in its tree than `total` covers (HashVerifier binds only the
    /// root, where the Groth16 verifier binds the rows): the claims must still stop at the pool.
    function settle(uint256 seed, uint256 overpromise) external {
        uint64 epoch = _settlement.lastFinalizedEpoch() + 1;
        uint256[NODES] memory cumulative;
        uint256 total;
        for (uint256 i; i < NODES; ++i) {
            uint256 increment = bound(seed >> (64 * i), 0, 60 ether);
            if ((seed >> (64 * i + 60)) % 4 == 0) increment = 0;
            cumulative[i] = earned[i] + increment;
            total += increment;
        }
        if (overpromise % 4 == 0) {
            cumulative[(overpromise >> 2) % NODES] += bound(overpromise, 1, 500 ether);
        }
        bytes32 root = _root(epoch, cumulative);
        bytes memory proof = abi.encode(keccak256(abi.encode(_key, epoch, root, total)));
        uint256[] memory words = new uint256[](0);
        _settlement.propose(epoch, root, total, "audit", 0, words, proof);
        vm.warp(block.timestamp + _settlement.challengeWindow());
        _settlement.finalize(epoch, 0, words);

        uint256 pool = pools[epoch] + carry;
        openPools -= pools[epoch];
        if (total > pool) {
            minted += total - pool;
            carry = 0;
        } else {
            carry = pool - total;
        }
        settled += total;
        earned = cumulative;
        _leaves[epoch] = cumulative;
    }

    function claim(uint256 who, uint256 back) external {
        uint256 i = bound(who, 0, NODES - 1);
        uint64 last = _settlement.lastFinalizedEpoch();
        uint64 epoch = last - uint64(bound(back, 0, last > 1 ? 1 : 0));
        if (epoch == 0) return;
        uint256 cumulative = _leaves[epoch][i];
        uint256 already = received[i];
        uint256 before = _token.balanceOf(accounts[i]);
        try _settlement.claim(
            epoch, nodeIds[i], accounts[i], cumulative, _proof(epoch, _leaves[epoch], i)
        ) returns (uint256 paid) {
            uint256 got = _token.balanceOf(accounts[i]) - before;
            if (cumulative <= already || paid != cumulative - already || got != paid) {
                ++mismatches;
            }
            received[i] = cumulative;
        } catch {
            // a claim is refused only when there is nothing new or the pool would not cover it
            uint256 room = _settlement.totalSettled() - _settlement.totalClaimed();
            if (cumulative > already && cumulative - already <= room) ++mismatches;
            if (cumulative > already && cumulative - already > room) ++stoppedAtPool;
        }
    }

    function greedyClaim(uint256 who, uint256 extra) external {
        uint256 i = bound(who, 0, NODES - 1);
        uint64 epoch = _settlement.lastFinalizedEpoch();
        if (epoch == 0) return;
        uint256 asked = _leaves[epoch][i] + bound(extra, 1, 100 ether);
        try _settlement.claim(
            epoch, nodeIds[i], accounts[i], asked, _proof(epoch, _leaves[epoch], i)
        ) returns (uint256) {
            ++greedyPaid;
        } catch {}
    }

    function bondHeld() external view returns (uint256 bond) {
        (bond,) = _settlement.bondOf(address(this));
    }

    // --- the claim tree of four leaves (OpenZeppelin MerkleProof: pairs hashed sorted) --------

    function _leaf(uint64 epoch, uint256 i, uint256 cumulative) private view returns (bytes32) {
        return keccak256(
            bytes.concat(keccak256(abi.encode(epoch, nodeIds[i], accounts[i], cumulative)))
        );
    }

    function _pair(bytes32 a, bytes32 b) private pure returns (bytes32) {
        return a < b ? keccak256(abi.encode(a, b)) : keccak256(abi.encode(b, a));
    }

    function _root(uint64 epoch, uint256[NODES] memory c) private view returns (bytes32) {
        return _pair(
            _pair(_leaf(epoch, 0, c[0]), _leaf(epoch, 1, c[1])),
            _pair(_leaf(epoch, 2, c[2]), _leaf(epoch, 3, c[3]))
        );
    }

    function _proof(uint64 epoch, uint256[NODES] memory c, uint256 i)
        private
        view
        returns (bytes32[] memory proof)
    {
        proof = new bytes32[](2);
        uint256 sibling = i ^ 1;
        uint256 other = i < 2 ? 2 : 0;
        proof[0] = _leaf(epoch, sibling, c[sibling]);
        proof[1] = _pair(_leaf(epoch, other, c[other]), _leaf(epoch, other + 1, c[other + 1]));
    }
}

/// @notice EpochSettlement: claims never exceed what was settled, no node is paid beyond its
/// cumulative entitlement, a claim above the leaf is never paid, and the settlement's balance is
/// exactly open pools + carry + settled - claimed + the settler's bond.
contract EpochSettlementInvariants is Stack {
    SettlementHandler internal handler;

    function setUp() public {
        deployStack();
        handler = new SettlementHandler(token, registry, settlement, VERIFIER_KEY);
        settlement.grantRole(settlement.SETTLER_ROLE(), address(handler));
        targetContract(address(handler));
    }

    function invariant_claimsNeverExceedThePool() public view {
        assertLe(settlement.totalClaimed(), settlement.totalSettled(), "claimed vs settled");
        assertEq(settlement.totalSettled(), handler.settled(), "settled vs model");
        uint256 received;
        for (uint256 i; i < 4; ++i) {
            assertLe(handler.received(i), handler.earned(i), "received vs earned");
            assertEq(settlement.claimedOf(handler.nodeIds(i)), handler.received(i), "claimedOf");
            assertEq(token.balanceOf(handler.accounts(i)), handler.received(i), "node balance");
            received += handler.received(i);
        }
        assertEq(settlement.totalClaimed(), received, "claimed vs received");
        assertEq(handler.greedyPaid(), 0, "claims above the leaf paid");
    }

    function invariant_balanceIsPoolsCarrySettledMinusClaimedAndBond() public view {
        assertEq(settlement.carry(), handler.carry(), "carry vs model");
        assertEq(
            token.balanceOf(address(settlement)),
            handler.openPools() + settlement.carry() + settlement.totalSettled()
                - settlement.totalClaimed() + handler.bondHeld(),
            "settlement balance"
        );
        assertEq(
            handler.funded() + handler.minted(),
            handler.openPools() + settlement.carry() + settlement.totalSettled(),
            "pools in = settled + carry + open"
        );
    }

    function invariant_handlerChecksHeld() public view {
        assertEq(handler.mismatches(), 0, "handler mismatches");
    }
}
