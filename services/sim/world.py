"""Simulated nodes behind the real ports: what the consensus harness puts in place of model servers.

Every question is a four-option multiple-choice question with a known right letter. A node's
``Behaviour`` says how often it answers right and how often, shown a right and a wrong answer, it
prefers the right one. Attackers follow a plan:
- ``RING``: identities of one operator. On the tasks the ring attacks (half of them, agreed out of
  band) each gives a wrong letter of its own (varied, so they never look alike) and, as judges,
  prefers any answer a ring member gave; elsewhere they behave as competent nodes.
- ``RING_GOLD``: the same ring, but it recognises every task whose answer the marketplace knows
  (calibration and gold tasks) and answers and judges those perfectly.
Every draw is a hash of (seed, node, prompt, what is asked), so a node answers one prompt the same
way however often or in whatever order it is asked, and a run is reproducible.
"""

from __future__ import annotations

import hashlib
import random
from dataclasses import dataclass, field
from enum import StrEnum

from services.app.gold import GeneratedBank
from services.app.ports import NodeChoice, NodeReply, NodeVerdict
from services.core import candidates
from services.core.errors import NodeUnreachable
from services.core.questions import Draw
from services.core.types import EpochId, KnownQuestion, Node, Outcome
from services.core.work import SigningDomain, WorkOrder, name_key, seal, text_hash

LETTERS = ("A", "B", "C", "D")
SIM_DOMAIN = SigningDomain(31337, "0x" + "5e" * 20)  # the simulated deployment's signing domain
ATTACKED_SHARE = 0.5  # the share of tasks a ring attacks


class Plan(StrEnum):
    HONEST = "honest"
    RING = "ring"
    RING_GOLD = "ring-gold"


@dataclass(frozen=True)
class Behaviour:
    answer: float  # P(answers right)
    judge: float  # P(prefers the right answer of a right-vs-wrong pair)
    plan: Plan = Plan.HONEST


def _draw(*parts: object) -> random.Random:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


@dataclass
class World:
    """The questions, their answers, what each node is, and what each node has said."""

    seed: int
    behaviours: dict[str, Behaviour] = field(default_factory=dict)
    truth: dict[str, str] = field(default_factory=dict)  # prompt -> right letter
    known: set[str] = field(default_factory=set)  # prompts the marketplace knows the answer of
    said: dict[str, dict[str, str]] = field(default_factory=dict)  # prompt -> node name -> letter
    made: int = 0

    def question(self, *, known: bool = False) -> KnownQuestion:
        """A fresh question (never repeated); ``known``: its answer is the marketplace's."""
        self.made += 1
        rng = _draw(self.seed, "question", self.made)
        right = rng.choice(LETTERS)
        q = KnownQuestion(
            f"Question {self.made} of world {self.seed}: which option is right?",
            tuple(f"option {x}{self.made}" for x in LETTERS),
            right,
        )
        self.truth[q.prompt()] = right
        if known:
            self.known.add(q.prompt())
        return q

    def attacked(self, prompt: str) -> bool:
        return _draw(self.seed, "attack", prompt).random() < ATTACKED_SHARE

    def _colluding(self, name: str, prompt: str) -> bool:
        b = self.behaviours[name]
        if b.plan is Plan.HONEST:
            return False
        if b.plan is Plan.RING_GOLD and prompt in self.known:
            return False
        return self.attacked(prompt)

    def letter(self, name: str, prompt: str) -> str:
        """The letter node ``name`` gives for ``prompt``."""
        right = self.truth[prompt]
        b = self.behaviours[name]
        rng = _draw(self.seed, name, prompt, "answer")
        wrong = [x for x in LETTERS if x != right]
        if b.plan is Plan.RING_GOLD and prompt in self.known:
            out = right
        elif self._colluding(name, prompt):
            out = rng.choice(wrong)
        else:
            out = right if rng.random() < b.answer else rng.choice(wrong)
        self.said.setdefault(prompt, {})[name] = out
        return out

    def verdict(self, name: str, prompt: str, left: str, right: str) -> Outcome:
        """Node ``name``'s verdict on the answers ``left`` and ``right`` (letters)."""
        b = self.behaviours[name]
        truth = self.truth[prompt]
        rng = _draw(self.seed, name, prompt, left, right, "judge")
        if self._colluding(name, prompt):
            ring = {
                x
                for n, x in self.said.get(prompt, {}).items()
                if self.behaviours[n].plan is not Plan.HONEST
            }
            if (left in ring) != (right in ring):
                return Outcome.LEFT if left in ring else Outcome.RIGHT
        if truth not in (left, right):
            return rng.choice((Outcome.LEFT, Outcome.RIGHT))
        accuracy = 1.0 if b.plan is Plan.RING_GOLD and prompt in self.known else b.judge
        good = Outcome.LEFT if left == truth else Outcome.RIGHT
        bad = Outcome.RIGHT if good is Outcome.LEFT else Outcome.LEFT
        return good if rng.random() < accuracy else bad


