"""``SettlementChain`` over a ChainSession and the chain writer's outbox (services.app.settlement).

A write whose intent the outbox has never seen is estimated first, so a call the chain would
refuse (no verifier yet, challenge window still open) raises its named error and leaves no outbox
row behind; a known intent goes straight to the outbox, which returns the receipt of its one
transaction instead of sending again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from services.app.ports import FeeRange, MovedFees, OutboxRepository, Store
from services.chain.contracts import ChainSession, task_uuid
from services.chain.durable import ChainPersister, persister_for
from services.chain.events import TaskFeeMissing, TaskSettled
from services.chain.outbox import OutboxSender, PostgresSenderLock, stored_receipt
from services.chain.rpc import (
    CHAIN_HINT,
    account_from_key,
    translate_chain_errors,
)
from services.chain.tx import ContractCall, estimate, receipt_of
from services.core.errors import ChainUnavailable, ConfigInvalid
from services.core.types import OutboxStatus
from services.settings import SIGNING_ROLES, Settings, SigningRole, role_setting


class ChainSettlement:
    """The marketplace's chain writes, each sent by the role that may make it: the settler
    proposes and finalizes epochs, refunds escrowed fees and moves them into epoch pools (the
    ``Escrow`` port); the examiner commits gold sets and attests calibrations. ``senders`` holds
    an outbox sender per role key this process has; a write for a role it lacks raises
    ConfigInvalid naming the setting."""

    def __init__(
        self,
        session: ChainSession,
        senders: Mapping[SigningRole, OutboxSender],
        outbox: OutboxRepository,
        persister: ChainPersister | None = None,
    ) -> None:
        self.session, self.senders, self.outbox = session, dict(senders), outbox
        self._fee_range: FeeRange | None = None
        self.persister = persister  # the dev chain's: what is acted on is saved first

    def sender(self, role: SigningRole) -> OutboxSender:
        """The outbox sender of ``role``'s key; ConfigInvalid when this process holds none."""
        try:
            return self.senders[role]
        except KeyError:
            raise ConfigInvalid(
                f"{role_setting(role)} is not set: this process cannot act as the {role}",
                hint=f"set {role_setting(role)} to the {role}'s private key",
            ) from None

    @property
    def chain_id(self) -> int:
        return self.session.chain_id

    def node_id_of(self, account: str) -> int | None:
        found = self.session.registry.node_id_of(account)
        return int(found) if found is not None else None

    def node_count(self) -> int:
        return self.session.registry.node_count()

    def proposal_cancelled(self, epoch: int) -> bool:
        """An upheld challenge cancelled ``epoch``'s proposal and it is not proposed again."""
        from services.chain.contracts import ChallengeStatus

        held = self.session.settlement.challenge_of(epoch)
        if held is None or held.status is not ChallengeStatus.UPHELD:
            return False
        return self.session.settlement.last_proposed_epoch() < epoch

    @property
    def challenge_window_s(self) -> int:
        return int(self.session.settlement.challenge_window_s())

    def reputation_bp(self, chain_node_id: int) -> int:
        return self.session.registry.reputation_bp(chain_node_id)

    def sent(self, intent_key: str) -> str | None:
        entry = self.outbox.get_by_intent(intent_key)
        if entry is None or entry.status is not OutboxStatus.MINED:
            return None
        return entry.tx_hash

    def _send(self, role: SigningRole, intent_key: str, call: ContractCall) -> str:
        sender = self.sender(role)
        if self.outbox.get_by_intent(intent_key) is None:
            estimate(self.session.w3, sender.address, call)  # raises
        return sender.send(intent_key, call).tx_hash

    def propose(
        self,
        intent_key: str,
        epoch: int,
        root: bytes,
        total: int,
        audit_cid: str,
        first_word: int,
        words: list[int],
        proof: bytes,
    ) -> str:
        call = self.session.settlement.propose(
            epoch, root, total, audit_cid, first_word, words, proof
        )
        return self._send("settler", intent_key, call)

    def attest(
        self, intent_key: str, chain_node_id: int, score_bps: int, valid_until: datetime
    ) -> str:
        """Attest a node's calibration on chain (the writer holds ATTESTER_ROLE); the tx hash."""
        return self._send(
            "examiner",
            intent_key,
            self.session.registry.attest(chain_node_id, score_bps, valid_until),
        )

    def slash(self, intent_key: str, chain_node_id: int, amount_wei: int, evidence_cid: str) -> str:
        """Slash a node on signed evidence stored under ``evidence_cid`` (the writer holds
        SETTLER_ROLE); the tx hash. A retry under the same intent finds the first transaction."""
        return self._send(
            "settler",
            intent_key,
            self.session.registry.slash(chain_node_id, amount_wei, evidence_cid),
        )

    def commit_gold(self, intent_key: str, epoch: int, root: bytes) -> str:
        """Commit the Merkle root of ``epoch``'s hidden gold set on chain (the writer holds
        EXAMINER_ROLE), before the epoch's first task; the tx hash.

        Refusals are named before anything is queued: ``GoldAlreadyCommitted`` (an epoch is
        committed once), ``GoldTooLate`` (the epoch is already proposed), ``ChainInvalid`` (a zero
        root), ``ChainUnauthorized`` (the writer lacks the role).
        """
        return self._send("examiner", intent_key, self.session.settlement.commit_gold(epoch, root))

    def gold_commitment(self, epoch: int) -> tuple[bytes, int] | None:
        """(root, committed at, unix seconds) of ``epoch``'s gold commitment; None without one."""
        return self.session.settlement.gold_commitment(epoch)

    @property
    def settlement_address(self) -> str:
        """The EpochSettlement contract every proof's challenge is bound to."""
        return self.session.settlement.address

    # --- task fees held in escrow (services.app.ports.Escrow) -----------------------------------

    @property
    def address(self) -> str:
        """The TaskEscrow contract a payer sends its fee to."""
        return self.session.escrow.address

    def fee_range(self) -> FeeRange:
        """The fees TaskEscrow accepts (fixed at deployment: read once)."""
        if self._fee_range is None:
            low, high = self.session.escrow.fee_range()
            self._fee_range = FeeRange(min_wei=int(low), max_wei=int(high))
        return self._fee_range

    def held_wei(self, payer: str, task_id: str) -> int:
        """``payer``'s fee for ``task_id`` while TaskEscrow still holds it, else 0. On the dev
        chain a held fee is saved to the chain's state file before it is reported (the task is
        then dispatched on it), so a restarted anvil still holds it."""
        held = int(self.session.escrow.escrow_of(payer, task_id).held_wei)
        if held and self.persister is not None:
            with translate_chain_errors("block number"):
                block = int(self.session.w3.eth.block_number)
            self.persister.persist(block)
        return held

    def refund(self, intent_key: str, payer: str, task_id: str) -> str:
        """Return ``payer``'s held fee for failed task ``task_id`` (the settler); the tx hash.
        ``ChainNotFound`` (TaskEscrowNotFunded) when no fee of ``payer`` is held for it."""
        return self._send("settler", intent_key, self.session.escrow.refund(payer, task_id))

    def move_fees(self, intent_key: str, epoch: int, items: Sequence[tuple[str, str]]) -> MovedFees:
        """Move the held fees of ``items`` (payer, task id) into ``epoch``'s pool (the settler).

        What moved and what was skipped (refunded, reclaimed, settled or never funded) is read
        from the receipt's TaskSettled and TaskFeeMissing events, so a retry under the same
        intent reads the first transaction's receipt and returns the same answer. A task id
        funded by two payers of the batch counts the sum of what moved for it. Nothing is sent
        for an empty batch."""
        if not items:
            return MovedFees(epoch=int(epoch), moved={}, missing=(), tx_hash=None)
        call = self.session.escrow.settle_tasks(epoch, items)
        tx_hash = self._send("settler", intent_key, call)
        moved: dict[str, int] = {}
        missing: list[str] = []
        for event in self.session.events.decode_receipt(self._receipt(intent_key, tx_hash)):
            if isinstance(event, TaskSettled):
                task = str(task_uuid(event.task_id))
                moved[task] = moved.get(task, 0) + int(event.amount)
            elif isinstance(event, TaskFeeMissing):
                missing.append(str(task_uuid(event.task_id)))
        return MovedFees(epoch=int(epoch), moved=moved, missing=tuple(missing), tx_hash=tx_hash)

    def _receipt(self, intent_key: str, tx_hash: str) -> Mapping[str, Any]:
        """The receipt of ``intent_key``'s transaction as the outbox stored it, else the chain's."""
        entry = self.outbox.get_by_intent(intent_key)
        if entry is not None and entry.receipt is not None and entry.tx_hash == tx_hash:
            return stored_receipt(entry.receipt)
        receipt = receipt_of(self.session.w3, tx_hash)
        if receipt is None:
            raise ChainUnavailable(
                f"the chain has no receipt for {tx_hash} of {intent_key}", hint=CHAIN_HINT
            )
        return receipt

    def finalize(self, intent_key: str, epoch: int, first_word: int, words: list[int]) -> str:
        return self._send(
            "settler", intent_key, self.session.settlement.finalize(epoch, first_word, words)
        )

    def close(self) -> None:
        self.session.close()


def open_chain_settlement(
    settings: Settings, store: Store, rpc_url: str | None = None
) -> ChainSettlement:
    """The marketplace's chain over the recorded deployment at ``rpc_url`` (default: the settings'
    chain), writing through ``store``'s outbox with one sender per role key the settings hold
    (``MERIT_SETTLER_KEY``, ``MERIT_EXAMINER_KEY``, ``MERIT_RESOLVER_KEY``; anvil's dev:10.. in
    dev). Production refuses the dev chain and a deployment with dev-sized windows."""
    url = rpc_url or settings.effective_chain_rpc_url
    session = ChainSession.for_settings(settings, url, refuse_dev=not settings.is_dev)
    lock = PostgresSenderLock(settings.effective_database_url)
    persister = (
        persister_for(url, settings.effective_chain_state_file) if session.is_dev_chain else None
    )
    senders = {
        role: OutboxSender(
            session.w3,
            account_from_key(settings.role_key(role)),
            store.outbox,
            lock,
            decoder=session.events,
            durable=None if persister is None else persister.persist,
        )
        for role in SIGNING_ROLES
        if settings.has_role_key(role)
    }
    return ChainSettlement(session, senders, store.outbox, persister)
