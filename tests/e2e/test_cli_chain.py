"""The chain commands of `merit` on the session's real anvil: --json reads, --dry-run writes that
send nothing, and reverts printed as one line with the fix."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result
from web3 import Web3

from services.app.registry import follow_registry
from services.chain.anvil import AnvilProcess, start_anvil
from services.chain.contracts import ChainSession
from services.chain.registry_log import ChainRegistryLog
from services.chain.deploy import Deployment
from services.chain.keys import dev_account
from services.cli.main import app
from services.content import build_content_store
from services.nodes.egress import check_endpoint
from services.ports_free import free_port
from services.settings import get_settings

MRT = 10**18
ENDPOINT = "http://127.0.0.1:9/v1"


@pytest.fixture
def merit(
    chain: Web3,
    anvil: AnvilProcess,
    deployment: Deployment,
    deployment_records: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator:
    """Run `merit ...` in-process against the session chain, with a fresh data directory."""
    data_dir = tmp_path / "data"
    (data_dir / "deployments").mkdir(parents=True)
    shutil.copy(deployment_records / "31337.json", data_dir / "deployments" / "31337.json")
    monkeypatch.setenv("MERIT_DATA_DIR", str(data_dir))
    monkeypatch.setenv("MERIT_CHAIN_RPC_URL", anvil.rpc_url)
    monkeypatch.setenv("MERIT_KEYSTORE_PASSWORD", "correct horse")
    monkeypatch.delenv("MERIT_ACCOUNT", raising=False)
    get_settings.cache_clear()
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> Result:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
        return result

    yield run
    get_settings.cache_clear()


def _json(result: Result):
    return json.loads(result.stdout)


def _one_line_error(result: Result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


def test_faucet_dry_run_sends_nothing_then_faucet_mints(merit, chain: Web3) -> None:
    me = dev_account("dev:5").address
    nonce, balance = chain.eth.get_transaction_count(me), None
    dry = _json(merit("faucet", "250", "--account", "dev:5", "--dry-run", "--json"))
    assert dry["dry_run"] is True and dry["from"] == me
    (call,) = dry["calls"]
    assert call["call"].startswith(f"MeritToken.faucet({me}, {250 * MRT})")
    assert call["gas"] > 21_000 and call["expected_cost_wei"] > 0
    assert chain.eth.get_transaction_count(me) == nonce

    sent = _json(merit("faucet", "250", "--account", "dev:5", "--json"))
    (tx,) = sent["transactions"]
    assert tx["nonce"] == nonce and "FaucetDripped" in tx["events"]
    assert chain.eth.get_transaction_count(me) == nonce + 1
    human = merit("faucet", "1", "--account", "dev:5")
    assert "mined MeritToken.faucet" in human.stdout
    assert f"{me} now holds 251 MRT" in human.stdout or balance is None


def test_register_stake_and_read_back(merit, chain: Web3) -> None:
    me = dev_account("dev:6").address
    merit("faucet", "1000", "--account", "dev:6")
    nonce = chain.eth.get_transaction_count(me)

    dry = _json(merit("node", "register", "--model", "tinyllama", "--endpoint",
                      "http://127.0.0.1:9/v1", "--account", "dev:6", "--dry-run", "--json"))  # fmt: skip
    assert [c["call"].split("(")[0] for c in dry["calls"]] == [
        "MeritToken.approve", "NodeRegistry.register",
    ]  # fmt: skip
    assert all(c["gas"] > 21_000 for c in dry["calls"])
    assert chain.eth.get_transaction_count(me) == nonce  # dry run: nothing sent

    out = merit("node", "register", "--model", "tinyllama", "--endpoint", ENDPOINT, "--account", "dev:6").stdout
    assert "registered node" in out and "with 100 MRT staked" in out
    shown = _json(merit("stake", "show", "--account", "dev:6", "--json"))
    assert shown["operator"] == me and int(shown["stake_wei"]) == 100 * MRT
    assert int(shown["min_stake_wei"]) == 100 * MRT
    node_id = shown["node_id"]

    again = merit("node", "register", "--model", "tinyllama", "--endpoint", ENDPOINT, "--account", "dev:6", code=5)
    assert f"already operates node {node_id}" in _one_line_error(again)

    merit("stake", "add", "90", "--account", "dev:6")
    assert int(_json(merit("stake", "show", str(node_id), "--json"))["stake_wei"]) == 190 * MRT
    by_address = _json(merit("stake", "show", me, "--json"))
    assert by_address["node_id"] == node_id

    nowhere = merit("node", "register", "--model", "m", "--account", "dev:6", code=2)
    assert "--endpoint" in _one_line_error(nowhere)


def test_unstake_then_withdraw_after_unbonding(merit, chain: Web3) -> None:
    merit("faucet", "1000", "--account", "dev:7")
    merit("node", "register", "--model", "m", "--metadata-cid",
          "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku", "--account", "dev:7")  # fmt: skip
    merit("stake", "add", "50", "--account", "dev:7")
    merit("stake", "unstake", "50", "--account", "dev:7")
    shown = _json(merit("stake", "show", "--account", "dev:7", "--json"))
    assert int(shown["stake_wei"]) == 100 * MRT and int(shown["unbonding_wei"]) == 50 * MRT

    early = merit("stake", "withdraw", "--account", "dev:7", code=5)
    assert "unbonding until" in _one_line_error(early)
    chain.provider.make_request("evm_increaseTime", [30 * 24 * 3600])  # type: ignore[arg-type]
    chain.provider.make_request("evm_mine", [])  # type: ignore[arg-type]
    me = dev_account("dev:7").address
    before = chain.eth.get_transaction_count(me)
    merit("stake", "withdraw", "--account", "dev:7", "--dry-run")
    assert chain.eth.get_transaction_count(me) == before
    merit("stake", "withdraw", "--account", "dev:7")
    assert int(_json(merit("stake", "show", "--account", "dev:7", "--json"))["unbonding_wei"]) == 0


def test_reverts_print_one_line_with_the_fix(merit, chain: Web3) -> None:
    me = dev_account("dev:8").address
    nonce = chain.eth.get_transaction_count(me)
    broke = merit("node", "register", "--model", "m", "--endpoint", ENDPOINT, "--account", "dev:8", code=5)
    assert "merit faucet" in _one_line_error(broke)
    not_registered = merit("stake", "add", "5", "--account", "dev:8", code=4)
    assert "operates no node" in _one_line_error(not_registered)
    too_much = merit("faucet", "2000000", "--account", "dev:8", code=2)
    assert _one_line_error(too_much) == (
        "error: the faucet gives at most 1000000 MRT a call, not 2000000 MRT; "
        "ask for at most 1000000"
    )
    assert chain.eth.get_transaction_count(me) == nonce  # nothing was ever sent
    no_account = merit("stake", "add", "5", code=2)
    assert "--account dev:1" in _one_line_error(no_account)
    bad_amount = merit("stake", "add", "lots", "--account", "dev:8", code=2)
    assert "is not an amount of MRT" in _one_line_error(bad_amount)
    unknown = merit("stake", "show", "9999", code=4)
    assert "no node 9999 is registered" in _one_line_error(unknown)


def test_keystore_accounts_sign(merit, chain: Web3) -> None:
    made = _json(merit("key", "new", "operator", "--json"))
    assert _json(merit("key", "list", "--json")) == [made]
    dry = _json(merit("faucet", "5", "--account", "operator", "--dry-run", "--json"))
    assert dry["from"] == made["address"]
    merit("faucet", "5", "--to", made["address"], "--account", "dev:9")
    shown = merit("key", "list").stdout
    assert "operator" in shown and made["address"] in shown


def test_epoch_show_of_an_unproposed_epoch(merit) -> None:
    view = _json(merit("epoch", "show", "424242", "--json"))
    assert view["status"] == "none" and view["proposal"] is None


def test_faucet_is_refused_off_the_dev_chain(merit, tmp_path: Path) -> None:
    other = start_anvil(free_port(), None, tmp_path / "other.log", chain_id=1337)
    try:
        result = merit("faucet", "--account", "dev:1", "--rpc-url", other.rpc_url, code=2)
        assert _one_line_error(result) == (
            "error: the faucet exists only on the dev chain 31337; this is chain 1337; "
            "get MRT from an operator of this chain"
        )
    finally:
        other.stop()


def _follow(store, chain: Web3, deployment: Deployment) -> None:
    """One pass of the marketplace's registry follower (what beat runs every few seconds)."""
    session = ChainSession(chain, deployment)
    check = partial(check_endpoint, allow_loopback=True)
    follow_registry(store, ChainRegistryLog(session), build_content_store(get_settings()), check, confirmations=0)


