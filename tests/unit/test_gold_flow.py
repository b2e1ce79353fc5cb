"""Hidden gold in the product's path: drawn from a secret, committed before the epoch, carried by
tasks that look like any other, revealed at the close and checked by the audit."""

import json
import random
import uuid

import pytest
from scipy.stats import ks_2samp

from services.api.schemas import TaskOut
from services.app import rounds, tasks
from services.app.audit import audit_epoch
from services.app.bundles import encode, load_bundle
from services.app.epochs import close_epoch
from services.app.gold import GOLD_SET_SIZE, GeneratedBank, commit_gold_set, ensure_gold_set, mix_in_gold
from services.core.errors import ConfigInvalid
from services.core.questions import Generator
from services.core.types import NewNode, NodeKind, NodeStatus, Wei
from services.inmemory import MemoryContent, MemoryStore
from services.inmemory.escrow import MemoryEscrow
from services.sim.harness import ListQueue, PayingRequester, sim_node
from services.sim.world import Behaviour, SimBank, SimNodes, World

SECRET = bytes(range(32))


class FakeChain:
    """The gold commitments a chain would hold: one per epoch, never replaced."""

    chain_id = 31337

    def __init__(self) -> None:
        self.roots: dict[int, tuple[bytes, int]] = {}

    def commit_gold(self, intent_key: str, epoch: int, root: bytes) -> str:
        assert epoch not in self.roots
        self.roots[epoch] = (root, 0)
        return "0x" + "ab" * 32

    def gold_commitment(self, epoch: int) -> tuple[bytes, int] | None:
        return self.roots.get(epoch)


def _swarm(seed: int = 1):
    world = World(seed)
    ids = random.Random(seed)
    store = MemoryStore(new_id=lambda: uuid.UUID(int=ids.getrandbits(128), version=4))
    for i in range(5):
        name = f"node-{i}"
        world.behaviours[name] = Behaviour(0.7, 0.8)
        node = store.nodes.add(sim_node(name, 10))
        store.nodes.set_status(node.id, NodeStatus.ACTIVE)
    return world, store, SimNodes(world), SimBank(world)


def _submit(store, queue, bank, world, n, every):
    requester = PayingRequester(store, queue, ESCROW.setdefault(id(store), MemoryEscrow()))
    for _ in range(n):
        q = world.question()
        requester.submit(prompt=q.text, requester="key:requester00001", fee_wei=7 * 10**15,
                         swarm_size=4, options=list(q.options), gold_every=every, bank=bank)  # fmt: skip
    queue.make_gold(store, bank)  # what the worker does once each delay has passed


ESCROW: dict[int, MemoryEscrow] = {}  # each test store's escrow


def test_gold_is_committed_before_any_task_and_revealed_and_audited_at_the_close():
    world, store, nodes, bank = _swarm()
    chain = FakeChain()
    assert commit_gold_set(store, chain, bank) is not None  # the open epoch's set, on chain first
    assert commit_gold_set(store, chain, bank) is None  # once
    queue = ListQueue()
    _submit(store, queue, bank, world, 12, every=2)
    gold = store.gold.for_tasks(queue.queued)
    assert 2 <= len(gold) <= 12
    for task_id in queue.queued:
        rounds.run_round(store, nodes, task_id, min_answers=3)
    content = MemoryContent()
    closed = close_epoch(store, content, bank=bank, escrow=ESCROW[id(store)])
    # the gold tasks' declared fees are not pooled: the pool is the requester fees alone
    assert closed.result.pool == 7 * 10**15 * (len(queue.queued) - len(gold))
    doc = load_bundle(content, closed.epoch.audit_cid)
    revealed = [t["gold"] for t in doc["tasks"] if t["gold"]]
    assert len(revealed) == len(gold)
    assert all(g["root"] == chain.roots[1][0].hex() and g["salt"] for g in revealed)
    report = audit_epoch(store, content, closed.epoch.id, gold_roots=chain.gold_commitment)
    assert report.passed, report.differences
    assert sum(" gold item " in c for c in report.checked) >= 5 * len(gold)


