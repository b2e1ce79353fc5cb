"""A content store on an IPFS daemon (kubo) through its HTTP RPC API, via ipfshttpclient 0.7.

ipfshttpclient's ``connect()`` refuses daemons from 0.8.0 on (every kubo release since 2021). The
RPC calls this adapter makes (``add``, ``cat``, ``block/stat``) are unchanged in current kubo, so
it builds ``ipfshttpclient.Client`` directly: the constructor makes no version check (only
``connect()`` calls ``assert_version``), and the first request is the first real use.

``put`` asks kubo for the exact CID the local store computes (CIDv1, raw leaves, one chunk of up to
1 MiB) and checks the answer; ``get`` checks the bytes against the CID before returning them.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import ipfshttpclient
from ipfshttpclient import exceptions as ipfs_errors

from services.content.cid import KUBO_CHUNKER, canonical, cid_of, parse_cid, verify
from services.core.errors import ConfigInvalid, ContentUnavailable, Invalid, NotFound

# What kubo answers (HTTP 500, JSON "Message") when a block is absent or could not be fetched
# before the request's timeout: boxo's ipld.ErrNotFound, the offline exchange, the deadline.
_MISSING = re.compile(r"not found|could not find|deadline exceeded|timed? ?out", re.IGNORECASE)


def to_multiaddr(api_addr: str) -> str:
    """Accept ``/dns/ipfs/tcp/5001/http`` as is, and ``http://ipfs:5001`` as a convenience."""
    if api_addr.startswith("/"):
        return api_addr
    url = urlsplit(api_addr)
    if url.scheme not in ("http", "https") or not url.hostname or url.path not in ("", "/"):
        raise ConfigInvalid(
            f"IPFS API address {api_addr!r} is neither a multiaddr nor an http(s) URL",
            hint="set MERIT_IPFS_API_URL like /dns/ipfs/tcp/5001/http",
        )
    host = url.hostname
    proto = "ip6" if ":" in host else "ip4" if re.fullmatch(r"[\d.]+", host) else "dns"
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"/{proto}/{host}/tcp/{port}/{url.scheme}"


class IpfsContentStore:
    """``ContentStore`` over kubo's RPC API at ``api_addr`` (``/dns/ipfs/tcp/5001/http``).

    ``timeout_s`` bounds each HTTP call; ``fetch_timeout_s`` is how long kubo may search its peers
    for a CID it does not hold before ``get`` answers ``NotFound``.
    """

    def __init__(
        self, api_addr: str, *, timeout_s: float = 60.0, fetch_timeout_s: float = 20.0
    ) -> None:
        self._addr = to_multiaddr(api_addr)
        self._fetch_timeout_s = fetch_timeout_s
        try:
            # Client(), not connect(): no assert_version, which rejects every kubo >= 0.8.
            self._client = ipfshttpclient.Client(self._addr, timeout=timeout_s)
        except ipfs_errors.AddressError as exc:
            raise ConfigInvalid(
                f"IPFS API address {api_addr!r} is not a usable multiaddr",
                hint="set MERIT_IPFS_API_URL like /dns/ipfs/tcp/5001/http",
            ) from exc

    @property
    def api_addr(self) -> str:
        return self._addr

    def put(self, data: bytes) -> str:
        expected = cid_of(data)  # Invalid above one block, before any bytes are sent
        opts = {
            "cid-version": "1",
            "raw-leaves": "true",
            "chunker": KUBO_CHUNKER,
            "pin": "true",
        }
        try:
            answered = self._client.add_bytes(data, opts=opts)
        except ipfs_errors.Error as exc:
            raise self._unavailable("add", exc) from exc
        if _spelled(answered) != expected:
            raise ConfigInvalid(
                f"kubo at {self._addr} stored the blob as {answered}, expected {expected}",
                hint="check kubo's Import.* settings (hash function, CID version) are defaults",
                expected=expected,
                answered=answered,
            )
        return expected

    def get(self, cid: str) -> bytes:
        parsed = parse_cid(cid)
        name = canonical(parsed)
        try:
            data = self._client.cat(name, opts={"timeout": f"{self._fetch_timeout_s:g}s"})
        except ipfs_errors.ErrorResponse as exc:
            if _MISSING.search(str(exc)):
                raise NotFound(
                    f"no content {name} on the IPFS node at {self._addr} "
                    f"or its peers within {self._fetch_timeout_s:g}s",
                    hint="check the CID, or that a node holding it is online",
                    cid=name,
                ) from exc
            raise self._unavailable("cat", exc) from exc
        except ipfs_errors.Error as exc:
            raise self._unavailable("cat", exc) from exc
        return verify(parsed, bytes(data))

    def has(self, cid: str) -> bool:
        """Whether this IPFS node holds ``cid`` itself (asked offline: peers are not searched)."""
        name = canonical(parse_cid(cid))
        try:
            self._client.block.stat(name, offline=True)
        except ipfs_errors.ErrorResponse as exc:
            if _MISSING.search(str(exc)):
                return False
            raise self._unavailable("block/stat", exc) from exc
        except ipfs_errors.Error as exc:
            raise self._unavailable("block/stat", exc) from exc
        return True

    def _unavailable(self, call: str, exc: Exception) -> ContentUnavailable:
        return ContentUnavailable(
            f"IPFS {call} at {self._addr} failed: {exc}",
            hint="check that kubo is running and MERIT_IPFS_API_URL points at its RPC port (5001)",
        )


def _spelled(answered: object) -> str | None:
    """kubo's answer in the canonical base32 spelling, or None when it is not a raw-block CID."""
    try:
        return canonical(parse_cid(str(answered)))
    except Invalid:
        return None
