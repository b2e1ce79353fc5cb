"""BN254 (alt_bn128) arithmetic for the Groth16 verifier: fields, G1, G2, the optimal ate pairing.

The curve the EVM precompiles use (EIP-196/197): E: y^2 = x^3 + 3 over F_q, its twist
E': y^2 = x^3 + 3 / (9 + i) over F_q2, and e: G1 x G2 -> F_q12. The public pieces are what
``zk.verifier`` builds on: point checks and multi-scalar multiplication in G1, the Miller-loop
lines of twist points (``miller_lines``, which also decides G2 membership), ``miller_loop`` over
many pairs, ``final_exponentiation``, conversion to and from py_ecc's ``optimized_bn128`` types,
and ``in_g2`` and ``pairing`` on those types.

The inner loops work on plain integers: the G2 side of each Miller loop is affine arithmetic on
the twist with sparse line functions in py_ecc's F_q12 basis, and the final exponentiation uses
Frobenius maps; the tests check both against py_ecc's ``pairing``. The G2 subgroup test rides on
the Miller loop of Q (see the argument above ``miller_lines``) and agrees with py_ecc's
[r] Q == O. The constants are checked against py_ecc and against each other at import.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TypeAlias

from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128.optimized_curve import b2, curve_order, field_modulus

from services.core.errors import Invalid

# --- BN254 constants ---------------------------------------------------------------------------

BN_U = 4965661367192848881  # the curve's parameter u (x in some papers)
FIELD_MODULUS = 21888242871839275222246405745257275088696311157297823662689037894645226208583
CURVE_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617
assert FIELD_MODULUS == 36 * BN_U**4 + 36 * BN_U**3 + 24 * BN_U**2 + 6 * BN_U + 1
assert CURVE_ORDER == 36 * BN_U**4 + 36 * BN_U**3 + 18 * BN_U**2 + 6 * BN_U + 1
assert FIELD_MODULUS == field_modulus and CURVE_ORDER == curve_order  # py_ecc agrees

_q = FIELD_MODULUS

Fp2: TypeAlias = tuple[int, int]  # c0 + c1 * i, i^2 = -1
Fp12: TypeAlias = tuple[int, ...]  # 12 coefficients over w, w^12 = 18 w^6 - 82 (py_ecc's basis)
G1Affine: TypeAlias = tuple[int, int] | None  # None is the point at infinity
G2Affine: TypeAlias = tuple[Fp2, Fp2] | None
G1Point: TypeAlias = tuple[FQ, FQ, FQ]  # py_ecc optimized_bn128 (projective, z = 0 at infinity)
G2Point: TypeAlias = tuple[FQ2, FQ2, FQ2]
Line: TypeAlias = tuple[int, int, int, int]  # (l0, l1, c0, c1) of one line function; see _line

# --- F_q2 --------------------------------------------------------------------------------------


def _f2_add(a: Fp2, b: Fp2) -> Fp2:
    return (a[0] + b[0]) % _q, (a[1] + b[1]) % _q


def _f2_sub(a: Fp2, b: Fp2) -> Fp2:
    return (a[0] - b[0]) % _q, (a[1] - b[1]) % _q


def _f2_mul(a: Fp2, b: Fp2) -> Fp2:
    t0, t1 = a[0] * b[0], a[1] * b[1]
    return (t0 - t1) % _q, ((a[0] + a[1]) * (b[0] + b[1]) - t0 - t1) % _q


def _f2_sqr(a: Fp2) -> Fp2:
    return (a[0] + a[1]) * (a[0] - a[1]) % _q, 2 * a[0] * a[1] % _q


def _f2_inv(a: Fp2) -> Fp2:
    n = pow(a[0] * a[0] + a[1] * a[1], -1, _q)
    return a[0] * n % _q, -a[1] * n % _q


def _f2_pow(a: Fp2, e: int) -> Fp2:
    out: Fp2 = (1, 0)
    for bit in bin(e)[2:]:
        out = _f2_sqr(out)
        if bit == "1":
            out = _f2_mul(out, a)
    return out


def _f2_conj(a: Fp2) -> Fp2:
    return a[0], -a[1] % _q


_B1 = 3
_B2: Fp2 = _f2_mul((3, 0), _f2_inv((9, 1)))  # the twist E': y^2 = x^3 + 3 / (9 + i)
assert _B2 == (int(b2.coeffs[0]), int(b2.coeffs[1]))
_XI: Fp2 = (9, 1)
# psi = untwist, Frobenius, twist: psi(x, y) = (conj(x) * xi^((q-1)/3), conj(y) * xi^((q-1)/2))
_PSI_X = _f2_pow(_XI, (_q - 1) // 3)
_PSI_Y = _f2_pow(_XI, (_q - 1) // 2)


# --- G1: Jacobian coordinates (x = X / Z^2, y = Y / Z^3), Z = 0 at infinity -------------------

_G1Jac: TypeAlias = tuple[int, int, int]
_G1_INF: _G1Jac = (1, 1, 0)


def g1_on_curve(p: tuple[int, int]) -> bool:
    """Whether affine (x, y), coordinates below q, lies on E: y^2 = x^3 + 3."""
    x, y = p
    return (y * y - x * x * x - _B1) % _q == 0


def _g1_double(p: _G1Jac) -> _G1Jac:
    x, y, z = p
    if z == 0 or y == 0:
        return _G1_INF
    a, b = x * x % _q, y * y % _q
    c = b * b % _q
    d = 2 * ((x + b) ** 2 - a - c) % _q
    e = 3 * a % _q
    x3 = (e * e - 2 * d) % _q
    return x3, (e * (d - x3) - 8 * c) % _q, 2 * y * z % _q


def _g1_add_affine(p: _G1Jac, a: tuple[int, int]) -> _G1Jac:
    x1, y1, z1 = p
    if z1 == 0:
        return a[0], a[1], 1
    zz = z1 * z1 % _q
    h = (a[0] * zz - x1) % _q
    r = 2 * (a[1] * z1 * zz - y1) % _q
    if h == 0:
        return _g1_double(p) if r == 0 else _G1_INF
    hh = h * h % _q
    i = 4 * hh
    j = h * i % _q
    v = x1 * i % _q
    x3 = (r * r - j - 2 * v) % _q
    return x3, (r * (v - x3) - 2 * y1 * j) % _q, ((z1 + h) ** 2 - zz - hh) % _q


def _g1_affine(p: _G1Jac) -> G1Affine:
    x, y, z = p
    if z == 0:
        return None
    zi = pow(z, -1, _q)
    zi2 = zi * zi % _q
    return x * zi2 % _q, y * zi2 * zi % _q


def g1_msm(points: Sequence[G1Affine], scalars: Sequence[int]) -> G1Affine:
    """sum_i scalars[i] * points[i] (Straus: one shared chain of doublings)."""
    terms = [(p, k) for p, k in zip(points, scalars, strict=True) if p is not None and k]
    acc = _G1_INF
    for bit in range(max((k.bit_length() for _, k in terms), default=0) - 1, -1, -1):
        acc = _g1_double(acc)
        for p, k in terms:
            if k >> bit & 1:
                acc = _g1_add_affine(acc, p)
    return _g1_affine(acc)


G1Table: TypeAlias = tuple[tuple[int, int], ...]  # [1] p, [2] p, ..., [15] p


def g1_table(p: tuple[int, int]) -> G1Table:
    """[1] p, ..., [15] p for ``g1_msm_tables`` (p affine, not at infinity)."""
    multiples = [(p[0], p[1], 1)]
    for _ in range(14):
        multiples.append(_g1_add_affine(multiples[-1], p))
    out = []
    for m in multiples:
        a = _g1_affine(m)
        assert a is not None  # [d] p != O for 0 < d < 16 < r
        out.append(a)
    return tuple(out)


def g1_msm_tables(tables: Sequence[G1Table | None], scalars: Sequence[int]) -> G1Affine:
    """sum_i scalars[i] * p_i from precomputed multiples of fixed points (4-bit windows)."""
    terms = [(t, k) for t, k in zip(tables, scalars, strict=True) if t is not None and k]
    acc = _G1_INF
    windows = (max((k.bit_length() for _, k in terms), default=0) + 3) // 4
    for w in range(windows - 1, -1, -1):
        for _ in range(4):
            acc = _g1_double(acc)
        for table, k in terms:
            d = k >> (4 * w) & 15
            if d:
                acc = _g1_add_affine(acc, table[d - 1])
    return _g1_affine(acc)


def g1_neg(p: G1Affine) -> G1Affine:
    """-p (infinity stays infinity)."""
    return None if p is None else (p[0], -p[1] % _q)


# --- G2 on the twist E': y^2 = x^3 + 3 / (9 + i) over F_q2 (affine; None at infinity) ----------

_Affine2: TypeAlias = tuple[Fp2, Fp2]
_F2_ZERO: Fp2 = (0, 0)


def g2_on_curve(p: _Affine2) -> bool:
    """Whether affine (x, y), coordinates below q, lies on the twist E'."""
    x, y = p
    return _f2_sqr(y) == _f2_add(_f2_mul(_f2_sqr(x), x), _B2)


