"""Hidden gold tasks: questions with known answers that the marketplace mixes into live rounds as
ordinary tasks, so a node's reliability stays anchored in what it can be checked to know.

About one requester task in ``MERIT_GOLD_EVERY`` (chosen by a hash of its id, so a retry decides
the same way) brings a gold task along: same swarm size, no fee, requester ``system:gold``. The
round runs like any other multiple-choice task; at the epoch's close the truth replaces the
posterior for that round when nodes' reliabilities are estimated, and each answer that names the
correct letter moves the node's anchor and score (``services.core.reputation``).

The questions come from a ``QuestionBank`` port. ``MmluBank`` serves the MMLU "gold" and
"calibration" splits of the data package; without it no gold tasks are sent.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from services.core.errors import ConfigInvalid
from services.core.types import KnownQuestion, Task

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


class MmluBank:
    """The ``QuestionBank`` over the MMLU data package's calibration and gold splits."""

    def calibration(self, n: int, *, seed: int) -> list[KnownQuestion]:
        from services.nodes import mmlu

        return [_known(q) for q in mmlu.sample("calibration", n, seed=seed)]

    def gold(self, seed: str) -> KnownQuestion | None:
        from services.nodes import mmlu

        try:
            pool = mmlu.sample(
                "gold", 1, seed=int.from_bytes(hashlib.sha256(seed.encode()).digest()[:4], "big")
            )
        except ConfigInvalid:
            log.info("no gold questions: the MMLU data package is not installed")
            return None
        return _known(pool[0])

    def answers(self, prompts: Iterable[str]) -> dict[str, str]:
        from services.nodes import mmlu

        wanted = set(prompts)
        if not wanted:
            return {}
        key = mmlu.answer_key()
        return {p: key[p] for p in wanted if p in key}


def _known(q: Question) -> KnownQuestion:
    return KnownQuestion(q.text, q.options, q.answer)
