"""zk.bn254, the own BN254 arithmetic kept for speed (bench/zk_verify.py --epoch), against py_ecc.

Every public function is checked against py_ecc's ``optimized_bn128`` on random inputs: G1
points and scalars (hypothesis), twist points in and outside G2, and pairings (seeded random,
few: a py_ecc pairing takes about a third of a second). tests/unit/test_zk_verifier.py checks the
verifier built on top against snarkjs.
"""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from py_ecc.fields import optimized_bn128_FQ as FQ
from py_ecc.fields import optimized_bn128_FQ2 as FQ2
from py_ecc.fields import optimized_bn128_FQ12 as FQ12
from py_ecc.optimized_bn128 import (
    G1,
    G2,
    Z1,
    Z2,
    add,
    b,
    b2,
    curve_order,
    field_modulus,
    final_exponentiate,
    is_inf,
    is_on_curve,
    multiply,
    neg,
    normalize,
    pairing,
)

from services.core.errors import Invalid
from zk import bn254

Q, R = field_modulus, curve_order
COFACTOR = 2 * Q - R  # #E'(F_q2) = r (2q - r) = r * 10069 * (a 241-bit prime)

Point1 = tuple[FQ, FQ, FQ]
Point2 = tuple[FQ2, FQ2, FQ2]


def affine1(p: Point1) -> bn254.G1Affine:
    if is_inf(p):
        return None
    x, y = normalize(p)
    return int(x), int(y)


def affine2(p: Point2) -> bn254.G2Affine:
    if is_inf(p):
        return None
    x, y = normalize(p)
    return (int(x.coeffs[0]), int(x.coeffs[1])), (int(y.coeffs[0]), int(y.coeffs[1]))


def lines_of(p: Point2) -> bn254.Lines:
    a = affine2(p)
    assert a is not None
    lines = bn254.miller_lines([a])[0]
    assert lines is not None
    return lines


