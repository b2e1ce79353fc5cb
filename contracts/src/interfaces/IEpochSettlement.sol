// SPDX-License-Identifier: Apache-2.0
pragma solidity 0.8.37;

/// @title IEpochSettlement
/// @notice Accepts one reward proposal per epoch, each carrying a proof the verifier must accept.
interface IEpochSettlement {
    /// @notice One epoch's accepted proposal.
    /// @param rewardsRoot Root committing to the reward vector.
    /// @param total Sum of the reward vector, in wei.
    /// @param auditCid CID of the epoch's audit bundle.
    /// @param proposer The account that proposed it.
    /// @param proposedAt Block timestamp of the proposal (0: none).
    struct Proposal {
        bytes32 rewardsRoot;
        uint256 total;
        string auditCid;
        address proposer;
        uint64 proposedAt;
    }

    /// @notice The epoch already has a proposal.
    error EpochSettlementAlreadyProposed(uint256 epoch);

    /// @notice The verifier returned false for the proof.
    error EpochSettlementProofRejected(uint256 epoch);

    /// @notice A zero root or an empty audit CID was given.
    error EpochSettlementInvalidInput();

    /// @notice The verifier address given to the constructor holds no code.
    error EpochSettlementVerifierNotContract(address verifier);

    /// @notice Emitted after an epoch's proposal was accepted.
    event EpochProposed(
        uint256 indexed epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string auditCid,
        address indexed proposer
    );

    /// @notice Proposes the rewards of `epoch`. Only accounts holding SETTLER_ROLE.
    /// @dev Reverts unless `verifier().verifyEpoch(...)` returns true; a verifier that reverts
    /// makes this revert with the verifier's error.
    /// @param epoch The epoch number.
    /// @param rewardsRoot Root committing to the reward vector (non-zero).
    /// @param total Sum of the reward vector, in wei.
    /// @param auditCid CID of the epoch's audit bundle (non-empty).
    /// @param proof The proof passed on to the verifier.
    function propose(
        uint256 epoch,
        bytes32 rewardsRoot,
        uint256 total,
        string calldata auditCid,
        bytes calldata proof
    ) external;

    /// @notice The verifier every proposal must satisfy.
    function verifier() external view returns (address);

    /// @notice The proposal of `epoch` (proposedAt 0 when none).
    function proposalOf(uint256 epoch) external view returns (Proposal memory);
}