def _g2_neg(p: _Affine2) -> _Affine2:
    return p[0], (-p[1][0] % _q, -p[1][1] % _q)


def _psi(p: _Affine2) -> _Affine2:
    return _f2_mul(_f2_conj(p[0]), _PSI_X), _f2_mul(_f2_conj(p[1]), _PSI_Y)


# --- F_q12 in py_ecc's basis: 1, w, ..., w^11 with w^12 = 18 w^6 - 82 (w^6 = 9 + i) -----------

FP12_ONE: Fp12 = (1,) + (0,) * 11


def _reduce12(b: list[int]) -> Fp12:
    for k in range(len(b) - 1, 11, -1):
        top = b[k]
        b[k - 6] += 18 * top
        b[k - 12] -= 82 * top
    return tuple([x % _q for x in b[:12]])


def _mul12(a: Fp12, b: Fp12) -> Fp12:
    out = [0] * 23
    for i, ai in enumerate(a):
        if ai:
            for j, bj in enumerate(b):
                out[i + j] += ai * bj
    return _reduce12(out)


def _sqr12(a: Fp12) -> Fp12:
    out = [0] * 23
    for i, ai in enumerate(a):
        if ai:
            out[2 * i] += ai * ai
            ai2 = 2 * ai
            for j in range(i + 1, 12):
                out[i + j] += ai2 * a[j]
    return _reduce12(out)


