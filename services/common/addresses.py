"""What an IP address really names: one normal form for the source policy to decide on. Pure but for
:func:`resolve` (DNS).

A URL host can spell one IPv4 address many ways, and each of them connects to it: the legacy forms that
``inet_aton`` and ``getaddrinfo`` accept (``2852039166``, ``0251.0376.0251.0376``, ``0xa9fea9fe``,
``169.254.43518``), IPv4-mapped and IPv4-translated IPv6 (``::ffff:a.b.c.d``, ``::ffff:0:a.b.c.d``).
Other IPv6 addresses carry an IPv4 address that the packets end up at through a gateway: IPv4-compatible
(``::a.b.c.d``), NAT64 (``64:ff9b::/96``, and the local-use ``64:ff9b:1::/48`` at any RFC 6052 prefix
length), 6to4 (``2002::/16``) and Teredo (``2001::/32``).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from urllib.parse import SplitResult

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: what inet_aton takes for IPv4: one to four parts, each decimal, octal (0...) or hex (0x...)
LEGACY_IPV4 = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)(?:\.(?:0x[0-9a-f]*|[0-9]+)){0,3}", re.IGNORECASE)
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")
TRANSLATED = ipaddress.ip_network("::ffff:0:0:0/96")
_LOW32 = 0xFFFFFFFF


def parse_ip(host: str) -> IPAddress | None:
    """The address ``host`` spells (brackets and a zone id allowed), or None for a name."""
    text = host.strip().strip("[]").split("%", 1)[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        pass
    if LEGACY_IPV4.fullmatch(text):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(text))
        except OSError:
            return None
    return None


def canonical(ip: IPAddress) -> IPAddress:
    """The IPv4 address an IPv4-mapped or IPv4-translated IPv6 address is; any other address itself."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return ip.ipv4_mapped
        if ip in TRANSLATED:
            return ipaddress.IPv4Address(int(ip) & _LOW32)
    return ip


def embedded(ip: IPAddress) -> tuple[ipaddress.IPv4Address, ...]:
    """The IPv4 addresses that packets to ``ip`` may reach through a gateway (none for plain addresses)."""
    if not isinstance(ip, ipaddress.IPv6Address):
        return ()
    value = int(ip)
    found: list[ipaddress.IPv4Address] = []
    if value >> 32 == 0 and value > 1:  # IPv4-compatible ::a.b.c.d (:: and ::1 are not)
        found.append(ipaddress.IPv4Address(value))
    if ip in NAT64:
        found.append(ipaddress.IPv4Address(value & _LOW32))
    if ip in NAT64_LOCAL:  # RFC 6052: the IPv4 bits sit around the reserved octet (bits 64..71)
        candidates = (
            ((value >> 64) & 0xFFFF) << 16 | (value >> 40) & 0xFFFF,  # /48
            ((value >> 64) & 0xFF) << 24 | (value >> 32) & 0xFFFFFF,  # /56
            (value >> 24) & _LOW32,  # /64
            value & _LOW32,  # /96
        )
        found += [ipaddress.IPv4Address(c) for c in candidates if c]  # 0: not this prefix length
    if ip.sixtofour is not None:
        found.append(ip.sixtofour)
    if ip.teredo is not None:
        found += ip.teredo  # (server, client)
    return tuple(found)


def forms(ip: IPAddress) -> tuple[IPAddress, ...]:
    """``ip``, its canonical form and every IPv4 address it embeds: a rule that denies one denies it."""
    return (ip, canonical(ip), *embedded(ip))


def resolve(host: str) -> list[str]:
    """Every address ``host`` resolves to, in the resolver's order of preference (none when it does not
    resolve); a literal address, in any of its spellings, as itself without a lookup."""
    literal = parse_ip(host)
    if literal is not None:
        return [str(literal)]
    try:
        infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError, OSError):
        return []
    return list(dict.fromkeys(str(info[4][0]).split("%", 1)[0] for info in infos))


def with_host(parts: SplitResult, ip: IPAddress) -> str:
    """The URL of ``parts`` with its host replaced by ``ip`` (user, port, path, query and fragment kept).
    Raises ValueError for a port out of range."""
    userinfo, at, _ = parts.netloc.rpartition("@")
    host = f"[{ip}]" if ip.version == 6 else str(ip)
    port = parts.port
    netloc = f"{userinfo}{at}{host}" + (f":{port}" if port is not None else "")
    return parts._replace(netloc=netloc).geturl()