class Tampered:
    """A content store through which the close publishes a bundle that reveals a different gold
    item than the one it used: each chunk of tasks has its first gold item edited before it is
    stored, so every CID matches its bytes and only the audit's recomputation can tell."""

    def __init__(self, inner: MemoryContent, edit) -> None:
        self.inner, self.edit = inner, edit

    def get(self, cid: str) -> bytes:
        return self.inner.get(cid)

    def put(self, data: bytes) -> str:
        items = json.loads(data)
        tasks = items if isinstance(items, list) and all(isinstance(t, dict) and "gold" in t for t in items) else []
        golds = [t["gold"] for t in tasks if t["gold"]]
        if golds:
            self.edit(golds[0])
            data = encode(items)
        return self.inner.put(data)

    def has(self, cid: str) -> bool:
        return self.inner.has(cid)


@pytest.mark.parametrize(
    "edit",
    [
        lambda g: g.update(answer="A" if g["answer"] != "A" else "B"),  # another answer
        lambda g: g.update(text=g["text"] + " "),  # another question
        lambda g: g.update(salt="00" * 32),  # another salt
    ],
)
def test_a_bundle_that_reveals_a_different_gold_set_fails_the_audit(edit):
    world, store, nodes, bank = _swarm(2)
    chain = FakeChain()
    commit_gold_set(store, chain, bank)
    queue = ListQueue()
    _submit(store, queue, bank, world, 6, every=1)
    for task_id in queue.queued:
        rounds.run_round(store, nodes, task_id, min_answers=3)
    content = MemoryContent()
    closed = close_epoch(store, Tampered(content, edit), bank=bank, escrow=ESCROW[id(store)])
    report = audit_epoch(store, content, closed.epoch.id, gold_roots=chain.gold_commitment)
    assert not report.passed
    assert any("gold item" in d.what for d in report.differences)


def test_a_changed_secret_cannot_reveal_the_committed_set():
    world, store, nodes, bank = _swarm(3)
    commit_gold_set(store, FakeChain(), bank)
    queue = ListQueue()
    _submit(store, queue, bank, world, 4, every=1)
    for task_id in queue.queued:
        rounds.run_round(store, nodes, task_id, min_answers=3)
    with pytest.raises(ConfigInvalid, match="root"):
        close_epoch(
            store, MemoryContent(), bank=GeneratedBank(b"another secret, 32 bytes long!!"), escrow=ESCROW[id(store)]
        )


def test_gold_tasks_look_like_requester_tasks_in_every_field_a_node_or_requester_sees():
    """Requester tasks here are drawn from the same generator (another domain), so that prompt
    style is not what tells them apart; every other field is the marketplace's to make alike."""
    store = MemoryStore()
    bank = GeneratedBank(SECRET)
    for i in range(4):
        node = store.nodes.add(sim_node(f"n{i}", 1))
        store.nodes.set_status(node.id, NodeStatus.ACTIVE)
    queue = ListQueue()
    requester = PayingRequester(store, queue)
    requesters = Generator(b"requesters' own questions, 32 b")
    for i in range(300):
        q = requesters.draw(i, domain="requester").question
        requester.submit(prompt=q.text, requester=f"key:{i % 7:016x}", fee_wei=10**16,
                         swarm_size=4, options=list(q.options), gold_every=3, bank=bank)  # fmt: skip
    asked = list(queue.gold)
    queue.make_gold(store, bank)
    gold = store.gold.for_tasks(queue.queued)
    assert len(gold) == min(len(asked), GOLD_SET_SIZE) and 60 <= len(asked) <= 140
    views = {t: TaskOut.from_view(tasks.view_task(store, t)).model_dump(mode="json") for t in queue.queued}
    stored = {t: store.tasks.get(t) for t in queue.queued}
    paid = [t for t in queue.queued if t not in gold]
    hidden = list(gold)
    for field in ("fee_wei", "swarm_size", "status", "error", "answer", "method", "separated"):
        assert {views[t][field] for t in hidden} <= {views[t][field] for t in paid}, field
    assert {len(views[t]["options"]) for t in hidden} <= {len(views[t]["options"]) for t in paid}
    assert {tuple(views[t]) for t in hidden} == {tuple(views[t]) for t in paid}  # the same keys
    lengths = ks_2samp([len(views[t]["prompt"]) for t in hidden], [len(views[t]["prompt"]) for t in paid])
    assert lengths.pvalue > 0.01
    shape = {len(stored[t].requester) for t in queue.queued}
    assert shape == {len("key:") + 16} and all(stored[t].requester.startswith("key:") for t in hidden)
    assert "gold" not in json.dumps([views[t] for t in hidden]).lower()


