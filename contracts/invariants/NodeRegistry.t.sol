// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {MeritToken} from "../src/MeritToken.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";

import {Base} from "./Base.sol";
import {Stack} from "./Stack.sol";

/// @notice Random register / stake / requestUnstake / withdraw / slash / time jumps by four
/// operators; the slash amounts reach past what a node holds.
contract RegistryHandler is Base {
    uint256 public constant START = 2_000 ether;
    address public constant TREASURY = address(0x7EA5);

    MeritToken internal immutable _token;
    NodeRegistry internal immutable _registry;
    address[4] public operators = [address(0xB1), address(0xB2), address(0xB3), address(0xB4)];
    uint256[4] public slashedFrom;
    uint256 public slashed;
    uint256 public overSlashes; // a slash that took more than the node's stake and unbonding
    uint256 public mismatches;

    constructor(MeritToken token_, NodeRegistry registry_) {
        _token = token_;
        _registry = registry_;
        for (uint256 i; i < 4; ++i) {
            _token.faucet(operators[i], START);
            vm.prank(operators[i]);
            _token.approve(address(registry_), type(uint256).max);
        }
    }

    function register(uint256 who, uint256 amount) external {
        uint256 i = bound(who, 0, 3);
        amount = bound(amount, _registry.minStake() - 1, 600 ether);
        vm.prank(operators[i]);
        _registry.register(keccak256("model"), "cid", amount);
    }

    function stake(uint256 who, uint256 amount) external {
        uint256 i = bound(who, 0, 3);
        vm.prank(operators[i]);
        _registry.stake(bound(amount, 1, 300 ether));
    }

    function requestUnstake(uint256 who, uint256 amount) external {
        uint256 i = bound(who, 0, 3);
        uint64 node = _registry.nodeIdOf(operators[i]);
        uint256 held = node == 0 ? 0 : _registry.stakeOf(node);
        vm.prank(operators[i]);
        _registry.requestUnstake(bound(amount, 1, held + 1));
    }

    function withdraw(uint256 who) external {
        uint256 i = bound(who, 0, 3);
        uint64 node = _registry.nodeIdOf(operators[i]);
        uint256 before = _token.balanceOf(operators[i]);
        (uint256 unbonding,) = node == 0 ? (0, 0) : _registry.unbondingOf(node);
        vm.prank(operators[i]);
        uint256 amount = _registry.withdraw();
        if (amount != unbonding || _token.balanceOf(operators[i]) - before != amount) {
            ++mismatches;
        }
    }

    function slash(uint256 who, uint256 amount) external {
        uint256 i = bound(who, 0, 3);
        uint64 node = _registry.nodeIdOf(operators[i]);
        if (node == 0) return;
        (uint256 unbonding,) = _registry.unbondingOf(node);
        uint256 held = _registry.stakeOf(node) + unbonding;
        amount = bound(amount, 1, held + 50 ether);
        uint256 before = _token.balanceOf(TREASURY);
        try _registry.slash(node, amount, "evidence") {
            // this handler holds SETTLER_ROLE
            if (amount > held) ++overSlashes;
            if (_token.balanceOf(TREASURY) - before != amount) ++mismatches;
            slashedFrom[i] += amount;
            slashed += amount;
        } catch {
            if (amount <= held) ++mismatches; // refused a slash it should have taken
        }
    }

    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 4 days));
    }
}

/// @notice NodeRegistry: totalStaked + totalUnbonding is the registry's token balance and the sum
/// of the nodes' numbers; a slash never takes more than the node's stake and unbonding; the
/// treasury holds exactly what was slashed; an operator's tokens are all accounted for.
contract NodeRegistryInvariants is Stack {
    RegistryHandler internal handler;

    function setUp() public {
        deployStack();
        handler = new RegistryHandler(token, registry);
        registry.grantRole(registry.SETTLER_ROLE(), address(handler));
        targetContract(address(handler));
    }

    function invariant_totalsAreTheRegistryBalance() public view {
        uint256 staked;
        uint256 unbonding;
        for (uint64 node = 1; node <= registry.nodeCount(); ++node) {
            (uint256 u,) = registry.unbondingOf(node);
            staked += registry.stakeOf(node);
            unbonding += u;
        }
        assertEq(registry.totalStaked(), staked, "totalStaked vs nodes");
        assertEq(registry.totalUnbonding(), unbonding, "totalUnbonding vs nodes");
        assertEq(
            registry.totalStaked() + registry.totalUnbonding(),
            token.balanceOf(address(registry)),
            "totals vs balance"
        );
    }

    function invariant_slashNeverExceedsStakeAndUnbonding() public view {
        assertEq(handler.overSlashes(), 0, "over-slashes");
        assertEq(token.balanceOf(TREASURY), handler.slashed(), "treasury vs slashed");
    }

    function invariant_operatorTokensAreAccountedFor() public view {
        for (uint256 i; i < 4; ++i) {
            address operator = handler.operators(i);
            uint64 node = registry.nodeIdOf(operator);
            uint256 held;
            if (node != 0) {
                (uint256 u,) = registry.unbondingOf(node);
                held = registry.stakeOf(node) + u;
            }
            assertEq(
                token.balanceOf(operator) + held + handler.slashedFrom(i),
                handler.START(),
                "operator balance + held + slashed"
            );
        }
    }

    function invariant_handlerChecksHeld() public view {
        assertEq(handler.mismatches(), 0, "handler mismatches");
    }
}