def f2_sqrt(a: FQ2) -> FQ2 | None:
    """A square root in F_q2, q = 3 mod 4 (Adj and Rodriguez-Henriquez, algorithm 9), or None."""
    a1 = a ** ((Q - 3) // 4)
    alpha = a1 * a1 * a
    if alpha ** (Q + 1) == -FQ2.one():  # the norm of a is not a square
        return None
    x0 = a1 * a
    if alpha == -FQ2.one():
        root = FQ2([0, 1]) * x0
    else:
        root = (FQ2.one() + alpha) ** ((Q - 1) // 2) * x0
    return root if root * root == a else None


def twist_point(rng: random.Random) -> Point2:
    """A random point of the twist E'(F_q2): almost surely outside G2 (the cofactor is ~2^254)."""
    while True:
        x = FQ2([rng.randrange(Q), rng.randrange(Q)])
        y = f2_sqrt(x**3 + b2)
        if y is not None:
            point = (x, y, FQ2.one())
            assert is_on_curve(point, b2)
            return point


g1_scalars = st.one_of(
    st.integers(0, R - 1),
    st.integers(0, 2**128),
    st.sampled_from([0, 1, 2, 15, 16, R - 1, R, R + 1]),
)


# --- G1 ---------------------------------------------------------------------------------------


@settings(max_examples=25)
@given(st.lists(st.tuples(st.integers(0, R - 1), g1_scalars), min_size=1, max_size=5))
def test_g1_msm_is_py_ecc_multiply_and_add(terms: list[tuple[int, int]]) -> None:
    points = [multiply(G1, k) for k, _ in terms]
    expected = Z1
    for p, (_, s) in zip(points, terms):
        expected = add(expected, multiply(p, s))
    assert bn254.g1_msm([affine1(p) for p in points], [s for _, s in terms]) == affine1(expected)


def test_g1_msm_handles_infinity_doubling_and_cancelling() -> None:
    p = affine1(multiply(G1, 987654321))
    assert bn254.g1_msm([], []) is None
    assert bn254.g1_msm([None, p], [5, 0]) is None
    assert bn254.g1_msm([p, p], [3, 3]) == affine1(multiply(G1, 987654321 * 6))  # adds P to P
    assert bn254.g1_msm([p, bn254.g1_neg(p)], [7, 7]) is None  # P + (-P)
    assert bn254.g1_msm([p], [R]) is None


@settings(max_examples=20)
@given(st.lists(st.tuples(st.integers(0, R - 1), g1_scalars), min_size=1, max_size=5))
def test_g1_msm_tables_is_py_ecc_multiply_and_add(terms: list[tuple[int, int]]) -> None:
    points = [multiply(G1, k) for k, _ in terms]
    tables = [None if is_inf(p) else bn254.g1_table(affine1(p)) for p in points]  # type: ignore[arg-type]
    expected = Z1
    for p, (_, s) in zip(points, terms):
        expected = add(expected, multiply(p, s))
    assert bn254.g1_msm_tables(tables, [s for _, s in terms]) == affine1(expected)


@settings(max_examples=10)
@given(st.integers(1, R - 1))
def test_g1_table_holds_the_first_fifteen_multiples(k: int) -> None:
    p = multiply(G1, k)
    a = affine1(p)
    assert a is not None
    assert bn254.g1_table(a) == tuple(affine1(multiply(p, d)) for d in range(1, 16))


@settings(max_examples=20)
@given(st.integers(0, R - 1))
def test_g1_neg_and_on_curve_agree_with_py_ecc(k: int) -> None:
    p = multiply(G1, k)
    assert bn254.g1_neg(affine1(p)) == affine1(neg(p))
    a = affine1(p)
    if a is not None:
        assert bn254.g1_on_curve(a) and is_on_curve(p, b)
        off = (FQ(a[0]), FQ(a[1] + 1), FQ.one())
        assert not bn254.g1_on_curve((a[0], (a[1] + 1) % Q)) and not is_on_curve(off, b)


@settings(max_examples=30)
@given(st.integers(0, Q - 1), st.integers(0, Q - 1))
def test_g1_on_curve_agrees_with_py_ecc_on_any_coordinates(x: int, y: int) -> None:
    assert bn254.g1_on_curve((x, y)) == is_on_curve((FQ(x), FQ(y), FQ.one()), b)


def test_g1_conversion_round_trips() -> None:
    p = multiply(G1, 31337)
    assert affine1(bn254.g1_to_py_ecc(affine1(p))) == affine1(p)
    assert is_inf(bn254.g1_to_py_ecc(None))


# --- G2: the twist and the subgroup -----------------------------------------------------------


def test_g2_on_curve_agrees_with_py_ecc() -> None:
    rng = random.Random(254)
    for _ in range(4):
        p = twist_point(rng)
        a = affine2(p)
        assert a is not None and bn254.g2_on_curve(a)
        (x0, x1), (y0, y1) = a
        moved = ((x0, x1), (y0, (y1 + 1) % Q))
        assert not bn254.g2_on_curve(moved)
        assert not is_on_curve((FQ2([x0, x1]), FQ2([y0, y1 + 1]), FQ2.one()), b2)
    for k in (1, rng.randrange(R)):
        a = affine2(multiply(G2, k))
        assert a is not None and bn254.g2_on_curve(a)


def test_in_g2_agrees_with_multiplying_by_r() -> None:
    """py_ecc's test, [r] Q == O, on multiples of the generator, random twist points (outside
    G2), the same with the cofactor cleared (inside), and points of order 10069 and r * 10069."""
    rng = random.Random(2024)
    assert bn254.in_g2(Z2)
    for _ in range(3):
        inside = multiply(G2, rng.randrange(1, R))
        assert is_inf(multiply(inside, R)) and bn254.in_g2(inside)
    for _ in range(3):
        outside = twist_point(rng)
        assert not is_inf(multiply(outside, R))  # on the twist, not in the subgroup
        assert not bn254.in_g2(outside)
        cleared = multiply(outside, COFACTOR)
        assert is_inf(multiply(cleared, R)) and bn254.in_g2(cleared)
    assert COFACTOR % 10069 == 0
    point = twist_point(rng)
    for odd in (multiply(point, R * (COFACTOR // 10069)), multiply(point, COFACTOR // 10069)):
        assert not is_inf(odd) and not is_inf(multiply(odd, R))
        assert not bn254.in_g2(odd)


def test_miller_lines_answer_for_each_point_of_a_batch() -> None:
    rng = random.Random(7)
    points = [multiply(G2, 5), twist_point(rng), multiply(G2, rng.randrange(1, R))]
    lines = bn254.miller_lines([affine2(p) for p in points])  # type: ignore[misc]
    assert [x is not None for x in lines] == [True, False, True]
    assert lines[0] == lines_of(points[0]) and lines[2] == lines_of(points[2])


def test_g2_conversion_round_trips() -> None:
    p = multiply(G2, 4242)
    assert affine2(bn254.g2_to_py_ecc(affine2(p))) == affine2(p)
    assert is_inf(bn254.g2_to_py_ecc(None))


# --- the pairing ------------------------------------------------------------------------------


def test_miller_loop_and_final_exponentiation_are_py_ecc_pairing() -> None:
    """One pair and a product of pairs (shared squarings) against py_ecc's pairing."""
    rng = random.Random(97)
    p1, p2 = multiply(G1, rng.randrange(1, R)), multiply(G1, rng.randrange(1, R))
    q1, q2 = multiply(G2, rng.randrange(1, R)), multiply(G2, rng.randrange(1, R))
    a1, a2 = affine1(p1), affine1(p2)
    assert a1 is not None and a2 is not None
    e11, e22 = pairing(q1, p1), pairing(q2, p2)
    one = bn254.final_exponentiation(bn254.miller_loop([(a1, lines_of(q1))]))
    assert FQ12(list(one)) == e11
    both = bn254.miller_loop([(a1, lines_of(q1)), (a2, lines_of(q2))])
    assert FQ12(list(bn254.final_exponentiation(both))) == e11 * e22
    assert bn254.pairing(p1, q1) == e11


def test_pairing_is_bilinear_and_non_degenerate() -> None:
    rng = random.Random(31)
    x, y = rng.randrange(1, R), rng.randrange(1, R)
    base = bn254.pairing(G1, G2)
    assert base != FQ12.one() and base**R == FQ12.one()
    assert bn254.pairing(multiply(G1, x), multiply(G2, y)) == base ** (x * y % R)
    assert bn254.pairing(Z1, G2) == bn254.pairing(G1, Z2) == FQ12.one()


def test_pairing_refuses_a_twist_point_outside_g2() -> None:
    with pytest.raises(Invalid, match="not in G2"):
        bn254.pairing(G1, twist_point(random.Random(3)))


def test_final_exponentiation_is_py_ecc_on_any_element() -> None:
    """Not only Miller-loop outputs: random elements of F_q12 (the Frobenius tables, the
    inversion and the hard part all enter)."""
    rng = random.Random(12)
    for _ in range(2):
        f = tuple(rng.randrange(Q) for _ in range(12))
        assert FQ12(list(bn254.final_exponentiation(f))) == final_exponentiate(FQ12(list(f)))
    assert bn254.final_exponentiation(bn254.FP12_ONE) == bn254.FP12_ONE
