"""Reverts as named MeritErrors: the contract's custom error, its arguments, and the fix.

``revert_error`` turns revert data (from an estimate, a call or a replayed failed transaction) into
a ``ChainReverted`` whose ``error_name``/``error_args``/``error_fields`` carry the decoded custom
error; the family follows the error (an AccessControl refusal is ``ChainUnauthorized``, an unknown
id is ``ChainNotFound``, bad input ``ChainInvalid``). Common errors get a one-line message in MRT
with the command that fixes them; the rest say which error the contract raised, with its arguments.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_utils.crypto import keccak

from services.chain.anvil import DEV_CHAIN_ID
from services.chain.rpc import ChainReverted, decode_revert_fields
from services.core.errors import Invalid, NotFound, Unauthorized
from services.core.money import format_mrt, parse_mrt  # noqa: F401 - re-exported


class ChainUnauthorized(ChainReverted, Unauthorized):
    """The sender lacks the role the function needs."""

    code = "chain-unauthorized"
    status = 403
    title = "Not allowed by the contract"
    exit_code = 3


class ChainNotFound(ChainReverted, NotFound):
    code = "chain-not-found"
    status = 404
    title = "Not found on chain"
    exit_code = 4


class ChainInvalid(ChainReverted, Invalid):
    code = "chain-invalid"
    status = 422
    title = "Refused by the contract as invalid"
    exit_code = 2


class GoldAlreadyCommitted(ChainReverted):
    """The epoch's gold set is committed already; a commitment is never replaced."""

    @property
    def epoch(self) -> int:
        return int(self.error_fields["epoch"])


class GoldTooLate(ChainReverted):
    """The epoch is already proposed: its gold set can no longer be committed before its tasks."""

    @property
    def epoch(self) -> int:
        return int(self.error_fields["epoch"])


class ChallengeWindowClosed(ChainReverted):
    """The epoch's challenge window is over: it can no longer be challenged."""

    @property
    def ended_at(self) -> int:
        return int(self.error_fields["endedAt"])


class UnderChallenge(ChainReverted):
    """The epoch has an open challenge: it neither finalizes nor takes another challenge until
    the resolver rules."""

    @property
    def challenger(self) -> str:
        return str(self.error_fields["challenger"])


class BondTooLow(ChainReverted):
    """The settler's free bond is below what a proposal locks."""

    @property
    def needed(self) -> int:
        return int(self.error_fields["needed"])

    @property
    def free(self) -> int:
        return int(self.error_fields["free"])


class EscrowNotExpired(ChainReverted):
    """The payer's escrow is still inside its expiry: it can be reclaimed from ``expires_at``."""

    @property
    def expires_at(self) -> int:
        return int(self.error_fields["expiresAt"])


_KNOWN_ROLES = (
    "MINTER_ROLE",
    "OPERATOR_ROLE",
    "SETTLER_ROLE",
    "SLASHER_ROLE",
    "ATTESTER_ROLE",
    "REPUTATION_WRITER_ROLE",
    "RESOLVER_ROLE",
    "EXAMINER_ROLE",
)


def role_name(role: bytes | str) -> str:
    """The name of an AccessControl role id, or its hex when it is not one we know."""
    raw = bytes.fromhex(role.removeprefix("0x")) if isinstance(role, str) else role
    if raw == b"\x00" * 32:
        return "DEFAULT_ADMIN_ROLE"
    for name in _KNOWN_ROLES:
        if keccak(text=name) == raw:
            return name
    return "0x" + raw.hex()


# --- messages ----------------------------------------------------------------------------------

# (detail, hint, family) from the error's fields and the function that reverted
Explained = tuple[str, str | None, type[ChainReverted]]
Explainer = Callable[[Mapping[str, Any], str], Explained]


