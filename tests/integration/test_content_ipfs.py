"""IpfsContentStore against a stand-in for kubo's HTTP RPC API.

No kubo daemon can run where these tests run, so ``FakeKubo`` below is a small HTTP server on
127.0.0.1 that imitates the three kubo RPC endpoints the adapter calls (``POST /api/v0/add``,
``/api/v0/cat``, ``/api/v0/block/stat``), their parameters and their error shape (HTTP 500 with a
JSON ``Message``), and records every request. It is a stand-in for kubo, not kubo: what these tests
establish is that the adapter speaks kubo's protocol through the real ipfshttpclient over a real
socket (raw leaves, CIDv1, one 1 MiB chunk, offline ``has``), refuses a CID other than the one
the local store computes, verifies bytes, and maps failures onto the error tree. Run against a
real daemon with ``MERIT_IPFS_API_URL`` in the compose stack.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import ipfshttpclient
import pytest
from ipfshttpclient.exceptions import VersionMismatch

from services.content import ContentCorrupt, IpfsContentStore, LocalContentStore, cid_of
from services.content.cid import MAX_BLOB_BYTES
from services.core.errors import ConfigInvalid, ContentUnavailable, Invalid, NotFound

pytestmark = pytest.mark.filterwarnings(
    # ipfshttpclient 0.7 passes urllib3's obsolete `strict` argument on every request
    "ignore:The 'strict' parameter is no longer needed:FutureWarning"
)

HELLO_CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
# what kubo prints for b"hello world" without --cid-version=1 (CIDv0, dag-pb UnixFS node)
HELLO_CIDV0 = "Qmf412jQZiuVUtdgnB36FXFX7xg5V6KEbSJ4dpQuhkLyfD"


@dataclass
class Seen:
    method: str
    path: str
    params: dict[str, list[str]]
    body: bytes


@dataclass
class FakeKubo:
    """State of the stand-in daemon; tests flip ``mode`` to make it misbehave."""

    version: str = "0.34.1"
    blocks: dict[str, bytes] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    mode: str = "ok"  # ok | corrupt | repo-error | cid-v0 | slow
    addr: str = ""

    def calls(self, path: str) -> list[Seen]:
        return [s for s in self.seen if s.path == path]


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        out = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip(), 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass
                return out
            out += handler.rfile.read(size)
            handler.rfile.readline()
    return handler.rfile.read(int(handler.headers.get("Content-Length") or 0))


def _file_part(content_type: str, body: bytes) -> bytes:
    boundary = content_type.split("boundary=", 1)[1].strip('"').encode()
    part = body.split(b"--" + boundary)[1]
    payload = part.split(b"\r\n\r\n", 1)[1]
    assert payload.endswith(b"\r\n")
    return payload[:-2]


def _handler(kubo: FakeKubo) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _reply(self, status: int, body: bytes, ctype: str = "application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, message: str) -> None:  # kubo's error shape for a failed command
            body = json.dumps({"Message": message, "Code": 0, "Type": "error"}).encode()
            self._reply(500, body)

        def do_GET(self) -> None:  # kubo's RPC refuses GET
            self._reply(405, b"405 - Method Not Allowed", "text/plain")

        def do_POST(self) -> None:
            url = urlsplit(self.path)
            params = parse_qs(url.query)
            body = _read_body(self)
            kubo.seen.append(Seen("POST", url.path, params, body))
            arg = params.get("arg", [""])[0]
            if kubo.mode == "repo-error":
                return self._error("failure writing to dagstore: no space left on device")
            if kubo.mode == "slow":
                time.sleep(1)
            if url.path == "/api/v0/version":
                return self._reply(200, json.dumps({"Version": kubo.version}).encode())
            if url.path == "/api/v0/add":
                data = _file_part(self.headers["Content-Type"], body)
                raw = params.get("raw-leaves") == ["true"] and params.get("cid-version") == ["1"]
                chunk = int(params.get("chunker", ["size-262144"])[0].removeprefix("size-"))
                if kubo.mode == "cid-v0" or not raw or len(data) > chunk:
                    cid = HELLO_CIDV0  # a dag-pb root: what kubo gives without the options
                else:
                    cid = cid_of(data)
                    kubo.blocks[cid] = data
                line = {"Name": "bytes", "Hash": cid, "Size": str(len(data))}
                return self._reply(200, (json.dumps(line) + "\n").encode())
            if url.path == "/api/v0/cat":
                if arg not in kubo.blocks:
                    return self._error("context deadline exceeded")  # searched peers until timeout
                data = kubo.blocks[arg]
                if kubo.mode == "corrupt":
                    data = data[:-1] + bytes([data[-1] ^ 1])
                return self._reply(200, data, "text/plain")
            if url.path == "/api/v0/block/stat":
                if arg not in kubo.blocks:
                    assert params.get("offline") == ["true"]
                    return self._error(
                        f"block was not found locally (offline): ipld: could not find {arg}"
                    )
                size = len(kubo.blocks[arg])
                return self._reply(200, json.dumps({"Key": arg, "Size": size}).encode())
            return self._reply(404, b"404 page not found", "text/plain")

    return Handler


@pytest.fixture
def kubo() -> Iterator[FakeKubo]:
    state = FakeKubo()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    state.addr = f"/ip4/127.0.0.1/tcp/{server.server_address[1]}/http"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def store(kubo: FakeKubo) -> IpfsContentStore:
    return IpfsContentStore(kubo.addr, timeout_s=5)


def test_put_asks_kubo_for_a_cidv1_raw_leaf_in_one_chunk(
    kubo: FakeKubo, store: IpfsContentStore
) -> None:
    assert store.put(b"hello world") == HELLO_CID
    (call,) = kubo.calls("/api/v0/add")
    assert call.params["cid-version"] == ["1"]
    assert call.params["raw-leaves"] == ["true"]
    assert call.params["chunker"] == [f"size-{MAX_BLOB_BYTES}"]
    assert call.params["pin"] == ["true"]
    assert b"hello world" in call.body


def test_ipfs_and_local_stores_give_the_same_cid(store: IpfsContentStore, tmp_path: Path) -> None:
    blob = bytes(range(256)) * 1000  # 256000 bytes: one chunk for kubo's default chunker too
    assert store.put(blob) == LocalContentStore(tmp_path).put(blob) == cid_of(blob)


def test_round_trip_and_has(kubo: FakeKubo, store: IpfsContentStore) -> None:
    assert store.has(HELLO_CID) is False
    cid = store.put(b"hello world")
    assert store.has(cid) is True
    assert store.get(cid) == b"hello world"
    (cat,) = kubo.calls("/api/v0/cat")
    assert cat.params["arg"] == [HELLO_CID]
    assert cat.params["timeout"] == ["20s"]  # kubo stops searching peers after fetch_timeout_s
    stats = kubo.calls("/api/v0/block/stat")
    assert all(s.params["offline"] == ["true"] for s in stats)


def test_kubo_newer_than_ipfshttpclient_supports_is_accepted(
    kubo: FakeKubo, store: IpfsContentStore
) -> None:
    with pytest.raises(VersionMismatch):  # what ipfshttpclient.connect() would do
        ipfshttpclient.connect(kubo.addr)
    kubo.seen.clear()
    assert store.put(b"hello world") == HELLO_CID
    assert kubo.calls("/api/v0/version") == []


def test_missing_cid_is_not_found(store: IpfsContentStore) -> None:
    with pytest.raises(NotFound) as err:
        store.get(HELLO_CID)
    assert HELLO_CID in err.value.detail


def test_corrupt_bytes_from_the_daemon_are_refused(kubo: FakeKubo, store: IpfsContentStore) -> None:
    cid = store.put(b"hello world")
    kubo.mode = "corrupt"
    with pytest.raises(ContentCorrupt):
        store.get(cid)


def test_a_cid_other_than_the_raw_leaf_is_refused(kubo: FakeKubo, store: IpfsContentStore) -> None:
    kubo.mode = "cid-v0"
    with pytest.raises(ConfigInvalid) as err:
        store.put(b"hello world")
    assert HELLO_CIDV0 in err.value.detail and HELLO_CID in err.value.detail


def test_daemon_errors_are_content_unavailable(kubo: FakeKubo, store: IpfsContentStore) -> None:
    kubo.mode = "repo-error"
    for call in (
        lambda: store.put(b"x"),
        lambda: store.get(HELLO_CID),
        lambda: store.has(HELLO_CID),
    ):
        with pytest.raises(ContentUnavailable) as err:
            call()
        assert "no space left" in err.value.detail


def test_connection_refused_is_content_unavailable(kubo: FakeKubo) -> None:
    store = IpfsContentStore("/ip4/127.0.0.1/tcp/1/http", timeout_s=2)
    for call in (
        lambda: store.put(b"x"),
        lambda: store.get(HELLO_CID),
        lambda: store.has(HELLO_CID),
    ):
        with pytest.raises(ContentUnavailable) as err:
            call()
        assert isinstance(err.value.__cause__, ipfshttpclient.exceptions.ConnectionError)
        assert err.value.hint and "MERIT_IPFS_API_URL" in err.value.hint


def test_slow_daemon_times_out_as_content_unavailable(kubo: FakeKubo) -> None:
    kubo.mode = "slow"
    store = IpfsContentStore(kubo.addr, timeout_s=0.2)
    with pytest.raises(ContentUnavailable):
        store.has(HELLO_CID)


def test_oversized_blob_and_bad_cid_are_refused_before_any_request(
    kubo: FakeKubo, store: IpfsContentStore
) -> None:
    with pytest.raises(Invalid):
        store.put(b"x" * (MAX_BLOB_BYTES + 1))
    with pytest.raises(Invalid):
        store.get("QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o")
    with pytest.raises(Invalid):
        store.has("not-a-cid")
    assert kubo.seen == []


@pytest.mark.parametrize(
    ("given", "multiaddr"),
    [
        ("/dns/ipfs/tcp/5001/http", "/dns/ipfs/tcp/5001/http"),
        ("http://ipfs:5001", "/dns/ipfs/tcp/5001/http"),
        ("http://127.0.0.1:5001/", "/ip4/127.0.0.1/tcp/5001/http"),
    ],
)
def test_api_address_forms(given: str, multiaddr: str) -> None:
    assert IpfsContentStore(given).api_addr == multiaddr


@pytest.mark.parametrize("bad", ["/dns/ipfs/udp/5001/http", "ftp://ipfs:5001", "ipfs:5001"])
def test_unusable_api_address_is_config_invalid(bad: str) -> None:
    with pytest.raises(ConfigInvalid):
        IpfsContentStore(bad)
