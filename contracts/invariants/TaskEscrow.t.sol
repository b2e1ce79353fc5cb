// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {EpochSettlement} from "../src/EpochSettlement.sol";
import {MeritToken} from "../src/MeritToken.sol";
import {TaskEscrow} from "../src/TaskEscrow.sol";

import {Base} from "./Base.sol";
import {Stack} from "./Stack.sol";

/// @notice Random fund / refund / reclaim / settleTasks / time jumps by three payers over six
/// task ids (so ids collide across payers), keeping a plain model of every held fee.
contract EscrowHandler is Base {
    uint256 public constant START = 1_000 ether;
    uint256 internal constant TASKS = 6;

    MeritToken internal immutable _token;
    TaskEscrow internal immutable _escrow;
    address[3] public payers = [address(0xA1), address(0xA2), address(0xA3)];

    mapping(uint256 payer => mapping(bytes32 taskId => uint256 fee)) public heldFee;
    uint256 public ghostHeld;
    uint256 public ghostPooled;
    uint256[3] public funded;
    uint256[3] public returned;
    uint256 public mismatches; // a handler check that failed (a revert would only drop the call)

    constructor(MeritToken token_, TaskEscrow escrow_) {
        _token = token_;
        _escrow = escrow_;
        for (uint256 i; i < 3; ++i) {
            _token.faucet(payers[i], START);
            vm.prank(payers[i]);
            _token.approve(address(escrow_), type(uint256).max);
        }
    }

    function fund(uint256 who, uint256 task, uint256 amount) external {
        uint256 i = bound(who, 0, 2);
        bytes32 id = _task(task);
        (uint256 low, uint256 high) = _escrow.feeRange();
        amount = bound(amount, low, high);
        vm.prank(payers[i]);
        _escrow.fund(id, amount);
        if (heldFee[i][id] != 0) ++mismatches; // a held fee was funded twice
        heldFee[i][id] = amount;
        ghostHeld += amount;
        funded[i] += amount;
    }

    function refund(uint256 who, uint256 task) external {
        uint256 i = bound(who, 0, 2);
        bytes32 id = _task(task);
        uint256 before = _token.balanceOf(payers[i]);
        _escrow.refund(payers[i], id); // this handler holds OPERATOR_ROLE
        _paidBack(i, id, _token.balanceOf(payers[i]) - before);
    }

    function reclaim(uint256 who, uint256 task) external {
        uint256 i = bound(who, 0, 2);
        bytes32 id = _task(task);
        uint256 before = _token.balanceOf(payers[i]);
        vm.prank(payers[i]);
        _escrow.reclaim(id);
        _paidBack(i, id, _token.balanceOf(payers[i]) - before);
    }

    /// @dev Up to four (payer, task) entries, repeats and unfunded ones included.
    function settle(uint64 epoch, uint256 seed, uint256 count) external {
        epoch = uint64(bound(epoch, 1, 3));
        uint256 n = bound(count, 1, 4);
        address[] memory who = new address[](n);
        bytes32[] memory ids = new bytes32[](n);
        uint256 expected;
        for (uint256 k; k < n; ++k) {
            uint256 i = (seed >> (8 * k)) % 3;
            bytes32 id = _task(seed >> (8 * k + 2));
            who[k] = payers[i];
            ids[k] = id;
            expected += heldFee[i][id];
            ghostHeld -= heldFee[i][id];
            heldFee[i][id] = 0;
        }
        uint256 moved = _escrow.settleTasks(epoch, who, ids);
        if (moved != expected) ++mismatches;
        ghostPooled += moved;
    }

    function wait(uint256 seconds_) external {
        vm.warp(block.timestamp + bound(seconds_, 1, 2 days));
    }

    function _paidBack(uint256 i, bytes32 id, uint256 paid) private {
        if (paid != heldFee[i][id] || paid == 0) ++mismatches;
        ghostHeld -= heldFee[i][id];
        heldFee[i][id] = 0;
        returned[i] += paid;
    }

    function _task(uint256 seed) private pure returns (bytes32) {
        return keccak256(abi.encode("task", seed % TASKS));
    }
}

/// @notice TaskEscrow: held() is the escrow's token balance, no payer takes out more than it put
/// in, and every token is with a payer, in the escrow or in an epoch pool.
contract TaskEscrowInvariants is Stack {
    EscrowHandler internal handler;

    function setUp() public {
        deployStack();
        handler = new EscrowHandler(token, escrow);
        escrow.grantRole(escrow.OPERATOR_ROLE(), address(handler));
        targetContract(address(handler));
    }

    function invariant_heldIsTheEscrowBalance() public view {
        assertEq(escrow.held(), token.balanceOf(address(escrow)), "held vs balance");
        assertEq(escrow.held(), handler.ghostHeld(), "held vs model");
    }

    function invariant_noPayerTakesOutMoreThanItPutIn() public view {
        for (uint256 i; i < 3; ++i) {
            address payer = handler.payers(i);
            assertLe(handler.returned(i), handler.funded(i), "returned vs funded");
            assertLe(token.balanceOf(payer), handler.START(), "payer balance");
            assertEq(
                token.balanceOf(payer) + handler.funded(i) - handler.returned(i),
                handler.START(),
                "payer balance vs model"
            );
        }
    }

    function invariant_everyTokenIsAccountedFor() public view {
        uint256 payers;
        for (uint256 i; i < 3; ++i) payers += token.balanceOf(handler.payers(i));
        assertEq(token.balanceOf(address(settlement)), handler.ghostPooled(), "pooled");
        assertEq(
            payers + escrow.held() + handler.ghostPooled(), 3 * handler.START(), "total supply"
        );
        assertEq(token.totalSupply(), 3 * handler.START(), "minted");
    }

    function invariant_handlerChecksHeld() public view {
        assertEq(handler.mismatches(), 0, "handler mismatches");
    }
}
