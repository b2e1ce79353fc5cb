"""Reverts as named MeritErrors: the contract's custom error, its arguments, and the fix.

The chain adapter's one revert translator. ``revert_error`` turns revert data (from an estimate, a
call or a replayed failed transaction) into a ``ChainReverted`` whose
``error_name``/``error_args``/``error_fields`` carry the custom error decoded with every committed
artifact's ABI; the family follows the error (an AccessControl refusal is ``ChainUnauthorized``, an
unknown id is ``ChainNotFound``, bad input ``ChainInvalid``), and a refusal a use case acts on is
also its ``services.core.errors`` type (``ChallengeWindowOpen``, ``VerifierRefused``), so use cases
catch types, never names. Common errors get a one-line message in MRT with the command that fixes
them; the rest say which error the contract raised, with its arguments.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from eth_abi.abi import decode as abi_decode
from eth_utils.abi import function_signature_to_4byte_selector
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from services.chain.anvil import DEV_CHAIN_ID
from services.chain.compiler import ARTIFACTS
from services.core.errors import (
    ChallengeWindowOpen,
    Conflict,
    Invalid,
    NotFound,
    Unauthorized,
    VerifierRefused,
)
from services.core.money import format_mrt, parse_mrt  # noqa: F401 - re-exported


class ChainReverted(Conflict):
    """The chain refused a transaction or call; ``error_name``/``error_args`` say why."""

    code = "chain-reverted"
    title = "Transaction reverted"

    def __init__(
        self,
        detail: str,
        *,
        error_name: str | None = None,
        error_args: tuple[Any, ...] = (),
        error_fields: Mapping[str, Any] | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(detail, hint=hint, error_name=error_name, error_args=error_args)
        self.error_name = error_name
        self.error_args = error_args
        self.error_fields: dict[str, Any] = dict(error_fields or {})  # the args by ABI name


# --- revert decoding --------------------------------------------------------------------------


@dataclass(frozen=True)
class _ErrorAbi:
    name: str
    types: tuple[str, ...]
    names: tuple[str, ...] = ()


@lru_cache(maxsize=8)
def _error_table(artifacts_dir: Path) -> Mapping[bytes, _ErrorAbi]:
    table: dict[bytes, _ErrorAbi] = {}
    for path in sorted(artifacts_dir.glob("*.json")):
        for item in json.loads(path.read_text(encoding="utf-8"))["abi"]:
            if item.get("type") != "error":
                continue
            types = tuple(_abi_type(i) for i in item["inputs"])
            signature = f"{item['name']}({','.join(types)})"
            names = tuple(str(i.get("name") or f"arg{n}") for n, i in enumerate(item["inputs"]))
            table[function_signature_to_4byte_selector(signature)] = _ErrorAbi(
                item["name"], types, names
            )
    # Solidity's built-ins, for require(...) strings and panics
    table[function_signature_to_4byte_selector("Error(string)")] = _ErrorAbi(
        "Error", ("string",), ("message",)
    )
    table[function_signature_to_4byte_selector("Panic(uint256)")] = _ErrorAbi(
        "Panic", ("uint256",), ("code",)
    )
    return table


def _abi_type(item: Mapping[str, Any]) -> str:
    kind = str(item["type"])
    if kind.startswith("tuple"):
        return "(" + ",".join(_abi_type(c) for c in item["components"]) + ")" + kind[len("tuple") :]
    return kind


def decode_revert(data: str | bytes | None) -> tuple[str | None, tuple[Any, ...]]:
    """The custom error name and arguments in revert ``data``; (None, ()) when unknown."""
    name, args, _ = decode_revert_fields(data)
    return name, args


def decode_revert_fields(
    data: str | bytes | None,
) -> tuple[str | None, tuple[Any, ...], dict[str, Any]]:
    """Like ``decode_revert``, plus the arguments by their ABI parameter names."""
    if data is None:
        return None, (), {}
    try:
        raw = bytes.fromhex(data.removeprefix("0x")) if isinstance(data, str) else data
    except ValueError:
        return None, (), {}
    if len(raw) < 4:
        return None, (), {}
    entry = _error_table(ARTIFACTS).get(raw[:4])
    if entry is None:
        return None, (), {}
    try:
        values = abi_decode(list(entry.types), raw[4:])
    except Exception:  # malformed payload: name only  # noqa: BLE001
        return entry.name, (), {}
    args = tuple(_checksummed(t, v) for t, v in zip(entry.types, values, strict=True))
    return entry.name, args, dict(zip(entry.names, args, strict=True))


def _checksummed(abi_type: str, value: Any) -> Any:
    """Addresses as checksummed strings, like web3 returns them from calls."""
    if abi_type == "address":
        return to_checksum_address(value)
    if abi_type == "address[]":
        return [to_checksum_address(v) for v in value]
    return value


def revert_data(exc: Exception) -> str | None:
    """The raw revert payload a web3 exception carries, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str):
        return data
    if isinstance(data, dict):  # some providers nest it
        inner = data.get("data")
        return inner if isinstance(inner, str) else None
    return None


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


