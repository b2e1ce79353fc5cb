"""The watcher's check (services/app/watch.py) without sockets: a proposal whose rows are what the
bundle's judgments imply passes; a changed reward, payee, total or reputation lane, an edited
allocation, or a bundle nobody can fetch is challenged with evidence naming what differs; a
closed window or someone else's open challenge is reported, not sent."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace

from services.app.bundles import put_bundle
from services.app.epochs import bundle
from services.app.audit import AuditReport
from services.app.watch import ProposedEpoch, WatchState, check_proposal, check_signed_work, watch_once
from services.core import epoch as core_epoch
from services.core.merkle import reputation_words
from services.core.reputation import Reputation
from services.core.types import EpochId, Judgment, NodeId, Outcome, RankEntry, TaskId, Wei
from services.core.work import (
    TASK_ROUND, ZERO, Signed, SigningDomain, Work, WorkKind, address_of, hash_bytes, name_key, sign,
    task_number, text_hash,
)  # fmt: skip
from services.inmemory.content import MemoryContent
from tests.fixtures.signing import TEST_DOMAIN
from zk import encoding
from zk.rows import rows_from_bundle

MRT = 10**18
A, B, OFF = NodeId(1), NodeId(2), NodeId(3)
ACCOUNTS = {A: "0x" + "a1" * 20, B: "0x" + "b2" * 20, OFF: "0x" + "c3" * 20}
CHAIN_IDS = {A: 7, B: 9}  # OFF has no registry node: it is paid off chain
KEYS = {n: name_key(f"watched node {n}") for n in (A, B, OFF)}  # the keys the nodes sign work with
SIGNERS = {n: address_of(k) for n, k in KEYS.items()}


def paid_tasks(a: NodeId, b: NodeId, off: NodeId) -> list[core_epoch.FinishedTask]:
    """Two paid tasks the three nodes answered and judged (a best, then b)."""
    out = []
    for fee in (6 * MRT, 4 * MRT):
        t = TaskId(str(uuid.uuid4()))
        ranking = (RankEntry(a, 0.6, 1), RankEntry(b, 0.3, 2), RankEntry(off, 0.1, 3))
        judgments = (
            Judgment(t, a, b, off, Outcome.LEFT),
            Judgment(t, b, a, off, Outcome.LEFT),
            Judgment(t, off, a, b, Outcome.LEFT),
        )
        out.append(core_epoch.FinishedTask(t, Wei(fee), ranking, {a: "Paris", b: "Lyon", off: "Nice"}, judgments))
    return out


def _signed(key: bytes, domain: SigningDomain, work: Work) -> Signed:
    return Signed(work, sign(key, domain, work), address_of(key))


def signed_work(
    tasks: list[core_epoch.FinishedTask], keys: dict[NodeId, bytes], domain: SigningDomain
) -> tuple[list[core_epoch.FinishedTask], dict[TaskId, dict[NodeId, Signed]]]:
    """``tasks`` with each answer and verdict signed by its node's key, as a round keeps them: the
    verdicts in the tasks, the answers beside them (by task, then node)."""
    out, answers = [], {}
    for t in tasks:
        number, request = task_number(t.task_id), hash_bytes(b"the request")
        answers[t.task_id] = {
            n: _signed(keys[n], domain, Work(WorkKind.ANSWER, number, TASK_ROUND, ZERO, ZERO, request, text_hash(text)))
            for n, text in t.answers.items()
        }
        verdicts = tuple(
            replace(j, signed=_signed(keys[j.judge_id], domain, Work(
                WorkKind.JUDGMENT, number, TASK_ROUND, text_hash(t.answers[j.left_id]),
                text_hash(t.answers[j.right_id]), request, hash_bytes(j.outcome.value.encode()))))
            for j in t.judgments
        )  # fmt: skip
        out.append(replace(t, judgments=verdicts))
    return out, answers


def _doc() -> dict:
    tasks, answers = signed_work(paid_tasks(A, B, OFF), KEYS, TEST_DOMAIN)
    before = {n: Reputation(5000, 5000) for n in (A, B, OFF)}
    result = core_epoch.close(EpochId(1), tasks, before)
    return json.loads(json.dumps(bundle(EpochId(1), tasks, result, {}, None, ACCOUNTS, answers, SIGNERS)))


def _payees() -> dict[int, tuple[int, str]]:
    return {int(n): (cid, ACCOUNTS[n]) for n, cid in CHAIN_IDS.items()}


def _proposal(doc: dict, cid: str = "bafy-bundle", **edit: int) -> ProposedEpoch:
    """What an honest settler proposes for ``doc`` (dummy Groth16 words: the chain checks those);
    ``edit`` adds to the reward of the row of node ``n<id>``."""
    er = rows_from_bundle(doc, _payees())
    rows, pool = list(er.rows), er.pool
    entries = encoding.claim_entries(pool, rows, {})
    chunks = []
    for k in range(encoding.chunk_count(rows)):
        paid = encoding.chain_rows(pool, rows, entries, k)
        paid = [r._replace(reward=r.reward + edit.get(f"n{rows[32 * k + i].node_id}", 0)) for i, r in enumerate(paid)]
        chunks.append(encoding.ProofChunk(1, encoding.chunk_score_sum(rows, k), (0,) * 8, tuple(paid)))
    proof = encoding.encode_proof(pool, encoding.check_rows(pool, rows), encoding.threshold(pool, rows), entries, chunks)
    total = sum(r.reward for c in chunks for r in c.rows if r.payee)
    after = {n["node_id"]: n["reputation_after_bp"] for n in doc["nodes"]}
    first, words = reputation_words({cid_: after[int(n)] for n, cid_ in CHAIN_IDS.items()})
    return ProposedEpoch(1, cid, "0x" + "11" * 32, total, "0x" + "5e" * 20, 10, "0xabc", 1_000,
                         proof, first, tuple(words))  # fmt: skip


def _differs(doc: dict, proposed: ProposedEpoch) -> list[str]:
    return [d.what for d in check_proposal(doc, proposed, _payees()).differences]


def test_an_honest_proposal_passes_every_check() -> None:
    doc = _doc()
    report = check_proposal(doc, _proposal(doc), _payees())
    assert report.passed, report.differences
    assert "row of node 1 reward" in report.checked and "node 2 reputation on chain" in report.checked


def test_a_reward_moved_between_rows_is_found() -> None:
    doc = _doc()
    assert _differs(doc, _proposal(doc, n1=MRT, n2=-MRT)) == ["row of node 1 reward", "row of node 2 reward"]


def test_an_allocation_edited_in_the_bundle_is_found_even_when_the_proof_follows_it() -> None:
    doc = _doc()
    task = doc["tasks"][0]["rewards_wei"]
    task["1"], task["2"] = str(int(task["1"]) + MRT), str(int(task["2"]) - MRT)
    for n in doc["nodes"]:
        n["reward_wei"] = str(int(n["reward_wei"]) + {1: MRT, 2: -MRT}.get(n["node_id"], 0))
    found = _differs(doc, _proposal(doc))  # the settler proves the edited split
    assert f"task {doc['tasks'][0]['task_id'][:8]} allocation" in found
    assert {"node 1 reward", "row of node 1 reward", "row of node 2 reward"} <= set(found)


def test_a_wrong_total_payee_pool_or_reputation_is_found() -> None:
    doc = _doc()
    honest = _proposal(doc)
    assert "proposal total is its paid rows' sum" in _differs(doc, replace(honest, total=honest.total + 1))
    first, words = honest.rep_first_word, list(honest.rep_words)
    words[0] ^= 1 << (16 * (CHAIN_IDS[A] % 16))
    assert _differs(doc, replace(honest, rep_words=tuple(words))) == ["node 1 reputation on chain"]
    assert "row of node 2 payee" in [d.what for d in check_proposal(doc, honest, {1: (7, ACCOUNTS[A]), 2: (9, ACCOUNTS[OFF])}).differences]
    other = json.loads(json.dumps(doc))
    other["emission_wei"] = str(int(other["emission_wei"]) + MRT)
    assert "pool: the tasks' fees plus the emission" in _differs(other, honest)


@dataclass
class FakeChain:
    """A chain with one proposal, its window and challenges kept in memory."""

    proposals_: list[ProposedEpoch]
    now_: int = 1_010
    ends_at: int = 1_060
    open_by: str | None = None
    sent: list[tuple[int, str]] = field(default_factory=list)
    pool_: int = 10 * MRT  # what the epoch's pool holds on chain
    metadata: dict[int, str] = field(default_factory=dict)  # registry node -> its metadata CID

    def pool_of(self, epoch: int) -> int:
        return self.pool_

    def head(self) -> int:
        return 20

    def proposals(self, from_block: int, to_block: int) -> list[ProposedEpoch]:
        return [p for p in self.proposals_ if from_block <= p.block_number <= to_block]

    def pending_since(self, epoch: int) -> int | None:
        return 1_000

    def challenge_ends_at(self, epoch: int) -> int | None:
        return self.ends_at

    def now(self) -> int:
        return self.now_

    def open_challenger(self, epoch: int) -> str | None:
        return self.open_by

    def chain_node_id(self, account: str, block: int) -> int | None:
        return {a.lower(): CHAIN_IDS.get(n) for n, a in ACCOUNTS.items()}.get(account.lower())

    def metadata_cid(self, chain_node_id: int, block: int) -> str | None:
        return self.metadata.get(chain_node_id)

    def signing_domain(self) -> SigningDomain:
        return TEST_DOMAIN

    def challenge(self, epoch: int, evidence_cid: str) -> str:
        self.sent.append((epoch, evidence_cid))
        return "0xc4a11e96e"


def _registered(content: MemoryContent, signers: dict[NodeId, str] = SIGNERS) -> dict[int, str]:
    """Each registry node's metadata document (its operator and signing key) in ``content``; the
    CID the registry holds for it."""
    return {
        cid: content.put(json.dumps({"version": 1, "model": "m", "endpoint": f"https://n{n}.example/v1",
                                     "operator": ACCOUNTS[n], "signer": signers[n]}).encode())
        for n, cid in CHAIN_IDS.items()
    }  # fmt: skip


def _chain(content: MemoryContent, proposals: list[ProposedEpoch], **kw) -> FakeChain:
    return FakeChain(proposals, metadata=_registered(content), **kw)


def _watch(tmp_path, doc: dict, **edit: int) -> tuple[FakeChain, MemoryContent, list]:
    content = MemoryContent()
    proposed = _proposal(doc, put_bundle(content, doc), **edit)
    chain = _chain(content, [proposed])
    return chain, content, watch_once(chain, content, WatchState.load(tmp_path / "state.json"))


def test_the_watcher_passes_an_honest_epoch_and_keeps_its_cursor(tmp_path) -> None:
    chain, content, verdicts = _watch(tmp_path, _doc())
    assert [v.line() for v in verdicts] == ["epoch 1 PASS"] and chain.sent == []
    state = WatchState.load(tmp_path / "state.json")
    assert state.next_block == 21 and watch_once(chain, content, state) == []


def test_the_watcher_challenges_a_false_epoch_with_its_evidence(tmp_path) -> None:
    chain, content, (verdict,) = _watch(tmp_path, _doc(), n1=1, n2=-1)
    assert chain.sent == [(1, verdict.evidence_cid)] and verdict.status == "CHALLENGED"
    evidence = json.loads(content.get(verdict.evidence_cid or ""))
    assert evidence["format"] == "merit-challenge-evidence/1" and evidence["epoch"] == 1
    assert [d["what"] for d in evidence["differences"]] == ["row of node 1 reward", "row of node 2 reward"]


def test_an_unavailable_bundle_is_challenged(tmp_path) -> None:
    doc = _doc()
    chain = FakeChain([_proposal(doc, "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")])
    (verdict,) = watch_once(chain, MemoryContent(), WatchState.load(tmp_path / "s.json"))
    assert verdict.status == "CHALLENGED" and len(chain.sent) == 1


def test_a_closed_window_or_an_open_challenge_is_reported_not_sent(tmp_path) -> None:
    doc = _doc()
    for late in ({"now_": 1_060}, {"open_by": "0x" + "99" * 20}):
        content = MemoryContent()
        chain = _chain(content, [_proposal(doc, put_bundle(content, doc), n1=1, n2=-1)], **late)
        (verdict,) = watch_once(chain, content, WatchState.load(tmp_path / f"{late}.json"))
        assert verdict.status == "FAILED" and verdict.evidence_cid and chain.sent == []


def _with_fees(doc: dict, **changes) -> dict:
    """``doc`` with the fees section a close writes: both tasks' fees moved into epoch 1's pool."""
    paid = dict(doc)
    paid["minted_wei"] = "0"
    paid["fees_unpooled"] = []
    paid["fees_moved"] = [
        {"task_id": t["task_id"], "payer": "0x" + "a1" * 20, "fee_wei": t["fee_wei"], "task_epoch": 1}
        for t in doc["tasks"]
    ]
    paid.update(changes)
    return paid


def test_fees_the_bundle_pools_must_be_held_on_chain_or_the_epoch_is_challenged(tmp_path) -> None:
    doc = _with_fees(_doc())
    content = MemoryContent()
    honest = _chain(content, [_proposal(doc, put_bundle(content, doc))])
    assert [v.status for v in watch_once(honest, content, WatchState.load(tmp_path / "a.json"))] == ["PASS"]

    # the bundle says 10 MRT of fees moved; the chain's pool holds 4: the rest would be minted
    short = _chain(content, [_proposal(doc, put_bundle(content, doc))], pool_=4 * MRT)
    (verdict,) = watch_once(short, content, WatchState.load(tmp_path / "b.json"))
    assert verdict.status == "CHALLENGED"
    assert [d.what for d in verdict.differences] == ["the fees the bundle pools are held in the epoch's pool on chain"]


def test_a_task_fee_that_did_not_move_weighs_nothing_in_the_audit() -> None:
    doc = _with_fees(_doc())
    unpaid = dict(doc, fees_moved=doc["fees_moved"][1:])  # the first task's fee never moved
    found = _differs(unpaid, _proposal(doc))
    assert f"task {doc['tasks'][0]['task_id'][:8]} fee is the fee moved into this pool" in found
    assert "pool: the fees moved from the escrow plus the emission minted" in found


def test_the_watcher_recovers_every_signature_to_the_key_the_registry_metadata_names(tmp_path) -> None:
    """Work the nodes did not sign cannot be paid: a verdict under a forged signature, or a bundle
    that names a key of the settler's own for a node (and signs the node's work with it), is
    challenged; a node whose metadata cannot be read cannot be vouched for either."""
    doc = _doc()
    content = MemoryContent()
    honest = _chain(content, [_proposal(doc, put_bundle(content, doc))])
    state = WatchState.load(tmp_path / "honest.json")
    assert [v.status for v in watch_once(honest, content, state)] == ["PASS"]
    report = AuditReport(1, None)
    check_signed_work(honest, content, doc, _payees(), 10, report)
    assert report.passed and len(report.checked) > 20  # 2 keys against metadata, 6 answers and 6 verdicts

    forged = json.loads(json.dumps(doc))
    verdict = forged["tasks"][0]["judgments"][0]
    work = Work.from_fields(verdict["signed"])
    verdict["signed"]["signature"] = "0x" + sign(name_key("the settler"), TEST_DOMAIN, work).hex()
    chain = _chain(content, [_proposal(forged, put_bundle(content, forged))])
    (v,) = watch_once(chain, content, WatchState.load(tmp_path / "forged.json"))
    judge = verdict["judge_id"]
    assert v.status == "CHALLENGED" and [d.what for d in v.differences] == [
        f"task {forged['tasks'][0]['task_id'][:8]} verdict of node {judge} on ({verdict['left_id']}, "
        f"{verdict['right_id']}) signature recovers to the node's registered signer",
        f"task {forged['tasks'][0]['task_id'][:8]} verdict of node {judge} on ({verdict['left_id']}, "
        f"{verdict['right_id']}) names the signer its signature recovers to",
    ]

    # the settler names its own key for node A and signs A's work with it: consistent in itself
    keys = {**KEYS, A: name_key("the settler")}
    tasks, answers = signed_work(paid_tasks(A, B, OFF), keys, TEST_DOMAIN)
    result = core_epoch.close(EpochId(1), tasks, {n: Reputation(5000, 5000) for n in (A, B, OFF)})
    swapped = json.loads(json.dumps(bundle(EpochId(1), tasks, result, {}, None, ACCOUNTS, answers,
                                           {n: address_of(k) for n, k in keys.items()})))  # fmt: skip
    chain = _chain(content, [_proposal(swapped, put_bundle(content, swapped))])
    (v,) = watch_once(chain, content, WatchState.load(tmp_path / "swapped.json"))
    assert v.status == "CHALLENGED"
    assert [d.what for d in v.differences] == ["node 1 signs with the key its registry metadata names"]

    gone = FakeChain([_proposal(doc, put_bundle(content, doc))], metadata={7: "bafkreinotstoredanywhere"})
    (v,) = watch_once(gone, content, WatchState.load(tmp_path / "gone.json"))
    assert v.status == "CHALLENGED" and {d.what for d in v.differences} == {
        "node 1 signs with the key its registry metadata names",  # unavailable
        "node 2 signs with the key its registry metadata names",  # no registry node 9 at the block
    }
