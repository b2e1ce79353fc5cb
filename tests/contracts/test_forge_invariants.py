"""The Solidity invariant tests of the money contracts (contracts/invariants), run by forge.

Beside the hypothesis runs on anvil (test_conservation.py, test_escrow_conservation.py: a dozen
sequences of up to ten steps, and one seeded run of 300), forge calls random handler functions
64 x 64 times per invariant and checks after every call, in about ten seconds: TaskEscrow
(``held()`` is the escrow's balance, no payer takes out more than it put in, every token is with
a payer, in the escrow or in a pool), NodeRegistry (totalStaked + totalUnbonding is the balance
and the nodes' sum, a slash never takes more than stake + unbonding, the treasury holds exactly
what was slashed) and EpochSettlement (claims never exceed what was settled, even when a tree
promises more; no node is paid beyond its leaf; the balance is open pools + carry + settled -
claimed + bond). Offline: forge from npm (@foundry-rs/forge-linux-amd64), the npm solc through
services/chain/solc-npm, nothing downloaded; output in a temporary directory.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"
NPM_FORGE = Path("@foundry-rs/forge-linux-amd64/bin/forge")
SUITES = {
    "TaskEscrowInvariants": 4,
    "NodeRegistryInvariants": 4,
    "EpochSettlementInvariants": 3,
}
RUNS, DEPTH = 64, 64  # per invariant: RUNS sequences of DEPTH handler calls


def find_forge() -> Path | None:
    """MERIT_FORGE_BIN, else `forge` on PATH, else the npm binary in node_modules."""
    from_env = os.environ.get("MERIT_FORGE_BIN")
    if from_env:
        return Path(from_env)
    on_path = shutil.which("forge")
    if on_path:
        return Path(on_path)
    modules = Path(os.environ.get("MERIT_NODE_MODULES", ROOT / "node_modules"))
    npm = modules / NPM_FORGE
    return npm if npm.is_file() else None


def test_money_contract_invariants_hold_under_random_calls(tmp_path: Path) -> None:
    forge = find_forge()
    if forge is None:
        pytest.skip(
            "forge not found: `npm ci --ignore-scripts` installs @foundry-rs/forge-linux-amd64 "
            "(linux x64); elsewhere set MERIT_FORGE_BIN or put forge on PATH"
        )
    env = {
        **os.environ,
        "FOUNDRY_INVARIANT_RUNS": str(RUNS),
        "FOUNDRY_INVARIANT_DEPTH": str(DEPTH),
        "FOUNDRY_OFFLINE": "true",
        "NO_COLOR": "1",
    }
    done = subprocess.run(
        [
            str(forge), "test", "--root", str(CONTRACTS), "--offline",
            "--out", str(tmp_path / "out"), "--cache-path", str(tmp_path / "cache"),
        ],
        cwd=CONTRACTS, env=env, capture_output=True, text=True, timeout=280, check=False,
    )  # fmt: skip
    report = done.stdout + done.stderr
    assert done.returncode == 0, report[-6000:]
    for suite, count in SUITES.items():
        line = re.search(rf"Ran (\d+) tests? for invariants/\S+:{suite}\b", report)
        assert line is not None and int(line.group(1)) == count, f"{suite} missing:\n{report}"
    passed = re.findall(r"\[PASS\] (invariant_\w+)\(\) \(runs: (\d+), calls: (\d+)", report)
    assert len(passed) == sum(SUITES.values()), report
    assert all(int(runs) == RUNS and int(calls) == RUNS * DEPTH for _, runs, calls in passed)
