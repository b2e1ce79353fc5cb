"""Where the marketplace may connect to reach a node: public addresses only (OWASP SSRF prevention).

A node's endpoint is an ``http(s)`` URL of the operator's choosing, so it must never lead the
workers into the marketplace's own network: loopback, private (10/8, 172.16/12, 192.168/16,
fc00::/7), link-local (169.254/16, fe80::/10, where cloud metadata lives), shared address space
(CGNAT, 100.64/10), multicast, unspecified, reserved and the known metadata addresses are refused,
also when written inside an IPv6 address (``::ffff:127.0.0.1``, NAT64, 6to4, Teredo).

The check that counts is made when a connection is opened (``GuardedBackend``): the host is
resolved then, every address it resolves to is checked, and the socket is opened to the address
that was checked, so a DNS answer that changes between the check and the connect (rebinding)
cannot move it. ``check_endpoint`` applies the same rules at registration, for a clear error early.
``allow_loopback`` (a dev setting, refused in production) lets 127/8 and ::1 through, nothing else.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import urlsplit

import httpcore
import httpx

from services.core.errors import EndpointRefused

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], list[str]]

# addresses is_global lets through that still lead inside a cloud or a provider's network
_METADATA = [
    ipaddress.ip_network("168.63.129.16/32"),  # Azure's wire server
    # IETF protocol assignments (Oracle Cloud metadata 192.0.0.192)
    ipaddress.ip_network("192.0.0.0/24"),
    # shared address space (CGNAT; Alibaba metadata 100.100.100.200)
    ipaddress.ip_network("100.64.0.0/10"),
]
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def system_resolver(host: str, port: int) -> list[str]:
    """Every address ``host`` resolves to now (an IP literal resolves to itself)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _embedded_v4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def refusal(address: str | IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why the marketplace must not connect to ``address``; None when it may."""
    ip = (
        ipaddress.ip_address(str(address).split("%", 1)[0]) if isinstance(address, str) else address
    )
    if isinstance(ip, ipaddress.IPv6Address):
        inner = _embedded_v4(ip)
        if inner is not None:
            why = refusal(inner, allow_loopback=allow_loopback)
            return f"{why} (inside {ip})" if why else None
    if ip.is_loopback:
        return None if allow_loopback else "loopback"
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_link_local:
        return "link-local (cloud metadata lives there)"
    if ip.is_multicast:
        return "multicast"
    if any(ip in net for net in _METADATA if net.version == ip.version):
        return "shared or metadata range"
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "reserved"
    return None


def _refuse(host: str, address: str, why: str) -> EndpointRefused:
    shown = address if host == address else f"{host} resolves to {address}"
    return EndpointRefused(
        f"node endpoint refused: {shown}, {'an' if why[0] in 'aeiou' else 'a'} {why} address",
        hint="a node must be reachable at a public address; in dev, MERIT_NODE_ALLOW_LOOPBACK=true "
        "admits 127.0.0.1 only",
    )


def checked_addresses(
    host: str, port: int, *, allow_loopback: bool, resolve: Resolver
) -> list[str]:
    """The addresses ``host`` resolves to, each checked; EndpointRefused when any is refused
    (one forbidden answer among several is refused outright rather than skipped)."""
    addresses = resolve(host, port)
    if not addresses:
        raise httpcore.ConnectError(f"{host} resolves to no address")
    for address in addresses:
        why = refusal(address, allow_loopback=allow_loopback)
        if why is not None:
            raise _refuse(host, address, why)
    return addresses


def check_endpoint(url: str, *, allow_loopback: bool, resolve: Resolver = system_resolver) -> str:
    """Registration's check of a node's base URL: http(s), a host, no credentials, and every
    address the host resolves to now is public. Returns the URL without a trailing slash;
    EndpointRefused saying what is wrong. Calls are checked again when made (``GuardedBackend``)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https"):
        raise EndpointRefused(
            f"node endpoint {url!r} is not an http(s) URL",
            hint="give e.g. https://node.example.org/v1",
        )
    if not parts.hostname:
        raise EndpointRefused(
            f"node endpoint {url!r} names no host", hint="give e.g. https://node.example.org/v1"
        )
    if parts.username is not None or parts.password is not None:
        raise EndpointRefused(
            "node endpoint carries credentials in its URL",
            hint="give the URL without user:password@",
        )
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise EndpointRefused(f"node endpoint {url!r} has a bad port") from exc
    try:
        checked_addresses(parts.hostname, port, allow_loopback=allow_loopback, resolve=resolve)
    except httpcore.ConnectError as exc:
        raise EndpointRefused(f"node endpoint {url!r}: {exc}", hint="check the host name") from exc
    return url.strip().rstrip("/")


class GuardedBackend(httpcore.NetworkBackend):
    """httpcore's network backend with the address check at connect time: the host is resolved
    once per connection, every address checked, and the socket opened to a checked address (TLS
    still verifies the certificate against the URL's host name)."""

    def __init__(
        self,
        *,
        allow_loopback: bool = False,
        resolve: Resolver = system_resolver,
        inner: httpcore.NetworkBackend | None = None,
    ) -> None:
        self._allow_loopback = allow_loopback
        self._resolve = resolve
        self._inner = inner or httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = checked_addresses(
            host, port, allow_loopback=self._allow_loopback, resolve=self._resolve
        )
        error: Exception | None = None
        for address in addresses:  # the checked addresses, never the name again
            try:
                return self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                error = exc
        assert error is not None
        raise error

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        raise EndpointRefused("node endpoints are reached over TCP only")

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


def guarded_client(
    *, timeout: httpx.Timeout, allow_loopback: bool, resolve: Resolver = system_resolver
) -> httpx.Client:
    """An httpx client that connects only where ``refusal`` allows, follows no redirect and
    ignores proxy settings from the environment (a proxy would resolve the name itself)."""
    transport = httpx.HTTPTransport(trust_env=False)
    transport._pool = httpcore.ConnectionPool(  # httpx exposes no network backend of its own
        ssl_context=httpx.create_ssl_context(trust_env=False),
        max_connections=100,  # httpx's default limits
        max_keepalive_connections=20,
        keepalive_expiry=5.0,
        network_backend=GuardedBackend(allow_loopback=allow_loopback, resolve=resolve),
    )
    return httpx.Client(
        timeout=timeout, transport=transport, follow_redirects=False, trust_env=False
    )
