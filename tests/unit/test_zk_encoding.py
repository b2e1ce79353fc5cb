"""zk/encoding: the circuit's split is the protocol's apportion, the chunk inputs and public
signals fit together, and the proof argument decodes to what the contract reads (no socket; the
contract side of challenge and evaluation is checked on anvil in
tests/contracts/test_epoch_rewards_verifier.py)."""

from __future__ import annotations

from eth_abi.abi import decode
from eth_utils.crypto import keccak
from hypothesis import given
from hypothesis import strategies as st
from py_ecc.bn128 import curve_order

from services.core.errors import Invalid
from services.core.rewards import apportion
from services.core.types import NodeId
from zk import encoding as zk
from zk.encoding import Entry, ProofChunk, Row

DOMAIN = zk.Domain(31337, "0x" + "5e" * 20)

ACCOUNT = "0x" + "ab" * 20


@st.composite
def epochs(draw: st.DrawFn, max_rows: int = 80) -> tuple[int, list[Row]]:
    """A pool and rows in node id order (eligible only with a positive score), some paid on
    chain."""
    ids = sorted(draw(st.sets(st.integers(1, 2**64 - 1), min_size=1, max_size=max_rows)))
    small = draw(st.booleans())  # small numbers make ties and zero remainders likely
    top = 20 if small else 2**96 - 1
    rows = []
    for i, node_id in enumerate(ids):
        score = draw(st.integers(0, top))
        eligible = score > 0 and draw(st.booleans())
        paid = draw(st.booleans())
        rows.append(
            Row(node_id, eligible, score, i + 1 if paid else None, ACCOUNT if paid else None)
        )
    if sum(r.score for r in rows) == 0:
        rows[0] = rows[0]._replace(score=1)
    pool = draw(st.integers(0, 1000 if small else 2**96 - 1))
    return pool, rows


@given(epochs())
def test_the_circuit_split_is_apportion_with_ineligible_rows_rounded_down(
    epoch: tuple[int, list[Row]],
) -> None:
    pool, rows = epoch
    expected = apportion(
        pool,
        {NodeId(r.node_id): r.score for r in rows},
        round_down=[NodeId(r.node_id) for r in rows if not r.eligible],
    )
    got = zk.rewards(pool, rows)
    assert got == [expected[NodeId(r.node_id)] for r in rows]
    assert sum(got) == pool


