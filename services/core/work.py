"""Signed work: every answer, calibration answer and verdict a node gives is an EIP-712 message
signed by the node's key.

The domain is ``EIP712Domain(name "meritswarm", version "1", chainId, verifyingContract)`` with the
deployment's chain id and its NodeRegistry address, so a signature made for one deployment is not
valid on another. There is one message type::

    Work(string kind, uint256 task, uint32 round, bytes32 left, bytes32 right,
         bytes32 request, bytes32 reply)

- ``kind``: "answer" (a task's answer, free text or a multiple-choice letter), "judgment" (a
  verdict on a pair) or "calibration" (a calibration question's answer);
- ``task``: the task's UUID as an unsigned integer; for calibration, the keccak256 of the
  question's place in the attempt (``calibration_task``);
- ``round``: the task's round (``TASK_ROUND``: a task is played in one round today), for
  calibration the attempt number;
- ``left``/``right``: keccak256 of the two answer texts a judge was shown (UTF-8), zero otherwise;
- ``request``/``reply``: keccak256 of the exact request body bytes the node received and of the
  exact reply body bytes it sent, so the verdict, the letter and every log-probability are covered.

The marketplace tells the node only what it cannot know itself, in request headers
(``X-Merit-Kind``, ``X-Merit-Task`` as 0x-hex uint256, ``X-Merit-Round``); the node hashes the
bytes itself, reads the two answers of a judging request from its prompt, signs under its own
domain (given at its start, never taken from the caller) and answers with ``X-Merit-Signature``
(65 bytes r||s||v, v 27 or 28, 0x-hex) and, for diagnosis only, ``X-Merit-Signer``.

The digest is computed here with keccak (the same bytes ``eth_account.messages.encode_typed_data``
gives; ``tests/unit/test_work_signing.py`` cross-checks the two) and signed and recovered with
eth_keys, which uses libsecp256k1 through coincurve: about 0.1 ms each, so the consensus
harness, which goes through the same checks, is not slowed much.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

from eth_hash.auto import keccak
from eth_keys.datatypes import PrivateKey, Signature
from eth_keys.exceptions import BadSignature
from eth_utils.exceptions import ValidationError

DOMAIN_NAME = "meritswarm"
DOMAIN_VERSION = "1"
WORK_TYPE = (
    "Work(string kind,uint256 task,uint32 round,bytes32 left,bytes32 right,"
    "bytes32 request,bytes32 reply)"
)
_DOMAIN_TYPE = "EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
_WORK_TYPEHASH = keccak(WORK_TYPE.encode())
_DOMAIN_TYPEHASH = keccak(_DOMAIN_TYPE.encode())
ZERO = bytes(32)
TASK_ROUND = 1  # the round of every task's answers and verdicts (a task is played in one round)

# the headers of a work order (request) and of its signature (reply)
KIND_HEADER = "X-Merit-Kind"
TASK_HEADER = "X-Merit-Task"
ROUND_HEADER = "X-Merit-Round"
SIGNATURE_HEADER = "X-Merit-Signature"
SIGNER_HEADER = "X-Merit-Signer"


class WorkKind(StrEnum):
    ANSWER = "answer"
    JUDGMENT = "judgment"
    CALIBRATION = "calibration"


def hash_bytes(data: bytes) -> bytes:
    """keccak256 of ``data``."""
    return bytes(keccak(data))


def text_hash(text: str) -> bytes:
    """keccak256 of ``text`` in UTF-8: how an answer shown to a judge is named."""
    return hash_bytes(text.encode())


def task_number(task_id: str) -> int:
    """A task's UUID as the uint256 its work is signed under."""
    return uuid.UUID(str(task_id)).int


def calibration_task(domain: str, index: int) -> int:
    """The uint256 a calibration question is signed under: its place in the attempt's draw."""
    return int.from_bytes(hash_bytes(f"{domain}/question-{index}".encode()), "big")


@dataclass(frozen=True)
class SigningDomain:
    """The deployment signed work belongs to."""

    chain_id: int
    registry: str  # the NodeRegistry contract's address

    def separator(self) -> bytes:
        return _separator(self.chain_id, self.registry)


@lru_cache(maxsize=64)
def _separator(chain_id: int, registry: str) -> bytes:
    """The EIP-712 domain separator of (chain id, registry address)."""
    address = bytes.fromhex(registry.removeprefix("0x"))
    if len(address) != 20:
        raise ValueError(f"{registry!r} is not an address")
    return hash_bytes(
        _DOMAIN_TYPEHASH
        + hash_bytes(DOMAIN_NAME.encode())
        + hash_bytes(DOMAIN_VERSION.encode())
        + chain_id.to_bytes(32, "big")
        + address.rjust(32, b"\0")
    )


_KIND_HASH = {k: hash_bytes(k.value.encode()) for k in WorkKind}


@dataclass(frozen=True)
class WorkOrder:
    """What the marketplace tells a node about the work it asks for (in request headers)."""

    kind: WorkKind
    task: int
    round: int

    def headers(self) -> dict[str, str]:
        return {
            KIND_HEADER: self.kind.value,
            TASK_HEADER: f"0x{self.task:064x}",
            ROUND_HEADER: str(self.round),
        }

    @classmethod
    def from_headers(cls, headers: dict[str, str]) -> WorkOrder | None:
        """The order named by ``headers`` (keys lower-case), or None when it names none or is
        malformed (a node then does the work unsigned)."""
        try:
            kind = WorkKind(headers[KIND_HEADER.lower()])
            task = int(headers[TASK_HEADER.lower()], 16)
            rnd = int(headers[ROUND_HEADER.lower()])
        except (KeyError, ValueError):
            return None
        if not (0 <= task < 1 << 256 and 0 <= rnd < 1 << 32):
            return None
        return cls(kind, task, rnd)


