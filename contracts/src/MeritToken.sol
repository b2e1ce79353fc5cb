// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";

import {IMeritToken} from "./interfaces/IMeritToken.sol";

/// @title MeritToken
/// @notice ERC-20 "Merit" (MRT): stake, task fees and rewards. Minting is limited to MINTER_ROLE;
/// a faucet exists only on the dev chain (chain id 31337).
contract MeritToken is IMeritToken, ERC20, AccessControl {
    /// @notice Role allowed to mint (granted to EpochSettlement for epoch emission).
    bytes32 public constant MINTER_ROLE = keccak256("MINTER_ROLE");

    uint256 private constant _DEV_CHAIN_ID = 31337;
    uint256 private constant _FAUCET_LIMIT = 1_000_000 ether;

    /// @param admin Receives DEFAULT_ADMIN_ROLE (may grant MINTER_ROLE).
    constructor(address admin) ERC20("Merit", "MRT") {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
    }

    /// @inheritdoc IMeritToken
    function mint(address to, uint256 amount) external onlyRole(MINTER_ROLE) {
        _mint(to, amount);
    }

    /// @inheritdoc IMeritToken
    function faucet(address to, uint256 amount) external {
        if (block.chainid != _DEV_CHAIN_ID) revert MeritTokenFaucetDisabled(block.chainid);
        if (amount > _FAUCET_LIMIT) revert MeritTokenFaucetLimitExceeded(amount, _FAUCET_LIMIT);
        _mint(to, amount);
        emit FaucetDripped(to, amount);
    }

    /// @inheritdoc IMeritToken
    function faucetLimit() external pure returns (uint256) {
        return _FAUCET_LIMIT;
    }
}
