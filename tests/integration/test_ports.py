"""Ports for the embedded servers (binds sockets, so not a unit test)."""


def test_free_ports_avoid_the_ephemeral_range():
    from services.ports_free import _ephemeral_range, free_port, is_free

    lo, hi = _ephemeral_range()
    ports = {free_port() for _ in range(20)}
    assert all(not lo <= p <= hi and is_free(p) for p in ports)
