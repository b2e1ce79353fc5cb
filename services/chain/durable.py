"""The dev chain keeps what the marketplace acted on.

anvil holds its chain in memory and writes it to its state file only when told (or at exit), so
a kill -9 loses the newest blocks: a requester's fee, a refund, a move of fees into a pool, while
the database still records them. Before the marketplace records anything it read from the dev
chain or wrote to it (a fee found held, a transaction mined), ``ChainPersister.persist(block)``
makes sure the state file holds that block: the chain's state is dumped (``anvil_dumpState``) and
written to a new file renamed over the old one, under a lock every process shares, so a state file
is always whole and never older than what the marketplace acted on. A restarted anvil loads it.

Only the embedded dev chain has a state file (``Settings.effective_chain_state_file``); on any
other chain there is nothing to do and no persister is made.
"""

from __future__ import annotations

import fcntl
import gzip
import json
import logging
import os
import urllib.error
from pathlib import Path

from services.chain.anvil import rpc_call
from services.core.errors import ChainUnavailable

log = logging.getLogger(__name__)

DUMP_TIMEOUT_S = 30.0


class ChainPersister:
    """Writes the dev chain at ``rpc_url`` to ``state_file``, which anvil loads when it starts.

    ``<state_file>.block`` holds the newest block the file is known to hold (written after the
    file), so a caller whose block is already in it writes nothing.
    """

    def __init__(self, rpc_url: str, state_file: Path) -> None:
        self.rpc_url = rpc_url
        self.state_file = state_file
        self._mark = state_file.with_name(state_file.name + ".block")
        self._lock = state_file.with_name(state_file.name + ".lock")

    def held(self) -> int:
        """The newest block the state file is known to hold (-1: none)."""
        try:
            return int(self._mark.read_text().strip())
        except (OSError, ValueError):
            return -1

    def persist(self, block: int | None = None) -> int:
        """Make the state file hold block ``block`` (None: the chain as it is now); the newest
        block it holds. ChainUnavailable when the chain does not answer (nothing is written)."""
        if block is not None and self.held() >= block:
            return self.held()
        self.state_file.parent.mkdir(parents=True, exist_ok=True)
        with self._lock.open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # one writer at a time: a later dump is never older
            try:
                if block is not None and self.held() >= block:
                    return self.held()
                return self._write()
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def _write(self) -> int:
        try:
            dumped = rpc_call(self.rpc_url, "anvil_dumpState", timeout=DUMP_TIMEOUT_S)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            raise ChainUnavailable(
                f"cannot save the dev chain's state: {exc}", hint="merit up restarts anvil; retry"
            ) from exc
        try:
            state = gzip.decompress(bytes.fromhex(str(dumped).removeprefix("0x")))
            best = int(json.loads(state)["best_block_number"])
        except (ValueError, KeyError, TypeError, OSError) as exc:
            raise ChainUnavailable(f"the dev chain's state dump is unreadable: {exc}") from exc
        _replace(self.state_file, state)
        _replace(self._mark, str(best).encode())
        log.debug("dev chain state saved", extra={"block": best, "bytes": len(state)})
        return best


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a new file, synced, renamed over it."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with tmp.open("wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def persister_for(rpc_url: str, state_file: Path | None) -> ChainPersister | None:
    """The persister of the dev chain at ``rpc_url`` when it keeps its state in ``state_file``."""
    return None if state_file is None else ChainPersister(rpc_url, state_file)
