"""A content store in a dict: the CIDs the local store and kubo give, and nothing on disk."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from services.content.cid import canonical, cid_of, parse_cid, verify
from services.core.errors import NotFound

if TYPE_CHECKING:
    from services.app.ports import ContentStore


class MemoryContent:
    """``ContentStore`` over a dict of raw blocks keyed by their CIDv1 (base32)."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}
        self._lock = threading.Lock()

    def put(self, data: bytes) -> str:
        """Store ``data``; its CIDv1. ``Invalid`` above one raw block (1 MiB), like the others."""
        cid = cid_of(data)
        with self._lock:
            self._blobs[cid] = bytes(data)
        return cid

    def get(self, cid: str) -> bytes:
        """The bytes stored under ``cid``, checked against it like the other stores
        (``ContentCorrupt`` if they changed); ``Invalid`` for a non-CID, ``NotFound`` when
        absent."""
        parsed = parse_cid(cid)
        name = canonical(parsed)
        with self._lock:
            data = self._blobs.get(name)
        if data is None:
            raise NotFound(
                f"no content {name} in memory",
                hint="check the CID; in-memory content lasts as long as the process",
                cid=name,
            )
        return verify(parsed, data)

    def has(self, cid: str) -> bool:
        name = canonical(parse_cid(cid))
        with self._lock:
            return name in self._blobs


if TYPE_CHECKING:

    def _implements_the_port(content: MemoryContent) -> ContentStore:
        return content  # mypy checks that MemoryContent satisfies ContentStore
