"""Typed clients of the deployed contracts over the committed artifacts.

Views return domain values (ints for wei as ``Wei``, ``NodeId`` for node ids, frozen dataclasses
for structs, read by the ABI's field names so a struct that gains fields keeps decoding). Writes
return a ``ContractCall`` (nothing is sent): a sender estimates it, and sends it directly
(``tx.DirectSender``) or through the outbox (``outbox.OutboxSender``). A function the deployed ABI
lacks is reported by ``supports(name)``, so commands for new contract functions are thin additions.

``ChainSession.open(rpc_url, records_dir)`` connects, loads the recorded deployment and
builds every client plus the event decoder.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from eth_typing import ABIComponent, ABIFunction
from eth_utils.address import to_checksum_address
from web3 import Web3
from web3.contract import Contract

from services.app.ports import RegisteredNode
from services.chain.anvil import DEV_CHAIN_ID
from services.chain.deploy import Deployment, load_deployment, refuse_dev_chain
from services.chain.events import EventDecoder, snake
from services.chain.rpc import chain_id_of, connect, translate_chain_errors
from services.chain.tx import ContractCall, contract_call
from services.core.errors import ConfigInvalid, Invalid
from services.core.settlement import ClaimEntry
from services.core.types import EpochId, NodeId, Wei
from services.core.work import SigningDomain
from services.settings import Settings

ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


def _hex(value: bytes) -> str:
    return "0x" + bytes(value).hex()


def bytes32(value: str | bytes, *, what: str) -> bytes:
    """A 32-byte value from bytes or 0x-hex; Invalid otherwise."""
    if isinstance(value, str):
        try:
            value = bytes.fromhex(value.removeprefix("0x"))
        except ValueError:
            value = b""
    if len(value) != 32:
        raise Invalid(f"{what} must be 32 bytes (0x + 64 hex digits)")
    return bytes(value)


def model_hash(model: str) -> bytes:
    """The registry's modelHash of a model: 0x+64 hex as given, else keccak256 of its name."""
    text = model.strip()
    if text.startswith("0x") and len(text) == 66:
        return bytes32(text, what="model hash")
    if not text:
        raise Invalid("the model name is empty", hint="give the model the node serves")
    return bytes(Web3.keccak(text=text))


def task_key(task_id: str | uuid.UUID) -> bytes:
    """A task's id in the escrow: its UUID's 16 bytes, left-padded to 32 (reversible)."""
    try:
        value = task_id if isinstance(task_id, uuid.UUID) else uuid.UUID(str(task_id))
    except ValueError as exc:
        raise Invalid(f"{task_id!r} is not a task id", hint="task ids are UUIDs") from exc
    return value.bytes.rjust(32, b"\x00")


class _Client:
    """One deployed contract: views that translate reverts, and call builders."""

    name: ClassVar[str]

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3 = w3
        self.contract: Contract = deployment.contract(w3, self.name)

    @property
    def address(self) -> str:
        return str(self.contract.address)

    def supports(self, function: str) -> bool:
        """Whether the deployed ABI has ``function``."""
        return any(
            item.get("type") == "function" and item.get("name") == function
            for item in self.contract.abi
        )

    def _function(self, function: str) -> ABIFunction:
        """The deployed ABI's entry of ``function``; ConfigInvalid when it has none."""
        for item in self.contract.abi:
            if item["type"] == "function" and item["name"] == function:
                return item
        raise ConfigInvalid(
            f"the deployed {self.name} has no function {function}",
            hint="update the contracts (`merit contracts deploy`)",
        )

    def _inputs(self, function: str) -> list[ABIComponent]:
        return list(self._function(function)["inputs"])

    def _view(self, function: str, *args: Any, block: int | None = None) -> Any:
        """The view's value at ``block`` (default: the latest block)."""
        with translate_chain_errors(f"{self.name}.{function}", function=function):
            bound = getattr(self.contract.functions, function)(*args)
            return bound.call() if block is None else bound.call(block_identifier=block)

    def _struct(self, function: str, *args: Any, block: int | None = None) -> dict[str, Any]:
        """A struct-returning view as {snake_case field: value}, by the ABI's component names."""
        value = self._view(function, *args, block=block)
        components = self._function(function)["outputs"][0]["components"]
        return {snake(c["name"]): v for c, v in zip(components, value, strict=True)}

    def _call(self, function: str, *args: Any) -> ContractCall:
        self._inputs(function)  # ConfigInvalid when the ABI lacks it
        return contract_call(self.contract, self.name, function, *args)


