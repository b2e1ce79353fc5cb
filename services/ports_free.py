"""Checks that a TCP port on the loopback interface is free before a server is started on it."""

from __future__ import annotations

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


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