def _mul12_line(a: Fp12, e0: int, e1: int, e3: int, e7: int, e9: int) -> Fp12:
    """a * (e0 + e1 w + e3 w^3 + e7 w^7 + e9 w^9): a line function is this sparse."""
    a0, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, a11 = a
    return _reduce12(
        [
            a0 * e0,
            a1 * e0 + a0 * e1,
            a2 * e0 + a1 * e1,
            a3 * e0 + a2 * e1 + a0 * e3,
            a4 * e0 + a3 * e1 + a1 * e3,
            a5 * e0 + a4 * e1 + a2 * e3,
            a6 * e0 + a5 * e1 + a3 * e3,
            a7 * e0 + a6 * e1 + a4 * e3 + a0 * e7,
            a8 * e0 + a7 * e1 + a5 * e3 + a1 * e7,
            a9 * e0 + a8 * e1 + a6 * e3 + a2 * e7 + a0 * e9,
            a10 * e0 + a9 * e1 + a7 * e3 + a3 * e7 + a1 * e9,
            a11 * e0 + a10 * e1 + a8 * e3 + a4 * e7 + a2 * e9,
            a11 * e1 + a9 * e3 + a5 * e7 + a3 * e9,
            a10 * e3 + a6 * e7 + a4 * e9,
            a11 * e3 + a7 * e7 + a5 * e9,
            a8 * e7 + a6 * e9,
            a9 * e7 + a7 * e9,
            a10 * e7 + a8 * e9,
            a11 * e7 + a9 * e9,
            a10 * e9,
            a11 * e9,
        ]
    )


