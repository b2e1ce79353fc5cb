"""docker-compose.yml: what a user running `docker compose up` relies on.

Validated by docker-compose itself (`config -q`, no daemon needed, no socket opened), then the
normalized config it prints is checked for the promises the file makes: it says plainly that its
chain is a dev chain (MERIT_ENV=dev, labels), the remaining secrets are required,
services wait for health rather than start, one chain writer, pinned images, health everywhere.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from services.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
SECRETS = {
    "POSTGRES_PASSWORD": "compose-test-password",
    "MERIT_API_KEYS": '["compose-test-key"]',
    "MERIT_GOLD_SECRET": "22" * 32,
}
APT_HINT = "apt-get update && apt-get install -y docker-compose"
APP_IMAGE_PREFIX = "meritswarm:"


@cache
def compose_command() -> tuple[str, ...] | None:
    if shutil.which("docker-compose"):
        return ("docker-compose",)
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return ("docker", "compose")
    return None


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, ...]:
    command = compose_command()
    if command is None:
        reason = f"docker-compose is not installed; install it with: {APT_HINT}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    empty_env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    empty_env_file.write_text("")
    return (*command, "--env-file", str(empty_env_file), "-f", str(COMPOSE_FILE))


def run_compose(
    compose: tuple[str, ...], *args: str, secrets: dict[str, str]
) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MERIT_", "POSTGRES_", "COMPOSE_")) and k not in SECRETS
    }
    env.update(secrets)
    return subprocess.run(
        [*compose, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )


def load_yaml(text: str) -> Any:
    """PyYAML when installed; otherwise the interpreter docker-compose 1.x itself runs on."""
    try:
        import yaml
    except ImportError:
        pass
    else:
        return yaml.safe_load(text)
    script = shutil.which("docker-compose")
    first = Path(script).read_bytes().split(b"\n", 1)[0] if script else b""
    if not first.startswith(b"#!") or b"python" not in first:
        pytest.fail("PyYAML is needed to read the compose config: pip install pyyaml")
    interpreter = first[2:].decode().strip()
    to_json = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
    out = subprocess.run(
        [interpreter, "-c", to_json], input=text, capture_output=True, text=True, check=True
    )
    return json.loads(out.stdout)


@pytest.fixture(scope="module")
def config(compose: tuple[str, ...]) -> dict[str, Any]:
    done = run_compose(compose, "config", secrets=SECRETS)
    assert done.returncode == 0, done.stderr
    loaded = load_yaml(done.stdout)
    assert isinstance(loaded, dict)
    return loaded


@pytest.fixture(scope="module")
def services(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return config["services"]


def one_shots(services: dict[str, dict[str, Any]]) -> set[str]:
    return {
        name
        for svc in services.values()
        for name, dep in (svc.get("depends_on") or {}).items()
        if dep.get("condition") == "service_completed_successfully"
    }


def app_services(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        n: s for n, s in services.items() if str(s.get("image", "")).startswith(APP_IMAGE_PREFIX)
    }


def command_of(svc: dict[str, Any]) -> list[str]:
    command = svc.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


# ------------------------------------------------------------------ validation and secrets
def test_compose_file_validates_with_the_required_secrets(compose: tuple[str, ...]) -> None:
    done = run_compose(compose, "config", "-q", secrets=SECRETS)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("missing", sorted(SECRETS))
def test_a_missing_secret_is_refused_by_name(compose: tuple[str, ...], missing: str) -> None:
    partial = {k: v for k, v in SECRETS.items() if k != missing}
    done = run_compose(compose, "config", "-q", secrets=partial)
    assert done.returncode != 0
    assert missing in done.stderr


# ------------------------------------------------------------------ structure
def test_the_documented_services_are_there(services: dict[str, dict[str, Any]]) -> None:
    expected = {
        "chain", "explorer", "db", "broker", "ipfs", "migrate", "deploy-contracts", "api",
        "worker-inference", "worker-consensus", "worker-zk", "worker-chain", "beat", "flower",
    }  # fmt: skip
    assert expected <= set(services)


def test_every_dependency_waits_for_health_or_completion(
    services: dict[str, dict[str, Any]],
) -> None:
    conditions = {
        f"{name} -> {dep}": spec.get("condition")
        for name, svc in services.items()
        for dep, spec in (svc.get("depends_on") or {}).items()
    }
    assert conditions
    started_only = {
        k: c
        for k, c in conditions.items()
        if c not in ("service_healthy", "service_completed_successfully")
    }
    assert started_only == {}
    # a dependency on a one-shot must wait for its success; on a server, for its health
    shots = one_shots(services)
    for edge, condition in conditions.items():
        dep = edge.split(" -> ")[1]
        expected = "service_completed_successfully" if dep in shots else "service_healthy"
        assert condition == expected, edge
        if condition == "service_healthy":
            assert "healthcheck" in services[dep], f"{edge}: {dep} has no healthcheck"


def test_one_shots_run_the_setup_commands_in_order(services: dict[str, dict[str, Any]]) -> None:
    assert command_of(services["migrate"])[:3] == ["merit", "db", "migrate"]
    assert command_of(services["deploy-contracts"])[:3] == ["merit", "contracts", "deploy"]
    deploy_deps = services["deploy-contracts"]["depends_on"]
    assert deploy_deps["chain"]["condition"] == "service_healthy"
    assert deploy_deps["migrate"]["condition"] == "service_completed_successfully"
    for name in one_shots(services):
        assert services[name].get("restart", "no") == "no", name


def test_worker_chain_is_the_single_writer(services: dict[str, dict[str, Any]]) -> None:
    chain = services["worker-chain"]
    assert chain.get("deploy", {}).get("replicas") == 1
    command = command_of(chain)
    assert command[command.index("-Q") + 1] == "chain"
    assert command[command.index("-c") + 1] == "1"
    assert command[command.index("--pool") + 1] == "solo"
    consumers = [
        name
        for name, svc in services.items()
        if "-Q" in (cmd := command_of(svc)) and "chain" in cmd[cmd.index("-Q") + 1].split(",")
    ]
    assert consumers == ["worker-chain"]


def test_each_queue_has_its_worker(services: dict[str, dict[str, Any]]) -> None:
    queues = {
        command_of(svc)[command_of(svc).index("-Q") + 1]: name
        for name, svc in services.items()
        if "-Q" in command_of(svc)
    }
    assert queues == {
        "inference": "worker-inference",
        "consensus": "worker-consensus",
        "zk": "worker-zk",
        "chain": "worker-chain",
    }
    for name in queues.values():
        assert command_of(services[name])[:4] == ["celery", "-A", "workers.main", "worker"]


def test_images_are_pinned(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        image = svc["image"]
        repo, sep, tag = image.rpartition(":")
        assert sep and "/" not in tag, f"{name}: image {image} has no tag"
        assert tag not in ("latest", "stable", "nightly", ""), f"{name}: image {image}"


def test_every_long_running_service_has_a_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    shots = one_shots(services)
    for name, svc in services.items():
        if name in shots:
            continue
        check = svc.get("healthcheck")
        assert check and not check.get("disable") and check.get("test"), name
        assert check["test"][0] in ("CMD", "CMD-SHELL"), name
        assert svc.get("restart") == "unless-stopped", name


def test_the_stack_says_plainly_that_it_runs_a_dev_chain(
    services: dict[str, dict[str, Any]],
) -> None:
    chain = services["chain"]
    assert "31337" in " ".join(command_of(chain)) and "--accounts 16" in " ".join(command_of(chain))
    assert "dev" in chain["labels"]["meritswarm.chain"]
    assert "faucet" in chain["labels"]["meritswarm.chain"]
    marketplace = {
        n: s for n, s in app_services(services).items() if "MERIT_DATABASE_URL" in s["environment"]
    }
    assert {"api", "deploy-contracts", "worker-chain"} <= set(marketplace)
    for name, svc in marketplace.items():
        assert svc["environment"]["MERIT_ENV"] == "dev", name
        assert svc["labels"]["meritswarm.env"] == "dev", name
        # dev:0 deploys and anvil's dev accounts hold the roles: no key of anyone's own goes in
        assert "MERIT_DEPLOYER_KEY" not in svc["environment"], name
    text = COMPOSE_FILE.read_text()
    assert "DEV CHAIN" in text and "MERIT_ENV=production refuses this" in text


def test_app_services_share_one_environment(
    services: dict[str, dict[str, Any]],
) -> None:
    apps = {n: s for n, s in app_services(services).items() if n != "watcher"}
    assert {"api", "migrate", "deploy-contracts", "beat", "worker-chain"} <= set(apps)
    envs = [svc["environment"] for svc in apps.values()]
    assert all(env == envs[0] for env in envs)
    env = envs[0]
    assert env["MERIT_ENV"] == "dev"
    assert env["MERIT_CONTENT_BACKEND"] == "ipfs"
    assert env["MERIT_IPFS_API_URL"] == "/dns/ipfs/tcp/5001/http"
    assert env["MERIT_API_KEYS"] == SECRETS["MERIT_API_KEYS"]
    assert env["MERIT_GOLD_SECRET"] == SECRETS["MERIT_GOLD_SECRET"]
    assert SECRETS["POSTGRES_PASSWORD"] in env["MERIT_DATABASE_URL"]
    for svc in apps.values():
        assert any(str(v).endswith(":/data") or ":/data:" in str(v) for v in svc["volumes"])


def test_app_environment_is_read_by_settings(
    services: dict[str, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    env = services["api"]["environment"]
    unknown = [
        k for k in env if k.startswith("MERIT_") and k[6:].lower() not in Settings.model_fields
    ]
    assert unknown == []  # Settings ignores unknown MERIT_ names: a typo would pass silently
    for key in [k for k in os.environ if k.startswith("MERIT_")]:
        monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, str(value))
    settings = Settings()
    assert settings.env == "dev"
    assert settings.api_keys == ["compose-test-key"]
    assert settings.content_backend == "ipfs"
    assert settings.effective_database_url.startswith("postgresql://merit:")
    assert str(settings.resolved_data_dir) == "/data"


def test_api_serves_on_the_published_port(services: dict[str, dict[str, Any]]) -> None:
    api = services["api"]
    assert command_of(api)[:3] == ["merit", "api", "serve"]
    port = command_of(api)[command_of(api).index("--port") + 1]
    published = {
        str(p["target"]) if isinstance(p, dict) else str(p).rsplit(":", 1)[-1] for p in api["ports"]
    }
    assert port in published
    assert "/healthz" in " ".join(api["healthcheck"]["test"])


def test_named_volumes_keep_state(config: dict[str, Any]) -> None:
    assert {"chain-state", "db-data", "broker-data", "ipfs-data", "app-data"} <= set(
        config["volumes"]
    )


def test_the_watcher_is_its_own_party(services: dict[str, dict[str, Any]]) -> None:
    """An independent watcher: no database, no marketplace key, the data volume read-only."""
    watcher = services["watcher"]
    env = watcher["environment"]
    assert "MERIT_DATABASE_URL" not in env and "MERIT_SETTLER_KEY" not in env
    assert not any(k.endswith("_KEY") for k in env)
    assert any(str(v).endswith(":ro") for v in watcher["volumes"] if str(v).startswith("app-data"))
    assert "merit watch" in " ".join(command_of(watcher))


def test_the_broker_keeps_queued_tasks_across_a_crash(services: dict[str, dict[str, Any]]) -> None:
    """redis writes every queued task to its append-only file (fsync every second), on a volume."""
    broker = services["broker"]
    command = " ".join(command_of(broker))
    assert "--appendonly yes" in command and "--appendfsync everysec" in command
    assert any(str(v).startswith("broker-data") for v in broker["volumes"]) or any(
        isinstance(v, dict) and v.get("source") == "broker-data" for v in broker["volumes"]
    )


def test_the_dev_chain_moves_its_clock_while_idle(services: dict[str, dict[str, Any]]) -> None:
    """Challenge windows are judged by block time: an idle chain must still mine blocks."""
    command = " ".join(command_of(services["chain"]))
    assert "--block-time 1" in command and "--mixed-mining" in command
