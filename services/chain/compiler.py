"""Compile contracts/src into committed artifacts, and tell whether those artifacts are stale.

One compile covers every source under ``contracts/src`` (OpenZeppelin comes from node_modules
through a remapping). Each deployable contract ``contracts/src/<Name>.sol`` (or
``contracts/src/generated/<Name>.sol``, written by ``zk/build``) gets
``services/chain/artifacts/<Name>.json`` (package data: ``load_artifact`` reads it from the
installed package, so a wheel carries it) holding its ABI, bytecode, the compiler version, the exact
standard-json settings and a ``sourceHash`` over every source file the compile read.

Test-only contracts (``contracts/test/<Name>.sol``: a verifier for tests, gas-bench peers) are a
second, separate compile into ``contracts/test/artifacts/``: they never change the production
artifacts' ``sourceHash`` (so they never force a redeploy), ``deploy_all`` never deploys them, and
the same staleness check covers them (their hash includes the ``contracts/src`` files they
import). A tree without ``contracts/test`` simply has no test target. The compiler
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
from services.resources import package_path

SOLC_VERSION = "0.8.37"
SOURCES_DIR = Path("contracts/src")
ARTIFACTS_DIR = Path("services/chain/artifacts")  # where a build writes them, in the checkout
# where a run reads them: the same, installed
ARTIFACTS = package_path("services.chain", "artifacts")
TEST_SOURCES_DIR = Path("contracts/test")
TEST_ARTIFACTS_DIR = Path("contracts/test/artifacts")
GENERATED = "generated"  # <sources_dir>/generated/<Name>.sol: generated contracts (zk/build)
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
class Target:
    """One compile: every ``*.sol`` under ``sources_dir`` into ``artifacts_dir``."""

    sources_dir: Path
    artifacts_dir: Path
    required: bool  # the production target must exist; the test target may be absent

    def label(self, artifact: Path) -> str:
        """How a staleness report names an artifact of this target."""
        if self.artifacts_dir == ARTIFACTS_DIR:
            return artifact.name
        return (self.artifacts_dir / artifact.name).as_posix()


PRODUCTION = Target(SOURCES_DIR, ARTIFACTS_DIR, required=True)
TEST = Target(TEST_SOURCES_DIR, TEST_ARTIFACTS_DIR, required=False)
TARGETS = (PRODUCTION, TEST)


@dataclass(frozen=True)
class Staleness:
    """One reason the committed artifacts do not match the sources."""

    artifact: str  # artifact file name, or the source path when no artifact exists
    reason: str

    def __str__(self) -> str:
        return f"{self.artifact}: {self.reason}"


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


def _own_sources(repo_root: Path, target: Target = PRODUCTION) -> list[str]:
    return sorted(
        p.relative_to(repo_root).as_posix() for p in (repo_root / target.sources_dir).rglob("*.sol")
    )


def _expected_contracts(repo_root: Path, target: Target = PRODUCTION) -> list[str]:
    """One deployable contract per file <sources_dir>/<Name>.sol and per generated file
    <sources_dir>/generated/<Name>.sol (the Groth16 verifier zk/build writes); not interfaces/."""
    root = repo_root / target.sources_dir
    return sorted(p.stem for pattern in ("*.sol", f"{GENERATED}/*.sol") for p in root.glob(pattern))


def _present(repo_root: Path, target: Target) -> bool:
    return target.required or (repo_root / target.sources_dir).is_dir()


# --- build ------------------------------------------------------------------------------------


def _render(artifact: dict[str, Any]) -> str:
    return json.dumps(artifact, indent=2, sort_keys=True) + "\n"


def compile_sources(repo_root: Path, target: Target = PRODUCTION) -> tuple[dict[str, Any], str]:
    """Run one standard-json compile of a target; returns (solc output, compiler version)."""
    repo_root = repo_root.resolve()
    sources = {
        rel: {"content": (repo_root / rel).read_text(encoding="utf-8")}
        for rel in _own_sources(repo_root, target)
    }
    if not sources:
        raise Invalid(f"no Solidity sources under {repo_root / target.sources_dir}")
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
    """Compile contracts/src into services/chain/artifacts, and contracts/test (when present) into
    contracts/test/artifacts; returns the written paths (production first).

    Files are rewritten only when their content changed, and artifacts of contracts that no longer
    exist are removed, so each artifacts directory always mirrors its sources.
    """
    repo_root = repo_root.resolve()
    written: list[Path] = []
    for target in TARGETS:
        if _present(repo_root, target):
            written += _build_target(repo_root, target)
    return written


def _build_target(repo_root: Path, target: Target) -> list[Path]:
    output, version = compile_sources(repo_root, target)
    used = sorted(output.get("sources", {}))
    digest = source_hash(repo_root, used)
    out_dir = repo_root / target.artifacts_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    expected = set(_expected_contracts(repo_root, target))
    written: list[Path] = []
    for unit, contracts in sorted(output.get("contracts", {}).items()):
        if not unit.startswith(target.sources_dir.as_posix() + "/"):
            continue
        for name, compiled in sorted(contracts.items()):
            bytecode = compiled["evm"]["bytecode"]["object"]
            if not bytecode:
                continue  # interfaces and abstract contracts
            if name not in expected or Path(unit).stem != name:
                raise Invalid(
                    f"contract {name} in {unit} breaks the one-contract-per-file rule",
                    hint=f"move it to {target.sources_dir}/{name}.sol",
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
            hint=f"each {target.sources_dir}/<Name>.sol must define a non-abstract contract <Name>",
        )
    return sorted(written)


# --- check ------------------------------------------------------------------------------------


def check(repo_root: Path) -> list[Staleness]:
    """Why the committed artifacts (production and test) do not match the sources; empty when
    they are current.

    Cheap: reads files and hashes them, never compiles.
    """
    repo_root = repo_root.resolve()
    problems: list[Staleness] = []
    for target in TARGETS:
        if _present(repo_root, target):
            problems += _check_target(repo_root, target)
    return problems


def _check_target(repo_root: Path, target: Target) -> list[Staleness]:
    out_dir = repo_root / target.artifacts_dir
    problems: list[Staleness] = []
    expected = _expected_contracts(repo_root, target)
    own = set(_own_sources(repo_root, target))
    artifacts = {p.stem: p for p in sorted(out_dir.glob("*.json"))}

    for name in expected:
        if name not in artifacts:
            problems.append(
                Staleness(
                    f"{target.sources_dir}/{name}.sol", "no artifact; run `merit contracts build`"
                )
            )
    for name, path in artifacts.items():
        label = target.label(path)
        if name not in expected:
            problems.append(Staleness(label, f"no source {target.sources_dir}/{name}.sol"))
            continue
        try:
            artifact = json.loads(path.read_text(encoding="utf-8"))
            listed = list(artifact["sources"])
            recorded = artifact["sourceHash"]
            settings = artifact["settings"]
            version = str(artifact["compiler"]["version"])
        except (ValueError, KeyError, TypeError):
            problems.append(Staleness(label, "unreadable artifact"))
            continue
        if version.split("+")[0] != SOLC_VERSION:
            problems.append(Staleness(label, f"compiled by solc {version}, pin is {SOLC_VERSION}"))
        if settings != SETTINGS:
            problems.append(Staleness(label, "compiled with other settings"))
        unlisted = sorted(own - set(listed))
        if unlisted:
            problems.append(Staleness(label, f"sources not compiled: {', '.join(unlisted)}"))
            continue
        try:
            current = source_hash(repo_root, listed)
        except ConfigInvalid as exc:
            problems.append(Staleness(label, exc.detail))
            continue
        if current != recorded:
            problems.append(Staleness(label, "sources changed since the last build"))
    return problems


def load_artifact(name: str, artifacts_dir: Path = ARTIFACTS) -> dict[str, Any]:
    """The committed artifact of contract ``name`` (a test-only contract's from the checkout's
    ``TEST_ARTIFACTS_DIR``)."""
    path = artifacts_dir / f"{name}.json"
    try:
        artifact: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigInvalid(
            f"artifact {path} is missing", hint="run `merit contracts build`"
        ) from exc
    return artifact
