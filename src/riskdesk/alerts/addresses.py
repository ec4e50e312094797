"""Where webhooks may call: public addresses only, unless the operator allows a network.

Whoever registers a webhook chooses where Riskdesk sends requests. Without a check, that turns
Riskdesk into a way to reach what only its server can reach: services on its loopback, the
private network behind it, or a cloud's metadata service (169.254.169.254), which hands out
credentials. So a webhook may only call public (globally routable) addresses; an operator who
runs a receiver on the private network names its network in RISKDESK_WEBHOOK_ALLOWED_NETWORKS.

The check runs when a URL is saved (the literal address, or every address its name resolves
to) and again before every call, against the very addresses the call then connects to: a name
can resolve elsewhere later (DNS rebinding), so the call never resolves it a second time.
Redirects are not followed at all (see delivery.py).
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Sequence
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
ALLOW_SETTING = "RISKDESK_WEBHOOK_ALLOWED_NETWORKS"


class AddressRefused(ValueError):
    """A webhook URL that points (or resolves) to an address webhooks may not call."""


def _embedded_ipv4(ip: IPAddress) -> ipaddress.IPv4Address | None:
    # IPv6 forms that carry an IPv4 address and reach it: mapped, 6to4, Teredo, NAT64.
    if not isinstance(ip, ipaddress.IPv6Address):
        return None
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def kind_of(ip: IPAddress) -> str | None:
    """What makes an address one that webhooks may not call, or None for a public one."""
    inner = _embedded_ipv4(ip)
    if inner is not None:
        return kind_of(inner)
    if ip.is_unspecified:
        return "an unspecified address"
    if ip.is_loopback:
        return "a loopback address"
    if ip.is_link_local:
        return "a link-local address (cloud metadata lives there)"
    if ip.is_multicast:
        return "a multicast address"
    if ip.is_private or not ip.is_global:
        return "a private or reserved address"
    return None


def refusal(ip: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    """Why a webhook may not call this address, or None when it may."""
    inner = _embedded_ipv4(ip)
    if any(ip in net or (inner is not None and inner in net) for net in allowed):
        return None
    return kind_of(ip)


def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address a host name (or literal address) stands for; socket.gaierror if none."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        ip = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])  # no IPv6 zone id
        if ip not in found:
            found.append(ip)
    return found


def checked_addresses(host: str, port: int, allowed: Sequence[IPNetwork]) -> list[IPAddress]:
    """The addresses of a host, all of them allowed; AddressRefused when any one is not (a
    name that also resolves to a private address is refused whole)."""
    addresses = resolve(host, port)
    for ip in addresses:
        reason = refusal(ip, allowed)
        if reason is not None:
            shown = host if host == str(ip) else f"{host} ({ip})"
            raise AddressRefused(
                f"{shown} is {reason}; webhooks call public addresses only, unless "
                f"{ALLOW_SETTING} allows its network"
            )
    return addresses


def check_url(url: str, allowed: Sequence[IPNetwork]) -> None:
    """Refuse a webhook URL whose host is, or resolves to, an address webhooks may not call.
    A name that does not resolve now passes: it is checked again before every call."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        return  # the URL's form is the schema's to check
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        checked_addresses(host, port, allowed)
    except (socket.gaierror, UnicodeError):
        return
