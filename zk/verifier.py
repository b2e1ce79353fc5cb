"""Groth16 verification on BN254 (alt_bn128), as the EVM precompiles and snarkjs's verifier see it.

A worker checks every chunk proof here before it spends gas (zk/README.md). ``verify`` accepts a
proof exactly when the chain would: every coordinate below the field modulus ``q``, ``(0, 0)`` as
the point at infinity, A and C on the curve, B on the twist and in the order-``r`` subgroup (the
check py_ecc's ``pairing`` skips), every public input below ``r``, and then

    e(A, B) = e(alpha, beta) * e(vk_x, gamma) * e(C, delta),   vk_x = IC_0 + sum_i x_i IC_{i+1}

evaluated as one final exponentiation of a product of Miller loops compared with e(alpha, beta),
which the key caches. ``verify_batch`` checks many proofs under one key with random 128-bit
weights ``s_j``: prod_j e(s_j A_j, B_j) = e(alpha, beta)^(sum s_j) e(sum s_j vk_x_j, gamma)
e(sum s_j C_j, delta): n + 2 Miller loops (plus one for e(alpha, beta)^(sum s_j), cheaper than
the power) and one final exponentiation; a false proof makes it fail except with probability
about 2^-128. When it fails every proof is checked on its own, so the verdicts name the bad ones.

The key and the points use py_ecc's ``optimized_bn128`` types (and its constants). The curve
arithmetic underneath, on plain integers, is ``zk.bn254``: G1 multi-scalar multiplication, the
Miller-loop lines of B (which also carry the G2 subgroup test), the Miller loop and the final
exponentiation, kept for speed: py_ecc's primitives take about 30x longer per proof and 40x
for an epoch's batch (zk/README.md, "Why our own pairing"; tests/unit/test_bn254_cross_check.py
checks it against py_ecc). ``FIELD_MODULUS``, ``CURVE_ORDER``, ``BN_U``, ``in_g2`` and
``pairing`` are re-exported from there.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from py_ecc.fields import optimized_bn128_FQ12 as FQ12

from services.core.errors import Invalid, ProofInvalid
from zk.bn254 import (
    BN_U,
    CURVE_ORDER,
    FIELD_MODULUS,
    FP12_ONE,
    Fp2,
    G1Affine,
    G1Point,
    G1Table,
    G2Point,
    Lines,
    final_exponentiation,
    g1_msm,
    g1_msm_tables,
    g1_neg,
    g1_on_curve,
    g1_table,
    g1_to_py_ecc,
    g2_on_curve,
    g2_to_py_ecc,
    in_g2,
    miller_lines,
    miller_loop,
    pairing,
)

__all__ = [
    "BN_U",
    "CURVE_ORDER",
    "FIELD_MODULUS",
    "Fp2",
    "G1Point",
    "G2Point",
    "Proof",
    "Verdict",
    "VerifyingKey",
    "in_g2",
    "load_verifying_key",
    "pairing",
    "public_signals_from_snarkjs",
    "verify",
    "verify_batch",
]

_WORD = 1 << 256

# --- verdicts, keys, proofs -------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """A proof's verdict: ``ok``, or the first check it failed."""

    ok: bool
    reason: str | None = None

    @classmethod
    def accept(cls) -> Verdict:
        return cls(True)

    @classmethod
    def reject(cls, reason: str) -> Verdict:
        return cls(False, reason)

    def require(self) -> None:
        """Raise ProofInvalid (with the reason) unless the proof was accepted."""
        if not self.ok:
            raise ProofInvalid(f"Groth16 proof rejected: {self.reason}")


def _integer(value: object, what: str) -> int:
    """A non-negative integer from snarkjs JSON (decimal strings) or Python ints."""
    if isinstance(value, bool):
        raise Invalid(f"{what}: expected an integer, got {value!r}")
    if isinstance(value, int):
        n = value
    elif isinstance(value, str) and value.isascii() and value.isdigit():
        n = int(value)
    else:
        raise Invalid(f"{what}: expected a decimal integer, got {value!r}")
    if not 0 <= n < _WORD:
        raise Invalid(f"{what}: {n} does not fit a uint256")
    return n


