"""Where a flow's HTTP step may connect (pure): schemes, the host allow-list, blocked addresses.

Used twice: when a flow is loaded (`checks`: a literal http:// URL needs an allow-listed host, a
literal IP must not be blocked) and before every call (`engine.httpstep`: each address the host
resolves to is checked, and so is every redirect).

- Link-local (169.254.0.0/16, fe80::/10) and cloud metadata addresses (169.254.169.254,
  fd00:ec2::254, 100.100.100.200) are refused always, allow-listed or not.
- Loopback, private, shared, reserved and other non-global addresses are refused unless the
  host is on the allow-list (`SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS`: in-cluster services).
- Plain http:// only to an allow-listed host.

An allow-list entry is ``host`` (any port) or ``host:port``; hosts compare case-insensitively.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Collection

METADATA_ADDRESSES = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200")
)
_LINK_LOCAL_V4 = ipaddress.ip_network("169.254.0.0/16")
_LINK_LOCAL_V6 = ipaddress.ip_network("fe80::/10")


def normalise_allow_list(entries: Collection[str]) -> frozenset[str]:
    return frozenset(e.strip().lower().rstrip(".") for e in entries if e.strip())


def allowed(host: str, port: int | None, allow: Collection[str]) -> bool:
    """Is `host` (with `port`, when known) on the allow-list?"""
    name = host.lower().rstrip(".").strip("[]")
    entries = normalise_allow_list(allow)
    return name in entries or (port is not None and f"{name}:{port}" in entries)


def blocked_address(text: str, *, allow_listed: bool) -> str | None:
    """Why the bot must not connect to IP address `text` (None = it may)."""
    try:
        ip = ipaddress.ip_address(text.strip("[]").split("%", 1)[0])
    except ValueError:
        return None  # a name, not an address: checked once resolved
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip in METADATA_ADDRESSES:
        return f"{ip} is a cloud metadata address"
    if ip in _LINK_LOCAL_V4 or ip in _LINK_LOCAL_V6 or ip.is_link_local:
        return f"{ip} is a link-local address"
    if ip.is_multicast or ip.is_unspecified:
        return f"{ip} is not a unicast address"
    if not ip.is_global and not allow_listed:
        return f"{ip} is a private or loopback address (allow-list the host for in-cluster use)"
    return None


def url_problem(scheme: str, host: str, port: int | None, allow: Collection[str]) -> str | None:
    """Why a call to scheme://host:port is refused by policy (None = allowed so far; the
    resolved addresses are checked separately)."""
    listed = allowed(host, port, allow)
    if scheme == "http" and not listed:
        return (
            f"plain http:// to {host} is refused: use https, or allow-list the host "
            "(SUPPORTBOT_FLOW_HTTP_ALLOW_HOSTS)"
        )
    if scheme not in ("http", "https"):
        return f"scheme {scheme!r} is not allowed"
    return blocked_address(host, allow_listed=listed)
