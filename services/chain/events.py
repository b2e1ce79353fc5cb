"""Contract events as domain events: frozen dataclasses with ints for wei and NodeId for nodes.

An event class is named like the Solidity event and its fields are the event's parameters in
snake_case, plus where it happened (``block_number``, ``tx_hash``, ``log_index``). Adding an
event the contracts gained is declaring its dataclass here; an event of the ABIs without one
decodes as ``OtherEvent`` (name and raw arguments) rather than being dropped.

``EventDecoder`` only decodes logs emitted by the deployment's own addresses, each with that
contract's ABI, so a Transfer from some other token is never mistaken for MeritToken's.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from eth_utils.address import to_checksum_address
from web3 import Web3
from web3._utils.events import get_event_data
from web3.types import EventData, LogReceipt, TxReceipt

from services.chain.compiler import load_artifact
from services.core.types import EpochId, NodeId, Wei


@dataclass(frozen=True)
class ChainEvent:
    """Where an event was emitted; every domain event carries it."""

    contract: ClassVar[str] = ""
    block_number: int
    tx_hash: str
    log_index: int


# --- MeritToken -------------------------------------------------------------------------------
@dataclass(frozen=True)
class Transfer(ChainEvent):
    contract = "MeritToken"
    from_: str
    to: str
    value: Wei


@dataclass(frozen=True)
class Approval(ChainEvent):
    contract = "MeritToken"
    owner: str
    spender: str
    value: Wei


@dataclass(frozen=True)
class FaucetDripped(ChainEvent):
    contract = "MeritToken"
    to: str
    amount: Wei


# --- NodeRegistry -----------------------------------------------------------------------------
@dataclass(frozen=True)
class NodeRegistered(ChainEvent):
    contract = "NodeRegistry"
    node_id: NodeId
    operator: str
    model_hash: str  # 0x-hex bytes32
    metadata_cid: str


@dataclass(frozen=True)
class Staked(ChainEvent):
    contract = "NodeRegistry"
    node_id: NodeId
    operator: str
    amount: Wei
    total: Wei


# --- TaskEscrow -------------------------------------------------------------------------------
@dataclass(frozen=True)
class TaskFunded(ChainEvent):
    contract = "TaskEscrow"
    payer: str
    task_id: str  # 0x-hex bytes32 (contracts.task_uuid turns it back into the task's UUID)
    amount: Wei


@dataclass(frozen=True)
class TaskRefunded(ChainEvent):
    contract = "TaskEscrow"
    payer: str
    task_id: str
    amount: Wei


@dataclass(frozen=True)
class TaskReclaimed(ChainEvent):
    """The payer took back a fee still held after the escrow's expiry."""

    contract = "TaskEscrow"
    payer: str
    task_id: str
    amount: Wei


@dataclass(frozen=True)
class TaskSettled(ChainEvent):
    """A task's held fee moved into the pool of ``epoch``."""

    contract = "TaskEscrow"
    epoch: EpochId
    payer: str
    task_id: str
    amount: Wei


@dataclass(frozen=True)
class TaskFeeMissing(ChainEvent):
    """A task of a settlement batch had no fee held for its payer; it was skipped."""

    contract = "TaskEscrow"
    epoch: EpochId
    payer: str
    task_id: str


# --- EpochSettlement --------------------------------------------------------------------------
@dataclass(frozen=True)
class EpochProposed(ChainEvent):
    contract = "EpochSettlement"
    epoch: EpochId
    rewards_root: str
    total: Wei
    audit_cid: str
    proposer: str


@dataclass(frozen=True)
class EpochChallenged(ChainEvent):
    contract = "EpochSettlement"
    epoch: EpochId
    challenger: str
    evidence_cid: str


@dataclass(frozen=True)
class ChallengeUpheld(ChainEvent):
    contract = "EpochSettlement"
    epoch: EpochId
    challenger: str
    settler: str
    slashed: Wei  # taken from the settler's bond
    paid: Wei  # to the challenger: its bond back plus the slashed amount


@dataclass(frozen=True)
class ChallengeRejected(ChainEvent):
    contract = "EpochSettlement"
    epoch: EpochId
    challenger: str
    forfeited: Wei  # the challenge bond, sent to the treasury
    treasury: str


@dataclass(frozen=True)
class BondPosted(ChainEvent):
    contract = "EpochSettlement"
    account: str
    from_: str
    amount: Wei
    bond: Wei


