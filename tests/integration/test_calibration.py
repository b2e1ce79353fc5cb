"""Proof of capability against real node processes: questions with known answers from MMLU."""

from __future__ import annotations

from services.app.calibration import calibrate_node
from services.core.types import NodeStatus
from services.devstack import start_test_node
from services.nodes.mmlu import MmluBank
from tests.fixtures.stack import register_test_node
from services.ports_free import free_port
from tests.fixtures.models import require_node_extra
from tests.fixtures.signing import TEST_REGISTRY, key_file


def test_a_node_that_knows_the_answers_passes_and_one_that_does_not_stays_inactive(store, gateway, tmp_path):
    require_node_extra()  # the MMLU data ships with the node extra
    oracle = start_test_node("oracle", free_port(), 0, tmp_path / "o.log", oracle=True,
                             signer=key_file(tmp_path, "oracle"), registry=TEST_REGISTRY,
                             env={"MERIT_DATA_DIR": str(tmp_path / "oracle")})  # its own journal  # fmt: skip
    plain = start_test_node("plain", free_port(), 0, tmp_path / "p.log",
                            signer=key_file(tmp_path, "plain"), registry=TEST_REGISTRY,
                            env={"MERIT_DATA_DIR": str(tmp_path / "plain")})  # fmt: skip
    try:
        register_test_node(store, oracle.name, oracle.url)
        register_test_node(store, plain.name, plain.url)
        good = calibrate_node(store, gateway, store.nodes.get_by_name("oracle").id, questions=20, bank=MmluBank())
        bad = calibrate_node(store, gateway, store.nodes.get_by_name("plain").id, questions=20, bank=MmluBank())
    finally:
        oracle.stop()
        plain.stop()
    assert good.passed and good.correct == 20 and good.threshold <= 20
    assert store.nodes.get_by_name("oracle").status is NodeStatus.ACTIVE
    assert store.nodes.get_by_name("oracle").reputation_bp > 5000
    bias = store.nodes.get_by_name("oracle").letter_bias  # kept for its live multiple-choice answers
    assert bias is not None and set(bias) == {"A", "B", "C", "D"}
    assert not bad.passed and "stays inactive" in bad.reason
    assert store.nodes.get_by_name("plain").status is NodeStatus.INACTIVE


def test_a_real_small_model_is_calibrated_honestly(store, smollm_node, gateway):
    from services.core.types import NewNode, NodeKind

    node = store.nodes.add(NewNode(name="smol", endpoint_url=smollm_node.url, model="smollm2-135m",
                                   kind=NodeKind.OPENAI))
    result = calibrate_node(store, gateway, node.id, questions=10, bank=MmluBank())
    assert result.asked == 10 and 0 <= result.correct <= 10
    expected = NodeStatus.ACTIVE if result.correct >= result.threshold else NodeStatus.INACTIVE
    assert store.nodes.get(node.id).status is expected
