"""zk.verifier against real Groth16 proofs and snarkjs's own verdicts.

A session fixture builds a toy circuit in a temporary directory (circom2, a 2^5 Powers of Tau,
a phase-2 setup with one contribution) and proves it with snarkjs; snarkjs's ``groth16.verify``
on the same JSON files is the reference for every case it can read.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from py_ecc.optimized_bn128 import (
    FQ2,
    G1,
    G2,
    add,
    b2,
    curve_order,
    field_modulus,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    normalize,
)
from py_ecc.optimized_bn128 import pairing as py_ecc_pairing

from services.core.errors import Invalid, ProofInvalid
from zk import bn254, verifier
from zk.verifier import (
    CURVE_ORDER,
    FIELD_MODULUS,
    Proof,
    Verdict,
    VerifyingKey,
    in_g2,
    load_verifying_key,
    public_signals_from_snarkjs,
    verify,
    verify_batch,
)

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / "node_modules" / ".bin"
ARTIFACTS = ROOT / "zk" / "artifacts"
Q, R = FIELD_MODULUS, CURVE_ORDER

# two private inputs x, y and two public inputs k, m; outputs p = x y and s = p k + m
TOY = """pragma circom 2.1.0;
template Toy() {
    signal input x;
    signal input y;
    signal input k;
    signal input m;
    signal output p;
    signal output s;
    p <== x * y;
    s <== p * k + m;
}
component main {public [k, m]} = Toy();
"""

# one node process: prove a list of inputs, or verify a list of (proof, public signals) cases
NODE = """
const fs = require("fs");
const snarkjs = require(process.argv[2]);
const req = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));
(async () => {
  const out = [];
  if (req.op === "prove") {
    for (const input of req.inputs) {
      const { proof, publicSignals } = await snarkjs.groth16.fullProve(input, req.wasm, req.zkey);
      out.push({ proof, publicSignals });
    }
  } else {
    const vk = JSON.parse(fs.readFileSync(req.vkey, "utf8"));
    for (const c of req.cases) {
      try { out.push(await snarkjs.groth16.verify(vk, c.publicSignals, c.proof)); }
      catch (e) { out.push("error: " + String(e && e.message ? e.message : e)); }
    }
  }
  fs.writeFileSync(req.out, JSON.stringify(out));
  process.exit(0);
})().catch((e) => { console.error(e); process.exit(1); });
"""


@dataclass(frozen=True)
class Toy:
    workdir: Path
    vkey_path: Path
    vk: VerifyingKey
    proofs: tuple[tuple[Proof, tuple[int, ...]], ...]
    raw: tuple[dict[str, object], ...]  # the snarkjs proof JSON of each proof
    calldata: str  # `snarkjs zkey export soliditycalldata` of proof 0


def _run(*args: str | Path, cwd: Path) -> str:
    done = subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"{args[0]} failed: {done.stdout[-2000:]} {done.stderr[-2000:]}"
    return done.stdout


def _node(workdir: Path, request: dict[str, object]) -> list[object]:
    script = workdir / "snarkjs_job.cjs"
    script.write_text(NODE)
    req_path, out_path = workdir / "request.json", workdir / "reply.json"
    req_path.write_text(json.dumps({**request, "out": str(out_path)}))
    _run("node", script, ROOT / "node_modules" / "snarkjs", req_path, cwd=workdir)
    reply: list[object] = json.loads(out_path.read_text())
    return reply


def snarkjs_verdicts(
    toy: Toy, cases: Sequence[tuple[dict[str, object], Sequence[object]]]
) -> list[object]:
    """snarkjs groth16.verify on each (proof JSON, public signals): True, False or 'error: ...'."""
    payload = [{"proof": p, "publicSignals": [str(s) for s in sig]} for p, sig in cases]
    return _node(toy.workdir, {"op": "verify", "vkey": str(toy.vkey_path), "cases": payload})


@pytest.fixture(scope="session")
def toy(tmp_path_factory: pytest.TempPathFactory) -> Toy:
    if not (BIN / "circom2").exists() or not (BIN / "snarkjs").exists():
        pytest.skip("node_modules lacks circom2/snarkjs: run `npm ci --ignore-scripts`")
    w = tmp_path_factory.mktemp("toy_circuit")
    (w / "toy.circom").write_text(TOY)
    snarkjs = BIN / "snarkjs"
    _run(BIN / "circom2", "toy.circom", "--r1cs", "--wasm", "-o", ".", cwd=w)
    _run(snarkjs, "powersoftau", "new", "bn128", "5", "pot0.ptau", cwd=w)
    _run(
        snarkjs, "powersoftau", "contribute", "pot0.ptau", "pot1.ptau", "-e=toy", "--name=t", cwd=w
    )
    _run(snarkjs, "powersoftau", "prepare", "phase2", "pot1.ptau", "pot.ptau", cwd=w)
    _run(snarkjs, "groth16", "setup", "toy.r1cs", "pot.ptau", "toy0.zkey", cwd=w)
    # a contribution, so that delta differs from gamma (both are the generator after setup)
    _run(snarkjs, "zkey", "contribute", "toy0.zkey", "toy.zkey", "-e=toy2", "--name=t", cwd=w)
    _run(snarkjs, "zkey", "export", "verificationkey", "toy.zkey", "vk.json", cwd=w)
    inputs = [{"x": 3 + j, "y": 11 * j + 1, "k": 5 + 2 * j, "m": 7 + j * j} for j in range(9)]
    wasm = w / "toy_js" / "toy.wasm"
    made = _node(
        w, {"op": "prove", "inputs": inputs, "wasm": str(wasm), "zkey": str(w / "toy.zkey")}
    )
    raw, proofs = [], []
    for item in made:
        assert isinstance(item, dict)
        raw.append(item["proof"])
        proofs.append(
            (Proof.from_snarkjs(item["proof"]), public_signals_from_snarkjs(item["publicSignals"]))
        )
    (w / "proof.json").write_text(json.dumps(raw[0]))
    (w / "public.json").write_text(json.dumps([str(s) for s in proofs[0][1]]))
    calldata = _run(
        snarkjs, "zkey", "export", "soliditycalldata", "public.json", "proof.json", cwd=w
    )
    vkey_path = w / "vk.json"
    return Toy(w, vkey_path, load_verifying_key(vkey_path), tuple(proofs), tuple(raw), calldata)


# --- helpers ----------------------------------------------------------------------------------


def _f2_sqrt(a: tuple[int, int]) -> tuple[int, int] | None:
    """A square root in F_q2 (q = 3 mod 4), or None: via the norm, as for complex numbers."""
    a0, a1 = a
    n = (a0 * a0 + a1 * a1) % Q
    s = pow(n, (Q + 1) // 4, Q)
    if s * s % Q != n:
        return None
    for t in (s, Q - s):
        half = (a0 + t) * pow(2, -1, Q) % Q
        x0 = pow(half, (Q + 1) // 4, Q)
        if x0 * x0 % Q != half or x0 == 0:
            continue
        x1 = a1 * pow(2 * x0, -1, Q) % Q
        if ((x0 * x0 - x1 * x1) % Q, 2 * x0 * x1 % Q) == (a0 % Q, a1 % Q):
            return x0, x1
    return None


def twist_point(seed: int) -> tuple[FQ2, FQ2, FQ2]:
    """A point of E'(F_q2) from hashing-free search: x = (seed, 1), (seed + 1, 1), ..."""
    c0 = seed
    while True:
        x = FQ2([c0, 1])
        rhs = x**3 + b2
        y = _f2_sqrt((int(rhs.coeffs[0]), int(rhs.coeffs[1])))
        if y is not None:
            point = (x, FQ2(list(y)), FQ2.one())
            assert is_on_curve(point, b2)
            return point
        c0 += 1


