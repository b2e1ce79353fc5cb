"""The foundation contracts on a real anvil: deployment, stake, faucet, escrow, settlement guard."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3
from web3.logs import DISCARD

from services.chain.anvil import AnvilProcess, start_anvil
from services.chain.client import ChainReverted, call_view, connect, send
from services.chain.deploy import (
    CONTRACTS,
    Deployment,
    RoleAccounts,
    _deploy_one,
    artifacts_source_hash,
    ensure_deployed,
    load_deployment,
    record_path,
)
from services.chain.rpc import account_from_key
from services.core.errors import ChainUnavailable, PortInUse
from services.ports_free import free_port
from services.settings import ANVIL_DEV_KEY
from tests.contracts.market import SETTLER
from tests.fixtures.chain import DEV_KEYS, bond_settler

MRT = 10**18
OPERATOR = Account.from_key(DEV_KEYS[0])
DEPLOYER = Account.from_key(ANVIL_DEV_KEY)
MODEL_HASH = Web3.keccak(text="tinyllama-1.1b-chat-q4")
CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def _contract(w3: Web3, deployment: Deployment, name: str):
    return deployment.contract(w3, name)


def _fund_and_approve(w3: Web3, deployment: Deployment, account, amount: int, spender: str) -> None:
    token = _contract(w3, deployment, "MeritToken")
    send(w3, account, token.functions.faucet(account.address, amount), what="faucet")
    send(w3, account, token.functions.approve(spender, amount), what="approve")


# --- deployment -------------------------------------------------------------------------------


def test_every_contract_is_deployed_and_recorded(
    chain: Web3, deployment: Deployment, deployment_records: Path
) -> None:
    assert set(deployment.contracts) == set(CONTRACTS)
    for name in CONTRACTS:
        assert len(chain.eth.get_code(deployment.address(name))) > 0, name

    record = json.loads(record_path(deployment_records, 31337).read_text())
    assert record["chainId"] == 31337
    assert record["deployer"] == DEPLOYER.address
    assert record["sourceHash"] == artifacts_source_hash()
    for name in CONTRACTS:
        entry = record["contracts"][name]
        assert entry["address"] == deployment.address(name)
        receipt = chain.eth.get_transaction_receipt(entry["txHash"])
        assert receipt["contractAddress"] == entry["address"]
        assert receipt["blockNumber"] == entry["blockNumber"]


def test_roles_are_wired(chain: Web3, deployment: Deployment) -> None:
    token = _contract(chain, deployment, "MeritToken")
    settlement = _contract(chain, deployment, "EpochSettlement")
    escrow = _contract(chain, deployment, "TaskEscrow")
    minter = token.functions.MINTER_ROLE().call()
    assert token.functions.hasRole(minter, deployment.address("EpochSettlement")).call()
    assert not token.functions.hasRole(minter, DEPLOYER.address).call()
    roles = deployment.roles
    assert roles is not None and roles == RoleAccounts.dev()
    settler = settlement.functions.SETTLER_ROLE().call()
    assert settlement.functions.hasRole(settler, roles.settler).call()
    assert escrow.functions.hasRole(escrow.functions.OPERATOR_ROLE().call(), roles.settler).call()
    assert settlement.functions.verifier().call() == deployment.address("EpochRewardsVerifier")
    verifier = _contract(chain, deployment, "EpochRewardsVerifier")
    assert verifier.functions.chunkVerifier().call() == deployment.address("RewardChunkVerifier")
    registry = _contract(chain, deployment, "NodeRegistry")
    writer = registry.functions.REPUTATION_WRITER_ROLE().call()
    assert registry.functions.hasRole(writer, deployment.address("EpochSettlement")).call()
    assert not registry.functions.hasRole(writer, DEPLOYER.address).call()
    for role, holder in (("SETTLER_ROLE", roles.settler), ("ATTESTER_ROLE", roles.examiner)):
        role_id = getattr(registry.functions, role)().call()
        assert registry.functions.hasRole(role_id, holder).call(), role
    assert registry.functions.treasury().call() == roles.treasury
    resolver = settlement.functions.RESOLVER_ROLE().call()
    assert settlement.functions.hasRole(resolver, roles.resolver).call()
    # gold commitments come from the account that attests capabilities (the examiner)
    examiner = settlement.functions.EXAMINER_ROLE().call()
    assert examiner == Web3.keccak(text="EXAMINER_ROLE")
    attester = registry.functions.ATTESTER_ROLE().call()
    assert settlement.functions.hasRole(examiner, roles.examiner).call()
    assert registry.functions.hasRole(attester, roles.examiner).call()
    assert escrow.functions.settlement().call() == deployment.address("EpochSettlement")


def test_ensure_deployed_twice_deploys_nothing(
    chain: Web3, deployment: Deployment, deployment_records: Path
) -> None:
    block = chain.eth.block_number
    nonce = chain.eth.get_transaction_count(DEPLOYER.address)

    again = ensure_deployed(chain, ANVIL_DEV_KEY, deployment_records)

    assert again == deployment
    assert chain.eth.block_number == block
    assert chain.eth.get_transaction_count(DEPLOYER.address) == nonce


def test_ensure_deployed_redeploys_when_record_is_from_other_sources(
    chain: Web3, deployment: Deployment, deployment_records: Path, tmp_path: Path
) -> None:
    record = json.loads(record_path(deployment_records, 31337).read_text())
    record["sourceHash"] = "0" * 64
    record_path(tmp_path, 31337).write_text(json.dumps(record))

    assert load_deployment(chain, tmp_path) is None
    fresh = ensure_deployed(chain, ANVIL_DEV_KEY, tmp_path)

    assert fresh.address("MeritToken") != deployment.address("MeritToken")
    assert json.loads(record_path(tmp_path, 31337).read_text())["sourceHash"] == fresh.source_hash


def test_connect_to_nothing_is_chain_unavailable() -> None:
    with pytest.raises(ChainUnavailable) as caught:
        connect(f"http://127.0.0.1:{free_port()}", timeout=2)
    assert "merit up" in caught.value.one_line()


# --- NodeRegistry -----------------------------------------------------------------------------


def test_register_takes_min_stake_and_assigns_node_ids(chain: Web3, deployment: Deployment) -> None:
    registry = _contract(chain, deployment, "NodeRegistry")
    token = _contract(chain, deployment, "MeritToken")
    min_stake = registry.functions.minStake().call()
    assert min_stake == deployment.min_stake_wei
    _fund_and_approve(chain, deployment, OPERATOR, 2 * min_stake, registry.address)

    receipt = send(
        chain,
        OPERATOR,
        registry.functions.register(MODEL_HASH, CID, min_stake),
        what="register",
    )

    (registered,) = registry.events.NodeRegistered().process_receipt(receipt, errors=DISCARD)
    assert registered["args"]["nodeId"] == 1
    assert registered["args"]["operator"] == OPERATOR.address
    assert registry.functions.nodeIdOf(OPERATOR.address).call() == 1
    assert registry.functions.nodeCount().call() == 1
    node = registry.functions.getNode(1).call()
    assert node[0] == OPERATOR.address and node[2] == MODEL_HASH and node[3] == CID
    assert registry.functions.stakeOf(1).call() == min_stake
    assert token.functions.balanceOf(registry.address).call() == min_stake
    assert token.functions.balanceOf(OPERATOR.address).call() == min_stake

    send(chain, OPERATOR, registry.functions.stake(min_stake), what="stake")
    assert registry.functions.stakeOf(1).call() == 2 * min_stake


def test_register_without_enough_stake_names_the_shortfall(
    chain: Web3, deployment: Deployment
) -> None:
    registry = _contract(chain, deployment, "NodeRegistry")
    need = registry.functions.minStake().call()
    _fund_and_approve(chain, deployment, OPERATOR, need - 1, registry.address)

    with pytest.raises(ChainReverted) as caught:
        send(
            chain,
            OPERATOR,
            registry.functions.register(MODEL_HASH, CID, need),
            what="register",
        )

    assert caught.value.error_name == "NodeRegistryInsufficientStake"
    assert caught.value.error_args == (OPERATOR.address, need - 1, need)
    assert registry.functions.nodeCount().call() == 0


def test_register_twice_is_refused(chain: Web3, deployment: Deployment) -> None:
    registry = _contract(chain, deployment, "NodeRegistry")
    need = registry.functions.minStake().call()
    _fund_and_approve(chain, deployment, OPERATOR, 2 * need, registry.address)
    send(
        chain,
        OPERATOR,
        registry.functions.register(MODEL_HASH, CID, need),
        what="register",
    )

    with pytest.raises(ChainReverted) as caught:
        send(
            chain,
            OPERATOR,
            registry.functions.register(MODEL_HASH, CID, need),
            what="register",
        )
    assert caught.value.error_name == "NodeRegistryAlreadyRegistered"
    assert caught.value.error_args == (OPERATOR.address, 1)


def test_unknown_node_id_view_reverts_by_name(chain: Web3, deployment: Deployment) -> None:
    registry = _contract(chain, deployment, "NodeRegistry")
    with pytest.raises(ChainReverted) as caught:
        call_view(registry.functions.getNode(7), what="getNode")
    assert caught.value.error_name == "NodeRegistryUnknownNode"
    assert caught.value.error_args == (7,)


# --- MeritToken -------------------------------------------------------------------------------


def test_faucet_mints_on_the_dev_chain_up_to_its_limit(chain: Web3, deployment: Deployment) -> None:
    token = _contract(chain, deployment, "MeritToken")
    assert (token.functions.name().call(), token.functions.symbol().call()) == ("Merit", "MRT")
    send(
        chain, OPERATOR, token.functions.faucet(OPERATOR.address, 5 * MRT), what="faucet"
    )
    assert token.functions.balanceOf(OPERATOR.address).call() == 5 * MRT

    limit = token.functions.faucetLimit().call()
    with pytest.raises(ChainReverted) as caught:
        send(
            chain,
            OPERATOR,
            token.functions.faucet(OPERATOR.address, limit + 1),
            what="faucet",
        )
    assert caught.value.error_name == "MeritTokenFaucetLimitExceeded"


def test_only_minters_mint(chain: Web3, deployment: Deployment) -> None:
    token = _contract(chain, deployment, "MeritToken")
    with pytest.raises(ChainReverted) as caught:
        send(chain, DEPLOYER, token.functions.mint(OPERATOR.address, MRT), what="mint")
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"


def test_faucet_is_disabled_off_the_dev_chain(tmp_path: Path) -> None:
    with start_anvil(free_port(), None, tmp_path / "anvil.log", chain_id=1337) as other:
        w3 = connect(other.rpc_url)
        deployment = ensure_deployed(
            w3, ANVIL_DEV_KEY, tmp_path, roles=RoleAccounts.dev()
        )
        assert record_path(tmp_path, 1337).exists()
        token = deployment.contract(w3, "MeritToken")
        with pytest.raises(ChainReverted) as caught:
            send(
                w3,
                OPERATOR,
                token.functions.faucet(OPERATOR.address, MRT),
                what="faucet",
            )
    assert caught.value.error_name == "MeritTokenFaucetDisabled"
    assert caught.value.error_args == (1337,)


# --- TaskEscrow -------------------------------------------------------------------------------


def test_escrow_holds_a_fee_and_refunds_it_once(chain: Web3, deployment: Deployment) -> None:
    escrow = _contract(chain, deployment, "TaskEscrow")
    token = _contract(chain, deployment, "MeritToken")
    params = deployment.params
    assert escrow.functions.feeRange().call() == [params.min_fee_wei, params.max_fee_wei]
    assert escrow.functions.expiry().call() == params.escrow_expiry_s
    task = Web3.keccak(text="task-1")
    refund = escrow.functions.refund(OPERATOR.address, task)
    _fund_and_approve(chain, deployment, OPERATOR, 3 * MRT, escrow.address)

    send(chain, OPERATOR, escrow.functions.fund(task, 3 * MRT), what="fund")
    amount, _, status = escrow.functions.escrowOf(OPERATOR.address, task).call()
    assert (amount, status) == (3 * MRT, 1)
    assert escrow.functions.held().call() == 3 * MRT
    with pytest.raises(ChainReverted) as caught:
        send(chain, OPERATOR, refund, what="refund")
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"

    send(chain, SETTLER, refund, what="refund")
    assert token.functions.balanceOf(OPERATOR.address).call() == 3 * MRT
    assert escrow.functions.escrowOf(OPERATOR.address, task).call()[2] == 2
    assert escrow.functions.held().call() == 0
    with pytest.raises(ChainReverted) as caught:
        send(chain, SETTLER, refund, what="refund")
    assert caught.value.error_name == "TaskEscrowNotFunded"


# --- EpochSettlement --------------------------------------------------------------------------


def test_nothing_settles_without_a_proof(chain: Web3, deployment: Deployment) -> None:
    settlement = _contract(chain, deployment, "EpochSettlement")
    root = Web3.keccak(text="rewards")
    propose = settlement.functions.propose(1, root, 10 * MRT, CID, 0, [], b"")

    with pytest.raises(ChainReverted) as caught:
        send(chain, SETTLER, propose, what="propose epoch 1")

    assert caught.value.error_name == "EpochRewardsVerifierMalformedProof"
    assert settlement.functions.proposalOf(1).call()[3] == 0  # epoch: nothing stored
    assert settlement.functions.lastProposedEpoch().call() == 0


def test_nothing_settles_on_the_unset_verifier(chain: Web3, deployment: Deployment) -> None:
    me = account_from_key(ANVIL_DEV_KEY)
    unset = _deploy_one(chain, me, "UnsetVerifier")
    settlement = _deploy_one(
        chain, me, "EpochSettlement", deployment.address("MeritToken"),
        deployment.address("NodeRegistry"), unset.address, me.address, 60, 0, 1_000_000, MRT, MRT,
    )  # fmt: skip
    bound = deployment.contract(chain, "EpochSettlement")
    contract = chain.eth.contract(address=settlement.address, abi=bound.abi)
    role = contract.functions.SETTLER_ROLE().call()
    send(chain, DEPLOYER, contract.functions.grantRole(role, me.address), what="grant")
    bond_settler(chain, settlement.address, me.address)
    propose = contract.functions.propose(1, Web3.keccak(text="rewards"), 0, CID, 0, [], b"\x01")

    with pytest.raises(ChainReverted) as caught:
        send(chain, DEPLOYER, propose, what="propose epoch 1")

    assert caught.value.error_name == "UnsetVerifierNoVerifierConfigured"


def test_only_the_settler_may_propose(chain: Web3, deployment: Deployment) -> None:
    settlement = _contract(chain, deployment, "EpochSettlement")
    propose = settlement.functions.propose(1, Web3.keccak(text="r"), MRT, CID, 0, [], b"")
    with pytest.raises(ChainReverted) as caught:
        send(chain, OPERATOR, propose, what="propose")
    assert caught.value.error_name == "AccessControlUnauthorizedAccount"


# --- anvil process ----------------------------------------------------------------------------


def test_restarted_anvil_resumes_the_chain_from_its_state_file(tmp_path: Path) -> None:
    state = tmp_path / "state" / "anvil.json"
    port = free_port()
    with start_anvil(port, state, tmp_path / "anvil.log") as first:
        deployed = ensure_deployed(connect(first.rpc_url), ANVIL_DEV_KEY, tmp_path)
    assert not first.running
    assert state.exists()

    with start_anvil(port, state, tmp_path / "anvil.log") as second:
        w3 = connect(second.rpc_url)
        assert load_deployment(w3, tmp_path) == deployed
        assert w3.eth.block_number >= deployed.contracts["EpochSettlement"].block_number


def test_anvil_on_a_taken_port_says_which_port(tmp_path: Path, anvil: AnvilProcess) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUse) as caught:
            start_anvil(port, None, tmp_path / "anvil.log")
    assert str(port) in caught.value.detail
    assert caught.value.hint == "set MERIT_ANVIL_PORT to a free port"