@dataclass(frozen=True)
class GoldCommitted(ChainEvent):
    contract = "EpochSettlement"
    epoch: EpochId
    root: str  # 0x-hex bytes32: the Merkle root of the epoch's hidden gold set
    committed_at: int  # block timestamp, unix seconds


@dataclass(frozen=True)
class OtherEvent(ChainEvent):
    """An event of the ABIs that has no domain class yet (roles, and whatever is new)."""

    contract_name: str
    name: str
    args: Mapping[str, Any]


EVENT_TYPES: dict[tuple[str, str], type[ChainEvent]] = {
    (cls.contract, cls.__name__): cls
    for cls in (
        Transfer,
        Approval,
        FaucetDripped,
        NodeRegistered,
        Staked,
        TaskFunded,
        TaskRefunded,
        TaskReclaimed,
        TaskSettled,
        TaskFeeMissing,
        EpochProposed,
        EpochChallenged,
        ChallengeUpheld,
        ChallengeRejected,
        BondPosted,
        GoldCommitted,
    )
}


def snake(name: str) -> str:
    """``metadataCid`` -> ``metadata_cid``; ``from`` -> ``from_`` (a Python keyword)."""
    out = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()
    return out + "_" if out in ("from", "in", "for", "class", "global") else out


def _plain(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return "0x" + bytes(value).hex()
    if isinstance(value, str) and Web3.is_address(value) and value.startswith("0x"):
        return to_checksum_address(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    return value


class EventDecoder:
    """Decodes the logs of one deployment's contracts into domain events."""

    def __init__(self, addresses: Mapping[str, str]) -> None:
        """``addresses``: contract name -> address (``Deployment.addresses``)."""
        self._by_address: dict[str, tuple[str, dict[bytes, dict[str, Any]]]] = {}
        for name, address in addresses.items():
            topics: dict[bytes, dict[str, Any]] = {}
            for item in load_artifact(name)["abi"]:
                if item.get("type") == "event" and not item.get("anonymous"):
                    types = ",".join(i["type"] for i in item["inputs"])
                    topics[bytes(Web3.keccak(text=f"{item['name']}({types})"))] = item
            self._by_address[address.lower()] = (name, topics)
        self._codec = Web3().codec

    @property
    def addresses(self) -> list[str]:
        return [to_checksum_address(a) for a in self._by_address]

    def decode_log(self, log: LogReceipt | Mapping[str, Any]) -> ChainEvent | None:
        """The domain event of ``log``; None when it is not from the deployment or not in its
        ABI."""
        known = self._by_address.get(str(log["address"]).lower())
        if known is None or not log["topics"]:
            return None
        contract_name, topics = known
        abi = topics.get(bytes(log["topics"][0]))
        if abi is None:
            return None
        data: EventData = get_event_data(self._codec, abi, log)
        fields = {snake(k): _plain(v) for k, v in data["args"].items()}
        block_number = int(data["blockNumber"])
        tx_hash = Web3.to_hex(data["transactionHash"])
        log_index = int(data["logIndex"])
        cls = EVENT_TYPES.get((contract_name, data["event"]))
        if cls is None:
            return OtherEvent(
                block_number=block_number,
                tx_hash=tx_hash,
                log_index=log_index,
                contract_name=contract_name,
                name=data["event"],
                args=fields,
            )
        wanted = {f.name for f in dataclasses.fields(cls)}
        return cls(
            block_number=block_number,
            tx_hash=tx_hash,
            log_index=log_index,
            **{k: v for k, v in fields.items() if k in wanted},
        )

    def decode_receipt(self, receipt: TxReceipt | Mapping[str, Any]) -> list[ChainEvent]:
        """The events a mined transaction emitted, in log order."""
        return [e for e in (self.decode_log(log) for log in receipt["logs"]) if e is not None]

    def fetch(
        self,
        w3: Web3,
        *,
        from_block: int = 0,
        to_block: int | str = "latest",
        types: Sequence[type[ChainEvent]] = (),
    ) -> list[ChainEvent]:
        """Events of the deployment between two blocks (inclusive), optionally only ``types``."""
        logs = w3.eth.get_logs(
            {"address": self.addresses, "fromBlock": from_block, "toBlock": to_block}  # type: ignore[typeddict-item]
        )
        events = (self.decode_log(log) for log in logs)
        return [e for e in events if e is not None and (not types or isinstance(e, tuple(types)))]


def of_type(events: Iterable[ChainEvent], cls: type[ChainEvent]) -> list[Any]:
    """The events of one type, in order."""
    return [e for e in events if isinstance(e, cls)]
