"""Dev-chain operators: anvil's dev accounts register the local nodes `merit up` and `merit demo`
start, so their rewards settle on chain like any operator's."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount

from services.app.ports import ContentStore
from services.chain.contracts import ChainSession, model_hash
from services.chain.keys import dev_account
from services.chain.tx import DirectSender


def metadata_document(
    model: str,
    endpoint: str | None,
    operator: str,
    *,
    signer: str | None = None,
    name: str | None = None,
) -> bytes:
    """The node's metadata as canonical JSON (its CID goes on chain): the model it serves, where,
    who operates it and the address whose key signs its work (the operator's unless another)."""
    import json

    doc: dict[str, object] = {"version": 1, "model": model, "endpoint": endpoint,
                              "operator": operator, "signer": signer or operator}  # fmt: skip
    if name is not None:
        doc["name"] = name
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def register_dev_operator(
    session: ChainSession,
    content: ContentStore,
    index: int,
    model: str,
    url: str,
    *,
    name: str | None = None,
) -> tuple[str, int]:
    """Dev account ``dev:index`` takes MRT from the faucet, approves and registers a node with
    the minimum stake, its metadata document put in ``content`` (once; a second call finds the
    registration). (address, registry node id). The marketplace learns of the node from the
    chain, as of any operator's."""
    account = Account.from_key(dev_account(f"dev:{index}").private_key)
    found = session.registry.node_id_of(account.address)
    if found:
        return account.address, int(found)
    sender = DirectSender(session.w3, account, session.events)
    stake = int(session.registry.register_stake())
    sender.send(session.token.faucet(account.address, stake))
    sender.send(session.token.approve(session.registry.address, stake))
    metadata_cid = content.put(metadata_document(model, url, account.address, name=name))
    sender.send(session.registry.register(model_hash(model), metadata_cid, stake))
    node_id = session.registry.node_id_of(account.address)
    if not node_id:
        raise RuntimeError(f"the registry did not record {account.address}'s registration")
    return account.address, int(node_id)


def pay_fee(session: ChainSession, payer: LocalAccount, task_id: str, fee_wei: int) -> str:
    """``payer`` escrows ``fee_wei`` for ``task_id`` in TaskEscrow (approving it first when the
    allowance is short); the fund transaction's hash. A refusal raises its named error."""
    sender = DirectSender(session.w3, payer, session.events)
    token, escrow = session.token, session.escrow.address
    if token.allowance(payer.address, escrow) < fee_wei:
        sender.send(token.approve(escrow, fee_wei))
    return sender.send(session.escrow.fund(task_id, fee_wei)).tx_hash


DEV_REQUESTER_FUNDS = 100 * 10**18  # what `merit up` gives the dev requester to pay fees from


def fund_dev_requester(session: ChainSession, amount: int = DEV_REQUESTER_FUNDS) -> str:
    """The dev requester (``DEV_REQUESTER``) holds at least ``amount`` MRT from the faucet and has
    approved TaskEscrow for it, so `merit task submit` pays each fee with one transaction
    (idempotent: a restart tops up only what is missing). Its address."""
    from services.chain.keys import DEV_REQUESTER

    account = Account.from_key(dev_account(DEV_REQUESTER).private_key)
    sender = DirectSender(session.w3, account, session.events)
    token, escrow = session.token, session.escrow.address
    short = amount - int(token.balance_of(account.address))
    if short > 0:
        sender.send(token.faucet(account.address, short))
    if token.allowance(account.address, escrow) < amount:
        sender.send(token.approve(escrow, amount))
    return str(account.address)