# --- MeritToken -------------------------------------------------------------------------------


class TokenClient(_Client):
    name = "MeritToken"

    def symbol(self) -> str:
        return str(self._view("symbol"))

    def decimals(self) -> int:
        return int(self._view("decimals"))

    def total_supply(self) -> Wei:
        return Wei(int(self._view("totalSupply")))

    def balance_of(self, account: str) -> Wei:
        return Wei(int(self._view("balanceOf", to_checksum_address(account))))

    def allowance(self, owner: str, spender: str) -> Wei:
        return Wei(
            int(self._view("allowance", to_checksum_address(owner), to_checksum_address(spender)))
        )

    def faucet_limit(self) -> Wei:
        return Wei(int(self._view("faucetLimit")))

    def approve(self, spender: str, amount: int) -> ContractCall:
        return self._call("approve", to_checksum_address(spender), int(amount))

    def transfer(self, to: str, amount: int) -> ContractCall:
        return self._call("transfer", to_checksum_address(to), int(amount))

    def faucet(self, to: str, amount: int) -> ContractCall:
        return self._call("faucet", to_checksum_address(to), int(amount))


# --- NodeRegistry -----------------------------------------------------------------------------


class RegistryClient(_Client):
    name = "NodeRegistry"

    def min_stake(self) -> Wei:
        return Wei(int(self._view("minStake")))

    def node_count(self) -> int:
        return int(self._view("nodeCount"))

    def node_id_of(self, operator: str) -> NodeId | None:
        """The node ``operator`` runs; None when it runs none."""
        node_id = int(self._view("nodeIdOf", to_checksum_address(operator)))
        return NodeId(node_id) if node_id else None

    def node(self, node_id: int, *, block: int | None = None) -> RegisteredNode:
        """Node ``node_id`` (at ``block``, default the latest); ChainNotFound
        (NodeRegistryUnknownNode) when there is none."""
        f = self._struct("getNode", int(node_id), block=block)
        return RegisteredNode(
            chain_node_id=int(node_id),
            operator=to_checksum_address(f["operator"]),
            model_hash=_hex(f["model_hash"]),
            metadata_cid=str(f["metadata_cid"]),
            stake_wei=Wei(int(f["stake"])),
            unbonding_wei=Wei(int(f.get("unbonding", 0))),
            registered_at=datetime.fromtimestamp(int(f["registered_at"]), UTC),
        )

    def node_of(self, operator: str) -> RegisteredNode | None:
        node_id = self.node_id_of(operator)
        return self.node(node_id) if node_id is not None else None

    def nodes(self) -> list[RegisteredNode]:
        """Every registered node, by id."""
        return [self.node(i) for i in range(1, self.node_count() + 1)]

    def stake_of(self, node_id: int) -> Wei:
        return Wei(int(self._view("stakeOf", int(node_id))))

    def register(
        self, model_hash_: bytes, metadata_cid: str, stake_wei: int | None = None
    ) -> ContractCall:
        """register(modelHash, metadataCid[, amount]): a registry that takes the initial stake as
        an argument gets ``stake_wei`` (default: the minimum); the foundation one pulls the
        minimum."""
        inputs = self._inputs("register")
        if len(inputs) >= 3:
            amount = int(stake_wei) if stake_wei is not None else int(self.min_stake())
            return self._call("register", model_hash_, metadata_cid, amount)
        if stake_wei is not None and int(stake_wei) != int(self.min_stake()):
            raise Invalid(
                "this registry takes exactly the minimum stake at registration",
                hint="register, then add stake with `merit stake add`",
            )
        return self._call("register", model_hash_, metadata_cid)

    def register_stake(self, stake_wei: int | None = None) -> Wei:
        """What ``register`` will pull from the operator."""
        return Wei(int(stake_wei) if stake_wei is not None else int(self.min_stake()))

    def stake(self, amount: int) -> ContractCall:
        return self._call("stake", int(amount))

    # registries with unbonding and reputation (``supports`` says whether the deployed one has them)

    def request_unstake(self, amount: int) -> ContractCall:
        return self._call("requestUnstake", int(amount))

    def withdraw(self) -> ContractCall:
        return self._call("withdraw")

    def unbonding_of(self, node_id: int) -> tuple[Wei, datetime | None]:
        """(amount unbonding, when it can be withdrawn); (0, None) when nothing unbonds."""
        amount, ends_at = self._view("unbondingOf", int(node_id))
        if not int(amount):
            return Wei(0), None
        return Wei(int(amount)), datetime.fromtimestamp(int(ends_at), UTC)

    def reputation_bp(self, node_id: int) -> int:
        """Node ``node_id``'s reputation in basis points, as settlement last wrote it."""
        return int(self._view("reputationOf", int(node_id)))

    def reputation_epoch(self) -> int:
        """The last epoch whose reputations settlement wrote."""
        return int(self._view("reputationEpoch"))

    def is_active(self, node_id: int) -> bool:
        return bool(self._view("isActive", int(node_id)))

    def attest(self, node_id: int, score_bps: int, valid_until: datetime) -> ContractCall:
        """attest(nodeId, scoreBps, validUntil): a capability attestation (ATTESTER_ROLE)."""
        return self._call("attest", int(node_id), int(score_bps), int(valid_until.timestamp()))

    def slash(self, node_id: int, amount_wei: int, evidence_cid: str) -> ContractCall:
        """slash(nodeId, amount, evidenceCid): take stake on evidence (SETTLER_ROLE)."""
        return self._call("slash", int(node_id), int(amount_wei), evidence_cid)

    def attestation_of(self, node_id: int) -> tuple[int, datetime | None]:
        """(score in basis points, valid until); (0, None) when the node has none."""
        f = self._struct("attestationOf", int(node_id))
        until = int(f.get("valid_until", 0))
        score = int(f.get("score_bps", 0))
        return score, datetime.fromtimestamp(until, UTC) if until else None

    def extras(self, node_id: int) -> dict[str, Any]:
        """The views this registry has beyond the foundation ones, for display."""
        out: dict[str, Any] = {}
        if self.supports("unbondingOf"):
            amount, ends = self.unbonding_of(node_id)
            out["unbonding_wei"] = str(amount)
            out["unbonding_ends"] = ends.isoformat() if ends else None
        if self.supports("isActive"):
            out["active"] = self.is_active(node_id)
        if self.supports("reputationOf"):
            out["reputation_bp"] = self.reputation_bp(node_id)
        return out


