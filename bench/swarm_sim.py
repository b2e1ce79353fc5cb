"""Consensus in the product's own path, honest and under attack, beside a plain majority vote.

Every number comes from ``services.sim.harness``: simulated nodes behind the real ports, driven
through the product's use cases (seats by stake, candidates, the pair schedule, the posterior and
its recruits, the epoch close with its reliability estimate and Sybil clusters). Ten honest nodes
answer right with probability 0.45..0.75 and judge right-vs-wrong pairs right with probability
0.65..0.85 ("judges > answerers") or 0.45..0.75 ("judges = answerers"); each stakes 100 MRT and is
calibrated on 40 questions before it may serve (nodes below the pass mark stay out). 4 epochs x 60
requester tasks, about one hidden gold task per 10.

Attacks, 1..7 identities beside the ten honest nodes, each identity staking 100 MRT:
- ring: one operator's identities; on half the tasks each gives its own wrong answer and, as a
  judge, prefers any answer of the ring; elsewhere they answer and judge at 0.8;
- ring-gold: the same ring, recognising every task whose answer the marketplace knows (calibration,
  gold) and behaving perfectly there;
- split: one operator's stake of k x 100 MRT split unevenly (1 : 2 : ... : k) over k honest
  identities of skill 0.6 / 0.75.
"k ids" is the attackers' share of all rewards with k identities; "1 id" with one identity holding
the same total stake and behaving the same way. "loss" is the honest swarm's accuracy (same size,
same seed) minus the attacked one's.

Columns are the mean over the seeds with a 95% t-interval. "cover" is the share of tasks whose 95%
credible set of candidates holds the right answer; "P(win)" the mean posterior of the chosen answer
(calibrated when it matches the accuracy); "withheld" and "distrusted" the share of honest nodes
flagged per epoch (as judges below a coin; as two-faced).

    python bench/swarm_sim.py [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from services.sim.harness import Outcome, Scenario, run

T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
WEAK_JUDGES = (0.45, 0.75)


def ci(values: list[float]) -> str:
    m = statistics.fmean(values)
    if len(values) < 2:
        return f"{m:6.3f}"
    half = T975.get(len(values) - 1, 1.96) * statistics.stdev(values) / math.sqrt(len(values))
    return f"{m:6.3f}±{half:.3f}"


def _one(job: tuple[Scenario, int, int, int]) -> tuple[str, int, Outcome]:
    sc, seed, epochs, per_epoch = job
    return sc.name, seed, run(sc, seed, epochs=epochs, per_epoch=per_epoch)


def scenarios(sizes: list[int], ks: list[int]) -> list[Scenario]:
    out = []
    for m in sizes:
        out.append(Scenario(f"honest/{m}", swarm=m))
        out.append(Scenario(f"weak-judges/{m}", swarm=m, judge_range=WEAK_JUDGES))
    for plan in ("ring", "ring-gold", "split"):
        for k in ks:
            out.append(Scenario(f"{plan}/{k}", attackers=k, plan=plan))
            out.append(Scenario(f"{plan}/{k}/one", attackers=k, plan=plan, single=True))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2 seeds, 2 epochs x 30 tasks, k in 1,4,7")
    args = ap.parse_args()
    seeds = list(range(1, (2 if args.quick else args.seeds) + 1))
    epochs, per_epoch = (2, 30) if args.quick else (4, 60)
    ks = [1, 4, 7] if args.quick else list(range(1, 8))
    sizes = [4, 8, 16]
    started = time.perf_counter()
    jobs = [(sc, s, epochs, per_epoch) for sc in scenarios(sizes, ks) for s in seeds]
    with ProcessPoolExecutor(max_workers=2) as pool:
        done = list(pool.map(_one, jobs, chunksize=2))
    got: dict[str, dict[int, Outcome]] = {}
    for name, seed, outcome in done:
        got.setdefault(name, {})[seed] = outcome

    def col(name: str, f: object) -> list[float]:
        return [f(got[name][s]) for s in seeds]  # type: ignore[operator]

    print(
        f"swarm_sim: seeds {seeds[0]}..{seeds[-1]}, {epochs} epochs x {per_epoch} tasks, "
        "the product's use cases on simulated nodes (mean ± 95% CI over seeds)"
    )
    head = f"{'honest swarm / seats':<22} {'product':>12} {'majority':>12} {'product-maj':>12} {'best node':>12} {'cover':>12} {'P(win)':>7} {'withheld':>8} {'distrust':>8}"
    print(head)
    print("-" * len(head))
    for m in sizes:
        for kind in ("honest", "weak-judges"):
            name = f"{kind}/{m}"
            label = f"{'judges > answerers' if kind == 'honest' else 'judges = answerers'} /{m}"
            print(
                f"{label:<22} {ci(col(name, lambda o: o.accuracy)):>12} {ci(col(name, lambda o: o.majority)):>12}"
                f" {ci(col(name, lambda o: o.accuracy - o.majority)):>12} {ci(col(name, lambda o: o.best_single)):>12}"
                f" {ci(col(name, lambda o: o.coverage)):>12} {statistics.fmean(col(name, lambda o: statistics.fmean(o.confidence))):>7.3f}"
                f" {statistics.fmean(col(name, lambda o: o.withheld_honest)):>8.3f} {statistics.fmean(col(name, lambda o: o.distrusted_honest)):>8.3f}"
            )
    print()
    head = f"{'attack / identities':<22} {'product':>12} {'loss':>12} {'majority':>12} {'cover':>12} {'share k ids':>12} {'share 1 id':>12} {'withheld':>8} {'distrust':>8}"
    print(head)
    print("-" * len(head))
    honest = {s: got["honest/4"][s].accuracy for s in seeds}
    for plan in ("ring", "ring-gold", "split"):
        for k in ks:
            name = f"{plan}/{k}"
            one = f"{name}/one"
            print(
                f"{plan + ' x' + str(k):<22} {ci(col(name, lambda o: o.accuracy)):>12}"
                f" {ci([honest[s] - got[name][s].accuracy for s in seeds]):>12} {ci(col(name, lambda o: o.majority)):>12}"
                f" {ci(col(name, lambda o: o.coverage)):>12} {ci(col(name, lambda o: o.attacker_share)):>12}"
                f" {ci(col(one, lambda o: o.attacker_share)):>12} {statistics.fmean(col(name, lambda o: o.withheld_honest)):>8.3f}"
                f" {statistics.fmean(col(name, lambda o: o.distrusted_honest)):>8.3f}"
            )
    print(f"({time.perf_counter() - started:.0f} s; best node chosen in hindsight; seats: default swarm 4 for attacks)")


if __name__ == "__main__":
    main()
