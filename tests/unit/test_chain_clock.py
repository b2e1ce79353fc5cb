"""How long an automatic finalize waits: by the chain's clock, never past its cap, never zero."""

from services.core.settlement import window_wait_s


def test_the_wait_is_measured_by_the_chains_clock_not_the_wall_clock():
    assert window_wait_s(1_000_060, 1_000_000, cap_s=300) == 61  # one block past the window's end
    # a chain ahead of the wall clock (automine packs many blocks into a second) waits less
    assert window_wait_s(1_000_060, 1_000_050, cap_s=300) == 11


def test_a_long_window_is_looked_at_again_before_the_broker_redelivers():
    assert window_wait_s(1_000_000 + 86_400, 1_000_000, cap_s=300) == 300


def test_a_window_that_has_passed_is_looked_at_again_at_once():
    assert window_wait_s(1_000_000, 1_000_500, cap_s=300) == 1