def _pow12(a: Fp12, e: int) -> Fp12:
    out = FP12_ONE
    for bit in bin(e)[2:]:
        out = _sqr12(out)
        if bit == "1":
            out = _mul12(out, a)
    return out


def _frobenius_table(w_power: Fp12) -> tuple[tuple[tuple[int, int], ...], ...]:
    """For the map a -> a^(q^k) with w^(q^k) = ``w_power``: w^i's image, as sparse
    (index, coeff)."""
    table = []
    image = FP12_ONE
    for _ in range(12):
        table.append(tuple((j, c) for j, c in enumerate(image) if c))
        image = _mul12(image, w_power)
    return tuple(table)


def _frobenius(a: Fp12, table: tuple[tuple[tuple[int, int], ...], ...]) -> Fp12:
    # coefficients lie in F_q, which the Frobenius fixes: only the powers of w move
    out = [0] * 12
    for ai, image in zip(a, table, strict=True):
        if ai:
            for j, c in image:
                out[j] += ai * c
    return tuple(x % _q for x in out)


_W: Fp12 = (0, 1) + (0,) * 10
_FROB1 = _frobenius_table(_pow12(_W, _q))
_FROB2 = _frobenius_table(_frobenius(_frobenius(_W, _FROB1), _FROB1))
_FROB3 = _frobenius_table(_frobenius(_frobenius(_W, _FROB2), _FROB1))
_FROB6 = _frobenius_table(_frobenius(_frobenius(_W, _FROB3), _FROB3))


def _inv12(a: Fp12) -> Fp12:
    """1 / a through norms: g = a conj(a) lies in F_q6, n = g g^(q^2) g^(q^4) in F_q2."""
    conj = _frobenius(a, _FROB6)
    g = _mul12(a, conj)
    g2 = _frobenius(g, _FROB2)
    h = _mul12(g2, _frobenius(g2, _FROB2))
    n = _mul12(g, h)  # n0 + n6 w^6 with w^6 = 9 + i
    n_inv = _f2_inv(((n[0] + 9 * n[6]) % _q, n[6]))
    t = _mul12(conj, h)  # 1 / a = t / n
    e0, e6 = (n_inv[0] - 9 * n_inv[1]) % _q, n_inv[1]
    out = [0] * 18
    for i, ti in enumerate(t):
        out[i] += ti * e0
        out[i + 6] += ti * e6
    return _reduce12(out)


# The hard part of the final exponent, (q^4 - q^2 + 1) / r, is sum_i lambda_i q^i with each
# lambda_i a polynomial in u (Scott et al., "On the final exponentiation for calculating pairings
# on ordinary elliptic curves", 2009): three powers by u and Frobenius maps instead of a
# 762-bit power. _HARD_POLY[i][k] is the coefficient of u^k in lambda_i.
_HARD = (_q**4 - _q**2 + 1) // CURVE_ORDER
assert _HARD * CURVE_ORDER == _q**4 - _q**2 + 1
_HARD_POLY = ((-2, -18, -30, -36), (1, -12, -18, -36), (1, 0, 6, 0), (1, 0, 0, 0))
assert _HARD == sum(
    c * BN_U**k * _q**i for i, row in enumerate(_HARD_POLY) for k, c in enumerate(row)
)
_FROBS = (None, _FROB1, _FROB2, _FROB3)


