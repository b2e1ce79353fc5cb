"""`merit watch`: check every proposed epoch against its audit bundle and challenge a false one.

The zk proof binds a proposal's reward rows to the scores it commits to; it cannot say that those
scores are what the epoch's judgments imply. A watcher holding the bundle can: for each
``EpochProposed`` event it fetches the bundle by the proposal's audit CID (nothing from the
marketplace's database), recomputes the epoch with the product's own code (``audit.recompute_epoch``
for the posteriors, allocations, rewards and reputations; ``zk.rows`` for the circuit's rows) and
compares the proposal row by row: each row's reward and payee (the node's registered operator at
the proposal's block), the paid total, the pool, the reputation lanes. It also recovers every
counted answer's and verdict's signature under the deployment's domain, each to the key its node's
metadata document on chain names (``check_signed_work``), so work no node signed cannot be paid.
Any difference, or a bundle that cannot be fetched, is put into the content store as evidence and
challenged inside the window with the watcher's own key. An honest epoch is only logged.

The cursor (next block to read) and each epoch's verdict live in a small JSON state file of the
watcher's own, so a restarted watcher neither re-checks nor re-challenges.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from services.app.audit import AuditReport, Difference, check_signatures, recompute_epoch
from services.app.bundles import load_bundle
from services.app.ports import ContentStore, WatchChain
from services.app.ports import ProposedEpoch as ProposedEpoch  # re-exported
from services.core.epoch import EpochResult
from services.core.errors import Invalid, MeritError
from services.core.merkle import LANES
from zk import encoding
from zk.rows import rows_from_bundle

log = logging.getLogger(__name__)
EVIDENCE_FORMAT = "merit-challenge-evidence/1"
SIGNED_SINCE = 5  # the bundle version from which every counted answer and verdict is signed
STATE_FORMAT = "merit-watch-state/1"


@dataclass(frozen=True)
class Verdict:
    epoch: int
    status: str  # PASS, CHALLENGED, FAILED (differs, but could not challenge), SKIPPED
    evidence_cid: str | None = None
    tx_hash: str | None = None
    differences: tuple[Difference, ...] = ()
    note: str = ""

    def line(self) -> str:
        """The one line `merit watch` prints per epoch."""
        parts = [f"epoch {self.epoch}", self.status]
        if self.evidence_cid:
            parts.append(self.evidence_cid)
        if self.note:
            parts.append(f"({self.note})")
        return " ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch, "status": self.status, "evidence_cid": self.evidence_cid,
            "tx_hash": self.tx_hash, "note": self.note,
            "differences": [d.__dict__ for d in self.differences],
        }  # fmt: skip


# --- what the proposal must be ----------------------------------------------------------------


def check_proposal(
    doc: Mapping[str, Any], proposed: ProposedEpoch, payees: Mapping[int, tuple[int, str]]
) -> AuditReport:
    """Compare ``proposed`` with what the bundle ``doc`` implies. ``payees`` maps an off-chain
    node id to its (registry node id, operator) at the proposal's block; a node missing from it
    is paid off chain. Every comparison is in the report; differences are grounds to challenge."""
    report = AuditReport(proposed.epoch, proposed.audit_cid)
    report.check("bundle names the epoch", proposed.epoch, int(doc["epoch"]))
    result = recompute_epoch(doc, report)
    report.check("pool: the tasks' fees plus the emission", int(result.pool), int(doc["pool_wei"]))

    # the rows the circuit must carry: the bundle with its allocations and rewards recomputed
    honest = dict(doc)
    honest["clusters"] = [sorted(c) for c in result.clusters]
    honest["tasks"] = [
        {**t, "rewards_wei": {
            str(k): str(v) for k, v in result.task_rewards.get(t["task_id"], {}).items()
        }}
        for t in doc["tasks"]
    ]  # fmt: skip
    mine = {n.node_id: n for n in result.nodes}
    honest["nodes"] = [
        {**n, "reward_wei": str(mine[n["node_id"]].reward), "withheld": mine[n["node_id"]].withheld}
        if n["node_id"] in mine else n
        for n in doc["nodes"]
    ]  # fmt: skip
    try:
        er = rows_from_bundle(honest, payees)
    except Invalid as exc:
        report.check("the recomputed epoch has provable rows", "rows", exc.detail)
        return report
    rows = list(er.rows)
    paid_total = encoding.paid_total(er.pool, rows)
    report.check("proposal total is what the bundle pays on chain", paid_total, proposed.total)

    if proposed.proof is None:
        report.check("the propose call can be read", "its calldata", "not a direct call")
        return report
    try:
        d = encoding.decode_proof(proposed.proof)
    except Invalid as exc:
        report.check("the proposal's proof decodes", "a Claim", exc.detail)
        return report
    report.check("proof pool is the bundle's pool", er.pool, d.pool)
    report.check("proof total score", encoding.check_rows(er.pool, rows), d.total_score)
    found = [r for chunk in d.chunks for r in chunk.rows]
    report.check("proof rows", len(rows), len(found))
    for row, reward, chain in zip(rows, er.rewards, found, strict=False):
        payee = encoding.payee(row.payee_chain_id, row.payee_account)
        report.check(f"row of node {row.node_id} reward", reward, chain.reward)
        report.check(f"row of node {row.node_id} payee", hex(payee), hex(chain.payee))
    report.check(
        "proposal total is its paid rows' sum",
        sum(r.reward for r in found if r.payee),
        proposed.total,
    )
    _check_reputations(report, result, payees, proposed)
    return report


def _check_reputations(
    report: AuditReport,
    result: EpochResult,
    payees: Mapping[int, tuple[int, str]],
    proposed: ProposedEpoch,
) -> None:
    """Each on-chain node's lane in the proposal's reputation words is its recomputed score."""
    words, first = proposed.rep_words, proposed.rep_first_word
    for n in result.nodes:
        chain = payees.get(int(n.node_id))
        if chain is None:
            continue
        w = chain[0] // LANES - first
        lane = (words[w] >> (16 * (chain[0] % LANES))) & 0xFFFF if 0 <= w < len(words) else None
        report.check(f"node {n.node_id} reputation on chain", n.after.score_bp, lane)


# --- one pass ---------------------------------------------------------------------------------


@dataclass
class WatchState:
    """The watcher's own record: the next block to read and each epoch's verdict."""

    path: Path
    next_block: int = 0
    verdicts: dict[str, dict[str, Any]] = field(default_factory=dict)

    @classmethod
    def load(cls, path: Path) -> WatchState:
        try:
            raw = json.loads(path.read_text("utf-8"))
        except FileNotFoundError:
            return cls(path)
        except ValueError as exc:
            raise Invalid(
                f"the watch state {path} is not JSON: {exc}", hint="move it away"
            ) from exc
        return cls(path, int(raw.get("next_block", 0)), dict(raw.get("verdicts", {})))

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        doc = {"format": STATE_FORMAT, "next_block": self.next_block, "verdicts": self.verdicts}
        tmp.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n", "utf-8")
        tmp.replace(self.path)


def _key(p: ProposedEpoch) -> str:
    return f"{p.epoch}:{p.tx_hash}"


def watch_once(chain: WatchChain, content: ContentStore, state: WatchState) -> list[Verdict]:
    """Check every proposal since the cursor; challenge the false ones still in their window.
    The state is saved after each epoch, so a crash re-checks at most one."""
    head = chain.head()
    verdicts = []
    for proposed in chain.proposals(state.next_block, head):
        if _key(proposed) in state.verdicts:
            continue
        verdict = check_and_challenge(chain, content, proposed)
        log.info("epoch watched", extra={"epoch": proposed.epoch, "verdict": verdict.status,
                                         "evidence": verdict.evidence_cid})  # fmt: skip
        state.verdicts[_key(proposed)] = verdict.as_dict()
        state.save()
        verdicts.append(verdict)
    state.next_block = head + 1
    state.save()
    return verdicts


def check_and_challenge(
    chain: WatchChain, content: ContentStore, proposed: ProposedEpoch
) -> Verdict:
    """The verdict on one proposal, challenging it when it differs and can still be challenged."""
    epoch = proposed.epoch
    if chain.pending_since(epoch) != proposed.proposed_at:
        return Verdict(epoch, "SKIPPED", note="no longer pending")
    try:
        doc = load_bundle(content, proposed.audit_cid)
    except MeritError as exc:
        report = AuditReport(epoch, proposed.audit_cid)
        report.check("the audit bundle is available", "the bundle", f"unavailable: {exc.detail}")
    else:
        payees = {}
        for n in doc["nodes"]:
            address = n.get("address")
            cid = chain.chain_node_id(address, proposed.block_number) if address else None
            if cid:
                payees[int(n["node_id"])] = (cid, str(address))
        report = check_proposal(doc, proposed, payees)
        check_signed_work(chain, content, doc, payees, proposed.block_number, report)
        if "fees_moved" in doc:  # fees the bundle pools must be in the pool: else they are minted
            moved = sum(int(f["fee_wei"]) for f in doc["fees_moved"])
            report.check("the fees the bundle pools are held in the epoch's pool on chain", True,
                         chain.pool_of(epoch) >= moved)  # fmt: skip
    if report.passed:
        return Verdict(epoch, "PASS")
    evidence = content.put(evidence_document(proposed, report.differences, len(report.checked)))
    differences = tuple(report.differences)
    held = chain.open_challenger(epoch)
    if held is not None:
        return Verdict(
            epoch, "FAILED", evidence, None, differences, f"already challenged by {held}"
        )
    ends = chain.challenge_ends_at(epoch)
    if ends is None or chain.now() >= ends:
        return Verdict(epoch, "FAILED", evidence, None, differences, "challenge window closed")
    try:
        tx_hash = chain.challenge(epoch, evidence)
    except MeritError as exc:
        return Verdict(
            epoch, "FAILED", evidence, None, differences, f"challenge refused: {exc.detail}"
        )
    return Verdict(epoch, "CHALLENGED", evidence, tx_hash, differences)


def check_signed_work(
    chain: WatchChain,
    content: ContentStore,
    doc: Mapping[str, Any],
    payees: Mapping[int, tuple[int, str]],
    block: int,
    report: AuditReport,
) -> None:
    """Every counted answer and verdict of the bundle ``doc`` was signed under the deployment's
    domain by its node's key; a registry node's key is the one its metadata document (by the CID
    the registry held at ``block``) names, never the bundle's word alone. A node paid off chain
    has no document: the bundle's key for it stands."""
    if int(doc.get("version") or 0) < SIGNED_SINCE:
        return
    for node in doc["nodes"]:
        payee = payees.get(int(node["node_id"]))
        if payee is not None:
            registered = _registered_signer(chain, content, *payee, block)
            report.check(
                f"node {node['node_id']} signs with the key its registry metadata names",
                registered.lower(),
                str(node.get("signer")).lower(),
            )
    check_signatures(doc, report, chain.signing_domain())


