from fractions import Fraction

import pytest

from services.core.types import Outcome
from services.nodes import prompts
from services.nodes.testnode import TestNode, evaluate


def test_evaluates_arithmetic_exactly():
    assert evaluate("What is 2+2?") == 4
    assert evaluate("Compute (3 + 4) * 5 - 1, please") == 34
    assert evaluate("what is 1/3") == Fraction(1, 3)
    assert evaluate("Who wrote Hamlet?") is None
    assert evaluate("What is 1/0?") is None


def test_offset_nodes_answer_wrong_in_a_known_way():
    assert TestNode("a").answer("What is 2+2?") == "The answer is 4."
    assert TestNode("b", offset=2).answer("What is 2+2?") == "The answer is 6."
    assert "cannot answer" in TestNode("c").answer("Who wrote Hamlet?")


def test_judging_goes_through_the_chat_format():
    node = TestNode("j")
    right, wrong = "The answer is 4.", "The answer is 5."
    for left, rt, want in ((right, wrong, Outcome.LEFT), (wrong, right, Outcome.RIGHT)):
        msgs = prompts.judge_messages("What is 2+2?", left, rt)
        assert prompts.parse_verdict(node.reply(msgs)) is want


def test_verdict_parsing():
    assert prompts.parse_verdict(" 2") is Outcome.RIGHT
    assert prompts.parse_verdict("Answer 1 is better") is Outcome.LEFT
    assert prompts.parse_verdict("neither") is Outcome.TIE


def test_a_closer_wrong_answer_beats_a_farther_one():
    node = TestNode("j")
    msgs = prompts.judge_messages("What is 2+2?", "The answer is 6.", "The answer is 5.")
    assert prompts.parse_verdict(node.reply(msgs)) is Outcome.RIGHT


def test_shipped_models_are_pinned_and_unknown_names_are_refused(tmp_path):
    import pytest

    from services.core.errors import NotFound
    from services.nodes.models import MODELS, model_path

    assert all(len(m.sha256) == 64 for m in MODELS.values())
    with pytest.raises(NotFound) as refused:
        model_path("gpt-5", tmp_path)
    assert "smollm2-135m" in (refused.value.hint or "")


def test_a_model_file_with_the_wrong_hash_is_refused(tmp_path, monkeypatch):
    import pytest

    from services.core.errors import ConfigInvalid
    from services.nodes import models

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / models.MODELS["smollm2-135m"].filename).write_bytes(b"not a model")
    monkeypatch.setattr(models, "_package_dir", lambda _: pkg)
    with pytest.raises(ConfigInvalid, match="expected"):
        models.model_path("smollm2-135m", tmp_path / "cache")


def test_verdicts_are_read_from_log_probabilities():
    import math

    from services.nodes.client import verdict_from, verdict_probabilities

    def response(*pairs):
        top = [{"token": t, "logprob": math.log(p)} for t, p in pairs]
        return {"choices": [{"logprobs": {"content": [{"token": pairs[0][0], "top_logprobs": top}]}}]}

    probs = verdict_probabilities(response((" 2", 0.6), ("1", 0.3), ("The", 0.1)))
    assert probs["1"] == pytest.approx(0.3) and probs["2"] == pytest.approx(0.6)
    assert verdict_from(probs) is Outcome.RIGHT
    assert verdict_from({"1": 0.50, "2": 0.48}) is Outcome.TIE
    assert verdict_probabilities({"choices": [{"message": {"content": "1"}}]}) == {"1": 0.0, "2": 0.0}
