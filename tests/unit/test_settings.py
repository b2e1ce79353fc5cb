import pytest

from services.core.errors import ConfigInvalid
from services.settings import ANVIL_DEV_KEY, Settings


def test_production_refuses_dev_secrets(monkeypatch):
    monkeypatch.setenv("MERIT_ENV", "production")
    monkeypatch.setenv("MERIT_API_KEYS", '["a-real-key"]')
    with pytest.raises(ConfigInvalid, match="MERIT_DEPLOYER_KEY"):
        Settings()
    monkeypatch.setenv("MERIT_DEPLOYER_KEY", "0x" + "11" * 32)
    with pytest.raises(ConfigInvalid, match="MERIT_GOLD_SECRET"):
        Settings()  # gold nobody can look up needs a secret of the deployment's own
    monkeypatch.setenv("MERIT_GOLD_SECRET", "22" * 32)
    monkeypatch.setenv("MERIT_API_KEYS", '["dev-requester-key"]')
    with pytest.raises(ConfigInvalid, match="MERIT_API_KEYS"):
        Settings()
    monkeypatch.setenv("MERIT_API_KEYS", '["a-real-key"]')
    settings = Settings()
    assert settings.env == "production" and "22" * 32 not in repr(settings)


def test_dev_makes_its_gold_secret_once_readable_by_its_owner_only(tmp_path):
    import stat

    from services.bootstrap import question_bank

    settings = Settings(data_dir=tmp_path)
    first = question_bank(settings)
    path = tmp_path / "gold.secret"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    again = question_bank(settings)
    assert first.requester == again.requester  # the same secret, read back
    other = question_bank(Settings(data_dir=tmp_path / "elsewhere"))
    assert other.requester != first.requester


def test_dev_defaults_and_derived_urls(monkeypatch):
    for var in ("MERIT_ENV", "MERIT_DATABASE_URL", "MERIT_BROKER_URL", "MERIT_CHAIN_RPC_URL"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(postgres_port=6000, redis_port=6001, anvil_port=6002)
    assert s.deployer_key.get_secret_value() == ANVIL_DEV_KEY
    assert s.effective_database_url.endswith(":6000/merit")
    assert s.effective_broker_url == "redis://127.0.0.1:6001/0"
    assert s.effective_chain_rpc_url == "http://127.0.0.1:6002"
    assert ANVIL_DEV_KEY not in repr(s)


def test_log_lines_carry_their_fields():
    import logging

    from services.logs import KeyValueFormatter

    record = logging.LogRecord("x", logging.INFO, __file__, 1, "task ranked", None, None)
    record.task_id = "abc"
    record.winner = 3
    assert KeyValueFormatter("%(message)s").format(record) == "task ranked task_id=abc winner=3"


def test_beat_closes_epochs_only_when_a_period_is_set():
    from services.broker.celery_app import create_celery

    assert "close-epoch" not in create_celery(Settings(epoch_seconds=0)).conf.beat_schedule
    schedule = create_celery(Settings(epoch_seconds=600, epoch_emission_wei=7)).conf.beat_schedule
    assert schedule["close-epoch"]["task"] == "merit.epoch.close"
    assert schedule["close-epoch"]["schedule"] == 600.0 and schedule["close-epoch"]["args"] == ["7", True]  # settle each closed epoch


def test_beat_refunds_fees_escrowed_for_failed_tasks_every_minute():
    from services.broker.celery_app import create_celery

    for period in (0, 600):
        refund = create_celery(Settings(epoch_seconds=period)).conf.beat_schedule["refund-failed"]
        assert refund == {"task": "merit.chain.refund_failed", "schedule": 60.0}



# --- every role its own account; production refuses dev settings -------------------------------

OWN = {  # keys and addresses of one's own (not anvil's), one per role
    "MERIT_DEPLOYER_KEY": "0x" + "11" * 32,
    "MERIT_SETTLER_KEY": "0x" + "33" * 32,
    "MERIT_EXAMINER_KEY": "0x" + "44" * 32,
    "MERIT_RESOLVER_KEY": "0x" + "55" * 32,
    "MERIT_ADMIN_ADDRESS": "0x" + "66" * 20,
    "MERIT_TREASURY_ADDRESS": "0x" + "77" * 20,
}


def _production(monkeypatch, **overrides):
    for key in [k for k in __import__("os").environ if k.startswith("MERIT_")]:
        monkeypatch.delenv(key)
    env = {"MERIT_ENV": "production", "MERIT_API_KEYS": '["a-real-key"]',
           "MERIT_GOLD_SECRET": "22" * 32, **OWN, **overrides}  # fmt: skip
    for key, value in env.items():
        if value is None:
            monkeypatch.delenv(key, raising=False)
        else:
            monkeypatch.setenv(key, value)
    return Settings()


def test_dev_roles_are_distinct_dev_accounts_above_the_nodes(monkeypatch):
    from services.chain.keys import DEV_ACCOUNTS, dev_account

    for key in [k for k in __import__("os").environ if k.startswith("MERIT_")]:
        monkeypatch.delenv(key)
    s = Settings()
    addresses = {role: s.role_address(role) for role in ("admin", "settler", "examiner", "resolver", "treasury")}
    assert len(set(addresses.values())) == 5
    assert addresses["settler"] == dev_account("dev:10").address
    assert s.role_key("settler") == dev_account("dev:10").private_key
    assert s.role_key("examiner") == dev_account("dev:11").private_key
    assert s.role_key("resolver") == dev_account("dev:12").private_key
    assert addresses["admin"] == dev_account("dev:13").address
    assert addresses["treasury"] == dev_account("dev:14").address
    assert DEV_ACCOUNTS == 16
    nodes_and_requesters = {dev_account(f"dev:{i}").address for i in range(10)}
    assert not nodes_and_requesters & set(addresses.values())


def test_production_with_accounts_of_its_own_is_accepted(monkeypatch):
    s = _production(monkeypatch)
    assert s.role_address("admin") == "0x" + "66" * 20
    assert s.role_key("settler") == OWN["MERIT_SETTLER_KEY"]
    assert OWN["MERIT_SETTLER_KEY"][2:] not in repr(s)


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"MERIT_EXAMINER_KEY": OWN["MERIT_SETTLER_KEY"]}, "MERIT_EXAMINER_KEY and MERIT_SETTLER_KEY"),
        ({"MERIT_SETTLER_KEY": OWN["MERIT_DEPLOYER_KEY"]}, "MERIT_SETTLER_KEY and MERIT_DEPLOYER_KEY"),
        ({"MERIT_TREASURY_ADDRESS": "0x" + "66" * 20}, "MERIT_TREASURY_ADDRESS and MERIT_ADMIN_ADDRESS"),
        # anvil's public dev accounts, the role defaults of dev included
        ({"MERIT_SETTLER_KEY": "0xf214f2b2cd398c806f84e317254e0f0b801d0643303237d97a22a48e01628897"},
         "MERIT_SETTLER_KEY is anvil's public dev account dev:10"),
        ({"MERIT_RESOLVER_KEY": "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"},
         "MERIT_RESOLVER_KEY is anvil's public dev account dev:1"),
        ({"MERIT_ADMIN_ADDRESS": "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"},
         "MERIT_ADMIN_ADDRESS is anvil's public dev account dev:0"),
        ({"MERIT_TIMELOCK_DELAY_S": "60"}, "MERIT_TIMELOCK_DELAY_S"),
        ({"MERIT_ADMIN_ADDRESS": "not-an-address"}, "MERIT_ADMIN_ADDRESS"),
    ],
)
def test_production_refuses_shared_or_dev_role_accounts(monkeypatch, overrides, named):
    with pytest.raises(ConfigInvalid, match=named) as caught:
        _production(monkeypatch, **overrides)
    assert "\n" not in caught.value.one_line()
    assert caught.value.hint and "set " in caught.value.hint.lower()