# --- TaskEscrow -------------------------------------------------------------------------------


class EscrowStatus(StrEnum):
    NONE = "none"
    FUNDED = "funded"
    REFUNDED = "refunded"  # returned to the payer by the settler (the task failed)
    SETTLED = "settled"  # moved into an epoch's pool
    RECLAIMED = "reclaimed"  # taken back by the payer after the escrow expired


_ESCROW_STATUS = tuple(EscrowStatus)


@dataclass(frozen=True)
class Escrow:
    """One payer's escrow for one task, as TaskEscrow holds it."""

    amount_wei: Wei
    funded_at: datetime | None  # None when never funded
    status: EscrowStatus | int  # an int when the contract has a status this client does not know

    @property
    def held_wei(self) -> Wei:
        """The fee still held (0 unless funded and not yet refunded, settled or reclaimed)."""
        return self.amount_wei if self.status is EscrowStatus.FUNDED else Wei(0)


TaskRef = str | uuid.UUID | bytes  # a task's UUID (string or value), or its 32-byte escrow key


def _key(task: TaskRef) -> bytes:
    return bytes32(task, what="task key") if isinstance(task, bytes) else task_key(task)


def task_uuid(key: bytes | str) -> uuid.UUID:
    """The task UUID of an escrow key (``task_key`` reversed); Invalid for a key that is not a
    left-padded UUID."""
    raw = bytes32(key, what="task key")
    if any(raw[:16]):
        raise Invalid(f"0x{raw.hex()} is not a task key", hint="task keys are UUIDs padded to 32")
    return uuid.UUID(bytes=raw[16:])


