"""An embedded PostgreSQL server: the real binaries of the ``pgserver`` wheel, run as our child.

``start_postgres(data_dir, port, log_file)`` initialises a cluster in ``data_dir`` on first use
(superuser ``merit``, database ``merit``, trust authentication on 127.0.0.1 only), starts it
listening on ``127.0.0.1:port`` and returns a handle; on an existing cluster it only starts it, so
state survives restarts. PostgreSQL refuses to run as root: under euid 0 the server runs as the
system user ``meritpg`` (created once with useradd), which owns the data directory.

The postmaster runs in the foreground, started, waited for and stopped through
``services.processes`` like every other part of the stack: in a session of its own (it outlives
the process that started it until it is stopped), its output appended to the log file, stopped
with SIGINT (a fast shutdown) and SIGKILL when that does not end it in time. We run the binaries
directly rather than through pgserver's Python API: that API picks its own port and socket
directory, registers atexit hooks that stop the server, and locks a per-user runtime directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import signal
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache, partial
from pathlib import Path
from typing import ClassVar

import psycopg

from services.core.errors import ConfigInvalid, PortInUse, StoreUnavailable
from services.ports_free import is_free
from services.processes import Child, log_since, pid_alive, spawn, stop_pid, wait_ready

log = logging.getLogger(__name__)

SUPERUSER = "merit"
DATABASE = "merit"
SYSTEM_USER = "meritpg"  # runs the server when we are root
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
STOP_SIGNAL = signal.SIGINT  # fast shutdown: ends the sessions, writes a checkpoint, exits
_MAX_SOCKET_PATH = 100  # sun_path is 108 bytes; leave room for "/.s.PGSQL.NNNNN"

_HBA = """\
# written by meritswarm: trust on the loopback address and the owner-only socket, nothing else
local   all   all                  trust
host    all   all   127.0.0.1/32   trust
"""


@cache
def pg_bin_dir() -> Path:
    """The ``bin`` directory of the PostgreSQL build inside the pgserver wheel (not imported:
    importing pgserver has side effects)."""
    spec = importlib.util.find_spec("pgserver")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigInvalid(
            "the pgserver package (embedded PostgreSQL binaries) is not installed",
            hint="pip install pgserver, or set MERIT_DATABASE_URL to a running PostgreSQL",
        )
    bin_dir = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    if not (bin_dir / "postgres").is_file():
        raise ConfigInvalid(
            f"no PostgreSQL binaries under {bin_dir}",
            hint="reinstall pgserver, or set MERIT_DATABASE_URL to a running PostgreSQL",
        )
    return bin_dir


@dataclass(frozen=True)
class _RunAs:
    """Who runs initdb and postgres: ourselves, or ``meritpg`` when we are root."""

    uid: int
    gid: int
    home: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()

    @property
    def user(self) -> int | None:
        """For ``subprocess``: None keeps ours."""
        return None if self.is_self else self.uid

    @property
    def group(self) -> int | None:
        return None if self.is_self else self.gid

    @property
    def extra_groups(self) -> list[int] | None:
        return None if self.is_self else []

    def env(self) -> dict[str, str]:
        """The whole environment of initdb and postgres."""
        return {
            "PATH": f"{pg_bin_dir()}:/usr/bin:/bin",
            "HOME": self.home,
            "LC_ALL": "C",
            "LANG": "C",
            "TZ": "UTC",
        }


def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(os.geteuid(), os.getegid(), os.environ.get("HOME", "/"))
    try:
        entry = pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        useradd = shutil.which("useradd") or "/usr/sbin/useradd"
        done = subprocess.run(
            [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
            capture_output=True,
            text=True,
        )
        if done.returncode not in (0, 9):  # 9: created meanwhile by a concurrent start
            raise ConfigInvalid(
                f"cannot create system user {SYSTEM_USER!r} to run PostgreSQL as non-root: "
                f"{done.stderr.strip()}",
                hint="run merit as a non-root user, or set MERIT_DATABASE_URL",
            ) from None
        entry = pwd.getpwnam(SYSTEM_USER)
    return _RunAs(entry.pw_uid, entry.pw_gid, "/")


def _grant_traverse(path: Path) -> None:
    """Let other users traverse (not list) every ancestor of ``path``."""
    for parent in path.parents:
        mode = parent.stat().st_mode
        if not mode & stat.S_IXOTH:
            log.info("granting o+x on %s so that %s can reach %s", parent, SYSTEM_USER, path)
            parent.chmod(mode | stat.S_IXOTH)


@cache
def _ensure_binaries_usable_by_others(bin_dir: Path) -> None:
    """The wheel's files are installed by root; make sure ``meritpg`` can read and run them."""
    install = bin_dir.parent
    _grant_traverse(install)
    for root, dirs, files in os.walk(install):
        for name in dirs:
            p = Path(root, name)
            mode = p.stat().st_mode
            if mode & 0o005 != 0o005:
                p.chmod(mode | 0o055)
        for name in files:
            p = Path(root, name)
            mode = p.lstat().st_mode
            if stat.S_ISLNK(mode):
                continue
            want = 0o044 | (0o011 if mode & stat.S_IXUSR else 0)
            if mode & want != want:
                p.chmod(mode | want)
    install.chmod(install.stat().st_mode | 0o055)


