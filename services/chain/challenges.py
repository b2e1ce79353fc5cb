"""Challenges and settler bonds on EpochSettlement, signed directly by one key (no outbox).

``ChainChallenges`` is the watcher's (and the resolver's) side of settlement: it reads the
``EpochProposed`` events with the arguments of their ``propose`` calls, the pending epoch and its
window, the registry's node ids at a given block, and sends ``challenge`` (approving the challenge
bond first when the allowance is short) or ``resolve``. It implements
``services.app.ports.WatchChain``.
Refusals arrive as the named errors of ``services.chain.reverts`` (``ChallengeWindowClosed``,
``UnderChallenge``, ...).

``ensure_settler_bond`` tops a settler's bond up to what one proposal locks; on the dev chain the
payer takes the MRT from the faucet (``merit up`` calls it once the contracts are deployed).
"""

from __future__ import annotations

from typing import Any

from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address

from services.app.ports import ProposedEpoch
from services.chain.contracts import ChainSession, ChallengeRecord, ChallengeStatus
from services.chain.events import EpochProposed
from services.chain.reverts import ChainNotFound
from services.chain.rpc import translate_chain_errors
from services.chain.tx import DirectSender, TxResult
from services.core.work import SigningDomain


class ChainChallenges:
    def __init__(self, session: ChainSession, account: LocalAccount) -> None:
        self.session = session
        self.sender = DirectSender(session.w3, account, session.events)

    @property
    def address(self) -> str:
        return self.sender.address

    def _rpc(self, what: str, fn: Any, *args: Any) -> Any:
        with translate_chain_errors(what):
            return fn(*args)

    # --- reads --------------------------------------------------------------------------------

    def head(self) -> int:
        return int(self._rpc("block number", lambda: self.session.w3.eth.block_number))

    def now(self) -> int:
        block = self._rpc("latest block", self.session.w3.eth.get_block, "latest")
        return int(block["timestamp"])

    def proposals(self, from_block: int, to_block: int) -> list[ProposedEpoch]:
        """Every ``EpochProposed`` between the blocks (inclusive), with its call's proof and
        reputation words (None/empty when the call went through another contract)."""
        if to_block < from_block:
            return []
        events = self._rpc(
            "EpochProposed events", lambda: self.session.events.fetch(
                self.session.w3, from_block=from_block, to_block=to_block, types=(EpochProposed,)
            ),
        )  # fmt: skip
        return [self._proposed(e) for e in events]

    def _proposed(self, e: EpochProposed) -> ProposedEpoch:
        w3, contract = self.session.w3, self.session.settlement.contract
        tx = self._rpc("propose transaction", w3.eth.get_transaction, e.tx_hash)
        block = self._rpc("proposal block", w3.eth.get_block, e.block_number)
        args: dict[str, Any] = {}
        if str(tx.get("to") or "").lower() == contract.address.lower():
            try:
                fn, args = contract.decode_function_input(tx["input"])
                args = dict(args) if fn.fn_name == "propose" else {}
            except ValueError:
                args = {}
        return ProposedEpoch(
            epoch=int(e.epoch), audit_cid=e.audit_cid, rewards_root=e.rewards_root,
            total=int(e.total), proposer=e.proposer, block_number=e.block_number,
            tx_hash=e.tx_hash, proposed_at=int(block["timestamp"]),
            proof=bytes(args["proof"]) if "proof" in args else None,
            rep_first_word=int(args.get("reputationFirstWord", 0)),
            rep_words=tuple(int(w) for w in args.get("reputationWords", ())),
        )  # fmt: skip

    def pool_of(self, epoch: int) -> int:
        """What EpochSettlement holds in ``epoch``'s pool (fees moved out of the escrow)."""
        return int(self._rpc("the epoch's pool", self.session.settlement.pool_of, epoch))

    def pending_since(self, epoch: int) -> int | None:
        """``proposedAt`` of ``epoch`` while it is the pending one; None otherwise."""
        if self.session.settlement.challenge_ends_at(epoch) is None:
            return None
        proposal = self.session.settlement.proposal_of(epoch)
        return int(proposal.proposed_at.timestamp()) if proposal else None

    def challenge_ends_at(self, epoch: int) -> int | None:
        ends = self.session.settlement.challenge_ends_at(epoch)
        return int(ends.timestamp()) if ends else None

    def challenge_of(self, epoch: int) -> ChallengeRecord | None:
        return self.session.settlement.challenge_of(epoch)

    def open_challenger(self, epoch: int) -> str | None:
        held = self.challenge_of(epoch)
        return held.challenger if held and held.status is ChallengeStatus.OPEN else None

    def chain_node_id(self, account: str, block: int) -> int | None:
        """The registry node ``account`` operated at ``block``; None when none."""
        registry = self.session.registry.contract
        found = self._rpc(
            "NodeRegistry.nodeIdOf",
            lambda: registry.functions.nodeIdOf(to_checksum_address(account)).call(
                block_identifier=block
            ),
        )
        return int(found) or None

    def metadata_cid(self, chain_node_id: int, block: int) -> str | None:
        """The metadata document node ``chain_node_id`` had registered at ``block``."""
        try:
            node = self.session.registry.node(chain_node_id, block=block)
        except ChainNotFound:
            return None
        return node.metadata_cid

    def signing_domain(self) -> SigningDomain:
        return self.session.signing_domain

    # --- writes -------------------------------------------------------------------------------

    def challenge(self, epoch: int, evidence_cid: str) -> str:
        """Challenge ``epoch`` with the evidence at ``evidence_cid``, paying the challenge bond
        (approved first when the allowance is short); the tx hash."""
        settlement, token = self.session.settlement, self.session.token
        bond = int(settlement.challenge_bond())
        if token.allowance(self.address, settlement.address) < bond:
            self.sender.send(token.approve(settlement.address, bond))
        return self.sender.send(settlement.challenge(epoch, evidence_cid)).tx_hash

    def resolve(self, epoch: int, upheld: bool) -> TxResult:
        """Rule on ``epoch``'s open challenge (this key must hold RESOLVER_ROLE)."""
        return self.sender.send(self.session.settlement.resolve(epoch, upheld))

    def withdraw_bond(self, amount: int) -> TxResult:
        return self.sender.send(self.session.settlement.withdraw_bond(amount))


def ensure_settler_bond(session: ChainSession, payer: LocalAccount, settler: str) -> int:
    """Top ``settler``'s bond up to ``settlerBond()``, paid by ``payer`` (from the faucet on the
    dev chain); what was posted (0 when the bond already sufficed)."""
    settlement, token = session.settlement, session.token
    bond, _ = settlement.bond_of(settler)
    short = int(settlement.settler_bond()) - int(bond)
    if short <= 0:
        return 0
    sender = DirectSender(session.w3, payer, session.events)
    if session.is_dev_chain and token.balance_of(payer.address) < short:
        sender.send(token.faucet(payer.address, short))
    if token.allowance(payer.address, settlement.address) < short:
        sender.send(token.approve(settlement.address, short))
    sender.send(settlement.post_bond(settler, short))
    return short