def _list(value: object, length: int, what: str) -> list[object]:
    if not isinstance(value, list) or len(value) != length:
        raise Invalid(f"{what}: expected a list of {length}, got {value!r}")
    return value


def _g1_json(value: object, what: str) -> tuple[int, int]:
    """A snarkjs G1 point [x, y, z] (z = 1, or 0 at infinity) as EIP-197 words (x, y)."""
    raw = value if isinstance(value, list) and len(value) == 2 else _list(value, 3, what)
    x, y = _integer(raw[0], f"{what}.x"), _integer(raw[1], f"{what}.y")
    z = _integer(raw[2], f"{what}.z") if len(raw) == 3 else 1
    if z == 0:
        return 0, 0
    if z != 1:
        raise Invalid(f"{what}: z = {z}; snarkjs writes affine points (z = 1, or 0 at infinity)")
    return x, y


def _g2_json(value: object, what: str) -> tuple[Fp2, Fp2]:
    """A snarkjs G2 point [[x.c0, x.c1], [y.c0, y.c1], [1, 0]] as ((x.c0, x.c1), (y.c0, y.c1))."""
    raw = value if isinstance(value, list) and len(value) == 2 else _list(value, 3, what)
    coords = []
    for name, item in zip(("x", "y", "z"), raw, strict=False):  # z is optional
        pair = _list(item, 2, f"{what}.{name}")
        coords.append(
            (_integer(pair[0], f"{what}.{name}.c0"), _integer(pair[1], f"{what}.{name}.c1"))
        )
    z = coords[2] if len(coords) == 3 else (1, 0)
    if z == (0, 0):
        return (0, 0), (0, 0)
    if z != (1, 0):
        raise Invalid(f"{what}: z = {z}; snarkjs writes affine points (z = [1, 0], or [0, 0])")
    return coords[0], coords[1]


@dataclass(frozen=True)
class VerifyingKey:
    """A Groth16 verifying key (snarkjs ``verification_key.json``, protocol groth16, bn128).

    Points are py_ecc ``optimized_bn128`` points; ``alpha_beta`` is e(alpha, beta), computed once.
    The remaining fields are precomputation: multiples of the IC points for a windowed
    multi-scalar multiplication, and the Miller-loop lines of beta, gamma and delta (fixed points,
    so a verification only computes the lines of B).
    """

    alpha: G1Point
    beta: G2Point
    gamma: G2Point
    delta: G2Point
    ic: tuple[G1Point, ...]
    alpha_beta: FQ12 = field(repr=False, compare=False)
    _alpha: tuple[int, int] = field(repr=False, compare=False)
    _ic: tuple[G1Table | None, ...] = field(repr=False, compare=False)
    _beta_lines: Lines = field(repr=False, compare=False)
    _gamma_lines: Lines = field(repr=False, compare=False)
    _delta_lines: Lines = field(repr=False, compare=False)

    @property
    def n_public(self) -> int:
        return len(self.ic) - 1

    @classmethod
    def from_snarkjs(cls, data: Mapping[str, object]) -> VerifyingKey:
        """Parse and check a snarkjs verification key; Invalid unless it is a usable key."""
        if data.get("protocol") != "groth16" or data.get("curve") != "bn128":
            raise Invalid(
                "verification key: expected protocol groth16 on curve bn128, got "
                f"{data.get('protocol')!r} on {data.get('curve')!r}"
            )
        n_public = _integer(data.get("nPublic"), "verification key nPublic")
        ic_json = data.get("IC")
        if not isinstance(ic_json, list) or len(ic_json) != n_public + 1:
            raise Invalid(f"verification key: IC must list nPublic + 1 = {n_public + 1} points")
        alpha = _key_g1(data.get("vk_alpha_1"), "vk_alpha_1", allow_infinity=False)
        ic = tuple(_key_g1(p, f"IC[{i}]", allow_infinity=True) for i, p in enumerate(ic_json))
        names = ("vk_beta_2", "vk_gamma_2", "vk_delta_2")
        beta, gamma, delta = (_key_g2(data.get(name), name) for name in names)
        assert alpha is not None
        beta_lines, gamma_lines, delta_lines = miller_lines([beta, gamma, delta])
        for name, lines in zip(names, (beta_lines, gamma_lines, delta_lines), strict=True):
            if lines is None:
                raise Invalid(f"verification key: {name} is not in the G2 subgroup")
        assert beta_lines is not None and gamma_lines is not None and delta_lines is not None
        alpha_beta = final_exponentiation(miller_loop([(alpha, beta_lines)]))
        return cls(
            alpha=g1_to_py_ecc(alpha),
            beta=g2_to_py_ecc(beta),
            gamma=g2_to_py_ecc(gamma),
            delta=g2_to_py_ecc(delta),
            ic=tuple(g1_to_py_ecc(p) for p in ic),
            alpha_beta=FQ12(list(alpha_beta)),
            _alpha=alpha,
            _ic=tuple(None if p is None else g1_table(p) for p in ic),
            _beta_lines=beta_lines,
            _gamma_lines=gamma_lines,
            _delta_lines=delta_lines,
        )