def _run(
    cmd: list[str], who: _RunAs, *, cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """A one-shot command (initdb) as ``who``."""
    return subprocess.run(
        cmd,
        cwd=cwd,
        env=who.env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
    )


def _read_postmaster_pid(data_dir: Path) -> tuple[int, int] | None:
    """(pid, port) from ``postmaster.pid`` if a live postmaster owns ``data_dir``."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, IndexError, ValueError):
        return None
    if not pid_alive(pid):
        return None
    try:  # a stale pid file may name a pid that now belongs to another program
        if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
            return None
    except OSError:
        pass
    return pid, port


def _remove_stale_lock(data_dir: Path) -> None:
    """A postmaster killed -9 leaves ``postmaster.pid``; when its pid is dead, or an unreaped
    zombie (which PostgreSQL itself takes for a live server), the file is stale: remove it."""
    lock = data_dir / "postmaster.pid"
    try:
        pid = int(lock.read_text().splitlines()[0])
    except (OSError, IndexError, ValueError):
        return
    if not pid_alive(pid):
        log.info("removing the stale lock of PostgreSQL pid %s in %s", pid, data_dir)
        lock.unlink(missing_ok=True)


def _url(port: int) -> str:
    return f"postgresql://{SUPERUSER}@{HOST}:{port}/{DATABASE}"


def _accepts_connections(data_dir: Path, pid: int) -> bool:
    """Whether postmaster ``pid`` has marked itself ready in its lock file (what pg_ctl -w waits
    for: it listens, and recovery, if any, is done)."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
    except OSError:
        return False
    return len(lines) > 7 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"


@dataclass
class PostgresProcess:
    """A running embedded server: our ``child``, or (``child`` None) one that was already running
    for the same data directory and port. ``stop()`` shuts it down (fast mode, then SIGKILL if it
    does not end within the timeout) and returns once the pid is gone."""

    data_dir: Path
    port: int
    pid: int
    log_file: Path
    socket_dir: Path
    child: Child | None = field(default=None, repr=False)
    stop_signal: ClassVar[int] = STOP_SIGNAL

    @property
    def url(self) -> str:
        return _url(self.port)

    @property
    def proc(self) -> subprocess.Popen[bytes] | None:
        return None if self.child is None else self.child.proc

    def running(self) -> bool:
        return pid_alive(self.pid) if self.child is None else self.child.alive()

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        stop_pid(self.pid, timeout, proc=self.proc, sig=self.stop_signal)
        log.info("embedded PostgreSQL stopped (pid %s)", self.pid)


def _socket_dir(data_dir: Path, port: int, who: _RunAs) -> Path:
    if len(str(data_dir)) + len(f"/.s.PGSQL.{port}") <= _MAX_SOCKET_PATH:
        return data_dir  # owned by the server user, mode 0700
    path = Path(tempfile.gettempdir()) / f"merit-pg-{who.uid}-{port}"
    path.mkdir(mode=0o700, exist_ok=True)
    if not who.is_self:
        os.chown(path, who.uid, who.gid)
    return path


def _initdb(data_dir: Path, who: _RunAs) -> None:
    if data_dir.exists() and any(data_dir.iterdir()):
        raise ConfigInvalid(
            f"{data_dir} is not empty and holds no PostgreSQL cluster (no PG_VERSION)",
            hint="point the data directory at an empty or absent folder",
        )
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    if not who.is_self:
        os.chown(data_dir, who.uid, who.gid)
    data_dir.chmod(0o700)
    done = _run(
        [
            str(pg_bin_dir() / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            SUPERUSER,
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-instructions",
        ],
        who,
        cwd=data_dir,
        timeout=120,
    )
    if done.returncode != 0:
        raise ConfigInvalid(
            f"initdb failed in {data_dir}: {(done.stderr or done.stdout).strip()[-2000:]}",
            hint="remove the folder and try again, or set MERIT_DATABASE_URL",
        )
    (data_dir / "pg_hba.conf").write_text(_HBA)
    if not who.is_self:
        os.chown(data_dir / "pg_hba.conf", who.uid, who.gid)
    log.info("initialised PostgreSQL cluster in %s", data_dir)


def _ensure_database(port: int) -> None:
    url = f"postgresql://{SUPERUSER}@{HOST}:{port}/postgres"
    with psycopg.connect(url, autocommit=True, connect_timeout=10) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone()
        if not exists:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'CREATE DATABASE "{DATABASE}"')


def start_postgres(
    data_dir: Path,
    port: int,
    log_file: Path,
    *,
    settings: dict[str, str] | None = None,
    timeout: float = START_TIMEOUT_S,
) -> PostgresProcess:
    """Start (initialising on first use) the embedded server for ``data_dir`` on 127.0.0.1:port.

    ``settings`` are extra server parameters (``-c name=value``), e.g. ``{"fsync": "off"}`` for
    throwaway test clusters. If a server for ``data_dir`` is already running on ``port`` it is
    reused. Raises PortInUse when another process holds the port, StoreUnavailable (with the tail
    of the server log) when the server does not come up.
    """
    data_dir = Path(data_dir).expanduser().absolute()
    log_file = Path(log_file).expanduser().absolute()
    who = _run_as()
    bin_dir = pg_bin_dir()
    if not who.is_self:
        _ensure_binaries_usable_by_others(bin_dir)
        data_dir.parent.mkdir(parents=True, exist_ok=True)
        _grant_traverse(data_dir)

    running = _read_postmaster_pid(data_dir)
    if running is not None:
        pid, running_port = running
        if running_port != port:
            raise ConfigInvalid(
                f"the PostgreSQL cluster in {data_dir} is already running on port {running_port}",
                hint=f"stop it (kill {pid}) or set MERIT_POSTGRES_PORT={running_port}",
            )
        log.info("embedded PostgreSQL already running (pid %s, port %s)", pid, port)
        _ensure_database(port)
        return PostgresProcess(data_dir, port, pid, log_file, _socket_dir(data_dir, port, who))

    _remove_stale_lock(data_dir)

    if not is_free(port, HOST):
        raise PortInUse(
            f"port {port} on {HOST} is already in use, so PostgreSQL cannot listen there",
            hint="set MERIT_POSTGRES_PORT to a free port",
            port=port,
        )

    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, who)
    elif not who.is_self and data_dir.stat().st_uid != who.uid:
        for root, dirs, files in os.walk(data_dir):
            for name in (*dirs, *files):
                os.lchown(Path(root, name), who.uid, who.gid)
        os.chown(data_dir, who.uid, who.gid)

    sock = _socket_dir(data_dir, port, who)
    options = {"listen_addresses": HOST, "max_connections": "100", **(settings or {})}
    args = [str(bin_dir / "postgres"), "-D", str(data_dir), "-p", str(port), "-k", str(sock)]
    for name, value in options.items():
        args += ["-c", f"{name}={value}"]
    started = time.monotonic()
    child = spawn(
        "postgres",
        args,
        url=_url(port),
        log=log_file,
        env=who.env(),
        inherit_env=False,
        cwd=data_dir,
        user=who.user,
        group=who.group,
        extra_groups=who.extra_groups,
        stop_signal=STOP_SIGNAL,
    )
    try:
        wait_ready(
            child,
            partial(_accepts_connections, data_dir, child.pid),
            timeout,
            error=StoreUnavailable,
        )
        _ensure_database(port)
    except StoreUnavailable:
        timed_out = time.monotonic() - started >= timeout
        child.stop(STOP_TIMEOUT_S)
        raise _not_started(child, data_dir, port, timed_out, timeout) from None
    except BaseException:
        child.stop(STOP_TIMEOUT_S)
        raise
    log.info(
        "embedded PostgreSQL up on %s:%s (pid %s, %.2fs)",
        HOST,
        port,
        child.pid,
        time.monotonic() - started,
    )
    return PostgresProcess(data_dir, port, child.pid, log_file, sock, child)


def _not_started(
    child: Child, data_dir: Path, port: int, timed_out: bool, timeout: float
) -> PortInUse | StoreUnavailable:
    """Why the server ``child`` did not come up, from what it wrote to its log."""
    output = log_since(child)
    if "Address already in use" in output:
        return PortInUse(
            f"port {port} on {HOST} is already in use, so PostgreSQL cannot listen there",
            hint="set MERIT_POSTGRES_PORT to a free port",
            port=port,
        )
    why = (
        f"it was not ready after {timeout:.0f}s"
        if timed_out
        else f"it exited with code {child.proc.returncode}"
    )
    last = "\n".join(output.strip().splitlines()[-20:]) or "(nothing)"
    return StoreUnavailable(
        f"embedded PostgreSQL did not start in {data_dir} ({why}); last lines of {child.log}:\n"
        f"{last}",
        hint="read the server log above; remove the data folder if the cluster is damaged",
    )
