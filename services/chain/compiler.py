"""Compile contracts/src into committed artifacts, and tell whether those artifacts are stale.

One compile covers every source under ``contracts/src`` (OpenZeppelin comes from node_modules
through a remapping). Each deployable contract ``contracts/src/<Name>.sol`` gets
``contracts/artifacts/<Name>.json`` holding its ABI, bytecode, the compiler version, the exact
standard-json settings and a ``sourceHash`` over every source file the compile read. The compiler
is a native ``solc`` on PATH when it is the pinned version, otherwise the npm ``solc`` (wasm)
through the ``solc-npm`` wrapper next to this module; both produce identical artifacts.

``check`` recomputes only the hash (no compile), so a unit test can refuse stale artifacts cheaply.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import solcx
from solcx.exceptions import SolcError
from solcx.wrapper import get_solc_version as solc_version_of

from services.core.errors import ConfigInvalid, Invalid

SOLC_VERSION = "0.8.37"
SOURCES_DIR = Path("contracts/src")
ARTIFACTS_DIR = Path("contracts/artifacts")
WRAPPER = Path(__file__).with_name("solc-npm")

SETTINGS: dict[str, Any] = {
    "evmVersion": "cancun",
    "optimizer": {"enabled": True, "runs": 200},
    "remappings": ["@openzeppelin/=node_modules/@openzeppelin/"],
    "outputSelection": {
        "*": {"*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"]},
    },
}


@dataclass(frozen=True)
class Staleness:
    """One reason the committed artifacts do not match the sources."""

    artifact: str  # artifact file name, or the source path when no artifact exists
    reason: str

    def __str__(self) -> str:
        return f"{self.artifact}: {self.reason}"


def repo_root() -> Path:
    """The repository root: the nearest directory above this module holding pyproject.toml."""
    here = Path(__file__).resolve()
    for parent in here.parents:
        if (parent / "pyproject.toml").exists():
            return parent
    return here.parents[2]


# --- compiler selection -----------------------------------------------------------------------


def find_compiler() -> tuple[Path, str]:
    """The solc to use and its full version (``0.8.37+commit.xxxxxxxx``).

    A native ``solc`` on PATH wins when it is exactly the pinned version; otherwise the npm wrapper.
    """
    native = shutil.which("solc")
    if native:
        try:
            version = str(solc_version_of(native, with_commit_hash=True))
        except (OSError, subprocess.CalledProcessError, SolcError):
            version = ""
        if version.split("+")[0] == SOLC_VERSION:
            return Path(native), version
    if shutil.which("node") is None:
        raise ConfigInvalid(
            f"no solc {SOLC_VERSION} on PATH and no `node` to run the npm compiler",
            hint="install Node.js 20+ and run `npm ci` in the repository root",
        )
    try:
        version = str(solc_version_of(WRAPPER, with_commit_hash=True))
    except (OSError, subprocess.CalledProcessError, SolcError) as exc:
        raise ConfigInvalid(
            f"the npm solc wrapper {WRAPPER} does not run: {exc}",
            hint="run `npm ci` in the repository root",
        ) from exc
    if version.split("+")[0] != SOLC_VERSION:
        raise ConfigInvalid(
            f"node_modules/solc is {version}, the contracts pin {SOLC_VERSION}",
            hint="run `npm ci` in the repository root",
        )
    return WRAPPER, version


# --- hashing ----------------------------------------------------------------------------------


def source_hash(repo_root: Path, paths: Iterable[str]) -> str:
    """sha256 over ``path NUL sha256(content)`` of each source, sorted by repo-relative path."""
    digest = hashlib.sha256()
    for rel in sorted(set(paths)):
        try:
            content = (repo_root / rel).read_bytes()
        except FileNotFoundError as exc:
            raise ConfigInvalid(
                f"contract source {rel} is missing",
                hint="run `npm ci` (for node_modules) or restore the file",
            ) from exc
        digest.update(rel.encode())
        digest.update(b"\0")
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def _own_sources(repo_root: Path) -> list[str]:
    return sorted(
        p.relative_to(repo_root).as_posix() for p in (repo_root / SOURCES_DIR).rglob("*.sol")
    )


def _expected_contracts(repo_root: Path) -> list[str]:
    """One deployable contract per top-level file contracts/src/<Name>.sol (not interfaces/)."""
    return sorted(p.stem for p in (repo_root / SOURCES_DIR).glob("*.sol"))


# --- build ------------------------------------------------------------------------------------


def _render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def compile_sources(repo_root: Path) -> tuple[dict[str, Any], str]:
    """Run one standard-json compile of contracts/src; returns (solc output, compiler version)."""
    repo_root = repo_root.resolve()
    sources = {
        rel: {"content": (repo_root / rel).read_text(encoding="utf-8")}
        for rel in _own_sources(repo_root)
    }
    if not sources:
        raise Invalid(f"no Solidity sources under {repo_root / SOURCES_DIR}")
    binary, version = find_compiler()
    try:
        output = solcx.compile_standard(
            {"language": "Solidity", "sources": sources, "settings": SETTINGS},
            base_path=str(repo_root),
            allow_paths=[str(repo_root)],
            solc_binary=binary,
        )
    except SolcError as exc:
        stderr = (exc.stderr_data or "").strip()
        raise Invalid(
            f"contracts failed to compile:\n{exc.message}" + (f"\n{stderr}" if stderr else ""),
            hint="fix the Solidity error above, then run `merit contracts build` again",
        ) from exc
    return output, version


def build(repo_root: Path) -> list[Path]:
    """Compile contracts/src and write contracts/artifacts/<Name>.json; returns the written paths.

    Files are rewritten only when their content changed, and artifacts of contracts that no longer
    exist are removed, so the directory always mirrors the sources.
    """
    repo_root = repo_root.resolve()
    output, version = compile_sources(repo_root)
    used = sorted(output.get("sources", {}))
    digest = source_hash(repo_root, used)
    out_dir = repo_root / ARTIFACTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)

    expected = set(_expected_contracts(repo_root))
    written: list[Path] = []
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        if not unit.startswith(SOURCES_DIR.as_posix() + "/"):
            continue
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts
            if name not in expected or Path(unit).stem != name:
                raise Invalid(
                    f"contract {name} in {unit} breaks the one-contract-per-file rule",
                    hint=f"move it to {SOURCES_DIR}/{name}.sol",
                )
            artifact = {
                "contractName": name,
                "sourceName": unit,
                "abi": compiled["abi"],
                "bytecode": "0x" + bytecode,
                "deployedBytecode": "0x" + compiled["evm"]["deployedBytecode"]["object"],
                "compiler": {"name": "solc", "version": version},
                "settings": SETTINGS,
                "sourceHash": digest,
                "sources": used,
            }
            path = out_dir / f"{name}.json"
            text = _render(artifact)
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                path.write_text(text, encoding="utf-8")
            written.append(path)

    produced = {p.name for p in written}
    for stale in out_dir.glob("*.json"):
        if stale.name not in produced:
            stale.unlink()
    missing = expected - {p.stem for p in written}
    if missing:
        raise Invalid(
            f"no deployable contract compiled from {', '.join(sorted(missing))}",
            hint="each contracts/src/<Name>.sol must define a non-abstract contract <Name>",
        )
    return sorted(written)


# --- check ------------------------------------------------------------------------------------


def check(repo_root: Path) -> list[Staleness]:
    """Why the committed artifacts do not match the sources; empty when they are current.

    Cheap: reads files and hashes them, never compiles.
    """
    repo_root = repo_root.resolve()
    out_dir = repo_root / ARTIFACTS_DIR
    problems: list[Staleness] = []
    expected = _expected_contracts(repo_root)
    own = set(_own_sources(repo_root))
    artifacts = {p.stem: p for p in sorted(out_dir.glob("*.json"))}

    for name in expected:
        if name not in artifacts:
            problems.append(
                Staleness(f"{SOURCES_DIR}/{name}.sol", "no artifact; run `merit contracts build`")
            )
    for name, path in artifacts.items():
        if name not in expected:
            problems.append(Staleness(path.name, f"no source {SOURCES_DIR}/{name}.sol"))
            continue
        try:
            artifact = json.loads(path.read_text(encoding="utf-8"))
            listed = list(artifact["sources"])
            recorded = artifact["sourceHash"]
            settings = artifact["settings"]
            version = str(artifact["compiler"]["version"])
        except (ValueError, KeyError, TypeError):
            problems.append(Staleness(path.name, "unreadable artifact"))
            continue
        if version.split("+")[0] != SOLC_VERSION:
            problems.append(
                Staleness(path.name, f"compiled by solc {version}, pin is {SOLC_VERSION}")
            )
        if settings != SETTINGS:
            problems.append(Staleness(path.name, "compiled with other settings"))
        unlisted = sorted(own - set(listed))
        if unlisted:
            problems.append(Staleness(path.name, f"sources not compiled: {', '.join(unlisted)}"))
            continue
        try:
            current = source_hash(repo_root, listed)
        except ConfigInvalid as exc:
            problems.append(Staleness(path.name, exc.detail))
            continue
        if current != recorded:
            problems.append(Staleness(path.name, "sources changed since the last build"))
    return problems


def load_artifact(repo_root: Path, name: str) -> dict[str, Any]:
    """The committed artifact of contract ``name``."""
    path = repo_root / ARTIFACTS_DIR / f"{name}.json"
    try:
        artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigInvalid(
            f"artifact {path} is missing", hint="run `merit contracts build`"
        ) from exc
    return artifact
