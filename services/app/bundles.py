"""An epoch's audit bundle in the content store: a small manifest and content-addressed chunks.

A content block holds at most 1 MiB (``ContentStore``), and an epoch's bundle grows with its
tasks (about 1.5 KB each), so the bundle is stored as parts. Every top-level list of the document
(``tasks``, ``nodes``, ``clusters``, ``outliers``, ...) is cut, in order, into chunks of whole
items; a chunk is the canonical JSON (sorted keys, no spaces) of its slice, at most
``CHUNK_BYTES``. The manifest, stored last, holds everything else: the document's other fields,
each list's length, and the ordered chunks with their item counts and CIDs. The epoch records the
manifest's CID, so one CID still names the whole bundle, and every byte under it is verified.

A chunk is one block. The one exception is a single item larger than ``CHUNK_BYTES`` (an answer
of megabytes from a hostile node): its chunk's bytes are cut into consecutive blocks, listed in
order, so no task can make an epoch impossible to close.

``load_bundle`` gives back exactly the document that was put (the same dict ``epochs.bundle``
built), or an error that names the first part missing or altered, never a partial document.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from multiformats import CID

from services.app.ports import ContentStore
from services.core.errors import Invalid, MeritError, NotFound, Unavailable

MANIFEST_FORMAT = "merit-bundle-manifest/1"
CHUNK_BYTES = 256 * 1024  # kubo's default chunk: each chunk is one block under any chunker


class BundleCorrupt(Invalid):
    """A bundle whose parts are not what its manifest names: altered, malformed or incomplete."""

    code = "bundle-corrupt"
    title = "Audit bundle is corrupt"


def encode(value: Any) -> bytes:
    """The canonical JSON of ``value``: sorted keys, no spaces (the bundle's one encoding)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def put_bundle(content: ContentStore, doc: Mapping[str, Any]) -> str:
    """Store ``doc`` as chunks and a manifest; the manifest's CID, which names the whole bundle."""
    lists = {k: v for k, v in doc.items() if isinstance(v, list)}
    chunks = [
        {
            "field": name,
            "count": count,
            "bytes": len(blob),
            "cids": [content.put(b) for b in _blocks(blob)],
        }
        for name in sorted(lists)
        for count, blob in _slices(lists[name])
    ]
    manifest = {
        "format": MANIFEST_FORMAT,
        "version": doc.get("version"),
        "epoch": doc.get("epoch"),
        "fields": {k: v for k, v in doc.items() if k not in lists},
        "lists": {name: len(items) for name, items in sorted(lists.items())},
        "chunks": chunks,
    }
    return content.put(encode(manifest))


def load_bundle(content: ContentStore, cid: str) -> dict[str, Any]:
    """The document stored under manifest ``cid``: every chunk fetched and checked against its CID.

    ``NotFound`` when the manifest or a chunk is absent, ``BundleCorrupt`` when any part is altered
    or does not add up, ``Unavailable`` (from the store) when it may work later. A block that is a
    whole document rather than a manifest (epochs closed before bundles had parts) is returned as
    is.
    """
    head = _parse(_fetch(content, cid, f"bundle {cid}"), f"bundle {cid}")
    if not isinstance(head, dict):
        raise BundleCorrupt(f"bundle {cid} is not a JSON object", hint=_HINT, cid=cid)
    if "format" not in head and "tasks" in head:
        return head  # a single-block bundle
    if head.get("format") != MANIFEST_FORMAT:
        raise BundleCorrupt(
            f"bundle {cid} is a {head.get('format')!r} document, not a {MANIFEST_FORMAT} manifest",
            hint="upgrade meritswarm to read it" if "format" in head else _HINT,
            cid=cid,
        )
    try:
        fields, lengths, chunks = dict(head["fields"]), dict(head["lists"]), list(head["chunks"])
        parts: dict[str, list[Any]] = {str(name): [] for name in lengths}
        for k, chunk in enumerate(chunks):
            field, count, cids = str(chunk["field"]), int(chunk["count"]), list(chunk["cids"])
            where = f"chunk {k + 1} of {len(chunks)} ({field}, {count} items) of bundle {cid}"
            blob = b"".join(_fetch(content, str(c), where) for c in cids)
            items = _parse(blob, where)
            if field not in parts or not isinstance(items, list) or len(items) != count or not cids:
                raise BundleCorrupt(f"{where} does not hold the {count} {field} its manifest says",
                                    hint=_HINT, cid=cid)  # fmt: skip
            parts[field].extend(items)
        for name, items in parts.items():
            if len(items) != int(lengths[name]) or name in fields:
                raise BundleCorrupt(f"bundle {cid} lists {lengths[name]} {name} but its chunks "
                                    f"hold {len(items)}", hint=_HINT, cid=cid)  # fmt: skip
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BundleCorrupt(f"bundle {cid} is not a well-formed manifest: {exc!r}", hint=_HINT,
                            cid=cid) from exc  # fmt: skip
    return {**fields, **parts}


_HINT = (
    "fetch the bundle from another copy, or challenge the epoch: its recorded CID names other bytes"
)


def _slices(items: list[Any]) -> Iterator[tuple[int, bytes]]:
    """Consecutive slices of ``items`` as (count, canonical JSON of the slice), each at most
    ``CHUNK_BYTES`` unless it is one item that alone is larger."""
    parts: list[bytes] = []
    size = 2  # the brackets
    for item in items:
        part = encode(item)
        if parts and size + len(part) + 1 > CHUNK_BYTES:
            yield len(parts), b"[" + b",".join(parts) + b"]"
            parts, size = [], 2
        parts.append(part)
        size += len(part) + (1 if len(parts) > 1 else 0)
    if parts:
        yield len(parts), b"[" + b",".join(parts) + b"]"


def _blocks(blob: bytes) -> Iterable[bytes]:
    return (blob[i : i + CHUNK_BYTES] for i in range(0, len(blob), CHUNK_BYTES))


def _fetch(content: ContentStore, cid: str, what: str) -> bytes:
    """The block ``cid``, checked against its hash here too (not every store checks on get)."""
    try:
        data = content.get(cid)
    except NotFound as exc:
        raise NotFound(f"{what}: block {cid} is not in the content store", cid=cid,
                       hint="check the CID, or fetch the bundle from a node that holds all its "
                       "parts") from exc  # fmt: skip
    except Unavailable:
        raise
    except MeritError as exc:
        raise BundleCorrupt(
            f"{what}: block {cid} is unreadable: {exc.detail}", hint=_HINT, cid=cid
        ) from exc
    try:
        parsed = CID.decode(cid)
    except Exception as exc:  # multiformats raises several unrelated types for bad input
        raise BundleCorrupt(f"{what} names {cid!r}, which is not a CID", hint=_HINT) from exc
    if (parsed.codec.name, parsed.hashfun.name) != ("raw", "sha2-256"):
        raise BundleCorrupt(f"{what} names {cid}, not a raw sha2-256 block", hint=_HINT, cid=cid)
    if hashlib.sha256(data).digest() != parsed.raw_digest:
        raise BundleCorrupt(f"{what}: block {cid} does not match its hash", hint=_HINT, cid=cid)
    return data


def _parse(blob: bytes, what: str) -> Any:
    try:
        return json.loads(blob)
    except ValueError as exc:
        raise BundleCorrupt(f"{what} is not JSON: {exc}", hint=_HINT) from exc
