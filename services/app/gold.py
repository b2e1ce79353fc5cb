"""Hidden gold questions: MMLU questions with known answers (the "gold" split, never used for
calibration or the accuracy bench) that the marketplace mixes into live rounds as ordinary tasks,
so a node's reputation stays anchored in what it can be checked to know.

About one requester task in ``MERIT_GOLD_EVERY`` (chosen by a hash of its id, so a retry decides
the same way) brings a gold task along: same swarm size, no fee, requester ``system:gold``. The
round runs like any other multiple-choice task; at the epoch's close each answer is right when it names the correct
letter (``services.core.letters.answer_letter``), and that tally moves the node's anchor and
score (``services.core.reputation``). Without the MMLU data package (`make node`) none are sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from services.core.errors import ConfigInvalid
from services.core.types import Task

if TYPE_CHECKING:
    from services.nodes.mmlu import Question

log = logging.getLogger(__name__)
GOLD_REQUESTER = "system:gold"


def is_gold(task: Task) -> bool:
    return task.requester == GOLD_REQUESTER


def gold_due(task_id: str, every: int) -> bool:
    """Whether requester task ``task_id`` brings a gold task along (about 1 in ``every``)."""
    if every <= 0:
        return False
    return int.from_bytes(hashlib.sha256(task_id.encode()).digest()[:8], "big") % every == 0


def gold_question(seed: str) -> Question | None:
    """A gold question drawn by ``seed``; None when the MMLU data is not installed."""
    from services.nodes import mmlu

    try:
        pool = mmlu.sample(
            "gold", 1, seed=int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
        )
    except ConfigInvalid:
        log.info("no gold questions: the MMLU data package is not installed")
        return None
    return pool[0]


def gold_answers(prompts: Iterable[str]) -> dict[str, str]:
    """The correct letter of each gold prompt (prompts not in the data are left out)."""
    from services.nodes import mmlu

    wanted = set(prompts)
    if not wanted:
        return {}
    key = mmlu.answer_key()
    return {p: key[p] for p in wanted if p in key}
