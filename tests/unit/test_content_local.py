"""LocalContentStore: real CIDv1 raw-leaf addresses, atomic writes, verified reads (no socket)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.content import MAX_BLOB_BYTES, ContentCorrupt, LocalContentStore, cid_of
from services.core.errors import ContentUnavailable, Invalid, NotFound

HELLO_CID = "bafkreifzjut3te2nhyekklss27nh3k72ysco7y32koao5eei66wof36n5e"
# `ipfs add --cid-version=1 --raw-leaves` of an empty file (the well-known empty raw block).
EMPTY_CID = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


def spec_cid(data: bytes) -> str:
    """The CID built by hand from the specs, without the multiformats package.

    CIDv1 = varint(1) varint(0x55 raw) multihash; multihash = varint(0x12 sha2-256) varint(32)
    digest; all one-byte varints. Multibase base32: prefix "b", RFC 4648 lowercase, no padding.
    """
    binary = bytes([0x01, 0x55, 0x12, 0x20]) + hashlib.sha256(data).digest()
    return "b" + base64.b32encode(binary).decode("ascii").lower().rstrip("=")


@pytest.fixture
def store(tmp_path: Path) -> LocalContentStore:
    return LocalContentStore(tmp_path / "content")


def test_known_cids_match_the_spec_and_kubo() -> None:
    assert spec_cid(b"hello world") == HELLO_CID
    assert cid_of(b"hello world") == HELLO_CID
    assert spec_cid(b"") == EMPTY_CID
    assert cid_of(b"") == EMPTY_CID


def test_put_returns_the_cid_and_get_returns_the_bytes(store: LocalContentStore) -> None:
    assert not store.has(HELLO_CID)
    assert store.put(b"hello world") == HELLO_CID
    assert store.has(HELLO_CID)
    assert store.get(HELLO_CID) == b"hello world"
    assert (store.root / HELLO_CID).read_bytes() == b"hello world"


def test_put_is_idempotent_and_leaves_no_temporary_files(store: LocalContentStore) -> None:
    first = store.put(b"bundle")
    second = store.put(b"bundle")
    assert first == second
    assert sorted(p.name for p in store.root.iterdir()) == [first]


def test_other_spellings_of_the_same_cid_are_accepted(store: LocalContentStore) -> None:
    store.put(b"hello world")
    assert store.get(HELLO_CID.upper()) == b"hello world"  # multibase "B": base32 upper
    base58 = "zb2rhj7crUKTQYRGCRATFaQ6YFLTde2YzdqbbhAASkL9uRDXn"
    assert store.get(base58) == b"hello world"


def test_corrupted_blob_is_an_error_never_wrong_bytes(store: LocalContentStore) -> None:
    cid = store.put(b"the reward vector")
    (store.root / cid).write_bytes(b"the reward vectoR")
    with pytest.raises(ContentCorrupt) as err:
        store.get(cid)
    assert cid in err.value.detail
    # putting the original bytes again repairs the copy
    assert store.put(b"the reward vector") == cid
    assert store.get(cid) == b"the reward vector"


def test_missing_cid_is_not_found(store: LocalContentStore) -> None:
    with pytest.raises(NotFound):
        store.get(HELLO_CID)
    assert store.has(HELLO_CID) is False


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "hello",
        "../../etc/passwd",
        HELLO_CID + "/x",
        HELLO_CID[:-3],
        "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o",  # CIDv0 dag-pb
        "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi",  # CIDv1 dag-pb
    ],
)
def test_malformed_or_foreign_cid_is_invalid(store: LocalContentStore, bad: str) -> None:
    with pytest.raises(Invalid):
        store.get(bad)
    with pytest.raises(Invalid):
        store.has(bad)


def test_blob_over_one_block_is_refused_with_a_hint(store: LocalContentStore) -> None:
    assert store.put(b"x" * MAX_BLOB_BYTES) == spec_cid(b"x" * MAX_BLOB_BYTES)
    with pytest.raises(Invalid) as err:
        store.put(b"x" * (MAX_BLOB_BYTES + 1))
    assert err.value.hint and "1 MiB" in err.value.hint


def test_unwritable_root_is_content_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    with pytest.raises(ContentUnavailable):
        LocalContentStore(blocker / "content").put(b"x")


@settings(max_examples=60, deadline=None)
@given(data=st.binary(max_size=4096))
def test_round_trip_and_deterministic_cid(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    root = tmp_path_factory.mktemp("content")
    store = LocalContentStore(root)
    cid = store.put(data)
    assert cid == spec_cid(data) == cid_of(data)
    assert store.get(cid) == data
    assert LocalContentStore(root).get(cid) == data  # a fresh instance reads the same bytes
