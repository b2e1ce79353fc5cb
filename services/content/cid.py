"""Content identifiers: the CIDv1 of one raw block, exactly as kubo computes it.

A blob of at most ``MAX_BLOB_BYTES`` is one raw block; its CID is
``base32(0x01 varint(0x55 raw) varint(0x12 sha2-256) varint(32) sha256(blob))``, printed as
``bafkrei...``. kubo prints the same CID for the same bytes with
``ipfs add --cid-version=1 --raw-leaves`` whenever the file fits in one chunk: up to 256 KiB with
kubo's default chunker, up to 1 MiB with ``--chunker=size-1048576`` (what ``IpfsContentStore``
sends). Larger blobs would need a UnixFS DAG whose root is not a hash of the bytes; both stores
refuse them instead (``Invalid``), so a CID here always verifies against the bytes it names.
"""

from __future__ import annotations

import hashlib

from multiformats import CID, multihash

from services.core.errors import Invalid, MeritError

# kubo's largest chunk (boxo chunker.ChunkSizeLimit) and the largest block bitswap will move.
MAX_BLOB_BYTES = 1024 * 1024
KUBO_CHUNKER = f"size-{MAX_BLOB_BYTES}"

_RAW = "raw"
_SHA256 = "sha2-256"


class ContentCorrupt(MeritError):
    """Stored bytes no longer hash to their CID; they are never returned."""

    code = "content-corrupt"
    status = 500
    title = "Stored content is corrupt"
    exit_code = 70


def check_size(data: bytes) -> None:
    """Refuse a blob that would not be a single raw block."""
    if len(data) > MAX_BLOB_BYTES:
        raise Invalid(
            f"blob of {len(data)} bytes exceeds the {MAX_BLOB_BYTES}-byte limit of one raw block",
            hint="split it into parts of at most 1 MiB and store a manifest listing their CIDs",
            size=len(data),
            limit=MAX_BLOB_BYTES,
        )


def cid_of(data: bytes) -> str:
    """The CIDv1 (raw codec, sha2-256, base32) of ``data``; ``Invalid`` above 1 MiB."""
    check_size(data)
    return str(CID("base32", 1, _RAW, multihash.digest(data, _SHA256)))


def parse_cid(text: str) -> CID:
    """Decode ``text`` as the CID of a raw sha2-256 block; anything else is ``Invalid``."""
    try:
        cid = CID.decode(text)
    except Exception as exc:  # multiformats raises several unrelated types for bad input
        raise Invalid(
            f"{text!r} is not a CID",
            hint="pass a CIDv1 such as bafkrei... as returned by put",
        ) from exc
    if (
        cid.version != 1
        or cid.codec.name != _RAW
        or cid.hashfun.name != _SHA256
        or len(cid.raw_digest) != hashlib.sha256().digest_size
    ):
        raise Invalid(
            f"{text!r} is a CIDv{cid.version} {cid.codec.name}/{cid.hashfun.name} CID; "
            "this store holds raw blocks with a 32-byte sha2-256 digest only",
            hint="pass a CIDv1 raw-leaf CID (bafkrei...) as returned by put",
        )
    return cid


def canonical(cid: CID) -> str:
    """The base32 text of ``cid``, the one spelling used as a file name and in records."""
    return str(cid.set(base="base32"))


def verify(cid: CID, data: bytes) -> bytes:
    """Return ``data`` if it hashes to ``cid``; raise ``ContentCorrupt`` otherwise."""
    if hashlib.sha256(data).digest() != cid.raw_digest:
        raise ContentCorrupt(
            f"content for {canonical(cid)} does not match its hash",
            hint="delete the damaged copy and put the original bytes again",
            cid=canonical(cid),
        )
    return data