def final_exponentiation(f: Fp12) -> Fp12:
    """f^((q^12 - 1) / r), the same map as py_ecc's ``final_exponentiate``."""
    t = _mul12(_frobenius(f, _FROB6), _inv12(f))  # f^(q^6 - 1)
    t = _mul12(_frobenius(t, _FROB2), t)  # ^(q^2 + 1); now t^(q^6) = 1 / t
    powers = [t]  # t^(u^k)
    for _ in range(3):
        powers.append(_pow12(powers[-1], BN_U))
    terms = []
    for i, row in enumerate(_HARD_POLY):
        for k, c in enumerate(row):
            if c:
                frob = _FROBS[i]
                base = powers[k] if frob is None else _frobenius(powers[k], frob)
                terms.append((base if c > 0 else _frobenius(base, _FROB6), abs(c)))
    out = FP12_ONE
    for bit in range(max(c for _, c in terms).bit_length() - 1, -1, -1):
        out = _sqr12(out)
        for base, c in terms:
            if c >> bit & 1:
                out = _mul12(out, base)
    return out


# --- Miller loop (optimal ate, loop count 6u + 2) --------------------------------------------


def _naf(n: int) -> tuple[int, ...]:
    digits = []
    while n:
        d = (2 - n % 4) if n % 2 else 0
        digits.append(d)
        n = (n - d) // 2
    return tuple(digits)  # least significant first, n = sum d_i 2^i, d_i in {-1, 0, 1}


_ATE_NAF = _naf(6 * BN_U + 2)
assert sum(d << i for i, d in enumerate(_ATE_NAF)) == 6 * BN_U + 2


def _line(slope: Fp2, at: tuple[Fp2, Fp2]) -> Line:
    """The line of slope ``slope`` through ``at`` on the twist, for evaluation at P in G1.

    Untwisted, (x, y) -> (x w^2, y w^3) and the slope becomes slope * w, so the line at P is
    y_P - slope x_P w + (slope x - y) w^3; an F_q2 element c0 + c1 i is c0 - 9 c1 + c1 w^6.
    Returned: (l0, l1, c0, c1) with the line = y_P - x_P (l0 w + l1 w^7) + c0 w^3 + c1 w^9.
    """
    c = _f2_sub(_f2_mul(slope, at[0]), at[1])
    return (slope[0] - 9 * slope[1]) % _q, slope[1], (c[0] - 9 * c[1]) % _q, c[1]


def _f2_batch_inv(values: Sequence[Fp2]) -> list[Fp2]:
    """Inverses of non-zero elements with one inversion (Montgomery's trick)."""
    prefix: list[Fp2] = []
    acc: Fp2 = (1, 0)
    for v in values:
        prefix.append(acc)
        acc = _f2_mul(acc, v)
    inv = _f2_inv(acc) if values else acc
    out: list[Fp2] = [_F2_ZERO] * len(values)
    for k in range(len(values) - 1, -1, -1):
        out[k] = _f2_mul(inv, prefix[k])
        inv = _f2_mul(inv, values[k])
    return out


def _advance(
    rs: list[_Affine2], ks: Sequence[int], partners: Sequence[_Affine2 | None]
) -> dict[int, Line]:
    """Move each rs[k], k in ks, to rs[k] + partners[k] (to 2 rs[k] where the partner is None)
    and return each move's line. One inversion serves all the points. A degenerate move (equal
    x, or y = 0) is left out: the caller reads it as "not in G2", where it cannot happen."""
    todo: list[tuple[int, _Affine2, _Affine2 | None]] = []
    denominators: list[Fp2] = []
    for k in ks:
        r, s = rs[k], partners[k]
        if s is None:
            if r[1] == _F2_ZERO:
                continue
            denominators.append((2 * r[1][0] % _q, 2 * r[1][1] % _q))
        else:
            if r[0] == s[0]:
                continue
            denominators.append(_f2_sub(s[0], r[0]))
        todo.append((k, r, s))
    lines: dict[int, Line] = {}
    for (k, r, s), inv in zip(todo, _f2_batch_inv(denominators), strict=True):
        if s is None:
            xx = _f2_sqr(r[0])
            slope = _f2_mul((3 * xx[0] % _q, 3 * xx[1] % _q), inv)
            s = r
        else:
            slope = _f2_mul(_f2_sub(s[1], r[1]), inv)
        x3 = _f2_sub(_f2_sub(_f2_sqr(slope), r[0]), s[0])
        lines[k] = _line(slope, r)
        rs[k] = x3, _f2_sub(_f2_mul(slope, _f2_sub(r[0], x3)), r[1])
    return lines


