"""An embedded PostgreSQL server: the real binaries of the ``pgserver`` wheel, run by pg_ctl.

``start_postgres(data_dir, port, log_file)`` initialises a cluster in ``data_dir`` on first use
(superuser ``merit``, database ``merit``, trust authentication on 127.0.0.1 only), starts it
listening on ``127.0.0.1:port`` and returns a handle; on an existing cluster it only starts it, so
state survives restarts. PostgreSQL refuses to run as root: under euid 0 the server runs as the
system user ``meritpg`` (created once with useradd), which owns the data directory.

We drive pg_ctl directly rather than pgserver's Python API: that API picks its own port and socket
directory, registers atexit hooks that stop the server, and locks a per-user runtime directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import logging
import os
import pwd
import shutil
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

import psycopg

from services.core.errors import ConfigInvalid, PortInUse, StoreUnavailable
from services.ports_free import is_free
from services.processes import pid_alive

log = logging.getLogger(__name__)

SUPERUSER = "merit"
DATABASE = "merit"
SYSTEM_USER = "meritpg"  # runs the server when we are root
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
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
    if not (bin_dir / "pg_ctl").is_file():
        raise ConfigInvalid(
            f"no PostgreSQL binaries under {bin_dir}",
            hint="reinstall pgserver, or set MERIT_DATABASE_URL to a running PostgreSQL",
        )
    return bin_dir


@dataclass(frozen=True)
class _RunAs:
    """Who runs initdb/pg_ctl/postgres: ourselves, or ``meritpg`` when we are root."""

    uid: int
    gid: int
    home: str

    @property
    def is_self(self) -> bool:
        return self.uid == os.geteuid()


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
    env = {
        "PATH": f"{pg_bin_dir()}:/usr/bin:/bin",
        "HOME": who.home,
        "LC_ALL": "C",
        "LANG": "C",
        "TZ": "UTC",
    }
    kwargs: dict[str, object] = {}
    if not who.is_self:
        kwargs.update(user=who.uid, group=who.gid, extra_groups=[])
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        cmd,
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        **kwargs,
    )


def _tail(path: Path, lines: int = 20) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(log is empty)"


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


@dataclass
class PostgresProcess:
    """A running embedded server. ``stop()`` shuts it down (fast mode) and waits for the pid."""

    data_dir: Path
    port: int
    pid: int
    log_file: Path
    socket_dir: Path
    _who: _RunAs = field(repr=False)

    @property
    def url(self) -> str:
        return f"postgresql://{SUPERUSER}@{HOST}:{self.port}/{DATABASE}"

    def running(self) -> bool:
        return pid_alive(self.pid)

    def stop(self, timeout: float = STOP_TIMEOUT_S) -> None:
        if not self.running():
            return
        pg_ctl = str(pg_bin_dir() / "pg_ctl")
        done = _run(
            [pg_ctl, "stop", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(timeout))],
            self._who,
            cwd=self.data_dir,
            timeout=timeout + 5,
        )
        deadline = time.monotonic() + timeout
        while self.running() and time.monotonic() < deadline:
            time.sleep(0.02)
        if self.running():
            log.warning("postgres pid %s ignored a fast shutdown; sending SIGQUIT", self.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, 3)
            while self.running() and time.monotonic() < deadline + 5:
                time.sleep(0.02)
        if self.running():
            raise StoreUnavailable(
                f"embedded PostgreSQL (pid {self.pid}) did not stop: {done.stderr.strip()}",
                hint=f"stop it by hand: kill {self.pid}",
            )
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
        return PostgresProcess(data_dir, port, pid, log_file, _socket_dir(data_dir, port, who), who)

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

    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch(exist_ok=True)
    if not who.is_self:
        os.chown(log_file, who.uid, who.gid)
        _grant_traverse(log_file)

    sock = _socket_dir(data_dir, port, who)
    options = {
        "listen_addresses": HOST,
        "port": str(port),
        "unix_socket_directories": str(sock),
        "max_connections": "100",
        **(settings or {}),
    }
    opt_string = " ".join(f"-c {k}={v}" for k, v in options.items())
    started = time.monotonic()
    done = _run(
        [
            str(bin_dir / "pg_ctl"),
            "start",
            "-D",
            str(data_dir),
            "-l",
            str(log_file),
            "-o",
            opt_string,
            "-w",
            "-t",
            str(int(timeout)),
        ],
        who,
        cwd=data_dir,
        timeout=timeout + 10,
    )
    info = _read_postmaster_pid(data_dir)
    if done.returncode != 0 or info is None:
        if "Address already in use" in _tail(log_file, 5):
            raise PortInUse(
                f"port {port} on {HOST} is already in use, so PostgreSQL cannot listen there",
                hint="set MERIT_POSTGRES_PORT to a free port",
                port=port,
            )
        raise StoreUnavailable(
            f"embedded PostgreSQL did not start in {data_dir} "
            f"({(done.stderr or done.stdout).strip()}); last lines of {log_file}:\n"
            f"{_tail(log_file)}",
            hint="read the server log above; remove the data folder if the cluster is damaged",
        )
    pid = info[0]
    _ensure_database(port)
    log.info(
        "embedded PostgreSQL up on %s:%s (pid %s, %.2fs)",
        HOST,
        port,
        pid,
        time.monotonic() - started,
    )
    return PostgresProcess(data_dir, port, pid, log_file, sock, who)
