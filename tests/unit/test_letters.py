from services.core.letters import bias, choice, debiased

L = ("A", "B", "C", "D")


def test_a_node_that_always_leans_to_a_is_read_by_its_deviations():
    # the node puts most mass on A every time, but a bit more on the right letter than usual
    batch = [
        {"A": 0.70, "B": 0.10, "C": 0.10, "D": 0.10},  # its usual: no signal -> A
        {"A": 0.55, "B": 0.25, "C": 0.10, "D": 0.10},  # B above its usual
        {"A": 0.55, "B": 0.10, "C": 0.25, "D": 0.10},  # C above its usual
        {"A": 0.55, "B": 0.10, "C": 0.10, "D": 0.25},  # D above its usual
    ]
    assert [choice(p, L) for p in batch] == ["A", "A", "A", "A"]
    assert debiased(batch, L)[1:] == ["B", "C", "D"]
    means = bias(batch, L)
    assert means["A"] > means["B"]


def test_no_probability_means_no_answer():
    assert choice({}, L) is None
    assert debiased([{"X": 1.0}], L) == [None]


def test_the_letter_a_free_text_answer_names() -> None:
    from services.core.letters import answer_letter

    assert answer_letter("B") == "B"
    assert answer_letter("(C) because the others are wrong") == "C"
    assert answer_letter("The answer is D.") == "D"
    assert answer_letter("Answer: A") == "A"
    assert answer_letter("The answer is 42.") is None
    assert answer_letter("BAD idea") is None  # letters inside words do not count
    assert answer_letter("E") is None


def test_one_answer_read_with_a_known_bias() -> None:
    import math

    from services.core.letters import bias, debiased_one

    # a node that puts most mass on "A" whatever the question
    history = [{"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1}] * 9 + [{"A": 0.4, "B": 0.5, "C": 0.05, "D": 0.05}]
    mean = bias(history, "ABCD")
    assert math.isclose(sum(1 for _ in mean), 4)
    now = {"A": 0.55, "B": 0.35, "C": 0.05, "D": 0.05}
    assert debiased_one(now, "ABCD", None) == "A"  # plain argmax
    assert debiased_one(now, "ABCD", mean) == "B"  # A's habitual surplus removed
    assert debiased_one(now, "ABCDE", mean) == "A"  # the bias does not cover E: plain argmax
    assert debiased_one({}, "ABCD", mean) is None