class EscrowClient(_Client):
    """TaskEscrow: fees held per (payer, task)."""

    name = "TaskEscrow"

    def escrow_of(self, payer: str, task: TaskRef) -> Escrow:
        f = self._struct("escrowOf", to_checksum_address(payer), _key(task))
        raw, funded_at = int(f["status"]), int(f["funded_at"])
        return Escrow(
            amount_wei=Wei(int(f["amount"])),
            funded_at=datetime.fromtimestamp(funded_at, UTC) if funded_at else None,
            status=_ESCROW_STATUS[raw] if raw < len(_ESCROW_STATUS) else raw,
        )

    def fee_range(self) -> tuple[Wei, Wei]:
        """(smallest, largest) fee ``fund`` accepts, in wei, inclusive."""
        low, high = self._view("feeRange")
        return Wei(int(low)), Wei(int(high))

    def expiry_s(self) -> int:
        """Seconds after funding from which a payer may reclaim a fee still held."""
        return int(self._view("expiry"))

    def held_total(self) -> Wei:
        """Every fee still held, summed (what the escrow's token balance holds)."""
        return Wei(int(self._view("held")))

    def fund(self, task: TaskRef, amount: int) -> ContractCall:
        """fund(taskId, amount): the sender escrows ``amount`` as its fee for ``task`` (approve
        the escrow for it first)."""
        return self._call("fund", _key(task), int(amount))

    def refund(self, payer: str, task: TaskRef) -> ContractCall:
        """refund(payer, taskId): return ``payer``'s held fee for a failed task (OPERATOR_ROLE)."""
        return self._call("refund", to_checksum_address(payer), _key(task))

    def reclaim(self, task: TaskRef) -> ContractCall:
        """reclaim(taskId): the sender takes back its own fee, still held after the expiry."""
        return self._call("reclaim", _key(task))

    def settle_tasks(self, epoch: int, items: Sequence[tuple[str, TaskRef]]) -> ContractCall:
        """settleTasks(epoch, payers, taskIds): move each held (payer, task) fee into the
        epoch's pool; a fee not held is skipped (OPERATOR_ROLE)."""
        payers = [to_checksum_address(payer) for payer, _ in items]
        return self._call("settleTasks", int(epoch), payers, [_key(task) for _, task in items])


# --- EpochSettlement --------------------------------------------------------------------------


class EpochStatus(StrEnum):
    NONE = "none"
    PROPOSED = "proposed"
    FINALIZED = "finalized"


@dataclass(frozen=True)
class Proposal:
    """An epoch's proposal; ``fields`` holds every struct field (snake_case, bytes as 0x-hex)."""

    epoch: EpochId
    rewards_root: str
    total_wei: Wei
    proposed_at: datetime
    fields: dict[str, Any]


class ChallengeStatus(StrEnum):
    NONE = "none"
    OPEN = "open"
    UPHELD = "upheld"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ChallengeRecord:
    """An epoch's latest challenge, as the contract holds it."""

    epoch: EpochId
    challenger: str
    status: ChallengeStatus | int  # an int when the contract has a status this client lacks
    proposed_at: datetime  # the challenged proposal's time (a re-proposal's is later)
    challenged_at: datetime
    evidence_cid: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": int(self.epoch),
            "challenger": self.challenger,
            "status": str(self.status),
            "proposed_at": self.proposed_at.isoformat(),
            "challenged_at": self.challenged_at.isoformat(),
            "evidence_cid": self.evidence_cid,
        }


