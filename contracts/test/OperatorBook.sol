// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title OperatorBook
/// @notice Test-only stand-in for NodeRegistry's `nodeIdOf`: the verifier's structural tests pay
/// thousands of synthetic accounts without staking each one.
contract OperatorBook {
    mapping(address operator => uint64 nodeId) private _ids;

    function setMany(address[] calldata operators, uint64[] calldata nodeIds) external {
        for (uint256 i; i < operators.length; ++i) {
            _ids[operators[i]] = nodeIds[i];
        }
    }

    function nodeIdOf(address operator) external view returns (uint64) {
        return _ids[operator];
    }
}
