"""Bradley-Terry speed: this project's fit and bootstrap beside choix ILSR and FastChat-style L-BFGS.

    python bench/bt_speed.py            # n = 100, 1000 items; N = 10k, 100k, 1M judgments
    python bench/bt_speed.py --quick    # small sizes, a smoke run

Synthetic, seeded data: true log-strengths ~ N(0, 1), uniformly random pairs, outcomes drawn from
the Bradley-Terry model, unit weight, no ties (the form choix accepts). Every method fits the same
model: this project and L-BFGS the penalised likelihood of services/core/bradley_terry.py with
prior 0.1 (L-BFGS over rows, stopped where FastChat stops: scikit-learn's tol=1e-6), choix with its
own small regularisation (alpha). Times are the best of a few turns taken in this process; rankings
are compared by Kendall tau with the L-BFGS fit, scores by their largest difference from it.
Needs the bench extra: pip install -e ".[bench]".
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import choix
import numpy as np
from rich.console import Console
from rich.table import Table
from scipy.optimize import minimize
from scipy.stats import kendalltau

from services.core.bradley_terry import aggregate_indices, fit_counts
from services.core.confidence import bootstrap

PRIOR = 0.1  # this project's default
CHOIX_ALPHA = 1e-3  # choix needs some regularisation for unbeaten items; small, like the prior
GOAL_CHOIX, GOAL_LBFGS, GOAL_BOOTSTRAP_S = 10.0, 5.0, 1.0


def judgments(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(winners, losers) of m judgments over n items."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    a_won = rng.random(m) < 1.0 / (1.0 + np.exp(theta[b] - theta[a]))
    return np.where(a_won, a, b), np.where(a_won, b, a)


def ours(n: int, winners: np.ndarray, losers: np.ndarray) -> np.ndarray:
    counts = aggregate_indices(range(n), winners, losers, np.ones(len(winners)))
    return fit_counts(counts, prior=PRIOR).theta


def lbfgs(n: int, winners: np.ndarray, losers: np.ndarray) -> np.ndarray:
    """FastChat style: L-BFGS on the log-likelihood, one term per row (plus the same prior)."""
    m = len(winners)

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        d = theta[winners] - theta[losers]
        value = (
            np.logaddexp(0.0, -d).sum()
            + 0.5 * PRIOR * (np.logaddexp(0.0, -theta) + np.logaddexp(0.0, theta)).sum()
        )
        r = 1.0 / (1.0 + np.exp(d))  # d(-log sigmoid(d)) / dd = -r
        grad = np.bincount(losers, r, n) - np.bincount(winners, r, n)
        grad += PRIOR * (1.0 / (1.0 + np.exp(-theta)) - 0.5)
        return float(value) / m, grad / m

    # the settings FastChat gets from scikit-learn's LogisticRegression(tol=1e-6, solver="lbfgs")
    options = {"gtol": 1e-6, "ftol": 64 * np.finfo(float).eps, "maxls": 50, "maxiter": 15_000}
    res = minimize(loss, np.zeros(n), jac=True, method="L-BFGS-B", options=options)
    x: np.ndarray = res.x
    return x


def choix_ilsr(n: int, data: list[tuple[int, int]]) -> np.ndarray:
    x: np.ndarray = choix.ilsr_pairwise(n, data, alpha=CHOIX_ALPHA)
    return x


def fastchat_bootstrap(
    n: int, winners: np.ndarray, losers: np.ndarray, rounds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Resample rows with replacement and refit L-BFGS each round, as FastChat does."""
    rng = np.random.default_rng(seed)
    m = len(winners)
    fits = []
    for _ in range(rounds):
        rows = rng.integers(0, m, m)
        theta = lbfgs(n, winners[rows], losers[rows])
        fits.append(theta - theta.mean())
    lower, upper = np.quantile(np.array(fits), [0.025, 0.975], axis=0)
    return lower, upper