def outside_g2(seed: int) -> tuple[FQ2, FQ2, FQ2]:
    """A twist point that [r] does not kill (almost every twist point: the cofactor is ~2^254)."""
    point = twist_point(seed)
    assert not is_inf(multiply(point, R))
    return point


def affine_words_g2(point: tuple[FQ2, FQ2, FQ2]) -> tuple[tuple[int, int], tuple[int, int]]:
    x, y = normalize(point)
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


# --- the curve arithmetic against py_ecc ------------------------------------------------------


def test_constants_are_bn254() -> None:
    assert FIELD_MODULUS == field_modulus
    assert CURVE_ORDER == curve_order
    assert (
        CURVE_ORDER == 21888242871839275222246405745257275088548364400416034343698204186575808495617
    )
    assert (
        pow(2, CURVE_ORDER - 1, CURVE_ORDER) == 1 and pow(3, FIELD_MODULUS - 1, FIELD_MODULUS) == 1
    )


def test_pairing_equals_py_ecc_and_is_bilinear() -> None:
    p, q = multiply(G1, 1234567), multiply(G2, 7654321)
    ours = verifier.pairing(p, q)
    assert ours == py_ecc_pairing(q, p)
    assert ours != verifier.pairing(G1, G2)
    assert verifier.pairing(multiply(p, 6), q) == verifier.pairing(p, multiply(q, 6)) == ours**6
    assert verifier.pairing(neg(p), q) * ours == ours.one()
    assert verifier.pairing(add(p, G1), q) == ours * verifier.pairing(G1, q)