def test_a_process_without_a_roles_key_is_told_which_setting(monkeypatch):
    s = _production(monkeypatch, MERIT_EXAMINER_KEY=None, MERIT_TREASURY_ADDRESS=None)
    assert s.role_key("settler")  # what it holds it uses
    with pytest.raises(ConfigInvalid, match="MERIT_EXAMINER_KEY is not set"):
        s.role_key("examiner")
    with pytest.raises(ConfigInvalid, match="MERIT_TREASURY_ADDRESS is not set"):
        s.role_address("treasury")
    from typing import Any, cast

    from services.chain.settlement import ChainSettlement
    from services.inmemory.store import MemoryStore

    chain = ChainSettlement(cast(Any, None), {}, MemoryStore().outbox)
    with pytest.raises(ConfigInvalid, match="MERIT_SETTLER_KEY is not set"):
        chain.sender("settler")
    with pytest.raises(ConfigInvalid, match="MERIT_EXAMINER_KEY is not set"):
        chain.sender("examiner")


def test_production_refuses_the_dev_chain_and_dev_windows():
    from services.chain.deploy import DEV_PARAMS, DeployParams, refuse_dev_chain

    with pytest.raises(ConfigInvalid, match="dev chain 31337, whose faucet mints") as caught:
        refuse_dev_chain(31337)
    assert "MERIT_CHAIN_RPC_URL" in (caught.value.hint or "")
    with pytest.raises(ConfigInvalid, match="dev-sized windows"):
        refuse_dev_chain(1, DEV_PARAMS)
    refuse_dev_chain(1, DeployParams())  # a day's window, a week's unbonding


def test_production_has_no_faucet(monkeypatch):
    from typer.testing import CliRunner

    from services.cli.main import app
    from services.settings import get_settings

    _production(monkeypatch)
    get_settings.cache_clear()
    try:
        done = CliRunner().invoke(app, ["faucet", "10"])
    finally:
        get_settings.cache_clear()
    assert done.exit_code != 0
    assert "MERIT_ENV=production has no faucet" in done.output


def test_nodes_on_loopback_only_in_dev_and_never_in_production(monkeypatch):
    for key in [k for k in __import__("os").environ if k.startswith("MERIT_")]:
        monkeypatch.delenv(key)
    assert Settings().nodes_on_loopback and Settings(env="test").nodes_on_loopback  # merit up, the tests
    assert not Settings(node_allow_loopback=False).nodes_on_loopback
    assert not _production(monkeypatch).nodes_on_loopback
    with pytest.raises(ConfigInvalid, match="MERIT_NODE_ALLOW_LOOPBACK") as caught:
        _production(monkeypatch, MERIT_NODE_ALLOW_LOOPBACK="true")
    assert "unset MERIT_NODE_ALLOW_LOOPBACK" in (caught.value.hint or "")