class SettlementClient(_Client):
    name = "EpochSettlement"

    def verifier(self) -> str:
        return to_checksum_address(self._view("verifier"))

    def status_of(self, epoch: int) -> EpochStatus | int:
        raw = int(self._view("statusOf", int(epoch)))
        statuses = tuple(EpochStatus)
        return statuses[raw] if raw < len(statuses) else raw

    def challenge_ends_at(self, epoch: int) -> datetime | None:
        ends = int(self._view("challengeEndsAt", int(epoch)))
        return datetime.fromtimestamp(ends, UTC) if ends else None

    def pool_of(self, epoch: int) -> Wei:
        return Wei(int(self._view("poolOf", int(epoch))))

    def last_proposed_epoch(self) -> int:
        return int(self._view("lastProposedEpoch"))

    def last_finalized_epoch(self) -> int:
        return int(self._view("lastFinalizedEpoch"))

    def claimed_of(self, node_id: int) -> Wei:
        return Wei(int(self._view("claimedOf", int(node_id))))

    def challenge_window_s(self) -> int:
        return int(self._view("challengeWindow"))

    def settler_bond(self) -> Wei:
        """The free bond a settler needs to propose (what an upheld challenge slashes)."""
        return Wei(int(self._view("settlerBond")))

    def challenge_bond(self) -> Wei:
        """What a challenge costs (returned when upheld, forfeited when rejected)."""
        return Wei(int(self._view("challengeBond")))

    def bond_of(self, account: str) -> tuple[Wei, Wei]:
        """(bond, locked): ``account``'s settler bond and the part its pending proposal locks."""
        bond, locked = self._view("bondOf", to_checksum_address(account))
        return Wei(int(bond)), Wei(int(locked))

    def challenge_of(self, epoch: int) -> ChallengeRecord | None:
        """The latest challenge of ``epoch``; None when it was never challenged."""
        f = self._struct("challengeOf", int(epoch))
        raw = int(f["status"])
        if raw == 0:
            return None
        statuses = tuple(ChallengeStatus)
        return ChallengeRecord(
            epoch=EpochId(int(epoch)),
            challenger=to_checksum_address(f["challenger"]),
            status=statuses[raw] if raw < len(statuses) else raw,
            proposed_at=datetime.fromtimestamp(int(f["proposed_at"]), UTC),
            challenged_at=datetime.fromtimestamp(int(f["challenged_at"]), UTC),
            evidence_cid=str(f["evidence_cid"]),
        )

    def post_bond(self, account: str, amount: int) -> ContractCall:
        """postBond(account, amount): add ``amount``, pulled from the sender (approve it first),
        to ``account``'s settler bond."""
        return self._call("postBond", to_checksum_address(account), int(amount))

    def withdraw_bond(self, amount: int) -> ContractCall:
        """withdrawBond(amount): take back part of the sender's free bond."""
        return self._call("withdrawBond", int(amount))

    def challenge(self, epoch: int, evidence_cid: str) -> ContractCall:
        """challenge(epoch, evidenceCid): anyone, inside the window, paying ``challenge_bond()``
        (approve it first)."""
        return self._call("challenge", int(epoch), evidence_cid)

    def resolve(self, epoch: int, upheld: bool) -> ContractCall:
        """resolve(epoch, upheld): rule on the epoch's open challenge (RESOLVER_ROLE)."""
        return self._call("resolve", int(epoch), bool(upheld))

    def propose(
        self,
        epoch: int,
        rewards_root: bytes,
        total: int,
        audit_cid: str,
        reputation_first_word: int,
        reputation_words: list[int],
        proof: bytes,
    ) -> ContractCall:
        return self._call(
            "propose",
            int(epoch),
            bytes32(rewards_root, what="rewards root"),
            int(total),
            audit_cid,
            int(reputation_first_word),
            [int(w) for w in reputation_words],
            bytes(proof),
        )

    def finalize(
        self, epoch: int, reputation_first_word: int, reputation_words: list[int]
    ) -> ContractCall:
        return self._call(
            "finalize", int(epoch), int(reputation_first_word), [int(w) for w in reputation_words]
        )

    def claim(
        self, epoch: int, node_id: int, account: str, cumulative_amount: int, proof: list[bytes]
    ) -> ContractCall:
        return self._call(
            "claim",
            int(epoch),
            int(node_id),
            to_checksum_address(account),
            int(cumulative_amount),
            [bytes32(p, what="proof element") for p in proof],
        )

    def claim_entry(self, entry: ClaimEntry) -> ContractCall:
        """The claim of a stored settlement leaf (its cumulative amount and Merkle proof)."""
        return self.claim(
            entry.epoch_id, entry.chain_node_id, entry.account, entry.cumulative_wei,
            [bytes.fromhex(p.removeprefix("0x")) for p in entry.proof],
        )  # fmt: skip

    def fund(self, epoch: int, amount: int) -> ContractCall:
        return self._call("fund", int(epoch), int(amount))

    def commit_gold(self, epoch: int, root: bytes) -> ContractCall:
        """commitGold(epoch, root): the Merkle root of the epoch's hidden gold set, once per
        epoch and before the epoch is proposed (EXAMINER_ROLE)."""
        return self._call("commitGold", int(epoch), bytes32(root, what="gold root"))

    def gold_commitment(self, epoch: int) -> tuple[bytes, int] | None:
        """(root, committedAt as unix seconds) of the epoch's gold commitment; None when the
        epoch has none (a committed root is never zero)."""
        root, committed_at = self._view("goldCommitmentOf", int(epoch))
        if bytes(root) == bytes(32):
            return None
        return bytes(root), int(committed_at)

    def proposal_of(self, epoch: int) -> Proposal | None:
        """The proposal of ``epoch``; None when nothing was proposed for it."""
        f = self._struct("proposalOf", int(epoch))
        if not int(f["proposed_at"]):
            return None
        return Proposal(
            epoch=EpochId(int(epoch)),
            rewards_root=_hex(f["rewards_root"]),
            total_wei=Wei(int(f["total"])),
            proposed_at=datetime.fromtimestamp(int(f["proposed_at"]), UTC),
            fields={k: _hex(v) if isinstance(v, bytes) else v for k, v in f.items()},
        )


