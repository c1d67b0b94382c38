"""Where a partner's own URL may lead: only to globally routable addresses.

Anyone on the internet names the URL of a subscription, so warnd must not become a way to reach
what only it can reach (the agency's own network, a cloud's metadata service at 169.254.169.254,
the machine's loopback). A host is resolved, every address it resolves to must be global
(`ipaddress.is_global`, and the IPv4 address inside an IPv4-mapped, NAT64, 6to4 or Teredo one
too), and warnd then connects to the very address it checked: a name that resolves to a public
address when checked and to a private one a moment later (DNS rebinding) gains nothing.

Numeric hosts are taken only in their one standard form (a dotted quad, or an IPv6 literal):
`https://167772161/`, `https://0xa.0.0.1/`, `https://012.0.0.1/` and `https://10.1/` are all
10.0.0.1 to some resolvers and something else to others, so they are refused outright.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# A label that some resolver reads as a number: decimal, octal (leading 0) or hex (0x).
_NUMERIC = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


class NotPublic(Exception):
    """The URL leads, or may lead, somewhere warnd must not go; the message is for warnd's log."""


def numeric_shorthand(host: str) -> bool:
    """True for a host that is a number in any form but the dotted quad (`10.1`, `167772161`,
    `0xa.0.0.1`, `012.0.0.1`): as the URL standard has it, a host whose last label is a number
    is an IPv4 address, and only the plain dotted quad means the same to every resolver."""
    host = host.rstrip(".")
    last = host.rsplit(".", 1)[-1]
    if not _NUMERIC.match(last):
        return False
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return True
    return False


def _embedded(ip: IPAddress) -> ipaddress.IPv4Address | None:
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


def allowed(ip: IPAddress, allow_loopback: bool) -> bool:
    if ip.is_multicast:
        return False
    if allow_loopback and ip.is_loopback:
        return True
    inner = _embedded(ip)
    if inner is not None and not (inner.is_global or (allow_loopback and inner.is_loopback)):
        return False
    return ip.is_global


@dataclass(frozen=True)
class Pinned:
    """A URL with its host replaced by the address checked, and what keeps the request the
    same to the server: the Host header and, for TLS, the name the certificate must carry."""

    url: str
    headers: dict[str, str]
    extensions: dict[str, str]
    address: str


async def resolve(url: str, allow_loopback: bool, *, pin: bool = True) -> Pinned:
    """The URL pinned to a checked address of its host, or NotPublic. `pin` False (an outbound
    proxy carries the request): checked all the same, but left as it is, since a proxy's tunnel
    would check the TLS certificate against the address instead of the name; the proxy then
    resolves the name itself, and it is the proxy that must refuse inside destinations."""
    parts = urlsplit(url)
    host = parts.hostname
    if not host:
        raise NotPublic("no host")
    if numeric_shorthand(host):
        raise NotPublic(f"{host!r} is a numeric shorthand for an address")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        found = [literal]
    else:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
            )
        except (OSError, UnicodeError) as e:
            raise NotPublic(f"{host!r} does not resolve ({e})") from None
        found = [ipaddress.ip_address(str(info[4][0]).split("%", 1)[0]) for info in infos]
        if not found:
            raise NotPublic(f"{host!r} resolves to no address")
    refused = [str(ip) for ip in found if not allowed(ip, allow_loopback)]
    if refused:
        raise NotPublic(f"{host!r} resolves to {', '.join(refused)}, which is not a public address")
    ip = found[0]
    if not pin:
        return Pinned(url, {}, {}, str(ip))
    shown = f"[{ip}]" if ip.version == 6 else str(ip)
    netloc = shown + (f":{parts.port}" if parts.port is not None else "")
    host_header = parts.netloc.rpartition("@")[2]
    extensions = {"sni_hostname": host} if parts.scheme == "https" and literal is None else {}
    return Pinned(
        urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment)),
        {"Host": host_header},
        extensions,
        str(ip),
    )
