// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

import {EpochSettlement} from "../src/EpochSettlement.sol";
import {MeritToken} from "../src/MeritToken.sol";
import {NodeRegistry} from "../src/NodeRegistry.sol";
import {TaskEscrow} from "../src/TaskEscrow.sol";
import {IEpochSettlement} from "../src/interfaces/IEpochSettlement.sol";
import {IEpochVerifier} from "../src/interfaces/IEpochVerifier.sol";
import {IMeritToken} from "../src/interfaces/IMeritToken.sol";
import {INodeRegistry} from "../src/interfaces/INodeRegistry.sol";
import {HashVerifier} from "../test/HashVerifier.sol";

import {Base} from "./Base.sol";

/// @notice The money contracts wired as deploy_all wires them (services/chain/deploy.py), with the
/// test contract as admin and HashVerifier standing in for the Groth16 verifier.
abstract contract Stack is Base {
    uint256 internal constant MIN_STAKE = 100 ether;
    uint64 internal constant UNBONDING = 7 days;
    uint64 internal constant CHALLENGE_WINDOW = 1 hours;
    uint256 internal constant MAX_EMISSION = 1_000 ether;
    uint256 internal constant SETTLER_BOND = 10 ether;
    uint256 internal constant CHALLENGE_BOND = 5 ether;
    uint256 internal constant MIN_FEE = 0.01 ether;
    uint256 internal constant MAX_FEE = 10 ether;
    uint64 internal constant EXPIRY = 1 days;
    bytes32 internal constant VERIFIER_KEY = keccak256("invariant tests");
    address internal constant TREASURY = address(0x7EA5);

    MeritToken internal token;
    NodeRegistry internal registry;
    EpochSettlement internal settlement;
    TaskEscrow internal escrow;

    function deployStack() internal {
        token = new MeritToken(address(this));
        registry = new NodeRegistry(token, MIN_STAKE, UNBONDING, TREASURY, address(this));
        IEpochVerifier verifier = new HashVerifier(VERIFIER_KEY);
        settlement = new EpochSettlement(
            IMeritToken(address(token)),
            INodeRegistry(address(registry)),
            verifier,
            address(this),
            CHALLENGE_WINDOW,
            MAX_EMISSION,
            HashVerifier(address(verifier)).GAS(),
            SETTLER_BOND,
            CHALLENGE_BOND
        );
        escrow = new TaskEscrow(
            token, IEpochSettlement(address(settlement)), address(this), MIN_FEE, MAX_FEE, EXPIRY
        );
        token.grantRole(token.MINTER_ROLE(), address(settlement));
        registry.grantRole(registry.REPUTATION_WRITER_ROLE(), address(settlement));
    }
}
