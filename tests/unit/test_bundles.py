"""An epoch's audit bundle as a manifest and chunks: any size is stored, every byte is checked."""

import json
import random

import pytest

from services.app.audit import audit_epoch
from services.app.bundles import CHUNK_BYTES, BundleCorrupt, encode, load_bundle, put_bundle
from services.app.epochs import close_epoch
from services.content import MAX_BLOB_BYTES, LocalContentStore
from services.core.errors import Invalid, NotFound
from services.inmemory import MemoryContent
from services.sim.fill import fill_epoch, seeded_store
from services.sim.world import SIM_DOMAIN
from services.sim.harness import FEE


def _doc(tasks: int, *, answer_chars: int = 900) -> dict:
    """A bundle-shaped document of ``tasks`` tasks (about answer_chars + 400 bytes each)."""
    rng = random.Random(tasks)
    return {
        "version": 3,
        "epoch": 7,
        "method": "posterior",
        "pool_wei": str(10**21),
        "carried_wei": "0",
        "tasks": [
            {
                "task_id": f"{i:08x}-task",
                "answers": {str(n): "".join(rng.choices("abcdefgh ", k=answer_chars // 6)) for n in range(6)},
                "judgments": [{"judge_id": n, "left_id": (n + 1) % 6, "right_id": (n + 2) % 6, "outcome": "left"}
                              for n in range(6)],  # fmt: skip
                "rewards_wei": {str(n): str(10**15 + n) for n in range(6)},
                "gold": None,
            }
            for i in range(tasks)
        ],
        "clusters": [],
        "outliers": [],
        "nodes": [{"node_id": n, "reward_wei": str(n)} for n in range(6)],
    }


class Unchecked:
    """A content store that hands back whatever it holds, unchecked (like some gateways)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        cid = MemoryContent().put(data)
        self.blobs[cid] = data
        return cid

    def get(self, cid: str) -> bytes:
        if cid not in self.blobs:
            raise NotFound(f"no {cid}")
        return self.blobs[cid]

    def has(self, cid: str) -> bool:
        return cid in self.blobs


@pytest.mark.parametrize("store", ["memory", "local"])
def test_a_bundle_larger_than_one_block_round_trips(store, tmp_path):
    content = MemoryContent() if store == "memory" else LocalContentStore(tmp_path / "content")
    doc = _doc(2500)
    whole = encode(doc)
    assert len(whole) > 3 * MAX_BLOB_BYTES
    with pytest.raises(Invalid, match="exceeds"):
        content.put(whole)  # what the close did before: one block, refused

    cid = put_bundle(content, doc)
    loaded = load_bundle(content, cid)
    assert loaded == json.loads(whole) and encode(loaded) == whole
    manifest = json.loads(content.get(cid))
    assert manifest["epoch"] == 7 and manifest["lists"]["tasks"] == 2500
    tasks = [c for c in manifest["chunks"] if c["field"] == "tasks"]
    assert len(tasks) > 10 and sum(c["count"] for c in tasks) == 2500
    assert all(len(c["cids"]) == 1 and c["bytes"] <= CHUNK_BYTES for c in manifest["chunks"])
    assert len(content.get(cid)) < 16 * 1024  # the manifest stays small


def test_a_task_larger_than_a_block_is_stored_across_blocks():
    content = MemoryContent()
    doc = _doc(3)
    doc["tasks"][1]["answers"]["0"] = "x" * (3 * MAX_BLOB_BYTES)  # a hostile node's answer
    cid = put_bundle(content, doc)
    assert load_bundle(content, cid) == json.loads(encode(doc))
    big = [c for c in json.loads(content.get(cid))["chunks"] if len(c["cids"]) > 1]
    assert len(big) == 1 and big[0]["count"] == 1


@pytest.mark.parametrize("store", ["memory", "local", "unchecked"])
def test_a_tampered_chunk_is_refused_by_name(store, tmp_path):
    content = {"memory": MemoryContent, "unchecked": Unchecked}.get(store, lambda: LocalContentStore(tmp_path))()
    cid = put_bundle(content, _doc(800))
    chunk = json.loads(content.get(cid))["chunks"][1]["cids"][0]
    original = content.get(chunk)
    altered = original.replace(b'"outcome":"left"', b'"outcome":"tie!"', 1)
    if store == "local":
        (tmp_path / chunk).write_bytes(altered)
    elif store == "unchecked":
        content.blobs[chunk] = altered
    else:
        content._blobs[chunk] = altered
    with pytest.raises(BundleCorrupt, match=f"chunk 2 of .* bundle {cid}") as err:
        load_bundle(content, cid)
    assert chunk in err.value.detail and err.value.hint


def test_a_missing_chunk_is_named_and_nothing_partial_comes_back():
    content, other = Unchecked(), MemoryContent()
    cid = put_bundle(content, _doc(800))
    chunks = json.loads(content.get(cid))["chunks"]
    del content.blobs[chunks[-1]["cids"][0]]
    with pytest.raises(NotFound, match=f"chunk {len(chunks)} of {len(chunks)}") as err:
        load_bundle(content, cid)
    assert err.value.hint
    with pytest.raises(NotFound):
        load_bundle(other, cid)  # no manifest at all


def test_a_manifest_whose_counts_do_not_add_up_is_refused():
    content = MemoryContent()
    cid = put_bundle(content, _doc(800))
    manifest = json.loads(content.get(cid))
    manifest["lists"]["tasks"] -= 1
    with pytest.raises(BundleCorrupt, match="lists 799 tasks"):
        load_bundle(content, put_bundle_manifest(content, manifest))
    manifest["lists"]["tasks"] += 1
    manifest["chunks"] = manifest["chunks"][1:]  # a chunk left out
    with pytest.raises(BundleCorrupt):
        load_bundle(content, put_bundle_manifest(content, manifest))


def put_bundle_manifest(content, manifest: dict) -> str:
    return content.put(encode(manifest))


def test_an_epoch_of_two_thousand_tasks_closes_and_its_audit_passes():
    store, content = seeded_store(3), MemoryContent()
    escrow = fill_epoch(store, 2000, seed=3)
    closed = close_epoch(store, content, emission_wei=10**18, escrow=escrow)
    assert closed.tasks == 2000
    assert closed.epoch.pool_wei == escrow.pools[closed.epoch.id] + 10**18 == 2000 * FEE + 10**18
    manifest = json.loads(content.get(closed.epoch.audit_cid))
    assert sum(c["bytes"] for c in manifest["chunks"]) > MAX_BLOB_BYTES  # one block could not hold it
    # nothing that grows with the tasks stays in the manifest: 2,000 paid tasks' fees are chunks
    assert len(content.get(closed.epoch.audit_cid)) < 16 * 1024
    assert {c["field"] for c in manifest["chunks"]} >= {"tasks", "fees_moved"}
    doc = load_bundle(content, closed.epoch.audit_cid)
    assert doc["epoch"] == closed.epoch.id and len(doc["tasks"]) == 2000
    assert sum(int(n["reward_wei"]) for n in doc["nodes"]) + int(doc["carried_wei"]) == closed.epoch.pool_wei
    report = audit_epoch(store, content, closed.epoch.id, domain=SIM_DOMAIN)
    assert report.passed, report.differences[:5]
    assert len(report.checked) > 4000  # every task's ranking and posterior
    assert sum("signature recovers" in c for c in report.checked) > 2000 * 4  # every answer and verdict