def test_g2_subgroup_check_agrees_with_multiplying_by_r() -> None:
    assert in_g2(G2) and in_g2(multiply(G2, 123456789))
    cofactor = 2 * Q - R  # #E'(F_q2) = r (2q - r)
    for seed in range(5):
        point = twist_point(1000 * seed + 17)
        killed_by_r = is_inf(multiply(point, R))
        assert in_g2(point) == killed_by_r
        assert not killed_by_r  # a random twist point is outside G2
        cleared = multiply(point, cofactor)  # ... and the cofactor brings it in
        assert is_inf(multiply(cleared, R)) and in_g2(cleared)


def test_points_of_small_order_are_outside_g2_and_do_not_break_the_loop(toy: Toy) -> None:
    """2q - r = 10069 * (a 241-bit cofactor): a twist point can have order 10069, or r * 10069;
    the Miller loop of such a B meets equal x-coordinates, which must read as "not in G2"."""
    cofactor = 2 * Q - R
    assert cofactor % 10069 == 0
    point = twist_point(4242)
    small = multiply(point, R * (cofactor // 10069))  # order 10069
    mixed = multiply(point, cofactor // 10069)  # order r * 10069
    proof, signals = toy.proofs[0]
    for p in (small, mixed):
        assert not is_inf(p) and not is_inf(multiply(p, R)) and not in_g2(p)
        verdict = verify(toy.vk, replace(proof, b=affine_words_g2(p)), signals)
        assert verdict == Verdict(False, "B is not in the G2 subgroup")
    # an addition step that meets R = +-S leaves the point out (read as "not in G2")
    q = affine_words_g2(multiply(G2, 5))
    rs = [q, q, q]
    moved = bn254._advance(rs, [0, 1, 2], [q, bn254._g2_neg(q), None])
    assert list(moved) == [2] and rs[:2] == [q, q]


def test_psi_is_the_twisted_frobenius() -> None:
    """psi^2 - t psi + q = 0 on twist points, the identity the subgroup check rests on."""
    t = Q + 1 - R
    for seed in (5, 77):
        p = twist_point(seed)
        pa = affine_words_g2(p)
        psi1 = bn254._psi(pa)
        psi2 = bn254._psi(psi1)
        to_py = bn254.g2_to_py_ecc
        lhs = add(add(to_py(psi2), neg(multiply(to_py(psi1), t))), multiply(p, Q))
        assert is_inf(lhs)


# --- single proofs ----------------------------------------------------------------------------


def test_valid_proofs_verify(toy: Toy) -> None:
    for proof, signals in toy.proofs:
        assert verify(toy.vk, proof, signals) == Verdict(True, None)
    assert snarkjs_verdicts(toy, [(toy.raw[0], toy.proofs[0][1])]) == [True]
    out = _run(
        BIN / "snarkjs",
        "groth16",
        "verify",
        "vk.json",
        "public.json",
        "proof.json",
        cwd=toy.workdir,
    )
    assert "OK" in out


def test_key_parses_with_its_public_count(toy: Toy) -> None:
    assert toy.vk.n_public == 4  # outputs p, s, then k, m
    assert toy.vk.alpha_beta == py_ecc_pairing(toy.vk.beta, toy.vk.alpha)
    assert toy.vk.gamma != toy.vk.delta


def test_words_follow_the_solidity_calldata(toy: Toy) -> None:
    proof, signals = toy.proofs[0]
    numbers = [int(x, 16) for x in json.loads("[" + toy.calldata + "]") for x in _flatten(x)]
    assert list(proof.to_words()) + list(signals) == numbers
    assert Proof.from_words(proof.to_words()) == proof
    assert Proof.from_snarkjs(proof.to_snarkjs()) == proof


def _flatten(value: object) -> list[str]:
    if isinstance(value, list):
        return [s for item in value for s in _flatten(item)]
    assert isinstance(value, str)
    return [value]


def _cases(toy: Toy) -> dict[str, tuple[Proof, tuple[int, ...], str]]:
    """name -> (tampered proof, public signals, the reason the verdict must give)."""
    proof, signals = toy.proofs[0]
    ax, ay = proof.a
    bad_b = affine_words_g2(outside_g2(3))
    g2_point = affine_words_g2(multiply(G2, 99))
    return {
        "changed public input": (proof, (signals[0] + 1, *signals[1:]), "pairing check failed"),
        "swapped A and C": (replace(proof, a=proof.c, c=proof.a), signals, "pairing check failed"),
        "another G2 point as B": (replace(proof, b=g2_point), signals, "pairing check failed"),
        "A off the curve": (replace(proof, a=(ax, (ay + 1) % Q)), signals, "A is not on the curve"),
        "C off the curve": (replace(proof, c=(proof.c[0], 5)), signals, "C is not on the curve"),
        "B off the twist": (
            replace(proof, b=(proof.b[0], (proof.b[1][0], proof.b[1][1] ^ 1))),
            signals,
            "B is not on the twist curve",
        ),
        "B outside the G2 subgroup": (
            replace(proof, b=bad_b),
            signals,
            "B is not in the G2 subgroup",
        ),
        "public input >= r (aliases mod r)": (
            proof,
            (*signals[:3], signals[3] + R),
            "public input 3 is not below the scalar field order r",
        ),
        "A.x >= q (same point mod q)": (
            replace(proof, a=(ax + Q, ay)),
            signals,
            "A.x is not below the field modulus q",
        ),
        "B.y.c1 >= q": (
            replace(proof, b=(proof.b[0], (proof.b[1][0], proof.b[1][1] + Q))),
            signals,
            "B.y.c1 is not below the field modulus q",
        ),
        "one public input too few": (proof, signals[:3], "wrong number of public inputs"),
        "one public input too many": (proof, (*signals, 1), "wrong number of public inputs"),
    }


def test_tampered_proofs_are_rejected_with_a_reason_and_snarkjs_agrees(toy: Toy) -> None:
    cases = _cases(toy)
    reference = snarkjs_verdicts(toy, [(p.to_snarkjs(), s) for p, s, _ in cases.values()])
    theirs = dict(zip(cases, reference))
    for name, (proof, signals, reason) in cases.items():
        verdict = verify(toy.vk, proof, signals)
        assert not verdict.ok, name
        assert verdict.reason is not None and verdict.reason.startswith(reason), (name, verdict)
    # snarkjs reads coordinates modulo q, so it accepts a coordinate written as x + q, which the
    # EVM precompiles (and this verifier) refuse; an extra public input has no IC point to read.
    lenient = {"A.x >= q (same point mod q)", "B.y.c1 >= q"}
    assert {name: v for name, v in theirs.items() if v is not False} == {
        **{name: True for name in lenient},
        "one public input too many": theirs["one public input too many"],
    }
    assert str(theirs["one public input too many"]).startswith("error: ")


def test_verdict_require_raises_proof_invalid(toy: Toy) -> None:
    proof, signals = toy.proofs[0]
    verify(toy.vk, proof, signals).require()
    with pytest.raises(ProofInvalid, match="pairing check failed"):
        verify(toy.vk, proof, (signals[0] ^ 1, *signals[1:])).require()


def test_points_at_infinity_are_read_as_the_evm_reads_them(toy: Toy) -> None:
    proof, signals = toy.proofs[0]
    for tampered in (
        replace(proof, a=(0, 0)),
        replace(proof, b=((0, 0), (0, 0))),
        replace(proof, c=(0, 0)),
    ):
        assert verify(toy.vk, tampered, signals) == Verdict(False, "pairing check failed")
    assert Proof.from_snarkjs({**proof.to_snarkjs(), "pi_a": ["5", "9", "0"]}).a == (0, 0)


def test_malformed_input_is_invalid_not_a_crash(toy: Toy) -> None:
    words = list(toy.proofs[0][0].to_words())
    with pytest.raises(Invalid, match="8 words"):
        Proof.from_words(words[:7])
    with pytest.raises(Invalid, match="uint256"):
        Proof.from_words([*words[:7], 1 << 256])
    with pytest.raises(Invalid, match="z = 2"):
        Proof.from_snarkjs({**toy.raw[0], "pi_a": ["1", "2", "2"]})
    with pytest.raises(Invalid, match="decimal"):
        public_signals_from_snarkjs(["12", "0x10"])
    assert verify(toy.vk, toy.proofs[0][0], [-1, 0, 0, 0]).reason == (
        "public input 0 is not a non-negative integer: -1"
    )


def test_a_key_that_is_not_a_groth16_bn128_key_is_refused(toy: Toy) -> None:
    data = json.loads(toy.vkey_path.read_text())
    VerifyingKey.from_snarkjs(data)
    bad_gamma = affine_words_g2(outside_g2(11))
    broken = {
        "curve": {**data, "curve": "bls12381"},
        "IC": {**data, "IC": data["IC"][:-1]},
        "gamma outside G2": {
            **data,
            "vk_gamma_2": [
                [str(c) for c in bad_gamma[0]],
                [str(c) for c in bad_gamma[1]],
                ["1", "0"],
            ],
        },
        "alpha off the curve": {**data, "vk_alpha_1": [data["vk_alpha_1"][0], "7", "1"]},
    }
    for name, key in broken.items():
        with pytest.raises(Invalid):
            VerifyingKey.from_snarkjs(key)
        assert name


# --- batches ----------------------------------------------------------------------------------


def test_batch_of_valid_proofs_passes_with_one_final_exponentiation(
    toy: Toy, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = []
    real = verifier.final_exponentiation

    def counted(f: tuple[int, ...]) -> tuple[int, ...]:
        calls.append(1)
        return real(f)

    monkeypatch.setattr(verifier, "final_exponentiation", counted)
    assert verify_batch(toy.vk, toy.proofs[:8]) == [Verdict(True, None)] * 8
    assert len(calls) == 1
    assert verify_batch(toy.vk, []) == []


def test_one_tampered_proof_among_eight_is_named(toy: Toy) -> None:
    items = list(toy.proofs[:8])
    proof, signals = items[5]
    items[5] = (proof, (signals[0], signals[1] + 1, *signals[2:]))
    verdicts = verify_batch(toy.vk, items)
    assert [v.ok for v in verdicts] == [True] * 5 + [False] + [True] * 2
    assert verdicts[5].reason == "pairing check failed"


def test_structural_failures_in_a_batch_keep_their_reasons(toy: Toy) -> None:
    items = list(toy.proofs[:4])
    proof, signals = items[2]
    items[2] = (proof, (*signals[:3], R))
    items[3] = (replace(items[3][0], b=affine_words_g2(outside_g2(29))), items[3][1])
    verdicts = verify_batch(toy.vk, items)
    assert verdicts[:2] == [Verdict(True, None)] * 2
    assert verdicts[2].reason == "public input 3 is not below the scalar field order r"
    assert verdicts[3].reason == "B is not in the G2 subgroup"


def test_errors_that_cancel_in_an_unweighted_sum_are_caught(toy: Toy) -> None:
    """C_0 + D and C_1 - D leave sum C_j unchanged: only the random weights expose them."""
    d = normalize(multiply(G1, random.randrange(1, R)))
    shift = (int(d[0]), int(d[1]))
    (p0, s0), (p1, s1) = toy.proofs[:2]

    def moved(proof: Proof, by: tuple[int, int]) -> Proof:
        c = bn254.g1_to_py_ecc(proof.c)
        x, y = normalize(add(c, bn254.g1_to_py_ecc(by)))
        return replace(proof, c=(int(x), int(y)))

    items = [(moved(p0, shift), s0), (moved(p1, (shift[0], Q - shift[1])), s1)]
    verdicts = verify_batch(toy.vk, items)
    assert [v.reason for v in verdicts] == ["pairing check failed"] * 2


# --- the project's key ------------------------------------------------------------------------

REAL_VKEY = ARTIFACTS / "verification_key.json"
REAL_ZKEY = ARTIFACTS / "reward_chunk_32.zkey"
REAL_WASM = next(
    (
        p
        for p in (
            ARTIFACTS / "reward_chunk_32.wasm",
            ARTIFACTS / "reward_chunk_32_js" / "reward_chunk_32.wasm",
        )
        if p.is_file()
    ),
    None,
)


@pytest.mark.skipif(not REAL_VKEY.is_file(), reason="zk/artifacts not built yet (zk/build)")
def test_the_reward_chunk_key_parses_with_nine_public_signals() -> None:
    vk = load_verifying_key(REAL_VKEY)
    assert vk.n_public == 9  # scoreCommitment, chunkScoreSum, rewardsEval, epoch .. challenge
    assert vk.gamma != vk.delta


@pytest.mark.skipif(
    not (REAL_VKEY.is_file() and REAL_ZKEY.is_file() and REAL_WASM is not None),
    reason="zk/artifacts not built yet (zk/build)",
)
def test_a_reward_chunk_proof_from_the_committed_key_verifies(tmp_path: Path) -> None:
    """Pool 1000 over scores 3 and 5 (no unit left over, so the threshold is 2^162 - 1)."""
    scores = [3, 5] + [0] * 30
    chunk = {
        "epoch": 7,
        "chunkIndex": 0,
        "pool": 1000,
        "totalScore": 8,
        "threshold": str((1 << 162) - 1),
        "challenge": "123456789",
        "nodeId": [1, 2] + [0] * 30,
        "eligible": [1, 1] + [0] * 30,
        "score": scores,
        "payee": [str((1 << 160) + 0xA), str((2 << 160) + 0xB)] + ["0"] * 30,
    }
    made = _node(
        tmp_path, {"op": "prove", "inputs": [chunk], "wasm": str(REAL_WASM), "zkey": str(REAL_ZKEY)}
    )[0]
    assert isinstance(made, dict)
    vk = load_verifying_key(REAL_VKEY)
    proof, signals = (
        Proof.from_snarkjs(made["proof"]),
        public_signals_from_snarkjs(made["publicSignals"]),
    )
    assert signals[1] == 8 and signals[3:8] == (7, 0, 1000, 8, (1 << 162) - 1)
    assert verify(vk, proof, signals).ok
    wrong_pool = (*signals[:5], 999, *signals[6:])
    assert verify(vk, proof, wrong_pool) == Verdict(False, "pairing check failed")
    assert verify_batch(vk, [(proof, signals), (proof, wrong_pool)]) == [
        Verdict(True, None),
        Verdict(False, "pairing check failed"),
    ]
