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
    from workers.app import create_celery

    assert not create_celery(Settings(epoch_seconds=0)).conf.beat_schedule
    schedule = create_celery(Settings(epoch_seconds=600, epoch_emission_wei=7)).conf.beat_schedule
    assert schedule["close-epoch"]["task"] == "merit.epoch.close"
    assert schedule["close-epoch"]["schedule"] == 600.0 and schedule["close-epoch"]["args"] == ["7", True]  # settle each closed epoch

