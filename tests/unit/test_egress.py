"""Which addresses a node endpoint may reach, and that a connection goes to the address checked.

No socket is opened: names resolve through a resolver the test gives, and the backend under the
check is a stand-in that records where it was asked to connect.
"""

from __future__ import annotations

from typing import Any

import httpcore
import pytest

from services.core.errors import EndpointRefused
from services.nodes.egress import GuardedBackend, check_endpoint, refusal


@pytest.mark.parametrize(
    "address, why",
    [
        ("127.0.0.1", "loopback"), ("127.8.9.10", "loopback"), ("::1", "loopback"),
        ("10.0.0.1", "private"), ("172.16.5.4", "private"), ("192.168.1.1", "private"),
        ("fc00::1", "private"), ("fd00:ec2::254", "private"),
        ("169.254.169.254", "link-local"), ("fe80::1", "link-local"),
        ("100.64.0.1", "shared or metadata"), ("100.100.100.200", "shared or metadata"),
        ("168.63.129.16", "shared or metadata"), ("192.0.0.192", "shared or metadata"),
        ("224.0.0.1", "multicast"), ("ff02::1", "multicast"),
        ("0.0.0.0", "unspecified"), ("::", "unspecified"),
        ("240.0.0.1", "reserved"), ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback (inside"), ("::ffff:169.254.169.254", "link-local"),
        ("64:ff9b::a00:1", "private (inside"), ("2002:7f00:1::", "loopback (inside"),
    ],
)
def test_inside_addresses_are_refused(address: str, why: str) -> None:
    said = refusal(address)
    assert said is not None and said.startswith(why), said


@pytest.mark.parametrize("address", ["1.1.1.1", "8.8.8.8", "2606:4700:4700::1111", "::ffff:8.8.8.8"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert refusal(address) is None


def test_the_dev_setting_admits_loopback_and_nothing_else() -> None:
    assert refusal("127.0.0.1", allow_loopback=True) is None
    assert refusal("::1", allow_loopback=True) is None
    for inside in ("10.0.0.1", "169.254.169.254", "192.168.0.1", "0.0.0.0", "fe80::1"):
        assert refusal(inside, allow_loopback=True) is not None, inside


def resolver(table: dict[str, list[str]]):
    return lambda host, port: table.get(host, [host])


@pytest.mark.parametrize(
    "url, says",
    [
        ("ftp://node.example.org/v1", "not an http(s) URL"),
        ("file:///etc/passwd", "not an http(s) URL"),
        ("http:///v1", "names no host"),
        ("https://user:pw@node.example.org/v1", "credentials"),
        ("http://10.0.0.1/v1", "10.0.0.1, a private address"),
        ("http://169.254.169.254/", "169.254.169.254, a link-local"),
        ("http://localhost:8101/v1", "localhost resolves to 127.0.0.1, a loopback address"),
        ("http://rebind.example.org/v1", "rebind.example.org resolves to 10.1.2.3"),
    ],
)
def test_registration_refuses_endpoints_that_reach_inside(url: str, says: str) -> None:
    table = {"localhost": ["127.0.0.1"], "rebind.example.org": ["1.1.1.1", "10.1.2.3"]}
    with pytest.raises(EndpointRefused) as caught:
        check_endpoint(url, allow_loopback=False, resolve=resolver(table))
    assert says in caught.value.detail, caught.value.detail
    assert caught.value.status == 422 and caught.value.hint


def test_registration_takes_a_public_endpoint_and_dev_loopback() -> None:
    table = {"node.example.org": ["1.1.1.1"], "localhost": ["127.0.0.1"]}
    assert check_endpoint("https://node.example.org/v1/", allow_loopback=False, resolve=resolver(table)) == (
        "https://node.example.org/v1"
    )
    assert check_endpoint("http://localhost:8101/v1", allow_loopback=True, resolve=resolver(table))


class Recorder(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self.connected: list[str] = []

    def connect_tcp(self, host: str, port: int, *args: Any, **kw: Any) -> httpcore.NetworkStream:
        self.connected.append(host)
        return httpcore.NetworkStream()


def test_the_connection_goes_to_the_address_checked_not_to_a_second_answer() -> None:
    """A rebinding name answers a public address to the check and loopback afterwards: the
    backend resolves once per connection and connects to the address it checked."""
    answers = iter([["1.1.1.1"], ["127.0.0.1"]])
    asked: list[str] = []

    def rebinding(host: str, port: int) -> list[str]:
        asked.append(host)
        return next(answers)

    inner = Recorder()
    backend = GuardedBackend(resolve=rebinding, inner=inner)
    backend.connect_tcp("rebind.example.org", 80)
    assert inner.connected == ["1.1.1.1"] and asked == ["rebind.example.org"]
    with pytest.raises(EndpointRefused):  # the next connection resolves afresh and is refused
        backend.connect_tcp("rebind.example.org", 80)
    assert inner.connected == ["1.1.1.1"]