@given(epochs())
def test_the_threshold_gives_exactly_the_leftover_units(epoch: tuple[int, list[Row]]) -> None:
    pool, rows = epoch
    total = sum(r.score for r in rows)
    cut = zk.threshold(pool, rows)
    left = pool - sum(pool * r.score // total for r in rows)
    keys = [zk.key(g, r.eligible, pool * r.score % total) for g, r in enumerate(rows)]
    assert sum(k >= cut for k in keys) == left
    assert cut < 2**162
    if left == 0:
        assert cut == zk.NO_THRESHOLD
    else:
        assert cut in keys and cut >= 2**32  # never a padding row's key


@given(epochs(), st.integers(0, 2**64 - 1), st.integers(1, zk.R - 1))
def test_chunks_add_up_and_signals_follow_the_inputs(
    epoch: tuple[int, list[Row]], number: int, commitment: int
) -> None:
    pool, rows = epoch
    total = sum(r.score for r in rows)
    chunks = zk.chunk_count(rows)
    assert sum(zk.chunk_score_sum(rows, k) for k in range(chunks)) == total
    pairs = [p for k in range(chunks) for p in zk.payees_rewards(pool, rows, k)]
    assert sum(w for _, w in pairs) == pool
    assert sum(w for p, w in pairs if p) == zk.paid_total(pool, rows)
    k = chunks - 1
    first = zk.chunk_inputs(number, k, pool, rows)
    c, final = zk.bind(DOMAIN, number, k, pool, rows, commitment)
    assert first["challenge"] == "0" and final["challenge"] == str(c)
    assert {**first, "challenge": str(c)} == final  # only the challenge changes
    for column in ("nodeId", "eligible", "score", "payee"):
        assert len(final[column]) == zk.CHUNK
    assert final["totalScore"] == str(total) and final["threshold"] == str(zk.threshold(pool, rows))
    signals = zk.public_signals(DOMAIN, number, k, pool, rows, commitment)
    assert signals == [
        commitment,
        zk.chunk_score_sum(rows, k),
        zk.rewards_eval(c, zk.payees_rewards(pool, rows, k)),
        number,
        k,
        pool,
        total,
        zk.threshold(pool, rows),
        c,
    ]
    assert all(0 <= s < zk.R for s in signals)


@given(
    st.integers(0, zk.R - 1),
    st.lists(st.tuples(st.integers(0, 2**224 - 1), st.integers(0, 2**128 - 1)), max_size=32),
)
def test_the_evaluation_is_the_polynomial(c: int, pairs: list[tuple[int, int]]) -> None:
    naive = sum(
        p * pow(c, 2 * i, zk.R) + w * pow(c, 2 * i + 1, zk.R) for i, (p, w) in enumerate(pairs)
    )
    assert zk.rewards_eval(c, pairs) == naive % zk.R


def test_the_challenge_hashes_32_byte_words_and_reduces_mod_r() -> None:
    assert zk.R == curve_order  # BN254's scalar field, the circuit's
    words = [31337, int(DOMAIN.settlement, 16), 3, 1, 10, 7, zk.NO_THRESHOLD, 12345, 7,
             zk.payee(2, ACCOUNT), 6, 0, 4]  # fmt: skip
    digest = keccak(b"".join(w.to_bytes(32, "big") for w in words))
    assert zk.challenge(DOMAIN, 3, 1, 10, 7, zk.NO_THRESHOLD, 12345, 7, [(words[9], 6), (0, 4)]) == (
        int.from_bytes(digest, "big") % zk.R
    )
    assert zk.payee(2, ACCOUNT) == (2 << 160) + int(ACCOUNT, 16)
    assert zk.payee(None, None) == 0


def test_a_changed_row_changes_the_challenge() -> None:
    rows = [Row(1, True, 5, 1, ACCOUNT), Row(2, True, 3)]
    base = zk.chunk_challenge(DOMAIN, 1, 0, 100, rows, 42)
    assert zk.chunk_challenge(DOMAIN, 1, 0, 100, [rows[0], rows[1]._replace(score=4)], 42) != base
    assert zk.chunk_challenge(DOMAIN, 1, 0, 100, [rows[0]._replace(payee_chain_id=2), rows[1]], 42) != base
    assert zk.chunk_challenge(DOMAIN, 2, 0, 100, rows, 42) != base
    assert zk.chunk_challenge(DOMAIN, 1, 0, 100, rows, 43) != base
    # bound to one deployment: another chain, or another settlement contract, draws another c
    assert zk.chunk_challenge(DOMAIN._replace(chain_id=1), 1, 0, 100, rows, 42) != base
    assert zk.chunk_challenge(DOMAIN._replace(settlement="0x" + "ab" * 20), 1, 0, 100, rows, 42) != base


def test_the_proof_argument_decodes_to_what_the_contract_reads() -> None:
    rows = [Row(i, True, i, i if i % 2 else None, ACCOUNT if i % 2 else None) for i in range(1, 40)]
    pool = 10**18
    entries = zk.claim_entries(pool, rows, {1: (ACCOUNT, 5), 100: (ACCOUNT, 9)})
    assert [e.chain_node_id for e in entries] == sorted(
        {1, 100} | {i for i in range(1, 40) if i % 2}
    )
    assert entries[0] == Entry(1, ACCOUNT, 5) and entries[-1] == Entry(100, ACCOUNT, 9)
    chunks = [
        ProofChunk(
            7 + k,
            zk.chunk_score_sum(rows, k),
            tuple(range(8)),
            tuple(zk.chain_rows(pool, rows, entries, k)),
        )
        for k in range(zk.chunk_count(rows))
    ]
    total = sum(r.score for r in rows)
    data = zk.encode_proof(pool, total, zk.threshold(pool, rows), entries, chunks)
    head = [int.from_bytes(data[32 * i : 32 * i + 32], "big") for i in range(5)]
    assert head[:3] == [pool, total, zk.threshold(pool, rows)]  # the tuple itself, no offset
    got_pool, _, _, got_entries, got_chunks = decode(list(zk.PROOF_TYPES), data)
    assert got_pool == pool and len(got_entries) == len(entries) and len(got_chunks) == 2
    assert [len(c[3]) for c in got_chunks] == [32, 7]
    for k, chunk in enumerate(got_chunks):
        for (payee, reward, entry), (p, w) in zip(
            chunk[3], zk.payees_rewards(pool, rows, k), strict=True
        ):
            assert (payee, reward) == (p, w)
            if payee:
                e = entries[entry]
                assert payee == zk.payee(e.chain_node_id, e.account)


def test_rows_the_circuit_cannot_prove_are_refused() -> None:
    for pool, rows in [
        (2**96, [Row(1, True, 1)]),
        (1, [Row(2, True, 1), Row(1, True, 1)]),  # not in node id order
        (1, [Row(1, True, 1), Row(1, True, 1)]),
        (1, [Row(1, True, 0), Row(2, False, 3)]),  # eligible with no score
        (1, [Row(1, False, 0)]),  # total score 0
        (1, [Row(1, True, 2**96)]),
        (1, [Row(1, True, 1, 3, None)]),
        (1, []),
    ]:
        try:
            zk.rewards(pool, rows)
        except Invalid:
            continue
        raise AssertionError(f"accepted {pool} {rows}")


def test_a_payee_without_reward_or_earlier_leaf_has_no_entry() -> None:
    rows = [Row(1, True, 1, 1, ACCOUNT), Row(2, False, 0, 2, ACCOUNT)]
    try:
        zk.claim_entries(1, rows, {})
    except Invalid as exc:
        assert "no reward and no earlier leaf" in exc.detail
    else:
        raise AssertionError("an empty entry was planned")
    assert zk.claim_entries(1, rows, {2: (ACCOUNT, 4)}) == [
        Entry(1, ACCOUNT, 0),
        Entry(2, ACCOUNT, 4),
    ]