@dataclass(frozen=True)
class Work:
    """One ``Work`` message."""

    kind: WorkKind
    task: int
    round: int
    left: bytes
    right: bytes
    request: bytes
    reply: bytes

    def digest(self, domain: SigningDomain) -> bytes:
        """The EIP-712 digest a node signs."""
        for name in ("left", "right", "request", "reply"):
            if len(getattr(self, name)) != 32:
                raise ValueError(f"{name} must be 32 bytes")
        struct = hash_bytes(
            _WORK_TYPEHASH
            + _KIND_HASH[self.kind]
            + self.task.to_bytes(32, "big")
            + self.round.to_bytes(32, "big")
            + self.left
            + self.right
            + self.request
            + self.reply
        )
        return hash_bytes(b"\x19\x01" + domain.separator() + struct)

    def fields(self) -> dict[str, object]:
        """The message as JSON fields (hashes 0x-hex, task as a decimal string)."""
        return {
            "kind": self.kind.value,
            "task": str(self.task),
            "round": self.round,
            "left": "0x" + self.left.hex(),
            "right": "0x" + self.right.hex(),
            "request": "0x" + self.request.hex(),
            "reply": "0x" + self.reply.hex(),
        }

    @classmethod
    def from_fields(cls, f: dict[str, object]) -> Work:
        """The message from ``fields()`` (ValueError, KeyError or TypeError when malformed)."""
        return cls(
            WorkKind(str(f["kind"])),
            int(str(f["task"])),
            int(str(f["round"])),
            *(
                bytes.fromhex(str(f[k]).removeprefix("0x"))
                for k in ("left", "right", "request", "reply")
            ),
        )


@dataclass(frozen=True)
class Receipt:
    """What a node's reply brings back besides its content: the hashes of the exact request and
    reply bodies, and the node's signature over them (None: it sent none)."""

    request: bytes
    reply: bytes
    signature: bytes | None


@dataclass(frozen=True)
class Signed:
    """Signed work as the marketplace keeps it: the message, the signature, and the address the
    signature recovers to (None: unsigned or unrecoverable)."""

    work: Work
    signature: bytes | None
    signer: str | None

    def fields(self) -> dict[str, object]:
        return {
            **self.work.fields(),
            "signature": None if self.signature is None else "0x" + self.signature.hex(),
            "signer": self.signer,
        }


def sign(private_key: bytes, domain: SigningDomain, work: Work) -> bytes:
    """The 65-byte signature (r || s || v, v 27 or 28) of ``work`` under ``domain``."""
    sig = _private(private_key).sign_msg_hash(work.digest(domain))
    r, s, v = int(sig.r), int(sig.s), int(sig.v)
    return r.to_bytes(32, "big") + s.to_bytes(32, "big") + bytes([v + 27])


@lru_cache(maxsize=1024)
def _private(private_key: bytes) -> PrivateKey:
    return PrivateKey(private_key)


def address_of(private_key: bytes) -> str:
    return str(_private(private_key).public_key.to_checksum_address())


def recover(domain: SigningDomain, work: Work, signature: bytes) -> str | None:
    """The checksummed address that signed ``work`` under ``domain``, or None when ``signature``
    is malformed (any 65 bytes with v 27/28 or 0/1 recover to some address: compare it)."""
    if len(signature) != 65 or signature[64] not in (0, 1, 27, 28):
        return None
    v = signature[64] - 27 if signature[64] >= 27 else signature[64]
    try:
        sig = Signature(signature[:64] + bytes([v]))
        return str(sig.recover_public_key_from_msg_hash(work.digest(domain)).to_checksum_address())
    except (BadSignature, ValidationError, ValueError):
        return None


def check(
    domain: SigningDomain, signer: str | None, expected: Work, signature: bytes | None
) -> Signed | str:
    """``expected`` as signed by ``signer`` (the node's registered key), or why not: unsigned,
    no registered signer, or the signature recovers to another address (forged, or made for
    other work: another task, round, kind, pair, request, reply or deployment)."""
    if signer is None:
        return "the node has no registered signing key: its work cannot be verified"
    if signature is None:
        return "unsigned: the reply carried no X-Merit-Signature"
    got = recover(domain, expected, signature)
    if got is None:
        return "malformed signature"
    if got.lower() != signer.lower():
        return (
            f"signature recovers to {got}, not the node's signer {signer} "
            "(forged, or signed for other work or another deployment)"
        )
    return Signed(expected, signature, got)


def name_key(name: str) -> bytes:
    """A deterministic private key made from ``name``: for simulated and test nodes only (anyone
    can make it)."""
    return hash_bytes(f"meritswarm test key/{name}".encode())


def seal(
    private_key: bytes,
    domain: SigningDomain,
    order: WorkOrder,
    request: bytes,
    reply: bytes,
    *,
    left: bytes = ZERO,
    right: bytes = ZERO,
) -> Receipt:
    """The receipt of an exchange (``request``, ``reply`` bodies) signed with ``private_key``:
    what an honest node's reply carries. In-memory nodes (the consensus harness, tests) use it."""
    work = Work(
        order.kind, order.task, order.round, left, right, hash_bytes(request), hash_bytes(reply)
    )
    return Receipt(work.request, work.reply, sign(private_key, domain, work))
