"""Child processes of the embedded stack: start in their own session, wait until ready, stop by pid.

Every part of the stack is started, waited for and stopped here: the API, the workers, beat, the
test nodes, anvil (``services.chain.anvil``), redis (``services.broker.embedded``) and PostgreSQL
(``services.store.embedded``, the postmaster in the foreground, as system user ``meritpg`` under
root, stopped with SIGINT: its fast shutdown). ``services.supervisor`` restarts the parts of
`merit up` that die.

Each child leads a process group of its own (its session), so stopping it stops everything it
started too (Celery's embedded beat, a pool's children), even when the child itself died first.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Self

import httpx

from services.core.errors import ConfigInvalid, MeritError

logger = logging.getLogger(__name__)
_KILLED_GONE_S = 5.0  # how long a process killed -9 may take to disappear


@dataclass
class Child:
    name: str
    proc: subprocess.Popen[bytes]
    url: str
    log: Path
    log_offset: int = 0  # where this run's output starts in ``log`` (earlier runs' stay above)
    stop_signal: int = signal.SIGTERM  # what asks it to stop before SIGKILL

    @property
    def pid(self) -> int:
        return self.proc.pid

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, timeout: float = 15.0) -> None:
        stop_pid(self.pid, timeout, proc=self.proc, sig=self.stop_signal)


class ChildHandle:
    """The handle of an embedded server around its ``Child``: its pid, process and log, and a
    ``stop()`` (also on leaving a ``with`` block) that waits until it is gone."""

    child: Child
    stop_timeout: ClassVar[float] = 10.0

    @property
    def pid(self) -> int:
        return self.child.pid

    @property
    def proc(self) -> subprocess.Popen[bytes]:
        return self.child.proc

    @property
    def log_file(self) -> Path:
        return self.child.log

    @property
    def stop_signal(self) -> int:
        return self.child.stop_signal

    def stop(self, timeout: float | None = None) -> None:
        self.child.stop(self.stop_timeout if timeout is None else timeout)
        logger.info(
            "%s stopped", self.child.name, extra={"pid": self.pid, "rc": self.proc.returncode}
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def spawn(
    name: str,
    args: Sequence[str],
    *,
    url: str,
    log: Path,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = True,
    cwd: Path | None = None,
    user: int | None = None,
    group: int | None = None,
    extra_groups: Sequence[int] | None = None,
    stop_signal: int = signal.SIGTERM,
) -> Child:
    """Start ``args`` in a new session (Ctrl-C in the terminal reaches only ``merit up``), its
    output appended to ``log``.

    ``env`` is added to our environment, or is the whole of it with ``inherit_env=False``;
    ``user``, ``group`` and ``extra_groups`` (root only) run it as another user; ``stop_signal``
    is what ``Child.stop`` asks it to stop with."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        offset = out.tell()
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**(os.environ if inherit_env else {}), **(env or {})},
            cwd=cwd,
            user=user,
            group=group,
            extra_groups=extra_groups,
            start_new_session=True,
        )
    return Child(name, proc, url, log, offset, stop_signal)


def log_since(child: Child) -> str:
    """What ``child`` wrote to its log since it started."""
    try:
        with child.log.open("rb") as f:
            f.seek(child.log_offset)
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def wait_ready(
    child: Child,
    probe: Callable[[], bool],
    timeout: float,
    *,
    error: type[MeritError] = ConfigInvalid,
) -> None:
    """Until ``probe()`` says ready; ``error`` when the child exits first or is not ready in time
    (then it is stopped)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not child.alive():
            raise error(
                f"{child.name} exited with code {child.proc.returncode} while starting: "
                f"{tail(child.log)}",
                hint=f"see {child.log}",
            )
        if probe():
            return
        time.sleep(0.1)
    child.stop()
    raise error(
        f"{child.name} was not ready after {timeout:.0f}s: {tail(child.log)}",
        hint=f"see {child.log}",
    )


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


def group_alive(pgid: int) -> bool:
    """Whether any live process (not a zombie) is left in process group ``pgid``."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie nobody reaps (an orphan under a container's pid 1) is not a process left
        stats = [p / "stat" for p in Path("/proc").iterdir() if p.name.isdigit()]
    except OSError:
        return True
    for stat in stats:
        try:
            fields = stat.read_text().rsplit(") ", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def stop_pid(
    pid: int,
    timeout: float = 15.0,
    *,
    proc: subprocess.Popen[bytes] | None = None,
    sig: int = signal.SIGTERM,
) -> None:
    """``sig`` (SIGTERM; PostgreSQL's fast shutdown is SIGINT), wait, then SIGKILL: the process,
    and whatever is left in the process group it leads (a dead leader's children too: no
    orphans). Returns once the process is gone."""
    leads_group = _leads_group(pid, proc)
    if (proc is None or proc.poll() is None) and pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc is not None and proc.poll() is not None:
                break
            if proc is None and not pid_alive(pid):
                break
            time.sleep(0.05)
    if leads_group:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    elif pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    if proc is not None:
        proc.wait()
        return
    deadline = time.monotonic() + _KILLED_GONE_S  # not our child: its parent reaps it
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.02)


def _leads_group(pid: int, proc: subprocess.Popen[bytes] | None) -> bool:
    """Whether ``pid`` is (or was, for our own exited child started in a new session) the leader
    of its process group."""
    try:
        return os.getpgid(pid) == pid
    except ProcessLookupError:
        # gone (or a zombie of ours): the group outlives its leader while members remain
        return group_alive(pid)


def python_module(module: str, *args: str) -> list[str]:
    return [sys.executable, "-m", module, *args]
