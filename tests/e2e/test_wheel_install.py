"""merit installed from its wheel, run outside the repository: `merit up` finds its contract
artifacts, migrations and zk keys in the installed package and the npm tools through
MERIT_NODE_MODULES, and says in one line what to set when they are missing."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from services.chain.deploy import CONTRACTS
from services.resources import NODE_MODULES_SETTING, node_modules, repo_root
from tests.fixtures.up import merit, start, stop, up_env

pytestmark = pytest.mark.slow
PROJECT = ("pyproject.toml", "README.md", "services", "workers", "zk")  # what the wheel is built from


def install_wheel(tmp: Path) -> Path:
    """Build the project's wheel (offline, from a copy of its sources) and install it without its
    dependencies (this interpreter has them) into a directory of its own; returns that directory."""
    source, dist, site = tmp / "source", tmp / "dist", tmp / "site"
    source.mkdir()
    for name in PROJECT:
        path = repo_root() / name
        if path.is_dir():
            shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", ".ceremony"))
        else:
            shutil.copy(path, source / name)
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    subprocess.run([*pip, "wheel", "--no-deps", "--no-index", "--no-build-isolation", "-w", dist, source], check=True)
    (wheel,) = dist.glob("meritswarm-*.whl")
    subprocess.run([*pip, "install", "--no-deps", "--no-index", "--target", site, wheel], check=True)
    return site


def python(env: dict[str, str], cwd: Path, code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", code], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_merit_up_runs_from_the_installed_wheel_outside_the_repository(tmp_path: Path) -> None:
    site = install_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"  # the working directory: no checkout in it or above it
    elsewhere.mkdir()
    env = up_env(tmp_path / "data", test_nodes=0)
    env["PYTHONPATH"] = str(site)
    env[NODE_MODULES_SETTING] = str(node_modules())

    imported = python(env, elsewhere, "import services, workers, zk; print(services.__file__, workers.__file__, zk.__file__)")
    assert imported.returncode == 0, imported.stderr
    assert all(Path(f).is_relative_to(site) for f in imported.stdout.split()), imported.stdout

    proc, state = start(env, cwd=elsewhere)
    try:
        assert set(state["deployment"]["addresses"]) >= set(CONTRACTS)  # deployed from packaged artifacts
        record = json.loads((tmp_path / "data" / "deployments" / "31337.json").read_text())
        assert set(record["contracts"]) >= set(CONTRACTS)
        status = merit(env, "status", "--json", cwd=elsewhere)
        assert status.returncode == 0 and json.loads(status.stdout)["api_healthy"] is True, status.stdout
        migrations = sorted(p.name for p in (site / "services" / "store" / "migrations").glob("*.sql"))
        with psycopg.connect(f"postgresql://merit@127.0.0.1:{env['MERIT_POSTGRES_PORT']}/merit") as db:
            applied = sorted(f"{r[0]:04d}_{r[1]}.sql" for r in db.execute("SELECT version, name FROM schema_migrations"))
        assert migrations and applied == migrations
        prover = python(env, elsewhere, (
            "from zk.prover import VKEY, Prover\nfrom zk.verifier import load_verifying_key\n"
            "load_verifying_key(VKEY)\nwith Prover() as p:\n    assert p.ping()\nprint(VKEY)"
        ))  # fmt: skip
        assert prover.returncode == 0, prover.stderr
        assert Path(prover.stdout.strip()).is_relative_to(site)
    finally:
        stop(env, proc, state, cwd=elsewhere)

    # without the npm tools: one line that names the setting
    bare = {k: v for k, v in env.items() if k != NODE_MODULES_SETTING}
    bare["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if not (Path(p) / "anvil").exists())
    refused = merit(bare, "up", cwd=elsewhere)
    assert refused.returncode != 0
    assert len(refused.stderr.strip().splitlines()) == 1 and NODE_MODULES_SETTING in refused.stderr, refused.stderr
    # a development task says it needs a checkout
    build = merit(env, "contracts", "build", cwd=elsewhere)
    assert build.returncode != 0 and "checkout" in build.stderr, build.stderr
