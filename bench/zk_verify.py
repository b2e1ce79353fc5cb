"""Groth16 on BN254: this project's Python verifier beside snarkjs, proving time, verifier gas.

    python bench/zk_verify.py            # everything (a few minutes on 2 cores)
    python bench/zk_verify.py --quick    # verification rows only, on a toy circuit
    python bench/zk_verify.py --epoch    # zk.bn254 beside py_ecc's primitives, one epoch's proofs

Measured in one run, everything built in a temporary directory (nothing under zk/ is written):

- verification of one proof with ``zk.verifier.verify``, beside the named peer
  ``snarkjs.groth16.verify`` timed inside one warm node process (start-up excluded), the
  ``snarkjs groth16 verify`` command (node start-up included, what a shell-out costs), and the
  same verifier written on py_ecc's primitives (``py_ecc_verify``: ``multiply``/``add`` for vk_x,
  ``is_on_curve``, the G2 subgroup check as ``[r] B == O`` since py_ecc's ``pairing`` skips it,
  three ``pairing(..., final_exponentiate=False)`` and one ``final_exponentiate``);
- the proofs of one epoch of 10,000 nodes (``--nodes``; 313 chunk proofs of 32 rows) through
  ``verify_batch`` on zk.bn254's arithmetic beside the same batched check on py_ecc's primitives
  (``py_ecc_verify_batch``: random 128-bit weights, every B's subgroup check, n + 3 Miller loops,
  one final exponentiation): what a zk worker spends before it sends a settlement. The 313 proofs
  are re-randomised copies (A/t, tB + tsD, C + sA: valid for the same signals) of 8 proofs
  snarkjs made with the committed key, so that the run does not prove for ten minutes;
- ``verify_batch`` on 8 and 32 proofs, per proof, against verifying them one by one
  (goal: batched at least 3x faster per proof);
- proving time of the reward-chunk circuit (zk/circuits/reward_chunk.circom) at 8, 16 and 32 rows,
  snarkjs witness + Groth16 prove inside one node process (start-up excluded), with the constraint
  count from ``snarkjs r1cs info``; needs a 2^15 Powers of Tau (zk/ptau/pot_final.ptau or
  zk/.ceremony/pot15_final.ptau, made by zk/build), else those rows say so;
- gas of ``verifyProof`` on snarkjs's Solidity verifier for toy circuits with 1, 5, 9 and 17 public
  signals, compiled with the project's solc and settings (services/chain/compiler.py): gas used
  by a real transaction calling it on a fresh anvil (the 21,000 transaction base and calldata
  included). Not eth_estimateGas: the verifier returns false instead of reverting when the pairing
  precompile runs out of gas, so the estimate stops at a gas limit where the proof is refused.

The verification rows use the committed reward-chunk key and prover (zk/artifacts) when present,
else the reward-chunk circuit set up here (when the ptau exists), else a toy circuit with 9 public
signals; the table names which. The proofs use small scores (pool 1000, scores 3 and 5 in a chunk
otherwise zero, no unit left over, threshold 2^162 - 1) and differ in epoch and challenge. Times
are the best of five turns over the same 8 proofs (one by one, batched, and snarkjs; the batch
of 32 adds 24 more); the methods take turns, so a busy spell on the machine hits all of them.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128 import (
    add,
    b,
    b2,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    normalize,
    pairing,
)

from zk.verifier import (
    CURVE_ORDER,
    FIELD_MODULUS,
    Proof,
    VerifyingKey,
    load_verifying_key,
    public_signals_from_snarkjs,
    verify,
    verify_batch,
)

ROOT = Path(__file__).resolve().parents[1]
BIN = ROOT / "node_modules" / ".bin"
SNARKJS = ROOT / "node_modules" / "snarkjs"
ARTIFACTS = ROOT / "zk" / "artifacts"
PTAU_CANDIDATES = (
    ROOT / "zk" / ".ceremony" / "pot15_final.ptau",
    ROOT / "zk" / "ptau" / "pot_final.ptau",
)
CHUNK_SIZES = (8, 16, 32)
GAS_PUBLIC = (1, 5, 9, 17)
GOAL_BATCH = 3.0
TURNS = 5  # timed turns of the verification rows; the best counts
THRESHOLD_NONE = (1 << 162) - 1
GAS_LIMIT = 1_000_000
EPOCH_NODES = 10_000  # an epoch of this many nodes settles ceil(nodes / 32) chunk proofs
CHUNK_ROWS = 32
PAIRING_GAS_4 = (
    45_000 + 4 * 34_000
)  # EIP-1108 price of the 4-pair check alone  # no row's key reaches it: no unit is left over

NODE_JOB = """
const fs = require("fs");
const snarkjs = require(process.argv[2]);
const req = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
const now = () => Number(process.hrtime.bigint()) / 1e6;
(async () => {
  const out = [];
  if (req.op === "prove") {
    await snarkjs.groth16.fullProve(req.inputs[0], req.wasm, req.zkey);  // warm-up, not timed
    for (const input of req.inputs) {
      const t0 = now();
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, req.wasm, req.zkey);
      out.push({ proof, publicSignals, ms: now() - t0 });
    }
  } else {
    const vk = JSON.parse(fs.readFileSync(req.vkey, "utf8"));
    await snarkjs.groth16.verify(vk, req.cases[0].publicSignals, req.cases[0].proof);  // warm-up
    for (let round = 0; round < req.rounds; round++) {
      for (const c of req.cases) {
        const t0 = now();
        const ok = await snarkjs.groth16.verify(vk, c.publicSignals, c.proof);
        out.push({ ok, ms: now() - t0 });
      }
    }
  }
  fs.writeFileSync(req.out, JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"""


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(*args: str | Path, cwd: Path) -> str:
    command = [str(a) for a in args]
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return done.stdout


def node_job(workdir: Path, request: dict[str, Any]) -> list[dict[str, Any]]:
    script, req, out = workdir / "job.cjs", workdir / "job.json", workdir / "job-out.json"
    script.write_text(NODE_JOB)
    req.write_text(json.dumps({**request, "out": str(out)}))
    run("node", script, SNARKJS, req, cwd=workdir)
    result: list[dict[str, Any]] = json.loads(out.read_text())
    return result


@dataclass(frozen=True)
class Circuit:
    label: str
    wasm: Path
    zkey: Path
    vkey: Path
    constraints: int | None = None


class Workspace:
    """A temporary tree holding the circuits (circom2 reads only below its working directory)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        (path / "zk" / "circuits").mkdir(parents=True)
        shutil.copy(ROOT / "zk" / "circuits" / "reward_chunk.circom", path / "zk" / "circuits")
        shutil.copytree(
            ROOT / "node_modules" / "circomlib" / "circuits",
            path / "node_modules" / "circomlib" / "circuits",
        )
        self._small_ptau: Path | None = None

    def snarkjs(self, *args: str | Path) -> str:
        return run(BIN / "snarkjs", *args, cwd=self.path)

    def small_ptau(self) -> Path:
        """A local 2^6 Powers of Tau for the toy circuits."""
        if self._small_ptau is None:
            progress("powers of tau 2^6 for the toy circuits")
            self.snarkjs("powersoftau", "new", "bn128", "6", "toy0.ptau")
            self.snarkjs("powersoftau", "contribute", "toy0.ptau", "toy1.ptau", "-e=b", "--name=b")
            self.snarkjs("powersoftau", "prepare", "phase2", "toy1.ptau", "toy.ptau")
            self._small_ptau = self.path / "toy.ptau"
        return self._small_ptau

    def build(self, name: str, source: str, ptau: Path, label: str) -> Circuit:
        """Compile, set up (one contribution) and export the key of zk/circuits/<name>.circom."""
        (self.path / "zk" / "circuits" / f"{name}.circom").write_text(source)
        circuit = f"zk/circuits/{name}.circom"
        run(BIN / "circom2", circuit, "--O2", "--r1cs", "--wasm", "-o", ".", cwd=self.path)
        info = self.snarkjs("r1cs", "info", f"{name}.r1cs")
        constraints = int(info.split("# of Constraints:")[1].split()[0])
        self.snarkjs("groth16", "setup", f"{name}.r1cs", ptau, f"{name}_0.zkey")
        self.snarkjs("zkey", "contribute", f"{name}_0.zkey", f"{name}.zkey", "-e=b", "--name=b")
        self.snarkjs("zkey", "export", "verificationkey", f"{name}.zkey", f"{name}_vk.json")
        return Circuit(
            label,
            self.path / f"{name}_js" / f"{name}.wasm",
            self.path / f"{name}.zkey",
            self.path / f"{name}_vk.json",
            constraints,
        )

    def prove(self, circuit: Circuit, inputs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """snarkjs fullProve of each input in one node process: proof, signals, ms."""
        request = {"inputs": list(inputs), "wasm": str(circuit.wasm), "zkey": str(circuit.zkey)}
        return node_job(self.path, {"op": "prove", **request})


def chunk_source(n: int) -> str:
    return (
        'pragma circom 2.1.0;\ninclude "reward_chunk.circom";\n'
        "component main {public [epoch, chunkIndex, pool, totalScore, threshold, challenge]}"
        f" = RewardChunk({n});\n"
    )


def toy_source(n_public: int) -> str:
    """n_public public inputs, each bound to the private input by one constraint."""
    return f"""pragma circom 2.1.0;
template Toy(n) {{
    signal input a;
    signal input pub[n];
    signal t[n];
    for (var i = 0; i < n; i++) {{ t[i] <== pub[i] * a; }}
}}
component main {{public [pub]}} = Toy({n_public});
"""


def chunk_input(n: int, j: int, rng: random.Random) -> dict[str, Any]:
    """A satisfying reward-chunk input: pool 1000 over scores 3 and 5, nothing left over."""
    scores = [3, 5] + [0] * (n - 2)
    return {
        "epoch": j + 1,
        "chunkIndex": 0,
        "pool": 1000,
        "totalScore": 8,
        "threshold": str(THRESHOLD_NONE),
        "challenge": str(rng.randrange(CURVE_ORDER)),
        "nodeId": [i + 1 if s else 0 for i, s in enumerate(scores)],
        "eligible": [1 if s else 0 for s in scores],
        "score": scores,
        "payee": [str(((i + 1) << 160) + 0xABC) if s else "0" for i, s in enumerate(scores)],
    }


def toy_input(n_public: int, j: int, rng: random.Random) -> dict[str, Any]:
    return {"a": j + 2, "pub": [str(rng.randrange(CURVE_ORDER)) for _ in range(n_public)]}


def best_times(fns: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Best time of each function over a few turns; they take turns, so a busy spell hits all."""
    best: dict[str, float] = {}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            took = time.perf_counter() - start
            best[name] = min(took, best.get(name, took))
    return best


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def row(
    task: str,
    circuit: str,
    ours: str,
    peer: str = "",
    theirs: str = "",
    ratio: str = "",
    note: str = "",
) -> list[str]:
    return [task, circuit, ours, peer, theirs, ratio, note]


# --- rows ------------------------------------------------------------------------------------


def verification_circuit(ws: Workspace, ptau: Path | None) -> Circuit:
    zkey, vkey = ARTIFACTS / "reward_chunk_32.zkey", ARTIFACTS / "verification_key.json"
    wasms = (
        ARTIFACTS / "reward_chunk_32.wasm",
        ARTIFACTS / "reward_chunk_32_js" / "reward_chunk_32.wasm",
    )
    wasm = next((p for p in wasms if p.is_file()), None)
    if wasm is not None and zkey.is_file() and vkey.is_file():
        return Circuit("reward_chunk_32, committed key", wasm, zkey, vkey)
    if ptau is not None:
        progress("no zk/artifacts: setting up reward_chunk_32 here for the verification rows")
        label = "reward_chunk_32, key set up here"
        return ws.build("chunk32", chunk_source(32), ptau, label)
    progress("no zk/artifacts and no 2^15 ptau: verification rows use a toy circuit")
    return ws.build("toy9", toy_source(9), ws.small_ptau(), "toy circuit, 9 public inputs")


def base_proofs(
    ws: Workspace, circuit: Circuit, count: int
) -> tuple[VerifyingKey, list[tuple[Proof, tuple[int, ...]]]]:
    """The circuit's key and ``count`` proofs snarkjs makes with it (epochs and challenges differ)."""
    rng = random.Random(17)
    is_chunk = circuit.label.startswith("reward_chunk")
    inputs = [chunk_input(32, j, rng) if is_chunk else toy_input(9, j, rng) for j in range(count)]
    progress(f"proving {count} proofs of {circuit.label} with snarkjs")
    made = ws.prove(circuit, inputs)
    items = [
        (Proof.from_snarkjs(m["proof"]), public_signals_from_snarkjs(m["publicSignals"]))
        for m in made
    ]
    return load_verifying_key(circuit.vkey), items


def verification_rows(ws: Workspace, circuit: Circuit, count: int) -> list[list[str]]:
    rng = random.Random(7)
    is_chunk = circuit.label.startswith("reward_chunk")
    inputs = [chunk_input(32, j, rng) if is_chunk else toy_input(9, j, rng) for j in range(count)]
    progress(f"proving {count} proofs of {circuit.label} with snarkjs")
    made = ws.prove(circuit, inputs)
    vk = load_verifying_key(circuit.vkey)
    items = [
        (Proof.from_snarkjs(m["proof"]), public_signals_from_snarkjs(m["publicSignals"]))
        for m in made
    ]
    assert all(verify(vk, p, s).ok for p, s in items)
    assert all(v.ok for v in verify_batch(vk, items))

    progress("timing zk.verifier.verify one by one and verify_batch (8 and 32 proofs)")
    sizes = sorted({8, len(items)})
    fns: dict[str, Callable[[], object]] = {"one": lambda: [verify(vk, p, s) for p, s in items[:8]]}
    for n in sizes:
        fns[f"batch{n}"] = lambda n=n: verify_batch(vk, items[:n])
    best = best_times(fns, TURNS)
    t_one = best["one"] / 8

    progress("timing snarkjs groth16.verify in one node process, and the snarkjs command")
    cases = [{"proof": m["proof"], "publicSignals": m["publicSignals"]} for m in made[:8]]
    warm = node_job(
        ws.path, {"op": "verify", "vkey": str(circuit.vkey), "cases": cases, "rounds": TURNS}
    )
    assert all(r["ok"] for r in warm)
    rounds = [warm[i : i + len(cases)] for i in range(0, len(warm), len(cases))]
    t_warm = min(sum(r["ms"] for r in turn) for turn in rounds) / len(cases) / 1000
    (ws.path / "proof.json").write_text(json.dumps(made[0]["proof"]))
    (ws.path / "public.json").write_text(json.dumps(made[0]["publicSignals"]))
    cli = best_times(
        {"cli": lambda: ws.snarkjs("groth16", "verify", circuit.vkey, "public.json", "proof.json")},
        3,
    )["cli"]

    progress("timing the same verifier on py_ecc's primitives")
    assert all(py_ecc_verify(vk, p, s) for p, s in items[:2])
    t_py_ecc = best_times({"py_ecc": lambda: py_ecc_verify(vk, *items[0])}, 2)["py_ecc"]

    label = circuit.label
    rows = [
        row(
            "verify 1 proof",
            label,
            ms(t_one),
            "snarkjs groth16.verify (warm node)",
            ms(t_warm),
            f"{t_warm / t_one:.2f}x",
        ),
        row(
            "verify 1 proof",
            label,
            ms(t_one),
            "snarkjs groth16 verify (command)",
            ms(cli),
            f"{cli / t_one:.1f}x",
            "node start-up included",
        ),
        row(
            "verify 1 proof",
            label,
            ms(t_one),
            "py_ecc primitives",
            ms(t_py_ecc),
            f"{t_py_ecc / t_one:.1f}x",
            "same checks; G2 by r*B == O",
        ),
    ]
    for n in sizes:
        per = best[f"batch{n}"] / n
        speedup = t_one / per
        verdict = (
            "[green]met[/]"
            if speedup >= GOAL_BATCH
            else (f"[red]short ({speedup / GOAL_BATCH:.2f} of goal)[/]")
        )
        rows.append(
            row(
                f"verify_batch of {n}, per proof",
                label,
                ms(per),
                "this project, one by one",
                ms(t_one),
                f"{speedup:.1f}x",
                f">= {GOAL_BATCH:.0f}x: {verdict}",
            )
        )
    return rows


# --- the same verifier on py_ecc's primitives -------------------------------------------------


def _py_g1(p: tuple[int, int]) -> tuple[FQ, FQ, FQ]:
    return (FQ.one(), FQ.one(), FQ.zero()) if p == (0, 0) else (FQ(p[0]), FQ(p[1]), FQ.one())


def _py_g2(p: tuple[tuple[int, int], tuple[int, int]]) -> tuple[FQ2, FQ2, FQ2]:
    if p == ((0, 0), (0, 0)):
        return FQ2.one(), FQ2.one(), FQ2.zero()
    return FQ2(list(p[0])), FQ2(list(p[1])), FQ2.one()


def _words_g1(p: tuple[FQ, FQ, FQ]) -> tuple[int, int]:
    if is_inf(p):
        return 0, 0
    x, y = normalize(p)
    return int(x), int(y)


def _words_g2(p: tuple[FQ2, FQ2, FQ2]) -> tuple[tuple[int, int], tuple[int, int]]:
    x, y = normalize(p)
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


def py_ecc_points(
    vk: VerifyingKey, proof: Proof, signals: Sequence[int]
) -> tuple[Any, Any, Any] | None:
    """A, B, C as py_ecc points after the checks zk.verifier makes (the EVM's): words below q,
    signals below r, A and C on the curve, B on the twist and [r] B == O; None if one fails."""
    if len(signals) != vk.n_public or any(not 0 <= x < CURVE_ORDER for x in signals):
        return None
    if any(w >= FIELD_MODULUS for w in proof.to_words()):
        return None
    a, bb, c = _py_g1(proof.a), _py_g2(proof.b), _py_g1(proof.c)
    if not (is_on_curve(a, b) and is_on_curve(c, b) and is_on_curve(bb, b2)):
        return None
    if not is_inf(multiply(bb, CURVE_ORDER)):  # py_ecc's pairing does not check this
        return None
    return a, bb, c


def py_ecc_verify(vk: VerifyingKey, proof: Proof, signals: Sequence[int]) -> bool:
    """One proof: e(A, B) e(-vk_x, gamma) e(-C, delta) == e(alpha, beta) (cached in the key)."""
    points = py_ecc_points(vk, proof, signals)
    if points is None:
        return False
    a, bb, c = points
    vk_x = vk.ic[0]
    for x, point in zip(signals, vk.ic[1:]):
        vk_x = add(vk_x, multiply(point, x))
    f = (
        pairing(bb, a, final_exponentiate=False)
        * pairing(vk.gamma, neg(vk_x), final_exponentiate=False)
        * pairing(vk.delta, neg(c), final_exponentiate=False)
    )
    return bool(final_exponentiate(f) == vk.alpha_beta)


def py_ecc_verify_batch(vk: VerifyingKey, items: Sequence[tuple[Proof, Sequence[int]]]) -> bool:
    """verify_batch's equation on py_ecc: random 128-bit s_j, prod_j e(s_j A_j, B_j)
    e(-(sum s_j) alpha, beta) e(-sum s_j vk_x_j, gamma) e(-sum s_j C_j, delta) == 1."""
    checked = [py_ecc_points(vk, p, s) for p, s in items]
    if any(pts is None for pts in checked):
        return False
    weights = [random.getrandbits(128) | 1 for _ in items]
    total = sum(weights) % CURVE_ORDER
    f = FQ12.one()
    c_sum = multiply(vk.alpha, 0)
    for s_j, pts in zip(weights, checked):
        assert pts is not None
        a, bb, c = pts
        f = f * pairing(bb, multiply(a, s_j), final_exponentiate=False)
        c_sum = add(c_sum, multiply(c, s_j))
    vk_x = multiply(vk.ic[0], total)
    for i, point in enumerate(vk.ic[1:]):
        scalar = sum(s_j * signals[i] for s_j, (_, signals) in zip(weights, items)) % CURVE_ORDER
        vk_x = add(vk_x, multiply(point, scalar))
    f = f * pairing(vk.beta, neg(multiply(vk.alpha, total)), final_exponentiate=False)
    f = f * pairing(vk.gamma, neg(vk_x), final_exponentiate=False)
    f = f * pairing(vk.delta, neg(c_sum), final_exponentiate=False)
    return bool(final_exponentiate(f) == FQ12.one())


def rerandomised(vk: VerifyingKey, proof: Proof, rng: random.Random) -> Proof:
    """Another valid proof of the same statement: (A / t, t B + t s delta, C + s A)."""
    t, s = rng.randrange(1, CURVE_ORDER), rng.randrange(1, CURVE_ORDER)
    a, bb, c = _py_g1(proof.a), _py_g2(proof.b), _py_g1(proof.c)
    a2 = multiply(a, pow(t, -1, CURVE_ORDER))
    b2_ = add(multiply(bb, t), multiply(vk.delta, t * s % CURVE_ORDER))
    c2 = add(c, multiply(a, s))
    return Proof(_words_g1(a2), _words_g2(b2_), _words_g1(c2))


def epoch_rows(
    vk: VerifyingKey, base: Sequence[tuple[Proof, Sequence[int]]], label: str, nodes: int
) -> list[list[str]]:
    """One epoch's chunk proofs through zk.verifier and through py_ecc's primitives."""
    n = -(-nodes // CHUNK_ROWS)
    rng = random.Random(13)
    progress(f"re-randomising {len(base)} proofs into {n} (an epoch of {nodes:,} nodes)")
    items = [
        (rerandomised(vk, base[j % len(base)][0], rng), base[j % len(base)][1]) for j in range(n)
    ]
    assert all(v.ok for v in verify_batch(vk, items))
    bad = [*items[:-1], (items[-1][0], [items[-1][1][0] ^ 1, *items[-1][1][1:]])]
    assert not verify_batch(vk, bad)[-1].ok
    assert not py_ecc_verify(vk, *bad[-1])

    progress("timing one proof: zk.verifier.verify and py_ecc_verify (best of 2 over 4 proofs)")
    four = items[:4]
    single = best_times(
        {
            "ours": lambda: [verify(vk, p, s) for p, s in four],
            "py_ecc": lambda: [py_ecc_verify(vk, p, s) for p, s in four],
        },
        2,
    )
    progress(f"timing verify_batch of {n} (best of 3) and py_ecc_verify_batch of {n} (once)")
    ours = best_times({"ours": lambda: verify_batch(vk, items)}, 3)["ours"]
    start = time.perf_counter()
    assert py_ecc_verify_batch(vk, items)
    theirs = time.perf_counter() - start
    one, one_py = single["ours"] / 4, single["py_ecc"] / 4
    return [
        row(
            "verify 1 proof",
            label,
            ms(one),
            "py_ecc primitives",
            ms(one_py),
            f"{one_py / one:.1f}x",
            "same checks; G2 by r*B == O",
        ),
        row(
            f"verify_batch of {n} ({nodes:,} nodes)",
            label,
            f"{ours:.2f} s",
            "py_ecc primitives, batched",
            f"{theirs:.1f} s",
            f"{theirs / ours:.1f}x",
            f"one epoch; {theirs - ours:.0f} s more per epoch",
        ),
    ]


def prove_rows(ws: Workspace, ptau: Path | None) -> list[list[str]]:
    if ptau is None:
        return [
            row("prove 1 chunk", f"reward_chunk_{n}", "skipped", note="no 2^15 ptau: run zk/build")
            for n in CHUNK_SIZES
        ]
    rows = []
    rng = random.Random(11)
    for n in CHUNK_SIZES:
        progress(f"reward_chunk_{n}: compile and set up with {ptau.relative_to(ROOT)}")
        circuit = ws.build(f"chunk{n}_p", chunk_source(n), ptau, f"reward_chunk_{n}")
        progress(f"reward_chunk_{n}: proving")
        made = ws.prove(circuit, [chunk_input(n, j, rng) for j in range(3)])
        t = min(m["ms"] for m in made) / 1000
        label = f"reward_chunk_{n}: {circuit.constraints:,} constraints"
        rows.append(
            row(
                "prove 1 chunk (witness + proof)",
                label,
                f"{t:.2f} s",
                "snarkjs in one node process",
                note=f"{t / n * 1000:.0f} ms per row",
            )
        )
    return rows


def gas_rows(ws: Workspace) -> list[list[str]]:
    import solcx

    from services.chain.anvil import start_anvil
    from services.chain.compiler import SETTINGS, find_compiler
    from services.chain.rpc import account_from_key, connect
    from services.chain.tx import send
    from services.ports_free import free_port
    from services.settings import ANVIL_DEV_KEY

    solc, version = find_compiler()
    anvil = start_anvil(free_port(), None, ws.path / "anvil.log")
    rows, previous = [], None
    try:
        w3 = connect(anvil.rpc_url)
        me = account_from_key(ANVIL_DEV_KEY)
        rng = random.Random(5)
        for k in GAS_PUBLIC:
            progress(f"verifier gas: toy circuit with {k} public signals")
            circuit = ws.build(f"gas{k}", toy_source(k), ws.small_ptau(), f"toy, {k} public")
            sol = ws.path / f"gas{k}.sol"
            ws.snarkjs("zkey", "export", "solidityverifier", circuit.zkey, sol)
            standard = {
                "language": "Solidity",
                "sources": {sol.name: {"content": sol.read_text()}},
                "settings": SETTINGS,
            }
            out = solcx.compile_standard(
                standard, base_path=str(ws.path), allow_paths=[str(ws.path)], solc_binary=solc
            )
            built = out["contracts"][sol.name]["Groth16Verifier"]
            factory = w3.eth.contract(abi=built["abi"], bytecode=built["evm"]["bytecode"]["object"])
            receipt = send(w3, me, factory.constructor(), ROOT, what=f"deploy verifier ({k})")
            contract = w3.eth.contract(address=receipt["contractAddress"], abi=built["abi"])
            made = ws.prove(circuit, [toy_input(k, 0, rng)])[0]
            proof = Proof.from_snarkjs(made["proof"])
            signals = list(public_signals_from_snarkjs(made["publicSignals"]))
            vk = load_verifying_key(circuit.vkey)
            assert verify(vk, proof, signals).ok
            w = proof.to_words()
            a, b, c = [w[0], w[1]], [[w[2], w[3]], [w[4], w[5]]], [w[6], w[7]]
            call = contract.functions.verifyProof(a, b, c, signals)
            assert call.call() is True
            # the chain refuses what zk.verifier refuses (snarkjs itself takes the x + q forms)
            q, r = FIELD_MODULUS, CURVE_ORDER
            refused = {
                "changed signal": (a, b, c, [signals[0] ^ 1, *signals[1:]]),
                "signal + r": (a, b, c, [signals[0] + r, *signals[1:]]),
                "A.x + q": ([w[0] + q, w[1]], b, c, signals),
                "B.y.c1 + q": (a, [b[0], [w[4] + q, w[5]]], c, signals),
                "C.y + q": (a, b, [w[6], w[7] + q], signals),
            }
            for name, (pa, pb, pc, sig) in refused.items():
                assert contract.functions.verifyProof(pa, pb, pc, sig).call() is False, name
                assert not verify(vk, Proof.from_words([*pa, *pb[0], *pb[1], *pc]), sig).ok
            # a real transaction: eth_estimateGas would find far less, because the verifier
            # answers false (it does not revert) when the pairing precompile runs out of gas
            receipt = send(w3, me, call, ROOT, what=f"verifyProof ({k})", gas=GAS_LIMIT)
            gas = int(receipt["gasUsed"])
            assert PAIRING_GAS_4 < gas < GAS_LIMIT
            estimate = call.estimate_gas({"from": me.address})
            notes = [f"estimateGas {estimate:,}"]
            if previous is not None:
                per = (gas - previous[1]) / (k - previous[0])
                notes.insert(0, f"+{per:,.0f}/signal")
            note = "; ".join(notes)
            previous = (k, gas)
            rows.append(
                row(
                    f"verifyProof gas, {k} public",
                    f"snarkjs Solidity verifier, solc {version.split('+')[0]}",
                    f"{gas:,}",
                    note=note,
                )
            )
    finally:
        anvil.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="verification rows on a toy circuit")
    parser.add_argument(
        "--epoch", action="store_true", help="only zk.bn254 beside py_ecc on one epoch's proofs"
    )
    parser.add_argument("--nodes", type=int, default=EPOCH_NODES, help="nodes in the epoch")
    args = parser.parse_args()
    started = time.monotonic()
    ptau = next((p for p in PTAU_CANDIDATES if p.is_file()), None)
    with tempfile.TemporaryDirectory(prefix="zk-bench-") as tmp:
        ws = Workspace(Path(tmp))
        if args.quick:
            label = "toy circuit, 9 public inputs"
            rows = verification_rows(ws, ws.build("toy9", toy_source(9), ws.small_ptau(), label), 9)
        elif args.epoch:
            circuit = verification_circuit(ws, ptau)
            rows = epoch_rows(*base_proofs(ws, circuit, 8), circuit.label, args.nodes)
        else:
            circuit = verification_circuit(ws, ptau)
            rows = verification_rows(ws, circuit, 32)
            rows += epoch_rows(*base_proofs(ws, circuit, 8), circuit.label, args.nodes)
            rows += prove_rows(ws, ptau)
            rows += gas_rows(ws)

    table = Table(
        title="Groth16 on BN254: zk.verifier (Python, py_ecc types) vs snarkjs; proving; gas"
    )
    for col in ("task", "circuit", "this project", "peer", "peer result", "speedup", "goal / note"):
        table.add_column(
            col, justify="right" if col in ("this project", "peer result", "speedup") else "left"
        )
    for i, cells in enumerate(rows):
        ends = i + 1 < len(rows) and rows[i + 1][0].split()[0] != cells[0].split()[0]
        table.add_row(*cells, end_section=ends)
    Console(width=200).print(table)
    progress(f"done in {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