class WindowStillOpen(ChainReverted, ChallengeWindowOpen):
    """The epoch's challenge window is still open: it finalizes from ``ends_at``."""

    @property
    def ends_at(self) -> int:
        return int(self.error_fields["endsAt"])


class VerifierRefusal(ChainReverted, VerifierRefused):
    """No proof verifier is deployed, or the verifier refused the proof's shape."""

    @property
    def reason(self) -> str:
        return str(self.error_name)


class ProofRefused(ChainInvalid, VerifierRefused):
    """The verifier found the proof false for what it pays."""

    @property
    def reason(self) -> str:
        return str(self.error_name)


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
        (
            f"the stake left, {format_mrt(remaining)}, would be below the minimum "
            f"{format_mrt(minimum)}"
        ),
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
        (
            f"{fn}: the escrow refused the input (an empty batch, or payer and task lists of "
            "different lengths)"
        ),
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
        ProofRefused,
    ),
    "EpochSettlementVerifierGasAboveCap": lambda f, fn: (
        f"the proof needs {f['gas']:,} gas to verify, more than the cap of {f['cap']:,}",
        "settle fewer nodes in one epoch, or deploy EpochSettlement with a larger verifier_gas",
        ChainInvalid,
    ),
    "EpochRewardsVerifierChunkRejected": lambda f, fn: (
        f"the Groth16 proof of chunk {f['chunk']} does not hold for the rows it pays",
        "prove the epoch again from its audit bundle",
        ProofRefused,
    ),
    "EpochRewardsVerifierPreviousRootMismatch": lambda f, fn: (
        "the proof's claim entries do not rebuild the previous epoch's finalized root",
        "take the previous amounts from the last finalized settlement's leaves",
        ProofRefused,
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
    "EpochSettlementChallengeWindowOpen": lambda f, fn: (
        f"epoch {f['epoch']}'s challenge window is open until timestamp {f['endsAt']}",
        "finalize it after then (`merit epoch finalize`)",
        WindowStillOpen,
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
        (
            f"the settler {f['settler']} has a free bond of {format_mrt(f['free'])}; proposing "
            f"needs {format_mrt(f['needed'])}"
        ),
        (
            "post the settler bond first (EpochSettlement.postBond; `merit up` posts it on the "
            "dev chain)"
        ),
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
        VerifierRefusal,
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
        return (
            f"{what} reverted with {error_name}({args})",
            None,
            _FAMILIES.get(
                error_name, VerifierRefusal if error_name.startswith(_VERIFIER) else ChainReverted
            ),
        )
    return f"{what} reverted without a reason the ABIs name", None, ChainReverted


# an explained error whose explainer no longer fits its fields keeps its family
_FAMILIES: dict[str, type[ChainReverted]] = {
    "EpochSettlementChallengeWindowOpen": WindowStillOpen,
    "EpochSettlementProofRejected": ProofRefused,
    "UnsetVerifierNoVerifierConfigured": VerifierRefusal,
}
_VERIFIER = "EpochRewardsVerifier"  # every refusal of the rewards verifier's


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    return str(value)


def revert_error(data: str | bytes | None, *, function: str, what: str) -> ChainReverted:
    """A named ChainReverted (or family subclass) for revert ``data`` of ``function``."""
    name, args, fields = decode_revert_fields(data)
    detail, hint, family = explain(name, fields, function, what)
    return family(detail, error_name=name, error_args=args, error_fields=fields, hint=hint)