def our_bootstrap(
    n: int, winners: np.ndarray, losers: np.ndarray, rounds: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    counts = aggregate_indices(range(n), winners, losers, np.ones(len(winners)))
    iv = bootstrap(counts, rounds=rounds, seed=seed, prior=PRIOR)
    return np.array([iv.lower[i] for i in range(n)]), np.array([iv.upper[i] for i in range(n)])


def timed(
    fns: dict[str, Callable[[], Any]], repeats: dict[str, int]
) -> dict[str, tuple[float, Any]]:
    """Best time and result per method; the methods take turns, so a busy spell hits them all."""
    best: dict[str, tuple[float, Any]] = {}
    for turn in range(max(repeats.values())):
        for name, fn in fns.items():
            if turn < repeats[name]:
                start = time.perf_counter()
                out = fn()
                took = time.perf_counter() - start
                if name not in best or took < best[name][0]:
                    best[name] = (took, out)
    return best


def tau(x: np.ndarray, reference: np.ndarray) -> float:
    return float(kendalltau(x, reference).statistic)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a smoke run")
    parser.add_argument("--rounds", type=int, default=100, help="bootstrap rounds")
    args = parser.parse_args()
    sizes = (
        [(20, 2_000), (50, 20_000)]
        if args.quick
        else [(n, m) for n in (100, 1000) for m in (10_000, 100_000, 1_000_000)]
    )
    boot_n, boot_peer_m, boot_goal_m = (
        (20, 2_000, 20_000) if args.quick else (100, 100_000, 1_000_000)
    )
    goal_m = max(m for _, m in sizes)
    for n in (5, 300):  # the first linear-algebra calls pay a one-off setup; not timed
        lbfgs(n, *judgments(n, 3000, 0))
        ours(n, *judgments(n, 3000, 0))

    table = Table(title="Bradley-Terry fit and 95% bootstrap intervals: this project vs peers")
    for col in ("n", "N", "task", "this project", "peer", "peer time", "speedup"):
        table.add_column(col, justify="right" if col not in ("task", "peer") else "left")
    table.add_column("agreement with the L-BFGS reference")
    table.add_column("goal")

    for n, m in sizes:
        winners, losers = judgments(n, m, seed=n + m)
        data = list(zip(winners.tolist(), losers.tolist()))
        runs = timed(
            {
                "ours": partial(ours, n, winners, losers),
                "lbfgs": partial(lbfgs, n, winners, losers),
                "choix": partial(choix_ilsr, n, data),
            },
            {"ours": 9, "lbfgs": 3, "choix": 3},
        )
        (t_ours, theta), (t_lbfgs, reference) = runs["ours"], runs["lbfgs"]
        t_choix, theta_choix = runs["choix"]
        gap = float(np.abs((theta - theta.mean()) - (reference - reference.mean())).max())
        ours_tau = tau(theta, reference)
        for peer, t_peer, agreement, goal in (
            (
                "choix ILSR",
                t_choix,
                f"tau ours {ours_tau:.4f}, choix {tau(theta_choix, reference):.4f}",
                GOAL_CHOIX,
            ),
            ("L-BFGS (FastChat)", t_lbfgs, f"max |score diff| {gap:.1e}", GOAL_LBFGS),
        ):
            speedup = t_peer / t_ours
            verdict = ""
            if m == goal_m:
                met = speedup >= goal and ours_tau >= 0.999
                verdict = f">= {goal:.0f}x, same ranking: " + (
                    "[green]met[/]" if met else f"[red]short ({speedup / goal:.2f} of goal)[/]"
                )
            table.add_row(
                str(n),
                f"{m:,}",
                "fit",
                f"{t_ours:.3f} s",
                peer,
                f"{t_peer:.3f} s",
                f"{speedup:.1f}x",
                agreement,
                verdict,
                end_section=peer.startswith("L-BFGS"),
            )

    winners, losers = judgments(boot_n, boot_peer_m, seed=7)
    runs = timed(
        {
            "ours": partial(our_bootstrap, boot_n, winners, losers, args.rounds, 1),
            "peer": partial(fastchat_bootstrap, boot_n, winners, losers, args.rounds, 1),
        },
        {"ours": 5, "peer": 1},
    )
    (t_ours, (lo, hi)), (t_peer, (plo, phi)) = runs["ours"], runs["peer"]
    width, peer_width = float((hi - lo).mean()), float((phi - plo).mean())
    table.add_row(
        str(boot_n),
        f"{boot_peer_m:,}",
        f"{args.rounds}-round intervals",
        f"{t_ours:.3f} s",
        "FastChat bootstrap",
        f"{t_peer:.3f} s",
        f"{t_peer / t_ours:.1f}x",
        f"mean interval width {width:.4f} vs {peer_width:.4f}",
        "",
    )
    winners, losers = judgments(boot_n, boot_goal_m, seed=8)
    big = partial(our_bootstrap, boot_n, winners, losers, args.rounds, 1)
    t_big, (lo, hi) = timed({"ours": big}, {"ours": 5})["ours"]
    met = t_big < GOAL_BOOTSTRAP_S
    table.add_row(
        str(boot_n),
        f"{boot_goal_m:,}",
        f"{args.rounds}-round intervals",
        f"{t_big:.3f} s",
        "",
        "",
        "",
        f"mean interval width {float((hi - lo).mean()):.4f}",
        f"< {GOAL_BOOTSTRAP_S:.0f} s: "
        + (
            "[green]met[/]"
            if met
            else f"[red]short ({t_big / GOAL_BOOTSTRAP_S:.1f}x the budget)[/]"
        ),
    )
    Console(width=180).print(table)


if __name__ == "__main__":
    main()
