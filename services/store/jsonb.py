"""What the jsonb columns hold: a value as JSON text, and the shapes of a round's columns (pairs,
seats, candidates, ranking, weights) written and read back.

One encoding for both stores: PostgreSQL keeps this text (``session.to_jsonb``), the in-memory
store parses it back, so each gives back the same values (bytes as 0x-hex, mapping keys as
strings) and refuses the same ones (NaN, infinities, objects). Nothing of psycopg is imported here.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from services.core.errors import Invalid
from services.core.types import Candidate, NodeId, PairAssignment, RankEntry


def _json_default(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return "0x" + bytes(value).hex()  # HexBytes in web3 receipts
    if isinstance(value, Mapping):
        return dict(value)  # web3's AttributeDict
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def dumps(value: Any) -> str:
    """``value`` as the text of a jsonb column; Invalid for what JSON cannot hold (NaN, objects)."""
    try:
        return json.dumps(value, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise Invalid(f"cannot store as JSON: {exc}") from exc


# ---------------------------------------------------------------- a round's columns
def pairs_json(pairs: Sequence[PairAssignment]) -> list[dict[str, int]]:
    return [
        {"judge_id": int(p.judge_id), "left_id": int(p.left_id), "right_id": int(p.right_id)}
        for p in pairs
    ]


def pairs_of(stored: Iterable[Mapping[str, Any]]) -> tuple[PairAssignment, ...]:
    return tuple(
        PairAssignment(NodeId(p["judge_id"]), NodeId(p["left_id"]), NodeId(p["right_id"]))
        for p in stored
    )


def seats_json(seats: Mapping[NodeId, int] | None) -> dict[str, int] | None:
    return None if seats is None else {str(k): int(v) for k, v in seats.items()}


def seats_of(stored: Mapping[str, Any] | None) -> dict[NodeId, int] | None:
    return None if stored is None else {NodeId(int(k)): int(v) for k, v in stored.items()}


def candidates_json(candidates: Sequence[Candidate]) -> list[dict[str, Any]]:
    return [{"id": int(c.id), "supporters": [int(n) for n in c.supporters]} for c in candidates]


def candidates_of(stored: Iterable[Mapping[str, Any]]) -> tuple[Candidate, ...]:
    return tuple(
        Candidate(NodeId(c["id"]), tuple(NodeId(n) for n in c["supporters"])) for c in stored
    )


def ranking_json(ranking: Sequence[RankEntry]) -> list[dict[str, Any]]:
    return [
        {
            "node_id": int(e.node_id),
            "score": float(e.score),
            "rank": int(e.rank),
            "lower": e.lower,
            "upper": e.upper,
        }
        for e in ranking
    ]


def ranking_of(stored: Iterable[Mapping[str, Any]]) -> tuple[RankEntry, ...]:
    return tuple(
        RankEntry(
            NodeId(e["node_id"]), float(e["score"]), int(e["rank"]), e.get("lower"), e.get("upper")
        )
        for e in stored
    )


def weights_json(weights: Mapping[NodeId, tuple[int, int]] | None) -> dict[str, list[int]] | None:
    return None if weights is None else {str(k): [int(a), int(b)] for k, (a, b) in weights.items()}


def weights_of(stored: Mapping[str, Any] | None) -> dict[NodeId, tuple[int, int]] | None:
    if stored is None:
        return None
    return {NodeId(int(k)): (int(v[0]), int(v[1])) for k, v in stored.items()}
