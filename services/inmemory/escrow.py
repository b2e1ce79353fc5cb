"""The ``Escrow`` port in memory, with TaskEscrow's rules: a slot per (payer, task id), a fee
range, a payer's reclaim only after the expiry, and a move into an epoch's pool that skips what
is no longer held. Writes are keyed by intent like the chain writer's outbox: a repeated intent
returns what the first call did."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

from services.app.ports import FeeRange, MovedFees
from services.core.errors import Conflict, Invalid


@dataclass
class _Slot:
    amount: int
    funded_at: float
    status: str  # funded, refunded, settled, reclaimed


class MemoryEscrow:
    """Task fees held per (payer, task id); ``pools`` is what each epoch's pool received."""

    chain_id = 0
    address = "0x" + "e5" * 20

    def __init__(
        self, min_wei: int = 10**15, max_wei: int = 1000 * 10**18, *, expiry_s: float = 86_400.0
    ) -> None:
        self.range = FeeRange(min_wei, max_wei)
        self.expiry_s = expiry_s
        self.now = 0.0  # seconds; tests move it
        self.pools: dict[int, int] = {}
        self.paid_back: dict[str, int] = {}  # payer -> refunded + reclaimed
        self._slots: dict[tuple[str, str], _Slot] = {}
        self._intents: dict[str, object] = {}
        self._lock = threading.Lock()

    # --- what a payer does -------------------------------------------------------------------
    def fund(self, payer: str, task_id: str, amount: int) -> None:
        if not self.range.min_wei <= amount <= self.range.max_wei:
            raise Invalid(
                f"fee {amount} wei is outside [{self.range.min_wei}, {self.range.max_wei}]"
            )
        with self._lock:
            key = (payer.lower(), str(task_id))
            if key in self._slots:
                raise Conflict(f"task {task_id} is already funded by {payer}")
            self._slots[key] = _Slot(amount, self.now, "funded")

    def reclaim(self, payer: str, task_id: str) -> int:
        with self._lock:
            slot = self._slots.get((payer.lower(), str(task_id)))
            if slot is None or slot.status != "funded":
                raise Conflict(f"task {task_id} holds no fee of {payer}")
            if self.now < slot.funded_at + self.expiry_s:
                raise Conflict(
                    f"task {task_id}'s fee can be reclaimed from {slot.funded_at + self.expiry_s}"
                )
            slot.status = "reclaimed"
            self.paid_back[payer.lower()] = self.paid_back.get(payer.lower(), 0) + slot.amount
            return slot.amount

    # --- the port ----------------------------------------------------------------------------
    def fee_range(self) -> FeeRange:
        return self.range

    def held_wei(self, payer: str, task_id: str) -> int:
        with self._lock:
            slot = self._slots.get((payer.lower(), str(task_id)))
            return slot.amount if slot is not None and slot.status == "funded" else 0

    @property
    def held_total(self) -> int:
        with self._lock:
            return sum(s.amount for s in self._slots.values() if s.status == "funded")

    def refund(self, intent_key: str, payer: str, task_id: str) -> str:
        with self._lock:
            if intent_key in self._intents:
                return str(self._intents[intent_key])
            slot = self._slots.get((payer.lower(), str(task_id)))
            if slot is None or slot.status != "funded":
                raise Conflict(f"task {task_id} holds no fee of {payer}")
            slot.status = "refunded"
            self.paid_back[payer.lower()] = self.paid_back.get(payer.lower(), 0) + slot.amount
            tx = f"refund:{len(self._intents)}"
            self._intents[intent_key] = tx
            return tx

    def move_fees(self, intent_key: str, epoch: int, items: Sequence[tuple[str, str]]) -> MovedFees:
        with self._lock:
            done = self._intents.get(intent_key)
            if isinstance(done, MovedFees):
                return done
            moved: dict[str, int] = {}
            missing: list[str] = []
            for payer, task_id in items:
                slot = self._slots.get((payer.lower(), str(task_id)))
                if slot is None or slot.status != "funded":
                    missing.append(str(task_id))
                    continue
                slot.status = "settled"
                moved[str(task_id)] = slot.amount
            result = MovedFees(epoch, moved, tuple(missing), f"fees:{len(self._intents)}")
            self.pools[epoch] = self.pools.get(epoch, 0) + result.amount_wei
            self._intents[intent_key] = result
            return result