def _insufficient_stake(f: Mapping[str, Any], function: str) -> Explained:
    have, need = int(f["have"]), int(f["need"])
    if function == "register":
        return (
            (
                f"{format_mrt(have)} available to stake (balance and allowance) is below the "
                f"minimum stake {format_mrt(need)}"
            ),
            f"get {format_mrt(need - have)} more (`merit faucet` on a dev chain), then retry",
            ChainReverted,
        )
    if function == "stake":
        return (
            (
                f"{format_mrt(have)} available to stake (balance and allowance) is below the "
                f"{format_mrt(need)} asked for"
            ),
            "stake less, or get more MRT (`merit faucet` on a dev chain)",
            ChainReverted,
        )
    return (
        f"stake {format_mrt(have)} is below the minimum {format_mrt(need)}",
        f"run `merit stake add {format_mrt(need - have).removesuffix(' MRT')}`",
        ChainReverted,
    )


def _below_minimum(f: Mapping[str, Any], function: str) -> Explained:
    remaining, minimum = int(f["remaining"]), int(f["minStake"])
    return (
        f"the stake left, {format_mrt(remaining)}, would be below the minimum {format_mrt(minimum)}",
        "unstake less, or unstake everything to leave the swarm",
        ChainInvalid,
    )


def _unauthorized(f: Mapping[str, Any], function: str) -> Explained:
    return (
        f"{f['account']} lacks {role_name(f['neededRole'])} for {function}",
        "send from an account that holds the role (`--account`), or ask the admin to grant it",
        ChainUnauthorized,
    )


def _task(f: Mapping[str, Any]) -> str:
    """A TaskEscrow task key as its task's UUID (a left-padded UUID), else as hex."""
    raw = bytes(f["taskId"])
    if len(raw) == 32 and not any(raw[:16]):
        return str(uuid.UUID(bytes=raw[16:]))
    return "0x" + raw.hex()


def _not_funded(f: Mapping[str, Any], function: str) -> Explained:
    held = f"{f['payer']} holds no fee in escrow for task {_task(f)}"
    if function == "reclaim":
        hint = "only the payer's own fee, still held, can be reclaimed; see it with escrowOf"
    elif function == "refund":
        hint = "it was never funded by this payer, or was already refunded, settled or reclaimed"
    else:
        hint = "see the payer's escrow with escrowOf"
    return f"{held} (never funded, or already refunded, settled or reclaimed)", hint, ChainNotFound


def _fee_out_of_range(f: Mapping[str, Any], function: str) -> Explained:
    low, high = format_mrt(int(f["minFee"])), format_mrt(int(f["maxFee"]))
    return (
        f"a task fee of {format_mrt(int(f['amount']))} is outside the accepted {low} to {high}",
        f"give a fee from {low} to {high}",
        ChainInvalid,
    )


def _not_expired(f: Mapping[str, Any], function: str) -> Explained:
    at = int(f["expiresAt"])
    when = datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return (
        f"{f['payer']}'s fee for task {_task(f)} can be reclaimed from {when} (timestamp {at})",
        "reclaim it after then; a failed task's fee is refunded before that",
        EscrowNotExpired,
    )


def _faucet_disabled(f: Mapping[str, Any], function: str) -> Explained:
    return (
        f"the faucet exists only on the dev chain {DEV_CHAIN_ID}; this is chain {f['chainId']}",
        "get MRT from an operator of this chain",
        ChainInvalid,
    )


