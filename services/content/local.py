"""A content store on the local disk: one file per raw block, named by its CIDv1.

Used by ``merit up`` and tests, and wherever no IPFS daemon is configured. CIDs are the ones kubo
gives for the same bytes (see ``services.content.cid``), so a bundle stored here can later be
added to IPFS and keep its address.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from services.content.cid import canonical, cid_of, parse_cid, verify
from services.core.errors import ContentUnavailable, NotFound


class LocalContentStore:
    """Blobs under ``root/<cid>``, written atomically and verified on every read."""

    def __init__(self, root: Path) -> None:
        self._root = root

    @property
    def root(self) -> Path:
        return self._root

    def put(self, data: bytes) -> str:
        cid = cid_of(data)
        path = self._root / cid
        if _holds(path, data):
            return cid
        try:
            self._root.mkdir(parents=True, exist_ok=True)
            self._write_atomically(path, data)
        except OSError as exc:
            raise ContentUnavailable(
                f"cannot write {cid} under {self._root}: {exc.strerror or exc}",
                hint="check that the data directory exists, is writable and has free space",
                cid=cid,
            ) from exc
        return cid

    def get(self, cid: str) -> bytes:
        parsed = parse_cid(cid)
        name = canonical(parsed)
        try:
            data = (self._root / name).read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(
                f"no content {name} in {self._root}",
                hint="check the CID, or that this is the data directory it was stored in",
                cid=name,
            ) from exc
        except OSError as exc:
            raise ContentUnavailable(
                f"cannot read {name} under {self._root}: {exc.strerror or exc}",
                hint="check the permissions of the data directory",
                cid=name,
            ) from exc
        return verify(parsed, data)

    def has(self, cid: str) -> bool:
        return (self._root / canonical(parse_cid(cid))).is_file()

    # ------------------------------------------------------------------------------------
    def _write_atomically(self, path: Path, data: bytes) -> None:
        fd, tmp_name = tempfile.mkstemp(dir=self._root, prefix=f".{path.name}.", suffix=".tmp")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        _fsync_dir(self._root)


def _holds(path: Path, data: bytes) -> bool:
    """True when ``path`` already holds exactly ``data``; a damaged copy gets rewritten."""
    try:
        return path.read_bytes() == data
    except OSError:
        return False


def _fsync_dir(directory: Path) -> None:
    """Make the rename durable; a no-op where directories cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