# --- the session ------------------------------------------------------------------------------


class ChainSession:
    """A connected chain with the deployment's clients and event decoder."""

    def __init__(self, w3: Web3, deployment: Deployment) -> None:
        self.w3, self.deployment = w3, deployment
        self.token = TokenClient(w3, deployment)
        self.registry = RegistryClient(w3, deployment)
        self.escrow = EscrowClient(w3, deployment)
        self.settlement = SettlementClient(w3, deployment)
        self.events = EventDecoder(deployment.addresses)

    @property
    def chain_id(self) -> int:
        return self.deployment.chain_id

    @property
    def is_dev_chain(self) -> bool:
        return self.chain_id == DEV_CHAIN_ID

    @property
    def signing_domain(self) -> SigningDomain:
        """The domain the deployment's nodes sign their work under: its chain and NodeRegistry."""
        return SigningDomain(self.chain_id, self.registry.address)

    @classmethod
    def open(
        cls, rpc_url: str, records_dir: Path | None, *, w3: Web3 | None = None
    ) -> ChainSession:
        """The recorded deployment on the chain at ``rpc_url`` (over ``w3`` when already
        connected); ConfigInvalid without one."""
        w3 = w3 or connect(rpc_url)
        deployment = load_deployment(w3, records_dir)
        if deployment is None:
            raise ConfigInvalid(
                f"no current deployment of the contracts on chain {chain_id_of(w3)} at {rpc_url}",
                hint="start the stack with `merit up`, or run `merit contracts deploy`",
            )
        return cls(w3, deployment)

    @classmethod
    def for_settings(
        cls, settings: Settings, rpc_url: str | None = None, *, refuse_dev: bool = False
    ) -> ChainSession:
        """The chain at ``rpc_url`` (default: the settings' chain) with its recorded deployment:
        on the dev chain, the one `merit up` recorded in the data dir. With ``refuse_dev``
        (production), the dev chain and a deployment with dev-sized windows are refused."""
        url = rpc_url or settings.effective_chain_rpc_url
        w3 = connect(url)
        chain_id = chain_id_of(w3)
        if refuse_dev:
            refuse_dev_chain(chain_id)
        session = cls.open(
            url, settings.dev_records_dir if chain_id == DEV_CHAIN_ID else None, w3=w3
        )
        if refuse_dev:
            refuse_dev_chain(chain_id, session.deployment.params)
        return session

    def __enter__(self) -> ChainSession:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the HTTP sessions web3 keeps to the chain (one per thread that used it)."""
        manager = getattr(self.w3.provider, "_request_session_manager", None)
        cache = getattr(manager, "session_cache", None)
        if cache is not None:
            for _, session in cache.items():
                session.close()
            cache.clear()