def _registered_signer(
    chain: WatchChain, content: ContentStore, chain_node_id: int, operator: str, block: int
) -> str:
    """The signing key node ``chain_node_id``'s metadata document names (its operator when it
    names none, as the registry follower reads it), or why it cannot be read."""
    cid = chain.metadata_cid(chain_node_id, block)
    if cid is None:
        return f"no registry node {chain_node_id} at block {block}"
    try:
        meta = json.loads(content.get(cid))
    except MeritError as exc:
        return f"metadata {cid} unavailable: {exc.detail}"
    except ValueError:
        return f"metadata {cid} is not JSON"
    signer = meta.get("signer", operator) if isinstance(meta, dict) else None
    return str(signer) if isinstance(signer, str) else f"metadata {cid} names no signing key"


def evidence_document(
    proposed: ProposedEpoch, differences: Sequence[Difference], checked: int
) -> bytes:
    """What differs, as canonical JSON: the resolver's reading."""
    doc = {
        "format": EVIDENCE_FORMAT,
        "epoch": proposed.epoch,
        "audit_cid": proposed.audit_cid,
        "proposal": {
            "tx_hash": proposed.tx_hash, "block_number": proposed.block_number,
            "rewards_root": proposed.rewards_root, "total_wei": str(proposed.total),
            "proposer": proposed.proposer,
        },
        "checked": checked,
        "differences": [
            {"what": d.what, "expected": d.expected, "found": d.found} for d in differences
        ],
    }  # fmt: skip
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
