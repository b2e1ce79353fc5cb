// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @notice The forge cheatcodes these tests use (forge-std is not vendored; nothing downloads).
interface Vm {
    function prank(address sender) external;
    function startPrank(address sender) external;
    function stopPrank() external;
    function warp(uint256 timestamp) external;
    function label(address account, string calldata name) external;
}

/// @notice What a handler or an invariant test needs: the cheatcodes, `bound` and the target list
/// forge reads (`targetContracts`, as forge-std's StdInvariant exposes it).
abstract contract Base {
    Vm internal constant vm = Vm(address(uint160(uint256(keccak256("hevm cheat code")))));

    address[] private _targets;

    /// @dev x mapped into [min, max] (both included), uniformly enough for fuzzing.
    function bound(uint256 x, uint256 min, uint256 max) internal pure returns (uint256) {
        require(min <= max, "bound: min > max");
        if (min == 0 && max == type(uint256).max) return x;
        return min + x % (max - min + 1);
    }

    function targetContract(address target) internal {
        _targets.push(target);
    }

    /// @notice The contracts forge calls at random between the invariant checks.
    function targetContracts() public view returns (address[] memory) {
        return _targets;
    }

    function assertEq(uint256 a, uint256 b, string memory what) internal pure {
        if (a != b) revert(string.concat(what, ": ", _str(a), " != ", _str(b)));
    }

    function assertLe(uint256 a, uint256 b, string memory what) internal pure {
        if (a > b) revert(string.concat(what, ": ", _str(a), " > ", _str(b)));
    }

    function _str(uint256 v) private pure returns (string memory) {
        if (v == 0) return "0";
        bytes memory out;
        for (; v != 0; v /= 10) out = abi.encodePacked(bytes1(uint8(48 + v % 10)), out);
        return string(out);
    }
}
