"""Child processes of the embedded stack: start in their own session, wait until ready, stop by pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.core.errors import ConfigInvalid


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        stop_pid(self.pid, timeout, proc=self.proc)


def spawn(
    name: str, args: Sequence[str], *, url: str, log: Path, env: Mapping[str, str] | None = None
) -> Child:
    """Start ``args`` in a new session (Ctrl-C in the terminal reaches only ``merit up``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
    return Child(name, proc, url, log)


def wait_ready(child: Child, probe: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise ConfigInvalid(
                f"{child.name} exited with code {child.proc.returncode} while starting: {tail(child.log)}",
                hint=f"see {child.log}",
            )
        if probe():
            return
        time.sleep(0.1)
    child.stop()
    raise ConfigInvalid(f"{child.name} was not ready after {timeout:.0f}s: {tail(child.log)}", hint=f"see {child.log}")


def http_ok(url: str) -> Callable[[], bool]:
    def probe() -> bool:
        try:
            return httpx.get(url, timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    return probe


def tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(text[-lines:]) or "(empty log)"


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of ours counts as gone
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def stop_pid(pid: int, timeout: float = 15.0, *, proc: subprocess.Popen[bytes] | None = None) -> None:
    """SIGTERM, wait, then SIGKILL: the process and anything left in its session."""
    if proc is not None and proc.poll() is not None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            return
        if proc is None and not pid_alive(pid):
            return
        time.sleep(0.05)
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if proc is not None:
        proc.wait()


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