_MESSAGES: dict[str, Explainer] = {
    "NodeRegistryInsufficientStake": _insufficient_stake,
    "NodeRegistryStakeBelowMinimum": _below_minimum,
    "NodeRegistryAlreadyRegistered": lambda f, fn: (
        f"{f['node']} already operates node {f['nodeId']}",
        f"one address runs one node; see it with `merit stake show {f['nodeId']}`",
        ChainReverted,
    ),
    "NodeRegistryNotRegistered": lambda f, fn: (
        f"{f['node']} operates no node",
        "register first: `merit node register --model ...`",
        ChainNotFound,
    ),
    "NodeRegistryUnknownNode": lambda f, fn: (
        f"no node {f['nodeId']} is registered",
        "node ids run from 1 to the registry's node count",
        ChainNotFound,
    ),
    "NodeRegistryInvalidInput": lambda f, fn: (
        f"{fn}: the registry refused the input (zero amount, zero model hash or empty CID)",
        "give a non-zero amount, a model and a metadata CID",
        ChainInvalid,
    ),
    "NodeRegistryUnstakeExceedsStake": lambda f, fn: (
        (
            f"cannot unstake {format_mrt(f['amount'])}: node {f['nodeId']} stakes "
            f"{format_mrt(f['staked'])}"
        ),
        "unstake at most the staked amount (`merit stake show`)",
        ChainInvalid,
    ),
    "NodeRegistryNothingToWithdraw": lambda f, fn: (
        f"node {f['nodeId']} has nothing unbonding to withdraw",
        "request an unstake first: `merit stake unstake AMOUNT`",
        ChainInvalid,
    ),
    "NodeRegistryStillUnbonding": lambda f, fn: (
        f"node {f['nodeId']}'s stake is unbonding until timestamp {f['endsAt']}",
        "withdraw after the unbonding period ends (`merit stake show`)",
        ChainReverted,
    ),
    "ERC20InsufficientBalance": lambda f, fn: (
        (
            f"balance {format_mrt(f['balance'])} of {f['sender']} is below the "
            f"{format_mrt(f['needed'])} needed"
        ),
        "get MRT (`merit faucet` on a dev chain), or use a smaller amount",
        ChainReverted,
    ),
    "ERC20InsufficientAllowance": lambda f, fn: (
        (
            f"allowance {format_mrt(f['allowance'])} for {f['spender']} is below the "
            f"{format_mrt(f['needed'])} needed"
        ),
        "approve the spender for the amount first",
        ChainReverted,
    ),
    "AccessControlUnauthorizedAccount": _unauthorized,
    "MeritTokenFaucetDisabled": _faucet_disabled,
    "MeritTokenFaucetLimitExceeded": lambda f, fn: (
        f"the faucet gives at most {format_mrt(f['max'])} a call, not {format_mrt(f['amount'])}",
        f"ask for at most {format_mrt(f['max']).removesuffix(' MRT')}",
        ChainInvalid,
    ),
    "TaskEscrowAlreadyFunded": lambda f, fn: (
        f"{f['payer']} already funded task {_task(f)}",
        "a payer funds each task once; submit a new task to pay again",
        ChainReverted,
    ),
    "TaskEscrowNotFunded": _not_funded,
    "TaskEscrowFeeOutOfRange": _fee_out_of_range,
    "TaskEscrowNotExpired": _not_expired,
    "TaskEscrowInvalidInput": lambda f, fn: (
        f"{fn}: the escrow refused the input (an empty batch, or payer and task lists of "
        "different lengths)",
        "give one payer per task, at least one",
        ChainInvalid,
    ),
    "EpochSettlementAlreadyProposed": lambda f, fn: (
        f"epoch {f['epoch']} is already proposed",
        "each epoch is proposed once; see it with `merit epoch show`",
        ChainReverted,
    ),
    "EpochSettlementProofRejected": lambda f, fn: (
        f"the verifier rejected the proof for epoch {f['epoch']}",
        "recompute the proof from the epoch's committed scores",
        ChainInvalid,
    ),
    "EpochSettlementVerifierGasAboveCap": lambda f, fn: (
        f"the proof needs {f['gas']:,} gas to verify, more than the cap of {f['cap']:,}",
        "settle fewer nodes in one epoch, or deploy EpochSettlement with a larger verifier_gas",
        ChainInvalid,
    ),
    "EpochRewardsVerifierChunkRejected": lambda f, fn: (
        f"the Groth16 proof of chunk {f['chunk']} does not hold for the rows it pays",
        "prove the epoch again from its audit bundle",
        ChainInvalid,
    ),
    "EpochRewardsVerifierPreviousRootMismatch": lambda f, fn: (
        "the proof's claim entries do not rebuild the previous epoch's finalized root",
        "take the previous amounts from the last finalized settlement's leaves",
        ChainInvalid,
    ),
    "EpochSettlementGoldAlreadyCommitted": lambda f, fn: (
        f"the gold set of epoch {f['epoch']} is already committed on chain",
        "an epoch's gold root is committed once; compare it with goldCommitmentOf",
        GoldAlreadyCommitted,
    ),
    "EpochSettlementGoldTooLate": lambda f, fn: (
        f"epoch {f['epoch']} is already proposed: its gold set can no longer be committed",
        "commit the gold root of an epoch later than the last proposed one, before its tasks",
        GoldTooLate,
    ),
    "EpochSettlementInvalidGoldRoot": lambda f, fn: (
        "a gold commitment needs a non-zero Merkle root",
        "commit the root of the epoch's gold set",
        ChainInvalid,
    ),
    "EpochSettlementChallengeWindowClosed": lambda f, fn: (
        f"the challenge window of epoch {f['epoch']} ended at timestamp {f['endedAt']}",
        "challenge inside the window (`merit watch` checks each epoch as soon as it is proposed)",
        ChallengeWindowClosed,
    ),
    "EpochSettlementUnderChallenge": lambda f, fn: (
        f"epoch {f['epoch']} has an open challenge by {f['challenger']}",
        "wait for the resolver to rule on it (challengeOf shows its status)",
        UnderChallenge,
    ),
    "EpochSettlementNoOpenChallenge": lambda f, fn: (
        f"epoch {f['epoch']} has no open challenge to resolve",
        "see its latest challenge with challengeOf",
        ChainNotFound,
    ),
    "EpochSettlementBondTooLow": lambda f, fn: (
        f"the settler {f['settler']} has a free bond of {format_mrt(f['free'])}; proposing "
        f"needs {format_mrt(f['needed'])}",
        "post the settler bond first (EpochSettlement.postBond; `merit up` posts it on the dev chain)",
        BondTooLow,
    ),
    "EpochSettlementBondLocked": lambda f, fn: (
        f"only {format_mrt(f['free'])} of the bond is free; {format_mrt(f['amount'])} was asked",
        "the pending proposal locks the rest until it is finalized",
        ChainInvalid,
    ),
    "UnsetVerifierNoVerifierConfigured": lambda f, fn: (
        "no proof verifier is deployed yet: settlement is disabled",
        "deploy the contracts with the generated Groth16 verifier",
        ChainReverted,
    ),
}


def explain(
    error_name: str | None, fields: Mapping[str, Any], function: str, what: str
) -> Explained:
    """The one-line message, hint and family for a decoded revert of ``function``."""
    explainer = _MESSAGES.get(error_name or "")
    if explainer is not None:
        try:
            return explainer(fields, function)
        except (KeyError, TypeError, ValueError):  # the ABI changed shape: fall back
            pass
    if error_name == "Error" and fields:
        return f"{what} reverted: {fields.get('message')}", None, ChainReverted
    if error_name:
        args = ", ".join(f"{k}={_show(v)}" for k, v in fields.items())
        return f"{what} reverted with {error_name}({args})", None, ChainReverted
    return f"{what} reverted without a reason the ABIs name", None, ChainReverted


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def revert_error(
    data: str | bytes | None, *, function: str, what: str
) -> ChainReverted:
    """A named ChainReverted (or family subclass) for revert ``data`` of ``function``."""
    name, args, fields = decode_revert_fields(data)
    detail, hint, family = explain(name, fields, function, what)
    return family(detail, error_name=name, error_args=args, error_fields=fields, hint=hint)