Lines: TypeAlias = tuple[tuple[Line, ...], ...]

# The Miller loop walks R through [m] Q for the prefixes m of 6u + 2, then adds psi(Q) and
# -psi^2(Q). Its last point, [6u + 2] Q + psi(Q) - psi^2(Q), equals -psi^3(Q) exactly when Q is in
# G2, so the loop doubles as the subgroup test, for the cost of one comparison:
#
#   Q in E'(F_q2) lies in G2  <=>  E(Q) = [6u + 2] Q + psi(Q) - psi^2(Q) + psi^3(Q) = O.
#
# psi (untwist, q-power Frobenius, twist) satisfies psi^2 - t psi + q = 0 with t = q + 1 - r, so
# E = a + b psi for the integers below, and (conjugate of E) o E = [N], N = a^2 + a b t + b^2 q.
# If E(Q) = O then [N] Q = O, so the order of Q divides gcd(N, #E'(F_q2)) = gcd(N, r (2q - r)),
# which is r because gcd(N, 2q - r) = 1 (asserted): Q is in the r-torsion of E'(F_q2), which is G2
# (r^2 does not divide its order). Conversely E is a group endomorphism, so E(G) = O for the
# generator G (asserted after miller_lines) gives E = O on all of G2; and a step of the loop
# degenerates (equal x) for [k] G, k != 0 mod r, only if it does for G, which it does not. py_ecc
# instead would need [r] Q = O, a 254-bit multiplication. (The same kind of test as Dai, Lin, Zhao
# and Zhou, "Fast subgroup membership testings for G1, G2 and GT on pairing-friendly curves", 2022.)
_TRACE = FIELD_MODULUS + 1 - CURVE_ORDER
_E_A = 6 * BN_U + 2 + FIELD_MODULUS - _TRACE * FIELD_MODULUS
_E_B = 1 - _TRACE + _TRACE**2 - FIELD_MODULUS
_E_NORM = _E_A**2 + _E_A * _E_B * _TRACE + _E_B**2 * FIELD_MODULUS
assert _E_NORM % CURVE_ORDER == 0
assert math.gcd(_E_NORM, 2 * FIELD_MODULUS - CURVE_ORDER) == 1


def miller_lines(qs: Sequence[_Affine2]) -> list[Lines | None]:
    """The line functions of the Miller loop of each point of the twist, one group per loop step
    (f is squared before each group but the first and the last); None for a point outside G2.
    The points move in step, so each step costs one F_q2 inversion for all of them."""
    rs = list(qs)
    negs = [_g2_neg(q) for q in qs]
    doubling: list[_Affine2 | None] = [None] * len(qs)
    groups: list[list[tuple[Line, ...]]] = [[] for _ in qs]
    alive: Sequence[int] = range(len(qs))
    for digit in _ATE_NAF[-2::-1]:
        doubled = _advance(rs, alive, doubling)
        if digit:
            added = _advance(rs, list(doubled), qs if digit == 1 else negs)
            for k, line in added.items():
                groups[k].append((doubled[k], line))
            alive = list(added)
        else:
            for k, line in doubled.items():
                groups[k].append((line,))
            alive = list(doubled)
    psi1 = [_psi(q) for q in qs]
    psi2 = [_psi(p) for p in psi1]
    first = _advance(rs, alive, psi1)
    second = _advance(rs, list(first), [_g2_neg(p) for p in psi2])
    out: list[Lines | None] = [None] * len(qs)
    for k, line in second.items():
        if rs[k] == _g2_neg(_psi(psi2[k])):  # E(Q) = O
            groups[k].append((first[k], line))
            out[k] = tuple(groups[k])
    return out


