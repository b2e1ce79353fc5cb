"""The committed zk artifacts: the circuit still compiles to the committed wasm, every artifact
matches its hash in the MANIFEST, and the Solidity verifier carries the same key as
verification_key.json (both exported from the one final proving key)."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "zk" / "artifacts"
SOL = ROOT / "contracts" / "src" / "generated" / "RewardChunkVerifier.sol"


def _manifest() -> dict[str, str]:
    lines = (ARTIFACTS / "MANIFEST").read_text().splitlines()
    return dict(line.split() for line in lines if line and not line.startswith("#"))


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_every_artifact_matches_its_manifest_hash() -> None:
    m = _manifest()
    assert m["wasm"] == _sha(ARTIFACTS / "reward_chunk_32.wasm")
    assert m["zkey"] == _sha(ARTIFACTS / "reward_chunk_32.zkey")
    assert m["verification_key"] == _sha(ARTIFACTS / "verification_key.json")
    assert m["solidity_verifier"] == _sha(SOL)
    sources = (ROOT / "zk/circuits/reward_chunk.circom").read_bytes()
    sources += (ROOT / "zk/circuits/reward_chunk_32.circom").read_bytes()
    assert m["circuit"] == hashlib.sha256(sources).hexdigest(), "the circuit changed: run zk/build"


def test_the_solidity_verifier_and_the_python_key_are_the_same_key() -> None:
    vk = json.loads((ARTIFACTS / "verification_key.json").read_text())
    consts = dict(re.findall(r"uint256 constant (\w+)\s*=\s*(\d+);", SOL.read_text()))
    assert [consts["alphax"], consts["alphay"]] == vk["vk_alpha_1"][:2]
    for name, point in (("beta", "vk_beta_2"), ("gamma", "vk_gamma_2"), ("delta", "vk_delta_2")):
        (x0, x1), (y0, y1) = vk[point][:2]
        # EIP-197 order: the imaginary part first
        assert [
            consts[f"{name}x1"],
            consts[f"{name}x2"],
            consts[f"{name}y1"],
            consts[f"{name}y2"],
        ] == [
            x1,
            x0,
            y1,
            y0,
        ]
    ic = [[consts[f"IC{i}x"], consts[f"IC{i}y"]] for i in range(len(vk["IC"]))]
    assert ic == [p[:2] for p in vk["IC"]] and vk["nPublic"] == 9


def test_the_circuit_compiles_to_the_committed_wasm() -> None:
    done = subprocess.run(
        ["bash", str(ROOT / "zk" / "build"), "--check"],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "circuit matches" in done.stderr
