// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";

/// @title IMeritToken
/// @notice The ERC-20 ("Merit", "MRT") used for stake, task fees and rewards.
interface IMeritToken is IERC20 {
    /// @notice The faucet was called on a chain that is not a dev chain.
    /// @param chainId The chain id the call ran on.
    error MeritTokenFaucetDisabled(uint256 chainId);

    /// @notice The faucet was asked for more than one call may give.
    /// @param amount The amount asked for.
    /// @param max The most one faucet call gives.
    error MeritTokenFaucetLimitExceeded(uint256 amount, uint256 max);

    /// @notice Emitted after the faucet minted tokens.
    /// @param to The account that received them.
    /// @param amount The amount minted, in wei.
    event FaucetDripped(address indexed to, uint256 amount);

    /// @notice Mints new tokens (epoch emission). Only accounts holding MINTER_ROLE.
    /// @param to The account credited.
    /// @param amount The amount, in wei.
    function mint(address to, uint256 amount) external;

    /// @notice Mints up to `faucetLimit()` tokens to anyone, but only on the dev chain (id 31337).
    /// @param to The account credited.
    /// @param amount The amount, in wei.
    function faucet(address to, uint256 amount) external;

    /// @notice The most one faucet call gives, in wei.
    function faucetLimit() external pure returns (uint256);
}