def _key_g1(value: object, what: str, *, allow_infinity: bool) -> G1Affine:
    x, y = _g1_json(value, f"verification key {what}")
    if (x, y) == (0, 0):
        if allow_infinity:
            return None
        raise Invalid(f"verification key: {what} is the point at infinity")
    if x >= FIELD_MODULUS or y >= FIELD_MODULUS or not g1_on_curve((x, y)):
        raise Invalid(f"verification key: {what} is not a point of G1")
    return x, y


def _key_g2(value: object, what: str) -> tuple[Fp2, Fp2]:
    x, y = _g2_json(value, f"verification key {what}")
    if (x, y) == ((0, 0), (0, 0)):
        raise Invalid(f"verification key: {what} is the point at infinity")
    if max(*x, *y) >= FIELD_MODULUS or not g2_on_curve((x, y)):
        raise Invalid(f"verification key: {what} is not a point of the twist curve")
    return x, y


def load_verifying_key(path: Path | str) -> VerifyingKey:
    """Read a snarkjs ``verification_key.json``."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise Invalid(f"cannot read the verification key {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise Invalid(f"{path}: a verification key is a JSON object")
    return VerifyingKey.from_snarkjs(data)


@dataclass(frozen=True)
class Proof:
    """A Groth16 proof as the words the chain receives: each coordinate a uint256, unreduced.

    ``a`` and ``c`` are (x, y); ``b`` is ((x.c0, x.c1), (y.c0, y.c1)); (0, 0) is infinity.
    Nothing is checked here beyond the uint256 range: ``verify`` decides the rest.
    """

    a: tuple[int, int]
    b: tuple[Fp2, Fp2]
    c: tuple[int, int]

    def __post_init__(self) -> None:
        for i, word in enumerate(self.to_words()):
            if not (isinstance(word, int) and 0 <= word < _WORD):
                raise Invalid(f"proof word {i} is not a uint256: {word!r}")

    @classmethod
    def from_words(cls, words: Sequence[int]) -> Proof:
        """From [A.x, A.y, B.x.c1, B.x.c0, B.y.c1, B.y.c0, C.x, C.y] (EIP-197 order)."""
        if len(words) != 8:
            raise Invalid(f"a Groth16 proof is 8 words, got {len(words)}")
        w = [_integer(word, f"proof word {i}") for i, word in enumerate(words)]
        return cls((w[0], w[1]), ((w[3], w[2]), (w[5], w[4])), (w[6], w[7]))

    def to_words(self) -> tuple[int, int, int, int, int, int, int, int]:
        (bx0, bx1), (by0, by1) = self.b
        return self.a[0], self.a[1], bx1, bx0, by1, by0, self.c[0], self.c[1]

    @classmethod
    def from_snarkjs(cls, data: Mapping[str, object]) -> Proof:
        """From snarkjs proof JSON (pi_a, pi_b, pi_c; points affine with z = 1)."""
        return cls(
            _g1_json(data.get("pi_a"), "pi_a"),
            _g2_json(data.get("pi_b"), "pi_b"),
            _g1_json(data.get("pi_c"), "pi_c"),
        )

    def to_snarkjs(self) -> dict[str, object]:
        """snarkjs proof JSON (for snarkjs itself, or the prover's ``verify``)."""

        def g1(p: tuple[int, int]) -> list[str]:
            return [str(p[0]), str(p[1]), "0" if p == (0, 0) else "1"]

        (x0, x1), (y0, y1) = self.b
        z = ["0", "0"] if self.b == ((0, 0), (0, 0)) else ["1", "0"]
        return {
            "pi_a": g1(self.a),
            "pi_b": [[str(x0), str(x1)], [str(y0), str(y1)], z],
            "pi_c": g1(self.c),
            "protocol": "groth16",
            "curve": "bn128",
        }


def public_signals_from_snarkjs(values: object) -> tuple[int, ...]:
    """snarkjs ``public.json`` (a list of decimal strings) as integers (not range-checked)."""
    if not isinstance(values, list):
        raise Invalid(f"public signals: expected a list, got {values!r}")
    return tuple(_integer(v, f"public signal {i}") for i, v in enumerate(values))


# --- verification -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Checked:
    """A proof that passed the checks made before any pairing: affine points, ready to pair.

    ``b_lines`` are B's Miller-loop lines (None when B is at infinity)."""

    a: G1Affine
    b_lines: Lines | None
    c: G1Affine
    inputs: tuple[int, ...]


def _check(
    vk: VerifyingKey, proofs: Sequence[tuple[Proof, Sequence[int]]]
) -> list[_Checked | Verdict]:
    """What the EVM precompiles and the snarkjs Solidity verifier check before the pairing, for
    each proof; the G2 subgroup test comes with B's Miller-loop lines (all B's in step)."""
    out: list[_Checked | Verdict] = []
    pending: list[tuple[int, tuple[Fp2, Fp2]]] = []
    for proof, public_signals in proofs:
        verdict = _check_encoding(vk, proof, public_signals)
        if verdict is not None:
            out.append(verdict)
            continue
        a: G1Affine = None if proof.a == (0, 0) else proof.a
        c: G1Affine = None if proof.c == (0, 0) else proof.c
        if proof.b != ((0, 0), (0, 0)):
            pending.append((len(out), proof.b))
        out.append(_Checked(a, None, c, tuple(public_signals)))
    for (j, _), lines in zip(pending, miller_lines([b for _, b in pending]), strict=True):
        checked = out[j]
        assert isinstance(checked, _Checked)
        if lines is None:
            out[j] = Verdict.reject("B is not in the G2 subgroup")
        else:
            out[j] = replace(checked, b_lines=lines)
    return out


def _check_encoding(
    vk: VerifyingKey, proof: Proof, public_signals: Sequence[int]
) -> Verdict | None:
    if len(public_signals) != vk.n_public:
        return Verdict.reject(
            f"wrong number of public inputs: the key takes {vk.n_public}, got {len(public_signals)}"
        )
    for i, x in enumerate(public_signals):
        if isinstance(x, bool) or not isinstance(x, int) or x < 0:
            return Verdict.reject(f"public input {i} is not a non-negative integer: {x!r}")
        if x >= CURVE_ORDER:
            return Verdict.reject(f"public input {i} is not below the scalar field order r")
    names = ("A.x", "A.y", "B.x.c1", "B.x.c0", "B.y.c1", "B.y.c0", "C.x", "C.y")
    for name, word in zip(names, proof.to_words(), strict=True):
        if word >= FIELD_MODULUS:
            return Verdict.reject(f"{name} is not below the field modulus q")
    if proof.a != (0, 0) and not g1_on_curve(proof.a):
        return Verdict.reject("A is not on the curve")
    if proof.b != ((0, 0), (0, 0)) and not g2_on_curve(proof.b):
        return Verdict.reject("B is not on the twist curve")
    if proof.c != (0, 0) and not g1_on_curve(proof.c):
        return Verdict.reject("C is not on the curve")
    return None


def _pairs(
    vk: VerifyingKey, ab: Sequence[tuple[G1Affine, Lines | None]], vk_x: G1Affine, c: G1Affine
) -> list[tuple[tuple[int, int], Lines]]:
    """Miller-loop pairs for prod e(a, b) * e(-vk_x, gamma) * e(-c, delta) (infinity dropped)."""
    pairs = [(a, lines) for a, lines in ab if a is not None and lines is not None]
    for point, fixed in ((g1_neg(vk_x), vk._gamma_lines), (g1_neg(c), vk._delta_lines)):
        if point is not None:
            pairs.append((point, fixed))
    return pairs


def _pairing_check(vk: VerifyingKey, item: _Checked) -> Verdict:
    vk_x = g1_msm_tables(vk._ic, (1, *item.inputs))
    f = final_exponentiation(miller_loop(_pairs(vk, [(item.a, item.b_lines)], vk_x, item.c)))
    if f != tuple(int(x) for x in vk.alpha_beta.coeffs):
        return Verdict.reject("pairing check failed")
    return Verdict.accept()


def verify(vk: VerifyingKey, proof: Proof, public_signals: Sequence[int]) -> Verdict:
    """Accept ``proof`` for ``public_signals`` exactly when the EVM verifier would."""
    checked = _check(vk, [(proof, public_signals)])[0]
    if isinstance(checked, Verdict):
        return checked
    return _pairing_check(vk, checked)


def verify_batch(vk: VerifyingKey, items: Sequence[tuple[Proof, Sequence[int]]]) -> list[Verdict]:
    """One verdict per (proof, public signals), in order; one pairing check for all when all hold.

    With random nonzero 128-bit s_j (from ``secrets``), checks
    prod_j e(s_j A_j, B_j) = e(alpha, beta)^(sum s_j) e(sum_j s_j vk_x_j, gamma) e(sum_j s_j C_j,
    delta), where sum_j s_j vk_x_j = (sum s_j) IC_0 + sum_i (sum_j s_j x_ji) IC_{i+1} is one
    multi-scalar multiplication over the key's IC. e(alpha, beta)^(sum s_j) enters as one more
    Miller loop, of (-(sum s_j) alpha, beta) with beta's cached lines, which costs less than the
    power in F_q12; the product of the n + 3 loops goes through one final exponentiation and must
    be 1. If it is not, each proof is checked alone.
    """
    checked = _check(vk, items)
    ready = [(j, item) for j, item in enumerate(checked) if isinstance(item, _Checked)]
    verdicts = [item if isinstance(item, Verdict) else Verdict.accept() for item in checked]
    if len(ready) == 1:
        j, item = ready[0]
        verdicts[j] = _pairing_check(vk, item)
    elif ready:
        weights = [secrets.randbelow((1 << 128) - 1) + 1 for _ in ready]
        total = sum(weights) % CURVE_ORDER
        weighted = [(s, item) for s, (_, item) in zip(weights, ready, strict=True)]
        ic_scalars = [total] + [
            sum(s * item.inputs[i] for s, item in weighted) % CURVE_ORDER
            for i in range(vk.n_public)
        ]
        vk_x = g1_msm_tables(vk._ic, ic_scalars)
        c = g1_msm([item.c for _, item in ready], weights)
        ab = [(g1_msm([item.a], [s]), item.b_lines) for s, item in weighted]
        pairs = _pairs(vk, ab, vk_x, c)
        alpha = g1_neg(g1_msm([vk._alpha], [total]))
        if alpha is not None:
            pairs.append((alpha, vk._beta_lines))
        if final_exponentiation(miller_loop(pairs)) != FP12_ONE:
            for j, item in ready:
                verdicts[j] = _pairing_check(vk, item)
    return verdicts
