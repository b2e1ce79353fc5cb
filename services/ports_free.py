"""Checks that a TCP port on the loopback interface is free before a server is started on it."""

from __future__ import annotations

import random
import socket

from services.core.errors import PortInUse


def is_free(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
    return True


def ensure_free(port: int, setting: str, host: str = "127.0.0.1") -> None:
    if not is_free(port, host):
        raise PortInUse(f"port {port} is already in use", hint=f"set {setting} to a free port")


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo, hi = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        lo, hi = 32768, 60999
    return lo, hi


def free_port(host: str = "127.0.0.1") -> int:
    """A free port outside the kernel's ephemeral range, so no outgoing connection takes it as its
    source port between now and the moment a server binds it."""
    lo, hi = _ephemeral_range()
    candidates = [r for r in (range(10_000, lo), range(hi + 1, 65_000)) if len(r) > 1_000]
    rng = random.SystemRandom()
    for _ in range(200):
        if not candidates:
            break
        port = rng.choice(rng.choice(candidates))
        if is_free(port, host):
            return port
    with socket.socket(
        socket.AF_INET, socket.SOCK_STREAM
    ) as s:  # no quiet range: let the kernel pick
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_run(n: int, host: str = "127.0.0.1") -> int:
    """A port p with p .. p+n-1 all free (a stack's test nodes listen on consecutive ports)."""
    for _ in range(100):
        p = free_port(host)
        if p + n < 65535 and all(is_free(p + i, host) for i in range(n)):
            return p
    raise RuntimeError("no run of free ports")
