"""The committed contract artifacts match the Solidity sources (no socket, no chain)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from services.chain import compiler
from services.chain.compiler import ARTIFACTS_DIR, SOLC_VERSION, SOURCES_DIR
from services.resources import repo_root

ROOT = repo_root()


def test_committed_artifacts_are_current() -> None:
    problems = compiler.check(ROOT)
    assert not problems, (
        "stale contract artifacts (run `merit contracts build` and commit services/chain/artifacts):\n"
        + "\n".join(map(str, problems))
    )


def test_artifacts_carry_compiler_settings_and_code() -> None:
    paths = sorted((ROOT / ARTIFACTS_DIR).glob("*.json"))
    names = {p.stem for p in paths}
    assert {
        "MeritToken", "NodeRegistry", "TaskEscrow", "EpochSettlement", "EpochRewardsVerifier",
        "RewardChunkVerifier", "UnsetVerifier",
    } <= names  # fmt: skip
    for path in paths:
        artifact = json.loads(path.read_text())
        assert artifact["contractName"] == path.stem
        assert artifact["compiler"]["version"].startswith(SOLC_VERSION + "+commit.")
        assert artifact["settings"]["optimizer"] == {"enabled": True, "runs": 200}
        assert artifact["settings"]["evmVersion"] == "cancun"
        assert len(artifact["bytecode"]) > 2 and len(artifact["deployedBytecode"]) > 2
        assert any(p.startswith("node_modules/@openzeppelin/") for p in artifact["sources"])
        assert path.read_text().endswith("}\n")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the contract sources and artifacts (OpenZeppelin linked from node_modules)."""
    shutil.copytree(ROOT / SOURCES_DIR, tmp_path / SOURCES_DIR)
    shutil.copytree(ROOT / ARTIFACTS_DIR, tmp_path / ARTIFACTS_DIR)
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    assert compiler.check(tmp_path) == []
    return tmp_path


def test_check_notices_an_edited_source(tree: Path) -> None:
    source = tree / SOURCES_DIR / "NodeRegistry.sol"
    source.write_text(source.read_text() + "\n// edited\n")
    problems = compiler.check(tree)
    assert {p.artifact for p in problems} >= {"NodeRegistry.json", "MeritToken.json"}
    assert all("sources changed" in p.reason for p in problems)


def test_check_notices_a_missing_artifact_and_a_new_source(tree: Path) -> None:
    (tree / ARTIFACTS_DIR / "TaskEscrow.json").unlink()
    (tree / SOURCES_DIR / "interfaces" / "INew.sol").write_text("pragma solidity 0.8.37;\n")
    reasons = [str(p) for p in compiler.check(tree)]
    assert any("TaskEscrow.sol: no artifact" in r for r in reasons)
    assert any("sources not compiled: contracts/src/interfaces/INew.sol" in r for r in reasons)


@pytest.mark.slow
def test_rebuild_reproduces_the_committed_artifacts_byte_for_byte(tree: Path) -> None:
    """Compiles through py-solc-x (native solc 0.8.37 if on PATH, else the npm wrapper)."""
    for path in (tree / ARTIFACTS_DIR).glob("*.json"):
        path.unlink()
    written = compiler.build(tree)
    assert [p.name for p in written] == sorted(
        p.name for p in (ROOT / ARTIFACTS_DIR).glob("*.json")
    )
    for path in written:
        assert path.read_bytes() == (ROOT / ARTIFACTS_DIR / path.name).read_bytes(), path.name
