"""Keep the embedded stack's parts running: a part that dies is started again, after a delay that
doubles with each crash; a part that crashes ``max_crashes`` times within ``window_s`` is given up
on (and said so), so a part that cannot start does not spin forever.

The supervisor owns no process itself: each ``Supervised`` part carries its running handle and a
``start`` that makes a new one. ``tick()`` is called from ``merit up``'s wait loop; it returns what
happened, one line per event, for the terminal and the log.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from services.processes import pid_alive

log = logging.getLogger(__name__)

LOG_KEEP = 5  # merit.log, merit.log.1 .. merit.log.5


class Handle(Protocol):
    @property
    def pid(self) -> int: ...
    def stop(self) -> None: ...


class PartState(StrEnum):
    RUNNING = "running"
    RESTARTING = "restarting"  # died; started again at ``retry_at``
    FAILED = "failed"  # crashed too often: given up on


@dataclass(frozen=True)
class Policy:
    max_crashes: int = 5  # within window_s: give up
    window_s: float = 60.0
    first_delay_s: float = 1.0
    max_delay_s: float = 30.0

    def delay(self, recent_crashes: int) -> float:
        """Seconds to wait before the next start after the ``recent_crashes``-th crash."""
        return float(min(self.max_delay_s, self.first_delay_s * 2.0 ** max(0, recent_crashes - 1)))


@dataclass
class Supervised:
    """One part: its handle, how to start it again, and its crash record."""

    name: str
    url: str  # where it answers (or what it serves), for status
    handle: Handle
    log: Path | None = None
    kind: str = ""  # postgres, redis, anvil, node, worker, api: how its health is probed
    start: Callable[[], Handle] | None = None  # None: not restarted
    # a check after each restart; what it raises stops the whole stack (e.g. a chain that went back)
    after_start: Callable[[], None] | None = None
    state: PartState = PartState.RUNNING
    restarts: int = 0
    crashes: list[float] = field(default_factory=list)  # monotonic times of recent crashes
    retry_at: float | None = None
    last_exit: str = ""

    @property
    def pid(self) -> int:
        return self.handle.pid

    def alive(self) -> bool:
        poll = getattr(getattr(self.handle, "proc", None), "poll", None)
        if poll is not None and poll() is not None:  # our child, exited: reaped here
            return False
        return pid_alive(self.handle.pid)


class Supervisor:
    def __init__(self, parts: list[Supervised], policy: Policy | None = None) -> None:
        self.parts = parts
        self.policy = policy or Policy()

    def tick(self, now: float | None = None) -> list[str]:
        """Look at every part once: note deaths, start the parts whose delay has passed.
        Returns one line per event; raises what a part's ``after_start`` raises."""
        now = time.monotonic() if now is None else now
        events: list[str] = []
        for part in self.parts:
            if part.state is PartState.RUNNING and not part.alive():
                events.append(self._crashed(part, now, _exit_of(part.handle)))
            if (
                part.state is PartState.RESTARTING
                and part.retry_at is not None
                and now >= part.retry_at
            ):
                events.append(self._restart(part, now))
        return events

    def _crashed(self, part: Supervised, now: float, how: str) -> str:
        part.last_exit = how
        _stop_quietly(part)  # what the dead part left in its process group goes with it
        part.crashes = [t for t in part.crashes if now - t < self.policy.window_s] + [now]
        recent = len(part.crashes)
        if part.start is None:
            part.state = PartState.FAILED
            line = f"{part.name} stopped ({how}) and is not restarted"
        elif recent >= self.policy.max_crashes:
            part.state = PartState.FAILED
            part.retry_at = None
            line = (
                f"{part.name} crashed {recent} times within {self.policy.window_s:.0f}s ({how}); "
                f"giving up on it" + (f": see {part.log}" if part.log else "")
            )
        else:
            delay = self.policy.delay(recent)
            part.state = PartState.RESTARTING
            part.retry_at = now + delay
            line = f"{part.name} stopped ({how}); restarting in {delay:.0f}s"
        return line

    def _restart(self, part: Supervised, now: float) -> str:
        assert part.start is not None
        if part.log is not None:
            note_in_log(part.log, f"restarted by merit up after: {part.last_exit}")
        try:
            part.handle = part.start()
        except Exception as exc:  # noqa: BLE001 - a start that fails counts as one more crash
            part.restarts += 1
            return self._crashed(part, now, f"restart failed: {_first_line(exc)}")
        part.restarts += 1
        part.state = PartState.RUNNING
        part.retry_at = None
        if part.after_start is not None:
            part.after_start()
        return f"{part.name} restarted (pid {part.pid}, restart {part.restarts})"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]


def _exit_of(handle: Handle) -> str:
    proc = getattr(handle, "proc", None)
    code = getattr(proc, "returncode", None)
    if code is None:
        return f"pid {handle.pid} gone"
    if code < 0:
        return f"killed by signal {-code}"
    return f"exit code {code}"


def _stop_quietly(part: Supervised) -> None:
    try:
        part.handle.stop()
    except Exception:  # it is dead already; this only sweeps its process group
        log.debug("sweeping %s failed", part.name, exc_info=True)


# ------------------------------------------------------------------------------ logs
def rotate_log(path: Path, keep: int = LOG_KEEP) -> None:
    """``path`` becomes ``path.1``, ``path.1`` becomes ``path.2`` ... the oldest beyond ``keep``
    is dropped. A missing or empty log is left alone."""
    try:
        if path.stat().st_size == 0:
            return
    except OSError:
        return
    oldest = path.with_name(f"{path.name}.{keep}")
    oldest.unlink(missing_ok=True)
    for n in range(keep - 1, 0, -1):
        older = path.with_name(f"{path.name}.{n}")
        if older.exists():
            older.replace(path.with_name(f"{path.name}.{n + 1}"))
    path.replace(path.with_name(f"{path.name}.1"))


def note_in_log(path: Path, text: str) -> None:
    """One line in a part's own log, so a reader sees where one run ends and the next begins."""
    try:
        with path.open("a") as f:
            f.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} {text} ---\n")
    except OSError:
        pass
