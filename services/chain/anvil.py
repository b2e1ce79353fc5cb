"""A real anvil process for `merit up` and the test session.

The chain state lives in one file (``--state``: loaded at start, dumped every few seconds and at
exit), so a restarted stack resumes the same chain. With ``block_time_s`` the chain also mines a
block every so often while idle (a transaction is still mined at once), so its clock, which
contracts judge challenge windows by, moves on when nothing happens.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from services.core.errors import ChainUnavailable, ConfigInvalid, PortInUse
from services.ports_free import is_free
from services.processes import Child, ChildHandle, log_since, spawn, wait_ready
from services.resources import NODE_MODULES_SETTING, node_modules

log = logging.getLogger(__name__)

DEV_CHAIN_ID = 31337
NPM_ANVIL = Path("@foundry-rs/anvil-linux-amd64/bin/anvil")  # inside node_modules
STATE_INTERVAL_S = 5
# `merit up`'s chain: an empty block a second when idle (~1.7 KB of state each)
DEV_BLOCK_TIME_S = 1
DEV_ACCOUNT_COUNT = 16  # dev:0..9 deployer, nodes, requesters; dev:10.. the marketplace's roles


def find_anvil() -> Path:
    """MERIT_ANVIL_BIN, else `anvil` on PATH, else the npm binary in node_modules."""
    from_env = os.environ.get("MERIT_ANVIL_BIN")
    if from_env:
        path = Path(from_env).expanduser()
        if not (path.is_file() and os.access(path, os.X_OK)):
            raise ConfigInvalid(
                f"MERIT_ANVIL_BIN={from_env} is not an executable file",
                hint="point MERIT_ANVIL_BIN at an anvil binary, or unset it",
            )
        return path
    on_path = shutil.which("anvil")
    if on_path:
        return Path(on_path)
    hint = (
        f"set MERIT_ANVIL_BIN to an anvil binary, or {NODE_MODULES_SETTING} to the node_modules "
        "`npm ci` made in the repository"
    )
    try:
        npm = node_modules() / NPM_ANVIL
    except ConfigInvalid as exc:
        raise ConfigInvalid(f"no anvil binary: none on PATH, and {exc.detail}", hint=hint) from exc
    if npm.is_file() and os.access(npm, os.X_OK):
        return npm
    raise ConfigInvalid(
        f"no anvil binary: MERIT_ANVIL_BIN unset, none on PATH, none at {npm}", hint=hint
    )


def _port_in_use(port: int) -> PortInUse:
    return PortInUse(
        f"anvil cannot listen on 127.0.0.1:{port}: port {port} is already in use",
        hint="set MERIT_ANVIL_PORT to a free port",
    )


def rpc_call(
    rpc_url: str, method: str, params: list[object] | None = None, timeout: float = 2.0
) -> object:
    """One JSON-RPC call over plain HTTP (no web3 needed to probe a chain)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []})
    request = urllib.request.Request(
        rpc_url, data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        reply = json.loads(response.read())
    if "error" in reply:
        raise ChainUnavailable(f"{method} at {rpc_url} failed: {reply['error']}")
    return reply.get("result")


@dataclass
class AnvilProcess(ChildHandle):
    """A running anvil, a child of ``services.processes``. ``stop()`` (or leaving a ``with``
    block) sends SIGTERM (anvil dumps its state and exits), then SIGKILL to its process group (it
    leads its own session: nothing of it may outlive it) if it does not exit in time."""

    rpc_url: str
    port: int
    state_file: Path | None
    child: Child = field(repr=False)

    @property
    def running(self) -> bool:
        return self.child.alive()


def start_anvil(
    port: int,
    state_file: Path | None,
    log_file: Path,
    *,
    chain_id: int = DEV_CHAIN_ID,
    timeout: float = 30.0,
    binary: Path | None = None,
    block_time_s: int | None = None,
    state_interval_s: int | None = STATE_INTERVAL_S,
) -> AnvilProcess:
    """Start anvil on 127.0.0.1:``port`` and wait until it answers ``eth_chainId``.

    With ``state_file`` the chain is loaded from it (when it exists) and dumped to it every
    ``state_interval_s`` seconds and at exit (None: at exit only; the caller saves it whole,
    services.chain.durable: anvil writes the file in place, and a kill -9 mid-write spoils it).
    With ``block_time_s`` an idle chain mines a block that often (transactions are still mined at
    once). Output goes to ``log_file``.
    Raises PortInUse when the port is taken, ChainUnavailable when anvil does not come up.
    """
    host = "127.0.0.1"
    if not is_free(port, host):
        raise _port_in_use(port)
    anvil = binary or find_anvil()
    command = [
        str(anvil),
        "--host", host,
        "--port", str(port),
        "--chain-id", str(chain_id),
        "--accounts", str(DEV_ACCOUNT_COUNT),
        "--quiet",
    ]  # fmt: skip
    if block_time_s:
        command += ["--block-time", str(block_time_s), "--mixed-mining"]
    if state_file is not None:
        state_file.parent.mkdir(parents=True, exist_ok=True)
        command += ["--state", str(state_file)]
        if state_interval_s:
            command += ["--state-interval", str(state_interval_s)]
    rpc_url = f"http://{host}:{port}"
    handle = AnvilProcess(
        rpc_url, port, state_file, spawn("anvil", command, url=rpc_url, log=log_file)
    )
    try:
        wait_ready(
            handle.child, partial(_answers, rpc_url, chain_id), timeout, error=ChainUnavailable
        )
    except BaseException as exc:
        handle.stop()
        if isinstance(exc, ChainUnavailable) and "Address already in use" in log_since(
            handle.child
        ):
            raise _port_in_use(port) from None
        raise
    log.info("anvil started", extra={"pid": handle.pid, "rpc_url": rpc_url})
    return handle


def _answers(rpc_url: str, chain_id: int) -> bool:
    """Whether anvil answers ``eth_chainId``; ChainUnavailable when it is another chain."""
    try:
        answer = rpc_call(rpc_url, "eth_chainId", timeout=1.0)
    except (OSError, urllib.error.URLError, ValueError):
        return False
    if answer is None:
        return False
    if int(str(answer), 16) != chain_id:
        raise ChainUnavailable(f"anvil at {rpc_url} reports chain id {answer}, expected {chain_id}")
    return True