def test_a_registered_node_is_found_on_chain_and_every_view_agrees(
    merit, chain: Web3, deployment: Deployment, store, api_url: str
) -> None:
    me = dev_account("dev:9").address
    merit("faucet", "1000", "--account", "dev:9")
    out = merit("node", "register", "--model", "smollm2-135m", "--endpoint", ENDPOINT,
                "--name", "my-node", "--account", "dev:9").stdout  # fmt: skip
    node_id = _json(merit("stake", "show", "--account", "dev:9", "--json"))["node_id"]
    assert "registered node" in out and f"merit node status {node_id}" in out
    assert store.nodes.list() == []  # the operator wrote to the chain only
    early = merit("node", "status", str(node_id), "--api-url", api_url, code=4)
    assert "not known to the marketplace yet" in _one_line_error(early)

    _follow(store, chain, deployment)
    status = _json(merit("node", "status", "--account", "dev:9", "--api-url", api_url, "--json"))
    assert (status["name"], status["chain_node_id"], status["address"], status["signer"]) == ("my-node", node_id, me, me)
    assert status["status"] == "inactive" and "waiting for calibration" in status["status_note"]
    assert status["endpoint_url"] == ENDPOINT and status["model"] == "smollm2-135m"
    human = merit("node", "status", str(node_id), "--api-url", api_url).stdout
    assert "inactive" in human and "stake 100 MRT" in human

    merit("stake", "add", "50", "--account", "dev:9")
    _follow(store, chain, deployment)
    on_chain = _json(merit("stake", "show", str(node_id), "--json"))["stake_wei"]
    rest = _json(merit("node", "status", str(node_id), "--api-url", api_url, "--json"))
    board = {r["node_id"]: r for r in _json(merit("leaderboard", "--api-url", api_url, "--json"))}
    rep = _json(merit("reputation", str(node_id), "--api-url", api_url, "--json"))
    assert on_chain == rest["stake_wei"] == board[node_id]["stake_wei"] == rep["stake_wei"] == str(150 * MRT)
    assert rest["status"] == board[node_id]["status"] == rep["status"] == "inactive"
    assert rest["reputation_bp"] == board[node_id]["reputation_bp"] == rep["reputation_bp"]
    assert rep["settled_epoch"] == 0  # nothing settled on chain yet, said as such
    page = httpx.get(f"{api_url}/explorer").text
    assert "my-node" in page and "150 MRT" in page
