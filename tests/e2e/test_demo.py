"""`merit demo` as a user runs it on a fresh data directory: the whole marketplace in one command,
ending with a proved, checked, settled, finalized and claimed epoch."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_merit_up import env, merit  # noqa: F401 - the env fixture

MRT = 10**18


def test_the_demo_settles_a_proved_epoch_and_the_nodes_claim(env: dict[str, str]) -> None:  # noqa: F811
    done = merit(env, "demo", "--json", timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)

    assert [n["calibration"].split()[0] for n in report["nodes"]] == ["passed"] * 3
    # each node registered on chain only, found there by the marketplace, examined and attested
    assert all("attested 100% on chain" in n["calibration"] and n["chain_node_id"] > 0 for n in report["nodes"])
    answers = [t["answer"] for t in report["tasks"]]
    assert answers == ["The answer is 42.", "The answer is 72.", "The answer is 63.", "The answer is 144."]
    assert {t["winner"] for t in report["tasks"]} <= {"test-exact-1", "test-exact-2"}
    # every answer and verdict of every round signed by its node's key and verified
    for t in report["tasks"]:
        answers_part, verdicts_part = t["signed"].split(", ")[:2]
        got, of = answers_part.split()[0].split("/")
        assert got == of == "3" and "rejected" not in t["signed"], t["signed"]
        got, of = verdicts_part.split()[0].split("/")
        assert got == of, t["signed"]

    s = report["settlement"]
    assert s["proof"] == "verified" and s["proof_chunks"] == 1 and s["propose_gas"] > 0
    # a watcher of its own recomputed the epoch from its bundle, every signature recovered to the
    # key its node's metadata on chain names, and found nothing to challenge
    assert s["watch"] == f"epoch {s['epoch']} PASS"
    rewards = {r["node"]: r["reward_wei"] for r in report["rewards"]}
    assert sum(rewards.values()) == s["pool_wei"] == s["total_wei"]
    assert rewards["test-off-by-3"] < rewards["test-exact-1"]
    assert {c["node"]: c["amount_wei"] for c in s["claims"]} == {
        n: r for n, r in rewards.items() if r > 0
    }

    # the fees: escrowed by the requester before dispatch; the pool holds exactly those plus the
    # emission, and finalize mints no more than the emission
    e = report["escrow"]
    assert e["payer"].startswith("dev:9 ") and len(e["funded"]) == 4 and e["fee_wei"] == MRT
    assert e["pool_on_chain_wei"] == 4 * MRT and e["held_after_wei"] == 0 and e["moved_tx"]
    assert s["pool_wei"] == 4 * MRT + 10 * MRT and e["minted_wei"] <= 10 * MRT
    assert e["refused"].startswith("invalid field(s): fee_wei: Input should be less than 2^256")

    # every role its own account, none of them the deployer
    roles = report["roles"]
    assert {"settler", "examiner", "resolver", "admin", "treasury"} <= set(roles)
    assert len({v.lower() for v in roles.values()}) == len(roles)

    # the epoch's hidden gold: committed on the real chain before its tasks, revealed, audited
    g = report["gold"]
    assert g["on_chain"] and g["items"] == 64 and g["gold_tasks"] == g["revealed"] == 4
    assert g["audit"] == "PASS" and g["signatures"] > 0  # the audit recovered every signature

    # the stack is stopped again: no state file, and `merit status` finds nothing running
    assert not (Path(env["MERIT_DATA_DIR"]) / "stack.json").exists()
    assert merit(env, "status").returncode == 3