def in_g2(point: G2Point) -> bool:
    """Whether a point of the twist E'(F_q2) lies in G2, the subgroup of order r.

    The same answer as [r] Q == O for every point of the twist (see the argument above
    ``miller_lines``).
    ``point`` must be on the twist (py_ecc ``is_on_curve(point, b2)``).
    """
    p = _g2_from_py_ecc(point)
    return p is None or miller_lines([p])[0] is not None


_G2_GENERATOR: _Affine2 = (
    (
        10857046999023057135944570762232829481370756359578518086990519993285655852781,
        11559732032986387107991004021392285783925812861821192530917403151452391805634,
    ),
    (
        8495653923123431417604973247489272438418190587263600148770280649306958101930,
        4082367875863433681332203403145435568316851327593401208105741076214120093531,
    ),
)
assert miller_lines([_G2_GENERATOR])[0] is not None  # E(G) = O, no step degenerate


def miller_loop(pairs: Sequence[tuple[tuple[int, int], Lines]]) -> Fp12:
    """prod of the Miller loops f_{6u+2,Q}(P) * lines of psi(Q), -psi^2(Q), sharing the squarings.

    Each pair is (P affine in G1, the lines of Q in G2), neither at infinity. Equal to py_ecc's
    ``miller_loop`` up to factors in proper subfields, which the final exponentiation removes.
    """
    f = FP12_ONE
    steps = len(_ATE_NAF)
    for step in range(steps):
        if 0 < step < steps - 1:
            f = _sqr12(f)
        for (xp, yp), lines in pairs:
            for l0, l1, c0, c1 in lines[step]:
                f = _mul12_line(f, yp, -l0 * xp % _q, c0, -l1 * xp % _q, c1)
    return f


# --- py_ecc form <-> affine integers ----------------------------------------------------------


def _g1_from_py_ecc(p: G1Point) -> G1Affine:
    x, y, z = p
    if z == FQ.zero():
        return None
    zi = pow(int(z), -1, _q)
    return int(x) * zi % _q, int(y) * zi % _q


def g1_to_py_ecc(p: G1Affine) -> G1Point:
    """An affine point (None at infinity) as a py_ecc ``optimized_bn128`` point."""
    if p is None:
        return FQ.one(), FQ.one(), FQ.zero()
    return FQ(p[0]), FQ(p[1]), FQ.one()


def _fq2(a: FQ2) -> Fp2:
    return int(a.coeffs[0]), int(a.coeffs[1])


def _g2_from_py_ecc(p: G2Point) -> G2Affine:
    x, y, z = p
    if z == FQ2.zero():
        return None
    zi = _f2_inv(_fq2(z))
    return _f2_mul(_fq2(x), zi), _f2_mul(_fq2(y), zi)


def g2_to_py_ecc(p: G2Affine) -> G2Point:
    """An affine twist point (None at infinity) as a py_ecc ``optimized_bn128`` point."""
    if p is None:
        return FQ2.one(), FQ2.one(), FQ2.zero()
    return FQ2(list(p[0])), FQ2(list(p[1])), FQ2.one()


def pairing(p: G1Point, q: G2Point) -> FQ12:
    """e(P, Q) for P in G1 and Q in G2, equal to py_ecc's ``pairing(Q, P)``; Invalid for a Q
    outside G2."""
    pa, qa = _g1_from_py_ecc(p), _g2_from_py_ecc(q)
    if pa is None or qa is None:
        return FQ12.one()
    lines = miller_lines([qa])[0]
    if lines is None:
        raise Invalid("pairing: Q is not in G2")
    return FQ12(list(final_exponentiation(miller_loop([(pa, lines)]))))
