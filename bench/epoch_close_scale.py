"""Closing an epoch of 500 to 100,000 tasks: the chunked audit bundle beside the one-block bundle.

    python bench/epoch_close_scale.py            # 500, 1k, 10k, 100k tasks (about 6 min on 2 cores)
    python bench/epoch_close_scale.py --quick    # 500, 1k, 5k tasks, a smoke run
    python bench/epoch_close_scale.py --tasks 2000 20000

Each size gets a fresh in-memory store (``services.inmemory``) filled by ``services.sim.fill``:
300 rounds played through ``submit_task`` and ``rounds.run_round`` on ten simulated nodes (4, 6
or 8 seats, 2-3 candidates, about 3 verdicts per answer), then their records repeated under new
tasks through the store's API up to the size. The product's own ``close_epoch`` then closes that
same epoch twice:

- the peer, in a forked copy of the process (its changes and the memory it leaves do not reach
  the next measurement): the close as it was before bundles had parts, the whole document as one
  content block (``content.put(encode(bundle))``); the content store refuses a block over 1 MiB;
- this project: ``close_epoch`` as it is (``bundles.put_bundle``: chunks of at most 256 KiB and
  a manifest), then ``load_bundle`` reads the whole document back, checking every chunk.

Where the peer succeeds, its block and the document read back from the chunks are compared byte
for byte (column "same"). "+peak" is how far the process's resident memory rose above what it
held before the close (the filled store) at its highest during the close (Linux ``VmHWM``, reset
first; memory freed by the fill and reused is not counted); "process" is that high-water mark.
The filled store lives in the same heap as the close, where a database's rows would not: it is
moved out of the garbage collector's passes (``gc.freeze``) before the closes, for all of them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import pickle
import resource
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import cast
from unittest import mock

from services.app import epochs
from services.app.bundles import encode, load_bundle
from services.app.epochs import close_epoch
from services.content import MAX_BLOB_BYTES
from services.core.errors import Invalid
from services.inmemory import MemoryContent, MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.fill import fill_epoch, seeded_store

SIZES = (500, 1_000, 10_000, 100_000)
QUICK = (500, 1_000, 5_000)
STATUS = Path("/proc/self/status")
EMISSION = 10**20


@dataclass
class Row:
    tasks: int
    fill_s: float
    peer_s: float
    peer: str  # "stored" or why it was refused
    peer_bytes: bytes | None
    close_s: float = 0.0
    peak_mb: float = 0.0
    process_mb: float = 0.0
    bundle_bytes: int = 0
    blocks: int = 0
    manifest_bytes: int = 0
    load_s: float = 0.0
    same: str = "-"


def _kib(field: str) -> int:
    for line in STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


class Peak:
    """The resident-memory high-water mark of a block, and how far it rose above what the
    process held when the block began, in MB (Linux: VmHWM reset on entry; elsewhere ru_maxrss)."""

    def __enter__(self) -> Peak:
        gc.collect()
        try:
            Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
            self.linux, self.before = True, _kib("VmRSS")
        except OSError:
            self.linux, self.before = False, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return self

    def __exit__(self, *exc: object) -> None:
        high = _kib("VmHWM") if self.linux else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        self.rise_mb, self.high_mb = (high - self.before) / 1024, high / 1024


def _peer(store: MemoryStore, escrow: MemoryEscrow) -> tuple[float, str, bytes | None]:
    """The close as it was before bundles had parts: the whole document as one block."""

    def one_block(content: MemoryContent, doc: dict[str, object]) -> str:
        return content.put(encode(doc))

    content = MemoryContent()
    t = time.perf_counter()
    try:
        with mock.patch.object(epochs, "put_bundle", one_block):
            closed = close_epoch(store, content, emission_wei=EMISSION, escrow=escrow)
    except Invalid as exc:  # the one block is over the limit: the close is rolled back
        size = exc.context.get("size")
        return time.perf_counter() - t, f"refused: {size / 1e6:.1f} MB > 1 MiB" if size else exc.detail, None
    return time.perf_counter() - t, "stored", content.get(closed.epoch.audit_cid or "")


def _apart(run: Callable[[], tuple[float, str, bytes | None]]) -> tuple[float, str, bytes | None]:
    """``run()`` in a forked copy of this process (where there is fork), so that neither its
    changes to the store nor the memory it leaves behind reach the close measured after it."""
    if not hasattr(os, "fork"):
        raise SystemExit("this bench needs os.fork (Linux or macOS)")
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the copy
        os.close(read)
        try:
            reply = pickle.dumps(run())
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            reply = pickle.dumps(exc)
        with os.fdopen(write, "wb") as out:
            out.write(reply)
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as got:
        data = got.read()
    os.waitpid(pid, 0)
    answer = pickle.loads(data)
    if isinstance(answer, BaseException):
        raise answer
    return cast(tuple[float, str, bytes | None], answer)


def measure(n: int, seed: int) -> Row:
    store = seeded_store(seed)
    t = time.perf_counter()
    escrow = fill_epoch(store, n, seed=seed)
    fill_s = time.perf_counter() - t
    gc.collect()
    gc.freeze()  # the store's rows, like a database's, are no part of the close's garbage

    peer_s, verdict, peer_bytes = _apart(lambda: _peer(store, escrow))
    row = Row(n, fill_s, peer_s, verdict, peer_bytes)

    content = MemoryContent()
    with Peak() as peak:
        t = time.perf_counter()
        closed = close_epoch(store, content, emission_wei=EMISSION, escrow=escrow)
        row.close_s = time.perf_counter() - t
    row.peak_mb, row.process_mb = peak.rise_mb, peak.high_mb
    cid = closed.epoch.audit_cid or ""
    manifest = content.get(cid)
    parts = json.loads(manifest)["chunks"]
    row.manifest_bytes = len(manifest)
    row.blocks = 1 + sum(len(c["cids"]) for c in parts)  # the manifest and its chunks
    row.bundle_bytes = len(manifest) + sum(c["bytes"] for c in parts)
    t = time.perf_counter()
    doc = load_bundle(content, cid)
    row.load_s = time.perf_counter() - t
    if len(doc["tasks"]) != n or closed.tasks != n:
        raise SystemExit(f"{n} tasks: the bundle holds {len(doc['tasks'])}, the close {closed.tasks}")
    if peer_bytes is not None:
        row.same = "yes" if encode(doc) == peer_bytes else "NO"
    del store, content, closed, doc
    gc.unfreeze()
    gc.collect()
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500, 1k and 5k tasks")
    parser.add_argument("--tasks", type=int, nargs="+", help="epoch sizes to close")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    sizes = args.tasks or (QUICK if args.quick else SIZES)
    started = time.perf_counter()
    rows = []
    for n in sizes:
        rows.append(measure(n, args.seed))
        r = rows[-1]
        print(f"  {n:,} tasks: filled in {r.fill_s:.1f} s, closed in {r.close_s:.1f} s", flush=True)

    head = (f"{'tasks':>8} {'close s':>8} {'+peak MB':>8} {'bundle MB':>9} {'blocks':>6} {'manifest KB':>11} "
            f"{'process MB':>10} {'load s':>7} | {'one block (peer)':<28} {'peer close s':>12} {'ours/peer':>9} {'same':>4}")  # fmt: skip
    print(f"\nepoch_close_scale: close_epoch on the in-memory ports, seed {args.seed}; "
          f"peer: the same close writing the bundle as one block (limit {MAX_BLOB_BYTES:,} bytes)")  # fmt: skip
    print(head)
    print("-" * len(head))
    for r in rows:
        ratio = f"{r.close_s / r.peer_s:.2f}x" if r.peer_bytes is not None else "-"
        print(f"{r.tasks:>8,} {r.close_s:>8.2f} {r.peak_mb:>8.0f} {r.bundle_bytes / 1e6:>9.2f} {r.blocks:>6} "
              f"{r.manifest_bytes / 1024:>11.1f} {r.process_mb:>10.0f} {r.load_s:>7.2f} | {r.peer:<28} {r.peer_s:>12.2f} {ratio:>9} "
              f"{r.same:>4}")  # fmt: skip
    fill = ", ".join(f"{r.tasks:,}: {r.fill_s:.0f} s" for r in rows)
    print(f"({time.perf_counter() - started:.0f} s in all; filling the stores took {fill}; "
          f"blocks: the manifest and its chunks of at most 256 KiB)")  # fmt: skip


if __name__ == "__main__":
    main()