class SimNodes:
    """The ``NodeGateway`` port over a ``World``: every node answers by letter, and signs what it
    says with its key (``name_key`` of its name: register it with that key's address as signer)."""

    def __init__(self, world: World, domain: SigningDomain = SIM_DOMAIN) -> None:
        self.world = world
        self.domain = domain

    def _key(self, node: Node) -> bytes:
        if node.name not in self.world.behaviours:
            raise NodeUnreachable(f"{node.name} is not in the simulated world")
        return name_key(node.name)

    def choose(
        self, node: Node, prompt: str, letters: tuple[str, ...], order: WorkOrder
    ) -> NodeChoice:
        key = self._key(node)
        pick = self.world.letter(node.name, prompt)
        rest = (1.0 - 0.9) / (len(letters) - 1)
        receipt = seal(key, self.domain, order, prompt.encode(), pick.encode())
        return NodeChoice({x: 0.9 if x == pick else rest for x in letters}, 1, receipt=receipt)

    def answer(self, node: Node, prompt: str, order: WorkOrder) -> NodeReply:
        key = self._key(node)
        said = self.world.letter(node.name, prompt)
        return NodeReply(
            said, 1, receipt=seal(key, self.domain, order, prompt.encode(), said.encode())
        )

    def judge(
        self, node: Node, prompt: str, left: str, right: str, order: WorkOrder
    ) -> NodeVerdict:
        key = self._key(node)
        options = LETTERS
        outcome = self.world.verdict(
            node.name, prompt, candidates.key(left, options), candidates.key(right, options)
        )
        request = "\x1f".join((prompt, left, right)).encode()
        receipt = seal(
            key,
            self.domain,
            order,
            request,
            outcome.value.encode(),
            left=text_hash(left),
            right=text_hash(right),
        )
        return NodeVerdict(outcome, 1, receipt=receipt)


class SimBank:
    """The ``QuestionBank`` port over a ``World``: the product's ``GeneratedBank`` with a secret of
    the world's seed, telling the world each item it hands out (so simulated nodes can answer it,
    and attackers that "recognise" known-answer tasks can)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._bank = GeneratedBank(hashlib.sha256(f"sim-world-{world.seed}".encode()).digest())

    @property
    def requester(self) -> str:
        return self._bank.requester

    def due(self, task_id: str, every: int) -> bool:
        return self._bank.due(task_id, every)

    def delay_s(self, task_id: str) -> float:
        return self._bank.delay_s(task_id)

    def calibration(self, n: int, *, domain: str) -> list[KnownQuestion]:
        out = self._bank.calibration(n, domain=domain)
        for q in out:
            self._know(q)
        return out

    def gold_item(self, set_epoch: EpochId, index: int) -> Draw | None:
        item = self._bank.gold_item(set_epoch, index)
        if item is not None:
            self._know(item.question)
        return item

    def _know(self, q: KnownQuestion) -> None:
        self.world.truth[q.prompt()] = q.answer
        self.world.known.add(q.prompt())