def test_a_set_is_drawn_once_per_epoch_and_never_repeats_an_item():
    store = MemoryStore()
    bank = GeneratedBank(SECRET)
    first = ensure_gold_set(store, bank)
    assert ensure_gold_set(store, bank) == first
    items = [bank.gold_item(first.epoch_id, i) for i in range(GOLD_SET_SIZE)]
    later = [bank.gold_item(first.epoch_id + 1, i) for i in range(GOLD_SET_SIZE)]
    prompts = {i.question.prompt() for i in items + later}
    assert len(prompts) == 2 * GOLD_SET_SIZE


def test_a_gold_task_comes_a_random_while_later_and_once():
    world, store, nodes, bank = _swarm(4)
    queue = ListQueue()
    tasks.submit_task(store, queue, prompt="What is 2+2?", requester="key:requester00001",
                      fee_wei=0, swarm_size=4, gold_every=1, bank=bank)  # fmt: skip
    (beside,) = queue.gold
    assert store.gold.beside(beside) is None  # nothing made at submission
    delays = [bank.delay_s(f"task-{i}") for i in range(2000)]
    assert 0 <= min(delays) < 1 and 29 < max(delays) < 30
    assert bank.delay_s("task-1") == bank.delay_s("task-1")
    first = mix_in_gold(store, queue, store.tasks.get(beside), bank)
    again = mix_in_gold(store, queue, store.tasks.get(beside), bank)  # a redelivered job
    assert first is not None and again == first and len(store.gold.for_tasks(queue.queued)) == 1


def test_calibration_is_fresh_per_node_and_attempt_and_rate_limited():
    from datetime import timedelta

    from services.app.calibration import COOLDOWN, FREE_ATTEMPTS, CalibrationTooSoon, calibrate_node

    world, store, nodes, bank = _swarm(5)
    asked: list[set[str]] = []
    real = bank.calibration

    def spy(n, *, domain):
        out = real(n, domain=domain)
        asked.append({q.prompt() for q in out})
        return out

    bank.calibration = spy  # type: ignore[method-assign]
    a, b = store.nodes.list()[:2]
    for _ in range(FREE_ATTEMPTS):
        result = calibrate_node(store, nodes, a.id, bank=bank, questions=20)
        assert result.passed  # a 0.7 node beats chance on 20 four-option questions
    calibrate_node(store, nodes, b.id, bank=bank, questions=20)
    assert all(not (x & y) for i, x in enumerate(asked) for y in asked[i + 1 :])  # never the same
    with pytest.raises(CalibrationTooSoon, match="tried calibration 3 times") as refused:
        calibrate_node(store, nodes, a.id, bank=bank, questions=20)
    assert "try again after" in (refused.value.hint or "")
    later = store.nodes.get(a.id).last_calibration_at + COOLDOWN + timedelta(seconds=1)
    assert calibrate_node(store, nodes, a.id, bank=bank, questions=20, now=later).asked == 20
