"""Every role is its own account: what each role key may do on the deployed contracts, and what
every other role key (and the deployer, once it is done) is refused.

Access is checked with eth_call from each account: the role's holder gets past ``onlyRole`` (the
call may still stop on its input, never on AccessControl), every other account is refused with
``AccessControlUnauthorizedAccount(account, role)``. Arguments are made from the ABI, so a changed
signature does not hide a missing check. With a timelock (production), an admin action executes
only after its delay.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from services.chain.deploy import (
    CONTRACTS,
    DEV_PARAMS,
    TIMELOCK,
    Deployment,
    RoleAccounts,
    deploy_set,
    load_deployment,
    read_record,
)
from services.chain.rpc import contract_at, reverted
from services.settings import ANVIL_DEV_KEY
from tests.contracts.market import (
    ADMIN,
    DEPLOYER,
    EXAMINER,
    RESOLVER,
    SETTLER,
    TREASURY,
    give_eth,
    reverts,
    travel,
    tx,
)
from tests.fixtures.chain import Market

ADMINISTERED = tuple(n for n in CONTRACTS if not n.endswith("Verifier"))  # AccessControl ones

ROLE_KEYS = {
    "deployer": DEPLOYER,
    "admin": ADMIN,
    "settler": SETTLER,
    "examiner": EXAMINER,
    "resolver": RESOLVER,
    "treasury": TREASURY,
}
ADMIN_ROLE = b"\0" * 32
# (contract, function, role constant, who holds it: a RoleAccounts field or "settlement")
GUARDED = [
    ("EpochSettlement", "propose", "SETTLER_ROLE", "settler"),
    ("EpochSettlement", "commitGold", "EXAMINER_ROLE", "examiner"),
    ("EpochSettlement", "resolve", "RESOLVER_ROLE", "resolver"),
    ("NodeRegistry", "slash", "SETTLER_ROLE", "settler"),
    ("NodeRegistry", "attest", "ATTESTER_ROLE", "examiner"),
    ("NodeRegistry", "writeReputations", "REPUTATION_WRITER_ROLE", "settlement"),
    ("TaskEscrow", "refund", "OPERATOR_ROLE", "settler"),
    ("TaskEscrow", "settleTasks", "OPERATOR_ROLE", "settler"),
    ("MeritToken", "mint", "MINTER_ROLE", "settlement"),
    *[(name, "grantRole", "DEFAULT_ADMIN_ROLE", "admin") for name in ADMINISTERED],
    *[(name, "revokeRole", "DEFAULT_ADMIN_ROLE", "admin") for name in ADMINISTERED],
]


def _value(abi_type: str, components: list[dict[str, Any]] | None = None) -> Any:
    """A well-formed argument of ``abi_type`` (what it is does not matter to an access check)."""
    if abi_type.endswith("]"):
        return []
    if abi_type == "tuple":
        return tuple(_value(c["type"], c.get("components")) for c in components or [])
    if abi_type == "address":
        return Account.from_key(Web3.keccak(text="someone")).address
    if abi_type == "bool":
        return True
    if abi_type.startswith(("uint", "int")):
        return 1
    if abi_type == "string":
        return "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    if abi_type == "bytes":
        return b""
    if abi_type.startswith("bytes"):
        return b"\x01" * int(abi_type[5:])
    raise AssertionError(f"no sample value for {abi_type}")


def _call(contract: Any, function: str, role: bytes) -> Any:
    (abi,) = [e for e in contract.abi if e.get("type") == "function" and e["name"] == function]
    args = [_value(i["type"], i.get("components")) for i in abi["inputs"]]
    if function in ("grantRole", "revokeRole"):
        args[0] = role
    return getattr(contract.functions, function)(*args)


def _refusal(call: Any, sender: str) -> tuple[str | None, tuple[Any, ...]]:
    """The custom error an eth_call from ``sender`` reverts with; (None, ()) when it succeeds."""
    try:
        call.call({"from": sender})
    except Exception as exc:  # noqa: BLE001 - decoded below; anything undecodable fails the test
        caught = reverted(exc, "access check")
        return caught.error_name, tuple(caught.error_args)
    return None, ()


def _holder(deployment: Deployment, holder: str) -> str:
    if holder == "settlement":
        return deployment.address("EpochSettlement")
    assert deployment.roles is not None
    return str(getattr(deployment.roles, holder))


def test_the_roles_are_distinct_dev_accounts_above_every_node() -> None:
    roles = RoleAccounts.dev()
    addresses = roles.to_record().values()
    assert len(set(addresses)) == 5
    assert DEPLOYER.address not in addresses
    with pytest.raises(Exception, match="same account"):
        RoleAccounts(roles.admin, roles.settler, roles.settler, roles.resolver, roles.treasury)


@pytest.mark.parametrize(("name", "function", "role", "holder"), GUARDED)
def test_only_the_roles_account_may_act(
    chain: Web3, deployment: Deployment, name: str, function: str, role: str, holder: str
) -> None:
    contract = deployment.contract(chain, name)
    role_id = bytes(getattr(contract.functions, role)().call())
    call = _call(contract, function, role_id)
    allowed = _holder(deployment, holder)

    error, _ = _refusal(call, allowed)
    assert error != "AccessControlUnauthorizedAccount", f"{holder} was refused {function}"
    for who, account in ROLE_KEYS.items():
        if account.address == allowed:
            continue
        error, args = _refusal(call, account.address)
        assert (error, args) == ("AccessControlUnauthorizedAccount", (account.address, role_id)), (
            f"{who} may call {name}.{function}"
        )


def test_a_role_key_really_acts_and_the_others_are_refused_on_chain(
    chain: Web3, deployment: Deployment
) -> None:
    """Sent, not simulated: the examiner commits a gold root; the settler cannot."""
    settlement = deployment.contract(chain, "EpochSettlement")
    root = Web3.keccak(text="gold")
    examiner = settlement.functions.EXAMINER_ROLE().call()
    for account in (SETTLER, RESOLVER, ADMIN, TREASURY, DEPLOYER):
        give_eth(chain, account.address)
        with reverts("AccessControlUnauthorizedAccount", account.address, examiner):
            tx(chain, account, settlement.functions.commitGold(1, root))
    tx(chain, EXAMINER, settlement.functions.commitGold(1, root))
    assert settlement.functions.goldCommitmentOf(1).call()[0] == root


def test_finalize_is_public(chain: Web3, deployment: Deployment) -> None:
    """Anyone may finalize a proposal whose window has passed: no role is asked."""
    settlement = deployment.contract(chain, "EpochSettlement")
    for account in ROLE_KEYS.values():
        error, _ = _refusal(settlement.functions.finalize(1, 0, []), account.address)
        assert error != "AccessControlUnauthorizedAccount"


def test_the_deployer_holds_no_role_after_deployment(chain: Web3, deployment: Deployment) -> None:
    for name in ADMINISTERED:
        contract = deployment.contract(chain, name)
        roles = [e["name"] for e in contract.abi if e.get("type") == "function"
                 and e["name"].endswith("_ROLE") and not e["inputs"]]  # fmt: skip
        assert "DEFAULT_ADMIN_ROLE" in roles
        for role in roles:
            role_id = getattr(contract.functions, role)().call()
            assert not contract.functions.hasRole(role_id, DEPLOYER.address).call(), (name, role)
        assert contract.functions.hasRole(ADMIN_ROLE, ADMIN.address).call(), name
    assert deployment.roles == RoleAccounts.dev() and deployment.timelock is None


def test_the_record_names_every_role(deployment: Deployment, deployment_records: Path) -> None:
    record = json.loads((deployment_records / "31337.json").read_text())
    assert record["roles"] == RoleAccounts.dev().to_record()
    assert record["timelock"] is None
    assert read_record(deployment_records, 31337) == deployment


DELAY = 2 * 3600


@pytest.fixture
def governed(chain: Web3, market: Market) -> dict[str, Any]:
    """A contract set whose admin is a MeritTimelock (as production deploys it)."""
    deployed = deploy_set(
        chain, ANVIL_DEV_KEY, market.verifier.address, DEV_PARAMS, RoleAccounts.dev(),
        timelock_delay_s=DELAY,
    )  # fmt: skip
    return {name: contract_at(chain, name, c.address) for name, c in deployed.items()}


def test_with_a_timelock_an_admin_action_executes_only_after_the_delay(
    chain: Web3, governed: dict[str, Any]
) -> None:
    timelock, registry = governed[TIMELOCK], governed["NodeRegistry"]
    assert timelock.functions.getMinDelay().call() == DELAY
    for name in ADMINISTERED:
        contract = governed[name]
        assert contract.functions.hasRole(ADMIN_ROLE, timelock.address).call(), name
        assert not contract.functions.hasRole(ADMIN_ROLE, ADMIN.address).call(), name
        assert not contract.functions.hasRole(ADMIN_ROLE, DEPLOYER.address).call(), name
    settler_role = registry.functions.SETTLER_ROLE().call()
    newcomer = Account.from_key(Web3.keccak(text="new settler")).address
    grant = registry.functions.grantRole(settler_role, newcomer)
    with reverts("AccessControlUnauthorizedAccount", ADMIN.address, ADMIN_ROLE):
        tx(chain, ADMIN, grant)  # not at once, not alone

    data = grant._encode_transaction_data()
    op = (registry.address, 0, data, b"\0" * 32, b"\0" * 32)
    proposer = timelock.functions.PROPOSER_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", SETTLER.address, proposer):
        tx(chain, SETTLER, timelock.functions.schedule(*op, DELAY))
    with reverts("TimelockInsufficientDelay"):
        tx(chain, ADMIN, timelock.functions.schedule(*op, DELAY - 1))
    tx(chain, ADMIN, timelock.functions.schedule(*op, DELAY))

    with reverts("TimelockUnexpectedOperationState"):
        tx(chain, ADMIN, timelock.functions.execute(*op))
    travel(chain, DELAY - 120)
    with reverts("TimelockUnexpectedOperationState"):
        tx(chain, ADMIN, timelock.functions.execute(*op))
    assert not registry.functions.hasRole(settler_role, newcomer).call()
    travel(chain, 120)
    executor = timelock.functions.EXECUTOR_ROLE().call()
    with reverts("AccessControlUnauthorizedAccount", SETTLER.address, executor):
        tx(chain, SETTLER, timelock.functions.execute(*op))
    tx(chain, ADMIN, timelock.functions.execute(*op))
    assert registry.functions.hasRole(settler_role, newcomer).call()


def test_a_timelocked_deployment_is_recorded_with_its_delay(
    chain: Web3, deployment: Deployment, tmp_path: Path
) -> None:
    from services.chain.deploy import deploy_all

    made = deploy_all(chain, ANVIL_DEV_KEY, tmp_path, timelock_delay_s=DELAY)
    record = json.loads((tmp_path / "31337.json").read_text())
    assert record["timelock"] == {"address": made.timelock, "minDelayS": str(DELAY)}
    assert made.timelock is not None and made.timelock != made.roles.admin  # type: ignore[union-attr]
    assert load_deployment(chain, tmp_path) == made
